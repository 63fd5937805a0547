package bffg

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/floats"
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
	tc      bool    // time-changed grid
	si      bool    // semi-implicit guided step
	ex      bool    // exact (Euler-model) guided steps
	sl      float64 // StepLength (0: steps per edge)
	disc    []bool  // discrete edges
	drift   float64 // λ of driftFlow (0: no drift)
	aux     bool    // with a drift, an auxiliary drift (auxDriftFlow)
	local   bool    // LocalAux (with ex)
	expo    bool    // ExponentialSteps (with ex)
}

// newFilter returns a FlowFilter with the case's settings, before SetData.
func (c flowCase) newFilter() *FlowFilter {
	return &FlowFilter{Steps: c.steps, TimeChange: c.tc, Discrete: c.disc, SemiImplicit: c.si, ExactSteps: c.ex,
		StepLength: c.sl, LocalAux: c.local, ExponentialSteps: c.expo}
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
	f := c.newFilter()
	require.NoError(t, f.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
	flow := c.flowAt(c.params())
	require.NoError(t, f.Run(flow, c.tau2))
	f.Refine()
	require.NoError(t, f.Run(flow, c.tau2))
	return f
}

// params returns the case's parameters (k_α, k_σ, τ², and λ with a drift).
func (c flowCase) params() []float64 {
	p := []float64{c.k.KAlpha, c.k.KSigma, c.tau2}
	if c.drift != 0 {
		p = append(p, c.drift)
	}
	return p
}

// flowAt returns the case's flow at parameters p (params' layout).
func (c flowCase) flowAt(p []float64) Flow {
	k := c.k
	k.KAlpha, k.KSigma = p[0], p[1]
	if c.drift == 0 {
		return KunitaFlow(k)
	}
	f := driftFlow{Flow: KunitaFlow(k), k: k, lambda: p[3], mu: c.root}
	if c.aux {
		return newAuxDriftFlow(f, 1.3, 0.4)
	}
	return f
}

// driftFlow is the Kunita flow with the nonlinear drift
// b_i(x) = −λ(x_i − μ_i) + 0.3·sin(x_i) + 0.2·x_{i+1} (indices cyclic over the n·d
// coordinates, so that the Jacobian is not symmetric), θ = (k_α, k_σ, λ).
type driftFlow struct {
	Flow
	k      sde.Kunita
	lambda float64
	mu     []float64
}

func (f driftFlow) NumParams() int { return 3 }

func (f driftFlow) DriftTo(dst, x []float64) error {
	for i, e := range x {
		dst[i] = -f.lambda*(e-f.mu[i]) + 0.3*math.Sin(e) + 0.2*x[(i+1)%len(x)]
	}
	return nil
}

func (f driftFlow) DriftVJPTo(xbar, pbar, x, bbar []float64) {
	for i, e := range x {
		xbar[i] = (-f.lambda + 0.3*math.Cos(e)) * bbar[i]
		pbar[2] -= (e - f.mu[i]) * bbar[i]
	}
	for i := range x {
		xbar[(i+1)%len(x)] += 0.2 * bbar[i]
	}
}

// Drift implements sde.SDE for SDEFilter, whose state has the same layout.
func (f driftFlow) Drift(_ float64, x, dst []float64) {
	if err := f.DriftTo(dst, x); err != nil {
		panic(err)
	}
}
func (f driftFlow) Dims() (int, int) { return f.k.Dims() }
func (f driftFlow) Diffusion(t float64, x, dst []float64) error {
	return f.k.Diffusion(t, x, dst)
}

func (c flowCase) noise(rng *rand.Rand, f *FlowFilter, scale float64) []float64 {
	z := make([]float64, f.NumNoise())
	for i := range z {
		z[i] = scale * rng.NormFloat64()
	}
	return z
}

// The factorised filter and guided pass agree with SDEFilter's full D×D computation
// with the same anchors: log h_root, every log-weight and every state, also with a
// drift (b − b̃ = b there, as FlowFilter's auxiliary has none).
func TestFlowFilterMatchesFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i, dims := range [][2]int{{3, 2}, {4, 3}, {5, 1}, {3, 2}} {
		c := newFlowCase(rng, 8, dims[0], dims[1], 7)
		var truth sde.SDE = c.k
		if i == 3 {
			c.drift = 0.7
			truth = c.flowAt(c.params()).(driftFlow)
		}
		f := c.filter(t)
		g := SDEFilter{Steps: c.steps}
		g.SetAnchors(c.tr, f.Anchors())
		require.NoError(t, g.Run(c.tr, kunitaAux{c.k}, Obs{Y: c.y, Var: c.tau2}))
		relClose(t, g.LogLikelihood(c.root), f.LogLikelihood(), 1e-10, "log h_root")
		checkGuideMatchesFull(t, c, f, &g, truth, c.noise(rng, f, 1), 1e-9, 1e-10)
	}
}

// checkGuideMatchesFull runs f's and g's guided passes with the same noise z and checks
// Σ log w, every log-weight (to relative tolerance tolW) and every state (to tolX).
func checkGuideMatchesFull(t *testing.T, c flowCase, f *FlowFilter, g *SDEFilter, truth sde.SDE, z []float64, tolW, tolX float64) {
	t.Helper()
	D := c.k.N * c.k.Dim
	sum, err := f.Guide(z)
	require.NoError(t, err)
	x, lw := make([]float64, c.tr.Len()*D), make([]float64, c.tr.Len())
	want, err := g.Guide(truth, c.root, z, x, lw)
	require.NoError(t, err)
	relClose(t, want, sum, tolW, "Σ log w")
	for v := 1; v < c.tr.Len(); v++ {
		require.InDelta(t, lw[v], f.LogWeights()[v], tolW*(1+math.Abs(lw[v])), "log w at %d", v)
		for i, e := range f.State(v) {
			require.InDelta(t, x[v*D+i], e, tolX, "state of %d", v)
		}
	}
}

// missLandmarks removes landmark 0 from leaf 0 and the last landmark from leaf 1.
func (c *flowCase) missLandmarks() {
	n, d := c.k.N, c.k.Dim
	for l := 0; l < d; l++ {
		c.y[0*n*d+0*d+l] = math.NaN()
		c.y[1*n*d+(n-1)*d+l] = math.NaN()
	}
}

// discreteEvery makes every third edge from node 2 on discrete.
func (c *flowCase) discreteEvery() {
	c.disc = make([]bool, c.tr.Len())
	for v := 2; v < c.tr.Len(); v += 3 {
		c.disc[v] = true
	}
}

