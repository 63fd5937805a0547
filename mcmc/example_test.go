package mcmc_test

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/mcmc"
)

// normal2 is a bivariate normal with means (1, −2), standard deviations (1, 0.5) and
// correlation 0.5: log π(q) = −½ (q−μ)ᵀ Σ⁻¹ (q−μ).
type normal2 struct{}

func (normal2) Dim() int { return 2 }

func (n normal2) LogDensity(q []float64) float64 {
	var g [2]float64
	return n.LogDensityGrad(q, g[:])
}

func (normal2) LogDensityGrad(q, grad []float64) float64 {
	// Σ = [[1, 0.25], [0.25, 0.25]], so Σ⁻¹ = [[0.25, −0.25], [−0.25, 1]] / 0.1875.
	a, b := q[0]-1, q[1]+2
	pa, pb := (0.25*a-0.25*b)/0.1875, (-0.25*a+b)/0.1875
	grad[0], grad[1] = -pa, -pb
	return -0.5 * (a*pa + b*pb)
}

// Four chains of NUTS with Stan's warmup on a correlated 2-D Gaussian. The means are
// printed to one decimal, several Monte Carlo standard errors (about 0.01) wide.
func Example() {
	chains, err := mcmc.Run(context.Background(),
		func(int) (mcmc.Kernel, error) { return mcmc.NewNUTS(normal2{}), nil },
		mcmc.Config{Chains: 4, Warmup: 1000, Draws: 2000, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	var sum [2]float64
	var n, divergent int
	for _, c := range chains {
		for i := range c.Sample.Len() {
			d := c.Sample.Draw(i) // row-major: draw i is Draws[2i : 2i+2]
			sum[0] += d[0]
			sum[1] += d[1]
			n++
			if c.Sample.Info[i].Divergent {
				divergent++
			}
		}
	}
	fmt.Printf("posterior means %.1f %.1f from %d draws, %d divergent\n",
		sum[0]/float64(n), sum[1]/float64(n), n, divergent)
	// Output:
	// posterior means 1.0 -2.0 from 8000 draws, 0 divergent
}

// A random walk with a badly chosen scale: warmup (MetropolisAdaptation, which Run
// applies to Metropolis kernels) learns the shape of the proposal from the draws
// (its covariance ends near the posterior's, sds 1 and 0.5 with correlation 0.5) and
// tunes the multiplier so that about 23% of the sampling proposals are accepted
// (printed to one decimal).
func ExampleMetropolisAdaptation() {
	newKernel := func(int) (mcmc.Kernel, error) {
		return mcmc.NewRandomWalk(normal2{}, nil, []float64{50, 50}), nil
	}
	chains, err := mcmc.Run(context.Background(), newKernel, mcmc.Config{Chains: 2, Warmup: 2000, Draws: 5000, Seed: 3})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, c := range chains {
		acc := 0
		for _, in := range c.Sample.Info {
			if in.Accepted[0] {
				acc++
			}
		}
		var cov mat.SymDense
		c.Params.Metric.DenseTo(&cov)
		sd0, sd1 := math.Sqrt(cov.At(0, 0)), math.Sqrt(cov.At(1, 1))
		fmt.Printf("chain %d: proposal sds %.1f %.1f, correlation %.1f, multiplier %.1f, acceptance %.1f\n", c.Index,
			sd0, sd1, cov.At(0, 1)/(sd0*sd1), c.Params.StepSize, float64(acc)/float64(c.Sample.Len()))
	}
	// Output:
	// chain 0: proposal sds 1.0 0.6, correlation 0.5, multiplier 2.2, acceptance 0.2
	// chain 1: proposal sds 0.9 0.5, correlation 0.4, multiplier 2.4, acceptance 0.2
}
