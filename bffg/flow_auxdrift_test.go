package bffg

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distmv"

	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
)

// auxDriftFlow is driftFlow with the auxiliary drift −λ̃(x − μ̃), λ̃ = rate·λ and
// μ̃ = (1 + shift·λ)μ, so that both depend on θ = (k_α, k_σ, λ).
type auxDriftFlow struct {
	driftFlow
	rate, shift float64
	muAux       []float64
}

func newAuxDriftFlow(f driftFlow, rate, shift float64) auxDriftFlow {
	mu := make([]float64, len(f.mu))
	for i, e := range f.mu {
		mu[i] = (1 + shift*f.lambda) * e
	}
	return auxDriftFlow{driftFlow: f, rate: rate, shift: shift, muAux: mu}
}

func (f auxDriftFlow) AuxDrift() (float64, []float64) { return f.rate * f.lambda, f.muAux }

func (f auxDriftFlow) AuxDriftVJPTo(pbar []float64, lb float64, mb []float64) {
	pbar[2] += f.rate * lb
	for i, e := range f.mu {
		pbar[2] += f.shift * e * mb[i]
	}
}

// The weights of Q_j and φ equal quadrature of their integrals, in the series and the
// closed-form regimes of expMoments and at λ = 0 (where they are edgeWeights'), and
// their λ-derivatives equal finite differences.
func TestAuxWeights(t *testing.T) {
	quad := func(T, tj, lam float64) (q0, qT float64) {
		// Composite Simpson on [t_j, T] of e^{−2λ(T−s)}(1 − s/T) and e^{−2λ(T−s)}s/T.
		const m = 20000
		h := (T - tj) / m
		for i := 0; i <= m; i++ {
			s := tj + float64(i)*h
			c := 2.0
			if i == 0 || i == m {
				c = 1
			} else if i%2 == 1 {
				c = 4
			}
			e := math.Exp(-2 * lam * (T - s))
			q0 += c * e * (1 - s/T)
			qT += c * e * s / T
		}
		return q0 * h / 3, qT * h / 3
	}
	for _, c := range [][3]float64{{1, 0, 0.7}, {1, 0.3, 1e-4}, {2.5, 1, 3}, {0.4, 0.1, 40}, {1, 0.999, 2}, {3, 0, 0.08}} {
		T, tj, lam := c[0], c[1], c[2]
		a := auxWeights(T, tj, lam)
		w0, wT := quad(T, tj, lam)
		require.InDelta(t, w0, a.q0, 1e-13*T, "q0 %v", c)
		require.InDelta(t, wT, a.qT, 1e-13*T, "qT %v", c)
		require.InDelta(t, math.Exp(-lam*(T-tj)), a.phi, 1e-15)
		require.InDelta(t, 1-a.phi, a.psi, 1e-15)
		const h = 1e-6
		p, m := auxWeights(T, tj, lam+h), auxWeights(T, tj, lam-h)
		require.InDelta(t, (p.q0-m.q0)/(2*h), a.dq0, 1e-7, "dq0 %v", c)
		require.InDelta(t, (p.qT-m.qT)/(2*h), a.dqT, 1e-7, "dqT %v", c)
		require.InDelta(t, (p.phi-m.phi)/(2*h), a.dphi, 1e-8, "dφ %v", c)
		_, e0, eT := edgeWeights(T, tj)
		z := auxWeights(T, tj, 0)
		require.InDelta(t, e0, z.q0, 1e-15)
		require.InDelta(t, eT, z.qT, 1e-15)
	}
}

// ouOracle returns the dense log-likelihood of the OU flow on tr with its root fixed:
// each edge is the exact transition X_v = μ + φ(X_pa − μ) + N(0, (1 − φ²)/(2λ)·K ⊗ I_d),
// φ = e^{−λT}.
func ouOracle(t *testing.T, tr *topology.Topology, fl constFlow, lambda float64, mu, root, y []float64, tau2 float64) float64 {
	D := fl.n * fl.d
	a := sde.KronTo(make([]float64, D*D), fl.k, fl.n, fl.d)
	proxy := ProxyFunc(func(v int, _, A, b, Q []float64) {
		T := tr.BranchLength(v)
		phi := math.Exp(-lambda * T)
		setIdentity(A, D)
		for i := range A {
			A[i] *= phi
		}
		for i := range b {
			b[i] = (1 - phi) * mu[i]
		}
		for i := range Q {
			Q[i] = a[i] * -math.Expm1(-2*lambda*T) / (2 * lambda)
		}
	})
	ll, err := DenseLogLikelihood(tr, proxy, Obs{Y: y, Var: tau2}, Root{Mean: root})
	require.NoError(t, err)
	return ll
}

