package topology

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// wantTree describes an expected parse result in breadth-first order.
type wantTree struct {
	parents []int
	lengths []float64
	names   []string // nil when no node is named
}

func checkTree(t *testing.T, s string, want wantTree) *Topology {
	t.Helper()
	tp, err := ParseNewick(s)
	must.NoError(t, err, "ParseNewick(%q)", s)
	checkInvariants(t, tp)
	check.Equal(t, want.parents, tp.Parents(), "parents of %q", s)
	check.Equal(t, want.lengths, tp.BranchLengths(), "lengths of %q", s)
	check.Equal(t, want.names, tp.Names(), "names of %q", s)
	return tp
}

func TestParseNewickPrimates(t *testing.T) {
	// The tree of hyperiax notebook 03.
	const s = "((((Human:6.5,Chimp:6.5):2,Gorilla:8.5):6,Orangutan:14.5):5.5,Gibbon:20);"
	tp := checkTree(t, s, wantTree{
		parents: []int{-1, 0, 0, 1, 1, 3, 3, 5, 5},
		lengths: []float64{0, 5.5, 20, 6, 14.5, 2, 8.5, 6.5, 6.5},
		names:   []string{"", "", "Gibbon", "", "Orangutan", "", "Gorilla", "Human", "Chimp"},
	})
	check.Equal(t, 5, tp.NumLevels())
	check.Equal(t, 5, tp.NumLeaves())
	check.Equal(t, 20.0, tp.Dist(8))
	check.Equal(t, s, tp.Newick())

	// The tree of hyperiax notebook 04, with internal and root labels.
	const s4 = "(Human:1,Chimpanzee:1,(Gorilla:1,(Orangutan:1,Gibbon:1)AsianApes:1)GreatApes:1," +
		"(Macaque:1,Baboon:1)OldWorldMonkeys:1)Primates;"
	tp = checkTree(t, s4, wantTree{
		parents: []int{-1, 0, 0, 0, 0, 3, 3, 4, 4, 6, 6},
		lengths: []float64{0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
		names: []string{"Primates", "Human", "Chimpanzee", "GreatApes", "OldWorldMonkeys",
			"Gorilla", "AsianApes", "Macaque", "Baboon", "Orangutan", "Gibbon"},
	})
	var leaves []string
	for i := 0; i < tp.NumLeaves(); i++ {
		leaves = append(leaves, tp.Name(tp.Leaf(i)))
	}
	check.Equal(t, []string{"Human", "Chimpanzee", "Gorilla", "Macaque", "Baboon", "Orangutan", "Gibbon"}, leaves)
	check.Equal(t, s4, tp.Newick())
}

func TestParseNewickLabels(t *testing.T) {
	checkTree(t, "('Homo sapiens':1,'O''Brien':2,'a,b(c)[d]:e;':3,'':4,Pan_troglodytes:5,'''x':6)'root node';", wantTree{
		parents: []int{-1, 0, 0, 0, 0, 0, 0},
		lengths: []float64{0, 1, 2, 3, 4, 5, 6},
		names:   []string{"root node", "Homo sapiens", "O'Brien", "a,b(c)[d]:e;", "", "Pan_troglodytes", "'x"},
	})
	// Unquoted labels keep every byte that is not a delimiter, including UTF-8.
	checkTree(t, "(Åsa-1.5|x/y:1,#7&*:2)_;", wantTree{
		parents: []int{-1, 0, 0},
		lengths: []float64{0, 1, 2},
		names:   []string{"_", "Åsa-1.5|x/y", "#7&*"},
	})
	// Unnamed nodes: Names is nil.
	checkTree(t, "(,(,));", wantTree{
		parents: []int{-1, 0, 0, 2, 2},
		lengths: []float64{0, 1, 1, 1, 1},
	})
	checkTree(t, ";", wantTree{parents: []int{-1}, lengths: []float64{0}})
	checkTree(t, "A;", wantTree{parents: []int{-1}, lengths: []float64{0}, names: []string{"A"}})
	checkTree(t, "A:3;", wantTree{parents: []int{-1}, lengths: []float64{0}, names: []string{"A"}})
}

func TestParseNewickComments(t *testing.T) {
	want := wantTree{
		parents: []int{-1, 0, 0},
		lengths: []float64{0, 1, 2},
		names:   []string{"R", "A", "B"},
	}
	for _, s := range []string{
		"(A:1,B:2)R;",
		"[&R] [start]([c1]A[c2]:[c3]1[c4],[c5]B[&x=1]:[&rate=0.2]2[c6])[c7]R[c8]:[c9]0.5[c10];[end]",
		" [&R] ( A [&a={1,2}] : [&b] 1 , B : 2 ) R ; ",
		"(A[&height_95%_HPD={1.9,2.0},rate=0.2]:1,B:[&rate=0.22]2)R;",
		"(A:1,B:2)R[&label=\"x\"];",
		"(A[inside]:1,B:2)R;",
		"(\n\tA :\t1 ,\r\n  B:2\n)\nR\n;\n",
		"\ufeff(A:1,B:2)R;", // byte order mark
		"('A':1,'B':2)'R';",
	} {
		checkTree(t, s, want)
	}
	// A comment inside an unquoted label is removed and the label joined.
	checkTree(t, "(Hom[x]o:1,B[y]:2);", wantTree{
		parents: []int{-1, 0, 0},
		lengths: []float64{0, 1, 2},
		names:   []string{"", "Homo", "B"},
	})
}

func TestParseNewickNumbers(t *testing.T) {
	checkTree(t, "(A:1e-3,B:2.5E+2,C:.5,D:3.,E:+1,F:0,G:1E0,H:4.53E-7,I:-0,J:007);", wantTree{
		parents: []int{-1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		lengths: []float64{0, 0.001, 250, 0.5, 3, 1, 0, 1, 4.53e-7, math.Copysign(0, -1), 7},
		names:   []string{"", "A", "B", "C", "D", "E", "F", "G", "H", "I", "J"},
	})
	// Lengths that are not exactly representable parse to the nearest float64.
	tp, err := ParseNewick("(A:0.1,B:0.30000000000000004);")
	must.NoError(t, err)
	check.Equal(t, 0.1, tp.BranchLength(1))
	x, y := 0.1, 0.2 // variables, so that the sum is rounded as float64
	check.Equal(t, x+y, tp.BranchLength(2))
	check.Equal(t, "(A:0.1,B:0.30000000000000004);", tp.Newick())
}

func TestParseNewickShapes(t *testing.T) {
	// Polytomy.
	checkTree(t, "(A,B,C,D,E);", wantTree{
		parents: []int{-1, 0, 0, 0, 0, 0},
		lengths: []float64{0, 1, 1, 1, 1, 1},
		names:   []string{"", "A", "B", "C", "D", "E"},
	})
	// Unary nodes, and breadth-first order differing from text order.
	checkTree(t, "((A:1)B:2,C:3)R;", wantTree{
		parents: []int{-1, 0, 0, 1},
		lengths: []float64{0, 2, 3, 1},
		names:   []string{"R", "B", "C", "A"},
	})
	checkTree(t, "((((A))));", wantTree{
		parents: []int{-1, 0, 1, 2, 3},
		lengths: []float64{0, 1, 1, 1, 1},
		names:   []string{"", "", "", "", "A"},
	})
	// Cladogram: no lengths at all, or only the root's, which is ignored.
	for _, s := range []string{"((A,B),C);", "((A,B),C):7;"} {
		checkTree(t, s, wantTree{
			parents: []int{-1, 0, 0, 1, 1},
			lengths: []float64{0, 1, 1, 1, 1},
			names:   []string{"", "", "C", "A", "B"},
		})
	}
	checkTree(t, "(A:1,B:2)R:7;", wantTree{
		parents: []int{-1, 0, 0},
		lengths: []float64{0, 1, 2},
		names:   []string{"R", "A", "B"},
	})
	// Empty leaves between commas.
	checkTree(t, "(A,,B);", wantTree{
		parents: []int{-1, 0, 0, 0},
		lengths: []float64{0, 1, 1, 1},
		names:   []string{"", "A", "", "B"},
	})
}

func TestParseNewickErrors(t *testing.T) {
	for _, c := range []struct {
		in        string
		off       int
		line, col int
		msg       string
	}{
		{"", 0, 1, 1, "expected a tree, found end of input"},
		{" \n [c] ", 7, 2, 6, "expected a tree, found end of input"},
		{"(A,B)", 5, 1, 6, "expected label, ':' or ';' after ')', found end of input"},
		{"(A:1,B:2)", 9, 1, 10, "expected label, ':' or ';' after ')', found end of input"},
		{"A", 1, 1, 2, "expected ':' or ';' after label, found end of input"},
		{"(A,B));", 5, 1, 6, "expected label, ':' or ';' after ')', found ')'"},
		{"((A,B);", 6, 1, 7, "expected label, ':', ',' or ')' after ')', found ';' (the '(' at byte 0 is not closed)"},
		{"((A,B)", 6, 1, 7, "found end of input (the '(' at byte 0 is not closed)"},
		{"(A,(B,C);", 8, 1, 9, "(the '(' at byte 0 is not closed)"},
		{")", 0, 1, 1, "expected label, ':' or ';', found ')'"},
		{"(A,B);x", 6, 1, 7, "unexpected 'x' after ';'"},
		{"(A,B);(C,D);", 6, 1, 7, "unexpected '(' after ';'"},
		{"(A:1,B:1 x);", 9, 1, 10, "expected ',' or ')' after branch length, found 'x'"},
		{"(A:1,B:1.5x);", 7, 1, 8, `invalid branch length "1.5x" for node "B"`},
		{"(A:1,B:0x10);", 7, 1, 8, `invalid branch length "0x10"`},
		{"(A:1,B:1_0);", 7, 1, 8, `invalid branch length "1_0"`},
		{"(A:1,B:1e);", 7, 1, 8, `invalid branch length "1e"`},
		{"(A:1,B:.);", 7, 1, 8, `invalid branch length "."`},
		{"(A:1,B:-);", 7, 1, 8, `invalid branch length "-"`},
		{"(A:,B);", 3, 1, 4, "expected branch length after ':', found ','"},
		{"(A:1,B:);", 7, 1, 8, "expected branch length after ':', found ')'"},
		{"(A::1,B);", 3, 1, 4, "expected branch length after ':', found ':'"},
		{"(A:1:2,B:1);", 4, 1, 5, "duplicate ':'"},
		{"(A:1,B:2):3:4;", 11, 1, 12, "duplicate ':'"},
		{"(A:1,B);", 6, 1, 7, `node "B" has no branch length, but node "A" has one`},
		{"(A,B:1);", 2, 1, 3, `node "A" has no branch length, but node "B" has one`},
		{"((A:1,B:1),C:1);", 10, 1, 11, "the unnamed node at byte 10 has no branch length"},
		{"(A:-1,B:1);", 3, 1, 4, `node "A" has negative branch length -1`},
		{"(A:1,:-0.5);", 6, 1, 7, "the unnamed node at byte 5 has negative branch length -0.5"},
		{"(A:NaN,B:1);", 3, 1, 4, `node "A" has branch length NaN`},
		{"(A:inf,B:1);", 3, 1, 4, `node "A" has infinite branch length inf`},
		{"(A:1e400,B:1);", 3, 1, 4, `node "A" has infinite branch length 1e400`},
		{"('Homo sapiens,B);", 1, 1, 2, "unterminated quoted label"},
		{"(A[unterminated,B);", 2, 1, 3, "unterminated comment"},
		{"(A,B)[;", 5, 1, 6, "unterminated comment"},
		{"(A,B)R;[", 7, 1, 8, "unterminated comment"},
		{"(A]B);", 2, 1, 3, "expected ':', ',' or ')' after label, found ']'"},
		{"('A'B:1);", 4, 1, 5, "expected ':', ',' or ')' after label, found 'B'"},
		{"(A B);", 3, 1, 4, "expected ':', ',' or ')' after label, found 'B'"},
		{"(A,B)C D;", 7, 1, 8, "expected ':' or ';' after label, found 'D'"},
		{"(A,B)(C);", 5, 1, 6, "after ')', found '('"},
		{"(A:1,\n B:2,\n C:x);", 15, 3, 4, `invalid branch length "x" for node "C"`},
		{"(A,\r\nB)\r\nR\r\nS;", 12, 4, 1, "found 'S'"},
		{"(A,B)\xff\xfeC D;", 9, 1, 10, "found 'D'"},
		{"(A,B);\xff", 6, 1, 7, "unexpected byte 0xff after ';'"},
	} {
		tp, err := ParseNewick(c.in)
		if !check.Error(t, err, "ParseNewick(%q)", c.in) {
			t.Logf("got %v", tp.Parents())
			continue
		}
		var pe *ParseError
		if !check.ErrorAs(t, err, &pe, "ParseNewick(%q)", c.in) {
			continue
		}
		check.Equal(t, c.off, pe.Offset, "offset for %q: %v", c.in, err)
		check.Equal(t, c.line, pe.Line, "line for %q: %v", c.in, err)
		check.Equal(t, c.col, pe.Column, "column for %q: %v", c.in, err)
		check.Contains(t, pe.Msg, c.msg, "message for %q", c.in)
		check.True(t, strings.HasPrefix(err.Error(), "newick: line "), "%v", err)
	}
	// The documented form of the message.
	_, err := ParseNewick("(A:1,Bb:2,Cc:1.5 x);")
	check.Equal(t, "newick: line 1, column 18 (byte 17): expected ',' or ')' after branch length, found 'x'", err.Error())
}

func TestWriteNewickQuoting(t *testing.T) {
	tp, err := Symmetric(1, 8)
	must.NoError(t, err)
	names := []string{"root node", "plain", "has space", "O'Brien", "a,b", "x(y)", "[c]", "tab\there", "non\u00a0break"}
	tp, err = tp.WithNames(names)
	must.NoError(t, err)
	tp, err = tp.WithBranchLengths([]float64{0, 1, 0.5, 1e-7, 1e21, 123456789, 0.1, 2.5e-300, 0})
	must.NoError(t, err)
	const want = "(plain:1,'has space':0.5,'O''Brien':1e-07,'a,b':1e+21,'x(y)':1.23456789e+08,'[c]':0.1," +
		"'tab\there':2.5e-300,'non\u00a0break':0)'root node';"
	check.Equal(t, want, tp.Newick())
	back, err := ParseNewick(tp.Newick())
	must.NoError(t, err)
	check.Equal(t, names, back.Names())
	check.Equal(t, tp.BranchLengths(), back.BranchLengths())

	var buf bytes.Buffer
	must.NoError(t, tp.WriteNewick(&buf))
	check.Equal(t, want+"\n", buf.String())
}

type failWriter struct{ n int }

var errWrite = errors.New("write failed")

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errWrite
	}
	w.n--
	return len(p), nil
}

