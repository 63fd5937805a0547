package format_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/traits"
	"github.com/canopy-bffg/canopy/topology"
)

func mustTree(t *testing.T, s string) *topology.Topology {
	t.Helper()
	tp, err := topology.ParseNewick(s)
	require.NoError(t, err)
	return tp
}

func messages(err error) []string {
	var list format.ErrorList
	if !errors.As(err, &list) {
		return nil
	}
	var out []string
	for _, e := range list {
		out = append(out, e.Error())
	}
	return out
}

func TestMatchExact(t *testing.T) {
	// Leaves in breadth-first order: C, A, B.
	tp := mustTree(t, "((A,B),C);")
	rows, err := format.Match(tp, []string{"B", "C", "A"}, []int{2, 3, 4}, "traits.csv")
	require.NoError(t, err)
	assert.Equal(t, []int{1, 2, 0}, rows)
}

func TestMatchReportsEverything(t *testing.T) {
	tp := mustTree(t, "((Canis_lupus,Felis),(Lynx,Lynx),,Puma);")
	names := []string{"Puma", "Vulpes", "Canis_latrans", "Canis_lupus", "Vulpes", "Lynx"}
	lines := []int{2, 3, 5, 6, 7, 9}
	rows, notes, err := format.Matcher{TreeFile: "tree.nwk"}.Match(tp, names, lines, "traits.csv")
	assert.Nil(t, notes)
	require.Error(t, err)
	assert.Equal(t, []string{
		"traits.csv:3: taxon 'Vulpes' has no tip in the tree",
		"traits.csv:5: taxon 'Canis_latrans' has no tip in the tree",
		"traits.csv:7: duplicate taxon 'Vulpes' (first at line 3)",
		"tree.nwk: duplicate tip 'Lynx': 2 leaves have this name",
		"tree.nwk: leaf 0 (node 3) has no name",
		"tree.nwk: tip 'Felis' has no row in traits.csv",
	}, messages(err))
	assert.Equal(t, "traits.csv:3: taxon 'Vulpes' has no tip in the tree (and 5 more errors)", err.Error())
	for _, kind := range []error{format.ErrNoTip, format.ErrNoRow, format.ErrDuplicateTaxon, format.ErrDuplicateTip, format.ErrUnnamedTip} {
		assert.ErrorIs(t, err, kind)
	}
	// In breadth-first order the leaves are the unnamed leaf (node 3) and Puma at
	// depth 1, then Canis_lupus, Felis, Lynx, Lynx.
	var leaves []string
	for i := 0; i < tp.NumLeaves(); i++ {
		leaves = append(leaves, tp.Name(tp.Leaf(i)))
	}
	require.Equal(t, []string{"", "Puma", "Canis_lupus", "Felis", "Lynx", "Lynx"}, leaves)
	assert.Equal(t, []int{-1, 0, 3, -1, -1, -1}, rows)

	var buf bytes.Buffer
	format.PrintError(&buf, fmt.Errorf("reading: %w", err))
	assert.Equal(t, `traits.csv:3: taxon 'Vulpes' has no tip in the tree
traits.csv:5: taxon 'Canis_latrans' has no tip in the tree
traits.csv:7: duplicate taxon 'Vulpes' (first at line 3)
tree.nwk: duplicate tip 'Lynx': 2 leaves have this name
tree.nwk: leaf 0 (node 3) has no name
tree.nwk: tip 'Felis' has no row in traits.csv
`, buf.String())
}

func TestMatchWithoutLines(t *testing.T) {
	tp := mustTree(t, "(a,b);")
	_, err := format.Match(tp, []string{"a", "c", "a"}, nil, "")
	assert.Equal(t, []string{
		"duplicate taxon 'a' (row 3) (first at row 1)",
		"taxon 'c' (row 2) has no tip in the tree",
		"tree: tip 'b' has no row in the data",
	}, messages(err))
	assert.Panics(t, func() { format.Match(tp, []string{"a"}, []int{1, 2}, "") })
}

