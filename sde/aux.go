package sde

import "gonum.org/v1/gonum/mat"

// Auxiliary is a linear SDE dX̃ = (B(t)X̃ + β(t))dt + σ̃(t)dW on R^D, described by its
// coefficients B(t) (D×D), β(t) (D) and ã(t) = σ̃σ̃' (D×D), on one edge with edge time
// t ∈ [0, T].
type Auxiliary interface {
	// Dim returns D.
	Dim() int
	// CoefficientsTo writes B(t), β(t) and ã(t) into B, beta and a.
	CoefficientsTo(B, beta, a []float64, t float64)
}

// Transitioner is an Auxiliary whose transition is known exactly: from time s to time
// t ≥ s, X̃_t | X̃_s = x ~ N(Φx + b, Q) with
//
//	Φ = Φ(t, s),  b = ∫_s^t Φ(t, u)β(u)du,  Q = ∫_s^t Φ(t, u)ã(u)Φ(t, u)' du,
//
// Φ the fundamental matrix of B.
type Transitioner interface {
	Auxiliary
	// TransitionTo writes Φ (D×D), b (D) and Q (D×D, symmetric) for the transition
	// from s to t into phi, b and q.
	TransitionTo(phi, b, q []float64, s, t float64)
}

var (
	_ Transitioner = Linear{}
	_ Transitioner = Interpolated{}
)

// Linear is a linear SDE with constant coefficients: dX̃ = (BX̃ + β)dt + σ̃dW with ã = σ̃σ̃'
// = A. Nil B or Beta mean zero.
type Linear struct {
	D    int
	B    []float64 // D×D drift matrix; nil means 0
	Beta []float64 // D drift offset; nil means 0
	A    []float64 // D×D diffusion covariance ã
}

// Dim returns D.
func (l Linear) Dim() int { return l.D }

// CoefficientsTo writes the constant coefficients.
func (l Linear) CoefficientsTo(B, beta, a []float64, _ float64) {
	if l.B == nil {
		clear(B)
	} else {
		copy(B, l.B)
	}
	if l.Beta == nil {
		clear(beta)
	} else {
		copy(beta, l.Beta)
	}
	copy(a, l.A)
}

// TransitionTo writes the exact transition over τ = t − s: Φ = e^{Bτ}, b = ∫_0^τ e^{Bu}β du
// and Q = ∫_0^τ e^{Bu}ã e^{B'u} du. With B ≠ 0 it uses Van Loan's block exponentials
// (Van Loan 1978)
//
//	exp([[B, β], [0, 0]]τ) = [[Φ, b], [0, 1]],   exp([[−B, ã], [0, B']]τ) = [[·, G], [0, Φ']],
//
// Q = ΦG (symmetrised); with B = 0 it writes Φ = I, b = βτ, Q = ãτ. It allocates (gonum's
// matrix exponential); it panics if t < s.
func (l Linear) TransitionTo(phi, b, q []float64, s, t float64) {
	d := l.D
	if len(phi) != d*d || len(b) != d || len(q) != d*d {
		panic("sde: dimension mismatch")
	}
	if !(t >= s) {
		panic("sde: transition backwards in time")
	}
	tau := t - s
	if l.B == nil || isZero(l.B) {
		identityTo(phi, d)
		for i := range b {
			b[i] = 0
			if l.Beta != nil {
				b[i] = l.Beta[i] * tau
			}
		}
		for i := range q {
			q[i] = l.A[i] * tau
		}
		symmetrize(q, d)
		return
	}
	m1 := mat.NewDense(d+1, d+1, nil)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			m1.Set(i, j, l.B[i*d+j]*tau)
		}
		if l.Beta != nil {
			m1.Set(i, d, l.Beta[i]*tau)
		}
	}
	var e1 mat.Dense
	e1.Exp(m1)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			phi[i*d+j] = e1.At(i, j)
		}
		b[i] = e1.At(i, d)
	}
	m2 := mat.NewDense(2*d, 2*d, nil)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			m2.Set(i, j, -l.B[i*d+j]*tau)
			m2.Set(i, d+j, l.A[i*d+j]*tau)
			m2.Set(d+i, d+j, l.B[j*d+i]*tau)
		}
	}
	var e2 mat.Dense
	e2.Exp(m2)
	g := mat.DenseCopyOf(e2.Slice(0, d, d, 2*d))
	qm := mat.NewDense(d, d, q)
	qm.Mul(mat.NewDense(d, d, phi), g)
	symmetrize(q, d)
}

