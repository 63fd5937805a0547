package bffg

import (
	"fmt"
	"math"

	"github.com/canopy-bffg/canopy/internal/dense"
)

// AuxDrifter is implemented by a Drifter that gives FlowFilter's auxiliary process
// the linear drift b̃(x) = −λ(x − μ), λ ≥ 0 finite and μ an n×d matrix: usually the linear
// part of its own drift, such as an Ornstein–Uhlenbeck pull towards an optimal shape.
// Without it the auxiliary has no drift, and a strong pull (λT of order one or more)
// leaves the guided proposal far from the conditioned process.
//
// The auxiliary's transitions stay closed-form and factorised: from time t to the end
// T of an edge, X̃_T = μ + φ(x − μ) + N(0, Q ⊗ I_d) with φ = e^{−λ(T−t)} and
// Q = ∫_t^T e^{−2λ(T−s)}ã(s)ds, which is again a combination of ã at the edge's two
// ends. An explicit or semi-implicit step's log-weight gains λ(x − μ)'r·dt, the −b̃'r
// part of (b − b̃)'r. Discrete edges keep no drift.
type AuxDrifter interface {
	Drifter
	// AuxDrift returns λ and μ (n×d; nil means zero). Run copies μ.
	AuxDrift() (lambda float64, mu []float64)
	// AuxDriftVJPTo adds (∂λ/∂θ)λ̄ + (∂μ/∂θ)'μ̄ to pbar (len NumParams). The reverse
	// pass calls it concurrently for different edges, each with its own pbar.
	AuxDriftVJPTo(pbar []float64, lambar float64, mubar []float64)
}

// setAuxDrift takes λ and μ of the auxiliary drift from flow, if it has one.
func (f *FlowFilter) setAuxDrift(flow Flow) error {
	f.aux, f.lam = nil, 0
	a, ok := flow.(AuxDrifter)
	if !ok {
		return nil
	}
	lam, mu := a.AuxDrift()
	if !(lam >= 0) || math.IsInf(lam, 0) {
		return fmt.Errorf("bffg: FlowFilter: auxiliary drift rate λ = %v (must be finite and not negative)", lam)
	}
	nd := f.n * f.d
	if len(f.mu) != nd {
		f.mu = make([]float64, nd)
	}
	clear(f.mu)
	if mu != nil {
		if len(mu) != nd {
			return fmt.Errorf("bffg: FlowFilter: auxiliary drift centre has %d values, want %d", len(mu), nd)
		}
		if err := checkFinite(mu); err != nil {
			return fmt.Errorf("bffg: FlowFilter: auxiliary drift centre: %w", err)
		}
		copy(f.mu, mu)
	}
	f.aux, f.lam = a, lam
	return nil
}

// shifted reports whether the messages on the edge above v are those of an auxiliary
// with a drift. λ = 0 counts: the messages are then the driftless ones, but their
// derivatives in λ are not zero.
func (f *FlowFilter) shifted(v int) bool { return f.aux != nil && !f.discrete(v) }

// expMoments returns E_m = ∫_0^h u^m e^{−ku} du for m = 0, 1, 2 (k, h ≥ 0), by their
// power series where kh is small (the closed forms cancel there) and closed forms
// otherwise.
func expMoments(k, h float64) (e0, e1, e2 float64) {
	x := k * h
	if x < 0.5 {
		// E_m = h^{m+1} Σ_i (−x)^i / (i!(i+m+1)).
		term := 1.0 // (−x)^i / i!
		for i := 0; i < 30 && term != 0; i++ {
			fi := float64(i)
			e0 += term / (fi + 1)
			e1 += term / (fi + 2)
			e2 += term / (fi + 3)
			term *= -x / (fi + 1)
		}
		return e0 * h, e1 * h * h, e2 * h * h * h
	}
	ex := math.Exp(-x)
	return -math.Expm1(-x) / k, (1 - ex*(1+x)) / (k * k), (2 - ex*(x*x+2*x+2)) / (k * k * k)
}

// auxTransition is the auxiliary's transition from a grid point t_j to the end T of
// an edge: X̃_T = μ + φ(x − μ) + N(0, Q_j ⊗ I_d) with Q_j = q0·ã₀ + qT·ã_T. Without a
// drift φ = 1 and ψ = 1 − φ = 0; dq0, dqT and dphi are derivatives in λ.
type auxTransition struct{ q0, qT, dq0, dqT, phi, psi, dphi float64 }

