package bffg

import (
	"fmt"
	"math"

	"github.com/canopy-bffg/canopy/internal/dense"
	"github.com/canopy-bffg/canopy/sde"
)

// Backward differentiates J = log h_root + Σ_v log w_v, as computed by the last Run and
// Guide (which must have used z), with respect to the noise, the flow's parameters and
// the leaf noise variance. It writes ∂J/∂z into zbar (NumNoise, overwritten; the
// root's block is 0), adds ∂J/∂θ to pbar (len Flow.NumParams) and returns ∂J/∂τ². The
// anchors are constants.
//
// The reverse pass runs the guided pass backwards edge by edge, recomputing each grid
// point's message (G, V) and state quantities from the stored path instead of storing
// them, then the filter from the root down (bffg-math §4.1). Each pullback
// (C = chol(I + L'QL), G = LC⁻ᵀ, V = C⁻¹U) is differentiated through its Cholesky
// factors (Murray's rule) and triangular solves.
func (f *FlowFilter) Backward(z, zbar, pbar []float64) (float64, error) {
	if !f.guided {
		panic("bffg: FlowFilter.Backward before Guide")
	}
	if len(z) != f.NumNoise() || len(zbar) != f.NumNoise() || len(pbar) != f.flow.NumParams() {
		panic("bffg: FlowFilter.Backward: wrong buffer sizes")
	}
	if err := f.checkMode("Guide"); err != nil {
		return 0, err
	}
	t, n, d := f.t, f.n, f.d
	nd := n * d
	N := t.Len()
	np := len(pbar)
	if len(f.pb) != N || len(f.pb[0]) != np {
		f.pb = make([][]float64, N)
		for v := range f.pb {
			f.pb[v] = make([]float64, np)
		}
	}
	for v := 0; v < N; v++ {
		clear(f.lb[v])
		clear(f.ub[v])
		clear(f.xb0[v])
		clear(f.pb[v])
		f.kb[v], f.tb[v] = 0, 0
	}
	clear(f.NoiseBlock(zbar, 0))

	// Guided pass, leaves to root: x̄ at the end of an edge is the sum of x̄ at the start
	// of its children's edges, in child order.
	err := f.sweep(true, func(w *flowWork, v int) error {
		if v == 0 {
			return nil
		}
		path := f.path[v]
		zv, zbv := f.NoiseBlock(z, v), f.NoiseBlock(zbar, v)
		clear(w.xbn)
		lo, hi := t.Children(v)
		for c := lo; c < hi; c++ {
			for i, e := range f.xb0[c] {
				w.xbn[i] += e
			}
		}
		// ã₀, ã_T, P0 and PT for the pulls recomputed below, and for λ̄ through Q_j
		// (pullVJP).
		if err := f.prepareEdge(v, w); err != nil {
			return err
		}
		clearEdgeAdjoints(w)
		var err error
		switch {
		case f.discrete(v):
			clear(zbv[nd:]) // the block's unused entries
			err = f.discreteVJP(v, path[:nd], zv[:nd], zbv[:nd], w)
		case f.ExactSteps:
			err = f.exactEdgeVJP(v, path, zv, zbv, w)
		default:
			err = f.explicitEdgeVJP(v, path, zv, zbv, w)
		}
		if err != nil {
			return err
		}
		copy(f.xb0[v], w.xbn)
		f.edgeVJP(v, w)
		return nil
	})
	if err != nil {
		return 0, err
	}

	// Filter, root to leaves. log h_root = κ − ½|e|², e = U − L'x.
	e := f.ws[0].xs
	copy(e, f.uv[0])
	dense.Gemm(true, false, -1, f.lv[0], n, n, f.root, n, d, 1, e)
	f.kb[0]++
	for i, v := range e {
		f.ub[0][i] -= v
	}
	dense.Gemm(false, true, 1, f.root, n, d, e, n, d, 1, f.lb[0]) // L̄ += x e'
	err = f.sweep(false, func(w *flowWork, v int) error {
		if t.IsLeaf(v) {
			return nil
		}
		return f.fuseVJP(v, w)
	})
	if err != nil {
		return 0, err
	}
	for _, pb := range f.pb {
		for i, e := range pb {
			pbar[i] += e
		}
	}
	tau2 := f.tau2
	tb := 0.0
	for _, e := range f.tb {
		tb += e
	}
	tau := math.Sqrt(tau2)
	for i := 0; i < t.NumLeaves(); i++ {
		v := t.Leaf(i)
		if f.obsLeaf(v) >= 0 {
			continue // its ∂/∂τ² is in f.tb
		}
		for _, k := range f.seen[i] { // L_kk = 1/τ
			tb += f.lb[v][k*n+k] * (-0.5 / (tau2 * tau))
		}
		tb -= dot(f.ub[v], f.uv[v]) / (2 * tau2)
		tb -= f.kb[v] * float64(len(f.seen[i])*d) / (2 * tau2)
	}
	return tb, nil
}

