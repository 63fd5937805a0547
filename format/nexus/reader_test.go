package nexus_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/internal/texttest"
	"github.com/canopy-bffg/canopy/format/nexus"
	"github.com/canopy-bffg/canopy/topology"
)

// readAll reads every tree of src, failing the test on any error.
func readAll(t *testing.T, src string) ([]*nexus.Tree, *nexus.Reader) {
	t.Helper()
	r := nexus.NewReader(strings.NewReader(src))
	r.File = "trees.nex"
	var trees []*nexus.Tree
	for {
		tr, err := r.Next()
		if err == io.EOF {
			return trees, r
		}
		require.NoError(t, err)
		trees = append(trees, tr)
	}
}

// leafNames returns the leaf labels of tp in breadth-first order.
func leafNames(tp *topology.Topology) []string {
	var names []string
	for i := 0; i < tp.NumLeaves(); i++ {
		names = append(names, tp.Name(tp.Leaf(i)))
	}
	return names
}

const beastFile = `#NEXUS

Begin taxa;
	Dimensions ntax=4;
	Taxlabels
		Homo_sapiens
		'Pan troglodytes'
		Gorilla_gorilla
		'Pongo abelii'
		;
End;

Begin trees;
	Translate
		1 Homo_sapiens,
		2 'Pan troglodytes',
		3 Gorilla_gorilla,
		4 'Pongo abelii'
		;
tree STATE_0 [&lnP=-3226.16,posterior=-3226.16] = [&R] (((1[&rate=0.1,height_95%_HPD={1.2,3.4}]:6.5,2[&rate=0.2]:6.5)[&height=6.5]:2.0,3:8.5):5.5,4:[&rate=0.3]14.0)[&height=14.0];
tree STATE_1000 [&lnP=-3210.5,posterior=-3210.5] = [&R] ((1:6.1,(2:5.0,3:5.0):1.1):7.9,4:14.0);
End;
`

func TestBEAST(t *testing.T) {
	trees, r := readAll(t, beastFile)
	require.Len(t, trees, 2)
	assert.Equal(t, []string{"Homo_sapiens", "Pan troglodytes", "Gorilla_gorilla", "Pongo abelii"}, r.Taxa())

	t0 := trees[0]
	assert.Equal(t, "STATE_0", t0.Name)
	assert.Equal(t, nexus.Rooted, t0.Rooting)
	assert.Equal(t, []string{"&lnP=-3226.16,posterior=-3226.16"}, t0.Comments)
	assert.Equal(t, 20, t0.Line)
	assert.Equal(t, 1, t0.Column)
	assert.Equal(t, "(((Homo_sapiens:6.5,'Pan troglodytes':6.5):2,Gorilla_gorilla:8.5):5.5,'Pongo abelii':14);",
		t0.Topology.Newick())
	// Breadth-first leaf order: the shallowest leaf first.
	assert.Equal(t, []string{"Pongo abelii", "Gorilla_gorilla", "Homo_sapiens", "Pan troglodytes"}, leafNames(t0.Topology))
	assert.Equal(t, 14.0, t0.Topology.Dist(t0.Topology.Leaf(2)))

	t1 := trees[1]
	assert.Equal(t, "STATE_1000", t1.Name)
	assert.Equal(t, nexus.Rooted, t1.Rooting)
	assert.Equal(t, []string{"&lnP=-3210.5,posterior=-3210.5"}, t1.Comments)
	assert.Equal(t, 21, t1.Line)
	assert.Equal(t, "((Homo_sapiens:6.1,('Pan troglodytes':5,Gorilla_gorilla:5):1.1):7.9,'Pongo abelii':14);",
		t1.Topology.Newick())
}

const mrbayesFile = `#NEXUS
[ID: 1234567890]
[Param: tree]
begin data;
   dimensions ntax=4 nchar=6;
   format datatype=dna missing=? gap=-;
   matrix
      Homo_sapiens    ACGT-A
      Pan_troglodytes ACG{AT}TA
      'end;'          ACGTT?
      Pongo_abelii    [a [nested] comment; end;] ACGTTA
   ;
end;
begin mrbayes;
   set autoclose=yes nowarn=yes;
   lset nst=6 rates=invgamma;
   [ a comment with 'end;' in it ]
   mcmc ngen=1000 samplefreq=1000;
end;
begin trees;
   translate
       1 Homo_sapiens,
       2 Pan_troglodytes,
       3 Gorilla_gorilla,
       4 Pongo_abelii;
   tree gen.0 = [&U] ((1:1.000000e-01,2:1.000000e-01):1.000000e-01,3:1.000000e-01,4:1.000000e-01);
   tree gen.1000 = [&U] (1:2.5e-02,(2:3.1e-02,3:4.0e-02):1.5e-02,4:9.0e-02);
end;
`

