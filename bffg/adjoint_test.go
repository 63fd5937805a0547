package bffg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/topology"
)

// paramProxy is a linear-Gaussian proxy with random per-edge matrices and three global
// parameters θ = (α, β, γ): A_v = A0_v + α·A1_v, b_v = b0_v + β·b1_v, Q_v = e^γ·Q0_v.
// Its derivatives touch every entry of Ā, b̄ and Q̄.
type paramProxy struct {
	d                      int
	theta                  []float64
	A0, A1, b0, b1, Q0     [][]float64
	nonlinear              bool // as a kernel: mean += 0.2 sin(x), cov ×(1 + 0.3|x|²)
	tree                   *topology.Topology
	proxyOnlyForTransition bool
}

func newParamProxy(rng *rand.Rand, t *topology.Topology, d int) *paramProxy {
	p := &paramProxy{d: d, theta: []float64{0.3, -0.4, 0.2}, tree: t}
	for v := 0; v < t.Len(); v++ {
		A0, A1 := make([]float64, d*d), make([]float64, d*d)
		for i := range A0 {
			A0[i] = 0.2 * rng.NormFloat64()
			A1[i] = 0.3 * rng.NormFloat64()
		}
		for i := 0; i < d; i++ {
			A0[i*d+i] += 1
		}
		b0, b1 := make([]float64, d), make([]float64, d)
		for i := range b0 {
			b0[i], b1[i] = rng.NormFloat64(), rng.NormFloat64()
		}
		p.A0, p.A1, p.b0, p.b1 = append(p.A0, A0), append(p.A1, A1), append(p.b0, b0), append(p.b1, b1)
		p.Q0 = append(p.Q0, randomSPD(rng, d, t.BranchLength(v)))
	}
	return p
}

func (p *paramProxy) NumParams() int { return 3 }

func (p *paramProxy) Proxy(v int, _, A, b, Q []float64) {
	for i := range A[:p.d*p.d] {
		A[i] = p.A0[v][i] + p.theta[0]*p.A1[v][i]
		Q[i] = math.Exp(p.theta[2]) * p.Q0[v][i]
	}
	for i := range b[:p.d] {
		b[i] = p.b0[v][i] + p.theta[1]*p.b1[v][i]
	}
}

func (p *paramProxy) ProxyVJP(v int, _, Abar, bbar, Qbar, grad []float64) {
	grad[0] += dot(Abar[:p.d*p.d], p.A1[v])
	grad[1] += dot(bbar[:p.d], p.b1[v])
	grad[2] += math.Exp(p.theta[2]) * dot(Qbar[:p.d*p.d], p.Q0[v])
}

// kernel is the true transition: the proxy, made nonlinear when p.nonlinear is set.
type paramKernel struct{ *paramProxy }

func (k paramKernel) Transition(v int, x, mean, cov []float64) {
	d := k.d
	A, b := make([]float64, d*d), make([]float64, d)
	k.Proxy(v, nil, A, b, cov)
	mulVec(mean, A, d, d, x)
	addScaled(mean, 1, b)
	if k.nonlinear {
		s := 1 + 0.3*dot(x, x)
		for i := range x {
			mean[i] += 0.2 * math.Sin(x[i])
		}
		for i := range cov[:d*d] {
			cov[i] *= s
		}
	}
}

func (k paramKernel) TransitionVJP(v int, x, meanBar, covBar, xbar, grad []float64) {
	d := k.d
	A, b, Q := make([]float64, d*d), make([]float64, d), make([]float64, d*d)
	k.Proxy(v, nil, A, b, Q)
	s := 1.0
	if k.nonlinear {
		s = 1 + 0.3*dot(x, x)
		for i := range x {
			xbar[i] += 0.2 * math.Cos(x[i]) * meanBar[i]
		}
		qq := dot(covBar[:d*d], Q) // Σ Q̄ ∂cov/∂s with cov = sQ
		for i := range x {
			xbar[i] += qq * 0.6 * x[i]
		}
	}
	mulTVec(b, A, d, d, meanBar)
	addScaled(xbar, 1, b)
	// Parameters: mean = (A0 + αA1)x + b0 + βb1, cov = s·e^γ Q0.
	Ax := make([]float64, d)
	mulVec(Ax, k.A1[v], d, d, x)
	grad[0] += dot(meanBar, Ax)
	grad[1] += dot(meanBar, k.b1[v])
	grad[2] += s * dot(covBar[:d*d], Q)
}

