package bffg

import (
	"errors"
	"fmt"
)

// ProxyVJP is a Proxy whose derivatives with respect to its parameters θ are known.
// ProxyVJP adds to grad (NumParams entries) the vector–Jacobian product
// Σ Ā_ij ∂A_ij/∂θ + Σ b̄_i ∂b_i/∂θ + Σ Q̄_ij ∂Q_ij/∂θ of the edge above v.
type ProxyVJP interface {
	Proxy
	NumParams() int
	ProxyVJP(v int, anchor, Abar, bbar, Qbar, grad []float64)
}

// KernelVJP is a Kernel whose derivatives are known. TransitionVJP adds to xbar the
// product of (meanBar, covBar) with the Jacobian of (mean, cov) with respect to the
// parent state x, and to grad the product with the Jacobian with respect to θ.
// The proxy and the kernel are functions of one parameter vector θ; each adds its
// partial derivatives to the same grad.
type KernelVJP interface {
	Kernel
	NumParams() int
	TransitionVJP(v int, x, meanBar, covBar, xbar, grad []float64)
}

// Gradient receives the derivatives computed by Backward and Score. Backward sizes its
// slices and overwrites every field.
type Gradient struct {
	Params   []float64 // ∂J/∂θ, the model's parameters (ProxyVJP.NumParams entries)
	Z        []float64 // ∂J/∂z, Len×d
	NoiseVar float64   // ∂J/∂Obs.Var
	LeafVar  []float64 // ∂J/∂Obs.LeafVar, when Obs.LeafVar is set
	NoiseCov []float64 // ∂J/∂Obs.Cov (d×d), when Obs.Cov is set
	RootMean []float64 // ∂J/∂Root.Mean (the fixed root state, or the prior mean)
	RootCov  []float64 // ∂J/∂Root.Cov, when the root has a Gaussian prior
}

// ErrNoGradient reports a model or observation type whose derivatives are not available.
var ErrNoGradient = errors.New("bffg: gradient not available")

// Score computes the gradient of LogLikelihood(root) with respect to the model
// parameters, the leaf noise and the root, by a reverse pass over the filter (no guided
// pass is involved). Run must have been called with a proxy that implements ProxyVJP.
func (f *Filter) Score(root Root, g *Gradient) error {
	return f.backward(nil, root, nil, nil, 1, nil, g, false)
}

// Backward computes, after Run and Guide with the same arguments, the gradient of
//
//	J = wbar·(LogLikelihood(root) + Σ_v log w_v) + Σ_v xbar_v'x_v
//
// with respect to the model parameters, the noise z, the leaf noise and the root, by
// hand-written reverse passes over the guided pass and the filter (bffg-math §4): the
// guided steps in reverse breadth-first order, then the filter's pullbacks from the
// root down, then the leaves. xbar (Len×d) may be nil. z and x are Guide's noise and
// states. The proxy of Run must implement ProxyVJP, and k (unless nil) KernelVJP.
// Exactly observed leaves and a flat root are not supported yet (ErrNoGradient).
func (f *Filter) Backward(k Kernel, root Root, z, x []float64, wbar float64, xbar []float64, g *Gradient) error {
	return f.backward(k, root, z, x, wbar, xbar, g, true)
}

// adj holds the reverse pass's storage, grown once and reused.
type adj struct {
	hbar, fbar, cbar, xbar []float64
	rw                     revWorkspace
}

type revWorkspace struct {
	d                                  int
	fa                                 factors // true kernel or the edge of a pullback
	fb                                 factors // proxy kernel in the guided step
	A, b, Q, Q2, mu, mu2, Abar, Qbar   []float64
	bbar, mubar, mu2bar, Q2bar, t1, t2 []float64
	a1, gbar, hg                       []float64
	T1, T2, T3, T4                     []float64
}

// factors holds the factorisations of one Gaussian edge N(·, Q) against a message H:
// R = chol(Q) (zero if Q = 0), S = I + R'HR = LL', W = L⁻¹R', K = W'W = (Q⁻¹ + H)⁻¹,
// HK = H·K, M = H − HKH and F̂ = F − HKF.
type factors struct {
	zeroQ                bool
	R, L, W, K, HK, M, T []float64
	Fhat                 []float64
}