func TestMrBayes(t *testing.T) {
	trees, r := readAll(t, mrbayesFile)
	require.Len(t, trees, 2)
	assert.Nil(t, r.Taxa(), "DIMENSIONS of a DATA block are not taxa")
	assert.Equal(t, "gen.0", trees[0].Name)
	assert.Equal(t, nexus.Unrooted, trees[0].Rooting)
	assert.Nil(t, trees[0].Comments)
	assert.Equal(t, 26, trees[0].Line)
	assert.Equal(t, 4, trees[0].Column)
	assert.Equal(t, "((Homo_sapiens:0.1,Pan_troglodytes:0.1):0.1,Gorilla_gorilla:0.1,Pongo_abelii:0.1);", trees[0].Topology.Newick())
	assert.Equal(t, "gen.1000", trees[1].Name)
	assert.Equal(t, "(Homo_sapiens:0.025,(Pan_troglodytes:0.031,Gorilla_gorilla:0.04):0.015,Pongo_abelii:0.09);", trees[1].Topology.Newick())
}

func TestCaseInsensitive(t *testing.T) {
	const src = "#nExUs\nbEgIn TaXa; DiMeNsIoNs NtAx=2; TaXlAbElS a b; EnD;\n" +
		"BeGiN tReEs; TrAnSlAtE x a, y b; TrEe * 'my tree' = [&r] (x:1,y:2); uTrEe u = (y,x); EnDbLoCk;\n"
	trees, _ := readAll(t, src)
	require.Len(t, trees, 2)
	assert.Equal(t, "my tree", trees[0].Name)
	assert.True(t, trees[0].Default)
	assert.Equal(t, nexus.Rooted, trees[0].Rooting)
	assert.Equal(t, "(a:1,b:2);", trees[0].Topology.Newick())
	assert.Equal(t, nexus.Unrooted, trees[1].Rooting, "UTREE")
	assert.Equal(t, "(b:1,a:1);", trees[1].Topology.Newick())
}

func TestTaxaNumbers(t *testing.T) {
	// Without TRANSLATE, numbers refer to TAXLABELS; a label that is a taxon stays.
	const src = `#NEXUS
begin taxa; dimensions ntax=3; taxlabels A B '2'; end;
begin trees;
tree t = ((1:1,3:1)2:1,'2':2,B:2);
end;`
	trees, _ := readAll(t, src)
	require.Len(t, trees, 1)
	assert.Equal(t, "((A:1,2:1)2:1,2:2,B:2);", trees[0].Topology.Newick(),
		"internal label 2 is not translated; tip 3 is taxon '2'; tip '2' is a taxon")
}

func TestNoTAXAAndNoTranslate(t *testing.T) {
	trees, r := readAll(t, "#NEXUS\nBEGIN TREES;\nTREE t = ((a,b),c);\nEND;\n")
	require.Len(t, trees, 1)
	assert.Nil(t, r.Taxa())
	assert.Equal(t, "((a:1,b:1):1,c:1);", trees[0].Topology.Newick())
}

func TestMissingEnd(t *testing.T) {
	// BEAST leaves the trees block open while it runs.
	trees, _ := readAll(t, "#NEXUS\nBEGIN TREES;\nTREE t1 = (a,b);\nTREE t2 = (b,a);\n")
	require.Len(t, trees, 2)
}

func TestNestedCommentInTree(t *testing.T) {
	trees, _ := readAll(t, "#NEXUS\nBEGIN TREES;\nTREE t = [a [nested] comment] (a[x[y]z]:1,'b[;]':2);\nEND;\n")
	require.Len(t, trees, 1)
	assert.Equal(t, []string{"a  nested  comment"}, trees[0].Comments)
	assert.Equal(t, "(a:1,'b[;]':2);", trees[0].Topology.Newick())
}

