package bffg

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/topology"
)

// Every built-in model's derivatives pass the finite-difference checker, and the checker
// catches a wrong derivative.
func TestBuiltinDerivatives(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	tr := randomTree(rng, 12, false)
	nodes := []int{1, 3, 5, tr.Len() - 1}
	for _, d := range []int{1, 2, 3} {
		theta := make([]float64, d)
		for i := range theta {
			theta[i] = rng.NormFloat64()
		}
		models := map[string]Parametric{
			"BM":         &BM{Tree: tr, D: d, Sigma2: 0.7},
			"BM cov":     &BM{Tree: tr, D: d, Sigma2: 0.7, Cov: randomSPD(rng, d, 1)},
			"OU":         &OU{Tree: tr, D: d, Alpha: 0.9, Theta: theta, Sigma2: 1.4},
			"OU small α": &OU{Tree: tr, D: d, Alpha: 1e-7, Theta: theta, Sigma2: 1.4},
			"MvBM":       NewMvBM(tr, d),
			"Linear":     NewLinear(tr, d),
		}
		models["MvBM"].SetParams(randomQ(rng, models["MvBM"].NumParams()))
		models["Linear"].SetParams(randomQ(rng, models["Linear"].NumParams()))
		for name, m := range models {
			c := CheckDerivatives(m, d, nodes, rng)
			require.Less(t, c.Worst, 1e-6, "d=%d %s: %v", d, name, c)
		}
	}
	// A model with a deliberately wrong derivative is caught.
	bad := &wrongBM{BM{Tree: tr, D: 1, Sigma2: 0.7}}
	c := CheckDerivatives(bad, 1, nodes, rng)
	require.Greater(t, c.Worst, 1e-3)
	require.Contains(t, c.Component, "ProxyVJP")
}

type wrongBM struct{ BM }

func (m *wrongBM) ProxyVJP(v int, _, _, _, Qbar, grad []float64) { grad[0] += 2 * m.covDot(v, Qbar) }
func (m *wrongBM) Params(dst []float64) []float64                { return append(dst[:0], m.Sigma2) }
func (m *wrongBM) SetParams(theta []float64)                     { m.Sigma2 = theta[0] }

// The MvBM evidence equals the dense closed form with Σ = LL', and its score matches
// finite differences through Potential with identity transforms.
func TestMvBMPotential(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 44))
	tr := randomTree(rng, 20, false)
	d := 2
	m := NewMvBM(tr, d)
	m.SetParams([]float64{0.3, -0.5, -0.2})
	obs := Obs{Y: randomObs(rng, tr, d), Var: 0.2}
	var f Filter
	require.NoError(t, f.Run(tr, m, obs))
	ll, _ := f.LogLikelihood(Root{})
	want, err := MarginalBM(tr, 1, m.Sigma(), obs, Root{})
	require.NoError(t, err)
	relClose(t, want, ll, 1e-10, "MvBM evidence")

	p := &Potential{Tree: tr, Model: m, Obs: obs, Transforms: make([]Transform, 4),
		Priors: []Normal{{0, 1}, {0, 1}, {0, 1}, {-1, 1}}, EstimateNoise: true}
	p.Transforms[3] = Log
	q := randomQ(rng, p.Dim())
	grad := make([]float64, len(q))
	p.LogDensityGrad(q, grad)
	for i := 0; i < 4; i++ {
		h := 1e-6
		old := q[i]
		q[i] = old + h
		lp := p.LogDensity(q)
		q[i] = old - h
		lm := p.LogDensity(q)
		q[i] = old
		checkGrad(t, "MvBM potential", (lp-lm)/(2*h), grad[i])
	}
}

// OU's small-αℓ series for dq/dα joins the closed form smoothly at the switch αℓ = 1e-4.
func TestOUSeriesContinuity(t *testing.T) {
	tr, err := topology.Symmetric(1, 2)
	require.NoError(t, err)
	below := OU{Tree: tr, D: 1, Alpha: 1e-4 * (1 - 1e-9), Sigma2: 1.3}
	above := OU{Tree: tr, D: 1, Alpha: 1e-4 * (1 + 1e-9), Sigma2: 1.3}
	_, _, a := below.coefDeriv(1)
	_, _, b := above.coefDeriv(1)
	require.InEpsilon(t, b, a, 1e-11)
}
