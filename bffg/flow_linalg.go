package bffg

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
