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
	pu                                              []float64 // n, the power iterate of stiffness
	wm, gs, ks                                      []float64 // n×n, the semi-implicit step
	bb, sa, sc, se                                  []float64 // n×d, the semi-implicit step
}

// flowCacheBytes bounds the memory a FlowFilter spends keeping the guided pass's step
// quantities for its reverse pass (notebook 07 needs 17 MB; a 118-landmark tree would
// need gigabytes and recomputes instead).
const flowCacheBytes = 1 << 27

// cached lists the buffers a step leaves for the reverse pass: C, G, V of the pullback
// and s, r, K, L_K, D, DG, Dr of the guided step.
func (w *flowWork) cached() [10][]float64 {
	return [10][]float64{w.c, w.g, w.v, w.s, w.r, w.k, w.lk, w.dm, w.e, w.dr}
}

// stride returns the number of values save stores per step.
func (w *flowWork) stride() int {
	s := 0
	for _, b := range w.cached() {
		s += len(b)
	}
	return s
}

// save copies the step's buffers into slot i of cache; load copies them back.
func (w *flowWork) save(cache []float64, i int) {
	if cache == nil {
		return
	}
	off := i * w.stride()
	for _, b := range w.cached() {
		off += copy(cache[off:], b)
	}
}

func (w *flowWork) load(cache []float64, i int) {
	off := i * w.stride()
	for _, b := range w.cached() {
		off += copy(b, cache[off:off+len(b)])
	}
}

func (w *flowWork) init(n, d int) {
	nn, nd := n*n, n*d
	w.pu = make([]float64, n)
	for _, p := range []*[]float64{&w.p0, &w.pT, &w.t1, &w.c, &w.g, &w.k, &w.lk, &w.dm, &w.e,
		&w.p0b, &w.pTb, &w.a0b, &w.aTb, &w.gb, &w.kb, &w.lkb, &w.db, &w.cb, &w.sb, &w.zb} {
		*p = make([]float64, nn)
	}
	for _, p := range []*[]float64{&w.wm, &w.gs, &w.ks} {
		*p = make([]float64, nn)
	}
	for _, p := range []*[]float64{&w.bb, &w.sa, &w.sc, &w.se} {
		*p = make([]float64, nd)
	}
	for _, p := range []*[]float64{&w.v, &w.s, &w.r, &w.dr, &w.xs, &w.vb, &w.rb, &w.yb, &w.xbn, &w.xq} {
		*p = make([]float64, nd)
	}
}
