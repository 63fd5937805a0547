package main

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"

	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/nexus"
	"github.com/canopy-bffg/canopy/format/traits"
	"github.com/canopy-bffg/canopy/topology"
)

// The built-in data set: the tree and leaf observations of hyperiax notebooks 05/06
// (regenerated from the notebooks' JAX seeds by internal/notebooks; a test checks that
// these files equal that regeneration).
var (
	//go:embed builtin/tree.nwk
	builtinTree string
	//go:embed builtin/traits.csv
	builtinTraits string
)

// dataset is a tree with trait values matched to its tips.
type dataset struct {
	tree      *topology.Topology
	traits    []string
	y         []float64 // NumLeaves × d, leaf-major in tree.Leaf order, NaN = missing
	treeFile  string
	traitFile string
	landmarks *landmarkSet // shape data (traitFile is then the landmark file), or nil
}

func (ds *dataset) d() int { return len(ds.traits) }

// loadTree reads a Newick or Nexus file (detected by a leading #NEXUS); index selects
// the tree of a multi-tree file. It notes a tree without branch lengths, which the
// parser reads as a cladogram with every length 1, and refuses one of total length 0,
// on which no rate can be fitted (every tip would equal the root).
func loadTree(stderr io.Writer, name string, index int) (*topology.Topology, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	t, err := parseTree(b, name, index)
	if err != nil {
		return nil, err
	}
	total, ones := 0.0, true
	for v := 1; v < t.Len(); v++ {
		total += t.BranchLength(v)
		ones = ones && t.BranchLength(v) == 1
	}
	if t.Len() > 1 && total == 0 {
		return nil, fmt.Errorf("%s: total tree length is 0 (every branch length is 0)", name)
	}
	// Without a ':' in the file no length was given, so the 1s are the parser's.
	if t.Len() > 1 && ones && !bytes.ContainsRune(b, ':') {
		fmt.Fprintf(stderr, "canopy: note: %s has no branch lengths; every branch is taken to have length 1\n", name)
	}
	return t, nil
}

func parseTree(b []byte, name string, index int) (*topology.Topology, error) {
	if index < 0 {
		return nil, fmt.Errorf("--tree-index %d: must be 0 or more", index)
	}
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), " \t\r\n")
	if len(trimmed) >= 6 && strings.EqualFold(string(trimmed[:6]), "#NEXUS") {
		r := nexus.NewReader(bytes.NewReader(b))
		r.File = name
		for i := 0; ; i++ {
			t, err := r.Next()
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: has %d tree(s); --tree-index %d is out of range", name, i, index)
			}
			if err != nil {
				return nil, err
			}
			if i == index {
				return t.Topology, nil
			}
		}
	}
	// Newick files may hold several trees, one per ';'.
	ts, err := topology.ReadNewick(bytes.NewReader(trimmed))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if index >= len(ts) {
		return nil, fmt.Errorf("%s: has %d tree(s); --tree-index %d is out of range", name, len(ts), index)
	}
	return ts[index], nil
}

// loadData reads the tree and the traits table and matches tips to rows by name. Every
// mismatch is reported at once.
func loadData(stderr io.Writer, treeFile, traitFile string, index int) (*dataset, error) {
	if treeFile == "" && traitFile == "" {
		return builtinData()
	}
	if treeFile == "" || traitFile == "" {
		return nil, errors.New("give both --tree and --traits, or neither for the built-in data")
	}
	t, err := loadTree(stderr, treeFile, index)
	if err != nil {
		return nil, err
	}
	tab, err := traits.ReadFile(traitFile)
	if err != nil {
		return nil, err
	}
	if len(tab.Traits) == 0 {
		return nil, fmt.Errorf("%s: no trait columns after the taxon column", traitFile)
	}
	return match(stderr, t, tab, treeFile, traitFile)
}