// Interpolated is the driftless auxiliary that hyperiax uses for landmark edges: B = 0,
// β = 0 and ã(t) interpolated linearly between its endpoint values on an edge of length T,
//
//	ã(t) = (t/T)·A_T + (1 − t/T)·A_0,
//
// (A_0 at the parent end, A_T at the child end). Its transitions are closed-form: Φ = I,
// b = 0, Q = ∫_s^t ã(u)du; in particular Q from t to T is
// Ã(t) = ((T² − t²)/(2T))A_T + ((T − t)²/(2T))A_0.
type Interpolated struct {
	D      int
	T      float64   // edge length
	A0, AT []float64 // D×D covariances ã(0) and ã(T)
}

// Dim returns D.
func (p Interpolated) Dim() int { return p.D }

// CoefficientsTo writes B = 0, β = 0 and the interpolated ã(t). With T = 0 it writes
// ã = A_0.
func (p Interpolated) CoefficientsTo(B, beta, a []float64, t float64) {
	clear(B)
	clear(beta)
	w := 0.0
	if p.T > 0 {
		w = t / p.T
	}
	for i := range a {
		a[i] = w*p.AT[i] + (1-w)*p.A0[i]
	}
}

// IntegralTo writes ∫_s^t ã(u)du into dst and returns it. The weights are evaluated in
// factored form, w_T = (t − s)(t + s)/(2T) and w_0 = (t − s)(2T − t − s)/(2T), so both
// stay accurate for s, t near T. With T = 0 it writes (t − s)A_0.
func (p Interpolated) IntegralTo(dst []float64, s, t float64) []float64 {
	if len(dst) != p.D*p.D {
		panic("sde: dimension mismatch")
	}
	h := t - s
	var w0, wT float64
	if p.T > 0 {
		w0 = h * (2*p.T - t - s) / (2 * p.T)
		wT = h * (t + s) / (2 * p.T)
	} else {
		w0 = h
	}
	for i := range dst {
		dst[i] = w0*p.A0[i] + wT*p.AT[i]
	}
	return dst
}

// TransitionTo writes Φ = I, b = 0 and Q = ∫_s^t ã(u)du. It does not allocate and
// panics if t < s.
func (p Interpolated) TransitionTo(phi, b, q []float64, s, t float64) {
	d := p.D
	if len(phi) != d*d || len(b) != d || len(q) != d*d {
		panic("sde: dimension mismatch")
	}
	if !(t >= s) {
		panic("sde: transition backwards in time")
	}
	identityTo(phi, d)
	clear(b)
	p.IntegralTo(q, s, t)
}

// TransitionsTo writes, for every grid point t_k of g (k = 0..n), the transition
// (Φ_k, b_k, Q_k) of tr from t_k to the edge end T = g.End() into phi, b and q, stored
// grid-point-major (phi[k*D*D:(k+1)*D*D], b[k*D:(k+1)*D], q[k*D*D:(k+1)*D*D]); entry n
// is the identity transition (I, 0, 0). These are the inputs of the exact pullback
// (bffg-math §3.1); Backward.ExactTo applies them directly.
func TransitionsTo(phi, b, q []float64, tr Transitioner, g Grid) {
	d := tr.Dim()
	n := g.Len()
	dd := d * d
	if len(phi) != (n+1)*dd || len(b) != (n+1)*d || len(q) != (n+1)*dd {
		panic("sde: dimension mismatch")
	}
	T := g.End()
	for k := 0; k < n; k++ {
		tr.TransitionTo(phi[k*dd:(k+1)*dd], b[k*d:(k+1)*d], q[k*dd:(k+1)*dd], g.Times[k], T)
	}
	identityTo(phi[n*dd:], d)
	clear(b[n*d:])
	clear(q[n*dd:])
}