func newFactors(d int) factors {
	dd := d * d
	buf := make([]float64, 7*dd+d)
	return factors{R: buf[:dd], L: buf[dd : 2*dd], W: buf[2*dd : 3*dd], K: buf[3*dd : 4*dd],
		HK: buf[4*dd : 5*dd], M: buf[5*dd : 6*dd], T: buf[6*dd : 7*dd], Fhat: buf[7*dd:]}
}

func newRevWorkspace(d int) revWorkspace {
	dd := d * d
	v := func() []float64 { return make([]float64, d) }
	m := func() []float64 { return make([]float64, dd) }
	return revWorkspace{d: d, fa: newFactors(d), fb: newFactors(d),
		A: m(), b: v(), Q: m(), Q2: m(), mu: v(), mu2: v(), Abar: m(), Qbar: m(),
		bbar: v(), mubar: v(), mu2bar: v(), Q2bar: m(), t1: v(), t2: v(), a1: v(), gbar: v(), hg: v(),
		T1: m(), T2: m(), T3: m(), T4: m()}
}

// compute fills fc for message (H, F) and covariance Q. It reports false when Q or S is
// not positive definite.
func (fc *factors) compute(H, F, Q []float64, d int) bool {
	fc.zeroQ = isZero(Q)
	if !sqrtCov(fc.R, Q, d) {
		return false
	}
	// S = I + R'HR.
	mul(fc.T, H, fc.R, d, d, d)
	mulT(fc.L, fc.R, fc.T, d, d, d)
	for i := 0; i < d; i++ {
		fc.L[i*d+i]++
	}
	symmetrize(fc.L, d)
	if !cholesky(fc.L, d) {
		return false
	}
	// W = L⁻¹R' column by column.
	col := fc.Fhat
	for j := 0; j < d; j++ {
		for i := 0; i < d; i++ {
			col[i] = fc.R[j*d+i]
		}
		solveLower(fc.L, d, col)
		for i := 0; i < d; i++ {
			fc.W[i*d+j] = col[i]
		}
	}
	mulT(fc.K, fc.W, fc.W, d, d, d)
	mul(fc.HK, H, fc.K, d, d, d)
	mul(fc.T, fc.HK, H, d, d, d)
	for i := range fc.M[:d*d] {
		fc.M[i] = H[i] - fc.T[i]
	}
	symmetrize(fc.M, d)
	mulVec(fc.Fhat, fc.HK, d, d, F)
	for i := 0; i < d; i++ {
		fc.Fhat[i] = F[i] - fc.Fhat[i]
	}
	return true
}

func (f *Filter) growAdj() {
	n, d := f.t.Len(), f.d
	a := &f.adj
	a.hbar = growZero(a.hbar, n*d*d)
	a.fbar = growZero(a.fbar, n*d)
	a.cbar = growZero(a.cbar, n)
	a.xbar = growZero(a.xbar, n*d)
	if a.rw.d != d {
		a.rw = newRevWorkspace(d)
	}
}

func growZero(s []float64, n int) []float64 {
	if cap(s) >= n {
		s = s[:n]
		clear(s)
		return s
	}
	return make([]float64, n)
}

