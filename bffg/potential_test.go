package bffg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/topology"
)

func ouPotential(rng *rand.Rand, tr *topology.Topology, d int) *Potential {
	return &Potential{
		Tree:          tr,
		Model:         &OU{Tree: tr, D: d, Theta: make([]float64, d)},
		Obs:           Obs{Y: randomObs(rng, tr, d)},
		Root:          Root{Mean: make([]float64, d)},
		Transforms:    append(append([]Transform{Log}, make([]Transform, d)...), Log, Log),
		Priors:        append(append([]Normal{{0, 1}}, make([]Normal, d)...), Normal{0, 2}, Normal{-1, 1}),
		EstimateNoise: true,
	}
}

func randomQ(rng *rand.Rand, n int) []float64 {
	q := make([]float64, n)
	for i := range q {
		q[i] = 0.5 * rng.NormFloat64()
	}
	return q
}

// TestPotentialGradient checks −∇U against central differences of −U for OU edges with
// estimated noise (log-transformed α, σ², τ², identity θ) and for BM with a separate
// nonlinear truth, d = 1 and 2.
func TestPotentialGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	for _, d := range []int{1, 2} {
		tr := randomTree(rng, 15, false)
		p := ouPotential(rng, tr, d)
		for i := range p.Priors[1 : d+1] {
			p.Priors[1+i] = Normal{0, 3}
		}
		q := randomQ(rng, p.Dim())
		grad := make([]float64, len(q))
		p.LogDensityGrad(q, grad)
		for _, i := range []int{0, 1, d, d + 1, d + 2, d + 3, len(q) - 1} {
			h := 1e-6
			old := q[i]
			q[i] = old + h
			lp := p.LogDensity(q)
			q[i] = old - h
			lm := p.LogDensity(q)
			q[i] = old
			checkGrad(t, fmt.Sprintf("d=%d q[%d]", d, i), (lp-lm)/(2*h), grad[i])
		}
	}
}

// With linear edges and proxy = truth, −∇_z U = −z exactly (bffg-math §2.5).
func TestPotentialGradZLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	tr := randomTree(rng, 30, false)
	p := &Potential{Tree: tr, Model: &BM{Tree: tr, D: 1}, Obs: Obs{Y: randomObs(rng, tr, 1)},
		Transforms: []Transform{Log, Log}, Priors: []Normal{{0, 2}, {0, 2}}, EstimateNoise: true}
	q := randomQ(rng, p.Dim())
	grad := make([]float64, len(q))
	p.LogDensityGrad(q, grad)
	for i := 2; i < len(q); i++ {
		require.InDelta(t, -q[i], grad[i], 1e-12)
	}
}

func TestPotentialNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	tr := randomTree(rng, 200, false)
	for _, d := range []int{1, 2} {
		p := ouPotential(rng, tr, d)
		p.f.Schedule.Workers = 1
		q := randomQ(rng, p.Dim())
		grad := make([]float64, len(q))
		p.LogDensityGrad(q, grad)
		allocs := testing.AllocsPerRun(20, func() { p.LogDensityGrad(q, grad) })
		require.Zero(t, allocs, "d=%d", d)
	}
}

// Extreme parameters give −Inf, never NaN or a panic.
func TestPotentialBadParams(t *testing.T) {
	rng := rand.New(rand.NewPCG(37, 38))
	tr := randomTree(rng, 10, false)
	p := ouPotential(rng, tr, 1)
	q := randomQ(rng, p.Dim())
	q[0] = 800 // α = e^800 = +Inf
	grad := make([]float64, len(q))
	lp := p.LogDensityGrad(q, grad)
	require.False(t, math.IsNaN(lp))
}

// Clones evaluate independently: setting parameters in one does not change another's
// density (each has its own copy of the model).
func TestPotentialCloneIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(39, 40))
	tr := randomTree(rng, 12, false)
	for _, p := range []*Potential{ouPotential(rng, tr, 2), {Tree: tr, Model: NewMvBM(tr, 2), Obs: Obs{Y: randomObs(rng, tr, 2), Var: 0.1},
		Transforms: make([]Transform, 3), Priors: []Normal{{0, 1}, {0, 1}, {0, 1}}}} {
		c := p.Clone()
		q1, q2 := randomQ(rng, p.Dim()), randomQ(rng, p.Dim())
		want := p.LogDensity(q1)
		c.LogDensity(q2)
		require.Equal(t, want, p.LogDensity(q1))
		require.NotSame(t, p.Model, c.Model)
	}
}

// The marginal potential is the full one at z = 0 without the z prior's constant, with
// the same gradient in u, for BM and OU with a Gaussian root.
func TestPotentialMarginal(t *testing.T) {
	rng := rand.New(rand.NewPCG(53, 54))
	tr := randomTree(rng, 30, false)
	for _, d := range []int{1, 2} {
		full := ouPotential(rng, tr, d)
		full.Root = Root{Mean: make([]float64, d), Cov: randomSPD(rng, d, 3)}
		marg := full.Clone()
		marg.Marginal = true
		require.Equal(t, full.NumParams(), marg.Dim())
		u := randomQ(rng, marg.Dim())
		q := append(append([]float64(nil), u...), make([]float64, full.Dim()-len(u))...)
		gm, gf := make([]float64, len(u)), make([]float64, len(q))
		lm := marg.LogDensityGrad(u, gm)
		lf := full.LogDensityGrad(q, gf)
		relClose(t, lf+0.5*float64(tr.Len()*d)*log2Pi, lm, 1e-12, "value")
		require.InDeltaSlice(t, gf[:len(u)], gm, 1e-12)
	}
}