// flowObjective returns log h_root + Σ log w at (k_α, k_σ, τ²) and z, anchors fixed.
func flowObjective(t *testing.T, c flowCase, anchors []float64, p []float64, z []float64) float64 {
	f := c.newFilter()
	require.NoError(t, f.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
	f.SetAnchors(anchors)
	require.NoError(t, f.Run(c.flowAt(p), p[2]))
	s, err := f.Guide(z)
	require.NoError(t, err)
	return f.LogLikelihood() + s
}

// The reverse pass equals central finite differences of log h_root + Σ log w in z, k_α,
// k_σ and τ², on trees with polytomies and unary nodes, d = 1, 2, 3, on uniform and
// time-changed grids, with discrete edges mixed in, with semi-implicit and exact
// steps, and with steps per edge set by a step length.
func TestFlowFilterGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for k, dims := range [][2]int{{3, 2}, {4, 3}, {4, 1}, {3, 2}, {3, 2}, {4, 1}, {3, 2}, {4, 3}, {3, 2}, {4, 1}, {4, 3}, {3, 2}, {3, 2}} {
		c := newFlowCase(rng, 7, dims[0], dims[1], 4)
		c.tc = k == 3 || k == 9
		c.si = k == 6 || k == 7  // semi-implicit guided steps
		c.ex = k >= 8 && k != 11 // exact guided steps
		if k >= 11 {             // k = 11 explicit, 12 exact, both with discrete edges
			c.sl = 0.15
		}
		if k >= 4 && k != 9 {
			c.disc = make([]bool, c.tr.Len())
			for v := 1; v < c.tr.Len(); v += 2 {
				c.disc[v] = true
			}
		}
		f, z, zbar, pbar, tb := checkFlowGradient(t, rng, c)
		// The root's block of z is unused, and without the step cache the reverse pass
		// recomputes the same numbers.
		for _, e := range f.NoiseBlock(zbar, 0) {
			require.Zero(t, e, "root block")
		}
		checkCacheFree(t, f, z, zbar, pbar, tb)
	}
}

// With a drift (driftFlow, θ = (k_α, k_σ, λ)) the reverse pass equals central finite
// differences in z, θ and τ²: explicit steps on uniform and time-changed grids (with
// discrete edges), semi-implicit steps, exact steps (time-changed with discrete edges,
// and into exactly observed tips), and the same without the step cache.
func TestFlowDriftGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for k, dims := range [][2]int{{3, 2}, {4, 1}, {3, 2}, {3, 2}, {4, 1}, {3, 2}, {3, 2}, {4, 2}} {
		c := newFlowCase(rng, 7, dims[0], dims[1], 4)
		c.drift = 0.7
		c.tc = k == 1 || k == 4
		c.si = k == 2
		c.ex = k >= 3 && k != 6
		if k == 5 || k == 7 {
			c.tau2 = 0 // the conditioning step
		}
		if k >= 6 { // missing landmarks, steps set by a step length
			c.sl = 0.2
			c.missLandmarks()
		}
		if k == 1 || k == 4 {
			c.discreteEvery()
		}
		f, z, zbar, pbar, tb := checkFlowGradient(t, rng, c)
		require.NotZero(t, pbar[2], "∂/∂λ")
		checkCacheFree(t, f, z, zbar, pbar, tb)
	}
}

// checkCacheFree checks that f's reverse pass without the step cache recomputes the
// same gradient (z̄, θ̄, τ̄²), bit for bit, as the one with it.
func checkCacheFree(t *testing.T, f *FlowFilter, z, zbar, pbar []float64, tb float64) {
	t.Helper()
	require.NotNil(t, f.cache, "the case is small enough for the cache")
	cache := f.cache
	f.cache = nil
	zbar2, pbar2 := make([]float64, len(z)), make([]float64, len(pbar))
	tb2, err := f.Backward(z, zbar2, pbar2)
	require.NoError(t, err)
	require.Equal(t, zbar, zbar2)
	require.Equal(t, pbar, pbar2)
	require.Equal(t, tb, tb2)
	f.cache = cache
}

// The potential's gradient equals central finite differences of its value, with τ²
// estimated, and ∇_z U = z − ∂J/∂z.
func TestFlowPotentialGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	c := newFlowCase(rng, 7, 3, 2, 5)
	f := c.filter(t)
	p := &FlowPotential{Filter: f, NumFlowParams: 2, EstimateNoise: true,
		NewFlow: kunitaAt(c.k),
		Priors:  []Prior{LogInvGamma{2, 0.5}, LogInvGamma{3, 2}, Normal{-4, 2}}}
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

// kunitaAt returns a FlowPotential.NewFlow: the Kunita model k with θ = (k_α, k_σ).
func kunitaAt(k sde.Kunita) func(theta []float64) (Flow, error) {
	return func(th []float64) (Flow, error) {
		k := k
		k.KAlpha, k.KSigma = th[0], th[1]
		return KunitaFlow(k), nil
	}
}

// twoLandmarkProblem is a small nonlinear flow: two landmarks on a line, whose
// diffusion depends on their distance, observed with noise at the leaves (2, 3, 4) of a
// five-node tree.
func twoLandmarkProblem(t *testing.T) (tr *topology.Topology, k sde.Kunita, root, y []float64, tau2 float64) {
	t.Helper()
	tr, _, err := topology.FromParents([]int{-1, 0, 0, 1, 1}, []float64{0, 0.4, 1, 0.6, 0.6}, nil)
	require.NoError(t, err)
	k = sde.Kunita{N: 2, Dim: 1, KAlpha: 1, KSigma: 0.7}
	return tr, k, []float64{0, 0.5}, []float64{0.3, 0.2, -0.4, 0.9, 0.6, 1.6}, 0.15
}

// guidedEvidence returns the Monte Carlo mean of h̃_root·Π_v w_v over num guided passes
// of f with standard normal noise, and its standard error.
func guidedEvidence(t *testing.T, f *FlowFilter, rng *rand.Rand, num int) (mean, se float64) {
	t.Helper()
	z := make([]float64, f.NumNoise())
	return mcMean(func() float64 {
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		sum, err := f.Guide(z)
		require.NoError(t, err)
		return math.Exp(sum + f.LogLikelihood())
	}, num)
}

// mcMean returns the mean of num draws and its standard error.
func mcMean(draw func() float64, num int) (mean, se float64) {
	s, s2 := 0.0, 0.0
	for i := 0; i < num; i++ {
		v := draw()
		s, s2 = s+v, s2+v*v
	}
	mean = s / float64(num)
	return mean, math.Sqrt((s2/float64(num) - mean*mean) / float64(num))
}

// bootstrapEvidence estimates p(y) of the Euler-discretised two-landmark problem
// (twoLandmarkProblem's tree and kernel, data y, leaf noise τ² ≥ 0) independently of
// the filter: unconditional paths down the tree (Euler–Maruyama on SDE edges of steps
// steps, x_v = x_pa + chol(T·K(x_pa))ε on discrete ones), each leaf edge's last step
// integrated out analytically, weighted by Π_leaves N(y; x, dt·K(x) + τ²I) at the state
// x before that step. It returns the mean over num paths and its standard error.
func bootstrapEvidence(t *testing.T, tr *topology.Topology, k sde.Kunita, root, y []float64, tau2 float64, steps int, disc []bool, rng *rand.Rand, num int) (mean, se float64) {
	return bootstrapDriftEvidence(t, tr, k, nil, root, y, tau2, steps, disc, rng, num)
}

