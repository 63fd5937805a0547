package mcmc_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/mcmc"
)

// The moment tolerances below are 4.5 Monte Carlo standard errors, each estimated in
// the test by batch means; with ~200 checked moments per run a 4.5σ band keeps the
// chance of a spurious failure of a fresh seed below 0.2%.
const kMCSE = 4.5

func TestNUTSStandardNormal100(t *testing.T) {
	const n = 100
	cfg := mcmc.Config{Chains: 4, Warmup: 1000, Draws: 2000, Seed: seed(1)}
	if testing.Short() {
		cfg.Chains, cfg.Warmup, cfg.Draws = 2, 300, 400
	}
	chains, err := mcmc.Run(context.Background(),
		nutsFactory(func() mcmc.GradDensity { return stdNormal{n} }), cfg)
	require.NoError(t, err)

	mean, variance := make([]float64, n), make([]float64, n)
	for i := range variance {
		variance[i] = 1
	}
	essMean, essVar := checkMoments(t, chains, mean, variance, kMCSE)
	div, acc, depth, energy := sampleStats(chains)
	require.Zero(t, div, "divergences")

	// With log π = −½|q|², E[H] = E[½|q|²] + E[½|p|²] = n.
	e := make([][]float64, len(chains))
	for c := range chains {
		for _, info := range chains[c].Sample.Info {
			e[c] = append(e[c], info.Energy)
		}
	}
	_, seE, _ := pooled(e)
	require.InDelta(t, n, energy, kMCSE*seE, "mean energy")
	t.Logf("min ESS: mean %.0f, variance %.0f of %d draws; accept_stat %.3f, depth %.2f, step %.3f",
		essMean, essVar, cfg.Chains*cfg.Draws, acc, depth, chains[0].Params.StepSize)
}

func TestNUTSDenseCorrelated(t *testing.T) {
	const n = 10
	cov := correlatedCov(n, 7)
	mu := make([]float64, n)
	variance := make([]float64, n)
	for i := range mu {
		mu[i] = 0.5*float64(i) - 2
		variance[i] = cov.At(i, i)
	}
	target := newGaussian(mu, cov)
	a := mcmc.DefaultAdaptation()
	a.Dense = true
	cfg := mcmc.Config{Chains: 4, Warmup: 1000, Draws: 2000, Seed: seed(2), Adapt: &a}
	if testing.Short() {
		cfg.Chains, cfg.Draws = 2, 400
	}
	chains, err := mcmc.Run(context.Background(),
		nutsFactory(func() mcmc.GradDensity { return target.clone() }), cfg)
	require.NoError(t, err)
	require.True(t, chains[0].Params.Metric.IsDense())

	essMean, essVar := checkMoments(t, chains, mu, variance, kMCSE)
	div, acc, depth, _ := sampleStats(chains)
	require.Zero(t, div, "divergences")
	// The adapted metric should be close to Σ; a diagonal metric could not follow
	// the rotated scales and would run into the maximum depth instead.
	require.Less(t, depth, 5.0)
	t.Logf("min ESS: mean %.0f, variance %.0f of %d draws; accept_stat %.3f, depth %.2f, step %.3f",
		essMean, essVar, cfg.Chains*cfg.Draws, acc, depth, chains[0].Params.StepSize)
}

// Neal's funnel has a neck that a step size adapted to the mouth cannot follow, so
// divergences must be reported (and the chain must carry on with finite states).
// Chains reach the neck only now and then, hence 4000 draws.
func TestNUTSFunnelDiverges(t *testing.T) {
	cfg := mcmc.Config{Chains: 4, Warmup: 500, Draws: 1000, Seed: seed(3)}
	chains, err := mcmc.Run(context.Background(),
		nutsFactory(func() mcmc.GradDensity { return funnel{10} }), cfg)
	require.NoError(t, err)
	div, _, _, _ := sampleStats(chains)
	require.Positive(t, div)
	for _, c := range chains {
		for i := range c.Sample.Len() {
			for _, v := range c.Sample.Draw(i) {
				require.False(t, math.IsNaN(v) || math.IsInf(v, 0))
			}
		}
	}
	t.Logf("%d divergent of %d draws", div, cfg.Chains*cfg.Draws)
}