type gradCase struct {
	name      string
	d         int
	nonlinear bool
	truthNil  bool
	obs       string // "var", "leafvar", "cov"
	root      string // "fixed", "prior"
}

// objective evaluates J = wbar·(log g + Σ log w) + Σ xbar'x for the given parameters.
type objective struct {
	t    *topology.Topology
	p    *paramProxy
	obs  Obs
	root Root
	z    []float64
	xbar []float64
	wbar float64
	c    gradCase
}

func (o *objective) eval() (float64, *Filter, []float64) {
	var f Filter
	if err := f.Run(o.t, o.p, o.obs); err != nil {
		panic(err)
	}
	ll, err := f.LogLikelihood(o.root)
	if err != nil {
		panic(err)
	}
	n := o.t.Len()
	d := o.c.d
	x, lw := make([]float64, n*d), make([]float64, n)
	var k Kernel
	if !o.c.truthNil {
		k = paramKernel{o.p}
	}
	sw, err := f.Guide(k, o.root, o.z, x, lw)
	if err != nil {
		panic(err)
	}
	return o.wbar*(ll+sw) + dot(o.xbar, x), &f, x
}

// fd returns the central finite difference of o.eval with respect to *p.
func (o *objective) fd(p *float64) float64 {
	h := 1e-6 * (1 + math.Abs(*p))
	old := *p
	*p = old + h
	jp, _, _ := o.eval()
	*p = old - h
	jm, _, _ := o.eval()
	*p = old
	return (jp - jm) / (2 * h)
}

func checkGrad(t *testing.T, name string, fd, adj float64) {
	t.Helper()
	if math.Abs(fd-adj) > 1e-6*math.Max(1, math.Abs(fd)) {
		t.Errorf("%s: adjoint %.10g, finite difference %.10g", name, adj, fd)
	}
}

