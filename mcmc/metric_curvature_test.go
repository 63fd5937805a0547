package mcmc_test

import (
	"math"
	"testing"

	"github.com/canopy-bffg/canopy/mcmc"
	"github.com/stretchr/testify/require"
)

// saddle has log π(q) = q₀² − q₁²/2: negative curvature in q₀.
type saddle struct{}

func (saddle) Dim() int                         { return 2 }
func (s saddle) LogDensity(q []float64) float64 { return s.LogDensityGrad(q, make([]float64, 2)) }
func (saddle) LogDensityGrad(q, g []float64) float64 {
	g[0], g[1] = 2*q[0], -q[1]
	return q[0]*q[0] - 0.5*q[1]*q[1]
}

// CurvatureMetric puts 1/|∂²log π/∂q_i²| on the chosen coordinates (the funnel's
// neck, where it is known in closed form, and a saddle's convex direction) and 1
// elsewhere, and refuses a zero curvature.
func TestCurvatureMetric(t *testing.T) {
	q := []float64{0.5, 1, -2}
	m, err := mcmc.CurvatureMetric(funnel{3}, q, []int{0, 2}, 1e-4)
	require.NoError(t, err)
	got := m.DiagTo(nil)
	ss := 1.0 + 4.0
	require.InEpsilon(t, 1/(1.0/9+0.5*ss*math.Exp(-0.5)), got[0], 1e-7)
	require.Equal(t, 1.0, got[1])
	require.InEpsilon(t, math.Exp(0.5), got[2], 1e-7)
	m, err = mcmc.CurvatureMetric(saddle{}, []float64{0, 0}, []int{0}, 0.5)
	require.NoError(t, err)
	require.InDelta(t, 0.5, m.DiagTo(nil)[0], 1e-12)
	_, err = mcmc.CurvatureMetric(funnel{3}, q, []int{1}, 1e-4) // ∂²/∂q₁² = −e^{−v} ≠ 0
	require.NoError(t, err)
	_, err = mcmc.CurvatureMetric(flat{}, []float64{0}, []int{0}, 1e-4)
	require.ErrorIs(t, err, mcmc.ErrNotPositiveDefinite)
}