func (f *Filter) backward(k Kernel, root Root, z, x []float64, wbar float64, xbar []float64, g *Gradient, guided bool) error {
	f.mustRun()
	n, d := f.t.Len(), f.d
	pv, ok := f.p.(ProxyVJP)
	if !ok {
		return fmt.Errorf("%w: proxy %T does not implement ProxyVJP", ErrNoGradient, f.p)
	}
	var kv KernelVJP
	if guided && k != nil {
		if kv, ok = k.(KernelVJP); !ok {
			return fmt.Errorf("%w: kernel %T does not implement KernelVJP", ErrNoGradient, k)
		}
	}
	if root.Flat {
		return fmt.Errorf("%w: flat root prior", ErrNoGradient)
	}
	for v := 0; guided && v < n; v++ {
		if f.exact[v] {
			return fmt.Errorf("%w: guided pass with an exactly observed leaf (node %d)", ErrNoGradient, v)
		}
	}
	if guided && (len(z) != n*d || len(x) != n*d || (xbar != nil && len(xbar) != n*d)) {
		panic("bffg: Backward: z, x or xbar has the wrong length")
	}
	f.growAdj()
	a := &f.adj
	g.Params = growZero(g.Params, pv.NumParams())
	g.Z = growZero(g.Z, n*d)
	g.NoiseVar = 0
	g.LeafVar, g.NoiseCov, g.RootCov = nil, nil, nil
	if f.obs.LeafVar != nil {
		g.LeafVar = make([]float64, f.t.NumLeaves())
	}
	if f.obs.Cov != nil {
		g.NoiseCov = make([]float64, d*d)
	}
	g.RootMean = growZero(g.RootMean, d)
	if root.Cov != nil {
		g.RootCov = make([]float64, d*d)
	}
	if !guided && f.score1(root, g) {
		return nil
	}
	if xbar != nil {
		copy(a.xbar, xbar)
	}
	rw := &a.rw
	if guided {
		for v := n - 1; v >= 1; v-- {
			if err := f.guideVJP(rw, pv, kv, k != nil, v, z, x, wbar, g); err != nil {
				return err
			}
		}
	}
	if err := f.rootVJP(rw, root, z, wbar, g, guided); err != nil {
		return err
	}
	for u := 0; u < n; u++ {
		if f.t.IsLeaf(u) {
			f.leafVJP(rw, u, g)
			continue
		}
		symmetrize(a.hbar[u*d*d:(u+1)*d*d], d)
		lo, hi := f.t.Children(u)
		for v := lo; v < hi; v++ {
			if err := f.pullVJP(rw, pv, u, v, g); err != nil {
				return err
			}
		}
	}
	return nil
}

// guideVJP is the reverse of the guided step at v (bffg-math §4.3 weight VJP, §4.4).
func (f *Filter) guideVJP(rw *revWorkspace, pv ProxyVJP, kv KernelVJP, weighted bool, v int, z, x []float64, wbar float64, g *Gradient) error {
	d := f.d
	a := &f.adj
	pa := f.t.Parent(v)
	xp := x[pa*d : pa*d+d]
	H, F := f.h.At(v), f.f.At(v)
	Hbar, Fbar := a.hbar[v*d*d:(v+1)*d*d], a.fbar[v*d:v*d+d]
	anchor := f.anchor(&f.ws[0], v)
	pv.Proxy(v, anchor, rw.A, rw.b, rw.Q2)
	mulVec(rw.mu2, rw.A, d, d, xp)
	addScaled(rw.mu2, 1, rw.b)
	if weighted {
		kv.Transition(v, xp, rw.mu, rw.Q)
	} else {
		copy(rw.mu, rw.mu2)
		copy(rw.Q, rw.Q2)
	}
	clear(rw.mubar)
	clear(rw.Qbar)
	if !rw.fa.compute(H, F, rw.Q, d) {
		return f.nodeError(v, "transition covariance of the edge above", ErrNotPosDef)
	}
	sampleVJP(rw, &rw.fa, H, F, rw.mu, z[v*d:v*d+d], a.xbar[v*d:v*d+d], Hbar, Fbar, g.Z[v*d:v*d+d])
	clear(rw.mu2bar)
	clear(rw.Q2bar)
	if weighted && wbar != 0 {
		ellVJP(rw, &rw.fa, H, F, rw.mu, wbar, rw.mubar, rw.Qbar, Hbar, Fbar)
		if !rw.fb.compute(H, F, rw.Q2, d) {
			return f.nodeError(v, "proxy covariance of the edge above", ErrNotPosDef)
		}
		ellVJP(rw, &rw.fb, H, F, rw.mu2, -wbar, rw.mu2bar, rw.Q2bar, Hbar, Fbar)
	}
	xpbar := a.xbar[pa*d : pa*d+d]
	if weighted {
		kv.TransitionVJP(v, xp, rw.mubar, rw.Qbar, xpbar, g.Params)
	} else {
		addScaled(rw.mu2bar, 1, rw.mubar)
		addScaled(rw.Q2bar, 1, rw.Qbar)
	}
	// μ̃ = A x_pa + b.
	clear(rw.Abar)
	addOuter(rw.Abar, 1, rw.mu2bar, xp)
	mulTVec(rw.t1, rw.A, d, d, rw.mu2bar)
	addScaled(xpbar, 1, rw.t1)
	symmetrize(rw.Q2bar, d)
	pv.ProxyVJP(v, anchor, rw.Abar, rw.mu2bar, rw.Q2bar, g.Params)
	return nil
}

