package bffg

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/canopy-bffg/canopy/sde"
	"github.com/stretchr/testify/require"
)

// bmSDE is Brownian motion dX = √s2 dW as an SDE, and its own auxiliary.
type bmSDE struct {
	d  int
	s2 float64
}

func (m bmSDE) Dims() (int, int)                  { return m.d, m.d }
func (m bmSDE) Drift(_ float64, _, dst []float64) { clear(dst) }
func (m bmSDE) Diffusion(_ float64, _, dst []float64) error {
	setIdentity(dst, m.d)
	for i := 0; i < m.d; i++ {
		dst[i*m.d+i] = math.Sqrt(m.s2)
	}
	return nil
}
func (m bmSDE) AuxCovariances(_ int, _, _, a0, aT []float64) error {
	setIdentity(a0, m.d)
	setIdentity(aT, m.d)
	for i := 0; i < m.d; i++ {
		a0[i*m.d+i], aT[i*m.d+i] = m.s2, m.s2
	}
	return nil
}

// With a linear SDE whose auxiliary is the truth, the SDE filter's pullbacks are exact:
// log h_root equals the discrete closed form at any step count, and the log-weights
// vanish (up to rounding of √s2²); the guided pass at z = 0 ends every leaf near its
// posterior mean as the grid refines.
func TestSDEFilterLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(57, 58))
	tr := randomTree(rng, 12, false)
	for _, d := range []int{1, 2} {
		m := bmSDE{d: d, s2: 0.7}
		obs := Obs{Y: randomObs(rng, tr, d), Var: 0.3}
		root := make([]float64, d)
		root[0] = 0.4
		want, err := MarginalBM(tr, m.s2, nil, obs, Root{Mean: root})
		require.NoError(t, err)
		n := tr.Len()
		for _, steps := range []int{5, 50} {
			f := SDEFilter{Steps: steps}
			f.SetAnchors(tr, make([]float64, n*d))
			require.NoError(t, f.Run(tr, m, obs))
			relClose(t, want, f.LogLikelihood(root), 1e-10, "evidence")
			z := make([]float64, n*steps*d)
			for i := range z {
				z[i] = rng.NormFloat64()
			}
			x, lw := make([]float64, n*d), make([]float64, n)
			sum, err := f.Guide(m, root, z, x, lw)
			require.NoError(t, err)
			require.InDelta(t, 0, sum, 1e-9)
		}
	}
}

// With a linear SDE with drift (Ornstein–Uhlenbeck) and its own linear auxiliary,
// RunRK4's log h_root converges to the discrete closed form (the exact OU transitions)
// at fourth order in dt (the test prints the errors and the observed orders), and the
// guided pass's log-weights vanish up to the same error.
func TestSDEFilterRK4Converges(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	tr := randomTree(rng, 10, false)
	const d = 2
	ou := sde.OU{D: d, Alpha: 1.3, Mean: []float64{0.5, -0.2}, Scale: 0.9}
	obs := Obs{Y: randomObs(rng, tr, d), Var: 0.5}
	root := []float64{0.3, 0.1}
	var exact Filter
	model := &OU{Tree: tr, D: d, Alpha: ou.Alpha, Theta: ou.Mean, Sigma2: ou.Scale * ou.Scale}
	require.NoError(t, exact.Run(tr, model, obs))
	want, err := exact.LogLikelihood(Root{Mean: root})
	require.NoError(t, err)
	lin := ou.Linear()
	aux := func(int) sde.Auxiliary { return lin }
	var errs []float64
	steps := []int{16, 32, 64, 128}
	for _, m := range steps {
		f := SDEFilter{Steps: m}
		require.NoError(t, f.RunRK4(tr, aux, obs))
		errs = append(errs, math.Abs(f.LogLikelihood(root)-want))
		z := make([]float64, tr.Len()*m*d)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		x, lw := make([]float64, tr.Len()*d), make([]float64, tr.Len())
		sum, err := f.Guide(ou, root, z, x, lw)
		require.NoError(t, err)
		require.InDelta(t, 0, sum, 1e-12, "proxy = truth: b = b̃ and a = ã")
	}
	for i := 1; i < len(steps); i++ {
		order := math.Log2(errs[i-1] / errs[i])
		t.Logf("steps %d → %d: |Δ log h_root| %.3g → %.3g, order %.2f", steps[i-1], steps[i], errs[i-1], errs[i], order)
		require.InDelta(t, 4, order, 0.5)
	}
}
