package bffg

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
	"github.com/stretchr/testify/require"
)

// kunitaAux is the two-anchor auxiliary of the Kunita model for SDEFilter.
type kunitaAux struct{ k sde.Kunita }

func (a kunitaAux) AuxCovariances(_ int, anchorPa, anchor, a0, aT []float64) error {
	if err := a.k.Covariance(0, anchorPa, a0); err != nil {
		return err
	}
	return a.k.Covariance(0, anchor, aT)
}

// flowCase is a small Kunita problem: a random tree, n landmarks in R^d near a circle,
// data simulated under the model, anchors refined once.
type flowCase struct {
	tr      *topology.Topology
	k       sde.Kunita
	root, y []float64
	tau2    float64
	steps   int
}

func newFlowCase(rng *rand.Rand, leaves, n, d, steps int) flowCase {
	tr := randomTree(rng, leaves, false)
	k := sde.Kunita{N: n, Dim: d, KAlpha: 0.08, KSigma: 0.6}
	root := make([]float64, n*d)
	for i := 0; i < n; i++ {
		phi := 2 * math.Pi * float64(i) / float64(n)
		root[i*d] = math.Cos(phi)
		if d > 1 {
			root[i*d+1] = math.Sin(phi)
		}
		for c := 2; c < d; c++ {
			root[i*d+c] = 0.1 * rng.NormFloat64()
		}
	}
	y := make([]float64, tr.NumLeaves()*n*d)
	for i := range y {
		v := tr.Leaf(i / (n * d))
		y[i] = root[i%(n*d)] + math.Sqrt(k.KAlpha*tr.Dist(v))*rng.NormFloat64()*0.5
	}
	return flowCase{tr: tr, k: k, root: root, y: y, tau2: 0.01, steps: steps}
}

func (c flowCase) filter(t *testing.T) *FlowFilter {
	f := &FlowFilter{Steps: c.steps}
	require.NoError(t, f.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
	require.NoError(t, f.Run(KunitaFlow(c.k), c.tau2))
	f.Refine()
	require.NoError(t, f.Run(KunitaFlow(c.k), c.tau2))
	return f
}

func (c flowCase) noise(rng *rand.Rand, f *FlowFilter, scale float64) []float64 {
	z := make([]float64, f.NumNoise())
	for i := range z {
		z[i] = scale * rng.NormFloat64()
	}
	return z
}

// The factorised filter and guided pass agree with SDEFilter's full D×D computation
// with the same anchors: log h_root, every log-weight and every state.
func TestFlowFilterMatchesFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, dims := range [][2]int{{3, 2}, {4, 3}, {5, 1}} {
		c := newFlowCase(rng, 5, dims[0], dims[1], 7)
		f := c.filter(t)
		D := dims[0] * dims[1]
		g := SDEFilter{Steps: c.steps}
		g.SetAnchors(c.tr, f.Anchors())
		require.NoError(t, g.Run(c.tr, kunitaAux{c.k}, Obs{Y: c.y, Var: c.tau2}))
		relClose(t, g.LogLikelihood(c.root), f.LogLikelihood(), 1e-10, "log h_root")
		z := c.noise(rng, f, 1)
		sum, err := f.Guide(z)
		require.NoError(t, err)
		x, lw := make([]float64, c.tr.Len()*D), make([]float64, c.tr.Len())
		want, err := g.Guide(c.k, c.root, z, x, lw)
		require.NoError(t, err)
		relClose(t, want, sum, 1e-9, "Σ log w")
		for v := 1; v < c.tr.Len(); v++ {
			require.InDelta(t, lw[v], f.LogWeights()[v], 1e-9*(1+math.Abs(lw[v])), "log w at %d", v)
			for i, e := range f.State(v) {
				require.InDelta(t, x[v*D+i], e, 1e-10, "state of %d", v)
			}
		}
	}
}