// TestBackwardMatchesFiniteDifferences checks every component of Backward's gradient
// against central finite differences on random trees with polytomies, unequal branch
// lengths, a zero-length edge, unobserved leaves and missing values, d = 1 and 2,
// proxy = truth and a nonlinear truth, fixed root and Gaussian root prior.
func TestBackwardMatchesFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	var cases []gradCase
	for _, d := range []int{1, 2} {
		for _, obs := range []string{"var", "leafvar", "cov"} {
			for _, root := range []string{"fixed", "prior"} {
				cases = append(cases,
					gradCase{fmt.Sprintf("d=%d/%s/%s/truth=proxy", d, obs, root), d, false, true, obs, root},
					gradCase{fmt.Sprintf("d=%d/%s/%s/nonlinear", d, obs, root), d, true, false, obs, root})
			}
		}
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := randomTree(rng, 16, true)
			d := c.d
			p := newParamProxy(rng, tr, d)
			p.nonlinear = c.nonlinear
			y := randomObs(rng, tr, d)
			y[d] = math.NaN() // leaf 1: missing coordinate (unobserved when d = 1)
			var obs Obs
			switch c.obs {
			case "var":
				obs = Obs{Y: y, Var: 0.3}
			case "leafvar":
				lv := make([]float64, tr.NumLeaves())
				for i := range lv {
					lv[i] = 0.1 + 0.5*rng.Float64()
				}
				obs = Obs{Y: y, LeafVar: lv}
			case "cov":
				obs = Obs{Y: y, Cov: randomSPD(rng, d, 0.4)}
			}
			root := Root{Mean: randomObs(rng, tr, d)[:d]}
			if c.root == "prior" {
				root.Cov = randomSPD(rng, d, 1)
			}
			n := tr.Len()
			z, xbar := make([]float64, n*d), make([]float64, n*d)
			for i := range z {
				z[i] = rng.NormFloat64()
				xbar[i] = rng.NormFloat64()
			}
			o := &objective{t: tr, p: p, obs: obs, root: root, z: z, xbar: xbar, wbar: 1.3, c: c}
			_, f, x := o.eval()
			var k Kernel
			if !c.truthNil {
				k = paramKernel{p}
			}
			var g Gradient
			require.NoError(t, f.Backward(k, root, z, x, o.wbar, xbar, &g))
			for i := range p.theta {
				checkGrad(t, fmt.Sprintf("theta[%d]", i), o.fd(&p.theta[i]), g.Params[i])
			}
			for _, i := range []int{0, 1, d, n*d/2 + 1, n*d - 1} {
				checkGrad(t, fmt.Sprintf("z[%d]", i), o.fd(&z[i]), g.Z[i])
			}
			switch c.obs {
			case "var":
				checkGrad(t, "Var", o.fd(&o.obs.Var), g.NoiseVar)
			case "leafvar":
				for _, i := range []int{0, 1, tr.NumLeaves() - 1} {
					checkGrad(t, fmt.Sprintf("LeafVar[%d]", i), o.fd(&o.obs.LeafVar[i]), g.LeafVar[i])
				}
			case "cov":
				// Perturb R symmetrically: the derivative along E_ij + E_ji is G_ij + G_ji.
				for i := 0; i < d; i++ {
					for j := 0; j <= i; j++ {
						want := g.NoiseCov[i*d+j] + g.NoiseCov[j*d+i]
						if i == j {
							want = g.NoiseCov[i*d+i]
						}
						checkGrad(t, fmt.Sprintf("Cov[%d,%d]", i, j), o.fdSym(o.obs.Cov, i, j), want)
					}
				}
			}
			for i := 0; i < d; i++ {
				checkGrad(t, fmt.Sprintf("RootMean[%d]", i), o.fd(&root.Mean[i]), g.RootMean[i])
			}
			if root.Cov != nil {
				for i := 0; i < d; i++ {
					for j := 0; j <= i; j++ {
						want := g.RootCov[i*d+j] + g.RootCov[j*d+i]
						if i == j {
							want = g.RootCov[i*d+i]
						}
						checkGrad(t, fmt.Sprintf("RootCov[%d,%d]", i, j), o.fdSym(root.Cov, i, j), want)
					}
				}
			}
		})
	}
}

// fdSym is the central difference along the symmetric direction E_ij + E_ji of a.
func (o *objective) fdSym(a []float64, i, j int) float64 {
	d := o.c.d
	h := 1e-6 * (1 + math.Abs(a[i*d+j]))
	step := func(s float64) {
		a[i*d+j] += s
		if i != j {
			a[j*d+i] += s
		}
	}
	step(h)
	jp, _, _ := o.eval()
	step(-2 * h)
	jm, _, _ := o.eval()
	step(h)
	return (jp - jm) / (2 * h)
}

// TestScoreMatchesDense: the score (gradient of log h_root) equals the finite-difference
// gradient of the dense closed-form log-density, an independent computation.
func TestScoreMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(23, 24))
	for _, d := range []int{1, 2, 3} {
		tr := randomTree(rng, 20, true)
		p := newParamProxy(rng, tr, d)
		obs := Obs{Y: randomObs(rng, tr, d), Var: 0.5}
		root := Root{Mean: make([]float64, d), Cov: randomSPD(rng, d, 1)}
		var f Filter
		require.NoError(t, f.Run(tr, p, obs))
		var g Gradient
		require.NoError(t, f.Score(root, &g))
		dense := func() float64 {
			v, err := DenseLogLikelihood(tr, p, obs, root)
			require.NoError(t, err)
			return v
		}
		for i := range p.theta {
			h := 1e-6
			old := p.theta[i]
			p.theta[i] = old + h
			jp := dense()
			p.theta[i] = old - h
			jm := dense()
			p.theta[i] = old
			checkGrad(t, fmt.Sprintf("d=%d theta[%d]", d, i), (jp-jm)/(2*h), g.Params[i])
		}
		h := 1e-6
		obs.Var += h
		jp := dense()
		obs.Var -= 2 * h
		jm := dense()
		obs.Var += h
		checkGrad(t, fmt.Sprintf("d=%d Var", d), (jp-jm)/(2*h), g.NoiseVar)
	}
}