func TestWriteNewickLargeAndErrors(t *testing.T) {
	tp, err := Yule(20000, rand.New(rand.NewPCG(1, 1)))
	must.NoError(t, err)
	var buf bytes.Buffer
	must.NoError(t, tp.WriteNewick(&buf))
	check.Equal(t, tp.Newick()+"\n", buf.String())
	check.ErrorIs(t, tp.WriteNewick(&failWriter{n: 0}), errWrite)
	check.ErrorIs(t, tp.WriteNewick(&failWriter{n: 2}), errWrite)
}

// sameTopology reports whether a and b are equal node for node, with branch
// lengths compared bit for bit.
func sameTopology(t testing.TB, a, b *Topology) bool {
	t.Helper()
	ok := check.Equal(t, a.Parents(), b.Parents(), "parents")
	if a.Len() == b.Len() {
		for v := 0; v < a.Len(); v++ {
			if a.Name(v) != b.Name(v) {
				t.Errorf("name of node %d: %q vs %q", v, a.Name(v), b.Name(v))
				return false
			}
			if math.Float64bits(a.BranchLength(v)) != math.Float64bits(b.BranchLength(v)) {
				t.Errorf("length of node %d: %v vs %v", v, a.BranchLength(v), b.BranchLength(v))
				return false
			}
		}
	}
	return ok
}