// With the OU flow (MeanReverting with a constant K) as its own auxiliary (proxy = truth, including the drift), log h_root
// equals the dense closed form of the OU transitions on any grid, and with explicit or
// semi-implicit steps every log-weight is 0 for any noise. The driftless auxiliary
// gives non-zero weights on the same pass, so the check has power.
func TestFlowAuxDriftProxyIsTruth(t *testing.T) {
	rng := rand.New(rand.NewPCG(61, 62))
	tr, kk, root, y := linearFlowCase(rng)
	const n, d, tau2 = 3, 2, 0.05
	mu := []float64{1, 0.5, -0.5, 0.2, 0, -1}
	const lambda = 1.7
	fl := MeanReverting(constFlow{n, d, kk}, lambda, mu)
	want := ouOracle(t, tr, constFlow{n, d, kk}, lambda, mu, root, y, tau2)
	for k, m := range []int{1, 8, 8, 30} {
		f := &FlowFilter{Steps: m, TimeChange: k == 2, SemiImplicit: k == 3}
		require.NoError(t, f.SetData(tr, n, d, root, y))
		require.NoError(t, f.Run(fl, tau2))
		relClose(t, want, f.LogLikelihood(), 1e-11, "log h_root")
		z := make([]float64, f.NumNoise())
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		sum, err := f.Guide(z)
		require.NoError(t, err)
		require.InDelta(t, 0, sum, 1e-10, "Σ log w (steps %d)", m)
		for _, lw := range f.LogWeights() {
			require.InDelta(t, 0, lw, 1e-11)
		}
		// The same pass with the driftless auxiliary.
		g := &FlowFilter{Steps: m, TimeChange: k == 2, SemiImplicit: k == 3}
		require.NoError(t, g.SetData(tr, n, d, root, y))
		require.NoError(t, g.Run(driftOnly{fl, fl.(Drifter)}, tau2))
		sum, err = g.Guide(z)
		require.NoError(t, err)
		require.Greater(t, math.Abs(sum), 0.1, "driftless auxiliary (steps %d)", m)
	}
	// Exactly observed leaves.
	want = ouOracle(t, tr, constFlow{n, d, kk}, lambda, mu, root, y, 0)
	f := &FlowFilter{Steps: 5}
	require.NoError(t, f.SetData(tr, n, d, root, y))
	require.NoError(t, f.Run(fl, 0))
	relClose(t, want, f.LogLikelihood(), 1e-11, "log h_root, τ² = 0")
}

// driftOnly is a Flow and Drifter without the AuxDrifter.
type driftOnly struct {
	Flow
	Drifter
}

// The factorised filter with an auxiliary drift agrees with SDEFilter's full D×D
// computation with the same linear auxiliary (B = −λ̃I, β = λ̃μ̃, ã interpolated
// between the anchors), whose messages RK4 solves on the grid: log h_root, every
// log-weight and every state agree to RK4's error, which falls at fourth order (about
// 2e−5 with 200 steps per edge, 6e−8 with 800, also on the driftless auxiliary where
// FlowFilter is closed-form too).
func TestFlowAuxDriftMatchesFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(63, 64))
	c := newFlowCase(rng, 6, 3, 2, 0)
	c.drift = 0.9
	truth := c.flowAt(c.params()).(driftFlow)
	D := c.k.N * c.k.Dim
	for _, aux := range []bool{false, true} {
		var flow Flow = truth
		lam, mu := 0.0, make([]float64, D)
		if aux {
			a := newAuxDriftFlow(truth, 1.3, 0.4)
			flow = a
			lam, mu = a.AuxDrift()
		}
		var errs []float64
		for _, steps := range []int{200, 800} {
			f := &FlowFilter{Steps: steps}
			require.NoError(t, f.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
			require.NoError(t, f.Run(flow, c.tau2))
			f.Refine()
			require.NoError(t, f.Run(flow, c.tau2))
			anchors := f.Anchors()
			g := SDEFilter{Steps: steps}
			g.SetAnchors(c.tr, anchors)
			linear := func(v int) sde.Auxiliary {
				p := c.tr.Parent(v)
				a0, aT := make([]float64, D*D), make([]float64, D*D)
				require.NoError(t, kunitaAux{c.k}.AuxCovariances(v, anchors[p*D:(p+1)*D], anchors[v*D:(v+1)*D], a0, aT))
				return linearAux{sde.Interpolated{D: D, T: c.tr.BranchLength(v), A0: a0, AT: aT}, lam, mu}
			}
			require.NoError(t, g.RunRK4(c.tr, linear, Obs{Y: c.y, Var: c.tau2}))
			errs = append(errs, math.Abs(g.LogLikelihood(c.root)-f.LogLikelihood()))
			if steps < 800 {
				continue
			}
			checkGuideMatchesFull(t, c, f, &g, truth, c.noise(rng, f, 1), 1e-6, 1e-6)
		}
		t.Logf("auxiliary drift %v: |Δ log h_root| %.3g (200 steps), %.3g (800)", aux, errs[0], errs[1])
		require.Less(t, errs[1], 2e-7)
		require.Greater(t, errs[0]/errs[1], 50.0, "fourth order")
	}
}