func builtinData() (*dataset, error) {
	t, err := topology.ParseNewick(strings.TrimSpace(builtinTree))
	if err != nil {
		return nil, err
	}
	tab, err := traits.Read(strings.NewReader(builtinTraits), "builtin/traits.csv")
	if err != nil {
		return nil, err
	}
	return match(io.Discard, t, tab, "builtin/tree.nwk", "builtin/traits.csv") // names match exactly: no notes
}

func match(stderr io.Writer, t *topology.Topology, tab *traits.Table, treeFile, traitFile string) (*dataset, error) {
	if t.NumLeaves() < 2 {
		return nil, fmt.Errorf("%s: the tree has %d tip(s); a fit needs at least 2", treeFile, t.NumLeaves())
	}
	rows, notes, err := format.Matcher{TreeFile: treeFile, Underscores: true}.Match(t, tab.Taxa, tab.Lines, traitFile)
	for _, n := range notes {
		fmt.Fprintln(stderr, "canopy: note:", n)
	}
	if err != nil {
		return nil, err
	}
	d := len(tab.Traits)
	y := make([]float64, t.NumLeaves()*d)
	for i, r := range rows {
		for k := 0; k < d; k++ {
			y[i*d+k] = tab.Values[r][k]
		}
	}
	ds := &dataset{tree: t, traits: tab.Traits, y: y, treeFile: treeFile, traitFile: traitFile}
	for k, name := range tab.Traits {
		n := 0
		for i := 0; i < t.NumLeaves(); i++ {
			if !math.IsNaN(y[i*d+k]) {
				n++
			}
		}
		if n < 2 {
			return nil, fmt.Errorf("%s: trait %q has %d observed value(s); a fit needs at least 2", traitFile, name, n)
		}
		// A constant trait has zero variance across tips: its rate estimate is 0 up to
		// rounding (ml printed σ² 5e-13), which is no fit at all.
		first, constant := math.NaN(), true
		for i := 0; i < t.NumLeaves(); i++ {
			if v := y[i*d+k]; !math.IsNaN(v) {
				if math.IsNaN(first) {
					first = v
				}
				constant = constant && v == first
			}
		}
		if constant {
			return nil, fmt.Errorf("%s: trait %q has the same value %g at every tip (zero variance across tips); there is nothing to fit", traitFile, name, first)
		}
	}
	return ds, nil
}

// nodeNames names every internal node by its label or, when unlabelled, by the two tips
// whose most recent common ancestor it is (its leftmost and rightmost descendant tips).
func nodeNames(t *topology.Topology) []string {
	names := make([]string, t.Len())
	tip := func(v int, last bool) string {
		for !t.IsLeaf(v) {
			lo, hi := t.Children(v)
			if last {
				v = hi - 1
			} else {
				v = lo
			}
		}
		if n := t.Name(v); n != "" {
			return n
		}
		return fmt.Sprintf("node%d", v)
	}
	for v := 0; v < t.Len(); v++ {
		switch {
		case t.Name(v) != "":
			names[v] = t.Name(v)
		case t.IsLeaf(v):
			names[v] = fmt.Sprintf("node%d", v)
		case v == 0:
			names[v] = "root"
		default:
			names[v] = "mrca(" + tip(v, false) + "," + tip(v, true) + ")"
		}
	}
	return names
}

// writeTraits writes a traits CSV (taxon,trait1,...) for the tips of t.
func writeTraits(w io.Writer, t *topology.Topology, names []string, y []float64) error {
	d := len(names)
	tab := &traits.Table{Traits: names}
	for i := 0; i < t.NumLeaves(); i++ {
		name := t.Name(t.Leaf(i))
		if name == "" {
			name = fmt.Sprintf("t%d", i+1)
		}
		tab.Taxa = append(tab.Taxa, name)
		tab.Values = append(tab.Values, append([]float64(nil), y[i*d:i*d+d]...))
	}
	bw := bufio.NewWriter(w)
	if err := traits.Write(bw, tab); err != nil {
		return err
	}
	return bw.Flush()
}
