package bffg

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// The step times are the integrals c₁ = ∫₀^dt e^{−λu}du and c₂ = ∫₀^dt e^{−2λu}du, in
// the series and the closed-form regimes of expMoments; their λ-derivatives equal
// finite differences; without ExponentialSteps, without an auxiliary drift and on a
// discrete edge both are dt.
func TestStepTimes(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	c := newFlowCase(rng, 4, 3, 2, 3)
	c.drift, c.aux, c.ex, c.expo = 0.8, true, true, true
	c.disc = make([]bool, c.tr.Len())
	c.disc[1] = true
	f := c.filter(t)
	sde := 2 // an SDE edge
	for _, tc := range [][2]float64{{0.3, 1e-3}, {0.3, 1}, {0.05, 40}, {1.5, 2}, {0.7, 0}} {
		dt, lam := tc[0], tc[1]
		f.lam = lam
		st := f.stepTimes(sde, dt)
		c1, c2 := dt, dt
		if lam > 0 {
			c1, c2 = -math.Expm1(-lam*dt)/lam, -math.Expm1(-2*lam*dt)/(2*lam)
		}
		require.InDelta(t, c1, st.drift, 1e-15, "c₁ %v", tc)
		require.InDelta(t, c2, st.diff, 1e-15, "c₂ %v", tc)
		const h = 1e-6
		f.lam = lam + h
		p := f.stepTimes(sde, dt)
		f.lam = lam - h
		m := f.stepTimes(sde, dt)
		require.InDelta(t, (p.drift-m.drift)/(2*h), st.ddrift, 1e-8, "dc₁ %v", tc)
		require.InDelta(t, (p.diff-m.diff)/(2*h), st.ddiff, 1e-8, "dc₂ %v", tc)
		require.Equal(t, stepTimes{drift: dt, diff: dt}, f.stepTimes(1, dt), "discrete edge")
		f.ExponentialSteps = false
		require.Equal(t, stepTimes{drift: dt, diff: dt}, f.stepTimes(sde, dt), "Euler steps")
		f.ExponentialSteps = true
	}
}

// An Ornstein–Uhlenbeck flow with a constant K as its own auxiliary (proxy = truth):
// with ExponentialSteps each exact step's transition is the auxiliary's, so every
// log-weight is 0 for any noise and grid — uniform, time-changed, set by a step
// length, with LocalAux, and into exactly observed tips — and log h_root is the
// dense closed form. The Euler steps (ExactSteps alone) give weights far from 0 on
// the same grids, so the check has power.
func TestFlowExponentialProxyIsTruth(t *testing.T) {
	rng := rand.New(rand.NewPCG(83, 84))
	tr, kk, root, y := linearFlowCase(rng)
	const n, d, lambda = 3, 2, 2.5
	mu := []float64{1, 0.5, -0.5, 0.2, 0, -1}
	fl := MeanReverting(constFlow{n, d, kk}, lambda, mu)
	for k, tc := range []struct {
		steps      int
		tc, local  bool
		stepLength float64
		tau2       float64
		eulerAbove float64 // the Euler steps' |Σ log w| exceeds it
	}{
		{1, false, false, 0, 0.05, 1},
		{4, true, false, 0, 0.05, 1},
		{4, false, true, 0, 0.05, 1},
		{0, true, false, 0.3, 0.05, 1},
		{3, true, false, 0, 0, 1},
		{3, true, true, 0, 0, 1},
	} {
		want := ouOracle(t, tr, constFlow{n, d, kk}, lambda, mu, root, y, tc.tau2)
		z := []float64(nil)
		for _, expo := range []bool{true, false} {
			f := &FlowFilter{Steps: tc.steps, TimeChange: tc.tc, StepLength: tc.stepLength, ExactSteps: true,
				LocalAux: tc.local, ExponentialSteps: expo}
			require.NoError(t, f.SetData(tr, n, d, root, y))
			require.NoError(t, f.Run(fl, tc.tau2))
			relClose(t, want, f.LogLikelihood(), 1e-11, "log h_root")
			if z == nil {
				z = make([]float64, f.NumNoise())
				for i := range z {
					z[i] = rng.NormFloat64()
				}
			}
			sum, err := f.Guide(z)
			require.NoError(t, err)
			if !expo {
				require.Greater(t, math.Abs(sum), tc.eulerAbove, "Euler steps, case %d", k)
				continue
			}
			require.InDelta(t, 0, sum, 1e-9, "Σ log w, case %d", k)
			for v, lw := range f.LogWeights() {
				require.InDelta(t, 0, lw, 1e-10, "case %d, node %d", k, v)
			}
		}
	}
}

// With ExponentialSteps the reverse pass equals central finite differences in z, θ
// and τ² — including λ, which now enters each step's transition — on uniform and
// time-changed grids, with discrete edges, into exactly observed tips (with missing
// landmarks), with LocalAux, and with a drift that is not the auxiliary's (its
// remainder b − b̃ enters the mean); and the same without the step cache, bit for
// bit. The setting changes the value (the check has power).
func TestFlowExponentialGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(85, 86))
	for k, dims := range [][2]int{{3, 2}, {4, 1}, {3, 2}, {3, 2}, {4, 2}, {3, 2}} {
		c := newFlowCase(rng, 7, dims[0], dims[1], 4)
		c.drift, c.aux, c.ex, c.expo = 1.6, true, true, true
		c.tc = k == 1 || k == 4
		if k == 1 {
			c.discreteEvery()
		}
		if k == 2 || k == 3 || k == 5 {
			c.tau2 = 0 // the conditioning step into exact tips
		}
		if k == 3 {
			c.sl = 0.2
			c.missLandmarks()
		}
		c.local = k >= 4
		f, z, zbar, pbar, tb := checkFlowGradient(t, rng, c)
		checkCacheFree(t, f, z, zbar, pbar, tb)
		withExpo := flowObjective(t, c, f.Anchors(), c.params(), z)
		c.expo = false
		require.Greater(t, math.Abs(flowObjective(t, c, f.Anchors(), c.params(), z)-withExpo), 1e-3, "case %d", k)
	}
}

// ExponentialSteps needs ExactSteps and an AuxDrifter, and changing it between Run and
// Guide or Backward is an error.
func TestFlowExponentialMode(t *testing.T) {
	rng := rand.New(rand.NewPCG(87, 88))
	c := newFlowCase(rng, 5, 3, 2, 3)
	c.drift, c.aux = 0.8, true
	c.expo = true
	f := c.newFilter()
	require.NoError(t, f.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
	require.ErrorContains(t, f.Run(c.flowAt(c.params()), c.tau2), "ExponentialSteps needs ExactSteps")
	f.ExactSteps = true
	require.ErrorContains(t, f.Run(KunitaFlow(c.k), c.tau2), "ExponentialSteps needs a flow with an auxiliary drift")
	require.NoError(t, f.Run(c.flowAt(c.params()), c.tau2))
	f.ExponentialSteps = false
	_, err := f.Guide(make([]float64, f.NumNoise()))
	require.ErrorContains(t, err, "ExponentialSteps changed since Run")
}