// TestGradZLinear: with linear edges and proxy = truth, log g + Σ log w does not depend
// on z, so its z-gradient is zero and ∇_z U = z exactly, whether the truth is passed as
// nil or as an explicit kernel.
func TestGradZLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(25, 26))
	tr := randomTree(rng, 40, false)
	for _, d := range []int{1, 2} {
		m := BM{Tree: tr, D: d, Sigma2: 0.7}
		obs := Obs{Y: randomObs(rng, tr, d), Var: 0.2}
		var f Filter
		require.NoError(t, f.Run(tr, m, obs))
		n := tr.Len()
		z, x, lw := make([]float64, n*d), make([]float64, n*d), make([]float64, n)
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		for _, k := range []Kernel{nil, m} {
			_, err := f.Guide(k, Root{}, z, x, lw)
			require.NoError(t, err)
			var g Gradient
			require.NoError(t, f.Backward(k, Root{}, z, x, 1, nil, &g))
			for i, v := range g.Z {
				require.InDelta(t, 0, v, 1e-12, "d=%d z[%d] kernel %T", d, i, k)
			}
		}
	}
}

// TestModelVJPs checks BM's and OU's parameter derivatives through Score and Backward
// against finite differences, including OU's small-α series branch.
func TestModelVJPs(t *testing.T) {
	rng := rand.New(rand.NewPCG(27, 28))
	tr := randomTree(rng, 18, false)
	for _, d := range []int{1, 2} {
		for _, alpha := range []float64{0.7, 1e-6} {
			obs := Obs{Y: randomObs(rng, tr, d), Var: 0.3}
			theta := []float64{0.4, -0.3}[:d]
			params := []float64{alpha, theta[0], 0, 1.2}[:d+2]
			if d == 1 {
				params = []float64{alpha, theta[0], 1.2}
			} else {
				params[2], params[3] = theta[1], 1.2
			}
			build := func() OU {
				return OU{Tree: tr, D: d, Alpha: params[0], Theta: params[1 : d+1], Sigma2: params[d+1]}
			}
			n := tr.Len()
			z := make([]float64, n*d)
			for i := range z {
				z[i] = rng.NormFloat64()
			}
			xbar := make([]float64, n*d)
			for i := range xbar {
				xbar[i] = rng.NormFloat64()
			}
			var f Filter
			x, lw := make([]float64, n*d), make([]float64, n)
			var g Gradient
			ou := build()
			require.NoError(t, f.Run(tr, ou, obs))
			_, err := f.Guide(ou, Root{}, z, x, lw)
			require.NoError(t, err)
			require.NoError(t, f.Backward(ou, Root{}, z, x, 1, xbar, &g))
			evalOU := func() float64 {
				var f Filter
				o := build()
				require.NoError(t, f.Run(tr, o, obs))
				ll, _ := f.LogLikelihood(Root{})
				x, lw := make([]float64, n*d), make([]float64, n)
				s, err := f.Guide(o, Root{}, z, x, lw)
				require.NoError(t, err)
				return ll + s + dot(xbar, x)
			}
			for i := range params {
				h := 1e-6 * (1 + math.Abs(params[i]))
				old := params[i]
				params[i] = old + h
				jp := evalOU()
				params[i] = old - h
				jm := evalOU()
				params[i] = old
				checkGrad(t, fmt.Sprintf("OU d=%d alpha=%g param %d", d, alpha, i), (jp-jm)/(2*h), g.Params[i])
			}
			// BM: σ² through a nonlinear-free model.
			bm := BM{Tree: tr, D: d, Sigma2: 0.8}
			require.NoError(t, f.Run(tr, bm, obs))
			require.NoError(t, f.Score(Root{}, &g))
			h := 1e-6
			llAt := func(s2 float64) float64 {
				var f Filter
				require.NoError(t, f.Run(tr, BM{Tree: tr, D: d, Sigma2: s2}, obs))
				ll, _ := f.LogLikelihood(Root{})
				return ll
			}
			checkGrad(t, "BM sigma2", (llAt(0.8+h)-llAt(0.8-h))/(2*h), g.Params[0])
		}
	}
}

