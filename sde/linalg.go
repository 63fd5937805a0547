package sde

import (
	"fmt"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"

	"github.com/canopy-bffg/canopy/internal/dense"
)

// Dense kernels on row-major matrices. They do not allocate.

// PivotError reports a Cholesky factorisation that met a pivot that is not positive:
// the matrix is not (numerically) positive definite. Pivot is the first non-positive
// pivot, which is the smallest one met, and Index its row (0-based).
type PivotError struct {
	Index int
	Pivot float64
}

func (e *PivotError) Error() string {
	return fmt.Sprintf("sde: matrix not positive definite: pivot %d is %g", e.Index, e.Pivot)
}

// CholeskyTo writes into dst the lower Cholesky factor L of the symmetric n×n matrix a
// (a = LL'), reading only a's lower triangle and zeroing dst's strict upper triangle.
// dst may be a itself. If a is not positive definite, CholeskyTo returns a *PivotError
// and the contents of dst are unspecified. It panics if len(a) or len(dst) is not n².
func CholeskyTo(dst, a []float64, n int) error {
	if len(a) != n*n || len(dst) != n*n {
		panic("sde: dimension mismatch")
	}
	if n == 0 {
		return nil
	}
	if &dst[0] != &a[0] {
		for i := 0; i < n; i++ {
			copy(dst[i*n:i*n+i+1], a[i*n:i*n+i+1])
		}
	}
	if row, pivot := dense.Cholesky(dst, n); row >= 0 {
		return &PivotError{Index: row, Pivot: pivot}
	}
	for i := 0; i < n; i++ {
		clear(dst[i*n+i+1 : i*n+n])
	}
	return nil
}

// CholeskyVJPTo writes into dst the adjoint S̄ (symmetric n×n) of S for L = chol(S),
// given L and the adjoint L̄ of its lower triangle (the strict upper triangle of Lbar is
// ignored). It uses Murray's rule (arXiv:1602.07527):
//
//	P = Φ(L'L̄),  S̄ = ½(Ψ + Ψ'),  Ψ = L⁻ᵀ P L⁻¹,
//
// where Φ keeps the lower triangle and halves the diagonal. dst must not alias L or
// Lbar. It panics on a size mismatch.
func CholeskyVJPTo(dst, L, Lbar []float64, n int) {
	if len(L) != n*n || len(Lbar) != n*n || len(dst) != n*n {
		panic("sde: dimension mismatch")
	}
	// P_ij = Σ_{k≥i} L_ki L̄_kj for j ≤ i (both lower triangular): the lower triangle of
	// L'·tril(L̄), by Trmm on large matrices and accumulated row-wise on small ones.
	if n > 32 {
		for i := 0; i < n; i++ {
			copy(dst[i*n:i*n+i+1], Lbar[i*n:i*n+i+1])
			clear(dst[i*n+i+1 : i*n+n])
		}
		dense.Trmm(true, L, n, dst, n)
		for i := 0; i < n; i++ {
			clear(dst[i*n+i+1 : i*n+n])
		}
	} else {
		cholPSmall(dst, L, Lbar, n)
	}
	for i := 0; i < n; i++ {
		dst[i*n+i] *= 0.5
	}
	// Ψ = L⁻ᵀPL⁻¹ by two triangular solves, then S̄ = ½(Ψ + Ψ').
	dense.Trsm(true, L, n, dst, n)
	dense.TrsmRight(false, L, n, dst, n)
	symmetrize(dst, n)
}

// cholPSmall writes the lower triangle of L'·tril(L̄) into dst, zeroing the rest.
func cholPSmall(dst, L, Lbar []float64, n int) {
	clear(dst)
	for k := 0; k < n; k++ {
		lk, lbk := L[k*n:k*n+n], Lbar[k*n:k*n+n]
		for i := 0; i <= k; i++ {
			a := lk[i]
			if a == 0 {
				continue
			}
			pi := dst[i*n : i*n+i+1]
			for j := range pi {
				pi[j] += a * lbk[j]
			}
		}
	}
}

// symmetrize overwrites a with ½(a + a').
func symmetrize(a []float64, n int) {
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			v := 0.5 * (a[i*n+j] + a[j*n+i])
			a[i*n+j], a[j*n+i] = v, v
		}
	}
}

// gemv computes y = alpha·op(a)·x + beta·y for a row-major r×c matrix a.
func gemv(ta bool, alpha float64, a []float64, r, c int, x []float64, beta float64, y []float64) {
	t := blas.NoTrans
	if ta {
		t = blas.Trans
	}
	blas64.Gemv(t, alpha, blas64.General{Rows: r, Cols: c, Stride: c, Data: a}, blas64.Vector{N: len(x), Inc: 1, Data: x}, beta, blas64.Vector{N: len(y), Inc: 1, Data: y})
}

// dot returns x'y.
func dot(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// isZero reports whether every entry of a is zero.
func isZero(a []float64) bool {
	for _, v := range a {
		if v != 0 {
			return false
		}
	}
	return true
}

// grow returns s resized to length n, reusing its storage when it is large enough.
func grow(s []float64, n int) []float64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float64, n)
}

// identityTo writes the n×n identity into dst.
func identityTo(dst []float64, n int) {
	clear(dst)
	for i := 0; i < n; i++ {
		dst[i*n+i] = 1
	}
}
