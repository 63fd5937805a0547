package ml

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/topology"
)

// BenchmarkFitBM times a full Brownian-motion fit (σ², root, log-likelihood and the
// ancestral states with standard errors) on Yule trees, the job ape::pic plus
// phytools::fastAnc do in R (../shared/anchors/scaling.R).
func BenchmarkFitBM(b *testing.B) {
	for _, leaves := range []int{1_000, 100_000, 1_000_000} {
		rng := rand.New(rand.NewPCG(1, 2))
		t, err := topology.Yule(leaves, rng)
		if err != nil {
			b.Fatal(err)
		}
		n := t.Len()
		z, x := make([]float64, n), make([]float64, n)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		if err := bffg.Simulate(t, 1, bffg.BM{Tree: t, D: 1, Sigma2: 1}, bffg.Root{}, z, x); err != nil {
			b.Fatal(err)
		}
		y := make([]float64, leaves)
		for i := range y {
			y[i] = x[t.Leaf(i)]
		}
		b.Run(fmt.Sprintf("tips=%d", leaves), func(b *testing.B) {
			for b.Loop() {
				if _, err := Fit(t, y, Config{Model: BM}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