// explicitEdgeVJP is the reverse of the explicit (or semi-implicit) guided pass along the
// SDE edge above v, from its path and noise z: given x̄ of the edge's end state in w.xbn,
// it leaves x̄ of its start state there, writes z̄ into zb and takes every grid point's
// message back through pullVJP.
func (f *FlowFilter) explicitEdgeVJP(v int, path, zv, zbv []float64, w *flowWork) error {
	n, d, m := f.n, f.d, f.ns[v]
	nd := n * d
	T := f.t.BranchLength(v)
	for j := m - 1; j >= 0; j-- {
		x := path[j*nd : (j+1)*nd]
		if f.cache != nil {
			w.load(f.cache, f.slot(v, j))
			// The cache does not keep the drift, which is cheap next to the step.
			if f.drift != nil {
				if err := f.drift.DriftTo(w.bx, x); err != nil {
					return &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("drift at step %d", j), Err: err}
				}
			}
		} else {
			if _, err := f.pull(v, j, w); err != nil {
				return err
			}
			if _, err := f.stepForward(v, j, x, w); err != nil {
				return err
			}
		}
		tj, dt := f.gridPoint(T, m, j)
		sq := math.Sqrt(dt)
		wt, _, _ := edgeWeights(T, tj)
		xb := w.xbn // x̄_{j+1}; becomes x̄_j below
		zj := zv[j*nd : (j+1)*nd]
		// x_{j+1} = x + b (explicit), or x + Δ with (I + dt·KGG')Δ = b (semi-implicit);
		// b = dt·(K r + b(x)) + √dt·L_K z, b(x) the drift if any. bb is b̄.
		bb := xb
		if f.SemiImplicit {
			if err := f.semiImplicitVJP(dt, zj, xb, w); err != nil {
				return err
			}
			bb = w.bb
		}
		dense.Gemm(false, true, dt, bb, n, d, w.r, n, d, 0, w.kb)  // K̄ = dt b̄ r'
		dense.Gemm(false, false, dt, w.k, n, n, bb, n, d, 0, w.rb) // r̄ = dt K b̄
		dense.Gemm(false, true, sq, bb, n, d, zj, n, d, 0, w.lkb)  // L̄_K = √dt b̄ z'
		dense.Gemm(true, false, sq, w.lk, n, n, bb, n, d, 0, zbv[j*nd:(j+1)*nd])
		// log-weight dt·[−½d·tr(DGG') + ½tr(r'Dr)], D = K − ã(t_j).
		dense.Gemm(false, true, -0.5*dt*float64(d), w.g, n, n, w.g, n, n, 0, w.db)
		dense.Gemm(false, true, 0.5*dt, w.r, n, d, w.r, n, d, 1, w.db)
		for i, e := range w.e {
			w.gb[i] = -dt * float64(d) * e
		}
		if f.SemiImplicit {
			for i := range w.gb {
				w.gb[i] += w.gs[i]
				w.kb[i] += w.ks[i]
			}
		}
		for i, e := range w.dr {
			w.rb[i] += dt * e
		}
		if f.drift != nil {
			// dt·b(x) in b and dt·tr(b'r) in the log-weight: b̄ = dt(b̄ + r), r̄ += dt·b.
			// bb (x̄_{j+1} itself for explicit steps) is read before x̄ changes.
			for i, e := range w.bx {
				w.xd[i] = dt * (bb[i] + w.r[i])
				w.rb[i] += dt * e
			}
			f.driftVJP(v, x, w.xbn, w)
		}
		if f.aux != nil {
			// dt·λ(x − μ)'r in the log-weight.
			for i, e := range x {
				w.rb[i] += dt * f.lam * (e - f.mu[i])
				w.xbn[i] += dt * f.lam * w.r[i]
				w.mub[i] -= dt * f.lam * w.r[i]
			}
			w.lamb += dt * (dot(x, w.r) - dot(f.mu, w.r))
		}
		for i, e := range w.db {
			w.kb[i] += e
			w.a0b[i] -= (1 - wt) * e
			w.aTb[i] -= wt * e
		}
		// r = Gs, s = V − G'x.
		dense.Gemm(false, true, 1, w.rb, n, d, w.s, n, d, 1, w.gb)    // Ḡ += r̄ s'
		dense.Gemm(true, false, 1, w.g, n, n, w.rb, n, d, 0, w.vb)    // s̄ = G'r̄ = V̄
		dense.Gemm(false, true, -1, x, n, d, w.vb, n, d, 1, w.gb)     // Ḡ −= x s̄'
		dense.Gemm(false, false, -1, w.g, n, n, w.vb, n, d, 1, w.xbn) // x̄ −= G s̄ (x̄ = x̄_{j+1} + …)
		// K = K(x), L_K = chol(K).
		sde.CholeskyVJPTo(w.sb, w.lk, w.lkb, n)
		for i, e := range w.sb {
			w.kb[i] += e
		}
		f.flow.KernelVJPTo(w.xq, f.pb[v], x, w.kb)
		for i, e := range w.xq {
			w.xbn[i] += e
		}
		f.pullVJP(v, j, 0, w)
	}
	return nil
}