// TestScoreScalarPath checks the d = 1 score fast path (OU, Gaussian root prior,
// per-leaf noise, a missing leaf, a zero-length edge) against finite differences of
// LogLikelihood, and against the general reverse pass run on the same model.
func TestScoreScalarPath(t *testing.T) {
	rng := rand.New(rand.NewPCG(29, 30))
	tr := randomTree(rng, 25, true)
	y := randomObs(rng, tr, 1)
	y[2] = math.NaN()
	lv := make([]float64, tr.NumLeaves())
	for i := range lv {
		lv[i] = 0.05 + rng.Float64()
	}
	params := []float64{0.6, 0.8, 1.3} // α, θ, σ²
	root := Root{Mean: []float64{0.4}, Cov: []float64{2.5}}
	ll := func() float64 {
		var f Filter
		m := OU{Tree: tr, D: 1, Alpha: params[0], Theta: params[1:2], Sigma2: params[2]}
		require.NoError(t, f.Run(tr, m, Obs{Y: y, LeafVar: lv}))
		v, err := f.LogLikelihood(root)
		require.NoError(t, err)
		return v
	}
	var f Filter
	m := OU{Tree: tr, D: 1, Alpha: params[0], Theta: params[1:2], Sigma2: params[2]}
	require.NoError(t, f.Run(tr, m, Obs{Y: y, LeafVar: lv}))
	var g Gradient
	require.NoError(t, f.Score(root, &g))
	fd := func(p *float64) float64 {
		h := 1e-6 * (1 + math.Abs(*p))
		old := *p
		*p = old + h
		jp := ll()
		*p = old - h
		jm := ll()
		*p = old
		return (jp - jm) / (2 * h)
	}
	for i := range params {
		checkGrad(t, fmt.Sprintf("param %d", i), fd(&params[i]), g.Params[i])
	}
	for _, i := range []int{0, 3, len(lv) - 1} {
		checkGrad(t, fmt.Sprintf("LeafVar[%d]", i), fd(&lv[i]), g.LeafVar[i])
	}
	checkGrad(t, "RootMean", fd(&root.Mean[0]), g.RootMean[0])
	checkGrad(t, "RootCov", fd(&root.Cov[0]), g.RootCov[0])
	// The general path (forced through a proxy without the scalar methods) agrees.
	var f2 Filter
	require.NoError(t, f2.Run(tr, proxyOnly{m}, Obs{Y: y, LeafVar: lv}))
	var g2 Gradient
	require.NoError(t, f2.Score(root, &g2))
	require.InDeltaSlice(t, g.Params, g2.Params, 1e-10)
	require.InDeltaSlice(t, g.LeafVar, g2.LeafVar, 1e-10)
}

// proxyOnly hides a model's scalar fast paths, for tests of the general code.
type proxyOnly struct{ m ProxyVJP }

func (p proxyOnly) Proxy(v int, anchor, A, b, Q []float64) { p.m.Proxy(v, anchor, A, b, Q) }
func (p proxyOnly) NumParams() int                         { return p.m.NumParams() }
func (p proxyOnly) ProxyVJP(v int, anchor, Abar, bbar, Qbar, grad []float64) {
	p.m.ProxyVJP(v, anchor, Abar, bbar, Qbar, grad)
}

