package sde

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/internal/dense"
)

// Backward computes the backward filter of an auxiliary linear SDE on one edge: the
// coefficients of h̃(t, x) = exp(c(t) − ½x'H(t)x + F(t)'x) on a grid, given the terminal
// message (H_T, F_T, c_T) at t = T. The zero value is ready to use; its workspace is
// sized on first use and reused.
//
// Trajectories are stored grid-point-major: H[k*D*D:(k+1)*D*D], F[k*D:(k+1)*D] and c[k]
// belong to t_k, and index n holds the terminal message.
//
// A Backward value must not be used by several goroutines at once.
type Backward struct {
	d int
	// pullback scratch
	r, t1, s, w, ha, psi []float64
	g, gam, hb           []float64
	// transition scratch
	phi, bv, q []float64
	// RK4 scratch
	cB, cBeta, cA  []float64
	y, yt          []float64
	k1, k2, k3, k4 []float64
	rA, rT, rAF    []float64
}

func (w *Backward) resize(d int) {
	if w.d == d && w.r != nil {
		return
	}
	w.d = d
	dd := d * d
	w.r, w.t1, w.s, w.w = grow(w.r, dd), grow(w.t1, dd), grow(w.s, dd), grow(w.w, dd)
	w.ha, w.psi = grow(w.ha, dd), grow(w.psi, dd)
	w.g, w.gam, w.hb = grow(w.g, d), grow(w.gam, d), grow(w.hb, d)
	w.phi, w.bv, w.q = grow(w.phi, dd), grow(w.bv, d), grow(w.q, dd)
	w.cB, w.cBeta, w.cA = grow(w.cB, dd), grow(w.cBeta, d), grow(w.cA, dd)
	ny := dd + d + 1
	w.y, w.yt = grow(w.y, ny), grow(w.yt, ny)
	w.k1, w.k2, w.k3, w.k4 = grow(w.k1, ny), grow(w.k2, ny), grow(w.k3, ny), grow(w.k4, ny)
	w.rA, w.rT, w.rAF = grow(w.rA, dd), grow(w.rT, dd), grow(w.rAF, d)
}

// PullbackTo pulls the message h(y) = exp(c − ½y'Hy + F'y) back through the Gaussian
// transition y | x ~ N(Φx + b, Q), writing h↑(x) = ∫h(y)N(y; Φx + b, Q)dy into dstH, dstF
// and returning its constant c↑ (bffg-math §1.2, Cholesky-only algorithm):
//
//	R = chol(Q), S = I + R'HR, W = chol(S)⁻¹R', g = F − Hb, γ = Wg, Ψ = WHΦ,
//	H↑ = Φ'HΦ − Ψ'Ψ,  F↑ = Φ'g − Ψ'γ,  c↑ = c + F'b − ½b'Hb + ½|γ|² − ½log det S.
//
// H must be symmetric positive semidefinite (singular allowed) and Q symmetric positive
// semidefinite (zero allowed; a singular Q falls back to an eigenvalue square root, which
// allocates). dstH may be H and dstF may be F. It returns an error when Q is not positive
// semidefinite or S is not positive definite (H not positive semidefinite).
func (w *Backward) PullbackTo(dstH, dstF, H, F []float64, c float64, phi, b, q []float64) (float64, error) {
	d := len(F)
	dd := d * d
	if len(dstH) != dd || len(dstF) != d || len(H) != dd || len(phi) != dd || len(b) != d || len(q) != dd {
		panic("sde: dimension mismatch")
	}
	w.resize(d)
	// g = F − Hb, and the b-terms of c.
	gemv(false, 1, H, d, d, b, 0, w.hb)
	for i := range w.g {
		w.g[i] = F[i] - w.hb[i]
	}
	cUp := c + dot(F, b) - 0.5*dot(b, w.hb)
	// ha = HΦ.
	dense.Gemm(false, false, 1, H, d, d, phi, d, d, 0, w.ha)
	if isZero(q) {
		// No noise: h↑(x) = h(Φx + b).
		dense.Gemm(true, false, 1, phi, d, d, w.ha, d, d, 0, dstH)
		symmetrize(dstH, d)
		gemv(true, 1, phi, d, d, w.g, 0, dstF)
		return cUp, nil
	}
	if err := w.sqrtCov(q, d); err != nil {
		return math.NaN(), err
	}
	// S = I + R'HR.
	dense.Gemm(false, false, 1, H, d, d, w.r, d, d, 0, w.t1)
	dense.Gemm(true, false, 1, w.r, d, d, w.t1, d, d, 0, w.s)
	for i := 0; i < d; i++ {
		w.s[i*d+i]++
	}
	symmetrize(w.s, d)
	if err := CholeskyTo(w.s, w.s, d); err != nil {
		return math.NaN(), fmt.Errorf("sde: pullback: I + R'HR: %w", err)
	}
	logDet := 0.0
	for i := 0; i < d; i++ {
		logDet += math.Log(w.s[i*d+i])
	}
	// W = L_S⁻¹R': forward substitution on every column of R'.
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			w.w[i*d+j] = w.r[j*d+i]
		}
	}
	solveLowerCols(w.s, w.w, d, d)
	// γ = Wg, Ψ = W(HΦ).
	gemv(false, 1, w.w, d, d, w.g, 0, w.gam)
	dense.Gemm(false, false, 1, w.w, d, d, w.ha, d, d, 0, w.psi)
	cUp += 0.5*dot(w.gam, w.gam) - logDet
	// H↑ = Φ'HΦ − Ψ'Ψ, F↑ = Φ'g − Ψ'γ (H and F are no longer read).
	dense.Gemm(true, false, 1, phi, d, d, w.ha, d, d, 0, dstH)
	dense.Gemm(true, false, -1, w.psi, d, d, w.psi, d, d, 1, dstH)
	symmetrize(dstH, d)
	gemv(true, 1, phi, d, d, w.g, 0, dstF)
	gemv(true, -1, w.psi, d, d, w.gam, 1, dstF)
	return cUp, nil
}

