package bffg_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/floats"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/sde"
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

// Landmark shapes evolving by the Kunita flow (three landmarks in the plane) on a
// cherry: refine the auxiliary's anchors, filter, draw one guided path, and take the
// gradient of log h_root + Σ log w with respect to (k_α, k_σ) and the leaf noise τ².
func ExampleFlowFilter() {
	t, err := topology.ParseNewick("(a:1,b:0.5);")
	if err != nil {
		panic(err)
	}
	root := []float64{1, 0, -0.5, 0.87, -0.5, -0.87} // x₀, y₀, x₁, y₁, x₂, y₂
	y := []float64{
		1.1, 0.1, -0.6, 0.8, -0.4, -0.9, // leaf a
		0.9, 0.0, -0.5, 0.9, -0.5, -0.8, // leaf b
	}
	k := sde.Kunita{N: 3, Dim: 2, KAlpha: 0.05, KSigma: 0.8}
	const tau2 = 0.01
	f := bffg.FlowFilter{Steps: 50, TimeChange: true}
	if err := f.SetData(t, 3, 2, root, y); err != nil {
		panic(err)
	}
	if err := bffg.FlowAnchors(&f, bffg.KunitaFlow(k), tau2, 2); err != nil {
		panic(err)
	}
	if err := f.Run(bffg.KunitaFlow(k), tau2); err != nil {
		panic(err)
	}
	z := make([]float64, f.NumNoise()) // z = 0: the guided path's "mean"
	sum, err := f.Guide(z)
	if err != nil {
		panic(err)
	}
	fmt.Printf("log h̃_root %.3f, Σ log w %.4f\n", f.LogLikelihood(), sum)
	zbar, pbar := make([]float64, len(z)), make([]float64, 2)
	tb, err := f.Backward(z, zbar, pbar)
	if err != nil {
		panic(err)
	}
	fmt.Printf("∂/∂k_α %.2f, ∂/∂k_σ %.3f, ∂/∂τ² %.1f\n", pbar[0], pbar[1], tb)
	// Output:
	// log h̃_root 8.075, Σ log w -0.0036
	// ∂/∂k_α -61.28, ∂/∂k_σ 1.919, ∂/∂τ² -171.1
}

// ExampleFlowFilter_exactSteps takes each Euler step as the model's transition and
// guides it exactly: the log-weights are exact for the discretised flow, so the
// importance estimate of p(y) does not depend on the auxiliary (here, where its anchors
// are), even on a coarse grid of 5 steps an edge. The explicit steps' left-point
// weights are not exact, and their estimates move with the anchors.
func ExampleFlowFilter_exactSteps() {
	t, err := topology.ParseNewick("((c:0.6,d:0.6):0.4,e:1);")
	if err != nil {
		panic(err)
	}
	root := []float64{0, 0.5}                     // two landmarks on a line
	y := []float64{0.3, 0.2, -0.4, 0.9, 0.6, 1.6} // leaves e, c, d (breadth-first order)
	flow := bffg.KunitaFlow(sde.Kunita{N: 2, Dim: 1, KAlpha: 1, KSigma: 0.7})
	const tau2 = 0.15
	for _, exact := range []bool{true, false} {
		for _, refine := range []bool{false, true} {
			f := bffg.FlowFilter{Steps: 5, ExactSteps: exact}
			if err := f.SetData(t, 2, 1, root, y); err != nil {
				panic(err)
			}
			if refine { // otherwise the anchors stay at the root shape and the observations
				if err := bffg.FlowAnchors(&f, flow, tau2, 2); err != nil {
					panic(err)
				}
			}
			if err := f.Run(flow, tau2); err != nil {
				panic(err)
			}
			r := rand.New(rand.NewPCG(1, 2))
			z := make([]float64, f.NumNoise())
			const draws = 5000
			p := 0.0
			for range draws {
				for i := range z {
					z[i] = r.NormFloat64()
				}
				sum, err := f.Guide(z)
				if err != nil {
					panic(err)
				}
				p += math.Exp(f.LogLikelihood()+sum) / draws
			}
			fmt.Printf("exact steps %-5v refined anchors %-5v: p(y) ≈ %.5f\n", exact, refine, p)
		}
	}
	// Output:
	// exact steps true  refined anchors false: p(y) ≈ 0.00225
	// exact steps true  refined anchors true : p(y) ≈ 0.00225
	// exact steps false refined anchors false: p(y) ≈ 0.00231
	// exact steps false refined anchors true : p(y) ≈ 0.00237
}