// semiImplicitVJP is the reverse of semiImplicit given Δ̄ (xb): it writes b̄ into w.bb
// and the solve's contributions to Ḡ and K̄ into w.gs and w.ks. With a = G'b,
// c = W⁻¹a, e = Gc and Δ = b − dt·Ke:
//
//	ē = −dt·KΔ̄, c̄ = G'ē, ā = W⁻¹c̄, W̄ = −āc', b̄ = Δ̄ + Gā,
//	Ḡ = ēc' + bā' + dt·KG(W̄ + W̄'), K̄ = −dt·Δ̄e' + dt·GW̄G'.
func (f *FlowFilter) semiImplicitVJP(dt float64, z, xb []float64, w *flowWork) error {
	n, d := f.n, f.d
	if err := f.semiImplicit(dt, z, w); err != nil { // recompute a, chol(W), c, e; w.bb = Δ
		return err
	}
	b := w.yb // b = Δ + dt·Ke
	copy(b, w.bb)
	dense.Gemm(false, false, dt, w.k, n, n, w.se, n, d, 1, b)
	ebar := w.xq
	dense.Gemm(false, false, -dt, w.k, n, n, xb, n, d, 0, ebar)
	dense.Gemm(false, true, -dt, xb, n, d, w.se, n, d, 0, w.ks)
	dense.Gemm(false, true, 1, ebar, n, d, w.sc, n, d, 0, w.gs)
	abar := w.sa
	dense.Gemm(true, false, 1, w.g, n, n, ebar, n, d, 0, abar) // c̄
	dense.Trsm(false, w.wm, n, abar, d)
	dense.Trsm(true, w.wm, n, abar, d)                           // ā
	dense.Gemm(false, true, -1, abar, n, d, w.sc, n, d, 0, w.db) // W̄
	dense.Gemm(false, true, 1, b, n, d, abar, n, d, 1, w.gs)
	copy(w.bb, xb)
	dense.Gemm(false, false, 1, w.g, n, n, abar, n, d, 1, w.bb)
	for i := 0; i < n; i++ { // W̄ + W̄'
		for k := 0; k <= i; k++ {
			s := w.db[i*n+k] + w.db[k*n+i]
			w.db[i*n+k], w.db[k*n+i] = s, s
		}
	}
	dense.Gemm(false, false, 1, w.k, n, n, w.g, n, n, 0, w.t1)      // KG
	dense.Gemm(false, false, dt, w.t1, n, n, w.db, n, n, 1, w.gs)   // dt·KG(W̄ + W̄')
	dense.Gemm(false, false, 1, w.g, n, n, w.db, n, n, 0, w.t1)     // G(W̄ + W̄')
	dense.Gemm(false, true, 0.5*dt, w.t1, n, n, w.g, n, n, 1, w.ks) // dt·GW̄G' (symmetrised)
	return nil
}

