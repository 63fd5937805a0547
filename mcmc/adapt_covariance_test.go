package mcmc_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/mcmc"
)

// flatN is the improper constant density: every Metropolis proposal is accepted, so
// a step shows the proposal itself.
type flatN struct{ n int }

func (f flatN) Dim() int                     { return f.n }
func (f flatN) LogDensity([]float64) float64 { return 0 }

// With a metric, RandomWalk.Step moves its block by ε·Lξ with LLᵀ = M⁻¹ and ξ the
// generator's next normals, and leaves the other coordinates alone.
func TestRandomWalkMetricProposal(t *testing.T) {
	cov := mat.NewSymDense(3, []float64{4, 1.2, -0.3, 1.2, 1, 0.1, -0.3, 0.1, 0.25})
	dense, err := mcmc.NewDenseMetric(cov)
	require.NoError(t, err)
	diag, err := mcmc.NewDiagMetric([]float64{4, 1, 0.25})
	require.NoError(t, err)
	var chol mat.Cholesky
	require.True(t, chol.Factorize(cov))
	var l mat.TriDense
	chol.LTo(&l)
	index := []int{3, 0, 2}
	for _, tc := range []struct {
		name   string
		metric *mcmc.Metric
		factor func(xi []float64) []float64
	}{
		{"dense", dense, func(xi []float64) []float64 {
			var v mat.VecDense
			v.MulVec(&l, mat.NewVecDense(3, xi))
			return v.RawVector().Data
		}},
		{"diag", diag, func(xi []float64) []float64 {
			return []float64{2 * xi[0], xi[1], 0.5 * xi[2]}
		}},
	} {
		k := mcmc.NewRandomWalk(flatN{5}, index, nil)
		src, err := k.Init([]float64{0.1, 0.2, 0.3, 0.4, 0.5})
		require.NoError(t, err)
		dst := src.Clone()
		r := rand.New(rand.NewPCG(4, 5))
		info := k.Step(r, &dst, &src, mcmc.Params{StepSize: 0.7, Metric: tc.metric})
		require.True(t, info.Accepted[0], tc.name)
		r = rand.New(rand.NewPCG(4, 5))
		xi := []float64{r.NormFloat64(), r.NormFloat64(), r.NormFloat64()}
		step := tc.factor(xi)
		want := []float64{0.1, 0.2, 0.3, 0.4, 0.5}
		for i, j := range index {
			want[j] += 0.7 * step[i]
		}
		require.InDeltaSlice(t, want, dst.Q, 1e-15, tc.name)
	}
	k := mcmc.NewRandomWalk(flatN{5}, index, nil)
	src, _ := k.Init(make([]float64, 5))
	dst := src.Clone()
	wrong, _ := mcmc.NewDiagMetric([]float64{1, 1})
	require.Panics(t, func() { k.Step(rand.New(rand.NewPCG(1, 1)), &dst, &src, mcmc.Params{StepSize: 1, Metric: wrong}) })
}

