package bffg

import (
	"fmt"
	"math"

	"github.com/canopy-bffg/canopy/topology"
	"github.com/canopy-bffg/canopy/tree"
)

const log2Pi = 1.8378770664093454835606594728112352797227949472755668

// Filter is the backward information filter. After Run, node v holds the message
// h_v(x) = exp(c_v + F_v'x − ½x'H_v x), the likelihood of the observations below v
// given x_v under the proxy transitions; at the root, log h_root(x) is the exact log
// marginal likelihood when the proxy is the model.
//
// The zero value is ready to use. Run sizes its storage on the first call and reuses it
// afterwards, so repeated runs on the same tree (an MCMC loop) do not allocate.
// A Filter must not be used by several goroutines at once.
type Filter struct {
	// Schedule controls parallelism within a level; the results do not depend on it.
	Schedule tree.Schedule
	// Anchors, if its Data is not nil, holds one anchor per node at which the proxy of the
	// edge above that node is linearised. Refine updates it. Linear models ignore it.
	Anchors tree.Vectors

	t     *topology.Topology
	d     int
	p     Proxy
	obs   Obs
	h     tree.Matrices
	f     tree.Vectors
	c     []float64
	exact []bool // leaf observed exactly: its message is a point mass, pulled by route (ii)
	ws    []workspace
	errs  []nodeErr
	ran   bool

	p1 scalarProxy // p's fast path when d = 1, or nil
	// On the scalar path, fuse1 records each edge's (a, b, q) for the passes that follow,
	// and defers the log-determinants: ldp[u] is the product of node u's children's
	// s = 1 + qH, and c holds the constants without −½ Σ log ldp over the subtree.
	ea, eb, eq, ldp []float64
	deferred        bool
	bulk            bool    // ea, eb, eq were filled before the sweep
	pending         float64 // −½ Σ_u log ldp[u], valid when pendingOK
	pendingOK       bool
	cFull           []float64 // complete constants, computed on demand by Message
	leafLog         float64   // −½ log(2πτ²) for the shared isotropic noise variance
	leafPrec        float64   // 1/τ² for the same

	adj adj // reverse-pass storage (Backward, Score)

	// Sweep callbacks, bound once so that a Run or Guide does not allocate.
	upFn    tree.Func
	guideFn tree.Func
	g       guide
}

// workspace is one goroutine's scratch space.
type workspace struct {
	d                           int
	A, Q, R, S, W, HA, Psi, M   []float64 // d×d
	Q2, R2, S2                  []float64 // d×d, second kernel in the guided step
	b, g, gam, u, w, mu, mu2, y []float64 // d
	zero                        []float64 // d zeros
	obs                         []int
}

func newWorkspace(d int) workspace {
	dd := d * d
	buf := make([]float64, 11*dd+9*d)
	next := func(n int) []float64 {
		s := buf[:n:n]
		buf = buf[n:]
		return s
	}
	return workspace{
		d: d,
		A: next(dd), Q: next(dd), R: next(dd), S: next(dd), W: next(dd), HA: next(dd), Psi: next(dd), M: next(dd),
		Q2: next(dd), R2: next(dd), S2: next(dd),
		b: next(d), g: next(d), gam: next(d), u: next(d), w: next(d), mu: next(d), mu2: next(d), y: next(d),
		zero: next(d),
		obs:  make([]int, 0, d),
	}
}

type nodeErr struct {
	node, depth int
	err         error
}

// before reports whether an error at (depth d, node v) takes precedence over e. An
// up-sweep's root causes are at the deepest failing level (shallower levels read its
// results); a down-sweep's at the shallowest (deeper levels read its results). Within
// the level, the lowest node wins. Every node of that level was evaluated from valid
// inputs whatever the chunking, so the reported error does not depend on the Schedule.
func (e *nodeErr) before(d, v int, down bool) bool {
	if e.err == nil {
		return true
	}
	if d != e.depth {
		return (d > e.depth) != down
	}
	return v < e.node
}

// record keeps err if it takes precedence over the error already held.
func (e *nodeErr) record(t *topology.Topology, v int, err error, down bool) {
	if d := t.Depth(v); e.before(d, v, down) {
		*e = nodeErr{node: v, depth: d, err: err}
	}
}