// linearAux is an interpolated auxiliary with the drift −λ(x − μ).
type linearAux struct {
	sde.Interpolated
	lam float64
	mu  []float64
}

func (a linearAux) CoefficientsTo(B, beta, q []float64, t float64) {
	a.Interpolated.CoefficientsTo(B, beta, q, t)
	for i := 0; i < a.D; i++ {
		B[i*a.D+i] = -a.lam
		beta[i] = a.lam * a.mu[i]
	}
}

// With an auxiliary drift whose λ̃ and μ̃ depend on θ, the reverse pass equals central
// finite differences in z, θ and τ²: explicit steps on uniform and time-changed grids
// (with discrete edges), semi-implicit steps, exact steps (with discrete edges,
// missing landmarks and into exactly observed tips), and the same without the step
// cache. The auxiliary drift changes the result (the check has power).
func TestFlowAuxDriftGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(65, 66))
	for k, dims := range [][2]int{{3, 2}, {4, 1}, {3, 2}, {3, 2}, {4, 1}, {3, 2}, {4, 2}} {
		c := newFlowCase(rng, 7, dims[0], dims[1], 4)
		c.drift = 0.8
		c.aux = true
		c.tc = k == 1 || k == 4
		c.si = k == 2
		c.ex = k >= 3
		if k == 5 || k == 6 {
			c.tau2 = 0 // the conditioning step into exact tips
		}
		if k == 6 { // missing landmarks, steps set by a step length
			c.sl = 0.2
			c.missLandmarks()
		}
		if k == 1 || k == 4 {
			c.discreteEvery()
		}
		f, z, zbar, pbar, tb := checkFlowGradient(t, rng, c)
		checkCacheFree(t, f, z, zbar, pbar, tb)
		// Without the auxiliary drift (same anchors and noise) the value differs.
		withAux := f.LogLikelihood()
		c.aux = false
		g := c.newFilter()
		require.NoError(t, g.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
		g.SetAnchors(f.Anchors())
		require.NoError(t, g.Run(c.flowAt(c.params()), c.tau2))
		require.Greater(t, math.Abs(g.LogLikelihood()-withAux), 1e-3, "case %d", k)
	}
}

// A bad auxiliary drift is refused by Run with an error that names it.
func TestFlowAuxDriftBad(t *testing.T) {
	rng := rand.New(rand.NewPCG(67, 68))
	c := newFlowCase(rng, 5, 3, 2, 4)
	c.drift = 0.5
	f := &FlowFilter{Steps: 4}
	require.NoError(t, f.SetData(c.tr, 3, 2, c.root, c.y))
	base := c.flowAt(c.params()).(driftFlow)
	for _, tc := range []struct {
		lam  float64
		mu   []float64
		want string
	}{
		{-1, nil, "λ = -1"},
		{math.NaN(), nil, "λ = NaN"},
		{1, make([]float64, 5), "5 values, want 6"},
		{math.Inf(1), nil, "λ = +Inf"},
		{1, []float64{0, 0, math.Inf(1), 0, 0, 0}, "centre"},
	} {
		err := f.Run(badAux{base, tc.lam, tc.mu}, c.tau2)
		require.ErrorContains(t, err, tc.want)
	}
}

type badAux struct {
	driftFlow
	lam float64
	mu  []float64
}