// discreteVJP is the reverse of discreteStep for the edge above v, from parent state x
// and noise z: given x̄_v in w.xbn (and a unit weight on its log-weight), it leaves x̄
// of the parent state in w.xbn, writes z̄ into zb, adds to the adjoints of v's vertex
// message and to pbar, and takes the auxiliary's message back through pullVJP.
func (f *FlowFilter) discreteVJP(v int, x, z, zb []float64, w *flowWork) error {
	T := f.t.BranchLength(v)
	if T == 0 { // x_v = x: x̄ passes through, z is unused
		clear(zb)
		return nil
	}
	if _, err := f.pull(v, 0, w); err != nil { // C, G₀, V₀ for pullVJP below
		return err
	}
	xb := w.xbn
	if f.conditioned(v) {
		f.residual(w.s, w.v, w.g, x)
		clear(zb)
		if err := f.conditionVJP(v, f.t.LeafIndex(v), stepTimes{drift: T, diff: T}, x, x, w); err != nil {
			return err
		}
	} else {
		if _, err := f.discreteStep(v, x, z, w.xn, w); err != nil {
			return err
		}
		f.tiltedVJP(v, stepTimes{drift: T, diff: T}, x, x, zb, f.lv[v], f.lb[v], f.ub[v], nil, w)
		f.kb[v]++
	}
	f.auxVJP(x, w.g, w.s, w.gb, w.vb, xb)
	f.pullVJP(v, 0, -1, w)
	return nil
}

// tiltedVJP is the reverse of tiltedStep(c, x, mean, z, ·, G, ·, ·), whose quantities
// are in the work space, for the edge above v: given x̄ of the drawn state in w.xbn
// (and a unit weight on the returned log-integral), it leaves x̄ of x in w.xbn, writes
// z̄ into zb, adds the adjoints of G and V to gb and vb (the caller adds κ̄ += 1) and
// adds to pbar (and to λ̄ of the edge, w.lamb, under ExponentialSteps). The
// transition is N(mean, c₂K(x) ⊗ I_d), and on an edge with a drift mean is x + c₁b(x)
// (stepMean; b(x) in w.bx), otherwise x, for the times c₁, c₂ in st. The adjoint of
// K(x) goes back through the kernel to x̄ and θ̄, or, if kb is not nil, is added to kb
// for the caller to take back with others at the same x.
func (f *FlowFilter) tiltedVJP(v int, st stepTimes, x, mean, zb, G, gb, vb, kb []float64, w *flowWork) {
	n, d := f.n, f.d
	xb := w.xbn
	// x' = m + Rt, t = B⁻ᵀy, y = g + z (m the mean).
	dense.Gemm(true, false, 1, w.lk, n, n, xb, n, d, 0, w.yb)    // t̄ = R'x̄'
	dense.Gemm(false, true, 1, xb, n, d, w.xs, n, d, 0, w.lkb)   // R̄ = x̄'t'
	dense.Trsm(false, w.dm, n, w.yb, d)                          // ȳ = B⁻¹t̄
	dense.Gemm(false, true, -1, w.xs, n, d, w.yb, n, d, 0, w.cb) // B̄ = −tȳ'
	copy(zb, w.yb)                                               // z̄ = ȳ
	for i, g := range w.r {                                      // ḡ = ȳ + g (from ½|g|²)
		w.yb[i] += g
	}
	// g = B⁻¹Me.
	dense.Trsm(true, w.dm, n, w.yb, d)                          // Y = B⁻ᵀḡ
	dense.Gemm(false, true, -1, w.yb, n, d, w.r, n, d, 1, w.cb) // B̄ −= Yg'
	dense.Gemm(false, true, 1, w.yb, n, d, w.dr, n, d, 0, w.kb) // M̄ = Ye'
	dense.Gemm(true, false, 1, w.e, n, n, w.yb, n, d, 0, w.rb)  // ē = M'Y …
	for i, e := range w.dr {
		w.rb[i] -= e // … − e (from −½|e|²)
	}
	for k := 0; k < n; k++ {
		w.cb[k*n+k] -= float64(d) / w.dm[k*n+k]
	}
	// e = V − G'm.
	for i, e := range w.rb {
		vb[i] += e
	}
	dense.Gemm(false, false, -1, G, n, n, w.rb, n, d, 1, xb)
	dense.Gemm(false, true, -1, mean, n, d, w.rb, n, d, 1, gb)
	if f.drifts(v) {
		// x̄ so far is m̄; m = x + c₁b(x).
		if st.ddrift != 0 { // exponential steps only
			w.lamb += st.ddrift * dot(xb, w.bx)
		}
		for i, e := range xb {
			w.xd[i] = st.drift * e
		}
		f.driftVJP(v, x, xb, w)
	}
	// B = chol(I + MM'), M = R'G, R = chol(c·K(x)).
	sde.CholeskyVJPTo(w.sb, w.dm, w.cb, n)
	dense.Gemm(false, false, 2, w.sb, n, n, w.e, n, n, 1, w.kb) // M̄ += 2S̄M
	dense.Gemm(false, true, 1, G, n, n, w.kb, n, n, 1, w.lkb)   // R̄ += GM̄'
	copy(w.sb, w.kb)
	dense.Trmm(false, w.lk, n, w.sb, n) // Ḡ += RM̄
	for i, e := range w.sb {
		gb[i] += e
	}
	if st.ddiff != 0 {
		// R = √c₂·chol(K), so c̄₂ = ⟨R̄, R⟩/(2c₂) (R's upper triangle is zero).
		w.lamb += st.ddiff * dot(w.lkb, w.lk) / (2 * st.diff)
	}
	sde.CholeskyVJPTo(w.sb, w.lk, w.lkb, n)
	if kb != nil {
		for i, e := range w.sb {
			kb[i] += st.diff * e
		}
		return
	}
	for i := range w.sb {
		w.sb[i] *= st.diff
	}
	f.flow.KernelVJPTo(w.xq, f.pb[v], x, w.sb)
	for i, e := range w.xq {
		xb[i] += e
	}
}