// firstErr returns the error that takes precedence among the workers'.
func (f *Filter) firstErr(down bool) error {
	var best *nodeErr
	for i := range f.errs {
		e := &f.errs[i]
		if e.err != nil && (best == nil || best.before(e.depth, e.node, down)) {
			best = e
		}
	}
	if best == nil {
		return nil
	}
	return best.err
}

func (f *Filter) nodeError(v int, what string, err error) error {
	return &NodeError{Node: v, Name: f.t.Name(v), What: what, Err: err}
}

// Dim returns the state dimension of the last Run.
func (f *Filter) Dim() int { return f.d }

// Topology returns the tree of the last Run.
func (f *Filter) Topology() *topology.Topology { return f.t }

// Run runs the backward filter on t with proxy transitions p and leaf observations obs.
// The state dimension is len(obs.Y)/t.NumLeaves(). It returns a *NodeError for data that
// cannot be filtered, such as a noise covariance that is not positive definite.
func (f *Filter) Run(t *topology.Topology, p Proxy, obs Obs) error {
	f.ran = false
	if t.Len() < 2 {
		return fmt.Errorf("bffg: tree has %d node(s); need a root with at least one child", t.Len())
	}
	nl := t.NumLeaves()
	if len(obs.Y) == 0 || len(obs.Y)%nl != 0 {
		return fmt.Errorf("bffg: %d observed values for %d leaves", len(obs.Y), nl)
	}
	d := len(obs.Y) / nl
	if obs.Cov == nil && obs.LeafVar == nil && !validVar(obs.Var) {
		return fmt.Errorf("bffg: noise variance %v: %w", obs.Var, ErrObservation)
	}
	if obs.Cov == nil && obs.LeafVar != nil {
		if len(obs.LeafVar) != nl {
			return fmt.Errorf("bffg: %d leaf noise variances for %d leaves", len(obs.LeafVar), nl)
		}
		for i, v := range obs.LeafVar {
			if !validVar(v) {
				return &NodeError{Node: t.Leaf(i), Name: t.Name(t.Leaf(i)), What: "noise variance",
					Err: fmt.Errorf("%w: %v", ErrObservation, v)}
			}
		}
	}
	if obs.Cov != nil && len(obs.Cov) != d*d {
		return fmt.Errorf("bffg: noise covariance has %d entries, want %d×%d", len(obs.Cov), d, d)
	}
	if f.Anchors.Data != nil && (f.Anchors.D != d || f.Anchors.Len() != t.Len()) {
		return fmt.Errorf("bffg: anchors are %d vectors of dimension %d, want %d of dimension %d",
			f.Anchors.Len(), f.Anchors.D, t.Len(), d)
	}
	f.resize(t, d)
	f.p, f.obs = p, obs
	f.p1 = nil
	if p1, ok := p.(scalarProxy); ok && d == 1 && f.Anchors.Data == nil {
		f.p1 = p1
		n := t.Len()
		f.ea, f.eb, f.eq, f.ldp = tree.Grow(f.ea, n), tree.Grow(f.eb, n), tree.Grow(f.eq, n), tree.Grow(f.ldp, n)
	}
	f.deferred, f.pendingOK, f.cFull = f.p1 != nil, false, f.cFull[:0]
	f.bulk = false
	if e, ok := p.(scalarEdges); ok && f.p1 != nil {
		e.edges1(f.ea, f.eb, f.eq)
		f.bulk = true
	}
	if obs.Var > 0 {
		f.leafLog = -0.5 * (log2Pi + math.Log(obs.Var))
		f.leafPrec = 1 / obs.Var
	}
	for i := range f.errs {
		f.errs[i] = nodeErr{}
	}
	if f.upFn == nil {
		f.upFn = f.upLevel
		f.guideFn = f.g.level
		f.g.f = f
	}
	if f.p1 != nil && t.Len() < 2*tree.DefaultGrain && f.Schedule.Grain == 0 {
		// Small scalar trees: one loop in reverse index order (children before
		// parents), without the per-level machinery that would cost as much as the work.
		for v := t.Len() - 1; v >= 0; v-- {
			var err error
			if t.IsLeaf(v) {
				err = f.leaf(&f.ws[0], v)
			} else {
				lo, hi := t.Children(v)
				err = f.fuse1(&f.ws[0], v, lo, hi)
			}
			if err != nil {
				f.errs[0].record(t, v, err, false) // the same choice as the level sweep
			}
		}
		if err := f.firstErr(false); err != nil {
			return err
		}
		f.ran = true
		return nil
	}
	f.Schedule.Up(t, f.upFn)
	if err := f.firstErr(false); err != nil {
		return err
	}
	f.ran = true
	return nil
}