// ExampleFlowFilter_exactLeaves observes the leaves without noise (τ² = 0): with exact
// steps, the last step into each leaf is the Euler transition conditioned on the
// observed landmarks, so a guided pass ends exactly on them and draws the missing ones
// (here leaf c's second landmark) from their conditional.
func ExampleFlowFilter_exactLeaves() {
	t, err := topology.ParseNewick("((c:0.6,d:0.6):0.4,e:1);")
	if err != nil {
		panic(err)
	}
	root := []float64{0, 0.5}                            // two landmarks on a line
	y := []float64{0.1, 0.6, -0.2, math.NaN(), 0.2, 0.8} // leaves e, c, d (breadth-first order)
	flow := bffg.KunitaFlow(sde.Kunita{N: 2, Dim: 1, KAlpha: 1, KSigma: 0.7})
	f := bffg.FlowFilter{Steps: 5, ExactSteps: true}
	if err := f.SetData(t, 2, 1, root, y); err != nil {
		panic(err)
	}
	if err := f.Run(flow, 0); err != nil {
		panic(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	z := make([]float64, f.NumNoise())
	for i := range z {
		z[i] = r.NormFloat64()
	}
	sum, err := f.Guide(z)
	if err != nil {
		panic(err)
	}
	fmt.Printf("Σ log w = %.4f\n", sum)
	for i := range t.NumLeaves() {
		v := t.Leaf(i)
		fmt.Printf("%s: %.4f\n", t.Name(v), f.State(v))
	}
	// Output:
	// Σ log w = 0.0818
	// e: [0.1000 0.6000]
	// c: [-0.2000 0.1978]
	// d: [0.2000 0.8000]
}

// meanReverting is the Kunita flow with a drift towards a mean shape, b(x) = −λ(x − μ):
// a Flow that is also a Drifter.
type meanReverting struct {
	bffg.Flow
	lambda float64
	mu     []float64
}

func (f meanReverting) DriftTo(dst, x []float64) error {
	for i, e := range x {
		dst[i] = -f.lambda * (e - f.mu[i])
	}
	return nil
}

// DriftVJPTo: ∂b/∂x = −λI; the flow's own θ (k_α, k_σ) does not enter b.
func (f meanReverting) DriftVJPTo(xbar, _, _, bbar []float64) {
	for i, e := range bbar {
		xbar[i] = -f.lambda * e
	}
}

// A flow with a drift: the guided pass and its gradient, here with exact steps.
func ExampleDrifter() {
	t, err := topology.ParseNewick("((c:0.6,d:0.6):0.4,e:1);")
	if err != nil {
		panic(err)
	}
	root := []float64{0, 0.5}
	y := []float64{0.1, 0.6, -0.2, 0.4, 0.2, 0.8} // leaves e, c, d
	flow := meanReverting{Flow: bffg.KunitaFlow(sde.Kunita{N: 2, Dim: 1, KAlpha: 1, KSigma: 0.7}),
		lambda: 1, mu: root}
	f := bffg.FlowFilter{Steps: 5, ExactSteps: true}
	if err := f.SetData(t, 2, 1, root, y); err != nil {
		panic(err)
	}
	if err := f.Run(flow, 0.01); err != nil {
		panic(err)
	}
	z := make([]float64, f.NumNoise()) // the guided pass at z = 0
	sum, err := f.Guide(z)
	if err != nil {
		panic(err)
	}
	zbar, pbar := make([]float64, len(z)), make([]float64, flow.NumParams())
	if _, err := f.Backward(z, zbar, pbar); err != nil {
		panic(err)
	}
	fmt.Printf("log h_root + Σ log w = %.4f\n", f.LogLikelihood()+sum)
	fmt.Printf("∂/∂(k_α, k_σ) = %.4f\n", pbar)
	// Output:
	// log h_root + Σ log w = -2.1299
	// ∂/∂(k_α, k_σ) = [-2.4561 2.9450]
}

// A strong pull towards a mean shape. MeanReverting's auxiliary process shares the
// drift (it is an AuxDrifter); with the driftless auxiliary of meanReverting above, the
// guided proposal is further from the conditioned process, and the log-weights vary
// much more from one noise draw to the next.
func ExampleMeanReverting() {
	t, err := topology.ParseNewick("((c:0.6,d:0.6):0.4,e:1);")
	if err != nil {
		panic(err)
	}
	root := []float64{0, 0.5}
	y := []float64{0.1, 0.6, -0.2, 0.4, 0.2, 0.8} // leaves e, c, d
	kunita := bffg.KunitaFlow(sde.Kunita{N: 2, Dim: 1, KAlpha: 1, KSigma: 0.7})
	for _, flow := range []bffg.Flow{meanReverting{Flow: kunita, lambda: 4, mu: root}, bffg.MeanReverting(kunita, 4, root)} {
		f := bffg.FlowFilter{Steps: 50}
		if err := f.SetData(t, 2, 1, root, y); err != nil {
			panic(err)
		}
		if err := f.Run(flow, 0.01); err != nil {
			panic(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		z := make([]float64, f.NumNoise())
		var s, s2 float64
		const draws = 500
		for k := 0; k < draws; k++ {
			for i := range z {
				z[i] = rng.NormFloat64()
			}
			lw, err := f.Guide(z)
			if err != nil {
				panic(err)
			}
			s += lw
			s2 += lw * lw
		}
		_, aux := flow.(bffg.AuxDrifter)
		fmt.Printf("auxiliary drift %-5v: sd of Σ log w %.2f\n", aux, math.Sqrt(s2/draws-(s/draws)*(s/draws)))
	}
	// Output:
	// auxiliary drift false: sd of Σ log w 1.05
	// auxiliary drift true : sd of Σ log w 0.05
}

// Exact steps of a strong pull on coarse grids. Each estimate is log p(y) of the
// discretised flow: the log of the mean of h_root·Π w over draws of the noise. The
// Euler steps' mean overshoots once λ·dt is not small, so their p(y) moves with the
// grid; ExponentialSteps integrates the pull within each step, and only the diffusion's
// dependence on the state is left to the grid.
func ExampleFlowFilter_exponentialSteps() {
	t, err := topology.ParseNewick("((c:0.6,d:0.6):0.4,e:1);")
	if err != nil {
		panic(err)
	}
	root := []float64{0, 0.5}
	y := []float64{0.1, 0.6, -0.2, 0.4, 0.2, 0.8} // leaves e, c, d
	flow := bffg.MeanReverting(bffg.KunitaFlow(sde.Kunita{N: 2, Dim: 1, KAlpha: 1, KSigma: 0.7}), 4, root)
	for _, expo := range []bool{false, true} {
		fmt.Printf("ExponentialSteps %-5v:", expo)
		for _, steps := range []int{2, 8, 64} {
			f := bffg.FlowFilter{Steps: steps, ExactSteps: true, ExponentialSteps: expo}
			if err := f.SetData(t, 2, 1, root, y); err != nil {
				panic(err)
			}
			if err := f.Run(flow, 0.01); err != nil {
				panic(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			z := make([]float64, f.NumNoise())
			const draws = 2000
			lw := make([]float64, draws)
			for k := range lw {
				for i := range z {
					z[i] = rng.NormFloat64()
				}
				if lw[k], err = f.Guide(z); err != nil {
					panic(err)
				}
			}
			fmt.Printf(" %d steps %.3f", steps, f.LogLikelihood()+floats.LogSumExp(lw)-math.Log(draws))
		}
		fmt.Println()
	}
	// Output:
	// ExponentialSteps false: 2 steps -0.356 8 steps 1.807 64 steps 2.081
	// ExponentialSteps true : 2 steps 2.139 8 steps 2.116 64 steps 2.114
}
