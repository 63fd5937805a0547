package nexus_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/format/nexus"
	"github.com/canopy-bffg/canopy/topology"
)

func TestWriter(t *testing.T) {
	tp, err := topology.ParseNewick("((Homo_sapiens:6.5,'Pan troglodytes':6.5)0.97:2,Gorilla:8.5);")
	require.NoError(t, err)
	var buf bytes.Buffer
	w := nexus.NewWriter(&buf, []string{"Gorilla", "Homo_sapiens", "Pan troglodytes"})
	require.NoError(t, w.Write(&nexus.Tree{Name: "STATE_0", Rooting: nexus.Rooted, Comments: []string{"&lnP=-12.5"}, Topology: tp}))
	require.NoError(t, w.Write(&nexus.Tree{Name: "two words", Default: true, Rooting: nexus.Unrooted, Topology: tp}))
	require.NoError(t, w.Close())
	require.NoError(t, w.Close(), "Close twice")
	const want = `#NEXUS
BEGIN TAXA;
	DIMENSIONS NTAX=3;
	TAXLABELS
		Gorilla
		Homo_sapiens
		'Pan troglodytes'
	;
END;
BEGIN TREES;
	TRANSLATE
		1 Gorilla,
		2 Homo_sapiens,
		3 'Pan troglodytes'
	;
	TREE STATE_0 [&lnP=-12.5] = [&R] ((2:6.5,3:6.5)0.97:2,1:8.5);
	TREE * 'two words' = [&U] ((2:6.5,3:6.5)0.97:2,1:8.5);
END;
`
	assert.Equal(t, want, buf.String())

	trees, r := readAll(t, buf.String())
	require.Len(t, trees, 2)
	assert.Equal(t, []string{"Gorilla", "Homo_sapiens", "Pan troglodytes"}, r.Taxa())
	assert.Equal(t, tp.Newick(), trees[0].Topology.Newick())
	assert.Equal(t, []string{"&lnP=-12.5"}, trees[0].Comments)
	assert.Equal(t, "two words", trees[1].Name)
	assert.True(t, trees[1].Default)
	assert.Equal(t, nexus.Unrooted, trees[1].Rooting)
}

func TestWriterWithoutTaxa(t *testing.T) {
	tp, err := topology.ParseNewick("(a,b);")
	require.NoError(t, err)
	var buf bytes.Buffer
	w := nexus.NewWriter(&buf, nil)
	require.NoError(t, w.Write(&nexus.Tree{Name: "t", Topology: tp}))
	require.NoError(t, w.Close())
	assert.Equal(t, "#NEXUS\nBEGIN TREES;\n\tTREE t = (a:1,b:1);\nEND;\n", buf.String())
}

func TestWriterErrors(t *testing.T) {
	tp, err := topology.ParseNewick("(a,b);")
	require.NoError(t, err)
	w := nexus.NewWriter(&bytes.Buffer{}, []string{"a"})
	assert.EqualError(t, w.Write(&nexus.Tree{Name: "t", Topology: tp}), "nexus: tree 't': tip 'b' is not one of the taxa")
	assert.EqualError(t, w.Write(&nexus.Tree{Name: "t", Topology: tp, Comments: []string{"a]b"}}), `nexus: tree 't': comment "a]b" contains a bracket`)
	w = nexus.NewWriter(&bytes.Buffer{}, []string{"a", "a"})
	assert.ErrorIs(t, w.Write(&nexus.Tree{Name: "t", Topology: tp}), nexus.ErrDuplicateTaxon)
	assert.ErrorIs(t, w.Close(), nexus.ErrDuplicateTaxon, "the error sticks")
}

// TestDatasetsRoundTrip writes each Newick tree of ../testdata to Nexus with a
// TRANSLATE table and reads it back.
func TestDatasetsRoundTrip(t *testing.T) {
	dirs, err := filepath.Glob("../testdata/*/tree.nwk")
	require.NoError(t, err)
	require.Len(t, dirs, 3)
	for _, name := range dirs {
		b, err := os.ReadFile(name)
		require.NoError(t, err)
		tp, err := topology.ParseNewick(string(b))
		require.NoError(t, err)
		taxa := leafNames(tp)
		var buf bytes.Buffer
		w := nexus.NewWriter(&buf, taxa)
		require.NoError(t, w.Write(&nexus.Tree{Name: "tree1", Rooting: nexus.Rooted, Topology: tp}))
		require.NoError(t, w.Close())
		got, err := nexus.ReadTree(strings.NewReader(buf.String()), 0)
		require.NoError(t, err, name)
		assert.Equal(t, tp.Newick(), got.Topology.Newick(), name)
		assert.Equal(t, taxa, leafNames(got.Topology), name)
	}
}