// bootstrapDriftEvidence is bootstrapEvidence with a drift b on the SDE edges (nil:
// none): each Euler step adds dt·b(x), and the integrated last step has mean
// x + dt·b(x).
func bootstrapDriftEvidence(t *testing.T, tr *topology.Topology, k sde.Kunita, b Drifter, root, y []float64, tau2 float64, steps int, disc []bool, rng *rand.Rand, num int) (mean, se float64) {
	t.Helper()
	const n = 2
	sigma, K, bx := make([]float64, n*n), make([]float64, n*n), make([]float64, n)
	x := make([][]float64, tr.Len())
	drift := func(v int, dt float64, xv []float64) { // x += dt·b(x) on SDE edges
		if b == nil || disc != nil && disc[v] {
			return
		}
		require.NoError(t, b.DriftTo(bx, xv))
		xv[0], xv[1] = xv[0]+dt*bx[0], xv[1]+dt*bx[1]
	}
	return mcMean(func() float64 {
		x[0] = root
		lw := 0.0
		for v := 1; v < tr.Len(); v++ {
			xv := append(x[v][:0], x[tr.Parent(v)]...)
			m := steps
			if disc != nil && disc[v] {
				m = 1
			}
			dt := tr.BranchLength(v) / float64(m)
			i := tr.LeafIndex(v)
			if i >= 0 {
				m-- // the last step is integrated out below
			}
			for j := 0; j < m; j++ {
				require.NoError(t, k.Diffusion(0, xv, sigma))
				e0, e1 := rng.NormFloat64(), rng.NormFloat64()
				s0, s1 := math.Sqrt(dt)*(sigma[0]*e0+sigma[1]*e1), math.Sqrt(dt)*(sigma[2]*e0+sigma[3]*e1)
				drift(v, dt, xv)
				xv[0], xv[1] = xv[0]+s0, xv[1]+s1
			}
			x[v] = xv
			if i >= 0 {
				k.JitteredKernelTo(K, xv)
				a, b, c := dt*K[0]+tau2, dt*K[1], dt*K[3]+tau2
				det := a*c - b*b
				mv := append([]float64(nil), xv...)
				drift(v, dt, mv)
				r0, r1 := y[i*n]-mv[0], y[i*n+1]-mv[1]
				lw += -math.Log(2*math.Pi) - 0.5*math.Log(det) - 0.5*(c*r0*r0-2*b*r0*r1+a*r1*r1)/det
			}
		}
		return math.Exp(lw)
	}, num)
}

// BFFG's identity E_q[Π_v w_v]·h̃_root(x_root) = p(y), on a small nonlinear flow (two
// landmarks on a line, whose diffusion depends on their distance) on a five-node tree,
// with SDE edges only and with two discrete (nonlinear Gaussian) edges mixed in, against
// an independent bootstrap estimate (bootstrapEvidence). Both use the same grid; the guided estimator's left-point
// weights carry an O(dt) bias, far below the Monte Carlo error here, and with
// ExactSteps the guided estimator is unbiased for the bootstrap's (Euler) model itself.
func TestFlowUnbiased(t *testing.T) {
	if testing.Short() {
		t.Skip("Monte Carlo with 10^5 paths")
	}
	tr, k, root, y, tau2 := twoLandmarkProblem(t)
	const n, d, steps = 2, 1, 20
	for mode, disc := range [][]bool{nil, {false, false, true, true, true}, nil, {false, false, true, true, true}} {
		rng := rand.New(rand.NewPCG(21, 22))
		f := &FlowFilter{Steps: steps, Discrete: disc, ExactSteps: mode >= 2}
		require.NoError(t, f.SetData(tr, n, d, root, y))
		require.NoError(t, FlowAnchors(f, KunitaFlow(k), tau2, 2))
		require.NoError(t, f.Run(KunitaFlow(k), tau2))
		logH := f.LogLikelihood()
		guided, seG := guidedEvidence(t, f, rng, 20_000)

		boot, seB := bootstrapEvidence(t, tr, k, root, y, tau2, steps, disc, rng, 200_000)
		t.Logf("exact steps %v, discrete %v: p(y): guided %.5g ± %.2g, bootstrap %.5g ± %.2g, h̃_root %.5g", f.ExactSteps, disc, guided, seG, boot, seB, math.Exp(logH))
		require.InDelta(t, boot, guided, 4*math.Hypot(seG, seB))
		// The auxiliary alone is a different model: the check has power.
		require.Greater(t, math.Abs(math.Exp(logH)-boot), 4*math.Hypot(seG, seB))
	}
}

// The conditioning step into an exact tip draws a missing landmark from the drifting
// transition: at z = 0 it is m_1 + Q_10/Q_00·(y_0 − m_0) with m = x + dt·b(x) and
// Q = dt·K(x) at the state x before the last step.
func TestFlowDriftConditionedState(t *testing.T) {
	tr, k, root, _, _ := twoLandmarkProblem(t)
	y := []float64{0.1, 0.6, -0.2, math.NaN(), 0.2, 0.8} // leaf 1 misses landmark 1
	const steps = 5
	flow := driftFlow{Flow: KunitaFlow(k), k: k, lambda: 1, mu: root}
	f := &FlowFilter{Steps: steps, ExactSteps: true}
	require.NoError(t, f.SetData(tr, 2, 1, root, y))
	require.NoError(t, f.Run(flow, 0))
	_, err := f.Guide(make([]float64, f.NumNoise()))
	require.NoError(t, err)
	v := tr.Leaf(1)
	x := f.Path(v)[(steps-1)*2 : steps*2]
	dt := tr.BranchLength(v) / steps
	b, K := make([]float64, 2), make([]float64, 4)
	require.NoError(t, flow.DriftTo(b, x))
	k.JitteredKernelTo(K, x)
	m0, m1 := x[0]+dt*b[0], x[1]+dt*b[1]
	want := m1 + K[2]/K[0]*(y[2]-m0)
	require.InDelta(t, want, f.State(v)[1], 1e-12)
	require.Equal(t, y[2], f.State(v)[0])
}

