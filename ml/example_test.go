package ml_test

import (
	"fmt"

	"github.com/canopy-bffg/canopy/ml"
	"github.com/canopy-bffg/canopy/topology"
)

// Maximum likelihood for Brownian motion on a small tree: the rate σ², the root state
// and the ancestral states with their standard errors.
func ExampleFit() {
	t, err := topology.ParseNewick("((a:1,b:1):1,(c:1,d:1):1);")
	if err != nil {
		panic(err)
	}
	y := []float64{1.0, 1.4, -0.3, 0.1} // tips a, b, c, d (t.Leaf order)
	r, err := ml.Fit(t, y, ml.Config{Model: ml.BM})
	if err != nil {
		panic(err)
	}
	fmt.Printf("σ² = %.4f, root = %.4f, log L = %.4f\n", r.Params["sigma2"], r.Root[0], r.LogLik)
	for _, a := range r.Ancestral {
		fmt.Printf("node %d: %.4f ± %.4f\n", a.Node, a.Mean[0], a.SE[0])
	}
	// Output:
	// σ² = 0.1808, root = 0.5500, log L = -3.3540
	// node 0: 0.5500 ± 0.3683
	// node 1: 0.9833 ± 0.2745
	// node 2: 0.1167 ± 0.2745
}
