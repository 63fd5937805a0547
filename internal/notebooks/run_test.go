package notebooks

import (
	"context"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/internal/gridpost"
)

// withinMCSE checks every posterior summary against the exact grid posterior within
// 4 Monte Carlo standard errors.
func withinMCSE(t *testing.T, r *Report) {
	t.Helper()
	check := func(name string, got, se, want gridpost.Summary) {
		for _, c := range []struct {
			stat          string
			got, se, want float64
		}{
			{"mean", got.Mean, se.Mean, want.Mean}, {"median", got.Median, se.Median, want.Median},
			{"q025", got.Q025, se.Q025, want.Q025}, {"q975", got.Q975, se.Q975, want.Q975},
		} {
			require.InDelta(t, c.want, c.got, 4*c.se, "%s %s %s: %.4f vs exact %.4f (MCSE %.4f)", r.Sampler, name, c.stat, c.got, c.want, c.se)
		}
	}
	check("σ²", r.Posterior.SigmaSq, r.MCSE.SigmaSq, r.Analytic.SigmaSq)
	check("τ²", r.Posterior.TauSq, r.MCSE.TauSq, r.Analytic.TauSq)
}

// Notebook 05's RW/pCN run: pCN always accepts (the likelihood does not depend on z
// when the proxy is the model), the random walk accepts ≈ 46%, ESS is in the
// notebook's range (≈3449 and ≈1151 of 32000), and the posterior matches the exact one.
func TestRWPCN(t *testing.T) {
	if testing.Short() {
		t.Skip("4 × 9000 RW/pCN iterations")
	}
	r, err := RWPCN(context.Background(), Notebook05(), RunConfig{})
	require.NoError(t, err)
	require.Equal(t, 1.0, r.Accept["pcn"])
	require.InDelta(t, 0.46, r.Accept["rw"], 0.03)
	require.InDelta(t, 3449, r.ESSBulk[0], 1200)
	require.InDelta(t, 1151, r.ESSBulk[1], 600)
	for _, rh := range r.Rhat {
		require.Less(t, rh, 1.01)
	}
	withinMCSE(t, r)
}

// Notebook 06's NUTS run: bulk ESS ≥ 12000 of 16000 for both parameters (NumPyro ≈ 13700),
// no divergences, R̂ < 1.01, the posterior within MCSE of the exact one, and the
// posterior of the internal node states (through the guided map) within MCSE of the
// exact smoothing distribution mixed over θ.
func TestNUTS(t *testing.T) {
	if testing.Short() {
		t.Skip("4 × 5000 NUTS iterations")
	}
	nb := Notebook05()
	r, err := NUTS(context.Background(), nb, RunConfig{})
	require.NoError(t, err)
	require.Zero(t, r.Divergences)
	for i := 0; i < 2; i++ {
		require.GreaterOrEqual(t, r.ESSBulk[i], 12000.0)
		require.Less(t, r.Rhat[i], 1.01)
	}
	withinMCSE(t, r)
	require.NoError(t, r.AddAncestral(nb))
	require.Len(t, r.Ancestral, 14)
	for _, a := range r.Ancestral {
		require.InDelta(t, a.ExactMean, a.Mean, 4*a.MCSE, "node %d", a.Node)
		require.InDelta(t, a.ExactSD, a.SD, 0.05*a.ExactSD, "node %d", a.Node)
	}
}

// The exact ancestral posterior is converged in the grid size.
func TestExactAncestralConverged(t *testing.T) {
	nb := Notebook05()
	m1, s1, err := ExactAncestral(nb, 151)
	require.NoError(t, err)
	m2, s2, err := ExactAncestral(nb, 301)
	require.NoError(t, err)
	for v := range m1 {
		require.InDelta(t, m2[v], m1[v], 1e-4, "mean %d", v)
		require.InDelta(t, s2[v], s1[v], 1e-4, "sd %d", v)
	}
	require.Equal(t, 0.0, m1[0]) // the root is fixed at 0
	require.False(t, math.IsNaN(s1[1]))
}