func (f *Filter) resize(t *topology.Topology, d int) {
	n := t.Len()
	if f.t != t || f.d != d || len(f.c) != n {
		f.t, f.d = t, d
		f.h = tree.Matrices{D: d, Data: tree.Grow(f.h.Data, n*d*d)}
		f.f = tree.Vectors{D: d, Data: tree.Grow(f.f.Data, n*d)}
		f.c = tree.Grow(f.c, n)
		if cap(f.exact) >= n {
			f.exact = f.exact[:n]
			clear(f.exact) // leaves of an earlier tree may be internal nodes here
		} else {
			f.exact = make([]bool, n)
		}
	}
	nw := f.Schedule.NumWorkers()
	if len(f.ws) != nw || f.ws[0].d != d {
		f.ws = make([]workspace, nw)
		for i := range f.ws {
			f.ws[i] = newWorkspace(d)
		}
		f.errs = make([]nodeErr, nw)
	}
}

func (f *Filter) anchor(ws *workspace, v int) []float64 {
	if f.Anchors.Data == nil {
		return ws.zero
	}
	return f.Anchors.At(v)
}

// upLevel computes the messages of nodes lo..hi-1: leaves from their observations,
// internal nodes by pulling back and fusing their children's messages.
func (f *Filter) upLevel(worker, lo, hi int) {
	ws := &f.ws[worker]
	t := f.t
	for v := lo; v < hi; v++ {
		var err error
		if t.IsLeaf(v) {
			err = f.leaf(ws, v)
		} else {
			err = f.fuse(ws, v)
		}
		if err != nil {
			f.errs[worker].record(t, v, err, false)
			return
		}
	}
}

// observed fills ws.obs with the observed coordinates of leaf v and returns its values.
func (f *Filter) observed(ws *workspace, v int) ([]float64, error) {
	d := f.d
	i := f.t.LeafIndex(v)
	y := f.obs.Y[i*d : i*d+d]
	ws.obs = ws.obs[:0]
	for k, yk := range y {
		if math.IsNaN(yk) {
			continue
		}
		if math.IsInf(yk, 0) {
			return nil, f.nodeError(v, fmt.Sprintf("observed value %d", k), fmt.Errorf("%w: %v", ErrObservation, yk))
		}
		ws.obs = append(ws.obs, k)
	}
	return y, nil
}

// leaf initialises the message of leaf v: the Gaussian likelihood N(y; Lx, R) of its
// observed coordinates in information form, or a point mass (flagged exact) when R = 0.
func (f *Filter) leaf(ws *workspace, v int) error {
	d := f.d
	if d == 1 && f.obs.Cov == nil && f.obs.LeafVar == nil && f.obs.Var > 0 {
		return f.leaf1(v)
	}
	H, F := f.h.At(v), f.f.At(v)
	for i := range H {
		H[i] = 0
	}
	for i := range F {
		F[i] = 0
	}
	f.c[v], f.exact[v] = 0, false
	y, err := f.observed(ws, v)
	if err != nil {
		return err
	}
	o := ws.obs
	m := len(o)
	if m == 0 {
		return nil // unobserved: h ≡ 1
	}
	if f.obs.Cov == nil {
		tau2, lc := f.obs.Var, f.leafLog
		if f.obs.LeafVar != nil {
			tau2 = f.obs.LeafVar[f.t.LeafIndex(v)]
			lc = -0.5 * (log2Pi + math.Log(tau2))
		}
		if tau2 == 0 {
			f.exact[v] = true
			return nil
		}
		c := float64(m) * lc
		for _, k := range o {
			H[k*d+k] = 1 / tau2
			F[k] = y[k] / tau2
			c -= 0.5 * y[k] * y[k] / tau2
		}
		f.c[v] = c
		return nil
	}
	// R restricted to the observed coordinates, in the leading m×m block of ws.R.
	R := ws.R[:m*m]
	for a, ka := range o {
		for b, kb := range o {
			R[a*m+b] = f.obs.Cov[ka*d+kb]
		}
	}
	if isZero(R) {
		f.exact[v] = true
		return nil
	}
	if !cholesky(R, m) {
		return f.nodeError(v, "noise covariance", ErrNotPosDef)
	}
	// V' = L_R⁻¹ L has column a equal to L_R⁻¹ e_a (column o_a of V'), and φ = L_R⁻¹ y_o;
	// then H = VV', F = Vφ, c = −½ m log 2π − Σ log diag L_R − ½|φ|².
	Vt := ws.W[:m*m]
	for a := 0; a < m; a++ {
		col := ws.u[:m]
		for k := range col {
			col[k] = 0
		}
		col[a] = 1
		solveLower(R, m, col)
		for k := 0; k < m; k++ {
			Vt[k*m+a] = col[k]
		}
	}
	phi := ws.g[:m]
	for a, k := range o {
		phi[a] = y[k]
	}
	solveLower(R, m, phi)
	for a, ka := range o {
		for b, kb := range o {
			s := 0.0
			for k := 0; k < m; k++ {
				s += Vt[k*m+a] * Vt[k*m+b]
			}
			H[ka*d+kb] = s
		}
		s := 0.0
		for k := 0; k < m; k++ {
			s += Vt[k*m+a] * phi[k]
		}
		F[ka] = s
	}
	f.c[v] = -0.5*float64(m)*log2Pi - logDiag(R, m) - 0.5*dot(phi, phi)
	return nil
}