// exactEdgeVJP is the reverse of exactEdge for the edge above v, from its path and
// noise z: given x̄ of the edge's end state in w.xbn, it leaves x̄ of its start state
// there, writes z̄ (Steps×n×d) into zb and takes every grid point's message back through
// pullVJP. The adjoints of grid point j+1's message (w.gb, w.vb, kn) collect the
// contributions of steps j (its tilt) and j+1 (its auxiliary term) before pullVJP.
func (f *FlowFilter) exactEdgeVJP(v int, path, z, zb []float64, w *flowWork) error {
	n, d, m := f.n, f.d, f.ns[v]
	nd := n * d
	T := f.t.BranchLength(v)
	if T == 0 { // x̄ passes through, z is unused
		clear(zb)
		return nil
	}
	cached := f.cache != nil
	last := m // the loop below takes steps last−1, …, 0 back
	kn := 0.0
	if f.conditioned(v) {
		// The conditioning step: grid point m−1's message goes into the first slot
		// with the adjoints of its auxiliary term, as the loop leaves them.
		last = m - 1
		if cached {
			p, _ := f.exactSlot(v, last)
			w.loadPull(f.cache[p:])
		} else if _, err := f.pullExact(v, last, path, w); err != nil {
			return err
		}
		x := path[last*nd : m*nd]
		_, dt := f.gridPoint(T, m, last)
		st := f.stepTimes(v, dt)
		clear(zb[last*nd:])
		mean, err := f.stepMean(v, last, st.drift, x, w)
		if err != nil {
			return err
		}
		if err := f.conditionVJP(v, f.t.LeafIndex(v), st, x, mean, w); err != nil {
			return err
		}
		f.residual(w.sq, w.v, w.g, x)
		f.auxVJP(x, w.g, w.sq, w.gb, w.vb, w.xbn)
		kn = -1
	} else {
		if cached {
			p, _ := f.exactSlot(v, m)
			w.loadPull(f.cache[p:])
		} else if _, err := f.pullExact(v, m, path, w); err != nil {
			return err
		}
		clear(w.gb)
		clear(w.vb)
	}
	var st stepTimes
	for j := last - 1; j >= 0; j-- {
		_, dt := f.gridPoint(T, m, j)
		if j == last-1 || f.TimeChange { // on a uniform grid every step has the same dt
			st = f.stepTimes(v, dt)
		}
		x := path[j*nd : (j+1)*nd]
		zj := z[j*nd : (j+1)*nd]
		w.swapPull()
		if cached {
			p, s := f.exactSlot(v, j)
			w.loadPull(f.cache[p:])
			w.loadStep(f.cache[s:])
			w.swapPull() // grid point j+1 in c, g, v; j in cq, gq, vq
		}
		mean, err := f.stepMean(v, j, st.drift, x, w)
		if err != nil {
			return err
		}
		if !cached {
			if _, err := f.pullExact(v, j, path, w); err != nil {
				return err
			}
			w.swapPull()
			f.residual(w.sq, w.vq, w.gq, x)
			// Recompute the step's quantities (its value, hence κ, is not needed).
			if _, what, err := f.tiltedStep(st.diff, x, mean, zj, w.xn, w.g, w.v, 0, w); err != nil {
				return &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("%s at step %d", what, j), Err: err}
			}
		}
		// Under LocalAux, K̄(x_j) of the step waits in w.a0b for localVJP, which takes
		// it back through the kernel with that of grid point j+1's message.
		var kb []float64
		if f.LocalAux {
			kb = w.a0b
		}
		f.tiltedVJP(v, st, x, mean, zb[j*nd:(j+1)*nd], w.g, w.gb, w.vb, kb, w)
		kn++
		f.auxVJP(x, w.gq, w.sq, w.gqb, w.vqb, w.xbn)
		if f.LocalAux { // grid point j+1's message: the auxiliary at x_j
			if err := f.localEdge(v, j, x, w); err != nil {
				return err
			}
		}
		f.pullVJP(v, j+1, kn, w)
		if f.LocalAux {
			f.localVJP(v, x, w)
		}
		w.swapPull()
		w.swapAdjoints()
		kn = -1
	}
	if f.LocalAux { // grid point 0's message keeps the anchors
		if err := f.prepareEdge(v, w); err != nil {
			return err
		}
	}
	f.pullVJP(v, 0, kn, w)
	return nil
}

