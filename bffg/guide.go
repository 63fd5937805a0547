package bffg

import (
	"fmt"
	"math"
	"slices"

	"github.com/canopy-bffg/canopy/topology"
	"github.com/canopy-bffg/canopy/tree"
)

// Guide runs the guided forward pass after Run. Driven by standard normal noise z
// (Len×d, node-major), it draws every node state into x (Len×d) from the guided kernel
//
//	q_v(x_v | x_pa) ∝ p_v(x_v | x_pa) h_v(x_v),
//
// where p_v is the true kernel k (nil means the proxy itself), and writes into logw (Len)
// the log-weight of each edge, log w_v = log ∫p_v h_v − log ∫p̃_v h_v, a function of the
// parent state only (bffg-math §2.1–2.3). It returns Σ_v log w_v; then
// LogLikelihood(root) + Σ_v log w_v is log p(x, y)/q(x), the log-weight of the draw.
//
// The sample is x_v = μ + R L_S⁻ᵀ(L_S⁻¹R'(F − Hμ) + z_v) with Q = RR', S = I + R'HR;
// exactly observed leaves are drawn by pathwise conditioning, so Lx_v = y holds exactly.
// A fixed root is set to root.Mean and its noise is unused; a Gaussian root prior is
// sampled from N(m0, P0)·h_root with the root's noise. Its log-weight is 0.
func (f *Filter) Guide(k Kernel, root Root, z, x, logw []float64) (float64, error) {
	f.mustRun()
	n, d := f.t.Len(), f.d
	if len(z) != n*d || len(x) != n*d || len(logw) != n {
		panic(fmt.Sprintf("bffg: Guide: z, x, logw have lengths %d, %d, %d; want %d, %d, %d",
			len(z), len(x), len(logw), n*d, n*d, n))
	}
	if err := f.guideRoot(root, z[:d], x[:d]); err != nil {
		return 0, err
	}
	logw[0] = 0
	for i := range f.errs {
		f.errs[i] = nodeErr{}
	}
	f.g.k, f.g.z, f.g.x, f.g.logw = k, z, x, logw
	f.g.k1 = nil
	if k1, ok := k.(scalarKernel); ok {
		f.g.k1 = k1
	}
	f.Schedule.Down(f.t, f.guideFn)
	f.g.k, f.g.k1, f.g.z, f.g.x, f.g.logw = nil, nil, nil, nil, nil
	if err := f.firstErr(true); err != nil {
		return 0, err
	}
	s := 0.0
	for _, w := range logw {
		s += w
	}
	return s, nil
}

func (f *Filter) guideRoot(root Root, z, x []float64) error {
	d := f.d
	ws := &f.ws[0]
	m := root.Mean
	if m == nil {
		m = ws.zero
	}
	if root.Flat {
		// x = H⁻¹F + L⁻ᵀz with H = LL', a draw from N(H⁻¹F, H⁻¹).
		if err := f.factorRoot(ws); err != nil {
			return err
		}
		copy(ws.u, f.f.At(0))
		solveLower(ws.S, d, ws.u)
		for i := range ws.u {
			ws.u[i] += z[i]
		}
		solveLowerT(ws.S, d, ws.u)
		copy(x, ws.u)
		return nil
	}
	if len(m) != d {
		return fmt.Errorf("bffg: root mean has %d entries, want %d", len(m), d)
	}
	if root.Cov == nil {
		copy(x, m)
		return nil
	}
	if len(root.Cov) != d*d {
		return fmt.Errorf("bffg: root covariance has %d entries, want %d", len(root.Cov), d*d)
	}
	copy(ws.mu, m)
	copy(ws.Q, root.Cov)
	_, err := f.step(ws, 0, f.h.At(0), f.f.At(0), ws.mu, ws.Q, ws.R, ws.S, z, x)
	return err
}

type guide struct {
	f          *Filter
	k          Kernel
	k1         scalarKernel // k's fast path for d = 1, or nil
	z, x, logw []float64
}

func (g *guide) level(worker, lo, hi int) {
	f := g.f
	if lo == 0 {
		lo = 1 // the root was set by guideRoot
	}
	ws := &f.ws[worker]
	for v := lo; v < hi; v++ {
		if err := g.node(ws, v); err != nil {
			f.errs[worker].record(f.t, v, err, true)
			return
		}
	}
}

