// Package dense wraps the gonum BLAS routines that canopy's kernels use on row-major
// float64 slices, so that callers pass slices and sizes rather than blas64 structs.
package dense

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// General wraps a row-major r×c slice for blas64.
func General(a []float64, r, c int) blas64.General {
	return blas64.General{Rows: r, Cols: c, Stride: c, Data: a}
}

// Gemm computes c = alpha·op(a)·op(b) + beta·c for row-major a (ra×ca) and b (rb×cb),
// op the transpose when ta or tb. c must not alias a or b.
func Gemm(ta, tb bool, alpha float64, a []float64, ra, ca int, b []float64, rb, cb int, beta float64, c []float64) {
	t1, t2 := blas.NoTrans, blas.NoTrans
	m, n := ra, cb
	if ta {
		t1, m = blas.Trans, ca
	}
	if tb {
		t2, n = blas.Trans, rb
	}
	blas64.Gemm(t1, t2, alpha, General(a, ra, ca), General(b, rb, cb), beta, General(c, m, n))
}

// Lower wraps the row-major n×n lower-triangular l for blas64.
func Lower(l []float64, n int) blas64.Triangular {
	return blas64.Triangular{Uplo: blas.Lower, Diag: blas.NonUnit, N: n, Stride: n, Data: l}
}

// Trsm overwrites the n×k matrix b with L⁻¹b, or L⁻ᵀb when trans, for the n×n
// lower-triangular l.
func Trsm(trans bool, l []float64, n int, b []float64, k int) {
	t := blas.NoTrans
	if trans {
		t = blas.Trans
	}
	blas64.Trsm(blas.Left, t, 1, Lower(l, n), General(b, n, k))
}

// TrsmRight overwrites the r×n matrix b with bL⁻¹, or bL⁻ᵀ when trans.
func TrsmRight(trans bool, l []float64, n int, b []float64, r int) {
	t := blas.NoTrans
	if trans {
		t = blas.Trans
	}
	blas64.Trsm(blas.Right, t, 1, Lower(l, n), General(b, r, n))
}
