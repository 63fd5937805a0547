package bffg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/canopy-bffg/canopy/topology"
	"github.com/canopy-bffg/canopy/tree"
)

// BenchmarkFilterGuide times one backward filter plus one guided forward pass under
// Brownian motion on random Yule trees, serially (workers=1) and on all cores.
// ns/node is reported per tree node.
func BenchmarkFilterGuide(b *testing.B) {
	for _, leaves := range []int{1_000, 100_000, 1_000_000} {
		rng := rand.New(rand.NewPCG(1, 2))
		t, err := topology.Yule(leaves, rng)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range []int{1, 2} {
			for _, workers := range []int{1, 0} {
				name := fmt.Sprintf("leaves=%d/d=%d/workers=%d", leaves, d, workers)
				b.Run(name, func(b *testing.B) {
					var m interface {
						Proxy
						Kernel
					} = BM{Tree: t, D: d, Sigma2: 0.5}
					obs := Obs{Y: randomObs(rng, t, d), Var: 0.1}
					n := t.Len()
					z, x, lw := make([]float64, n*d), make([]float64, n*d), make([]float64, n)
					for i := range z {
						z[i] = rng.NormFloat64()
					}
					// State bytes per node: the filter's storage after its first Run plus the
					// guided pass's z, x and log-weights (the topology is not counted).
					var before, after runtime.MemStats
					runtime.ReadMemStats(&before)
					f := Filter{Schedule: tree.Schedule{Workers: workers}}
					if err := f.Run(t, m, obs); err != nil {
						b.Fatal(err)
					}
					runtime.ReadMemStats(&after)
					state := float64(after.TotalAlloc-before.TotalAlloc) + float64(8*(2*n*d+n))
					b.ReportAllocs()
					b.ResetTimer()
					for b.Loop() {
						if err := f.Run(t, m, obs); err != nil {
							b.Fatal(err)
						}
						if _, err := f.Guide(m, Root{}, z, x, lw); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/node")
					b.ReportMetric(state/float64(n), "B/node")
				})
			}
		}
	}
}

// BenchmarkPotential times −U alone and −U with its gradient (the NUTS cost per
// leapfrog step) for BM with estimated noise, d = 1: on the 31-node notebook tree and
// on random Yule trees.
func BenchmarkPotential(b *testing.B) {
	nb, _ := topology.Symmetric(4, 2)
	trees := []*topology.Topology{nb}
	for _, leaves := range []int{100_000, 1_000_000} {
		t, err := topology.Yule(leaves, rand.New(rand.NewPCG(1, 2)))
		if err != nil {
			b.Fatal(err)
		}
		trees = append(trees, t)
	}
	for _, t := range trees {
		rng := rand.New(rand.NewPCG(3, 4))
		p := &Potential{Tree: t, Model: &BM{Tree: t, D: 1}, Obs: Obs{Y: randomObs(rng, t, 1)},
			Transforms: []Transform{Log, Log}, Priors: []Normal{{0, 2}, {0, 2}}, EstimateNoise: true}
		p.f.Schedule.Workers = 1
		q := randomQ(rng, p.Dim())
		q[0], q[1] = math.Log(0.5), math.Log(0.1)
		grad := make([]float64, len(q))
		b.Run(fmt.Sprintf("nodes=%d/U", t.Len()), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.LogDensity(q)
			}
		})
		b.Run(fmt.Sprintf("nodes=%d/U+grad", t.Len()), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.LogDensityGrad(q, grad)
			}
		})
	}
}