// MetropolisAdaptation's covariance follows its documentation: at the end of each
// window with enough accepted moves p.Metric is the shrunk covariance of the
// block's positions in that window, and the multiplier is the size-only
// recursion's, times the accumulated factors (det C_old / det C_new)^(1/2d) that
// keep the proposal's determinant.
func TestMetropolisAdaptationCovariance(t *testing.T) {
	const n = 400
	block := []int{2, 0}
	scales := []float64{0.3, 2}
	newKernel := func() mcmc.Kernel { return mcmc.NewRandomWalk(flatN{3}, block, scales) }
	plain, _ := mcmc.NewMetropolisAdaptation(newKernel(), 0)
	ad, ok := mcmc.NewMetropolisAdaptation(newKernel(), n)
	require.True(t, ok)
	windows := ad.Windows()
	// Stan's schedule with buffers of 15% and 10% and a first window of 5%.
	require.Equal(t, []mcmc.Window{{60, 80}, {80, 120}, {120, 200}, {200, 360}}, windows)

	var pp, p mcmc.Params
	plain.Init(&pp)
	ad.Init(&p)
	r := rand.New(rand.NewPCG(7, 7))
	s := mcmc.State{Q: make([]float64, 3)}
	logDet := 2 * (math.Log(0.3) + math.Log(2)) // diag(scales²)
	shift := 0.0
	w, accepted, updates := 0, 0, 0
	var xs [][]float64
	for i := range n {
		// Positions with a correlated block, and the other coordinate moving too.
		a, b := r.NormFloat64(), r.NormFloat64()
		s.Q[0], s.Q[1], s.Q[2] = 3*a, r.NormFloat64(), 0.5*(0.9*a+math.Sqrt(1-0.81)*b)+float64(i)/n
		// Few moves in the first window (fewer than 10: it is skipped), then more.
		moved := r.Float64() < 0.3 || i >= 80
		info := mcmc.Info{AcceptStat: r.Float64(), Accepted: [2]bool{moved}}
		plain.Update(&s, info, &pp)
		before := p.Metric
		ad.Update(&s, info, &p)
		if w < len(windows) && i >= windows[w].Start && i < windows[w].End {
			xs = append(xs, []float64{s.Q[2], s.Q[0]})
			if moved {
				accepted++
			}
		}
		if w < len(windows) && i == windows[w].End-1 && accepted < 10 {
			require.Same(t, before, p.Metric, "window %d with %d moves", w, accepted)
			xs, accepted = xs[:0], 0
			w++
		} else if w < len(windows) && i == windows[w].End-1 {
			updates++
			want := shrunk(xs, accepted)
			var got mat.SymDense
			require.NotNil(t, p.Metric, "window %d", w)
			p.Metric.DenseTo(&got)
			require.True(t, mat.EqualApprox(want, &got, 1e-12), "window %d: %v against %v", w, mat.Formatted(&got), mat.Formatted(want))
			var c mat.Cholesky
			require.True(t, c.Factorize(want))
			shift += (logDet - c.LogDet()) / 4
			logDet = c.LogDet()
			xs, accepted = xs[:0], 0
			w++
		} else {
			require.Same(t, before, p.Metric, "iteration %d", i)
		}
		require.InDelta(t, math.Log(pp.StepSize)+shift, math.Log(p.StepSize), 1e-12, "iteration %d", i)
	}
	require.Equal(t, len(windows), w)
	require.Equal(t, len(windows)-1, updates)

	// The random-walk block of a PCNRW keeps its scales.
	g := stdNormal{4}
	pcnrw, _ := mcmc.NewMetropolisAdaptation(mcmc.NewPCNRW(mcmc.NewPCN(g, []int{2, 3}, 0.5), mcmc.NewRandomWalk(g, []int{0, 1}, nil)), 2000)
	require.Empty(t, pcnrw.Windows())
	plain.Final(&pp)
	ad.Final(&p)
	require.InDelta(t, math.Log(pp.StepSize)+shift, math.Log(p.StepSize), 1e-12)

	// A block that never moves in a window keeps its proposal.
	ad, _ = mcmc.NewMetropolisAdaptation(newKernel(), n)
	p = mcmc.Params{}
	ad.Init(&p)
	s.Q = []float64{1, 2, 3}
	for range n {
		ad.Update(&s, mcmc.Info{AcceptStat: 0.3, Accepted: [2]bool{true}}, &p)
	}
	require.Nil(t, p.Metric)
}

// shrunk is the documented estimate wΣ̂ + (1 − w)·diag(Σ̂), w = a/(a + 5d), computed
// directly.
func shrunk(xs [][]float64, a int) *mat.SymDense {
	c := float64(len(xs))
	d := len(xs[0])
	mean := make([]float64, d)
	for _, x := range xs {
		for i := range x {
			mean[i] += x[i] / c
		}
	}
	out := mat.NewSymDense(d, nil)
	for i := range d {
		for j := i; j < d; j++ {
			v := 0.0
			for _, x := range xs {
				v += (x[i] - mean[i]) * (x[j] - mean[j])
			}
			v /= c - 1
			if i != j {
				v *= float64(a) / float64(a+5*d)
			}
			out.SetSym(i, j, v)
		}
	}
	return out
}