// With a drift and ExactSteps, E_q[Π_v w_v]·h̃_root is p(y) of the Euler-discretised
// flow with that drift, against the bootstrap with the same drift: noisy tips, with
// two discrete (driftless) edges mixed in, and exactly observed tips (the conditioning
// step), with the driftless auxiliary, with one that shares the drift's linear part
// (AuxDrifter), and with that one linearised at every step's state (LocalAux). The same filter without the drift estimates a different p(y): the check has
// power.
func TestFlowDriftUnbiased(t *testing.T) {
	if testing.Short() {
		t.Skip("Monte Carlo")
	}
	tr, k, root, y, tau2 := twoLandmarkProblem(t)
	const steps = 5
	for mode, disc := range [][]bool{nil, {false, false, true, true, true}, nil} {
		data, noise := y, tau2
		if mode == 2 {
			data, noise = []float64{0.1, 0.6, -0.2, 0.4, 0.2, 0.8}, 0
		}
		flow := driftFlow{Flow: KunitaFlow(k), k: k, lambda: 1, mu: root}
		f := &FlowFilter{Steps: steps, Discrete: disc, ExactSteps: true}
		require.NoError(t, f.SetData(tr, 2, 1, root, data))
		require.NoError(t, f.Run(flow, noise))
		guided, seG := guidedEvidence(t, f, rand.New(rand.NewPCG(31, uint64(mode))), 20_000)
		boot, seB := bootstrapDriftEvidence(t, tr, k, flow, root, data, noise, steps, disc, rand.New(rand.NewPCG(33, uint64(mode))), 400_000)
		require.NoError(t, f.Run(newAuxDriftFlow(flow, 1, 0), noise)) // the auxiliary shares the linear drift
		shared, seS := guidedEvidence(t, f, rand.New(rand.NewPCG(37, uint64(mode))), 20_000)
		f.LocalAux = true // and is linearised at every step's state
		require.NoError(t, f.Run(newAuxDriftFlow(flow, 1, 0), noise))
		local, seL := guidedEvidence(t, f, rand.New(rand.NewPCG(39, uint64(mode))), 20_000)
		f.LocalAux = false
		require.NoError(t, f.Run(KunitaFlow(k), noise))
		plain, seP := guidedEvidence(t, f, rand.New(rand.NewPCG(35, uint64(mode))), 20_000)
		t.Logf("τ² %g, discrete %v: p(y) guided %.5g ± %.2g (auxiliary drift %.5g ± %.2g, and local %.5g ± %.2g), bootstrap %.5g ± %.2g; without the drift %.5g ± %.2g",
			noise, disc, guided, seG, shared, seS, local, seL, boot, seB, plain, seP)
		require.InDelta(t, boot, local, 4*math.Hypot(seL, seB))
		require.InDelta(t, boot, guided, 4*math.Hypot(seG, seB))
		require.InDelta(t, boot, shared, 4*math.Hypot(seS, seB))
		require.Greater(t, math.Abs(plain-boot), 4*math.Hypot(seP, seB))
	}
}

// With ExactSteps, E_q[Π_v w_v]·h̃_root is p(y) of the Euler-discretised flow whatever
// the auxiliary: the estimates with anchors at the root state linearised at every
// step (LocalAux) and with refined anchors agree within Monte Carlo error on a coarse
// grid (5 steps an edge). The explicit step's
// left-point weights do not: there the two auxiliaries give estimates many standard
// errors apart, so the check has power.
func TestFlowExactStepsAuxiliaryFree(t *testing.T) {
	if testing.Short() {
		t.Skip("Monte Carlo")
	}
	tr, k, root, y, tau2 := twoLandmarkProblem(t)
	estimate := func(exact, refine bool) (mean, se float64) {
		f := &FlowFilter{Steps: 5, ExactSteps: exact, LocalAux: exact && !refine}
		require.NoError(t, f.SetData(tr, 2, 1, root, y))
		if refine {
			require.NoError(t, FlowAnchors(f, KunitaFlow(k), tau2, 2))
		}
		require.NoError(t, f.Run(KunitaFlow(k), tau2))
		return guidedEvidence(t, f, rand.New(rand.NewPCG(23, 24)), 20_000)
	}
	for _, exact := range []bool{true, false} {
		a, sa := estimate(exact, false)
		b, sb := estimate(exact, true)
		t.Logf("exact steps %v: anchors at the root %.6g ± %.2g, refined %.6g ± %.2g", exact, a, sa, b, sb)
		if exact {
			require.InDelta(t, a, b, 4*math.Hypot(sa, sb))
		} else {
			require.Greater(t, math.Abs(a-b), 4*math.Hypot(sa, sb))
		}
	}
}

// constFlow is Brownian motion with covariance K ⊗ I_d: a linear flow, its own
// auxiliary.
type constFlow struct {
	n, d int
	k    []float64
}

func (c constFlow) Landmarks() (int, int)               { return c.n, c.d }
func (c constFlow) NumParams() int                      { return 0 }
func (c constFlow) KernelTo(dst, _ []float64) error     { copy(dst, c.k); return nil }
func (c constFlow) KernelVJPTo(xbar, _, _, _ []float64) { clear(xbar) }

// linearFlowOracle returns the dense log-likelihood, posterior mean and covariance of
// Brownian motion with covariance rate K ⊗ I_d on tr, root fixed, leaf noise τ²I.
func linearFlowOracle(t *testing.T, tr *topology.Topology, kk []float64, n, d int, root, y []float64, tau2 float64) (ll float64, mean, cov []float64) {
	D := n * d
	a := sde.KronTo(make([]float64, D*D), kk, n, d)
	proxy := ProxyFunc(func(v int, _, A, b, Q []float64) {
		setIdentity(A, D)
		clear(b)
		for i := range Q {
			Q[i] = a[i] * tr.BranchLength(v)
		}
	})
	obs := Obs{Y: y, Var: tau2}
	ll, err := DenseLogLikelihood(tr, proxy, obs, Root{Mean: root})
	require.NoError(t, err)
	mean, cov, err = DensePosterior(tr, proxy, obs, Root{Mean: root})
	require.NoError(t, err)
	return ll, mean, cov
}

// With a linear SDE and proxy = truth the pullbacks are exact, so log h_root equals the
// discrete closed form at every step count and every log-weight is 0. The guided pass at
// z = 0 is Euler's method on the ODE of the conditional mean, and here Euler is exact:
// x_{j+1} − μ = (Σ + (T − t_{j+1})K)(Σ + (T − t_j)K)⁻¹(x_j − μ) telescopes, so every
// node state equals its dense posterior mean at every step count. With ExactSteps the
// Euler transitions are the exact ones and each step draws from its exact conditional,
// so the same holds.
func TestFlowLinearExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	tr := randomTree(rng, 9, true)
	const n, d = 3, 2
	D := n * d
	kk := []float64{1, 0.3, 0.1, 0.3, 0.8, 0.2, 0.1, 0.2, 0.5}
	fl := constFlow{n, d, kk}
	root := []float64{0.2, -0.1, 0.5, 0.4, -0.3, 0.1}
	y := make([]float64, tr.NumLeaves()*D)
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	const tau2 = 0.2
	want, mean, _ := linearFlowOracle(t, tr, kk, n, d, root, y, tau2)
	for k, m := range []int{1, 7, 50, 1, 7, 50, 0, 0} {
		// Any grid; m = 0 takes the steps per edge from a step length.
		f := &FlowFilter{Steps: m, TimeChange: m == 7, ExactSteps: k%2 == 1}
		if m == 0 {
			f.StepLength = 0.13
		}
		require.NoError(t, f.SetData(tr, n, d, root, y))
		if m == 0 {
			total := 0
			for v := 1; v < tr.Len(); v++ {
				total += max(1, int(math.Ceil(tr.BranchLength(v)/0.13)))
				require.Len(t, f.NoiseBlock(make([]float64, f.NumNoise()), v), max(1, int(math.Ceil(tr.BranchLength(v)/0.13)))*D)
			}
			require.Equal(t, total*D, f.NumNoise())
		}
		checkLinearFilter(t, f, fl, tau2, want, mean, 1e-10)
	}
}