func (g *guide) node(ws *workspace, v int) error {
	f, d := g.f, g.f.d
	if f.p1 != nil && !f.exact[v] && (g.k == nil || g.k1 != nil) {
		return g.node1(v)
	}
	xp := g.x[f.t.Parent(v)*d:][:d]
	xv := g.x[v*d:][:d]
	zv := g.z[v*d:][:d]
	f.p.Proxy(v, f.anchor(ws, v), ws.A, ws.b, ws.Q2)
	mulVec(ws.mu2, ws.A, d, d, xp)
	for i := range ws.mu2 {
		ws.mu2[i] += ws.b[i]
	}
	if g.k == nil {
		copy(ws.mu, ws.mu2)
		copy(ws.Q, ws.Q2)
	} else {
		g.k.Transition(v, xp, ws.mu, ws.Q)
	}
	var lt float64
	var err error
	if f.exact[v] {
		lt, err = f.stepExact(ws, v, ws.mu, ws.Q, ws.R, zv, xv)
	} else {
		lt, err = f.step(ws, v, f.h.At(v), f.f.At(v), ws.mu, ws.Q, ws.R, ws.S, zv, xv)
	}
	if err != nil {
		return err
	}
	if g.k == nil || (slices.Equal(ws.mu, ws.mu2) && slices.Equal(ws.Q, ws.Q2)) {
		// Identical inputs give identical ℓ: the weight is exactly 0.
		g.logw[v] = 0
		return nil
	}
	var lp float64
	if f.exact[v] {
		lp, err = f.stepExact(ws, v, ws.mu2, ws.Q2, ws.R2, nil, nil)
	} else {
		lp, err = f.step(ws, v, f.h.At(v), f.f.At(v), ws.mu2, ws.Q2, ws.R2, ws.S2, nil, nil)
	}
	g.logw[v] = lt - lp
	return err
}

// node1 is node for d = 1 with scalar proxy and kernel. With s = 1 + qH, κ = q/s and
// r = F − Hμ for the true (μ, q) and the proxy (μ̃, q̃),
//
//	log w = F(μ − μ̃) − ½H(μ² − μ̃²) + ½(κr² − κ̃r̃²) − ½ log(s/s̃),
//
// with the log skipped when s = s̃, so proxy = truth gives exactly 0 without a log.
func (g *guide) node1(v int) error {
	f := g.f
	xp := g.x[f.t.Parent(v)]
	a, b, qp := f.ea[v], f.eb[v], f.eq[v]
	mp := a*xp + b
	mt, qt := mp, qp
	if g.k1 != nil {
		mt, qt = g.k1.transition1(v, xp)
	}
	if qt < 0 || math.IsNaN(qt) || math.IsInf(qt, 0) {
		return f.nodeError(v, "transition covariance of the edge above", fmt.Errorf("%w: %v", ErrNotPosDef, qt))
	}
	H, F := f.h.Data[v], f.f.Data[v]
	st := 1 + qt*H
	kt := qt / st
	rt := F - H*mt
	g.x[v] = mt + kt*rt + math.Sqrt(kt)*g.z[v]
	if g.k == nil {
		g.logw[v] = 0
		return nil
	}
	if qp < 0 || math.IsNaN(qp) || math.IsInf(qp, 0) {
		return f.nodeError(v, "proxy covariance of the edge above", fmt.Errorf("%w: %v", ErrNotPosDef, qp))
	}
	sp := 1 + qp*H
	kp := qp / sp
	rp := F - H*mp
	w := F*(mt-mp) - 0.5*H*(mt*mt-mp*mp) + 0.5*(kt*rt*rt-kp*rp*rp)
	if st != sp {
		w -= 0.5 * math.Log(st/sp)
	}
	g.logw[v] = w
	return nil
}

// step returns ℓ(μ, Q) = log ∫N(y; μ, Q) h(y) dy − c for the message (H, F) of node v,
//
//	ℓ = F'μ − ½μ'Hμ + ½|L_S⁻¹R'(F − Hμ)|² − Σ log diag L_S,
//
// and, when x is not nil, writes the guided draw μ + R L_S⁻ᵀ(L_S⁻¹R'(F − Hμ) + z) into x.
// R and S are scratch for the factors of Q and S.
func (f *Filter) step(ws *workspace, v int, H, F, mu, Q, R, S, z, x []float64) (float64, error) {
	d := f.d
	if d == 1 {
		return f.step1(v, H[0], F[0], mu[0], Q[0], z, x)
	}
	if !sqrtCov(R, Q, d) {
		return 0, f.nodeError(v, "transition covariance of the edge above", ErrNotPosDef)
	}
	ld, err := f.factorS(ws, v, H, R, S, "guided step")
	if err != nil {
		return 0, err
	}
	r := ws.g
	mulVec(r, H, d, d, mu)
	ell := dot(F, mu) - 0.5*dot(mu, r)
	for i := range r {
		r[i] = F[i] - r[i]
	}
	u := ws.u
	lowerTMulVec(u, R, d, r)
	solveLower(S, d, u)
	ell += 0.5*dot(u, u) - ld
	if x != nil {
		for i := range u {
			u[i] += z[i]
		}
		solveLowerT(S, d, u)
		lowerMulVec(x, R, d, u)
		for i := range x {
			x[i] += mu[i]
		}
	}
	return ell, nil
}

// step1 is step for d = 1: with s = 1 + qH and κ = q/s, ℓ = Fμ − ½Hμ² + ½κr² − ½ log s
// and x = μ + κr + √κ z, where r = F − Hμ.
func (f *Filter) step1(v int, H, F, mu, q float64, z, x []float64) (float64, error) {
	if q < 0 || math.IsNaN(q) || math.IsInf(q, 0) {
		return 0, f.nodeError(v, "transition covariance of the edge above", fmt.Errorf("%w: %v", ErrNotPosDef, q))
	}
	s := 1 + q*H
	if !(s > 0) {
		return 0, f.nodeError(v, "guided step", ErrNotPosDef)
	}
	kappa := q / s
	r := F - H*mu
	if x != nil {
		x[0] = mu + kappa*r + math.Sqrt(kappa)*z[0]
	}
	return F*mu - 0.5*H*mu*mu + 0.5*kappa*r*r - 0.5*math.Log(s), nil
}

