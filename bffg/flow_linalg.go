package bffg

import "fmt"

// flowWork is the scratch space of a FlowFilter: n×n and n×d matrices reused by every
// step, so that the sweeps do not allocate.
type flowWork struct {
	// forward
	p0, pT, t1, c, g, k, lk, dm, e []float64 // n×n
	v, s, r, dr, xs                []float64 // n×d
	// reverse
	p0b, pTb, a0b, aTb, gb, kb, lkb, db, cb, sb, zb []float64 // n×n
	vb, rb, yb, xbn, xq                             []float64 // n×d
	bx, xd                                          []float64 // n×d: the drift b(x), and x̄ through it
	pu                                              []float64 // n, the power iterate of stiffness
	wm, gs, ks                                      []float64 // n×n, the semi-implicit step
	bb, sa, sc, se                                  []float64 // n×d, the semi-implicit step
	// exact steps: grid point j's pullback while j+1's is in c, g, v, the residual
	// V_j − G_j'x, the adjoints of grid point j's G and V, and a scratch state
	cq, gq, gqb     []float64 // n×n
	vq, sq, vqb, xn []float64 // n×d
	act             []int     // the landmarks a message is informative about (activeSet)
	// auxiliary drift: the driftless G and V of a shifted message (unshiftVJP), G'μ,
	// and the adjoints of λ and μ collected along an edge
	gu          []float64 // n×n
	vu, gm, mub []float64 // n×d
	lamb        float64
	// the ã at the two ends of the edge that pulls use: the anchors' (prepareEdge)
	// or both K(x_j) (localEdge, in kf)
	ea0, eaT []float64
	kf       []float64 // n×n
	kfAt     []float64 // the state whose K is in kf, so that tiltedStep need not recompute it
}

// swapPull exchanges the two pullback slots (c, g, v) and (cq, gq, vq).
func (w *flowWork) swapPull() {
	w.c, w.cq = w.cq, w.c
	w.g, w.gq = w.gq, w.g
	w.v, w.vq = w.vq, w.v
}

// swapAdjoints exchanges the adjoint accumulators (gb, vb) and (gqb, vqb).
func (w *flowWork) swapAdjoints() {
	w.gb, w.gqb = w.gqb, w.gb
	w.vb, w.vqb = w.vqb, w.vb
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

// savePull copies the pullback buffers (C, G, V) that exact steps keep per grid point
// into dst, and saveStep those of a step that its reverse pass reads (R, M, B, e, g,
// t and V_j − G_j'x);
// loadPull and loadStep copy them back.
func (w *flowWork) savePull(dst []float64) { saveBufs(dst, w.c, w.g, w.v) }
func (w *flowWork) loadPull(src []float64) { loadBufs(src, w.c, w.g, w.v) }
func (w *flowWork) saveStep(dst []float64) {
	saveBufs(dst, w.lk, w.e, w.dm, w.dr, w.r, w.xs, w.sq)
}
func (w *flowWork) loadStep(src []float64) {
	loadBufs(src, w.lk, w.e, w.dm, w.dr, w.r, w.xs, w.sq)
}

func saveBufs(dst []float64, bufs ...[]float64) {
	off := 0
	for _, b := range bufs {
		off += copy(dst[off:], b)
	}
}

func loadBufs(src []float64, bufs ...[]float64) {
	off := 0
	for _, b := range bufs {
		off += copy(b, src[off:off+len(b)])
	}
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
		&w.p0b, &w.pTb, &w.a0b, &w.aTb, &w.gb, &w.kb, &w.lkb, &w.db, &w.cb, &w.sb, &w.zb, &w.gu, &w.kf} {
		*p = make([]float64, nn)
	}
	for _, p := range []*[]float64{&w.wm, &w.gs, &w.ks, &w.cq, &w.gq, &w.gqb} {
		*p = make([]float64, nn)
	}
	for _, p := range []*[]float64{&w.bb, &w.sa, &w.sc, &w.se, &w.vq, &w.sq, &w.vqb, &w.xn, &w.vu, &w.gm, &w.mub} {
		*p = make([]float64, nd)
	}
	for _, p := range []*[]float64{&w.v, &w.s, &w.r, &w.dr, &w.xs, &w.vb, &w.rb, &w.yb, &w.xbn, &w.xq, &w.bx, &w.xd} {
		*p = make([]float64, nd)
	}
	w.act = make([]int, 0, n)
}

// activeSet returns, in dst[:0], the k with a_kk ≠ 0 for the n×n matrix a: for a fused
// precision H or its factor L, the landmarks that some leaf below observes.
func activeSet(dst []int, a []float64, n int) []int {
	dst = dst[:0]
	for k := 0; k < n; k++ {
		if a[k*n+k] != 0 {
			dst = append(dst, k)
		}
	}
	return dst
}

// checkInactive reports an error unless the rows of the n×n H and the n×d F outside the
// active set A (ascending) are zero, as they are when H is positive semidefinite with
// those diagonal entries zero.
func checkInactive(H, F []float64, n, d int, A []int) error {
	a := 0
	for k := 0; k < n; k++ {
		if a < len(A) && A[a] == k {
			a++
			continue
		}
		for _, e := range H[k*n : (k+1)*n] {
			if e != 0 {
				return fmt.Errorf("landmark %d: zero precision with nonzero coupling %g", k+1, e)
			}
		}
		for _, e := range F[k*d : (k+1)*d] {
			if e != 0 {
				return fmt.Errorf("landmark %d: zero precision with nonzero information %g", k+1, e)
			}
		}
	}
	return nil
}

// gather writes the rows R and columns C (all c of them when C is nil) of the
// row-major matrix a with c columns into dst, densely.
func gather(dst, a []float64, c int, R, C []int) {
	i := 0
	for _, r := range R {
		if C == nil {
			i += copy(dst[i:], a[r*c:(r+1)*c])
			continue
		}
		for _, k := range C {
			dst[i] = a[r*c+k]
			i++
		}
	}
}

// scatter is the inverse of gather: it writes the dense src into the rows R and columns
// C (all when nil) of a, which has c columns, leaving the other entries alone.
func scatter(a, src []float64, c int, R, C []int) {
	i := 0
	for _, r := range R {
		if C == nil {
			i += copy(a[r*c:(r+1)*c], src[i:i+c])
			continue
		}
		for _, k := range C {
			a[r*c+k] = src[i]
			i++
		}
	}
}