// On a nonlinear flow the guided pass at z = 0 and its log-weights converge at first
// order in dt, with explicit and semi-implicit steps (left-point weights): errors against
// 640 steps per edge halve when the steps double (the test prints them and the observed
// orders). Exact steps converge too: the states at first order, Σ log w faster here and
// with errors ten times smaller. All three share the limit.
func TestFlowConvergenceOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 34))
	c := newFlowCase(rng, 7, 3, 2, 10)
	var refs [][]float64
	for mode, name := range []string{"explicit", "semi-implicit", "exact"} {
		run := func(m int) ([]float64, float64) {
			f := &FlowFilter{Steps: m, TimeChange: true, SemiImplicit: mode == 1, ExactSteps: mode == 2}
			require.NoError(t, f.SetData(c.tr, 3, 2, c.root, c.y))
			require.NoError(t, f.Run(KunitaFlow(c.k), c.tau2))
			sum, err := f.Guide(make([]float64, f.NumNoise()))
			require.NoError(t, err)
			var x []float64
			for v := 0; v < c.tr.Len(); v++ {
				x = append(x, f.State(v)...)
			}
			return x, sum
		}
		xr, sr := run(640)
		steps := []int{20, 40, 80, 160}
		var ex, es []float64
		for _, m := range steps {
			x, s := run(m)
			e := 0.0
			for i := range x {
				e = math.Max(e, math.Abs(x[i]-xr[i]))
			}
			ex, es = append(ex, e), append(es, math.Abs(s-sr))
		}
		for i := 1; i < len(steps); i++ {
			ox, os := math.Log2(ex[i-1]/ex[i]), math.Log2(es[i-1]/es[i])
			t.Logf("%s steps %d → %d: state error %.3g → %.3g (order %.2f), Σ log w error %.3g → %.3g (order %.2f)",
				name, steps[i-1], steps[i], ex[i-1], ex[i], ox, es[i-1], es[i], os)
			require.InDelta(t, 1, ox, 0.3)
			if mode == 2 { // smaller errors, and faster than first order in this range
				require.Greater(t, os, 0.7)
				continue
			}
			require.InDelta(t, 1, os, 0.3)
		}
		refs = append(refs, append(xr, sr))
	}
	// The three schemes share the limit: at 640 steps they differ by O(1/640).
	for _, r := range refs[1:] {
		for i := range r {
			require.InDelta(t, refs[0][i], r[i], 0.02*(1+math.Abs(refs[0][i])))
		}
	}
}

// Discrete edges are exact BFFG: with a linear flow (the auxiliary is the truth) on a
// tree of discrete edges, or of discrete and continuous edges mixed, log h_root is the
// dense closed form, every log-weight is 0 and the states at z = 0 are the posterior
// means; with discrete edges only, the guided map x(z) = mean + Jz has JJ' equal to the
// dense posterior covariance. All of it with noisy leaves and with exact ones (τ² = 0,
// where the edges into leaves are conditioned on the observations).
func TestFlowDiscreteExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	tr := randomTree(rng, 8, true)
	const n, d = 3, 1
	kk := []float64{1, 0.3, 0.1, 0.3, 0.8, 0.2, 0.1, 0.2, 0.5}
	fl := constFlow{n, d, kk}
	root := []float64{0.2, -0.1, 0.5}
	y := make([]float64, tr.NumLeaves()*n)
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	ym := append([]float64(nil), y...)
	ym[1], ym[3], ym[4], ym[5] = math.NaN(), math.NaN(), math.NaN(), math.NaN() // a leaf with none observed
	for _, tau2 := range []float64{0.2, 0} {                                    // noisy leaves, and exact ones (conditioned)
		checkDiscreteLinear(t, tr, fl, root, y, ym, tau2)
	}
}

// checkDiscreteLinear is TestFlowDiscreteExact at one leaf noise τ².
func checkDiscreteLinear(t *testing.T, tr *topology.Topology, fl constFlow, root, y, ym []float64, tau2 float64) {
	t.Helper()
	n, d, kk := fl.n, fl.d, fl.k
	wantM, meanM, _ := linearFlowOracle(t, tr, kk, n, d, root, ym, tau2)
	want, mean, cov := linearFlowOracle(t, tr, kk, n, d, root, y, tau2)
	N := tr.Len()
	// With missing landmarks (ym), they drop out of the discrete leaf edges' messages;
	// the mixed trees put the discrete edges at the even, then the odd nodes.
	for k, mixed := range []bool{false, true, false, true} {
		yk, wantK, meanK := y, want, mean
		if k >= 2 {
			yk, wantK, meanK = ym, wantM, meanM
		}
		disc := make([]bool, N)
		for v := range disc {
			disc[v] = !mixed || v%2 == k/2
		}
		f := &FlowFilter{Steps: 6, Discrete: disc}
		require.NoError(t, f.SetData(tr, n, d, root, yk))
		require.NoError(t, f.Run(fl, tau2))
		relClose(t, wantK, f.LogLikelihood(), 1e-10, "log h_root")
		z := make([]float64, f.NumNoise())
		sum, err := f.Guide(z)
		require.NoError(t, err)
		require.InDelta(t, 0, sum, 1e-10)
		x0 := make([]float64, N*n)
		for v := 1; v < N; v++ {
			copy(x0[v*n:], f.State(v))
			for i, x := range f.State(v) {
				require.InDelta(t, meanK[v*n+i], x, 1e-10, "node %d (case %d, τ² %v)", v, k, tau2)
			}
		}
		if k > 0 {
			continue
		}
		// Columns of J: the response of every state to each used noise coordinate.
		var J [][]float64
		m := f.steps()
		for v := 1; v < N; v++ {
			for a := 0; a < n; a++ {
				clear(z)
				z[v*m*n+a] = 1
				_, err := f.Guide(z)
				require.NoError(t, err)
				col := make([]float64, N*n)
				for u := 1; u < N; u++ {
					for i, x := range f.State(u) {
						col[u*n+i] = x - x0[u*n+i]
					}
				}
				J = append(J, col)
			}
		}
		for i := n; i < N*n; i++ {
			for j := n; j < N*n; j++ {
				s := 0.0
				for _, col := range J {
					s += col[i] * col[j]
				}
				require.InDelta(t, cov[i*N*n+j], s, 1e-10, "cov[%d, %d] (τ² %v)", i, j, tau2)
			}
		}
	}
}