// stepExact handles an exactly observed leaf v: it returns log N(y; Lμ, LQL') and, when
// x is not nil, writes the draw from N(μ, Q) conditioned on Lx = y by Matheron's rule,
// x = y0 + QL'(LQL')⁻¹(y − Ly0) with y0 = μ + Rz, setting the observed coordinates to y.
func (f *Filter) stepExact(ws *workspace, v int, mu, Q, R, z, x []float64) (float64, error) {
	d := f.d
	y, err := f.observed(ws, v)
	if err != nil {
		return 0, err
	}
	o := ws.obs
	m := len(o)
	C := ws.M[:m*m]
	for a, ka := range o {
		for b, kb := range o {
			C[a*m+b] = Q[ka*d+kb]
		}
	}
	if !cholesky(C, m) {
		return 0, f.nodeError(v, "edge covariance at the observed coordinates", ErrExactZero)
	}
	e := ws.u[:m]
	for a, k := range o {
		e[a] = y[k] - mu[k]
	}
	solveLower(C, m, e)
	ell := -0.5*float64(m)*log2Pi - logDiag(C, m) - 0.5*dot(e, e)
	if x == nil {
		return ell, nil
	}
	if !sqrtCov(R, Q, d) {
		return 0, f.nodeError(v, "transition covariance of the edge above", ErrNotPosDef)
	}
	lowerMulVec(x, R, d, z)
	for i := range x {
		x[i] += mu[i]
	}
	for a, k := range o {
		e[a] = y[k] - x[k]
	}
	solveLower(C, m, e)
	solveLowerT(C, m, e)
	for i := 0; i < d; i++ {
		s := 0.0
		for a, k := range o {
			s += Q[i*d+k] * e[a]
		}
		x[i] += s
	}
	for _, k := range o {
		x[k] = y[k]
	}
	return ell, nil
}

// Simulate draws node states from the model without conditioning on data:
// x_root = root.Mean (or root.Mean + chol(root.Cov)·z_root) and x_v = μ(x_pa) + chol(Q(x_pa))·z_v
// for the true kernel k. z and x are Len×d, node-major.
func Simulate(t *topology.Topology, d int, k Kernel, root Root, z, x []float64) error {
	n := t.Len()
	if len(z) != n*d || len(x) != n*d {
		panic(fmt.Sprintf("bffg: Simulate: z and x have lengths %d and %d, want %d", len(z), len(x), n*d))
	}
	ws := newWorkspace(d)
	m := root.Mean
	if m == nil {
		m = ws.zero
	}
	if len(m) != d {
		return fmt.Errorf("bffg: root mean has %d entries, want %d", len(m), d)
	}
	copy(x[:d], m)
	if root.Cov != nil {
		if len(root.Cov) != d*d || !sqrtCov(ws.R, root.Cov, d) {
			return fmt.Errorf("bffg: root covariance: %w", ErrNotPosDef)
		}
		lowerMulVec(ws.u, ws.R, d, z[:d])
		for i := range ws.u {
			x[i] += ws.u[i]
		}
	}
	for v := 1; v < n; v++ {
		xp := x[t.Parent(v)*d:][:d]
		k.Transition(v, xp, ws.mu, ws.Q)
		if !sqrtCov(ws.R, ws.Q, d) {
			return &NodeError{Node: v, Name: t.Name(v), What: "transition covariance of the edge above", Err: ErrNotPosDef}
		}
		xv := x[v*d:][:d]
		lowerMulVec(xv, ws.R, d, z[v*d:][:d])
		for i := range xv {
			xv[i] += ws.mu[i]
		}
	}
	return nil
}

// Refine sets the anchor of every node whose message has a positive definite H to
// H⁻¹F, the mode of its message (Algorithm 3 of van der Meulen & Sommer), and of every
// exactly observed leaf to its observation; other anchors are left as they are. It
// allocates Anchors on first use. Call Run again to filter with the new anchors.
func (f *Filter) Refine() {
	f.mustRun()
	n, d := f.t.Len(), f.d
	if f.Anchors.Data == nil {
		f.Anchors = tree.NewVectors(n, d)
	}
	ws := &f.ws[0]
	for v := 0; v < n; v++ {
		a := f.Anchors.At(v)
		if f.exact[v] {
			y, err := f.observed(ws, v)
			if err == nil {
				for _, k := range ws.obs {
					a[k] = y[k]
				}
			}
			continue
		}
		copy(ws.S, f.h.At(v))
		if !cholesky(ws.S, d) {
			continue
		}
		copy(a, f.f.At(v))
		solveLower(ws.S, d, a)
		solveLowerT(ws.S, d, a)
	}
}
