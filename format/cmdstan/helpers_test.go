package cmdstan_test

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/format/cmdstan"
	"github.com/canopy-bffg/canopy/mcmc"
)

// chainCase is a chain with the configuration and names to write it with.
type chainCase struct {
	name  string
	cfg   cmdstan.Config
	names []string
	chain mcmc.Chain
}

// powers scales the synthetic values over many orders of magnitude; they are
// constants so that no platform-dependent math function enters the goldens.
var powers = []float64{1e-300, 1e-7, 1e-3, 0.1, 1, 1, 1, 10, 1e4, 1e21}

// synthTrace returns n iterations of dimension dim drawn from r. Each value is
// one rounded product, so the goldens do not depend on fused multiply-adds.
func synthTrace(r *rand.Rand, dim, n int, step func(i int) float64) mcmc.Trace {
	t := mcmc.Trace{Dim: dim}
	for i := range n {
		for range dim {
			x := float64(r.Float64()-0.5) * powers[r.IntN(len(powers))]
			t.Draws = append(t.Draws, x)
		}
		lp := float64(r.Float64()-1) * 100
		depth := 1 + r.IntN(6)
		t.LogDensity = append(t.LogDensity, lp)
		t.Info = append(t.Info, mcmc.Info{
			AcceptStat: r.Float64(),
			StepSize:   step(i),
			TreeDepth:  depth,
			NumSteps:   1<<depth - 1 - r.IntN(2),
			Divergent:  r.IntN(5) == 0,
			Energy:     float64(r.Float64()*10) - lp,
		})
	}
	return t
}

func mustDiag(t testing.TB, d []float64) *mcmc.Metric {
	m, err := mcmc.NewDiagMetric(d)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func mustDense(t testing.TB, n int, a []float64) *mcmc.Metric {
	m, err := mcmc.NewDenseMetric(mat.NewSymDense(n, a))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// chainCases returns the chains of the golden files: NUTS with a diagonal metric,
// with a dense metric, with saved warmup (and extreme values), and interrupted.
func chainCases(t testing.TB) []chainCase {
	start := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	base := func(model string, id int) cmdstan.Config {
		c := cmdstan.DefaultConfig(model)
		c.StartTime = start
		c.ID = id
		c.Seed = 20260314
		c.DataFile = "traits.csv"
		c.OutputFile = model + "_" + string(rune('0'+id)) + ".csv"
		c.Extra = []cmdstan.Setting{{Path: "canopy_kernel", Value: "nuts"}}
		return c
	}
	var cases []chainCase

	r := rand.New(rand.NewPCG(1, 1))
	names := append(cmdstan.Names("mu"), cmdstan.Names("theta", 2, 2)...)
	c := base("diag", 1)
	c.NumWarmup, c.NumSamples = 100, 8
	cases = append(cases, chainCase{"diag", c, names, mcmc.Chain{
		Sample:        synthTrace(r, len(names), 8, func(int) float64 { return 0.4125 }),
		Warmup:        mcmc.Trace{Dim: len(names)},
		Params:        mcmc.Params{StepSize: 0.4125, Metric: mustDiag(t, []float64{0.5, 1.25, 2, 1e-3, 1e3})},
		WarmupSeconds: 0.123456789, SampleSeconds: 1.5,
	}})

	r = rand.New(rand.NewPCG(2, 1))
	names = append(cmdstan.Names("alpha"), cmdstan.Names("beta", 2)...)
	c = base("dense", 2)
	c.NumWarmup, c.NumSamples = 50, 6
	c.Metric = cmdstan.DenseMetric
	c.Adapt.Delta = 0.95
	cases = append(cases, chainCase{"dense", c, names, mcmc.Chain{
		Index:  1,
		Sample: synthTrace(r, len(names), 6, func(int) float64 { return 0.3 }),
		Warmup: mcmc.Trace{Dim: len(names)},
		Params: mcmc.Params{StepSize: 0.3, Metric: mustDense(t, 3, []float64{
			2, 0.5, -0.25,
			0.5, 1, 0.1,
			-0.25, 0.1, 0.75,
		})},
		WarmupSeconds: 0.25, SampleSeconds: 2.0000001,
	}})

	r = rand.New(rand.NewPCG(3, 1))
	names = cmdstan.Names("x", 4)
	c = base("warmup", 3)
	c.NumWarmup, c.NumSamples, c.SaveWarmup = 5, 5, true
	warm := synthTrace(r, 4, 5, func(i int) float64 { return float64(i+1) * 0.125 })
	sample := synthTrace(r, 4, 5, func(int) float64 { return 0.5 })
	// Values whose shortest round-trip form is long or unusual.
	copy(sample.Draws, []float64{5e-324, math.Copysign(0, -1), math.MaxFloat64, 0.30000000000000004,
		-2.2250738585072014e-308, 123456789012345678, 1e21, -1e-7})
	cases = append(cases, chainCase{"warmup", c, names, mcmc.Chain{
		Index:  2,
		Warmup: warm, Sample: sample,
		Params:        mcmc.Params{StepSize: 0.5, Metric: mustDiag(t, []float64{1, 2, 3, 4})},
		WarmupSeconds: 1e-5, SampleSeconds: 3,
	}})

	r = rand.New(rand.NewPCG(4, 1))
	names = cmdstan.Names("z", 2)
	c = base("interrupted", 4)
	c.NumWarmup, c.NumSamples = 20, 10
	cases = append(cases, chainCase{"interrupted", c, names, mcmc.Chain{
		Index:  3,
		Sample: synthTrace(r, 2, 4, func(int) float64 { return 0.75 }),
		Warmup: mcmc.Trace{Dim: 2},
		Params: mcmc.Params{StepSize: 0.75, Metric: mustDiag(t, []float64{1, 0.5})},
	}})
	return cases
}

// sameFloat reports whether x and y have the same bits, or are both NaN.
func sameFloat(x, y float64) bool {
	return math.Float64bits(x) == math.Float64bits(y) || math.IsNaN(x) && math.IsNaN(y)
}

// checkTrace fails t unless got equals want bit for bit, ignoring Info.Accepted.
func checkTrace(t *testing.T, what string, want, got *mcmc.Trace) {
	t.Helper()
	if got.Dim != want.Dim || got.Len() != want.Len() || len(got.Draws) != len(want.Draws) {
		t.Fatalf("%s: got %d draws of dimension %d, want %d of %d", what, got.Len(), got.Dim, want.Len(), want.Dim)
	}
	for i, x := range want.Draws {
		if !sameFloat(x, got.Draws[i]) {
			t.Errorf("%s: draw %d, value %d: got %v, want %v", what, i/want.Dim, i%want.Dim, got.Draws[i], x)
		}
	}
	for i, x := range want.LogDensity {
		if !sameFloat(x, got.LogDensity[i]) {
			t.Errorf("%s: lp__ of draw %d: got %v, want %v", what, i, got.LogDensity[i], x)
		}
	}
	for i, w := range want.Info {
		g := got.Info[i]
		if !sameFloat(w.AcceptStat, g.AcceptStat) || !sameFloat(w.StepSize, g.StepSize) ||
			!sameFloat(w.Energy, g.Energy) || w.TreeDepth != g.TreeDepth || w.NumSteps != g.NumSteps ||
			w.Divergent != g.Divergent || g.Accepted != [2]bool{} {
			t.Errorf("%s: info of draw %d: got %+v, want %+v", what, i, g, w)
		}
	}
}
