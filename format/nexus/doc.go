// Package nexus reads and writes trees in Nexus files, as written by BEAST,
// MrBayes, PAUP*, Mesquite and TreeBASE.
//
// # Format
//
// A Nexus file starts with #NEXUS and holds blocks:
//
//	#NEXUS
//	BEGIN TAXA;
//		DIMENSIONS NTAX=3;
//		TAXLABELS Homo_sapiens 'Pan troglodytes' Gorilla;
//	END;
//	BEGIN TREES;
//		TRANSLATE 1 Homo_sapiens, 2 'Pan troglodytes', 3 Gorilla;
//		TREE STATE_0 [&lnP=-1234.5] = [&R] ((1:6.5,2[&rate=0.1]:6.5):2,3:8.5);
//	END;
//
// Keywords (#NEXUS, BEGIN, END, TREE, ...) are case-insensitive. Tokens are words,
// quoted words ('Pan troglodytes', with a quote inside written twice) and the
// punctuation ; = , *. Comments in square brackets may appear between any two tokens and may nest; a
// quote inside a comment, or a bracket inside a quoted word, is an ordinary byte.
//
// The reader understands:
//
//   - the TAXA block: DIMENSIONS NTAX=n and TAXLABELS, which must agree in number
//     and hold no duplicate;
//   - the TREES block: TRANSLATE, a table from keys (numbers or short names) to
//     taxon labels, and TREE (or UTREE) commands, "TREE [*] name = newick;";
//   - every other block (DATA, CHARACTERS, ASSUMPTIONS, SETS, MRBAYES, PAUP, ...)
//     and every other command is skipped, honouring quotes and comments, so that
//     a ';' or "END;" inside either does not end it.
//
// The Newick text of each tree is parsed by topology.ParseNewick, which skips the
// BEAST and MrBayes metadata comments inside it ([&rate=0.1,height_95%_HPD={1.2,3.4}]
// after a label or between ':' and a branch length), keeps underscores verbatim and
// numbers the nodes breadth-first. Comments before the Newick text, on either side
// of '=', are kept in Tree.Comments (BEAST's [&lnP=...], MrBayes's [&W 0.25]),
// except the rooting markers [&R] and [&U], which set Tree.Rooting. Nested brackets
// inside a tree's comments are read as blanks.
//
// Leaf labels are translated: a label that is a TRANSLATE key becomes its value.
// Without a TRANSLATE table, a label that is a number k between 1 and NTAX and not
// itself a taxon label becomes the k-th TAXLABEL, as the Nexus standard says.
// Internal node labels are never translated. With a TRANSLATE table, a leaf label
// that is neither a key, nor a translated label, nor a TAXLABEL is an error, since
// it almost always means a truncated table.
//
// # Streaming
//
// A Reader returns one tree per call to Next and io.EOF after the last one, so a
// posterior sample of thousands of trees is never held in memory at once; it keeps
// only the taxa and the TRANSLATE table. A file that ends inside a TREES block
// without END; is accepted, as BEAST leaves one while it runs, but a file that
// ends inside a command is an error.
//
// # Errors
//
// Errors are *ParseError values (an alias of format.ParseError) with the file, the
// 1-based line and the 1-based byte column, printed as
//
//	trees.nex:12:5: TRANSLATE: duplicate key 3
//	trees.nex:20:31: TREE STATE_1000: expected ',' or ')' after branch length, found ';' (the '(' at 20:23 is not closed)
//
// Errors from the underlying io.Reader are returned as they are. An error inside
// one TREE command (bad Newick, an unknown label) leaves the Reader
// at the next command, so Next may be called again to go on; any other error is
// returned again by every later call. Newick errors wrap the *topology.ParseError
// whose offsets are relative to the tree text; the ParseError's own position is
// the position in the file.
package nexus