func TestMatchUnderscores(t *testing.T) {
	tp := mustTree(t, "(('Canis lupus',Felis_catus),(Lynx_rufus,'Lynx rufus'),Ursus_arctos);")
	names := []string{"Canis_lupus", "Felis catus", "Lynx rufus", "Ursus arctos", "Ursus_arctos"}
	lines := []int{2, 3, 4, 5, 6}

	_, err := format.Match(tp, names, lines, "t.csv")
	assert.Equal(t, []string{
		"t.csv:2: taxon 'Canis_lupus' has no tip in the tree",
		"t.csv:3: taxon 'Felis catus' has no tip in the tree",
		"t.csv:5: taxon 'Ursus arctos' has no tip in the tree",
		"tree: tip 'Canis lupus' has no row in t.csv",
		"tree: tip 'Felis_catus' has no row in t.csv",
		"tree: tip 'Lynx_rufus' has no row in t.csv",
	}, messages(err))

	rows, notes, err := format.Matcher{Underscores: true}.Match(tp, names, lines, "t.csv")
	// Lynx rufus matches its tip exactly, so Lynx_rufus is left without a row;
	// Ursus_arctos matches exactly, so the row 'Ursus arctos' has no tip.
	assert.Equal(t, []string{
		"t.csv:5: taxon 'Ursus arctos' has no tip in the tree",
		"tree: tip 'Lynx_rufus' has no row in t.csv",
	}, messages(err))
	assert.Equal(t, []string{
		"t.csv:2: taxon 'Canis_lupus' matched tip 'Canis lupus' (underscores read as blanks)",
		"t.csv:3: taxon 'Felis catus' matched tip 'Felis_catus' (underscores read as blanks)",
	}, notes)
	// Leaves: Ursus_arctos, Canis lupus, Felis_catus, Lynx_rufus, Lynx rufus.
	assert.Equal(t, []int{4, 0, 1, -1, 2}, rows)

	// Two rows that agree after the rule are ambiguous and match nothing.
	_, notes, err = format.Matcher{Underscores: true}.Match(mustTree(t, "(a_b_c,c);"), []string{"a b_c", "c", "a_b c"}, nil, "t.csv")
	assert.Empty(t, notes)
	assert.Equal(t, []string{
		"t.csv: taxon 'a b_c' (row 1) has no tip in the tree",
		"t.csv: taxon 'a_b c' (row 3) has no tip in the tree",
		"tree: tip 'a_b_c' has no row in t.csv",
	}, messages(err))
}

func TestErrorList(t *testing.T) {
	var l format.ErrorList
	assert.NoError(t, l.Err())
	assert.Equal(t, "no errors", l.Error())
	l.Add("b.csv", 3, 0, errors.New("third"))
	l.Add("a.csv", 9, 2, errors.New("second"))
	l.Add("a.csv", 9, 1, errors.New("first"))
	l.Add("", 0, 0, errors.New("zeroth"))
	l.Sort()
	assert.Equal(t, []string{"zeroth", "a.csv:9:1: first", "a.csv:9:2: second", "b.csv:3: third"}, messages(l))
	assert.Equal(t, "zeroth (and 3 more errors)", l.Error())
	assert.Equal(t, "zeroth (and 1 more error)", l[:2].Error())
	assert.Equal(t, "zeroth", l[:1].Error())
	pe := &format.ParseError{Line: 4, Column: 2, Err: errors.New("x")}
	assert.Equal(t, "4:2: x", pe.Error())
	assert.Equal(t, "4:2", pe.Pos())
	var buf bytes.Buffer
	format.PrintError(&buf, pe)
	format.PrintError(&buf, nil)
	assert.Equal(t, "4:2: x\n", buf.String())
}

// TestDatasets reads the three real data sets of testdata and matches their tips
// to their trait rows.
func TestDatasets(t *testing.T) {
	for _, tc := range []struct {
		dir            string
		tips, internal int
		traits         []string
		tip            string
		values         []float64
	}{
		{"dinizfilho2002_carnivora", 70, 50, []string{"size", "range"}, "Panthera_onca", []float64{90.03, 25.25}},
		{"garland1992_mammals", 49, 48, []string{"bodyMass", "homeRange"}, "U._maritimus", []float64{265, 115.6}},
		{"mahler2010_anoles", 82, 81, []string{"SVL", "HL", "HLL", "FLL", "LAM", "TL"}, "sagrei", []float64{4.06716, 2.83515, 3.85786, 3.24267, 2.91872, 4.77603}},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			dir := filepath.Join("testdata", tc.dir)
			_, err := os.Stat(filepath.Join(dir, "SOURCE.md"))
			require.NoError(t, err, "SOURCE.md travels with the data")
			b, err := os.ReadFile(filepath.Join(dir, "tree.nwk"))
			require.NoError(t, err)
			tp, err := topology.ParseNewick(string(b))
			require.NoError(t, err)
			assert.Equal(t, tc.tips, tp.NumLeaves())
			assert.Equal(t, tc.internal, tp.Len()-tp.NumLeaves())
			tb, err := traits.ReadFile(filepath.Join(dir, "traits.csv"))
			require.NoError(t, err)
			assert.Equal(t, tc.traits, tb.Traits)
			rows, err := format.Match(tp, tb.Taxa, tb.Lines, "traits.csv")
			require.NoError(t, err, "no mismatches")
			seen := make(map[int]bool)
			found := false
			for i, r := range rows {
				v := tp.Leaf(i)
				assert.Equal(t, tp.Name(v), tb.Taxa[r])
				seen[r] = true
				if tp.Name(v) == tc.tip {
					found = true
					assert.Equal(t, tc.values, tb.Values[r])
				}
			}
			assert.Len(t, seen, tc.tips, "one row per tip")
			assert.True(t, found, tc.tip)
		})
	}
}