func TestNewickRoundTrip(t *testing.T) {
	for _, s := range []string{
		";",
		"A;",
		"(,);",
		"((A)B,C)R;",
		"('Homo sapiens':1e-3,'O''Brien':2.5E+2,(x:0,y:0.1)'z w':3)'r';",
		"(A[c]:[&x]1,B:2)R;",
		"((((Human:6.5,Chimp:6.5):2,Gorilla:8.5):6,Orangutan:14.5):5.5,Gibbon:20);",
		"(a:0.30000000000000004,b:5e-324,c:1.7976931348623157e308,d:-0);",
	} {
		a, err := ParseNewick(s)
		must.NoError(t, err, "%q", s)
		out := a.Newick()
		b, err := ParseNewick(out)
		must.NoError(t, err, "%q", out)
		sameTopology(t, a, b)
		check.Equal(t, out, b.Newick())
	}
	// Random trees with awkward lengths and names.
	rng := rand.New(rand.NewPCG(9, 9))
	for trial := 0; trial < 20; trial++ {
		a, err := RandomTree(1+rng.IntN(300), rng.IntN(4), rng)
		must.NoError(t, err)
		lengths := a.BranchLengths()
		names := make([]string, a.Len())
		for v := range lengths {
			lengths[v] = math.Ldexp(rng.Float64(), rng.IntN(2098)-1074) // zero and subnormal to huge
			names[v] = []string{"", "a", "b c", "'", "x'y", "[", "é", "_"}[rng.IntN(8)]
		}
		a, err = a.WithBranchLengths(lengths)
		must.NoError(t, err)
		a, err = a.WithNames(names)
		must.NoError(t, err)
		b, err := ParseNewick(a.Newick())
		must.NoError(t, err)
		sameTopology(t, a, b)
	}
}