// pullExact is pull for grid point j of an edge with exact steps and path path: under
// LocalAux, grid point j > 0 takes the auxiliary at x_{j−1} and grid point 0 the
// anchors'.
func (f *FlowFilter) pullExact(v, j int, path []float64, w *flowWork) (float64, error) {
	if f.LocalAux {
		var err error
		if j > 0 {
			nd := f.n * f.d
			err = f.localEdge(v, j-1, path[(j-1)*nd:j*nd], w)
		} else {
			err = f.prepareEdge(v, w)
		}
		if err != nil {
			return 0, err
		}
	}
	return f.pull(v, j, w)
}

// driftVJP adds (∂b/∂x)'b̄ to xb and (∂b/∂θ)'b̄ to θ̄ of the edge above v, for the
// drift's adjoint b̄ in w.xd. It uses w.xq.
func (f *FlowFilter) driftVJP(v int, x, xb []float64, w *flowWork) {
	f.drift.DriftVJPTo(w.xq, f.pb[v], x, w.xd)
	for i, e := range w.xq {
		xb[i] += e
	}
}

// auxVJP writes the adjoints of the auxiliary term −log h̃(x) = −κ + ½|s|² of a step,
// s = V − G'x (in s): V̄ = s and Ḡ = −xs' into vb and gb, and x̄ −= Gs into xb. The
// caller adds κ̄ = −1.
func (f *FlowFilter) auxVJP(x, G, s, gb, vb, xb []float64) {
	n, d := f.n, f.d
	copy(vb, s)
	dense.Gemm(false, true, -1, x, n, d, s, n, d, 0, gb)
	dense.Gemm(false, false, -1, G, n, n, s, n, d, 1, xb)
}

// conditionVJP adds to x̄ (w.xbn), θ̄ and τ̄² of the edge above leaf v (leaf index i) the
// adjoints of the conditioning step's log N(y_O; m_O, Σ ⊗ I_d), Σ = c₂K_OO(x), m the
// transition's mean (x, or x + c₁b(x) on an edge with a drift; the times in st). Its
// draw is not differentiated: the state of a leaf feeds nothing, so x̄ of it is zero
// (and z̄ of the step too). With β = Σ⁻¹(y_O − m_O): Σ̄ = ½ββ' − ½dΣ⁻¹, m̄_O = β (taken
// back to x̄ through the drift), K̄_OO = c₂Σ̄, c̄₂ = tr(Σ̄K_OO), c̄₁ = ⟨m̄, b⟩, and
// τ̄² += tr Σ̄, the derivative as τ² grows from 0.
func (f *FlowFilter) conditionVJP(v, i int, st stepTimes, x, mean []float64, w *flowWork) error {
	n, d := f.n, f.d
	O := f.seen[i]
	no := len(O)
	if no == 0 {
		return nil
	}
	c := st.diff
	S, beta, what, err := f.observedFactor(c, i, x, mean, w)
	if err != nil {
		return &NodeError{Node: v, Name: f.t.Name(v), What: what, Err: err}
	}
	sb := w.db[:no*no]
	dense.Trsm(false, S, no, beta, d)
	dense.Trsm(true, S, no, beta, d)
	setIdentity(sb, no) // Σ⁻¹ = S⁻ᵀS⁻¹
	dense.Trsm(false, S, no, sb, no)
	dense.Trsm(true, S, no, sb, no)
	for k := range sb {
		sb[k] *= -0.5 * float64(d)
	}
	dense.Gemm(false, true, 0.5, beta, no, d, beta, no, d, 1, sb)
	clear(w.kb)
	mb := w.yb // m̄ of the transition mean, from x̄_O += β
	clear(mb)
	cb := 0.0 // c̄₂
	for a, ka := range O {
		for b, kb := range O {
			w.kb[ka*n+kb] = c * sb[a*no+b]
			cb += sb[a*no+b] * w.k[ka*n+kb]
		}
		f.tb[v] += sb[a*no+a]
		for l := 0; l < d; l++ {
			mb[ka*d+l] = beta[a*d+l]
		}
	}
	w.lamb += st.ddiff * cb
	if f.drifts(v) {
		if st.ddrift != 0 {
			w.lamb += st.ddrift * dot(mb, w.bx)
		}
		for i, e := range mb {
			w.xd[i] = st.drift * e
		}
		f.driftVJP(v, x, mb, w)
	}
	for k, e := range mb {
		w.xbn[k] += e
	}
	f.flow.KernelVJPTo(w.xq, f.pb[v], x, w.kb)
	for k, e := range w.xq {
		w.xbn[k] += e
	}
	return nil
}