// On a Gaussian with correlation 0.99 and sds 1 and 10 that an isotropic random walk
// explores slowly, the learned proposal recovers the posterior's shape, the draws
// keep the exact moments, and the effective sample size is several times that of a
// warmup that tunes the multiplier alone.
func TestRandomWalkCovarianceAdaptation(t *testing.T) {
	cov := mat.NewSymDense(2, []float64{1, 9.9, 9.9, 100})
	target := newGaussian([]float64{1, -3}, cov)
	newKernel := func(int) (mcmc.Kernel, error) { return mcmc.NewRandomWalk(target.clone(), nil, nil), nil }
	cfg := mcmc.Config{Chains: 4, Warmup: 2000, Draws: 20000, Seed: seed(31)}
	chains, err := mcmc.Run(context.Background(), newKernel, cfg)
	require.NoError(t, err)
	essMean, essVar := checkMoments(t, chains, []float64{1, -3}, []float64{1, 100}, kMCSE)
	for _, c := range chains {
		var m mat.SymDense
		c.Params.Metric.DenseTo(&m)
		rho := m.At(0, 1) / math.Sqrt(m.At(0, 0)*m.At(1, 1))
		ratio := math.Sqrt(m.At(1, 1) / m.At(0, 0))
		t.Logf("chain %d: proposal correlation %.3f, sd ratio %.2f, multiplier %.2f", c.Index, rho, ratio, c.Params.StepSize)
		// The last window has 1400 draws and a few hundred moves, so the
		// correlation is shrunk by w ≈ 0.95–0.97; these bounds are far outside
		// its error.
		require.InDelta(t, 0.95, rho, 0.04)
		require.InDelta(t, 10, ratio, 2)
	}
	acc, _ := acceptance(chains...)
	require.InDelta(t, 0.234, acc, 0.04)

	// The same run with a warmup too short for the covariance (the multiplier still
	// adapts: 199 iterations are plenty for one scalar).
	cfg.Warmup = 199
	plain, err := mcmc.Run(context.Background(), newKernel, cfg)
	require.NoError(t, err)
	require.Nil(t, plain[0].Params.Metric)
	// Its draws are too autocorrelated for batch means, whose ESS they overstate
	// (so the comparison below errs in the plain run's favour); no moment check.
	plainMean := math.Inf(1)
	for j := range 2 {
		_, _, ess := pooled(column(plain, j, identity))
		plainMean = min(plainMean, ess)
	}
	t.Logf("min ESS of the means: %.0f with the covariance, %.0f without; of the variances %.0f with", essMean, plainMean, essVar)
	require.Greater(t, essMean, 5*plainMean)
}

// A metric a kernel cannot use, given as the initial tunables or in a checkpoint, is
// an error before any chain starts, not a panic inside one.
func TestRunRejectsMetricOfWrongSize(t *testing.T) {
	three, err := mcmc.NewDiagMetric([]float64{1, 1, 1})
	require.NoError(t, err)
	rw := func(int) (mcmc.Kernel, error) { return mcmc.NewRandomWalk(stdNormal{4}, []int{0, 1}, nil), nil }
	nuts := func(int) (mcmc.Kernel, error) { return mcmc.NewNUTS(stdNormal{4}), nil }
	for name, k := range map[string]func(int) (mcmc.Kernel, error){"RandomWalk": rw, "NUTS": nuts} {
		chains, err := mcmc.Run(context.Background(), k, mcmc.Config{Chains: 1, Draws: 5, Params: mcmc.Params{Metric: three}})
		require.Nil(t, chains, name)
		require.ErrorContains(t, err, "metric of dimension 3", name)
		_, err = mcmc.Run(context.Background(), k, mcmc.Config{Chains: 1, Draws: 5,
			Resume: []*mcmc.Checkpoint{{Q: make([]float64, 4), Params: mcmc.Params{StepSize: 0.5, Metric: three}}}})
		require.ErrorContains(t, err, "checkpoint of chain 0", name)
	}
}

// On a standard normal in 10 dimensions, whose covariance is the identity, short
// windows with few moves must not stretch the proposal into a needle (a review
// found condition numbers up to 1e12 and chains accepting under 5% when each
// window's raw estimate was used).
func TestRandomWalkCovarianceDoesNotCollapse(t *testing.T) {
	const d = 10
	newKernel := func(int) (mcmc.Kernel, error) { return mcmc.NewRandomWalk(stdNormal{d}, nil, nil), nil }
	for _, warmup := range []int{200, 1000} {
		chains, err := mcmc.Run(context.Background(), newKernel, mcmc.Config{Chains: 32, Warmup: warmup, Draws: 500, Seed: seed(12)})
		require.NoError(t, err)
		learned := 0
		for _, c := range chains {
			acc, _ := acceptance(c)
			require.Greater(t, acc, 0.1, "warmup %d, chain %d", warmup, c.Index)
			if c.Params.Metric == nil {
				continue
			}
			learned++
			var m mat.SymDense
			c.Params.Metric.DenseTo(&m)
			var es mat.EigenSym
			require.True(t, es.Factorize(&m, false))
			v := es.Values(nil)
			// The shrinkage bounds the correlation matrix's condition number by
			// (1 + (d − 1)w)/(1 − w); with a few hundred moves that is a few
			// hundred at most.
			require.Less(t, v[d-1]/v[0], 100.0, "warmup %d, chain %d", warmup, c.Index)
		}
		// At warmup 200 the windows have 10–70 draws, and a window needs 20
		// moves: some chains learn nothing. From 1000 on every chain does.
		require.Positive(t, learned, "warmup %d", warmup)
		if warmup >= 1000 {
			require.Equal(t, len(chains), learned, "warmup %d", warmup)
		}
	}
}
