package mcmc_test

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/canopy-bffg/canopy/mcmc"
)

// counting wraps a target and counts gradient evaluations.
type counting struct {
	mcmc.GradDensity
	n int
}

func (c *counting) LogDensityGrad(q, g []float64) float64 {
	c.n++
	return c.GradDensity.LogDensityGrad(q, g)
}

// BenchmarkNUTSStep times NUTS transitions on 10- and 100-dimensional Gaussians:
// "iid" is N(0, I) with the unit metric (a target costing ~n flops, so nearly all of
// the time is the sampler's), "corr" a correlated Gaussian with condition number 1e4
// given by its dense precision, sampled with the matching dense metric. It reports
// per gradient evaluation the total time and the sampler's overhead: the total minus
// the time the target alone takes for one evaluation, measured afterwards on the
// last state.
func BenchmarkNUTSStep(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run("n="+strconv.Itoa(n)+"/iid", func(b *testing.B) { benchNUTS(b, n, false) })
		b.Run("n="+strconv.Itoa(n)+"/corr", func(b *testing.B) { benchNUTS(b, n, true) })
	}
}

func benchNUTS(b *testing.B, n int, corr bool) {
	target := &counting{GradDensity: stdNormal{n}}
	var m *mcmc.Metric
	if corr {
		cov := correlatedCov(n, 1)
		target.GradDensity = newGaussian(make([]float64, n), cov)
		var err error
		if m, err = mcmc.NewDenseMetric(cov); err != nil {
			b.Fatal(err)
		}
	}
	k := mcmc.NewNUTS(target)
	r := rand.New(rand.NewPCG(1, 2))
	s, err := k.Init(make([]float64, n))
	if err != nil {
		b.Fatal(err)
	}
	d := s.Clone()
	p := mcmc.Params{Metric: m, StepSize: 1}
	if p.StepSize, err = k.FindStepSize(r, &s, p); err != nil {
		b.Fatal(err)
	}
	p.StepSize *= 0.7 // roughly where adaptation settles
	for range 50 {
		k.Step(r, &d, &s, p)
		s, d = d, s
	}
	target.n = 0
	start := time.Now()
	for b.Loop() {
		k.Step(r, &d, &s, p)
		s, d = d, s
	}
	total := float64(time.Since(start).Nanoseconds())
	grads := float64(target.n)

	q, g := s.Q, make([]float64, n)
	reps := max(int(grads), 10000)
	start = time.Now()
	for range reps {
		target.GradDensity.LogDensityGrad(q, g)
	}
	perGrad := float64(time.Since(start).Nanoseconds()) / float64(reps)

	b.ReportMetric(grads/float64(b.N), "grads/op")
	b.ReportMetric(total/grads, "ns/grad")
	b.ReportMetric(total/grads-perGrad, "overhead-ns/grad")
}