// auxWeights returns the transition for time tj on an edge of length T with auxiliary
// drift rate lam: Q_j = ∫_{t_j}^T e^{−2λ(T−s)}ã(s)ds and φ = e^{−λ(T−t_j)} (φ = 0
// once λ(T − t_j) > 200). With u = T − s, ã(s) = ã_T + (u/T)(ã₀ − ã_T), so
// q0 = E₁/T and qT = E₀ − E₁/T with k = 2λ (expMoments), and dE_m/dk = −E_{m+1}.
func auxWeights(T, tj, lam float64) auxTransition {
	if T <= 0 {
		return auxTransition{phi: 1}
	}
	h := T - tj
	e0, e1, e2 := expMoments(2*lam, h)
	a := auxTransition{q0: e1 / T, qT: e0 - e1/T, dq0: -2 * e2 / T, dqT: 2 * (e2/T - e1)}
	if lam*h > 200 {
		// The message is flat in x to double precision, and φ² in a fused precision
		// could underflow where φ times the information does not.
		a.psi = 1
		return a
	}
	a.phi, a.psi = math.Exp(-lam*h), -math.Expm1(-lam*h)
	a.dphi = -h * a.phi
	return a
}

// stepTimes are the drift and diffusion times c₁ and c₂ of an exact step, which stand
// for dt in its transition N(x + c₁b(x), c₂K(x) ⊗ I_d), and their derivatives in λ.
type stepTimes struct{ drift, diff, ddrift, ddiff float64 }

// stepTimes returns the times of an exact step of length dt on the edge above v: both
// dt, or under ExponentialSteps on an edge with an auxiliary drift c₁ = ∫₀^dt e^{−λu}du
// and c₂ = ∫₀^dt e^{−2λu}du (E₀ of expMoments, whose derivative in k is −E₁).
func (f *FlowFilter) stepTimes(v int, dt float64) stepTimes {
	if !f.ExponentialSteps || !f.shifted(v) {
		return stepTimes{drift: dt, diff: dt}
	}
	a0, a1, _ := expMoments(f.lam, dt)
	b0, b1, _ := expMoments(2*f.lam, dt)
	return stepTimes{drift: a0, diff: b0, ddrift: -a1, ddiff: -2 * b1}
}

// shift turns the message pulled back through N(·, Q_j ⊗ I_d) (G, V in the work
// space) into that of the auxiliary with drift a, which evaluates it at the mean
// μ + φ(x − μ): G ← φG and V ← V − ψG'μ.
func (f *FlowFilter) shift(a auxTransition, w *flowWork) {
	n, d := f.n, f.d
	dense.Gemm(true, false, -a.psi, w.g, n, n, f.mu, n, d, 1, w.v)
	for i := range w.g {
		w.g[i] *= a.phi
	}
}

// unshiftVJP is the reverse of shift(a) on the edge above v, with C of the pullback
// in the work space and the adjoints Ḡ, V̄ of the shifted message in
// w.gb, w.vb. It recomputes the driftless G and V into w.gu and w.vu and returns
// them, turns w.gb into Ḡ of the driftless G (V̄ is unchanged) and adds to λ̄ and μ̄
// of the edge (w.lamb, w.mub):
//
//	Ḡ ← φḠ − ψμV̄',  μ̄ += −ψGV̄,  φ̄ = ⟨Ḡ, G⟩ + ⟨V̄, G'μ⟩,  λ̄ += φ̄·dφ/dλ.
func (f *FlowFilter) unshiftVJP(v int, a auxTransition, w *flowWork) (G, V []float64) {
	n, d := f.n, f.d
	G, V = w.gu, w.vu
	if i := f.obsLeaf(v); i >= 0 {
		// pullLeaf: G = P'C⁻ᵀ (rows of the observed landmarks), V = C⁻¹y_O (compact).
		O := f.seen[i]
		no := len(O)
		c, ct := w.c[:no*no], w.t1[:no*no]
		setIdentity(ct, no)
		dense.TrsmRight(true, c, no, ct, no)
		clear(G)
		clear(V)
		for a, ka := range O {
			copy(G[ka*n:ka*n+no], ct[a*no:(a+1)*no])
			copy(V[a*d:(a+1)*d], f.y[i*n*d+ka*d:i*n*d+(ka+1)*d])
		}
		dense.Trsm(false, c, no, V[:no*d], d)
	} else {
		copy(G, f.lv[v])
		dense.TrsmRight(true, w.c, n, G, n)
		copy(V, f.uv[v])
		dense.Trsm(false, w.c, n, V, d)
	}
	gm := w.gm
	dense.Gemm(true, false, 1, G, n, n, f.mu, n, d, 0, gm) // G'μ
	phib := dot(w.gb, G) + dot(w.vb, gm)
	w.lamb += phib * a.dphi
	dense.Gemm(false, false, -a.psi, G, n, n, w.vb, n, d, 1, w.mub)
	for i := range w.gb {
		w.gb[i] *= a.phi
	}
	dense.Gemm(false, true, -a.psi, f.mu, n, d, w.vb, n, d, 1, w.gb)
	return G, V
}