// sampleVJP reverses x = μ + R L⁻ᵀ(L⁻¹R'(F − Hμ) + z), adding to rw.mubar, rw.Qbar,
// Hbar and Fbar and setting zbar.
func sampleVJP(rw *revWorkspace, fc *factors, H, F, mu, z, xbar, Hbar, Fbar, zbar []float64) {
	d := rw.d
	R, L := fc.R, fc.L
	// Forward intermediates: gv = F − Hμ, a1 = R'gv, s = L⁻¹a1, u = L⁻ᵀ(s + z).
	gv, s, u := rw.t1, rw.t2, rw.bbar
	mulVec(gv, H, d, d, mu)
	for i := range gv {
		gv[i] = F[i] - gv[i]
	}
	lowerTMulVec(s, R, d, gv)
	solveLower(L, d, s)
	for i := range u {
		u[i] = s[i] + z[i]
	}
	solveLowerT(L, d, u)

	Rbar, Lbar := rw.T1, rw.T2
	clear(Rbar)
	clear(Lbar)
	addScaled(rw.mubar, 1, xbar)
	addOuter(Rbar, 1, xbar, u)
	tb := zbar // t̄ = L⁻¹R'x̄, which is also z̄
	lowerTMulVec(tb, R, d, xbar)
	solveLower(L, d, tb)
	addOuterLower(Lbar, -1, u, tb)
	a1 := rw.a1 // ā1 = L⁻ᵀ t̄
	copy(a1, tb)
	solveLowerT(L, d, a1)
	addOuterLower(Lbar, -1, a1, s)
	addOuter(Rbar, 1, gv, a1)
	gbar := rw.gbar
	lowerMulVec(gbar, R, d, a1)
	addScaled(Fbar, 1, gbar)
	addOuter(Hbar, -1, gbar, mu)
	mulVec(rw.hg, H, d, d, gbar) // H ḡ
	addScaled(rw.mubar, -1, rw.hg)
	// S̄ from L̄, then H̄ += R S̄ R', R̄ += 2 H R S̄.
	Sbar := rw.T4
	cholVJP(Sbar, L, Lbar, d)
	mul(rw.T3, R, Sbar, d, d, d)   // R S̄
	mulBT(Lbar, rw.T3, R, d, d, d) // R S̄ R' (Lbar reused)
	addScaled(Hbar, 1, Lbar[:d*d])
	mul(Lbar, H, rw.T3, d, d, d) // H R S̄
	addScaled(Rbar, 2, Lbar[:d*d])
	if fc.zeroQ {
		return // x does not depend on Q near Q = 0 smoothly; BM-type models have ∂Q = 0 there
	}
	for i := 0; i < d; i++ { // only the lower triangle of R is a free variable
		for j := i + 1; j < d; j++ {
			Rbar[i*d+j] = 0
		}
	}
	cholVJP(rw.T3, R, Rbar, d)
	addScaled(rw.Qbar, 1, rw.T3[:d*d])
}

// addOuterLower adds s·tril(x y') to a.
func addOuterLower(a []float64, s float64, x, y []float64) {
	d := len(x)
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			a[i*d+j] += s * x[i] * y[j]
		}
	}
}