// leaf1 is leaf for d = 1 with the shared noise variance τ² > 0:
// H = 1/τ², F = y/τ², c = −½ log(2πτ²) − y²/(2τ²).
func (f *Filter) leaf1(v int) error {
	y := f.obs.Y[f.t.LeafIndex(v)]
	f.exact[v] = false
	switch {
	case math.IsNaN(y):
		f.h.Data[v], f.f.Data[v], f.c[v] = 0, 0, 0
	case math.IsInf(y, 0):
		return f.nodeError(v, "observed value 0", fmt.Errorf("%w: %v", ErrObservation, y))
	default:
		p := f.leafPrec
		f.h.Data[v], f.f.Data[v], f.c[v] = p, y*p, f.leafLog-0.5*y*y*p
	}
	return nil
}

// fuse sets the message of internal node u to the product of its children's messages
// pulled back through their edges.
func (f *Filter) fuse(ws *workspace, u int) error {
	H, F := f.h.At(u), f.f.At(u)
	for i := range H {
		H[i] = 0
	}
	for i := range F {
		F[i] = 0
	}
	c := 0.0
	lo, hi := f.t.Children(u)
	if f.p1 != nil {
		return f.fuse1(ws, u, lo, hi)
	}
	for v := lo; v < hi; v++ {
		f.p.Proxy(v, f.anchor(ws, v), ws.A, ws.b, ws.Q)
		var cv float64
		var err error
		if f.exact[v] {
			cv, err = f.pullExact(ws, v, H, F)
		} else {
			cv, err = f.pull(ws, v, f.h.At(v), f.f.At(v), f.c[v], H, F)
		}
		if err != nil {
			return err
		}
		c += cv
	}
	symmetrize(H, f.d)
	f.c[u] = c
	return nil
}

// fuse1 is fuse for d = 1 with a scalar proxy. The log-determinants −½ log s of the
// children are summed as one log of their product, which halves the calls to math.Log
// on binary trees; the product is flushed before it could overflow.
func (f *Filter) fuse1(ws *workspace, u, lo, hi int) error {
	var H, F, c float64
	prod := 1.0
	for v := lo; v < hi; v++ {
		var a, b, q float64
		if f.bulk {
			a, b, q = f.ea[v], f.eb[v], f.eq[v]
		} else {
			a, b, q = f.p1.proxy1(v, 0)
			f.ea[v], f.eb[v], f.eq[v] = a, b, q
		}
		if f.t.IsLeaf(v) {
			// Every leaf edge in observation space (bffg-math §1.1 ii): the message is
			// N(y; ax + b, C) with C = q + τ², so H↑ = a²/C, F↑ = a(y − b)/C and
			// c↑ = −½ log 2πC − (y − b)²/(2C), with log C joining the product. Going
			// through the leaf's own message H = 1/τ² instead would cancel terms of
			// size y²/τ² in c, which is garbage for tiny τ².
			i := f.t.LeafIndex(v)
			y := f.obs.Y[i]
			if math.IsNaN(y) {
				continue // unobserved: h ≡ 1
			}
			if !(q >= 0 && q <= math.MaxFloat64) {
				return f.nodeError(v, "proxy covariance of the edge above", fmt.Errorf("%w: %v", ErrNotPosDef, q))
			}
			C := q + f.leafVar(i)
			if !(C > 0) || math.IsInf(C, 0) {
				return f.nodeError(v, "edge covariance at the observed coordinates", ErrExactZero)
			}
			r := y - b
			H += a * a / C
			F += a * r / C
			c -= 0.5 * (log2Pi + r*r/C)
			if prod *= C; prod > 1e250 || prod < 1e-250 {
				c -= 0.5 * math.Log(prod)
				prod = 1
			}
			continue
		}
		if !(q >= 0 && q <= math.MaxFloat64) { // also rejects NaN
			return f.nodeError(v, "proxy covariance of the edge above", fmt.Errorf("%w: %v", ErrNotPosDef, q))
		}
		s := 1 + q*f.h.Data[v]
		hu, fu, cu := pullback1(f.h.Data[v], f.f.Data[v], f.c[v], a, b, q, s)
		H, F, c = H+hu, F+fu, c+cu
		if prod *= s; prod > 1e250 || prod < 1e-250 {
			c -= 0.5 * math.Log(prod)
			prod = 1
		}
	}
	f.h.Data[u], f.f.Data[u], f.c[u], f.ldp[u] = H, F, c, prod
	return nil
}