// An explicit guided step that would overshoot is reported as ErrUnstable, and the
// potential is −Inf there; the time-changed grid with more steps (the last one of
// length T/m²) makes the same point fine. Here the anchors
// are spread ten times wider than the data, so the auxiliary's ã(T) ≈ k_α·I while the
// true K(x) of the clustered landmarks has λ_max ≈ n·k_α.
func TestFlowUnstable(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	c := newFlowCase(rng, 6, 4, 2, 4)
	c.tau2 = 1e-4
	c.k.KSigma = 3
	f := c.filter(t)
	anchors := f.Anchors()
	for i := range anchors {
		anchors[i] *= 10
	}
	f.SetAnchors(anchors)
	for _, steps := range []int{3, 100} {
		g := &FlowFilter{Steps: steps, TimeChange: steps > 3}
		require.NoError(t, g.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
		g.SetAnchors(anchors)
		require.NoError(t, g.Run(KunitaFlow(c.k), c.tau2))
		_, err := g.Guide(make([]float64, g.NumNoise()))
		if steps == 3 {
			require.ErrorIs(t, err, ErrUnstable)
		} else {
			require.NoError(t, err)
		}
	}
	p := &FlowPotential{Filter: f, NumFlowParams: 2, Tau2: c.tau2,
		NewFlow: kunitaAt(c.k),
		Priors:  []Prior{Normal{0, 10}, Normal{0, 10}}}
	q := make([]float64, p.Dim())
	q[0], q[1] = math.Log(c.k.KAlpha), math.Log(c.k.KSigma)
	require.True(t, math.IsInf(p.LogDensity(q), -1))
}

// ExactSteps refuses semi-implicit steps and leaf noise too small for the tilted last
// step (but not τ² = 0), and SetData a bad StepLength, with a clear error.
func TestFlowExactStepsErrors(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	c := newFlowCase(rng, 5, 3, 2, 4)
	f := &FlowFilter{Steps: 4, ExactSteps: true}
	require.NoError(t, f.SetData(c.tr, 3, 2, c.root, c.y))
	f.SemiImplicit = true
	require.ErrorContains(t, f.Run(KunitaFlow(c.k), 0.1), "exclude each other")
	// Leaf noise far below the last tilted step's diffusion: the weight would cancel
	// catastrophically (log w = −1.2e4 instead of 0 on a linear flow at τ² = 1e−20).
	tr, kk, root, y := linearFlowCase(rng)
	for _, disc := range [][]bool{nil, make([]bool, tr.Len())} {
		for v := range disc {
			disc[v] = tr.IsLeaf(v)
		}
		g := &FlowFilter{Steps: 9, ExactSteps: disc == nil, Discrete: disc}
		require.NoError(t, g.SetData(tr, 3, 2, root, y))
		require.ErrorIs(t, g.Run(constFlow{3, 2, kk}, 1e-20), ErrObservation)
		require.NoError(t, g.Run(constFlow{3, 2, kk}, 1e-7))
		sum, err := g.Guide(make([]float64, g.NumNoise()))
		require.NoError(t, err)
		require.InDelta(t, 0, sum, 1e-6, "log w at small τ²")
	}
	// Changing the kind of step between Guide and Backward is an error, not a misread
	// cache.
	g := c.filter(t)
	z := c.noise(rng, g, 1)
	_, err := g.Guide(z)
	require.NoError(t, err)
	g.ExactSteps = true
	_, err = g.Backward(z, make([]float64, len(z)), make([]float64, 2))
	require.ErrorContains(t, err, "changed since Guide")
	for _, sl := range []float64{-1, math.NaN(), math.Inf(1), 1e-9} {
		g := &FlowFilter{StepLength: sl}
		require.ErrorContains(t, g.SetData(c.tr, 3, 2, c.root, c.y), "StepLength", "step length %v", sl)
	}
}

// Sweeps split levels between goroutines without changing a single bit of the result.
func TestFlowWorkersDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	c := newFlowCase(rng, 12, 3, 2, 5)
	c.disc = make([]bool, c.tr.Len())
	c.disc[3] = true
	f := c.filter(t)
	z := c.noise(rng, f, 1)
	for _, exact := range []bool{false, true} {
		f.ExactSteps = exact
		checkWorkersDeterministic(t, c, f, z)
	}
	c.sl, c.ex = 0.2, true // steps per edge from a step length
	f = c.filter(t)
	checkWorkersDeterministic(t, c, f, c.noise(rng, f, 1))
}

func checkWorkersDeterministic(t *testing.T, c flowCase, f *FlowFilter, z []float64) {
	t.Helper()
	run := func(workers int) (float64, []float64, []float64, float64) {
		g := f.Clone()
		g.Workers = workers
		require.NoError(t, g.Run(KunitaFlow(c.k), c.tau2))
		s, err := g.Guide(z)
		require.NoError(t, err)
		zb, pb := make([]float64, len(z)), make([]float64, 2)
		tb, err := g.Backward(z, zb, pb)
		require.NoError(t, err)
		return g.LogLikelihood() + s, zb, pb, tb
	}
	j1, zb1, pb1, tb1 := run(1)
	j3, zb3, pb3, tb3 := run(3)
	require.Equal(t, j1, j3)
	require.Equal(t, zb1, zb3)
	require.Equal(t, pb1, pb3)
	require.Equal(t, tb1, tb3)
}

// linearFlowCase is a random tree with 3 landmarks in the plane under Brownian motion
// with covariance rate K ⊗ I_2, and standard normal leaf data.
func linearFlowCase(rng *rand.Rand) (tr *topology.Topology, kk, root, y []float64) {
	tr = randomTree(rng, 9, false)
	kk = []float64{1, 0.3, 0.1, 0.3, 0.8, 0.2, 0.1, 0.2, 0.5}
	root = []float64{0.2, -0.1, 0.5, 0.4, -0.3, 0.1}
	y = make([]float64, tr.NumLeaves()*6)
	for i := range y {
		y[i] = rng.NormFloat64()
	}
	return tr, kk, root, y
}

// checkLinearFlow checks the filter on a linear flow against the dense answers for the
// data yOracle (y's missing landmarks spelled out): log h_root, zero log-weights and the
// states at z = 0 equal to the posterior means.
func checkLinearFlow(t *testing.T, tr *topology.Topology, kk, root, y, yOracle []float64, tau2 float64) {
	t.Helper()
	const n, d = 3, 2
	want, mean, _ := linearFlowOracle(t, tr, kk, n, d, root, yOracle, tau2)
	for _, exact := range []bool{false, true} {
		f := &FlowFilter{Steps: 9, ExactSteps: exact}
		require.NoError(t, f.SetData(tr, n, d, root, y))
		checkLinearFilter(t, f, constFlow{n, d, kk}, tau2, want, mean, 1e-9)
	}
}

// checkLinearFilter runs f on a linear flow and checks log h_root against the dense
// closed form want, zero log-weights, and the states at z = 0 against the dense
// posterior means (to tol).
func checkLinearFilter(t *testing.T, f *FlowFilter, fl Flow, tau2, want float64, mean []float64, tol float64) {
	t.Helper()
	require.NoError(t, f.Run(fl, tau2))
	relClose(t, want, f.LogLikelihood(), 1e-10, "log h_root")
	sum, err := f.Guide(make([]float64, f.NumNoise()))
	require.NoError(t, err)
	require.InDelta(t, 0, sum, 1e-9)
	nd := f.n * f.d
	for v := 1; v < f.t.Len(); v++ {
		for i, x := range f.State(v) {
			require.InDelta(t, mean[v*nd+i], x, tol, "node %d (steps %d, step length %v, exact steps %v)", v, f.Steps, f.StepLength, f.ExactSteps)
		}
	}
}