// ellVJP adds the VJP of ℓ(m, Q) (bffg-math §2.2) with adjoint lbar: with
// e = F̂ − Mm and m_y = m + K(F − Hm), m̄ += ℓ̄e, Q̄ += ½ℓ̄(ee' − M),
// F̄ += ℓ̄m_y, H̄ += −½ℓ̄(K + m_y m_y').
func ellVJP(rw *revWorkspace, fc *factors, H, F, m []float64, lbar float64, mbar, Qbar, Hbar, Fbar []float64) {
	d := rw.d
	e, my := rw.t1, rw.t2
	mulVec(e, fc.M, d, d, m)
	for i := range e {
		e[i] = fc.Fhat[i] - e[i]
	}
	mulVec(my, H, d, d, m)
	for i := range my {
		my[i] = F[i] - my[i]
	}
	mulVec(rw.bbar, fc.K, d, d, my)
	for i := range my {
		my[i] = m[i] + rw.bbar[i]
	}
	addScaled(mbar, lbar, e)
	addOuter(Qbar, 0.5*lbar, e, e)
	addScaled(Qbar, -0.5*lbar, fc.M)
	addScaled(Fbar, lbar, my)
	addScaled(Hbar, -0.5*lbar, fc.K)
	addOuter(Hbar, -0.5*lbar, my, my)
}

// pullVJP propagates the adjoint of node u's fused message to child v's message and to
// the proxy parameters of the edge above v (bffg-math §4.3).
func (f *Filter) pullVJP(rw *revWorkspace, pv ProxyVJP, u, v int, g *Gradient) error {
	d := f.d
	a := &f.adj
	n0 := a.cbar[u]
	n1 := a.fbar[u*d : u*d+d]
	Hu := a.hbar[u*d*d : (u+1)*d*d]
	if n0 == 0 && isZero(n1) && isZero(Hu) {
		return nil
	}
	n2 := rw.T4
	for i := range n2[:d*d] {
		n2[i] = -2 * Hu[i]
	}
	anchor := f.anchor(&f.ws[0], v)
	pv.Proxy(v, anchor, rw.A, rw.b, rw.Q)
	if f.exact[v] {
		if err := f.pullExactVJP(rw, v, n0, n1, n2); err != nil {
			return err
		}
		pv.ProxyVJP(v, anchor, rw.Abar, rw.bbar, rw.Qbar, g.Params)
		return nil
	}
	H, F := f.h.At(v), f.f.At(v)
	fc := &rw.fa
	if !fc.compute(H, F, rw.Q, d) {
		return f.nodeError(v, "proxy covariance of the edge above", ErrNotPosDef)
	}
	f.pullVJPCore(rw, fc, H, F, rw.A, rw.b, n0, n1, n2,
		a.hbar[v*d*d:(v+1)*d*d], a.fbar[v*d:v*d+d], &a.cbar[v], rw.Abar, rw.bbar, rw.Qbar)
	pv.ProxyVJP(v, anchor, rw.Abar, rw.bbar, rw.Qbar, g.Params)
	return nil
}