func TestEmptyFile(t *testing.T) {
	trees, _ := readAll(t, "#NEXUS\n")
	assert.Empty(t, trees)
	_, err := nexus.ReadTree(strings.NewReader("#NEXUS\nbegin taxa; taxlabels a; end;"), 0)
	assert.ErrorIs(t, err, nexus.ErrNoTree)
	assert.EqualError(t, err, "tree index 0 requested (0 is the first), but the file has no trees")
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, msg string
		kind           error
	}{
		{"newick file", "∑(A:1,B:2);", `expected #NEXUS at the start of the file, found "(A:1" (this looks like a Newick file: read it with topology.ParseNewick)`, nexus.ErrNotNexus},
		{"duplicate key", "#NEXUS\nBEGIN TREES;\n\tTRANSLATE\n\t\t1 a,\n\t\t2 b,\n\t\t∑2 c;\nEND;\n", "TRANSLATE: duplicate key 2", nexus.ErrDuplicateKey},
		{"duplicate translated taxon", "#NEXUS\nbegin trees; translate 1 a, 2 ∑a; end;", "TRANSLATE: taxon 'a' has two keys, 1 and 2", nexus.ErrDuplicateTaxon},
		{"missing comma", "#NEXUS\nbegin trees; translate 1 a ∑2 b; end;", `TRANSLATE: expected ',' or ';' after the entry for key 1, found "2"`, nexus.ErrSyntax},
		{"unclosed paren", "#NEXUS\nbegin trees;\n translate 1 a, 2 b;\n tree t1 = (1:1,2:1);\n tree t2 = (1:1,2:1∑;\nend;\n",
			"TREE t2: expected ',' or ')' after branch length, found ';' (the '(' at 5:12 is not closed)", nil},
		{"negative length on a later line", "#NEXUS\nbegin trees;\n tree t3 = (a:1,\n    b:∑-1);\nend;\n",
			`TREE t3: node "b" has negative branch length -1`, nil},
		{"unterminated comment", "#NEXUS\n∑[ comment never closed\nbegin trees;\n", "unterminated comment: no ']' closes this '['", nexus.ErrSyntax},
		{"unterminated comment in tree", "#NEXUS\nbegin trees; tree t = (a∑[x,b);\n", "unterminated comment: no ']' closes this '['", nexus.ErrSyntax},
		{"unterminated quote", "#NEXUS\nbegin trees; translate 1 ∑'Homo sapiens, 2 b;\nend;\n", "unterminated quoted word: no closing quote for this one", nexus.ErrSyntax},
		{"taxa count", "#NEXUS\nbegin taxa; dimensions ntax=3;\n ∑taxlabels a b;\nend;\n", "TAXLABELS: 2 labels, but DIMENSIONS says NTAX=3", nexus.ErrTaxaCount},
		{"duplicate taxlabel", "#NEXUS\nbegin taxa; taxlabels a b ∑a; end;", "TAXLABELS: duplicate taxon 'a'", nexus.ErrDuplicateTaxon},
		{"bad ntax", "#NEXUS\nbegin taxa; dimensions ntax=∑x; end;", `DIMENSIONS: NTAX must be a positive integer, found "x"`, nexus.ErrSyntax},
		{"truncated tree", "#NEXUS\nbegin trees;\n ∑tree t = (a,b)\n", "TREE t: unexpected end of file before the ';' that ends the tree (truncated file?)", nexus.ErrUnexpectedEOF},
		{"truncated command", "#NEXUS\nbegin data;\n ∑matrix a ACGT\n", `unexpected end of file in the matrix command that starts here (missing ';'?)`, nexus.ErrUnexpectedEOF},
		{"unknown tip", "#NEXUS\nbegin trees; translate 1 a, 2 b;\n ∑tree t = (1,3);\n", "TREE t: tip '3' is not a TRANSLATE key or a taxon label", nexus.ErrUnknownTip},
		{"no equals", "#NEXUS\nbegin trees; tree t ∑(a,b);", `TREE t: expected '=', found "(a"`, nexus.ErrSyntax},
		{"stray command", "#NEXUS\n∑tree t = (a,b);", `expected BEGIN, found "tree"`, nexus.ErrSyntax},
		{"begin without semicolon", "#NEXUS\nbegin trees ∑tree t = (a,b);", `BEGIN trees: expected ';', found "tree"`, nexus.ErrSyntax},
		{"missing END", "#NEXUS\nbegin data; matrix a AC;\n∑begin trees; tree t = (a,b); end;", "BEGIN inside the DATA block (missing END;?)", nexus.ErrSyntax},
		{"quoted tree name", "#NEXUS\nbegin trees; tree 'a b' = (x ∑y);", "TREE 'a b': expected ':', ',' or ')' after label, found 'y'", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, line, col := texttest.Mark(tc.src)
			r := nexus.NewReader(strings.NewReader(src))
			r.File = "trees.nex"
			var err error
			for err == nil {
				_, err = r.Next()
			}
			var pe *nexus.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "trees.nex", pe.File)
			assert.Equal(t, line, pe.Line, "line")
			assert.Equal(t, col, pe.Column, "column")
			assert.Equal(t, tc.msg, pe.Err.Error())
			assert.Equal(t, fmt.Sprintf("trees.nex:%d:%d: %s", line, col, tc.msg), err.Error())
			if tc.kind != nil {
				assert.ErrorIs(t, err, tc.kind)
			} else {
				var tpe *topology.ParseError
				assert.ErrorAs(t, err, &tpe, "Newick errors wrap the topology error")
			}
		})
	}
}

