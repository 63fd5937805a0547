package mcmc

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat"
)

func TestBuildSchedule(t *testing.T) {
	for _, c := range []struct {
		n    int
		want []Window
	}{
		// Stan's default 1000 warmup iterations: windows end at 100, 150, 250, 450,
		// and the last is stretched from 850 to 950 (the term buffer starts there).
		{1000, []Window{{75, 100}, {100, 150}, {150, 250}, {250, 450}, {450, 950}}},
		{150, []Window{{75, 100}}},
		{200, []Window{{75, 100}, {100, 150}}},
		// The first window is never stretched, so a short second window follows.
		{170, []Window{{75, 100}, {100, 120}}},
		// Too short for 75 + 25 + 50: 15% / 75% / 10%.
		{100, []Window{{15, 90}}},
		{20, []Window{{3, 18}}},
		// Below 20 iterations only the step size adapts.
		{19, nil},
		{0, nil},
	} {
		require.Equal(t, c.want, BuildSchedule(c.n, 75, 25, 50), "numWarmup %d", c.n)
	}
	require.Nil(t, BuildSchedule(100, 10, 0, 10))
	require.Panics(t, func() { BuildSchedule(100, -1, 25, 50) })
}

func TestDualAveraging(t *testing.T) {
	a := DefaultAdaptation()
	// Acceptance exactly at the target leaves s̄ = 0, so ε = exp(μ) = 10ε0.
	d := NewDualAveraging(a, 0.3)
	for range 5 {
		require.InDelta(t, 3.0, d.Update(0.8), 1e-12)
	}
	require.InDelta(t, 3.0, d.Final(), 1e-12)

	// One update with acceptance 1 (values above 1 are clamped): s̄ = −0.2/11,
	// x = log 3 + 0.2/(11·0.05), and x̄ = x since 1^−κ = 1.
	d.Restart(0.3)
	want := math.Exp(math.Log(3) + 0.2/11/0.05)
	require.InDelta(t, want, d.Update(1.7), 1e-12)
	require.InDelta(t, want, d.Final(), 1e-12)
	require.Equal(t, 1, d.Count())

	// Too low an acceptance shrinks the step.
	for range 200 {
		d.Update(0.2)
	}
	require.Less(t, d.Final(), 0.3)
}

func TestWelfordRegularized(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const n, c = 3, 40
	x := mat.NewDense(c, n, nil)
	wd, wf := newWelford(n, false), newWelford(n, true)
	for i := range c {
		row := []float64{r.NormFloat64(), 2 * r.NormFloat64(), 0}
		row[2] = row[0] + 0.1*r.NormFloat64()
		x.SetRow(i, row)
		wd.add(row)
		wf.add(row)
	}
	var cov mat.SymDense
	stat.CovarianceMatrix(&cov, x, nil)
	shrink, floor := float64(c)/(c+5), 1e-3*5/(c+5)

	var m Metric
	require.NoError(t, wd.regularizedTo(&m))
	require.False(t, m.IsDense())
	for i, v := range m.DiagTo(nil) {
		require.InDelta(t, shrink*cov.At(i, i)+floor, v, 1e-12)
	}
	require.NoError(t, wf.regularizedTo(&m))
	require.True(t, m.IsDense())
	var got mat.SymDense
	m.DenseTo(&got)
	for i := range n {
		for j := range n {
			want := shrink * cov.At(i, j)
			if i == j {
				want += floor
			}
			require.InDelta(t, want, got.At(i, j), 1e-12)
		}
	}

	// Fewer than two draws leave the metric alone.
	wd.reset()
	wd.add([]float64{1, 2, 3})
	before := m.Clone()
	require.NoError(t, wd.regularizedTo(&m))
	require.Equal(t, before, &m)
}

// Momenta drawn for a dense metric have covariance M = (M⁻¹)⁻¹, and the kinetic
// energy is ½pᵀM⁻¹p.
func TestMetricMomentum(t *testing.T) {
	inv := mat.NewSymDense(3, []float64{2, 0.5, 0.1, 0.5, 1, -0.3, 0.1, -0.3, 0.5})
	m, err := NewDenseMetric(inv)
	require.NoError(t, err)
	var want mat.SymDense
	var ch mat.Cholesky
	require.True(t, ch.Factorize(inv))
	require.NoError(t, ch.InverseTo(&want))

	r := rand.New(rand.NewPCG(4, 4))
	const draws = 200000
	x := mat.NewDense(draws, 3, nil)
	p, v := make([]float64, 3), make([]float64, 3)
	for i := range draws {
		m.sampleMomentum(r, p)
		x.SetRow(i, p)
	}
	var cov mat.SymDense
	stat.CovarianceMatrix(&cov, x, nil)
	for i := range 3 {
		for j := range 3 {
			// Standard error of a sample covariance ≈ √((Σᵢᵢ Σⱼⱼ + Σᵢⱼ²)/N).
			se := math.Sqrt((want.At(i, i)*want.At(j, j) + want.At(i, j)*want.At(i, j)) / draws)
			require.InDelta(t, want.At(i, j), cov.At(i, j), 5*se, "(%d, %d)", i, j)
		}
	}
	k := m.velocity(v, p)
	var mv mat.VecDense
	mv.MulVec(inv, mat.NewVecDense(3, p))
	require.InDeltaSlice(t, mv.RawVector().Data, v, 1e-12)
	require.InDelta(t, 0.5*mat.Dot(mat.NewVecDense(3, p), &mv), k, 1e-12)

	_, err = NewDenseMetric(mat.NewSymDense(2, []float64{1, 2, 2, 1}))
	require.ErrorIs(t, err, ErrNotPositiveDefinite)
	_, err = NewDiagMetric([]float64{1, 0})
	require.ErrorIs(t, err, ErrNotPositiveDefinite)
}

type scaledNormal struct{ sd []float64 }

func (s scaledNormal) Dim() int { return len(s.sd) }
func (s scaledNormal) LogDensity(q []float64) float64 {
	return s.LogDensityGrad(q, make([]float64, len(q)))
}
func (s scaledNormal) LogDensityGrad(q, g []float64) float64 {
	var lp float64
	for i, x := range q {
		z := x / s.sd[i]
		lp -= 0.5 * z * z
		g[i] = -z / s.sd[i]
	}
	return lp
}

// The adapted diagonal metric approaches the posterior variances.
func TestWindowAdaptationMetric(t *testing.T) {
	sd := []float64{10, 1, 0.1}
	chains, err := Run(context.Background(), func(int) (Kernel, error) {
		return NewNUTS(scaledNormal{sd}), nil
	}, Config{Chains: 1, Warmup: 1000, Draws: 10, Seed: 8})
	require.NoError(t, err)
	got := chains[0].Params.Metric.DiagTo(nil)
	for i, s := range sd {
		// The last window has 500 draws of ESS a few hundred: within 30%.
		require.InEpsilon(t, s*s, got[i], 0.3, "coordinate %d", i)
	}
}