// auxDriftVJP moves the edge's adjoints of λ and μ (w.lamb, w.mub) into θ̄ of the edge
// above v and clears them.
func (f *FlowFilter) auxDriftVJP(v int, w *flowWork) {
	if f.aux == nil {
		return
	}
	f.aux.AuxDriftVJPTo(f.pb[v], w.lamb, w.mub)
	w.lamb = 0
	clear(w.mub)
}

// MeanReverting returns flow with the drift b(x) = −λ(x − μ), which pulls every
// landmark towards the shape μ (n×d, kept, not copied) at rate λ > 0: an
// Ornstein–Uhlenbeck flow, a model of stabilising selection towards an optimal shape.
// Its parameters are θ = (flow's θ, λ). It is an AuxDrifter whose auxiliary process
// shares the drift, so the guided proposal keeps the pull.
func MeanReverting(flow Flow, lambda float64, mu []float64) Flow {
	return meanReverting{Flow: flow, lambda: lambda, mu: mu, np: flow.NumParams()}
}

type meanReverting struct {
	Flow
	lambda float64
	mu     []float64
	np     int // the wrapped flow's parameters; λ is θ[np]
}

func (f meanReverting) NumParams() int { return f.np + 1 }

func (f meanReverting) DriftTo(dst, x []float64) error {
	if len(f.mu) != len(x) {
		return fmt.Errorf("bffg: MeanReverting: centre has %d values, state %d", len(f.mu), len(x))
	}
	for i, e := range x {
		dst[i] = -f.lambda * (e - f.mu[i])
	}
	return nil
}

func (f meanReverting) DriftVJPTo(xbar, pbar, x, bbar []float64) {
	for i, e := range x {
		xbar[i] = -f.lambda * bbar[i]
		pbar[f.np] -= (e - f.mu[i]) * bbar[i]
	}
}

func (f meanReverting) AuxDrift() (float64, []float64) { return f.lambda, f.mu }

func (f meanReverting) AuxDriftVJPTo(pbar []float64, lambar float64, _ []float64) {
	pbar[f.np] += lambar
}

// localEdge makes the pulls of the edge above v use the auxiliary linearised at x, the
// state at grid point j (LocalAux): ã₀ = ã_T = K(x) (w.kf), P0 = PT = L'K(x)L.
func (f *FlowFilter) localEdge(v, j int, x []float64, w *flowWork) error {
	if err := f.flow.KernelTo(w.kf, x); err != nil {
		return &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("local auxiliary at step %d", j), Err: err}
	}
	w.ea0, w.eaT, w.kfAt = w.kf, w.kf, x
	if f.obsLeaf(v) >= 0 {
		return nil
	}
	f.sandwich(w.p0, w.kf, v)
	copy(w.pT, w.p0)
	return nil
}

// localVJP moves the adjoints that pullVJP left for the message of grid point j+1 —
// of P0, PT (w.p0b, w.pTb) or of ã₀, ã_T (w.a0b, w.aTb), all of K(x_j) under
// LocalAux (localEdge at x_j in the work space) — and the adjoint of K(x_j) that
// step j's tiltedVJP left in w.a0b into L̄_v, θ̄ of the edge above v and x̄_j (w.xbn),
// through one kernel VJP, and clears them.
func (f *FlowFilter) localVJP(v int, x []float64, w *flowWork) {
	ab := w.a0b
	for i, e := range w.aTb {
		ab[i] += e
	}
	if f.obsLeaf(v) < 0 { // P = L'KL with P̄ = P̄0 + P̄T
		for i, e := range w.pTb {
			w.p0b[i] += e
		}
		f.sandwichVJP(w.kf, w.p0b, ab, v, w)
	}
	f.flow.KernelVJPTo(w.xq, f.pb[v], x, ab)
	for i, e := range w.xq {
		w.xbn[i] += e
	}
	clear(w.p0b)
	clear(w.pTb)
	clear(w.a0b)
	clear(w.aTb)
}