func TestContinueAfterTreeError(t *testing.T) {
	const src = "#NEXUS\nbegin trees; translate 1 a, 2 b;\ntree t1 = (1,2);\ntree t2 = (1,,2;\ntree t3 = (1,9);\ntree t4 = (2,1);\nend;\n"
	r := nexus.NewReader(strings.NewReader(src))
	tr, err := r.Next()
	require.NoError(t, err)
	assert.Equal(t, "t1", tr.Name)
	_, err = r.Next()
	assert.EqualError(t, err, "4:16: TREE t2: expected ':', ',' or ')' after label, found ';' (the '(' at 4:11 is not closed)")
	_, err = r.Next()
	assert.ErrorIs(t, err, nexus.ErrUnknownTip)
	tr, err = r.Next()
	require.NoError(t, err)
	assert.Equal(t, "t4", tr.Name)
	assert.Equal(t, "(b:1,a:1);", tr.Topology.Newick())
	_, err = r.Next()
	assert.Equal(t, io.EOF, err)
	_, err = r.Next()
	assert.Equal(t, io.EOF, err)
}

func TestStickyError(t *testing.T) {
	r := nexus.NewReader(strings.NewReader("#NEXUS\nbegin trees; translate 1 a, 1 b; tree t = (1,2); end;"))
	_, err1 := r.Next()
	_, err2 := r.Next()
	assert.ErrorIs(t, err1, nexus.ErrDuplicateKey)
	assert.Equal(t, err1, err2)
}

func TestReadTree(t *testing.T) {
	tr, err := nexus.ReadTree(strings.NewReader(beastFile), 1)
	require.NoError(t, err)
	assert.Equal(t, "STATE_1000", tr.Name)
	// Trees before the one asked for are not parsed, so their errors do not matter.
	tr, err = nexus.ReadTree(strings.NewReader("#NEXUS\nbegin trees; tree bad = (((; tree good = (a,b); end;"), 1)
	require.NoError(t, err)
	assert.Equal(t, "good", tr.Name)
	_, err = nexus.ReadTree(strings.NewReader(beastFile), 2)
	assert.EqualError(t, err, "tree index 2 requested (0 is the first), but the file has only 2 trees")
	_, err = nexus.ReadTree(strings.NewReader(beastFile), -1)
	assert.ErrorIs(t, err, nexus.ErrNoTree)
}

func TestReadFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "t.nex")
	require.NoError(t, os.WriteFile(name, []byte("#NEXUS\nbegin trees;\ntree a = (x,y);\ntree b = (x,y;\nend;\n"), 0o644))
	tr, err := nexus.ReadFile(name, 0)
	require.NoError(t, err)
	assert.Equal(t, "a", tr.Name)
	_, err = nexus.ReadFile(name, 1)
	var pe *format.ParseError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, name, pe.File)
	assert.Equal(t, [2]int{4, 14}, [2]int{pe.Line, pe.Column})
	_, err = nexus.ReadFile(filepath.Join(t.TempDir(), "none.nex"), 0)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// posterior generates a BEAST-style file of n trees on the fly, so that the test
// can check that the reader streams.
type posterior struct {
	n, i int
	buf  []byte
}

func (p *posterior) Read(b []byte) (int, error) {
	for len(p.buf) == 0 {
		switch {
		case p.i == 0:
			p.buf = []byte("#NEXUS\nBegin trees;\n\tTranslate\n\t\t1 A,\n\t\t2 B,\n\t\t3 C\n\t\t;\n")
		case p.i <= p.n:
			p.buf = fmt.Appendf(nil, "tree STATE_%d [&lnP=-%d.5] = [&R] ((1[&rate=0.%d]:1.5,2:1.5):%d,3:%d.5);\n", (p.i-1)*1000, p.i, p.i%10, p.i, p.i+1)
		case p.i == p.n+1:
			p.buf = []byte("End;\n")
		default:
			return 0, io.EOF
		}
		p.i++
	}
	n := copy(b, p.buf)
	p.buf = p.buf[n:]
	return n, nil
}

func TestStreaming(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	r := nexus.NewReader(&posterior{n: n})
	count := 0
	for {
		tr, err := r.Next()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		count++
		if count == n {
			assert.Equal(t, fmt.Sprintf("STATE_%d", (n-1)*1000), tr.Name)
			assert.Equal(t, fmt.Sprintf("((A:1.5,B:1.5):%d,C:%d.5);", n, n+1), tr.Topology.Newick())
			assert.Equal(t, []string{fmt.Sprintf("&lnP=-%d.5", n)}, tr.Comments)
		}
	}
	assert.Equal(t, n, count)
}

func TestErrorsAreNotIOErrors(t *testing.T) {
	r := nexus.NewReader(io.MultiReader(strings.NewReader("#NEXUS\nbegin trees; tree a = (x,"), errReader{}))
	_, err := r.Next()
	assert.ErrorIs(t, err, errBroken)
}

var errBroken = errors.New("broken pipe")

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errBroken }