// checkFlowGradient compares the reverse pass of c with finite differences in k_α, k_σ,
// τ² (one-sided at τ² = 0) and a dozen noise coordinates, and returns the filter after
// Backward, the noise and the gradient (z̄, θ̄, τ̄²).
func checkFlowGradient(t *testing.T, rng *rand.Rand, c flowCase) (f *FlowFilter, z, zbar, pbar []float64, tb float64) {
	t.Helper()
	f = c.filter(t)
	anchors := f.Anchors()
	z = c.noise(rng, f, 1)
	_, err := f.Guide(z)
	require.NoError(t, err)
	p := c.params()
	zbar, pbar = make([]float64, len(z)), make([]float64, len(p)-1)
	tb, err = f.Backward(z, zbar, pbar)
	require.NoError(t, err)
	grad := append([]float64{pbar[0], pbar[1], tb}, pbar[2:]...)
	obj := func(q, zz []float64) float64 { return flowObjective(t, c, anchors, q, zz) }
	for i := range p {
		h := 1e-6 * p[i]
		pp, pm := append([]float64(nil), p...), append([]float64(nil), p...)
		pp[i] += h
		pm[i] -= h
		fd := (obj(pp, z) - obj(pm, z)) / (2 * h)
		if p[i] == 0 { // τ² ≥ 0: one-sided, second order, with a step at which the
			// tilted exact step (used for τ² > 0) has not lost its accuracy yet
			const h = 1e-6
			pp[i], pm[i] = h, 2*h
			fd = (4*obj(pp, z) - 3*obj(p, z) - obj(pm, z)) / (2 * h)
			require.InDelta(t, fd, grad[i], 1e-4*(1+math.Abs(fd)), "parameter %d (one-sided)", i)
			continue
		}
		require.InDelta(t, fd, grad[i], 1e-5*(1+math.Abs(fd)), "parameter %d", i)
	}
	nd := c.k.N * c.k.Dim
	for trial := 0; trial < 12; trial++ {
		i := c.steps*nd + rng.IntN(len(z)-c.steps*nd)
		zp, zm := append([]float64(nil), z...), append([]float64(nil), z...)
		zp[i] += 1e-6
		zm[i] -= 1e-6
		fd := (obj(p, zp) - obj(p, zm)) / 2e-6
		require.InDelta(t, fd, zbar[i], 1e-5*(1+math.Abs(fd)), "z[%d]", i)
	}
	return f, z, zbar, pbar, tb
}

// Exactly observed leaves (τ² = 0) on SDE edges, with explicit steps and with exact
// ones (whose last step is then the conditioning step): with a linear flow, log h_root
// is the dense closed form, the log-weights vanish and the states at z = 0 are the
// posterior means (the last ones equal to the observations); with the Kunita flow the
// reverse pass equals finite differences, and the same without the step cache.
func TestFlowExactLeaves(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	tr, kk, root, y := linearFlowCase(rng)
	checkLinearFlow(t, tr, kk, root, y, y, 0)
	c := newFlowCase(rng, 7, 3, 2, 6)
	c.tau2 = 0
	checkFlowGradient(t, rng, c)
	c.ex = true // the conditioning step
	for _, steps := range []int{6, 1} {
		c.steps = steps
		f, z, zbar, pbar, tb := checkFlowGradient(t, rng, c)
		checkCacheFree(t, f, z, zbar, pbar, tb)
	}
}

// inClade reports whether node u lies in the clade of v (v itself included).
func inClade(tr *topology.Topology, u, v int) bool {
	for ; u > 0; u = tr.Parent(u) {
		if u == v {
			return true
		}
	}
	return v == 0
}

// cladeRoot returns the first internal node other than the root.
func cladeRoot(tr *topology.Topology) int {
	for v := 1; v < tr.Len(); v++ {
		if !tr.IsLeaf(v) {
			return v
		}
	}
	panic("no clade")
}

// missingInClade returns a copy of the leaf data y (n landmarks in R^d per leaf) with
// landmark k missing at every leaf below node v (v = 0: at every leaf).
func missingInClade(tr *topology.Topology, y []float64, n, d, v, k int) []float64 {
	y = append([]float64(nil), y...)
	for i := range tr.NumLeaves() {
		for u := tr.Leaf(i); ; u = tr.Parent(u) {
			if u == v {
				for c := range d {
					y[i*n*d+k*d+c] = math.NaN()
				}
				break
			}
			if u == 0 {
				break
			}
		}
	}
	return y
}

// Missing landmarks (NaN) drop out of the leaf's observation-space messages: with a
// linear flow, log h_root and the states at z = 0 equal the dense Gaussian answers with
// those coordinates unobserved; with the Kunita flow the reverse pass equals finite
// differences, τ² included, also into exact leaves (τ² = 0) with exact steps.
func TestFlowMissingLandmarks(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	tr, kk, root, y := linearFlowCase(rng)
	const nd = 6
	y[2], y[3] = math.NaN(), math.NaN()                            // leaf 0, landmark 1
	y[nd+0], y[nd+1], y[nd+4] = math.NaN(), math.NaN(), math.NaN() // leaf 1: landmark 0, and 2 (one coordinate)
	yd := append([]float64(nil), y...)
	yd[nd+5] = math.NaN() // the dense oracle sees the whole landmark missing
	for _, tau2 := range []float64{0.3, 0} {
		checkLinearFlow(t, tr, kk, root, y, yd, tau2)
	}
	c := newFlowCase(rng, 7, 3, 2, 5)
	for i := 0; i < 4; i++ {
		c.y[i] = math.NaN()
	}
	checkFlowGradient(t, rng, c)
	c.ex = true
	checkFlowGradient(t, rng, c)
	c.ex = false
	c.disc = make([]bool, c.tr.Len()) // discrete edges, leaves included
	for v := 1; v < c.tr.Len(); v += 2 {
		c.disc[v] = true
	}
	c.disc[c.tr.Leaf(0)] = true
	checkFlowGradient(t, rng, c)
	c.ex = true
	checkFlowGradient(t, rng, c)

	// Exact leaves (τ² = 0) with exact steps: the conditioning step with landmarks
	// missing (leaf 0: landmarks 0 and 1; leaf 1: landmark 1, so that the observed
	// ones are not the first ones) and with none observed (leaf 2), on 5 steps and on
	// 1, with and without the time change.
	c = newFlowCase(rng, 7, 3, 2, 5)
	c.tau2, c.ex = 0, true
	for _, i := range []int{0, 1, 2, 3, 8, 9} {
		c.y[i] = math.NaN()
	}
	for i := 12; i < 18; i++ {
		c.y[i] = math.NaN()
	}
	for _, steps := range []int{5, 1} {
		for _, tc := range []bool{false, true} {
			c.steps, c.tc = steps, tc
			f, z, zbar, pbar, tb := checkFlowGradient(t, rng, c)
			checkCacheFree(t, f, z, zbar, pbar, tb)
		}
	}
	// A landmark that no leaf of a clade observes: the fused messages there leave it
	// out (fuse); the same checks, with noisy and exact leaves.
	tr, kk, root, y = linearFlowCase(rng)
	v := cladeRoot(tr)
	yc := missingInClade(tr, y, 3, 2, v, 1)
	for _, tau2 := range []float64{0.3, 0} {
		checkLinearFlow(t, tr, kk, root, yc, yc, tau2)
		// A landmark that no leaf observes at all, and a clade that observes nothing.
		ya := missingInClade(tr, y, 3, 2, 0, 2)
		checkLinearFlow(t, tr, kk, root, ya, ya, tau2)
		yn := missingInClade(tr, missingInClade(tr, yc, 3, 2, v, 0), 3, 2, v, 2)
		checkLinearFlow(t, tr, kk, root, yn, yn, tau2)
	}
	cc := newFlowCase(rng, 7, 3, 2, 4)
	cc.y = missingInClade(cc.tr, cc.y, 3, 2, cladeRoot(cc.tr), 0)
	for mode := range 4 { // explicit, semi-implicit, exact, exact with discrete edges
		if mode == 3 {
			cc.disc = make([]bool, cc.tr.Len())
			for v := 1; v < cc.tr.Len(); v += 2 {
				cc.disc[v] = true
			}
		}
		for _, tau2 := range []float64{0.01, 0} {
			cc.si, cc.ex, cc.tau2 = mode == 1, mode >= 2, tau2
			checkFlowGradient(t, rng, cc)
		}
	}
	f := cc.filter(t)
	before := f.Anchors()
	require.NoError(t, FlowAnchors(f, KunitaFlow(cc.k), 0.01, 2))
	after := f.Anchors()
	for i, a := range after {
		require.False(t, math.IsNaN(a) || math.IsInf(a, 0), "refined anchors")
		v, k := i/6, i%6/2
		if k == 0 && v != 0 && !cc.tr.IsLeaf(v) && inClade(cc.tr, v, cladeRoot(cc.tr)) {
			require.Equal(t, before[i], a, "node %d keeps its anchor for the unobserved landmark", v)
		} else if !cc.tr.IsLeaf(v) && v != 0 {
			require.NotEqual(t, before[i], a, "node %d, coordinate %d is refined", v, i%6)
		}
	}

	// The same data on discrete edges (every other one, and the three leaves'), which
	// are conditioned on the exact leaves too.
	c.disc = make([]bool, c.tr.Len())
	for v := 1; v < c.tr.Len(); v += 2 {
		c.disc[v] = true
	}
	for i := range 3 {
		c.disc[c.tr.Leaf(i)] = true
	}
	f, z, zbar, pbar, tb := checkFlowGradient(t, rng, c)
	checkCacheFree(t, f, z, zbar, pbar, tb)
}

