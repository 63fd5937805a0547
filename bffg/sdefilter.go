package bffg

import (
	"errors"
	"fmt"
	"math"

	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
)

// SDEAux gives the auxiliary (proxy) process of the edge above node v in the two-anchor
// form hyperiax uses: dX̃ = σ̃(t)dW̃ with B = β = 0 and ã(t) interpolated linearly between
// a0 at the parent (t = 0) and aT at the child (t = T). AuxCovariances writes the D×D
// matrices a0 and aT given the anchors of the edge's two ends.
type SDEAux interface {
	AuxCovariances(v int, anchorPa, anchor, a0, aT []float64) error
}

// SDEFilter is BFFG on a tree whose edges are all SDEs (bffg-math §3): the backward
// filter along every edge's grid, by the exact pullback through the auxiliary's
// transition from each grid point to the edge's end; anchor refinement; and the guided
// Euler–Maruyama pass x ← x + (b + a r)dt + σ√dt z, r = F − Hx, with the left-point
// log-weight Σ [b'r − ½tr((a − ã)H) + ½r'(a − ã)r]dt (the auxiliary drift is zero). Leaf
// observations are isotropic with variance Obs.Var or Obs.LeafVar (exact leaves are not
// supported yet). Its storage is Len·(Steps+1)·D² for the grid messages.
//
// RunRK4 filters instead with a general linear auxiliary per edge (drift B(t)x + β(t)),
// solving the backward ODEs by RK4, and Guide then includes (b − b̃)'r in the weight.
// SDEFilter keeps full D×D messages on a uniform grid and has no gradients: it is the
// reference for FlowFilter, the factorised filter with gradients.
type SDEFilter struct {
	Steps int // Euler–Maruyama steps per edge; 0 means 100
	// AuxFromAnchors makes Guide interpolate ã between the auxiliary's covariances at
	// the current anchors rather than at those of the last Run. hyperiax notebook 07 does
	// this after refining the anchors once more (its pitfall P3); it is not exact BFFG and
	// exists to reproduce the notebook.
	AuxFromAnchors bool

	t         *topology.Topology
	d         int
	aux       SDEAux
	obs       Obs
	h, f      [][]float64 // vertex messages per node
	c         []float64
	gh, gf    [][][]float64 // per node, per grid point of the edge above it
	anchor    [][]float64
	anchorPa  [][]float64
	a0, aT    [][]float64 // the auxiliary's endpoint covariances used by the last Run
	bw        sde.Backward
	ident, zb []float64
	q         []float64
	ran       bool
	lin       func(v int) sde.Auxiliary // RunRK4's auxiliaries, or nil
	rk        sde.Backward
	rkH, rkF  []float64 // one edge's RK4 trajectory
	rkC       []float64
}

func (f *SDEFilter) steps() int {
	if f.Steps > 0 {
		return f.Steps
	}
	return 100
}

// SetAnchors sets every node's anchor (Len×D, node-major); each edge's parent-end anchor
// is its parent's. The root's anchor is the root state; leaves usually take their
// observations.
func (f *SDEFilter) SetAnchors(t *topology.Topology, anchors []float64) {
	d := len(anchors) / t.Len()
	f.alloc(t, d)
	for v := 0; v < t.Len(); v++ {
		copy(f.anchor[v], anchors[v*d:(v+1)*d])
	}
	for v := 1; v < t.Len(); v++ {
		copy(f.anchorPa[v], f.anchor[t.Parent(v)])
	}
}

func (f *SDEFilter) alloc(t *topology.Topology, d int) {
	if f.t == t && f.d == d && len(f.gh) == t.Len() && len(f.gh[0]) == f.steps()+1 {
		return
	}
	n, dd, m := t.Len(), d*d, f.steps()+1
	f.t, f.d = t, d
	f.h, f.f, f.c = make([][]float64, n), make([][]float64, n), make([]float64, n)
	f.gh, f.gf = make([][][]float64, n), make([][][]float64, n)
	f.anchor, f.anchorPa = make([][]float64, n), make([][]float64, n)
	f.a0, f.aT = make([][]float64, n), make([][]float64, n)
	for v := 0; v < n; v++ {
		f.h[v], f.f[v] = make([]float64, dd), make([]float64, d)
		f.anchor[v], f.anchorPa[v] = make([]float64, d), make([]float64, d)
		f.a0[v], f.aT[v] = make([]float64, dd), make([]float64, dd)
		f.gh[v], f.gf[v] = make([][]float64, m), make([][]float64, m)
		for j := range f.gh[v] {
			f.gh[v][j], f.gf[v][j] = make([]float64, dd), make([]float64, d)
		}
	}
	f.ident, f.zb, f.q = make([]float64, dd), make([]float64, d), make([]float64, dd)
	setIdentity(f.ident, d)
}