func (b badAux) AuxDrift() (float64, []float64)            { return b.lam, b.mu }
func (badAux) AuxDriftVJPTo([]float64, float64, []float64) {}

// FlowPotential on the mean-reverting Kunita flow, θ = (k_α, k_σ, λ) and τ² in logs:
// the gradient equals central finite differences of the value, with exact steps
// (canopy's shape model) and with explicit ones.
func TestMeanRevertingPotentialGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(69, 70))
	c := newFlowCase(rng, 7, 3, 2, 5)
	for _, exact := range []bool{false, true} {
		c.ex = exact
		f := c.filter(t)
		p := &FlowPotential{Filter: f, NumFlowParams: 3, EstimateNoise: true,
			NewFlow: func(th []float64) (Flow, error) {
				k := c.k
				k.KAlpha, k.KSigma = th[0], th[1]
				return MeanReverting(KunitaFlow(k), th[2], c.root), nil
			},
			Priors: []Prior{LogInvGamma{2, 0.5}, LogInvGamma{3, 2}, Normal{0, 1}, Normal{-4, 2}}}
		q := make([]float64, p.Dim())
		q[0], q[1], q[2], q[3] = math.Log(0.1), math.Log(0.5), math.Log(2), math.Log(0.02)
		for i := 4; i < len(q); i++ {
			q[i] = rng.NormFloat64()
		}
		require.NoError(t, p.Check(q))
		grad := make([]float64, len(q))
		p.LogDensityGrad(q, grad)
		for _, i := range []int{0, 1, 2, 3, 4 + c.steps*6, len(q) - 1, len(q) / 2} {
			qp, qm := append([]float64(nil), q...), append([]float64(nil), q...)
			qp[i] += 1e-6
			qm[i] -= 1e-6
			fd := (p.LogDensity(qp) - p.LogDensity(qm)) / 2e-6
			require.InDelta(t, fd, grad[i], 1e-5*(1+math.Abs(fd)), "coordinate %d (exact steps %v)", i, exact)
		}
	}
}