// pullVJPCore evaluates the closed-form VJP of the pullback through N(Ax + b, Q) given the
// pseudo-moments n0 = c̄↑, n1 = F̄↑, n2 = −2H̄↑. It adds to (Hbar, Fbar, cbar) of the
// child message and sets (Abar, bbar, Qbar).
func (f *Filter) pullVJPCore(rw *revWorkspace, fc *factors, H, F, A, b []float64, n0 float64, n1, n2 []float64,
	Hbar, Fbar []float64, cbar *float64, Abar, bbar, Qbar []float64) {
	d := f.d
	mu1, kf, gmu1, mmu1 := rw.mu, rw.mu2, rw.mubar, rw.mu2bar
	// μ1 = A n1 + n0 b.
	mulVec(mu1, A, d, d, n1)
	addScaled(mu1, n0, b)
	// μ2 = A n2 A' + A n1 b' + b n1'A' + n0 bb'.
	mu2 := rw.T1
	mul(rw.T2, A, n2, d, d, d)
	mulBT(mu2, rw.T2, A, d, d, d)
	mulVec(rw.t1, A, d, d, n1)
	addOuter(mu2, 1, rw.t1, b)
	addOuter(mu2, 1, b, rw.t1)
	addOuter(mu2, n0, b, b)
	// KF, Gμ1 = μ1 − K H μ1, Mμ1.
	mulVec(kf, fc.K, d, d, F)
	mulVec(rw.t1, H, d, d, mu1)
	mulVec(gmu1, fc.K, d, d, rw.t1)
	for i := range gmu1 {
		gmu1[i] = mu1[i] - gmu1[i]
	}
	mulVec(mmu1, fc.M, d, d, mu1)
	// ν1 = Gμ1 + n0 KF.
	*cbar += n0
	addScaled(Fbar, 1, gmu1)
	addScaled(Fbar, n0, kf)
	// ν2 = Gμ2G' + Gμ1(KF)' + KF(Gμ1)' + n0 KF KF'; with KH = (HK)', Gμ2 = μ2 − K H μ2
	// and (Gμ2)G' = Gμ2 − (Gμ2) H K.
	mulT(rw.T2, fc.HK, mu2, d, d, d) // KHμ2 = (HK)'μ2
	T := rw.T3
	for i := range T[:d*d] {
		T[i] = mu2[i] - rw.T2[i]
	}
	mul(rw.T2, T, fc.HK, d, d, d)
	for i := range T[:d*d] {
		T[i] -= rw.T2[i]
	}
	addOuter(T, 1, gmu1, kf)
	addOuter(T, 1, kf, gmu1)
	addOuter(T, n0, kf, kf)
	// H̄ += −½(n0 K + ν2).
	addScaled(Hbar, -0.5*n0, fc.K)
	addScaled(Hbar, -0.5, T[:d*d])
	symmetrize(Hbar, d)
	// b̄ = n0 F̂ − Mμ1.
	for i := 0; i < d; i++ {
		bbar[i] = n0*fc.Fhat[i] - mmu1[i]
	}
	// Ā = −M(A n2 + b n1') + F̂ n1'.
	mul(rw.T2, A, n2, d, d, d)
	addOuter(rw.T2, 1, b, n1)
	mul(Abar, fc.M, rw.T2, d, d, d)
	for i := range Abar[:d*d] {
		Abar[i] = -Abar[i]
	}
	addOuter(Abar, 1, fc.Fhat, n1)
	// Q̄ = ½[n0 F̂F̂' − F̂(Mμ1)' − (Mμ1)F̂' + Mμ2M − n0 M].
	mul(rw.T2, fc.M, mu2, d, d, d)
	mul(Qbar, rw.T2, fc.M, d, d, d)
	addOuter(Qbar, n0, fc.Fhat, fc.Fhat)
	addOuter(Qbar, -1, fc.Fhat, mmu1)
	addOuter(Qbar, -1, mmu1, fc.Fhat)
	addScaled(Qbar, -n0, fc.M)
	for i := range Qbar[:d*d] {
		Qbar[i] *= 0.5
	}
	symmetrize(Qbar, d)
}

// rootVJP adds the root term's adjoints: J_root = wbar·log g_root plus, when guided, the
// adjoint of the sampled or fixed root state.
func (f *Filter) rootVJP(rw *revWorkspace, root Root, z []float64, wbar float64, g *Gradient, guided bool) error {
	d := f.d
	a := &f.adj
	H, F := f.h.At(0), f.f.At(0)
	Hbar, Fbar := a.hbar[:d*d], a.fbar[:d]
	m := root.Mean
	if m == nil {
		m = f.ws[0].zero
	}
	if root.Cov == nil {
		// log g = c + F'm − ½m'Hm; x_root = m.
		a.cbar[0] += wbar
		addScaled(Fbar, wbar, m)
		addOuter(Hbar, -0.5*wbar, m, m)
		mulVec(rw.t1, H, d, d, m)
		for i := 0; i < d; i++ {
			g.RootMean[i] += wbar * (F[i] - rw.t1[i])
			if guided {
				g.RootMean[i] += a.xbar[i]
			}
		}
		return nil
	}
	// log g is the pullback with A = 0, b = m0, Q = P0 evaluated with n0 = wbar.
	fc := &rw.fa
	if !fc.compute(H, F, root.Cov, d) {
		return f.nodeError(0, "root prior covariance", ErrNotPosDef)
	}
	clear(rw.A)
	zero := f.ws[0].zero
	clear(rw.T4)
	f.pullVJPCore(rw, fc, H, F, rw.A, m, wbar, zero, rw.T4, Hbar, Fbar, &a.cbar[0], rw.Abar, rw.bbar, rw.Qbar)
	addScaled(g.RootMean, 1, rw.bbar)
	addScaled(g.RootCov, 1, rw.Qbar)
	if guided {
		if !fc.compute(H, F, root.Cov, d) {
			return f.nodeError(0, "root prior covariance", ErrNotPosDef)
		}
		clear(rw.mubar)
		clear(rw.Qbar)
		sampleVJP(rw, fc, H, F, m, z[:d], a.xbar[:d], Hbar, Fbar, g.Z[:d])
		addScaled(g.RootMean, 1, rw.mubar)
		symmetrize(rw.Qbar, d)
		addScaled(g.RootCov, 1, rw.Qbar)
	}
	return nil
}