// flowObjective returns log h_root + Σ log w at (k_α, k_σ, τ²) and z, anchors fixed.
func flowObjective(t *testing.T, c flowCase, anchors []float64, p []float64, z []float64) float64 {
	k := c.k
	k.KAlpha, k.KSigma = p[0], p[1]
	f := &FlowFilter{Steps: c.steps}
	require.NoError(t, f.SetData(c.tr, k.N, k.Dim, c.root, c.y))
	f.SetAnchors(anchors)
	require.NoError(t, f.Run(KunitaFlow(k), p[2]))
	s, err := f.Guide(z)
	require.NoError(t, err)
	return f.LogLikelihood() + s
}

// The reverse pass equals central finite differences of log h_root + Σ log w in z, k_α,
// k_σ and τ², on trees with polytomies and unary nodes, d = 1, 2, 3.
func TestFlowFilterGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, dims := range [][2]int{{3, 2}, {4, 3}, {4, 1}} {
		c := newFlowCase(rng, 4, dims[0], dims[1], 4)
		f := c.filter(t)
		anchors := f.Anchors()
		z := c.noise(rng, f, 1)
		_, err := f.Guide(z)
		require.NoError(t, err)
		zbar, pbar := make([]float64, len(z)), make([]float64, 2)
		tb, err := f.Backward(z, zbar, pbar)
		require.NoError(t, err)
		p := []float64{c.k.KAlpha, c.k.KSigma, c.tau2}
		grad := []float64{pbar[0], pbar[1], tb}
		for i := range p {
			h := 1e-6 * p[i]
			pp, pm := append([]float64(nil), p...), append([]float64(nil), p...)
			pp[i] += h
			pm[i] -= h
			fd := (flowObjective(t, c, anchors, pp, z) - flowObjective(t, c, anchors, pm, z)) / (2 * h)
			require.InDelta(t, fd, grad[i], 1e-5*(1+math.Abs(fd)), "parameter %d (dims %v)", i, dims)
		}
		for trial := 0; trial < 12; trial++ {
			i := rng.IntN(len(z))
			if i < c.steps*dims[0]*dims[1] {
				require.Zero(t, zbar[i], "root block")
				continue
			}
			zp, zm := append([]float64(nil), z...), append([]float64(nil), z...)
			zp[i] += 1e-6
			zm[i] -= 1e-6
			fd := (flowObjective(t, c, anchors, p, zp) - flowObjective(t, c, anchors, p, zm)) / 2e-6
			require.InDelta(t, fd, zbar[i], 1e-5*(1+math.Abs(fd)), "z[%d] (dims %v)", i, dims)
		}
	}
}

// The potential's gradient equals central finite differences of its value, with τ²
// estimated, and ∇_z U = z − ∂J/∂z.
func TestFlowPotentialGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	c := newFlowCase(rng, 4, 3, 2, 5)
	f := c.filter(t)
	base := c.k
	p := &FlowPotential{Filter: f, NumFlowParams: 2, EstimateNoise: true,
		NewFlow: func(th []float64) (Flow, error) {
			k := base
			k.KAlpha, k.KSigma = th[0], th[1]
			return KunitaFlow(k), nil
		},
		Priors: []Prior{LogInvGamma{2, 0.5}, LogInvGamma{3, 2}, Normal{-4, 2}}}
	q := make([]float64, p.Dim())
	q[0], q[1], q[2] = math.Log(0.1), math.Log(0.5), math.Log(0.02)
	for i := 3; i < len(q); i++ {
		q[i] = rng.NormFloat64()
	}
	require.NoError(t, p.Check(q))
	grad := make([]float64, len(q))
	v := p.LogDensityGrad(q, grad)
	require.Equal(t, v, p.Clone().LogDensity(q))
	for _, i := range []int{0, 1, 2, 3 + c.steps*6, len(q) - 1, len(q) / 2} {
		qp, qm := append([]float64(nil), q...), append([]float64(nil), q...)
		qp[i] += 1e-6
		qm[i] -= 1e-6
		fd := (p.LogDensity(qp) - p.LogDensity(qm)) / 2e-6
		require.InDelta(t, fd, grad[i], 1e-5*(1+math.Abs(fd)), "coordinate %d", i)
	}
}