// At λ̃ = 0 the messages are the driftless ones but their derivative in λ̃ is not zero:
// the reverse pass equals a one-sided finite difference there (and central ones near
// it). A later Run whose μ is nil uses μ = 0, not the previous μ.
func TestFlowAuxDriftAtZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	c := newFlowCase(rng, 7, 3, 2, 4)
	c.drift = 0.8
	base := c.flowAt(c.params()).(driftFlow)
	f := c.filter(t)
	anchors := f.Anchors()
	z := c.noise(rng, f, 1)
	run := func(lam float64, mu []float64) *FlowFilter {
		g := &FlowFilter{Steps: c.steps}
		require.NoError(t, g.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
		g.SetAnchors(anchors)
		require.NoError(t, g.Run(badAux{base, lam, mu}, c.tau2))
		_, err := g.Guide(z)
		require.NoError(t, err)
		return g
	}
	obj := func(lam float64) float64 {
		g := run(lam, base.mu)
		return g.LogLikelihood() + sum(g.LogWeights())
	}
	// λ̄ reaches AuxDriftVJPTo; recordAux passes it on.
	for _, lam := range []float64{0, 0.3} {
		g := &FlowFilter{Steps: c.steps}
		require.NoError(t, g.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
		g.SetAnchors(anchors)
		require.NoError(t, g.Run(recordAux{badAux{base, lam, base.mu}}, c.tau2))
		_, err := g.Guide(z)
		require.NoError(t, err)
		pbar := make([]float64, 4)
		_, err = g.Backward(z, make([]float64, len(z)), pbar)
		require.NoError(t, err)
		lambar := pbar[3]
		const h = 1e-6
		var fd float64
		if lam == 0 { // one-sided, second order: λ̃ ≥ 0
			fd = (4*obj(h) - 3*obj(0) - obj(2*h)) / (2 * h)
		} else {
			fd = (obj(lam+h) - obj(lam-h)) / (2 * h)
		}
		require.NotZero(t, lambar)
		require.InDelta(t, fd, lambar, 1e-4*(1+math.Abs(fd)), "λ̃ = %v", lam)
	}
	// A nil μ after a non-zero one.
	g := run(0.5, base.mu)
	withMu := g.LogLikelihood()
	require.NoError(t, g.Run(badAux{base, 0.5, nil}, c.tau2))
	fresh := run(0.5, make([]float64, len(base.mu)))
	require.NotEqual(t, withMu, g.LogLikelihood())
	require.Equal(t, fresh.LogLikelihood(), g.LogLikelihood())
}

// recordAux passes λ̄ of AuxDriftVJPTo into an extra parameter, θ[3] (the reverse pass
// calls it concurrently for different edges, each with its own θ̄).
type recordAux struct{ badAux }

func (recordAux) NumParams() int                                        { return 4 }
func (recordAux) AuxDriftVJPTo(pbar []float64, lb float64, _ []float64) { pbar[3] += lb }

func sum(x []float64) float64 {
	s := 0.0
	for _, e := range x {
		s += e
	}
	return s
}

// A rate so large that φ = e^{−λ(T−t)} is negligible on some edges: Run, Guide and
// Backward succeed with finite results, explicit and exact steps (at rates where φ
// underflowed to tiny values, fusion once reported a zero precision with non-zero
// information); where φ = 0 on every edge, log h_root is the closed form of leaves
// independent of their ancestors.
func TestFlowAuxDriftLargeRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(73, 74))
	c := newFlowCase(rng, 7, 3, 2, 20)
	c.drift = 0.8
	base := c.flowAt(c.params()).(driftFlow)
	for _, ex := range []bool{false, true} {
		for _, rate := range []float64{300, 400, 900, 1e4} {
			f := &FlowFilter{Steps: c.steps, ExactSteps: ex}
			require.NoError(t, f.SetData(c.tr, c.k.N, c.k.Dim, c.root, c.y))
			require.NoError(t, f.Run(newAuxDriftFlow(base, rate, 0.4), c.tau2), "rate %v", rate)
			z := c.noise(rng, f, 1)
			lw, err := f.Guide(z)
			require.NoError(t, err)
			zb, pb := make([]float64, len(z)), make([]float64, 3)
			tb, err := f.Backward(z, zb, pb)
			require.NoError(t, err)
			require.NoError(t, checkFinite(append(append(pb, tb, lw, f.LogLikelihood()), zb...)))
			if rate == 1e4 {
				// φ = 0 on every edge: each node forgets its parent, and log h_root is
				// Σ_leaves log N(y_i; μ̃, (Q_i + τ²I) ⊗ I_d), Q_i the auxiliary's
				// covariance over the whole leaf edge.
				require.InDelta(t, largeRateLogH(t, c, newAuxDriftFlow(base, rate, 0.4), f.Anchors()), f.LogLikelihood(), 1e-9)
			}
		}
	}
}

// largeRateLogH returns the auxiliary's log-likelihood of c's leaves when the drift
// a makes every edge forget its start (λT > 200 on every edge).
func largeRateLogH(t *testing.T, c flowCase, a auxDriftFlow, anchors []float64) float64 {
	t.Helper()
	n, d := c.k.N, c.k.Dim
	nd := n * d
	lam, mu := a.AuxDrift()
	ll := 0.0
	for i := 0; i < c.tr.NumLeaves(); i++ {
		v := c.tr.Leaf(i)
		T := c.tr.BranchLength(v)
		require.Greater(t, lam*T, 200.0, "leaf %d", i)
		p := c.tr.Parent(v)
		a0, aT := make([]float64, n*n), make([]float64, n*n)
		c.k.JitteredKernelTo(a0, anchors[p*nd:(p+1)*nd])
		c.k.JitteredKernelTo(aT, anchors[v*nd:(v+1)*nd])
		// Q = ∫_0^T e^{−k(T−s)}ã(s)ds with k = 2λ, ã linear from a0 to aT; e^{−kT}
		// terms vanish: Q = aT/k − (aT − a0)/(k²T).
		k := 2 * lam
		q0, qT := 1/(k*k*T), 1/k-1/(k*k*T)
		cov := mat.NewSymDense(n, nil)
		for r := 0; r < n; r++ {
			for q := 0; q < n; q++ {
				cov.SetSym(r, q, q0*a0[r*n+q]+qT*aT[r*n+q])
			}
			cov.SetSym(r, r, cov.At(r, r)+c.tau2)
		}
		dist, ok := distmv.NewNormal(make([]float64, n), cov, nil)
		require.True(t, ok)
		for l := 0; l < d; l++ {
			e := make([]float64, n)
			for r := range e {
				e[r] = c.y[i*nd+r*d+l] - mu[r*d+l]
			}
			ll += dist.LogProb(e)
		}
	}
	return ll
}
