// Package dense holds the dense linear algebra that canopy's kernels use on row-major
// float64 slices, so that callers pass slices and sizes rather than BLAS structs.
//
// The level-3 routines run on gonum's pure-Go BLAS by default. Built with the tag
// openblas (and cgo), they call OpenBLAS instead, which is several times faster on
// the n×n products of the landmark models (n ≥ 16); results then differ from the
// default build by rounding only. That build sets OpenBLAS to one thread, because
// canopy runs the nodes of a tree level in parallel itself.
package dense

import "math"

// Gemm computes c = alpha·op(a)·op(b) + beta·c for row-major a (ra×ca) and b (rb×cb),
// op the transpose when ta or tb. c must not alias a or b.
func Gemm(ta, tb bool, alpha float64, a []float64, ra, ca int, b []float64, rb, cb int, beta float64, c []float64) {
	m, k, n := ra, ca, cb
	if ta {
		m, k = ca, ra
	}
	if tb {
		n = rb
	}
	gemm(ta, tb, m, n, k, alpha, a, ca, b, cb, beta, c, n)
}

// Trsm overwrites the n×k matrix b with L⁻¹b, or L⁻ᵀb when trans, for the n×n
// lower-triangular l.
func Trsm(trans bool, l []float64, n int, b []float64, k int) {
	trsm(true, trans, n, k, l, n, b, k)
}

// TrsmRight overwrites the r×n matrix b with bL⁻¹, or bL⁻ᵀ when trans.
func TrsmRight(trans bool, l []float64, n int, b []float64, r int) {
	trsm(false, trans, r, n, l, n, b, n)
}

// Trmm overwrites the n×k matrix b with Lb, or L'b when trans, for the n×n
// lower-triangular l: half the work of a general product.
func Trmm(trans bool, l []float64, n int, b []float64, k int) {
	trmm(trans, n, k, l, n, b, k)
}

// Syrk computes the lower triangle of c = alpha·aa' + beta·c for the row-major r×k
// matrix a and r×r matrix c, whose strict upper triangle it leaves alone: it costs half
// a general product. c must not alias a.
func Syrk(alpha float64, a []float64, r, k int, beta float64, c []float64) {
	syrk(r, k, alpha, a, k, beta, c, r)
}

// Symmetrize copies the lower triangle of the n×n matrix a to its upper triangle.
func Symmetrize(a []float64, n int) {
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			a[j*n+i] = a[i*n+j]
		}
	}
}

// cholBlock is the order of the diagonal blocks of Cholesky: smaller matrices are
// factorised in one unblocked pass, larger ones mostly by Syrk, Gemm and Trsm.
const cholBlock = 32

// Cholesky overwrites the lower triangle of the symmetric n×n matrix a with its lower
// Cholesky factor L (a = LL'), reading only that triangle and leaving the strict upper
// one alone. It returns −1, or, when a is not numerically positive definite, the row
// of the first pivot that is not positive and finite, and that pivot; the factor is then
// incomplete. NaN and infinite entries of the triangle reach a pivot and so are
// reported too.
func Cholesky(a []float64, n int) (row int, pivot float64) {
	if n <= cholBlock {
		return cholUnblocked(a, n, 0, n)
	}
	// Left-looking, one block column at a time: with the columns before k done,
	// A11 −= L10L10', A11 = L11L11', A21 = (A21 − L20L10')L11⁻ᵀ.
	for k := 0; k < n; k += cholBlock {
		b := min(cholBlock, n-k)
		a11 := a[k*n+k:]
		if k > 0 {
			syrk(b, k, -1, a[k*n:], n, 1, a11, n)
		}
		if row, p := cholUnblocked(a, n, k, b); row >= 0 {
			return row, p
		}
		if rest := n - k - b; rest > 0 {
			a21 := a[(k+b)*n+k:]
			if k > 0 {
				gemm(false, true, rest, b, k, -1, a[(k+b)*n:], n, a[k*n:], n, 1, a21, n)
			}
			trsm(false, true, rest, b, a11, n, a21, n)
		}
	}
	return -1, 0
}

// cholUnblocked factorises the b×b diagonal block of a (stride n) that starts at row
// and column k, which already has the earlier columns' updates, by the scalar
// Cholesky–Crout recurrence.
func cholUnblocked(a []float64, n, k, b int) (int, float64) {
	for j := k; j < k+b; j++ {
		rj := a[j*n+k : j*n+j+1]
		s := rj[j-k]
		for _, v := range rj[:j-k] {
			s -= v * v
		}
		if !(s > 0) || math.IsInf(s, 0) {
			return j, s
		}
		ljj := math.Sqrt(s)
		rj[j-k] = ljj
		rj = rj[:j-k]
		for i := j + 1; i < k+b; i++ {
			ri := a[i*n+k : i*n+j+1]
			t := ri[j-k]
			for c, v := range rj {
				t -= ri[c] * v
			}
			ri[j-k] = t / ljj
		}
	}
	return -1, 0
}
