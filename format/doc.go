// Package format reads and writes the files biologists bring to canopy, and matches
// the tips of a tree to the rows of a data table.
//
// The readers live in sub-packages:
//
//   - [github.com/canopy-bffg/canopy/format/nexus]: Nexus tree files from BEAST,
//     MrBayes, PAUP* and TreeBASE, streamed one tree at a time (Newick files are read
//     by [topology.ParseNewick]);
//   - [github.com/canopy-bffg/canopy/format/traits]: trait tables in CSV, one row per
//     taxon;
//   - [github.com/canopy-bffg/canopy/format/tps]: landmark coordinates in TPS files
//     and in CSV.
//
// Every reader fails with a *[ParseError] that names the file, line and column of
// the problem, so a message reads "traits.csv:7:12: invalid number "1,5"". Checks
// that can find many problems at once, such as [Match], return an [ErrorList]
// holding all of them, sorted by position, in the manner of go/scanner.
//
// # Matching tips to rows
//
// A tree and a data table name the same taxa. [Match] pairs each leaf of a
// topology with the row of the same name and reports every mismatch in one error:
// rows without a tip, tips without a row, duplicate names and unnamed leaves.
// Names are compared exactly, byte for byte. Newick convention reads an unquoted
// underscore as a blank, but tools disagree on whether to apply it (ape and canopy's
// own Newick reader keep underscores verbatim), so a [Matcher] applies the rule
// only when asked, and then reports every pair it had to match that way.
//
// # Invariants
//
// Functions never modify their arguments. The streaming readers (nexus.Reader,
// traits.Reader, tps.Reader) return one record (tree, row, specimen) per call and
// keep only what later records need: the taxa and TRANSLATE table of a Nexus file,
// the names already seen in a table. Errors caused by the data are returned; no
// input makes a reader panic (each has a fuzz test), and the functions panic only
// on misuse such as slices of mismatched length, with messages beginning "format: "
// or the package name.
package format
