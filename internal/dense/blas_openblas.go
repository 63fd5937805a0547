//go:build openblas && cgo

package dense

/*
#cgo pkg-config: openblas
#include <cblas.h>

void openblas_set_num_threads(int);
*/
import "C"

// Backend names the BLAS the level-3 routines run on: "gonum" or "openblas".
const Backend = "openblas"

// The tree sweeps already keep every core busy, one node per goroutine; OpenBLAS's own
// threads would only contend with them.
func init() { C.openblas_set_num_threads(1) }

func tr(t bool) C.enum_CBLAS_TRANSPOSE {
	if t {
		return C.CblasTrans
	}
	return C.CblasNoTrans
}

// ptr returns the address of a's first element, or nil for an empty slice.
func ptr(a []float64) *C.double {
	if len(a) == 0 {
		return nil
	}
	return (*C.double)(&a[0])
}

// ld keeps a leading dimension valid (≥ 1) when a matrix has no columns.
func ld(n int) C.blasint { return C.blasint(max(n, 1)) }

// gemm is row-major dgemm: c (m×n, stride ldc) = alpha·op(a)·op(b) + beta·c, with
// op(a) m×k and op(b) k×n.
func gemm(ta, tb bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	C.cblas_dgemm(C.CblasRowMajor, tr(ta), tr(tb), C.blasint(m), C.blasint(n), C.blasint(k),
		C.double(alpha), ptr(a), ld(lda), ptr(b), ld(ldb), C.double(beta), ptr(c), ld(ldc))
}

// trsm is row-major dtrsm with a lower-triangular, non-unit l and alpha = 1: b (m×n)
// becomes op(l)⁻¹b when left, else b·op(l)⁻¹.
func trsm(left, trans bool, m, n int, l []float64, ldl int, b []float64, ldb int) {
	if m == 0 || n == 0 {
		return
	}
	side := C.enum_CBLAS_SIDE(C.CblasRight)
	if left {
		side = C.CblasLeft
	}
	C.cblas_dtrsm(C.CblasRowMajor, side, C.CblasLower, tr(trans), C.CblasNonUnit,
		C.blasint(m), C.blasint(n), 1, ptr(l), ld(ldl), ptr(b), ld(ldb))
}

// syrk is row-major dsyrk on the lower triangle: c (n×n) = alpha·aa' + beta·c, a n×k.
func syrk(n, k int, alpha float64, a []float64, lda int, beta float64, c []float64, ldc int) {
	if n == 0 {
		return
	}
	C.cblas_dsyrk(C.CblasRowMajor, C.CblasLower, C.CblasNoTrans, C.blasint(n), C.blasint(k),
		C.double(alpha), ptr(a), ld(lda), C.double(beta), ptr(c), ld(ldc))
}

// trmm is row-major dtrmm on the left with a lower-triangular, non-unit l and
// alpha = 1: b (m×n) becomes op(l)·b.
func trmm(trans bool, m, n int, l []float64, ldl int, b []float64, ldb int) {
	if m == 0 || n == 0 {
		return
	}
	C.cblas_dtrmm(C.CblasRowMajor, C.CblasLeft, C.CblasLower, tr(trans), C.CblasNonUnit,
		C.blasint(m), C.blasint(n), 1, ptr(l), ld(ldl), ptr(b), ld(ldb))
}
