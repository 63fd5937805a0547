package bffg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/canopy-bffg/canopy/sde"
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

// BenchmarkFlowButterfly times U and U + ∇U of a flow potential at the scale of the
// hyperiax-phylo butterfly study: a Yule tree of 425 leaves (849 nodes, height 1),
// 118 landmarks in 2D, factorised 118×118 messages. The grids are the study's 25
// steps on every edge, with explicit (hyperiax's) or exact steps, and exact steps of
// at most the longest edge's step length (1/25 of its length) on every edge, which
// resolves every edge at least as finely with far fewer steps, since most edges of a
// large tree are short.
func BenchmarkFlowButterfly(b *testing.B) {
	rng := rand.New(rand.NewPCG(11, 12))
	t, err := topology.Yule(425, rng)
	if err != nil {
		b.Fatal(err)
	}
	// Scale the tree to height 1, like the study's normalised trees.
	h := 0.0
	for v := 0; v < t.Len(); v++ {
		h = math.Max(h, t.Dist(v))
	}
	bl := t.BranchLengths()
	for i := range bl {
		bl[i] /= h
	}
	if t, err = t.WithBranchLengths(bl); err != nil {
		b.Fatal(err)
	}
	const n, d = 118, 2
	k := sde.Kunita{N: n, Dim: d, KAlpha: 0.134, KSigma: 0.212}
	root := make([]float64, n*d)
	for i := 0; i < n; i++ {
		phi := 2 * math.Pi * float64(i) / n
		root[i*d], root[i*d+1] = 1.5*math.Cos(phi), math.Sin(phi)
	}
	y := make([]float64, t.NumLeaves()*n*d)
	for i := range y {
		y[i] = root[i%(n*d)] + 0.05*rng.NormFloat64()
	}
	maxT := slices.Max(t.BranchLengths())
	for _, grid := range []struct {
		name       string
		exact      bool
		stepLength float64
	}{
		{"steps=25/explicit", false, 0},
		{"steps=25/exact", true, 0},
		{"step-length/exact", true, maxT / 25},
	} {
		f := &FlowFilter{Steps: 25, ExactSteps: grid.exact, StepLength: grid.stepLength}
		if err := f.SetData(t, n, d, root, y); err != nil {
			b.Fatal(err)
		}
		p := &FlowPotential{Filter: f, NumFlowParams: 2, EstimateNoise: true,
			NewFlow: kunitaAt(k),
			Priors:  []Prior{LogInvGamma{2, 0.5}, LogInvGamma{3, 2}, Normal{-7, 2}}}
		q := make([]float64, p.Dim())
		q[0], q[1], q[2] = math.Log(k.KAlpha), math.Log(k.KSigma), math.Log(1.25e-3)
		g := make([]float64, len(q))
		steps := f.NumNoise() / (n * d)
		for _, grad := range []bool{false, true} {
			b.Run(fmt.Sprintf("%s/grad=%v", grid.name, grad), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					var v float64
					if grad {
						v = p.LogDensityGrad(q, g)
					} else {
						v = p.LogDensity(q)
					}
					if math.IsInf(v, 0) || math.IsNaN(v) {
						b.Fatal("non-finite potential")
					}
				}
				b.ReportMetric(float64(steps), "steps")
			})
		}
	}
}