// pullVJP adds to the adjoints of the vertex message of v (L̄, Ū, κ̄) and to w.p0b,
// w.pTb those of the grid-point message j given Ḡ (w.gb), V̄ (w.vb) and κ̄_j, with the
// forward quantities C, G, V of pull(v, j) in the work space (and P0, PT, for an
// auxiliary drift's λ̄ in w.lamb). It overwrites w.gb.
func (f *FlowFilter) pullVJP(v, j int, kbar float64, w *flowWork) {
	n, d := f.n, f.d
	a := f.pullWeights(v, j)
	G, V := w.g, w.v
	if f.shifted(v) {
		G, V = f.unshiftVJP(v, a, w)
	}
	if i := f.obsLeaf(v); i >= 0 {
		f.pullLeafVJP(v, i, a, kbar, G, V, w)
		return
	}
	clear(w.cb)
	if kbar != 0 {
		f.kb[v] += kbar
		for k := 0; k < n; k++ {
			w.cb[k*n+k] -= float64(d) * kbar / w.c[k*n+k]
		}
	}
	// V = C⁻¹U: Y = C⁻ᵀV̄, Ū += Y, C̄ −= YV'.
	copy(w.yb, w.vb)
	dense.Trsm(true, w.c, n, w.yb, d)
	for i, e := range w.yb {
		f.ub[v][i] += e
	}
	dense.Gemm(false, true, -1, w.yb, n, d, V, n, d, 1, w.cb)
	// G = LC⁻ᵀ: Z = ḠC⁻¹, L̄ += Z, C̄ −= Z'G.
	dense.TrsmRight(false, w.c, n, w.gb, n)
	for i, e := range w.gb {
		f.lb[v][i] += e
	}
	dense.Gemm(true, false, -1, w.gb, n, n, G, n, n, 1, w.cb)
	sde.CholeskyVJPTo(w.sb, w.c, w.cb, n)
	for i, e := range w.sb {
		w.p0b[i] += a.q0 * e
		w.pTb[i] += a.qT * e
	}
	if a.dq0 != 0 || a.dqT != 0 {
		w.lamb += a.dq0*dot(w.sb, w.p0) + a.dqT*dot(w.sb, w.pT)
	}
}

// clearEdgeAdjoints clears the adjoints that the reverse pass of one edge collects in
// the work space before edgeVJP moves them on.
func clearEdgeAdjoints(w *flowWork) {
	clear(w.p0b)
	clear(w.pTb)
	clear(w.a0b)
	clear(w.aTb)
	clear(w.mub)
	w.lamb = 0
}