// leafVar returns the noise variance of leaf i when d = 1 (0 for an exact leaf).
func (f *Filter) leafVar(i int) float64 { return noise(f.obs, 1, i, 0, 0) }

// pendingLog returns the log-determinant terms the scalar path deferred,
// −½ Σ_u log ldp[u] over the internal nodes, summed in index order (so the result does
// not depend on the schedule) with one log per run of products that stays in range.
func (f *Filter) pendingLog() float64 {
	if !f.deferred {
		return 0
	}
	if !f.pendingOK {
		s, prod := 0.0, 1.0
		t := f.t
		for u := 0; u < t.Len(); u++ {
			if t.IsLeaf(u) {
				continue
			}
			if prod *= f.ldp[u]; prod > 1e250 || prod < 1e-250 {
				s += math.Log(prod)
				prod = 1
			}
		}
		f.pending, f.pendingOK = -0.5*(s+math.Log(prod)), true
	}
	return f.pending
}

// constant returns node v's complete constant c_v.
func (f *Filter) constant(v int) float64 {
	if !f.deferred {
		return f.c[v]
	}
	if len(f.cFull) != f.t.Len() {
		// miss_u = −½ log ldp[u] + Σ_children miss_v, accumulated from the leaves up.
		n := f.t.Len()
		f.cFull = tree.Grow(f.cFull, n)
		miss := make([]float64, n)
		for u := n - 1; u >= 0; u-- {
			if f.t.IsLeaf(u) {
				continue
			}
			miss[u] = -0.5 * math.Log(f.ldp[u])
			lo, hi := f.t.Children(u)
			for c := lo; c < hi; c++ {
				miss[u] += miss[c]
			}
		}
		for u := range miss {
			f.cFull[u] = f.c[u] + miss[u]
		}
	}
	return f.cFull[v]
}

// pull adds the pullback of the message (H, F, c) of node v through the edge
// N(Ax + b, Q) held in ws to (Hu, Fu) and returns the pulled constant. It uses the
// square-root form that needs no inverse of H or Q (bffg-math §1.2):
//
//	S = I + R'HR = L_S L_S',  W = L_S⁻¹R',  g = F − Hb,  γ = Wg,  Ψ = WHA,
//	H↑ = A'HA − Ψ'Ψ,  F↑ = A'g − Ψ'γ,  c↑ = c + F'b − ½b'Hb + ½|γ|² − Σ log diag L_S.
func (f *Filter) pull(ws *workspace, v int, H, F []float64, c float64, Hu, Fu []float64) (float64, error) {
	d := f.d
	if d == 1 {
		return f.pull1(ws, v, H[0], F[0], c, Hu, Fu)
	}
	A, b := ws.A, ws.b
	if !sqrtCov(ws.R, ws.Q, d) {
		return 0, f.nodeError(v, "proxy covariance of the edge above", ErrNotPosDef)
	}
	ld, err := f.factorS(ws, v, H, ws.R, ws.S, "pullback")
	if err != nil {
		return 0, err
	}
	// W = L_S⁻¹ R' column by column (R' column j is row j of R).
	W := ws.W
	for j := 0; j < d; j++ {
		col := ws.u
		for i := 0; i < d; i++ {
			col[i] = ws.R[j*d+i]
		}
		solveLower(ws.S, d, col)
		for i := 0; i < d; i++ {
			W[i*d+j] = col[i]
		}
	}
	g := ws.g
	mulVec(g, H, d, d, b)
	hb := dot(b, g) // b'Hb
	for i := range g {
		g[i] = F[i] - g[i]
	}
	mulVec(ws.gam, W, d, d, g)
	mul(ws.HA, H, A, d, d, d)
	mul(ws.Psi, W, ws.HA, d, d, d)
	// Hu += A'(HA) − Ψ'Ψ; Fu += A'g − Ψ'γ.
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			s := 0.0
			for k := 0; k < d; k++ {
				s += A[k*d+i]*ws.HA[k*d+j] - ws.Psi[k*d+i]*ws.Psi[k*d+j]
			}
			Hu[i*d+j] += s
		}
		s := 0.0
		for k := 0; k < d; k++ {
			s += A[k*d+i]*g[k] - ws.Psi[k*d+i]*ws.gam[k]
		}
		Fu[i] += s
	}
	return c + dot(F, b) - 0.5*hb + 0.5*dot(ws.gam, ws.gam) - ld, nil
}