// RunRK4 runs the backward filter with a general linear auxiliary per edge,
// dX̃ = (B(t)X̃ + β(t))dt + σ̃(t)dW (aux(v) for the edge above v, on edge time
// [0, T]), whose messages on the grid solve the backward ODEs by fourth-order
// Runge–Kutta (sde.Backward.RK4To), for auxiliaries without a closed-form transition.
// Guide then uses the auxiliary's drift in the log-weight, (b − b̃)'r. The anchors are
// not used.
func (f *SDEFilter) RunRK4(t *topology.Topology, aux func(v int) sde.Auxiliary, obs Obs) error {
	if f.t != t {
		d := len(obs.Y) / max(t.NumLeaves(), 1)
		f.SetAnchors(t, make([]float64, t.Len()*d))
	}
	f.lin = aux
	return f.run(t, nil, obs)
}

// Run runs the backward filter with the anchors set by SetAnchors or Refine.
func (f *SDEFilter) Run(t *topology.Topology, aux SDEAux, obs Obs) error {
	f.lin = nil
	return f.run(t, aux, obs)
}

func (f *SDEFilter) run(t *topology.Topology, aux SDEAux, obs Obs) error {
	nl := t.NumLeaves()
	if len(obs.Y) == 0 || len(obs.Y)%nl != 0 {
		return fmt.Errorf("bffg: %d observed values for %d leaves", len(obs.Y), nl)
	}
	if obs.Cov != nil {
		return errors.New("bffg: SDEFilter supports isotropic leaf noise only")
	}
	d := len(obs.Y) / nl
	if f.t != t || f.d != d {
		return errors.New("bffg: SDEFilter.Run before SetAnchors on this tree")
	}
	f.alloc(t, d)
	f.aux, f.obs, f.ran = aux, obs, false
	n, m := t.Len(), f.steps()
	for v := 0; v < n; v++ {
		clear(f.h[v])
		clear(f.f[v])
		f.c[v] = 0
	}
	for i := 0; i < nl; i++ {
		v := t.Leaf(i)
		tau2 := obs.Var
		if obs.LeafVar != nil {
			tau2 = obs.LeafVar[i]
		}
		if !(tau2 > 0) || math.IsInf(tau2, 0) {
			return &NodeError{Node: v, Name: t.Name(v), What: "noise variance", Err: fmt.Errorf("%w: %v (exact leaves are not supported on SDE edges yet)", ErrObservation, tau2)}
		}
		for a, y := range obs.Y[i*d : (i+1)*d] {
			if math.IsNaN(y) {
				continue
			}
			f.h[v][a*d+a] = 1 / tau2
			f.f[v][a] = y / tau2
			f.c[v] -= 0.5*(log2Pi+math.Log(tau2)) + 0.5*y*y/tau2
		}
	}
	// Children have larger indices than parents, so reverse index order is a post-order.
	for v := n - 1; v >= 1; v-- {
		T := t.BranchLength(v)
		if f.lin != nil {
			f.pullRK4(v, T, m)
			continue
		}
		if err := aux.AuxCovariances(v, f.anchorPa[v], f.anchor[v], f.a0[v], f.aT[v]); err != nil {
			return &NodeError{Node: v, Name: t.Name(v), What: "auxiliary covariance", Err: err}
		}
		in := sde.Interpolated{D: d, T: T, A0: f.a0[v], AT: f.aT[v]}
		var c0 float64
		for j := 0; j <= m; j++ {
			tj := T * float64(j) / float64(m)
			if j == m {
				tj = T // exactly: T·m/m may round, and Q = ∫_T^T ã must be 0, not −ε
			}
			in.IntegralTo(f.q, tj, T)
			c, err := f.bw.PullbackTo(f.gh[v][j], f.gf[v][j], f.h[v], f.f[v], f.c[v], f.ident, f.zb, f.q)
			if err != nil {
				return &NodeError{Node: v, Name: t.Name(v), What: fmt.Sprintf("pullback at grid point %d", j), Err: err}
			}
			if j == 0 {
				c0 = c
			}
		}
		p := t.Parent(v)
		addScaled(f.h[p], 1, f.gh[v][0])
		addScaled(f.f[p], 1, f.gf[v][0])
		f.c[p] += c0
	}
	f.ran = true
	return nil
}

// pullRK4 fills the grid messages of the edge above v by RK4 on its linear auxiliary
// and adds the message at the parent end to the parent's.
func (f *SDEFilter) pullRK4(v int, T float64, m int) {
	d := f.d
	dd := d * d
	f.rkH = growZero(f.rkH, (m+1)*dd)
	f.rkF = growZero(f.rkF, (m+1)*d)
	f.rkC = growZero(f.rkC, m+1)
	f.rk.RK4To(f.rkH, f.rkF, f.rkC, f.lin(v), sde.Uniform(T, m), f.h[v], f.f[v], f.c[v])
	for j := 0; j <= m; j++ {
		copy(f.gh[v][j], f.rkH[j*dd:(j+1)*dd])
		copy(f.gf[v][j], f.rkF[j*d:(j+1)*d])
	}
	p := f.t.Parent(v)
	addScaled(f.h[p], 1, f.gh[v][0])
	addScaled(f.f[p], 1, f.gf[v][0])
	f.c[p] += f.rkC[0]
}