// sqrtCov writes into w.r a square root R of the symmetric positive semidefinite q
// (q = RR'): the Cholesky factor when q is positive definite, otherwise V·diag(√λ⁺)
// from an eigendecomposition.
func (w *Backward) sqrtCov(q []float64, d int) error {
	if CholeskyTo(w.r, q, d) == nil {
		return nil
	}
	var es mat.EigenSym
	if !es.Factorize(mat.NewSymDense(d, append([]float64(nil), q...)), true) {
		return fmt.Errorf("sde: eigendecomposition of Q failed")
	}
	vals := es.Values(nil)
	var vec mat.Dense
	es.VectorsTo(&vec)
	top := 0.0
	for _, v := range vals {
		top = math.Max(top, math.Abs(v))
	}
	for j, v := range vals {
		if v < -1e-10*top {
			return fmt.Errorf("sde: covariance not positive semidefinite: eigenvalue %g", v)
		}
		s := math.Sqrt(math.Max(v, 0))
		for i := 0; i < d; i++ {
			w.r[i*d+j] = vec.At(i, j) * s
		}
	}
	return nil
}

// solveLowerCols overwrites the d×m matrix x with L⁻¹x for lower-triangular L (d×d).
func solveLowerCols(l, x []float64, d, m int) {
	for i := 0; i < d; i++ {
		xi := x[i*m : i*m+m]
		for k := 0; k < i; k++ {
			lik := l[i*d+k]
			if lik == 0 {
				continue
			}
			xk := x[k*m : k*m+m]
			for j := range xi {
				xi[j] -= lik * xk[j]
			}
		}
		inv := 1 / l[i*d+i]
		for j := range xi {
			xi[j] *= inv
		}
	}
}

func (w *Backward) checkTraj(H, F, c []float64, d int, g Grid, HT, FT []float64) {
	n := g.Len()
	if len(H) != (n+1)*d*d || len(F) != (n+1)*d || len(c) != n+1 || len(HT) != d*d || len(FT) != d {
		panic("sde: dimension mismatch")
	}
}

// ExactTo writes the backward-filter trajectory on grid g by exact pullbacks: at every
// grid point t_k the terminal message (HT, FT, cT) at T = g.End() is pulled back through
// the auxiliary's transition from t_k to T (bffg-math §3.1, "exact solution"). Every
// grid point is computed independently, so there is no error accumulation and H stays
// positive semidefinite. It allocates only when the transition does (Linear with B ≠ 0)
// or Q is singular. Failures are returned as a *StepError naming the grid point.
func (w *Backward) ExactTo(H, F, c []float64, tr Transitioner, g Grid, HT, FT []float64, cT float64) error {
	d := tr.Dim()
	w.checkTraj(H, F, c, d, g, HT, FT)
	w.resize(d)
	n := g.Len()
	T := g.End()
	dd := d * d
	copy(H[n*dd:], HT)
	copy(F[n*d:], FT)
	c[n] = cT
	for k := 0; k < n; k++ {
		tr.TransitionTo(w.phi, w.bv, w.q, g.Times[k], T)
		ck, err := w.PullbackTo(H[k*dd:(k+1)*dd], F[k*d:(k+1)*d], HT, FT, cT, w.phi, w.bv, w.q)
		if err != nil {
			return &StepError{Step: k, Time: g.Times[k], Err: err}
		}
		c[k] = ck
	}
	return nil
}