// pull1 is pull for d = 1, where every matrix is a number.
func (f *Filter) pull1(ws *workspace, v int, H, F, c float64, Hu, Fu []float64) (float64, error) {
	a, b, q := ws.A[0], ws.b[0], ws.Q[0]
	if q < 0 || math.IsNaN(q) || math.IsInf(q, 0) {
		return 0, f.nodeError(v, "proxy covariance of the edge above", ErrNotPosDef)
	}
	s := 1 + q*H // S = I + R'HR with R = √q
	if !(s > 0) {
		return 0, f.nodeError(v, "pullback", ErrNotPosDef)
	}
	hu, fu, cu := pullback1(H, F, c, a, b, q, s)
	Hu[0] += hu
	Fu[0] += fu
	return cu - 0.5*math.Log(s), nil
}

// pullback1 is the d = 1 pullback of (H, F, c) through N(ax + b, q), with s = 1 + qH,
// except for the log-determinant term −½ log s, which callers add (or defer):
// with k = q/s and g = F − Hb, H↑ = a²(H − H²k), F↑ = a(g − Hkg) and
// c↑ = c + Fb − ½Hb² + ½kg².
func pullback1(H, F, c, a, b, q, s float64) (hu, fu, cu float64) {
	k := q / s
	g := F - H*b
	return a * a * (H - H*H*k), a * (g - H*k*g), c + F*b - 0.5*H*b*b + 0.5*k*g*g
}

// factorS overwrites S with the Cholesky factor of I + R'HR and returns Σ log diag.
func (f *Filter) factorS(ws *workspace, v int, H, R, S []float64, what string) (float64, error) {
	d := f.d
	mul(ws.M, H, R, d, d, d) // HR
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			s := 0.0
			for k := 0; k < d; k++ {
				s += R[k*d+i] * ws.M[k*d+j]
			}
			S[i*d+j] = s
		}
		S[i*d+i]++
	}
	symmetrize(S, d)
	if !cholesky(S, d) {
		return 0, f.nodeError(v, what, ErrNotPosDef)
	}
	return logDiag(S, d), nil
}

// pullExact adds the message that the exactly observed leaf v sends through the edge
// N(Ax + b, Q) held in ws: the density N(y; L(Ax + b), C) with C = LQL', in observation
// space (bffg-math §1.1 ii). It returns the constant.
func (f *Filter) pullExact(ws *workspace, v int, Hu, Fu []float64) (float64, error) {
	d := f.d
	y, err := f.observed(ws, v)
	if err != nil {
		return 0, err
	}
	o := ws.obs
	m := len(o)
	C := ws.S[:m*m]
	for a, ka := range o {
		for bb, kb := range o {
			C[a*m+bb] = ws.Q[ka*d+kb]
		}
	}
	if !cholesky(C, m) {
		return 0, f.nodeError(v, "edge covariance at the observed coordinates", ErrExactZero)
	}
	// V' = L_C⁻¹ (LA): rows o of A, solved column by column.
	Vt := ws.W[:m*d]
	for j := 0; j < d; j++ {
		col := ws.u[:m]
		for a, k := range o {
			col[a] = ws.A[k*d+j]
		}
		solveLower(C, m, col)
		for a := 0; a < m; a++ {
			Vt[a*d+j] = col[a]
		}
	}
	phi := ws.g[:m]
	for a, k := range o {
		phi[a] = y[k] - ws.b[k]
	}
	solveLower(C, m, phi)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			s := 0.0
			for a := 0; a < m; a++ {
				s += Vt[a*d+i] * Vt[a*d+j]
			}
			Hu[i*d+j] += s
		}
		s := 0.0
		for a := 0; a < m; a++ {
			s += Vt[a*d+i] * phi[a]
		}
		Fu[i] += s
	}
	return -0.5*float64(m)*log2Pi - logDiag(C, m) - 0.5*dot(phi, phi), nil
}