// Dual averaging drives the mean accept_stat of its iterates to δ = 0.8. The check
// is over the last slow window of warmup (iterations 450–949 of 1000), where the
// step size is the dual-averaging iterate exp(xₜ) and has run uninterrupted since
// its restart at 450. Sampling then uses the average exp(x̄), which on a 1-D normal
// is a smaller step than the typical iterate and so accepts more often (Stan shows
// the same); that is checked only loosely.
func TestNUTSStepSizeAdapts(t *testing.T) {
	cfg := mcmc.Config{Chains: 4, Warmup: 1000, Draws: 1000, Seed: seed(4), SaveWarmup: true}
	chains, err := mcmc.Run(context.Background(),
		nutsFactory(func() mcmc.GradDensity { return stdNormal{1} }), cfg)
	require.NoError(t, err)
	var warm float64
	var n int
	for _, c := range chains {
		for _, info := range c.Warmup.Info[450:950] {
			warm += info.AcceptStat
			n++
		}
	}
	warm /= float64(n)
	require.InDelta(t, 0.8, warm, 0.05, "mean accept_stat during adaptation")
	_, acc, _, _ := sampleStats(chains)
	require.True(t, acc >= 0.75 && acc <= 0.97, "mean accept_stat after warmup %.3f", acc)
	t.Logf("mean accept_stat: adapting %.3f, sampling %.3f; step sizes %.3f %.3f %.3f %.3f", warm, acc,
		chains[0].Params.StepSize, chains[1].Params.StepSize, chains[2].Params.StepSize, chains[3].Params.StepSize)
}

// logGamma is the law of log X for X ~ Gamma(2, 1), in each of n coordinates:
// π(u) ∝ exp(2u − eᵘ), with mean ψ(2) = 1 − γ and variance ψ′(2) = π²/6 − 1. It is
// skewed, so a bias in how a trajectory point is selected would not cancel.
type logGamma struct{ n int }

func (l logGamma) Dim() int { return l.n }

func (l logGamma) LogDensity(q []float64) float64 { return l.LogDensityGrad(q, nil) }

func (l logGamma) LogDensityGrad(q, g []float64) float64 {
	var lp float64
	for i, u := range q {
		e := math.Exp(u)
		lp += 2*u - e
		if g != nil {
			g[i] = 2 - e
		}
	}
	return lp
}

func TestNUTSSkewed(t *testing.T) {
	const n = 4
	mean, variance := make([]float64, n), make([]float64, n)
	for i := range mean {
		mean[i] = 1 - 0.57721566490153286 // ψ(2) = 1 − Euler–Mascheroni
		variance[i] = math.Pi*math.Pi/6 - 1
	}
	for _, fixed := range []bool{false, true} {
		cfg := mcmc.Config{Chains: 2, Warmup: 500, Draws: 2000, Seed: seed(10)}
		if fixed {
			// A fixed, deliberately large step: long, U-turning trajectories with
			// frequent rejections of subtrees.
			cfg.NoAdapt, cfg.Params.StepSize = true, 1.1
		}
		chains, err := mcmc.Run(context.Background(),
			nutsFactory(func() mcmc.GradDensity { return logGamma{n} }), cfg)
		require.NoError(t, err)
		essMean, _ := checkMoments(t, chains, mean, variance, kMCSE)
		_, acc, depth, _ := sampleStats(chains)
		t.Logf("fixed step %v: min ESS %.0f, accept_stat %.3f, depth %.2f", fixed, essMean, acc, depth)
	}
}

// flat has log density 0 everywhere: no step size is ever too large.
type flat struct{}

func (flat) Dim() int                              { return 1 }
func (flat) LogDensity([]float64) float64          { return 0 }
func (flat) LogDensityGrad(_, g []float64) float64 { g[0] = 0; return 0 }

func TestFindStepSize(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	k := mcmc.NewNUTS(stdNormal{1})
	s, err := k.Init([]float64{0.3})
	require.NoError(t, err)
	eps, err := k.FindStepSize(r, &s, mcmc.Params{StepSize: 1e-3})
	require.NoError(t, err)
	// Doubling from 1e-3 stops at the first step with acceptance below 0.8.
	require.Greater(t, eps, 0.1)
	require.Less(t, eps, 10.0)
	require.Equal(t, 0.3, s.Q[0])

	k = mcmc.NewNUTS(flat{})
	s, err = k.Init([]float64{0})
	require.NoError(t, err)
	_, err = k.FindStepSize(r, &s, mcmc.Params{StepSize: 1})
	require.ErrorIs(t, err, mcmc.ErrStepSize)
}
