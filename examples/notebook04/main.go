// Command notebook04 reproduces hyperiax notebook 04: ancestral states of a primate
// trait under Brownian motion with a flat root prior, by the backward filter and 512
// guided samples, on the notebook's data regenerated from its JAX seeds (x64 mode).
//
// Usage:
//
//	go run ./examples/notebook04
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/canopy-bffg/canopy/internal/notebooks"
)

func main() {
	if err := run(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "notebook04:", err)
		os.Exit(1)
	}
}

func run(w io.Writer) error {
	nb, err := notebooks.Notebook04()
	if err != nil {
		return err
	}
	t := nb.Tree
	fmt.Fprintf(w, "%-12s %8s %8s\n", "leaf", "latent", "observed")
	for i := 0; i < t.NumLeaves(); i++ {
		v := t.Leaf(i)
		fmt.Fprintf(w, "%-12s %8.3f %8.3f\n", t.Name(v), nb.X[v], nb.Y[i])
	}
	p, err := nb.Posterior()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nroot posterior (flat prior): mean %.3f, sd %.3f\n\n", p.RootMean, p.RootSD)
	fmt.Fprintf(w, "%-16s %10s %10s %10s\n", "internal node", "phylo_mean", "bffg_mean", "bffg_sd")
	// phylo_mean: hyperiax's inverse-length-weighted mean of the children, bottom up.
	pm := make([]float64, t.Len())
	for v := t.Len() - 1; v >= 0; v-- {
		if t.IsLeaf(v) {
			pm[v] = nb.Y[t.LeafIndex(v)]
			continue
		}
		lo, hi := t.Children(v)
		num, den := 0.0, 0.0
		for c := lo; c < hi; c++ {
			num += pm[c] / t.BranchLength(c)
			den += 1 / t.BranchLength(c)
		}
		pm[v] = num / den
	}
	for v := 0; v < t.Len(); v++ {
		if !t.IsLeaf(v) {
			fmt.Fprintf(w, "%-16s %10.3f %10.3f %10.3f\n", t.Name(v), pm[v], p.Mean[v], p.SD[v])
		}
	}
	return nil
}
