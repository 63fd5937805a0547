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

// Two traits on different scales, each with its own rate (PerTrait): the second is the
// first times ten plus noise, so its rate is near a hundred times larger.
func ExampleFit_perTrait() {
	t, err := topology.ParseNewick("(((a:1,b:1):1,(c:1,d:1):1):1,((e:1,f:1):1,(g:1,h:1):1):1);")
	if err != nil {
		panic(err)
	}
	y := []float64{ // tips a … h, two traits each
		1.0, 11, 1.4, 13, -0.3, -4, 0.1, 2,
		0.8, 7, 0.5, 6, -0.6, -5, -0.2, -3,
	}
	r, err := ml.Fit(t, y, ml.Config{Model: ml.BM, PerTrait: true})
	if err != nil {
		panic(err)
	}
	fmt.Printf("σ²₁ = %.4f, σ²₂ = %.4f, log L = %.4f (%d parameters)\n",
		r.Params["sigma2_1"], r.Params["sigma2_2"], r.LogLik, r.NumParams)
	// Output:
	// σ²₁ = 0.1584, σ²₂ = 15.0930, log L = -32.2792 (4 parameters)
}
