package bffg_test

import (
	"fmt"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/topology"
)

// Brownian motion on a small tree with noisy leaves: the filter's evidence equals the
// closed form N(y; 0, σ²K + τ²I), and the guided pass with z = 0 returns the posterior
// mean of every node (the ancestral-state reconstruction).
func ExampleFilter() {
	t, _, err := topology.FromParents([]int{-1, 0, 0, 1, 1}, []float64{0, 1, 2, 0.5, 0.5}, nil)
	if err != nil {
		panic(err)
	}
	model := bffg.BM{Tree: t, D: 1, Sigma2: 0.8}
	obs := bffg.Obs{Y: []float64{1.0, 0.2, 0.4}, Var: 0.1} // leaves 2, 3, 4

	var f bffg.Filter
	if err := f.Run(t, model, obs); err != nil {
		panic(err)
	}
	ll, _ := f.LogLikelihood(bffg.Root{})
	dense, _ := bffg.MarginalBM(t, 0.8, nil, obs, bffg.Root{})
	fmt.Printf("filter %.6f, closed form %.6f\n", ll, dense)

	z := make([]float64, t.Len()) // zero noise: the guided draw is the posterior mean
	x := make([]float64, t.Len())
	logw := make([]float64, t.Len())
	sum, _ := f.Guide(model, bffg.Root{}, z, x, logw)
	fmt.Printf("posterior mean of node 1: %.4f, Σ log w = %v\n", x[1], sum)
	// Output:
	// filter -3.403500, closed form -3.403500
	// posterior mean of node 1: 0.2286, Σ log w = 0
}
