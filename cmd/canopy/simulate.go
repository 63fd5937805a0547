package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/canopy-bffg/canopy/bffg"
)

func runSimulate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simulate", stderr)
	treeFile := fs.String("tree", "", "tree file (Newick or Nexus); none for the built-in tree")
	index := fs.Int("tree-index", 0, "which tree of a multi-tree file (0 = first)")
	model := fs.String("model", "bm", "edge model: bm or ou")
	sigma2 := fs.Float64("sigma2", 1, "rate σ² per unit branch length")
	alpha := fs.Float64("alpha", 1, "OU mean reversion α")
	theta := fs.Float64("theta", 0, "OU optimum θ")
	root := fs.Float64("root", 0, "root state")
	noise := fs.Float64("noise", 0, "leaf noise variance τ²")
	ntraits := fs.Int("traits", 1, "number of independent traits")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output traits CSV (default: standard output)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	for _, c := range []struct {
		name string
		v    float64
		pos  bool
	}{{"--sigma2", *sigma2, true}, {"--alpha", *alpha, false}, {"--noise", *noise, false}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) || c.v < 0 || (c.pos && c.v == 0) {
			return &exitError{code: 2, err: fmt.Errorf("%s %v: must be a finite non-negative number (positive for --sigma2)", c.name, c.v)}
		}
	}
	if *ntraits < 1 || *ntraits > 10000 {
		return &exitError{code: 2, err: fmt.Errorf("--traits %d: want 1 to 10000 traits", *ntraits)}
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"--root", *root}, {"--theta", *theta}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) {
			return &exitError{code: 2, err: fmt.Errorf("%s %v: must be finite", c.name, c.v)}
		}
	}
	var err error
	ds := &dataset{}
	if *treeFile == "" {
		if ds, err = builtinData(); err != nil {
			return err
		}
	} else if ds.tree, err = loadTree(*treeFile, *index); err != nil {
		return err
	}
	t := ds.tree
	d := *ntraits
	var k bffg.Kernel
	switch *model {
	case "bm":
		k = bffg.BM{Tree: t, D: d, Sigma2: *sigma2}
	case "ou":
		th := make([]float64, d)
		for i := range th {
			th[i] = *theta
		}
		k = bffg.OU{Tree: t, D: d, Alpha: *alpha, Theta: th, Sigma2: *sigma2}
	default:
		return &exitError{code: 2, err: fmt.Errorf("--model %q: want bm or ou", *model)}
	}
	rng := rand.New(rand.NewPCG(*seed, 0))
	n := t.Len()
	z, x := make([]float64, n*d), make([]float64, n*d)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	r := make([]float64, d)
	for i := range r {
		r[i] = *root
	}
	if err := bffg.Simulate(t, d, k, bffg.Root{Mean: r}, z, x); err != nil {
		return err
	}
	y := make([]float64, t.NumLeaves()*d)
	sd := math.Sqrt(*noise)
	for i := 0; i < t.NumLeaves(); i++ {
		for a := 0; a < d; a++ {
			y[i*d+a] = x[t.Leaf(i)*d+a] + sd*rng.NormFloat64()
		}
	}
	names := make([]string, d)
	for a := range names {
		names[a] = fmt.Sprintf("trait%d", a+1)
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	return writeTraits(w, t, names, y)
}