// TestScoreExactLeaves checks the score with exactly observed (and partly observed)
// leaves against finite differences, through the general path (d = 2, 3) and the scalar
// path (d = 1), with fixed and Gaussian roots.
func TestScoreExactLeaves(t *testing.T) {
	rng := rand.New(rand.NewPCG(47, 48))
	for _, d := range []int{1, 2, 3} {
		for _, prior := range []bool{false, true} {
			tr := randomTree(rng, 20, false)
			y := randomObs(rng, tr, d)
			if d > 1 {
				y[d] = math.NaN() // leaf 1 partly observed
			}
			lv := make([]float64, tr.NumLeaves()) // half exact, half noisy
			for i := range lv {
				if i%2 == 1 {
					lv[i] = 0.3
				}
			}
			obs := Obs{Y: y, LeafVar: lv}
			root := Root{Mean: randomObs(rng, tr, d)[:d]}
			if prior {
				root.Cov = randomSPD(rng, d, 1)
			}
			params := []float64{0.6, 1.1}
			theta := make([]float64, d)
			build := func() ProxyVJP {
				return OU{Tree: tr, D: d, Alpha: params[0], Theta: theta, Sigma2: params[1]}
			}
			ll := func() float64 {
				var f Filter
				require.NoError(t, f.Run(tr, build(), obs))
				v, err := f.LogLikelihood(root)
				require.NoError(t, err)
				return v
			}
			var f Filter
			require.NoError(t, f.Run(tr, build(), obs))
			var g Gradient
			require.NoError(t, f.Score(root, &g))
			fd := func(p *float64) float64 {
				h := 1e-6 * (1 + math.Abs(*p))
				old := *p
				*p = old + h
				jp := ll()
				*p = old - h
				jm := ll()
				*p = old
				return (jp - jm) / (2 * h)
			}
			name := fmt.Sprintf("d=%d prior=%v", d, prior)
			checkGrad(t, name+" alpha", fd(&params[0]), g.Params[0])
			checkGrad(t, name+" sigma2", fd(&params[1]), g.Params[d+1])
			checkGrad(t, name+" leaf var", fd(&lv[1]), g.LeafVar[1])
			checkGrad(t, name+" root", fd(&root.Mean[0]), g.RootMean[0])
			// General path agrees with the scalar one.
			var f2 Filter
			require.NoError(t, f2.Run(tr, proxyOnly{build()}, obs))
			var g2 Gradient
			require.NoError(t, f2.Score(root, &g2))
			require.InDeltaSlice(t, g.Params, g2.Params, 1e-9)
		}
	}
}

// Tiny noise variances: with τ² = 1e-30 the leaf messages H = 1/τ² would cancel terms
// of size 1e30 in c, so the scalar path pulls leaf edges in observation space; the
// evidence equals the dense closed form and the score (also with matrix noise) equals
// finite differences in log τ². A regression test for chains that wandered to
// log τ² ≈ −86 where the old arithmetic gave a spuriously high density.
func TestTinyNoise(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	tr := randomTree(rng, 25, false)
	y := randomObs(rng, tr, 1)
	for _, tau2 := range []float64{1e-30, 1e-8, 0.3} {
		for _, matrix := range []bool{false, true} {
			obs := Obs{Y: y, Var: tau2}
			if matrix {
				obs = Obs{Y: y, Cov: []float64{tau2}}
			}
			ll := func(s2, lt float64) float64 {
				o := obs
				if matrix {
					o.Cov = []float64{math.Exp(lt)}
				} else {
					o.Var = math.Exp(lt)
				}
				var f Filter
				require.NoError(t, f.Run(tr, BM{Tree: tr, D: 1, Sigma2: s2}, o))
				v, err := f.LogLikelihood(Root{})
				require.NoError(t, err)
				return v
			}
			want, err := MarginalBM(tr, 0.7, nil, Obs{Y: y, Var: tau2}, Root{})
			require.NoError(t, err)
			relClose(t, want, ll(0.7, math.Log(tau2)), 1e-10, fmt.Sprintf("evidence τ²=%g", tau2))
			var f Filter
			require.NoError(t, f.Run(tr, BM{Tree: tr, D: 1, Sigma2: 0.7}, obs))
			var g Gradient
			require.NoError(t, f.Score(Root{}, &g))
			h := 1e-6
			fd := (ll(0.7, math.Log(tau2)+h) - ll(0.7, math.Log(tau2)-h)) / (2 * h)
			got := g.NoiseVar * tau2
			if matrix {
				got = g.NoiseCov[0] * tau2
			}
			checkGrad(t, fmt.Sprintf("d/dlog τ² at τ²=%g matrix=%v", tau2, matrix), fd, got)
			fd = (ll(0.7+1e-6, math.Log(tau2)) - ll(0.7-1e-6, math.Log(tau2))) / 2e-6
			checkGrad(t, fmt.Sprintf("d/dσ² at τ²=%g", tau2), fd, g.Params[0])
		}
	}
}
