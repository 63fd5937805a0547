package bffg

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
)

// flowWork is the scratch space of a FlowFilter: n×n and n×d matrices reused by every
// step, so that the sweeps do not allocate.
type flowWork struct {
	// forward
	p0, pT, t1, c, g, k, lk, dm, e []float64 // n×n
	v, s, r, dr, xs                []float64 // n×d
	// reverse
	p0b, pTb, a0b, aTb, gb, kb, lkb, db, cb, sb, zb []float64 // n×n
	vb, rb, yb, xbn, xq                             []float64 // n×d
}

func (w *flowWork) init(n, d int) {
	nn, nd := n*n, n*d
	for _, p := range []*[]float64{&w.p0, &w.pT, &w.t1, &w.c, &w.g, &w.k, &w.lk, &w.dm, &w.e,
		&w.p0b, &w.pTb, &w.a0b, &w.aTb, &w.gb, &w.kb, &w.lkb, &w.db, &w.cb, &w.sb, &w.zb} {
		*p = make([]float64, nn)
	}
	for _, p := range []*[]float64{&w.v, &w.s, &w.r, &w.dr, &w.xs, &w.vb, &w.rb, &w.yb, &w.xbn, &w.xq} {
		*p = make([]float64, nd)
	}
}

func general(a []float64, r, c int) blas64.General {
	return blas64.General{Rows: r, Cols: c, Stride: c, Data: a}
}

// gemm computes c = alpha·op(a)·op(b) + beta·c for row-major a (ra×ca) and b (rb×cb).
// c must not alias a or b.
func gemm(ta, tb bool, alpha float64, a []float64, ra, ca int, b []float64, rb, cb int, beta float64, c []float64) {
	t1, t2 := blas.NoTrans, blas.NoTrans
	m, n := ra, cb
	if ta {
		t1, m = blas.Trans, ca
	}
	if tb {
		t2, n = blas.Trans, rb
	}
	blas64.Gemm(t1, t2, alpha, general(a, ra, ca), general(b, rb, cb), beta, general(c, m, n))
}

func lowerTri(l []float64, n int) blas64.Triangular {
	return blas64.Triangular{Uplo: blas.Lower, Diag: blas.NonUnit, N: n, Stride: n, Data: l}
}

// trsm overwrites the n×k matrix b with L⁻¹b, or L⁻ᵀb when trans, for lower-triangular L.
func trsm(trans bool, l []float64, n int, b []float64, k int) {
	t := blas.NoTrans
	if trans {
		t = blas.Trans
	}
	blas64.Trsm(blas.Left, t, 1, lowerTri(l, n), general(b, n, k))
}

// trsmRight overwrites the r×n matrix b with bL⁻¹, or bL⁻ᵀ when trans.
func trsmRight(trans bool, l []float64, n int, b []float64, r int) {
	t := blas.NoTrans
	if trans {
		t = blas.Trans
	}
	blas64.Trsm(blas.Right, t, 1, lowerTri(l, n), general(b, r, n))
}
