package gridpost_test

import (
	"fmt"
	"log"

	"github.com/canopy-bffg/canopy/internal/gridpost"
)

// This example fits σ² and τ² to the 16 leaf observations of hyperiax notebook 05
// (symmetric binary tree of depth 4, K[i,j] = depth of the MRCA of leaves i and j,
// N(0, 2²) priors on log σ² and log τ²) and prints the notebook's grid summary next to
// the exact posterior summary.
func Example() {
	m, err := gridpost.New(binaryTreeKernel(4), nb05Data(), nil) // nil: default priors, μ = 0
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("log p(y | σ²=0.5, τ²=0.1) = %.4f\n", m.LogLik(0.5, 0.1))

	box, err := m.NotebookTable()
	if err != nil {
		log.Fatal(err)
	}
	exact, err := m.ExactTable(gridpost.ExactN)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range []struct {
		name string
		s    gridpost.Summary
	}{
		{"σ² notebook", box.SigmaSq}, {"σ² exact   ", exact.SigmaSq},
		{"τ² notebook", box.TauSq}, {"τ² exact   ", exact.TauSq},
	} {
		fmt.Printf("%s: mean %.4f median %.4f 95%% CI [%.4f, %.4f]\n",
			r.name, r.s.Mean, r.s.Median, r.s.Q025, r.s.Q975)
	}
	// Output:
	// log p(y | σ²=0.5, τ²=0.1) = -24.4213
	// σ² notebook: mean 0.4669 median 0.4136 95% CI [0.1364, 1.0678]
	// σ² exact   : mean 0.4674 median 0.4197 95% CI [0.1350, 1.0833]
	// τ² notebook: mean 0.3721 median 0.2584 95% CI [0.0166, 1.3592]
	// τ² exact   : mean 0.3770 median 0.2600 95% CI [0.0129, 1.4289]
}

// The marginal posterior densities on a grid, here of log σ² on the notebook box; the
// density of σ² itself is p/σ².
func ExampleGrid_Marginals() {
	m, err := gridpost.New([]float64{2, 1, 1, 2}, []float64{0.3, -1.2}, nil)
	if err != nil {
		log.Fatal(err)
	}
	g, err := m.NotebookGrid()
	if err != nil {
		log.Fatal(err)
	}
	pLogSigmaSq, _ := g.Marginals()
	var total float64
	for _, p := range pLogSigmaSq {
		total += p * (g.LogSigmaSq[1] - g.LogSigmaSq[0])
	}
	fmt.Printf("%d points, integral %.6f\n", len(pLogSigmaSq), total)
	// Output:
	// 200 points, integral 1.000000
}