func TestReadNewick(t *testing.T) {
	in := "[&R] (A:1,B:2)R;\n[tree 2]\n((C,D),E);\n\n'x y';  \n"
	trees, err := ReadNewick(strings.NewReader(in))
	must.NoError(t, err)
	must.Equal(t, 3, len(trees))
	check.Equal(t, []string{"R", "A", "B"}, trees[0].Names())
	check.Equal(t, []int{-1, 0, 0, 1, 1}, trees[1].Parents())
	check.Equal(t, []string{"x y"}, trees[2].Names())

	// Streams written by WriteNewick read back.
	var buf bytes.Buffer
	for _, tp := range trees {
		must.NoError(t, tp.WriteNewick(&buf))
	}
	again, err := ReadNewick(&buf)
	must.NoError(t, err)
	must.Equal(t, 3, len(again))
	for i := range trees {
		sameTopology(t, trees[i], again[i])
	}

	// Error positions refer to the whole stream.
	_, err = ReadNewick(strings.NewReader("(A,B);\n(C,D:x);"))
	var pe *ParseError
	must.ErrorAs(t, err, &pe)
	check.Equal(t, 12, pe.Offset)
	check.Equal(t, 2, pe.Line)
	check.Equal(t, 6, pe.Column)

	_, err = ReadNewick(strings.NewReader("(A,B);\n(C,D)"))
	must.ErrorAs(t, err, &pe)
	check.Equal(t, 12, pe.Offset)

	_, err = ReadNewick(strings.NewReader(" [nothing] \n"))
	must.ErrorAs(t, err, &pe)
	check.Contains(t, pe.Msg, "expected a tree")

	_, err = ReadNewick(&failReader{})
	check.ErrorIs(t, err, errWrite)
}

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errWrite }