// leafVJP turns the adjoint of leaf v's message h(x) = N(y_o; x_o, R_o) into the
// adjoint of the noise covariance: with pseudo-moments n0 = c̄, n1 = F̄, n2 = −2H̄ and
// E = n0 yy' − y n1' − n1 y' + n2 on the observed coordinates,
// R̄ = ½R⁻¹ER⁻¹ − ½n0R⁻¹.
func (f *Filter) leafVJP(rw *revWorkspace, v int, g *Gradient) {
	d := f.d
	a := &f.adj
	ws := &f.ws[0]
	y, err := f.observed(ws, v)
	if err != nil || len(ws.obs) == 0 || f.exact[v] {
		return
	}
	o := ws.obs
	m := len(o)
	n0 := a.cbar[v]
	n1, Hb := a.fbar[v*d:v*d+d], a.hbar[v*d*d:(v+1)*d*d]
	E := rw.T1[:m*m]
	for p, kp := range o {
		for q, kq := range o {
			E[p*m+q] = n0*y[kp]*y[kq] - y[kp]*n1[kq] - n1[kp]*y[kq] - 2*Hb[kp*d+kq]
		}
	}
	i := f.t.LeafIndex(v)
	if f.obs.Cov == nil {
		tau2 := f.obs.Var
		if f.obs.LeafVar != nil {
			tau2 = f.obs.LeafVar[i]
		}
		tr := 0.0
		for p := 0; p < m; p++ {
			tr += E[p*m+p]
		}
		gv := 0.5*tr/(tau2*tau2) - 0.5*float64(m)*n0/tau2
		if f.obs.LeafVar != nil {
			g.LeafVar[i] += gv
		} else {
			g.NoiseVar += gv
		}
		return
	}
	// Matrix noise: factor R_o, then R̄ = ½R⁻¹(E − n0 R)R⁻¹.
	L := rw.T2[:m*m]
	for p, kp := range o {
		for q, kq := range o {
			L[p*m+q] = f.obs.Cov[kp*d+kq]
			E[p*m+q] -= n0 * f.obs.Cov[kp*d+kq]
		}
	}
	if !cholesky(L, m) {
		return // Run would have failed
	}
	X := rw.T3[:m*m]
	tmp := rw.t2[:m]
	for q := 0; q < m; q++ { // X = R⁻¹E column by column
		for p := 0; p < m; p++ {
			tmp[p] = E[p*m+q]
		}
		solveLower(L, m, tmp)
		solveLowerT(L, m, tmp)
		for p := 0; p < m; p++ {
			X[p*m+q] = tmp[p]
		}
	}
	for p := 0; p < m; p++ { // R̄ = ½ R⁻¹ X' (X R⁻¹ = (R⁻¹X')' and the result is symmetric)
		for q := 0; q < m; q++ {
			tmp[q] = X[p*m+q]
		}
		solveLower(L, m, tmp)
		solveLowerT(L, m, tmp)
		for q, kq := range o {
			g.NoiseCov[o[p]*d+kq] += 0.5 * tmp[q]
		}
	}
}