// pullLeafVJP is pullVJP for pullLeaf (G, V its driftless message): given Ḡ, V̄ and
// κ̄_j, it adds Σ̄ (Σ = CC') to the observed block of ã₀ and ã_T, its trace to the
// node's ∂/∂τ², and Σ̄'s part of λ̄ through Q_j's weights (tr.dq0, tr.dqT). With Cᵢ = C⁻ᵀ
// (dCᵢ = −Cᵢ dC' Cᵢ) and Ḡ_O the observed rows of Ḡ: C̄ = −C⁻ᵀV̄V' − CᵢḠ_O'Cᵢ − dκ̄/C_kk.
func (f *FlowFilter) pullLeafVJP(v, i int, tr auxTransition, kbar float64, G, V []float64, w *flowWork) {
	n, d := f.n, f.d
	O := f.seen[i]
	no := len(O)
	c, ct, gO, cb, sb, zb := w.c[:no*no], w.t1[:no*no], w.db[:no*no], w.cb[:no*no], w.sb[:no*no], w.zb[:no*no]
	clear(cb)
	f.kb[v] += kbar
	for k := 0; k < no; k++ {
		cb[k*no+k] -= float64(d) * kbar / c[k*no+k]
	}
	y, vO := w.yb[:no*d], V[:no*d]
	copy(y, w.vb[:no*d])
	dense.Trsm(true, c, no, y, d)
	dense.Gemm(false, true, -1, y, no, d, vO, no, d, 1, cb)
	for a, ka := range O {
		copy(ct[a*no:(a+1)*no], G[ka*n:ka*n+no])
		copy(gO[a*no:(a+1)*no], w.gb[ka*n:ka*n+no])
	}
	dense.Gemm(true, false, 1, gO, no, no, ct, no, no, 0, zb)
	dense.Gemm(false, false, -1, ct, no, no, zb, no, no, 1, cb)
	sde.CholeskyVJPTo(sb, c, cb, no)
	for a, ka := range O {
		for b, kb := range O {
			e := sb[a*no+b]
			w.a0b[ka*n+kb] += tr.q0 * e
			w.aTb[ka*n+kb] += tr.qT * e
			w.lamb += e * (tr.dq0*w.ea0[ka*n+kb] + tr.dqT*w.eaT[ka*n+kb])
		}
		f.tb[v] += sb[a*no+a]
	}
}

// edgeVJP moves the adjoints of P0 = L'ã₀L and PT = L'ã_TL (w.p0b, w.pTb) and of ã₀,
// ã_T (w.a0b, w.aTb) of the edge above v into L̄_v and into pbar through the kernel at
// the two anchors.
func (f *FlowFilter) edgeVJP(v int, w *flowWork) {
	f.sandwichVJP(f.a0[v], w.p0b, w.a0b, v, w)
	f.sandwichVJP(f.aT[v], w.pTb, w.aTb, v, w)
	p := f.t.Parent(v)
	anc := f.anc[p]
	if p == 0 {
		anc = f.root
	}
	f.flow.KernelVJPTo(w.xq, f.pb[v], anc, w.a0b)
	f.flow.KernelVJPTo(w.xq, f.pb[v], f.anc[v], w.aTb)
	f.auxDriftVJP(v, w)
}

// fuseVJP takes the complete adjoints (L̄, Ū, κ̄) of internal node v's message back
// through its fusion to its children's j = 0 messages and on to their vertex messages.
func (f *FlowFilter) fuseVJP(v int, w *flowWork) error {
	n, d := f.n, f.d
	L, U, kb := f.lv[v], f.uv[v], f.kb[v]
	// κ = Σ(κ_c − ½|V_c|²) + ½|U|², U = L⁻¹F, L = chol(H).
	ub := f.ub[v]
	for i, e := range U {
		ub[i] += kb * e
	}
	fb := ub // F̄ = L⁻ᵀŪ, in place: Ū is not needed afterwards
	hb := f.hAcc[v]
	// Over the landmarks that some leaf below observes (fuse); the others' rows of F̄
	// and H̄ are zero.
	w.act = activeSet(w.act, L, n)
	A, m := w.act, len(w.act)
	Lr, fr, lbr, sr := w.c[:m*m], w.v[:m*d], w.p0[:m*m], w.pT[:m*m]
	gather(Lr, L, n, A, A)
	gather(fr, fb, d, A, nil)
	dense.Trsm(true, Lr, m, fr, d)
	clear(fb)
	scatter(fb, fr, d, A, nil)
	dense.Gemm(false, true, -1, fb, n, d, U, n, d, 1, f.lb[v])
	gather(lbr, f.lb[v], n, A, A)
	sde.CholeskyVJPTo(sr, Lr, lbr, m)
	clear(hb)
	scatter(hb, sr, n, A, A)
	lo, hi := f.t.Children(v)
	for c := lo; c < hi; c++ {
		if err := f.prepareEdge(c, w); err != nil {
			return err
		}
		if _, err := f.pull(c, 0, w); err != nil {
			return err
		}
		// H = ΣGG', F = ΣGV: Ḡ = 2H̄G + F̄V', V̄ = G'F̄ − κ̄V.
		dense.Gemm(false, false, 2, hb, n, n, w.g, n, n, 0, w.gb)
		dense.Gemm(false, true, 1, fb, n, d, w.v, n, d, 1, w.gb)
		dense.Gemm(true, false, 1, w.g, n, n, fb, n, d, 0, w.vb)
		for i, e := range w.v {
			w.vb[i] -= kb * e
		}
		clearEdgeAdjoints(w)
		f.pullVJP(c, 0, kb, w)
		f.edgeVJP(c, w)
	}
	return nil
}