// Refine sets every non-root anchor to H⁻¹F of its vertex message (when H is positive
// definite) and each edge's parent-end anchor to the parent's refined anchor, in
// breadth-first order (hyperiax's Algorithm 3 step). Call Run again to use them.
func (f *SDEFilter) Refine() {
	t, d := f.t, f.d
	L := make([]float64, d*d)
	for v := 1; v < t.Len(); v++ {
		copy(L, f.h[v])
		if cholesky(L, d) {
			copy(f.anchor[v], f.f[v])
			solveLower(L, d, f.anchor[v])
			solveLowerT(L, d, f.anchor[v])
		}
		copy(f.anchorPa[v], f.anchor[t.Parent(v)])
	}
}

// LogLikelihood returns log h_root at the fixed root state x.
func (f *SDEFilter) LogLikelihood(x []float64) float64 {
	if !f.ran {
		panic("bffg: SDEFilter used before a successful Run")
	}
	return f.c[0] + dot(f.f[0], x) - 0.5*quad(f.h[0], f.d, x)
}

// Guide runs the guided pass from the fixed root state root, driven by z (Len·Steps·D,
// node-major then step-major; the root's entries are unused) for the true SDE truth
// (square diffusion). It writes every node's terminal state into x (Len×D) and its
// edge's log-weight into logw, and returns Σ logw. The auxiliary's ã is interpolated
// between the endpoint covariances of the last Run, as in the filter.
func (f *SDEFilter) Guide(truth sde.SDE, root, z, x, logw []float64) (float64, error) {
	if !f.ran {
		panic("bffg: SDEFilter used before a successful Run")
	}
	t, d, m := f.t, f.d, f.steps()
	n := t.Len()
	if len(z) != n*m*d || len(x) != n*d || len(logw) != n {
		panic("bffg: SDEFilter.Guide: wrong buffer sizes")
	}
	dd := d * d
	a, am, sigma := make([]float64, dd), make([]float64, dd), make([]float64, dd)
	r, b, u, sz := make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
	bt, beta, at := make([]float64, dd), make([]float64, d), make([]float64, dd) // RunRK4's B(t), β(t), ã(t)
	bd := make([]float64, d)                                                     // b − b̃
	copy(x[:d], root)
	logw[0] = 0
	total := 0.0
	a0, aT := f.a0, f.aT
	if f.AuxFromAnchors {
		a0, aT = make([][]float64, n), make([][]float64, n)
		for v := 1; v < n; v++ {
			a0[v], aT[v] = make([]float64, dd), make([]float64, dd)
			if err := f.aux.AuxCovariances(v, f.anchorPa[v], f.anchor[v], a0[v], aT[v]); err != nil {
				return 0, &NodeError{Node: v, Name: t.Name(v), What: "auxiliary covariance", Err: err}
			}
		}
	}
	for v := 1; v < n; v++ {
		T := t.BranchLength(v)
		dt := T / float64(m)
		xv := x[v*d : (v+1)*d]
		copy(xv, x[t.Parent(v)*d:(t.Parent(v)+1)*d])
		lw := 0.0
		for j := 0; j < m; j++ {
			tj := T * float64(j) / float64(m)
			H, F := f.gh[v][j], f.gf[v][j]
			mulVec(r, H, d, d, xv)
			for i := range r {
				r[i] = F[i] - r[i]
			}
			truth.Drift(tj, xv, b)
			if err := truth.Diffusion(tj, xv, sigma); err != nil {
				return 0, &NodeError{Node: v, Name: t.Name(v), What: fmt.Sprintf("diffusion at step %d", j), Err: err}
			}
			mulBT(a, sigma, sigma, d, d, d) // a = σσ'
			copy(bd, b)
			if f.lin != nil {
				// b − b̃ with b̃ = B(t)x + β(t), and ã(t) of the linear auxiliary.
				f.lin(v).CoefficientsTo(bt, beta, at, tj)
				mulVec(u, bt, d, d, xv)
				for i := range bd {
					bd[i] -= u[i] + beta[i]
				}
			} else {
				w := 0.0
				if T > 0 {
					w = tj / T
				}
				for i := range at {
					at[i] = w*aT[v][i] + (1-w)*a0[v][i]
				}
			}
			tr := 0.0
			for i := range am {
				am[i] = a[i] - at[i] // a − ã
				tr += am[i] * H[i]   // tr((a − ã)H), both symmetric
			}
			mulVec(u, am, d, d, r)
			lw += (dot(bd, r) - 0.5*tr + 0.5*dot(r, u)) * dt
			mulVec(u, a, d, d, r)
			mulVec(sz, sigma, d, d, z[(v*m+j)*d:(v*m+j+1)*d])
			sq := math.Sqrt(dt)
			for i := range xv {
				xv[i] += (b[i]+u[i])*dt + sq*sz[i]
			}
		}
		logw[v] = lw
		total += lw
	}
	return total, nil
}