// The conditioning step draws a leaf's missing landmarks from their exact conditional:
// on a linear flow with τ² = 0 (proxy = truth, so every weight is 0 and the guided
// draws are posterior draws), their sample mean and variance match the dense posterior
// within 4 Monte Carlo standard errors, and their covariance given the rest of the
// path is the Gaussian conditional's.
func TestFlowConditionedDraw(t *testing.T) {
	rng := rand.New(rand.NewPCG(93, 94))
	tr, kk, root, y := linearFlowCase(rng)
	const n, d = 3, 2
	y[2], y[3] = math.NaN(), math.NaN() // leaf 0, landmark 1
	_, mean, cov := linearFlowOracle(t, tr, kk, n, d, root, y, 0)
	N := tr.Len() * n * d
	require.Len(t, cov, N*N)
	f := &FlowFilter{Steps: 4, ExactSteps: true}
	require.NoError(t, f.SetData(tr, n, d, root, y))
	require.NoError(t, f.Run(constFlow{n, d, kk}, 0))
	v := tr.Leaf(0)
	const draws = 4000
	var sum, sumSq [2]float64
	z := make([]float64, f.NumNoise())
	for range draws {
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		lw, err := f.Guide(z)
		require.NoError(t, err)
		require.InDelta(t, 0, lw, 1e-9)
		x := f.State(v)
		require.Equal(t, y[4:6], x[4:6], "an observed landmark")
		for c := range 2 {
			sum[c] += x[2+c]
			sumSq[c] += x[2+c] * x[2+c]
		}
	}
	for c := range 2 {
		k := v*n*d + 2 + c
		m := sum[c] / draws
		s2 := sumSq[c]/draws - m*m
		want := cov[k*N+k]
		require.Greater(t, want, 1e-3, "the oracle's variance")
		require.InDelta(t, mean[k], m, 4*math.Sqrt(want/draws), "mean of coordinate %d", c)
		require.InDelta(t, want, s2, 4*want*math.Sqrt(2.0/draws), "variance of coordinate %d", c)
	}

	// Deterministically: the missing landmark is affine in the last step's noise, with
	// Jacobian A, and AA' must be that step's conditional covariance
	// dt·(K₁₁ − K₁ₒK_OO⁻¹Kₒ₁) ⊗ I₂, O = {0, 2}.
	k00, k02, k22, k10, k12 := kk[0], kk[2], kk[8], kk[3], kk[5]
	schur := kk[4] - (k10*(k22*k10-k02*k12)+k12*(k00*k12-k02*k10))/(k00*k22-k02*k02)
	dt := tr.BranchLength(v) / 4
	block := f.NoiseBlock(z, v)[3*n*d:]
	clear(z)
	_, err := f.Guide(z)
	require.NoError(t, err)
	x0 := append([]float64(nil), f.State(v)[2:4]...)
	var A [2][n * d]float64
	for j := range block {
		block[j] = 1
		_, err := f.Guide(z)
		require.NoError(t, err)
		block[j] = 0
		for c := range 2 {
			A[c][j] = f.State(v)[2+c] - x0[c]
		}
	}
	for a := range 2 {
		for b := range 2 {
			want := 0.0
			if a == b {
				want = dt * schur
			}
			require.InDelta(t, want, floats.Dot(A[a][:], A[b][:]), 1e-12, "AA'[%d][%d]", a, b)
		}
	}
}

// With exact leaf observations (τ² = 0) the conditioning step keeps the exact-step
// estimator E_q[Π_v w_v]·h̃_root unbiased for p(y) of the discretised flow: it agrees
// with the independent bootstrap estimate on the two-landmark tree, whose leaves here
// keep the landmarks' order (in 1D the flow cannot swap them, so swapped data have a
// density that vanishes as the steps shrink, and estimates of it have no useful
// precision). The auxiliary alone gives a different answer, so the check has power.
func TestFlowConditionedEvidence(t *testing.T) {
	if testing.Short() {
		t.Skip("Monte Carlo")
	}
	tr, k, root, _, _ := twoLandmarkProblem(t)
	y := []float64{0.1, 0.6, -0.2, 0.4, 0.2, 0.8}
	const steps = 5
	f := &FlowFilter{Steps: steps, ExactSteps: true}
	require.NoError(t, f.SetData(tr, 2, 1, root, y))
	require.NoError(t, f.Run(KunitaFlow(k), 0))
	guided, seG := guidedEvidence(t, f, rand.New(rand.NewPCG(25, 26)), 20_000)
	boot, seB := bootstrapEvidence(t, tr, k, root, y, 0, steps, nil, rand.New(rand.NewPCG(27, 28)), 400_000)
	aux := math.Exp(f.LogLikelihood())
	t.Logf("p(y) at τ² = 0: guided %.5g ± %.2g, bootstrap %.5g ± %.2g, h̃_root %.5g", guided, seG, boot, seB, aux)
	require.InDelta(t, boot, guided, 4*math.Hypot(seG, seB))
	require.Greater(t, math.Abs(aux-boot), 4*math.Hypot(seG, seB))
}