// factorRoot puts the Cholesky factor of H_root in ws.S, for the flat root prior.
func (f *Filter) factorRoot(ws *workspace) error {
	copy(ws.S, f.h.At(0))
	if !cholesky(ws.S, f.d) {
		return f.nodeError(0, "flat root prior needs a positive definite H at the root", ErrNotPosDef)
	}
	return nil
}

// RootPosterior writes the mean (d) and covariance (d×d) of the root state given the
// data under a flat root prior, H_root⁻¹F_root and H_root⁻¹, computed by Cholesky solves.
func (f *Filter) RootPosterior(mean, cov []float64) error {
	f.mustRun()
	d := f.d
	if len(mean) != d || len(cov) != d*d {
		panic("bffg: RootPosterior: wrong buffer size")
	}
	ws := &f.ws[0]
	if err := f.factorRoot(ws); err != nil {
		return err
	}
	copy(mean, f.f.At(0))
	solveLower(ws.S, d, mean)
	solveLowerT(ws.S, d, mean)
	for j := 0; j < d; j++ {
		col := ws.u
		for i := range col {
			col[i] = 0
		}
		col[j] = 1
		solveLower(ws.S, d, col)
		solveLowerT(ws.S, d, col)
		for i := 0; i < d; i++ {
			cov[i*d+j] = col[i]
		}
	}
	return nil
}

func validVar(v float64) bool { return v >= 0 && !math.IsInf(v, 0) }

func (f *Filter) mustRun() {
	if !f.ran {
		panic("bffg: Filter used before a successful Run")
	}
}

// Message copies the message of node v into H (d×d) and F (d) and returns c. For an
// exactly observed leaf, whose message is a point mass, it returns zeros.
func (f *Filter) Message(v int, H, F []float64) float64 {
	f.mustRun()
	if len(H) != f.d*f.d || len(F) != f.d {
		panic("bffg: Message: wrong buffer size")
	}
	copy(H, f.h.At(v))
	copy(F, f.f.At(v))
	return f.constant(v)
}

// LogLikelihood returns log p(y) under the proxy model: log h_root(x) at a fixed root,
// or log ∫ N(x; m0, P0) h_root(x) dx under a Gaussian root prior.
func (f *Filter) LogLikelihood(root Root) (float64, error) {
	f.mustRun()
	d := f.d
	ws := &f.ws[0]
	H, F, c := f.h.At(0), f.f.At(0), f.c[0]+f.pendingLog()
	if root.Flat {
		// log ∫ h_root = c + (d/2) log 2π − ½ log det H + ½ F'H⁻¹F.
		if err := f.factorRoot(ws); err != nil {
			return 0, err
		}
		copy(ws.u, F)
		solveLower(ws.S, d, ws.u)
		return c + 0.5*float64(d)*log2Pi - logDiag(ws.S, d) + 0.5*dot(ws.u, ws.u), nil
	}
	m := root.Mean
	if m == nil {
		m = ws.zero
	}
	if len(m) != d {
		return 0, fmt.Errorf("bffg: root mean has %d entries, want %d", len(m), d)
	}
	if root.Cov == nil {
		return c + dot(F, m) - 0.5*quad(H, d, m), nil
	}
	if len(root.Cov) != d*d {
		return 0, fmt.Errorf("bffg: root covariance has %d entries, want %d", len(root.Cov), d*d)
	}
	// The prior is a pullback through the edge with A = 0, b = m0, Q = P0.
	for i := range ws.A {
		ws.A[i] = 0
	}
	copy(ws.b, m)
	copy(ws.Q, root.Cov)
	return f.pull(ws, 0, H, F, c, ws.Q2, ws.w) // Q2, w: discarded accumulators
}