// pullExactVJP is the VJP of the message h↑(x) = N(y_o; L(Ax + b), C), C = LQL', that an
// exactly observed leaf v sends to its parent, for pseudo-moments (n0, n1, n2) and the
// edge (A, b, Q) in rw. With r = y − L(Ax + b), ρ1 = E[r], ρ2 = E[rr'] and E[rx'],
//
//	C̄ = ½C⁻¹ρ2C⁻¹ − ½n0C⁻¹,  Q̄ = L'C̄L,  b̄ = L'C⁻¹ρ1,  Ā = L'C⁻¹E[rx'].
//
// It sets rw.Abar, rw.bbar and rw.Qbar.
func (f *Filter) pullExactVJP(rw *revWorkspace, v int, n0 float64, n1, n2 []float64) error {
	d := f.d
	ws := &f.ws[0]
	y, err := f.observed(ws, v)
	if err != nil {
		return err
	}
	o := ws.obs
	m := len(o)
	C := rw.T1[:m*m]
	for a, ka := range o {
		for b, kb := range o {
			C[a*m+b] = rw.Q[ka*d+kb]
		}
	}
	if !cholesky(C, m) {
		return f.nodeError(v, "edge covariance at the observed coordinates", ErrExactZero)
	}
	// yb = y_o − (Lb), An1 = (LA n1), ρ1 = n0·yb − An1.
	yb, an1 := rw.t1[:m], rw.t2[:m]
	mulVec(rw.mu, rw.A, d, d, n1)
	for a, ka := range o {
		yb[a] = y[ka] - rw.b[ka]
		an1[a] = rw.mu[ka]
	}
	// E[rx'] = yb n1' − (LA n2) (m×d), and ρ2 = n0 yb yb' − yb(LAn1)' − (LAn1)yb' + LA n2 A'L'.
	mul(rw.T2, rw.A, n2, d, d, d) // A n2
	Erx := rw.T3[:m*d]
	for a, ka := range o {
		for j := 0; j < d; j++ {
			Erx[a*d+j] = yb[a]*n1[j] - rw.T2[ka*d+j]
		}
	}
	mulBT(rw.T4, rw.T2, rw.A, d, d, d) // A n2 A'
	rho2 := rw.T2[:m*m]
	for a, ka := range o {
		for b, kb := range o {
			rho2[a*m+b] = n0*yb[a]*yb[b] - yb[a]*an1[b] - an1[a]*yb[b] + rw.T4[ka*d+kb]
		}
	}
	// C⁻¹ applied to ρ1 and to the columns of E[rx'] and ρ2.
	rho1 := rw.mu2[:m]
	for a := range rho1 {
		rho1[a] = n0*yb[a] - an1[a]
	}
	solveLower(C, m, rho1)
	solveLowerT(C, m, rho1)
	col := rw.mubar[:m]
	for j := 0; j < d; j++ {
		for a := 0; a < m; a++ {
			col[a] = Erx[a*d+j]
		}
		solveLower(C, m, col)
		solveLowerT(C, m, col)
		for a := 0; a < m; a++ {
			Erx[a*d+j] = col[a]
		}
	}
	// X = C⁻¹ρ2C⁻¹ − n0C⁻¹ = C⁻¹(ρ2 − n0C)C⁻¹, computed column by column twice.
	for a, ka := range o {
		for b, kb := range o {
			rho2[a*m+b] -= n0 * rw.Q[ka*d+kb]
		}
	}
	for pass := 0; pass < 2; pass++ {
		for b := 0; b < m; b++ {
			for a := 0; a < m; a++ {
				col[a] = rho2[a*m+b]
			}
			solveLower(C, m, col)
			solveLowerT(C, m, col)
			for a := 0; a < m; a++ {
				rho2[a*m+b] = col[a]
			}
		}
		// Transpose so the second pass applies C⁻¹ from the other side.
		for a := 0; a < m; a++ {
			for b := a + 1; b < m; b++ {
				rho2[a*m+b], rho2[b*m+a] = rho2[b*m+a], rho2[a*m+b]
			}
		}
	}
	clear(rw.Abar)
	clear(rw.bbar)
	clear(rw.Qbar)
	for a, ka := range o {
		rw.bbar[ka] = rho1[a]
		for j := 0; j < d; j++ {
			rw.Abar[ka*d+j] = Erx[a*d+j]
		}
		for b, kb := range o {
			rw.Qbar[ka*d+kb] = 0.5 * rho2[a*m+b]
		}
	}
	symmetrize(rw.Qbar, d)
	return nil
}
