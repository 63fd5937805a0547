//go:build !openblas || !cgo

package dense

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Backend names the BLAS the level-3 routines run on: "gonum" or "openblas".
const Backend = "gonum"

// impl is gonum's pure-Go BLAS; it keeps no state.
var impl gonum.Implementation

func op(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// gemm is row-major dgemm: c (m×n, stride ldc) = alpha·op(a)·op(b) + beta·c, with
// op(a) m×k and op(b) k×n.
func gemm(ta, tb bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 { // gonum refuses the empty operands
		for i := 0; i < m; i++ {
			scale(beta, c[i*ldc:i*ldc+n])
		}
		return
	}
	impl.Dgemm(op(ta), op(tb), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// scale overwrites x with beta·x (zero when beta is, as BLAS does, NaN or not).
func scale(beta float64, x []float64) {
	if beta == 0 {
		clear(x)
		return
	}
	for i := range x {
		x[i] *= beta
	}
}

// trsm is row-major dtrsm with a lower-triangular, non-unit l and alpha = 1: b (m×n)
// becomes op(l)⁻¹b when left, else b·op(l)⁻¹.
func trsm(left, trans bool, m, n int, l []float64, ldl int, b []float64, ldb int) {
	side := blas.Right
	if left {
		side = blas.Left
	}
	if m == 0 || n == 0 {
		return
	}
	impl.Dtrsm(side, blas.Lower, op(trans), blas.NonUnit, m, n, 1, l, ldl, b, ldb)
}

// syrk is row-major dsyrk on the lower triangle: c (n×n) = alpha·aa' + beta·c, a n×k.
func syrk(n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < n; i++ {
			scale(beta, c[i*ldc:i*ldc+i+1])
		}
		return
	}
	impl.Dsyrk(blas.Lower, blas.NoTrans, n, k, alpha, a, lda, beta, c, ldc)
}

// trmm is row-major dtrmm on the left with a lower-triangular, non-unit l and
// alpha = 1: b (m×n) becomes op(l)·b.
func trmm(trans bool, m, n int, l []float64, ldl int, b []float64, ldb int) {
	if m == 0 || n == 0 {
		return
	}
	impl.Dtrmm(blas.Left, blas.Lower, op(trans), blas.NonUnit, m, n, 1, l, ldl, b, ldb)
}