func TestParseNewickCaterpillar(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	cat, err := Caterpillar(n)
	must.NoError(t, err)
	s := cat.Newick()
	check.True(t, strings.HasPrefix(s, "(t1:1,(t2:1,(t3:1,"))
	check.True(t, strings.HasSuffix(s, "):1):1);"), "suffix %q", s[len(s)-30:])
	check.True(t, strings.Contains(s, fmt.Sprintf("(t%d:1,t%d:1):1)", n-1, n)))
	start := time.Now()
	tp, err := ParseNewick(s)
	elapsed := time.Since(start)
	must.NoError(t, err)
	t.Logf("parsed a %d-leaf caterpillar (%d bytes) in %v", n, len(s), elapsed)
	check.Equal(t, 2*n-1, tp.Len())
	check.Equal(t, n, tp.NumLevels())
	check.Equal(t, float64(n-1), tp.Dist(tp.Len()-1))
	sameTopology(t, cat, tp)
}

func FuzzNewick(f *testing.F) {
	for _, s := range []string{
		";",
		"(,);",
		"(A,B)C;",
		"((((Human:6.5,Chimp:6.5):2,Gorilla:8.5):6,Orangutan:14.5):5.5,Gibbon:20);",
		"('Homo sapiens':1e-3,'O''Brien':2.5E+2)[&R]'r';",
		"[&R] ([c]A[d]:[e]1,B[&rate=0.2]:[&x]2)R:0.5;",
		"((A)B,C,D,E)F;",
		"(A:1,B);",
		"(A:1:2);",
		"((A,B);",
		"(A,B);x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseNewick(s)
		if err != nil {
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("ParseNewick(%q): error %v is not a *ParseError", s, err)
			}
			if pe.Offset < 0 || pe.Offset > len(s) || pe.Line < 1 || pe.Column < 1 {
				t.Fatalf("ParseNewick(%q): bad position in %v", s, err)
			}
			return
		}
		out := a.Newick()
		b, err := ParseNewick(out)
		if err != nil {
			t.Fatalf("ParseNewick(%q) wrote %q, which does not parse: %v", s, out, err)
		}
		if !sameTopology(t, a, b) {
			t.Fatalf("round trip of %q through %q changed the tree", s, out)
		}
		if out2 := b.Newick(); out2 != out {
			t.Fatalf("writing is not stable: %q then %q", out, out2)
		}
	})
}

func BenchmarkParseNewick(b *testing.B) {
	tp, err := Yule(100_000, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	s := tp.Newick()
	b.SetBytes(int64(len(s)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ParseNewick(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewick(b *testing.B) {
	tp, err := Yule(100_000, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = tp.Newick()
	}
}

func BenchmarkParseCaterpillar(b *testing.B) {
	tp, _ := Caterpillar(1_000_000)
	s := tp.Newick()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := ParseNewick(s); err != nil {
			b.Fatal(err)
		}
	}
}