// RK4To writes the backward-filter trajectory on grid g by integrating the backward
// equations (bffg-math §3.1, + convention for c)
//
//	dH/dt = −B'H − HB + HãH
//	dF/dt = −B'F + HãF + Hβ
//	dc/dt = −β'F − ½F'ãF + ½tr(ãH)
//
// from the terminal value (HT, FT, cT) at T = g.End() down to 0 with the classical
// fourth-order Runge–Kutta method, one step per grid interval (coefficients evaluated at
// t_{k+1}, the midpoint and t_k). It is the reference against which ExactTo is checked;
// it does not allocate once warm.
func (w *Backward) RK4To(H, F, c []float64, aux Auxiliary, g Grid, HT, FT []float64, cT float64) {
	d := aux.Dim()
	w.checkTraj(H, F, c, d, g, HT, FT)
	w.resize(d)
	n := g.Len()
	dd := d * d
	ny := dd + d + 1
	copy(w.y[:dd], HT)
	copy(w.y[dd:dd+d], FT)
	w.y[dd+d] = cT
	store := func(k int) {
		copy(H[k*dd:(k+1)*dd], w.y[:dd])
		copy(F[k*d:(k+1)*d], w.y[dd:dd+d])
		c[k] = w.y[dd+d]
	}
	store(n)
	for k := n - 1; k >= 0; k-- {
		t := g.Times[k+1]
		h := -g.Steps[k]
		w.rhs(w.k1, aux, t, w.y)
		for i := 0; i < ny; i++ {
			w.yt[i] = w.y[i] + 0.5*h*w.k1[i]
		}
		w.rhs(w.k2, aux, t+0.5*h, w.yt)
		for i := 0; i < ny; i++ {
			w.yt[i] = w.y[i] + 0.5*h*w.k2[i]
		}
		w.rhs(w.k3, aux, t+0.5*h, w.yt)
		for i := 0; i < ny; i++ {
			w.yt[i] = w.y[i] + h*w.k3[i]
		}
		w.rhs(w.k4, aux, g.Times[k], w.yt)
		for i := 0; i < ny; i++ {
			w.y[i] += h / 6 * (w.k1[i] + 2*w.k2[i] + 2*w.k3[i] + w.k4[i])
		}
		symmetrize(w.y[:dd], d)
		store(k)
	}
}

// rhs writes the time derivative of the packed state y = (H, F, c) at time t into dy.
func (w *Backward) rhs(dy []float64, aux Auxiliary, t float64, y []float64) {
	d := w.d
	dd := d * d
	H, F := y[:dd], y[dd:dd+d]
	dH, dF := dy[:dd], dy[dd:dd+d]
	aux.CoefficientsTo(w.cB, w.cBeta, w.cA, t)
	// rA = Hã, dH = HãH − B'H − (B'H)'.
	dense.Gemm(false, false, 1, H, d, d, w.cA, d, d, 0, w.rA)
	dense.Gemm(false, false, 1, w.rA, d, d, H, d, d, 0, dH)
	dense.Gemm(true, false, 1, w.cB, d, d, H, d, d, 0, w.rT)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			dH[i*d+j] -= w.rT[i*d+j] + w.rT[j*d+i]
		}
	}
	// dF = −B'F + HãF + Hβ.
	gemv(false, 1, w.rA, d, d, F, 0, dF)
	gemv(false, 1, H, d, d, w.cBeta, 1, dF)
	gemv(true, -1, w.cB, d, d, F, 1, dF)
	// dc = −β'F − ½F'ãF + ½tr(ãH).
	gemv(false, 1, w.cA, d, d, F, 0, w.rAF)
	tr := 0.0
	for i := 0; i < dd; i++ {
		tr += w.cA[i] * H[i]
	}
	dy[dd+d] = -dot(w.cBeta, F) - 0.5*dot(F, w.rAF) + 0.5*tr
}
