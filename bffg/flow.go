package bffg

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/canopy-bffg/canopy/internal/dense"
	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
)

// Flow is a landmark SDE whose diffusion factorises over coordinates: the state is n
// landmarks in R^d, stored as an n×d row-major matrix (interleaved coordinates x₀,
// y₀, x₁, y₁, …), and
//
//	dX = b(X)dt + σ(X)dW,   a(X) = σσ' = K(X) ⊗ I_d,   σ(X) = chol(K(X)) ⊗ I_d,
//
// with K(X) an n×n symmetric positive definite matrix that depends on parameters θ,
// and b = 0 unless the Flow is also a Drifter. The Kunita-flow model of hyperiax
// notebook 07 is one (KunitaFlow, no drift). A general SDE with a D×D diffusion
// covariance is a Flow with n = D and d = 1.
type Flow interface {
	// Landmarks returns n and d.
	Landmarks() (n, d int)
	// NumParams returns the length of θ.
	NumParams() int
	// KernelTo writes K(x) (n×n) into dst.
	KernelTo(dst, x []float64) error
	// KernelVJPTo writes x̄ = (∂K/∂x)'K̄ into xbar (overwritten) and adds (∂K/∂θ)'K̄
	// to pbar (len NumParams). K̄ need not be symmetric: δJ = Σ_ij K̄_ij δK_ij.
	KernelVJPTo(xbar, pbar, x, Kbar []float64)
}

// Drifter is implemented by a Flow with a drift b(X), an n×d matrix like the state.
// An explicit or semi-implicit guided step gains b(x)dt and its log-weight b'r·dt,
// the b'r of the (b − b̃)'r term of bffg-math §3, and an exact step's Euler
// transition has mean x + b(x)dt. Without an AuxDrifter FlowFilter's auxiliary
// process has no drift (b̃ = 0), and a strong drift makes the proposal poorer (the
// weights vary more), not wrong. Discrete edges (FlowFilter.Discrete) have no drift.
type Drifter interface {
	// DriftTo writes b(x) (n×d) into dst.
	DriftTo(dst, x []float64) error
	// DriftVJPTo writes x̄ = (∂b/∂x)'b̄ into xbar (overwritten) and adds (∂b/∂θ)'b̄
	// to pbar (len NumParams).
	DriftVJPTo(xbar, pbar, x, bbar []float64)
}

// KunitaFlow returns the Kunita-flow landmark model k as a Flow with θ = (k_α, k_σ)
// and K = K_ε, the Matérn-9/2 kernel matrix with its jitter.
func KunitaFlow(k sde.Kunita) Flow { return kunitaFlow{k} }

type kunitaFlow struct{ k sde.Kunita }

func (f kunitaFlow) Landmarks() (n, d int) { return f.k.N, f.k.Dim }
func (f kunitaFlow) NumParams() int        { return 2 }
func (f kunitaFlow) KernelTo(dst, x []float64) error {
	f.k.JitteredKernelTo(dst, x)
	return nil
}
func (f kunitaFlow) KernelVJPTo(xbar, pbar, x, Kbar []float64) {
	a, s := f.k.JitteredKernelVJPTo(xbar, x, Kbar)
	pbar[0] += a
	pbar[1] += s
}

// FlowFilter is BFFG on a tree whose every edge carries the same Flow SDE, with
// messages in factorised form H = H_n ⊗ I_d, so that a step costs O(n³ + n²d) rather
// than O(n³d³) (bffg-math §3, hyperiax-reference §2.3). Leaves observe all landmarks
// with isotropic noise variance τ²; the root state is fixed.
//
// The auxiliary process of the edge above v is hyperiax's two-anchor one: no drift
// (or the linear one of an AuxDrifter) and ã(t) = (t/T)K(anchor_v) +
// (1 − t/T)K(anchor_parent), so its transitions are exact and the filter needs no
// ODE solver. The anchors are inputs (SetAnchors, or
// Refine, hyperiax's Algorithm 3 step): they must not depend on the noise z for the
// guided pass to be exact BFFG.
//
// Every message is kept in square-root form h(x) = exp(κ − ½|U − L'x|²) (the vertex
// messages, L = chol(H)) or exp(κ_j − ½|V_j − G_j'x|²) (the grid points of an edge,
// recomputed as the guided pass reaches them, so the filter stores O(nodes·n²), not
// O(nodes·steps·n²)). Backward differentiates log h_root + Σ log w with respect to z, θ
// and τ² by a hand-written reverse pass; Guide keeps each step's quantities for it when
// they fit in 128 MB, and Backward recomputes them otherwise.
type FlowFilter struct {
	Steps int // Euler–Maruyama steps per edge; 0 means 100
	// TimeChange puts the steps on the grid t = s(2 − s/T) of van der Meulen & Schauer
	// (sde.TimeChanged) instead of a uniform one: steps shrink linearly towards the
	// child, where the guiding term is strongest, which keeps the explicit step stable
	// (ErrUnstable) with fewer steps.
	TimeChange bool
	// SemiImplicit takes the guiding term implicitly in the state,
	// (I + dt·KH_j)x_{j+1} = x_j + dt·(KF_j + b(x_j)) + σ√dt z (a drift b, if any, stays
	// explicit), which is stable for any step, where
	// the explicit step (the default, hyperiax's) overshoots once dt·λmax(KH) > 2. The
	// log-weight is the same left-point sum, and it is still inaccurate where
	// dt·λmax(KH) is large: a sampler on a coarse grid can then find spurious mass (at a
	// large k_α for the Kunita flow). The explicit step reports those points as
	// ErrUnstable instead, which keeps samplers out of them; ExactSteps has no such
	// region.
	SemiImplicit bool
	// ExactSteps makes each step of an SDE edge the Gaussian transition
	// N(x_j, dt_j·K(x_j) ⊗ I_d) — the Euler–Maruyama discretisation taken as the model —
	// and guides it exactly, as a discrete edge: x_{j+1} is drawn from the transition
	// tilted by the next grid point's message h̃_{j+1}, and the step's log-weight is
	// log ∫N(y; x_j, dt_j·K(x_j))h̃_{j+1}(y)dy − log h̃_j(x_j). The weights are then exact
	// for that model at any step size, so the target (the posterior of the discretised
	// flow) has no region where the weights go wrong, and the draw is stable for any dt.
	// It converges to the SDE's posterior as the steps shrink, like the explicit step,
	// and costs one more n×n Cholesky factor and product per step. With exact leaf
	// observations (τ² = 0) the last step into a leaf is the transition conditioned on
	// the observed landmarks, whose weight is log N(y_O; m_O, dt·K_OO(x) ⊗ I_d) −
	// log h̃(x) with m the transition's mean (conditionStep; c₂ for dt under
	// ExponentialSteps). A small τ² > 0 is refused where it is far below the
	// last step's diffusion, τ² < 1e−9·dt·max K_kk: the tilted step's weight is a
	// difference of two terms of order 1/τ² there (the same holds for discrete edges
	// to leaves). With a Drifter the transitions are N(x_j + dt_j·b(x_j), dt_j·K(x_j)
	// ⊗ I_d) (see ExponentialSteps for an AuxDrifter). It excludes SemiImplicit.
	ExactSteps bool
	// LocalAux, with ExactSteps, guides each step j of an SDE edge with the message of
	// an auxiliary process linearised at the step's state: its diffusion is frozen at
	// K(x_j) for the rest of the edge (with an AuxDrifter's drift, if any), instead of
	// interpolated between the anchors. The message of grid point j+1 then depends on
	// x_j, and step j+1 subtracts the same message at x_{j+1}, so the weights still
	// telescope to exact BFFG; only grid point 0, which the parent's message fuses,
	// keeps the anchors. Near an observed tip, where K(x_j) is close to the true
	// diffusion and the anchors' interpolation is not, the log-weights vary far less
	// (on notebook 07's data the spread of Σ log w over draws of z falls about
	// eightfold, and NUTS on the noise takes steps five times longer). Each step
	// costs one more kernel evaluation and n×n product, and its gradient about a
	// quarter more.
	LocalAux bool
	// ExponentialSteps, with ExactSteps and a flow that is an AuxDrifter, takes the
	// auxiliary's drift −λ(x − μ) as the linear part of the flow's drift b and
	// integrates it exactly within each step (exponential Euler): the transition of
	// step j is N(x_j + c₁b(x_j), c₂K(x_j) ⊗ I_d) with c₁ = (1 − e^{−λdt})/λ and
	// c₂ = (1 − e^{−2λdt})/(2λ) in place of dt. The discretised model then depends on
	// AuxDrift, so use it where λ and μ are the drift's own, as MeanReverting's are.
	// For an Ornstein–Uhlenbeck flow whose diffusion does not depend on x the
	// transitions are then exact at any step size, where the Euler mean
	// μ + (1 − λdt)(x − μ) overshoots μ once λdt > 1. As dt → 0 both agree to first
	// order. Run refuses it for a flow that is not an AuxDrifter.
	ExponentialSteps bool
	// StepLength, if positive, gives each SDE edge of length T ⌈T/StepLength⌉ steps
	// (at least one) instead of Steps, and each discrete edge one, so that short edges
	// cost little and long ones keep their accuracy. The edges' noise blocks then differ
	// in size and the root has none (NumNoise, NoiseBlock). Set it, with Steps and
	// Discrete, before SetData.
	StepLength float64
	// Workers bounds the goroutines that share a level of a sweep; 0 means GOMAXPROCS.
	// It does not change any result.
	Workers int
	// Discrete, if not nil (length Len), marks edges that are one Gaussian transition
	// X_v | X_pa ~ N(X_pa, T·K(X_pa) ⊗ I_d) instead of an SDE: trees may mix both. A
	// discrete edge's auxiliary is N(X_pa, T·K(anchor_pa) ⊗ I_d); its guided step draws
	// X_v exactly from the true transition tilted by h_v, with the exact weight
	// log w = log ∫N(x; X_pa, T·K(X_pa))h_v(x)dx − log h̃(X_pa). It uses the first n·d
	// entries of its block of z. Into an exactly observed leaf (τ² = 0) the draw is the
	// transition conditioned on the observed landmarks, as the last exact step's is
	// (conditionStep); missing landmarks drop out of the leaf's message. A discrete
	// edge has no drift, whether or not the flow is a Drifter.
	Discrete []bool

	t    *topology.Topology
	n, d int
	root []float64   // fixed root state, n×d
	y    []float64   // leaf observations, NumLeaves×n×d
	seen [][]int     // per leaf, the observed landmarks
	anc  [][]float64 // anchors per node, n×d

	flow  Flow
	drift Drifter    // flow's drift, or nil
	aux   AuxDrifter // flow's auxiliary drift −λ(x − μ), or nil
	lam   float64    // λ of aux (0 without one)
	mu    []float64  // μ of aux, n×d
	tau2  float64
	ran   bool

	lv, uv [][]float64 // vertex messages: L (n×n lower), U (n×d)
	kappa  []float64
	hAcc   [][]float64 // fusion accumulators, reused as H̄ in Backward
	fAcc   [][]float64
	kAcc   []float64
	a0, aT [][]float64 // ã at the parent and child ends of each edge, n×n
	g0, v0 [][]float64 // each edge's pulled message at its parent end (G₀, V₀) …
	kq     []float64   // … and κ₀ − ½|V₀|²
	errs   []error     // per node, for sweeps
	logH   float64

	path   [][]float64 // per node, (Steps+1)×n×d guided states
	logw   []float64
	guided bool
	mode   stepMode // the kind of guided step at the last Run
	// cache keeps every step's forward quantities from Guide for Backward when they
	// fit in flowCacheBytes; otherwise Backward recomputes them.
	cache []float64

	lb, ub [][]float64 // adjoints of L and U per node
	kb     []float64
	xb0    [][]float64 // adjoint of the state at the start of each edge
	pb     [][]float64 // each edge's contribution to ∂/∂θ, summed in node order
	tb     []float64   // each leaf edge's contribution to ∂/∂τ²

	ws []flowWork // one per worker

	ns []int // steps per node (the root's block is unused)
	zo []int // start of each node's noise block, in units of n×d; zo[Len] ends the last
}

func (f *FlowFilter) steps() int {
	if f.Steps > 0 {
		return f.Steps
	}
	return 100
}

// SetData prepares f for the tree t with n landmarks in R^d: the fixed root state
// (n×d) and the leaf observations y (NumLeaves×n×d, leaf order of t). Every anchor is
// set to the root state and every leaf's to its observation. It returns an error
// naming the leaf of a non-finite observation.
func (f *FlowFilter) SetData(t *topology.Topology, n, d int, root, y []float64) error {
	nd := n * d
	if n < 1 || d < 1 {
		return fmt.Errorf("bffg: FlowFilter: %d landmarks in dimension %d", n, d)
	}
	if t.Len() < 2 {
		return errors.New("bffg: FlowFilter: the tree has no edges")
	}
	if len(root) != nd {
		return fmt.Errorf("bffg: FlowFilter: root state has %d values, want %d", len(root), nd)
	}
	nl := t.NumLeaves()
	if len(y) != nl*nd {
		return fmt.Errorf("bffg: FlowFilter: %d observed values for %d leaves of %d×%d", len(y), nl, n, d)
	}
	f.seen = make([][]int, nl)
	for i := 0; i < nl; i++ {
		for l := 0; l < n; l++ {
			ok := true
			for c, v := range y[i*nd+l*d : i*nd+(l+1)*d] {
				if math.IsInf(v, 0) {
					leaf := t.Leaf(i)
					return &NodeError{Node: leaf, Name: t.Name(leaf), What: fmt.Sprintf("landmark %d coordinate %d", l, c), Err: fmt.Errorf("%w: %v", ErrObservation, v)}
				}
				ok = ok && !math.IsNaN(v)
			}
			if ok { // a landmark with a missing coordinate is missing
				f.seen[i] = append(f.seen[i], l)
			}
		}
	}
	f.t, f.n, f.d = t, n, d
	f.root = append(f.root[:0], root...)
	f.y = append(f.y[:0], y...)
	N, nn := t.Len(), n*n
	if err := f.layout(t); err != nil {
		return err
	}
	alloc := func(k, size int) [][]float64 {
		s := make([][]float64, k)
		for i := range s {
			s[i] = make([]float64, size)
		}
		return s
	}
	f.anc = alloc(N, nd)
	f.lv, f.uv, f.kappa = alloc(N, nn), alloc(N, nd), make([]float64, N)
	f.hAcc, f.fAcc, f.kAcc = alloc(N, nn), alloc(N, nd), make([]float64, N)
	f.a0, f.aT = alloc(N, nn), alloc(N, nn)
	f.path, f.logw = make([][]float64, N), make([]float64, N)
	for v := range f.path {
		f.path[v] = make([]float64, (f.ns[v]+1)*nd)
	}
	f.lb, f.ub, f.kb, f.xb0 = alloc(N, nn), alloc(N, nd), make([]float64, N), alloc(N, nd)
	f.g0, f.v0, f.kq, f.errs = alloc(N, nn), alloc(N, nd), make([]float64, N), make([]error, N)
	f.tb = make([]float64, N)
	f.ws = make([]flowWork, 1)
	f.ws[0].init(n, d)
	f.cache = nil // Guide sizes it
	for v := 0; v < N; v++ {
		copy(f.anc[v], root)
		if i := t.LeafIndex(v); i >= 0 {
			for _, l := range f.seen[i] { // missing landmarks keep the root's
				copy(f.anc[v][l*d:(l+1)*d], y[i*nd+l*d:i*nd+(l+1)*d])
			}
		}
	}
	f.ran, f.guided = false, false
	return nil
}

// SetAnchors sets every node's anchor (Len×n×d, node-major). The root's anchor is
// ignored: the root state is fixed.
func (f *FlowFilter) SetAnchors(anchors []float64) {
	nd := f.n * f.d
	if len(anchors) != f.t.Len()*nd {
		panic("bffg: FlowFilter.SetAnchors: wrong length")
	}
	for v := 1; v < f.t.Len(); v++ {
		copy(f.anc[v], anchors[v*nd:(v+1)*nd])
	}
	f.ran = false
}

// Anchors returns a copy of every node's anchor (Len×n×d).
func (f *FlowFilter) Anchors() []float64 {
	nd := f.n * f.d
	out := make([]float64, f.t.Len()*nd)
	copy(out, f.root)
	for v := 1; v < f.t.Len(); v++ {
		copy(out[v*nd:], f.anc[v])
	}
	return out
}

// layout sets the steps of every edge and the noise blocks (see StepLength).
func (f *FlowFilter) layout(t *topology.Topology) error {
	N := t.Len()
	if f.StepLength < 0 || math.IsNaN(f.StepLength) || math.IsInf(f.StepLength, 0) {
		return fmt.Errorf("bffg: FlowFilter.StepLength %v: want a positive finite length or 0", f.StepLength)
	}
	if f.Discrete != nil && len(f.Discrete) != N {
		return fmt.Errorf("bffg: FlowFilter.Discrete has %d entries for %d nodes", len(f.Discrete), N)
	}
	f.ns, f.zo = make([]int, N), make([]int, N+1)
	for v := 0; v < N; v++ {
		switch {
		case f.StepLength == 0:
			f.ns[v] = f.steps()
		case v == 0:
			f.ns[v] = 0
		case f.Discrete != nil && f.Discrete[v]:
			f.ns[v] = 1
		default:
			s := math.Ceil(t.BranchLength(v) / f.StepLength)
			if s > 1e7 {
				return fmt.Errorf("bffg: FlowFilter: StepLength %g gives %g steps on the edge above node %d", f.StepLength, s, v)
			}
			f.ns[v] = max(1, int(s))
		}
		f.zo[v+1] = f.zo[v] + f.ns[v]
	}
	return nil
}

// NoiseBlock returns the part of z (length NumNoise) that drives the edge above v:
// its steps' n×d increments, one after the other (a discrete edge uses the first).
func (f *FlowFilter) NoiseBlock(z []float64, v int) []float64 {
	nd := f.n * f.d
	return z[f.zo[v]*nd : f.zo[v+1]*nd]
}

// gridPoint returns the time t_j of grid point j on an edge of length T with m steps
// and the step t_{j+1} − t_j that starts there.
func (f *FlowFilter) gridPoint(T float64, m, j int) (t, dt float64) {
	if f.TimeChange {
		u := float64(m-j) / float64(m)
		return T - T*u*u, T * float64(2*(m-j)-1) / float64(m*m)
	}
	return T * float64(j) / float64(m), T / float64(m)
}

// edgeWeights returns, for time tj on an edge of length T, the interpolation weight
// w = t_j/T of ã(t_j) = w·ã_T + (1 − w)·ã_0 and the weights of
// Q_j = ∫_{t_j}^T ã = q0·ã_0 + qT·ã_T.
func edgeWeights(T, tj float64) (w, q0, qT float64) {
	if T <= 0 {
		return 0, 0, 0
	}
	h := T - tj
	return tj / T, h * h / (2 * T), h * (T + tj) / (2 * T)
}

// Run computes ã at both ends of every edge from the anchors and runs the backward
// filter with flow's current parameters and leaf noise variance tau2.
func (f *FlowFilter) Run(flow Flow, tau2 float64) error {
	if f.t == nil {
		panic("bffg: FlowFilter.Run before SetData")
	}
	if n, d := flow.Landmarks(); n != f.n || d != f.d {
		return fmt.Errorf("bffg: FlowFilter: flow has %d×%d landmarks, data %d×%d", n, d, f.n, f.d)
	}
	if !(tau2 >= 0) || math.IsInf(tau2, 0) {
		return fmt.Errorf("%w: leaf noise variance %v (must be finite and not negative)", ErrObservation, tau2)
	}
	if f.ExactSteps && f.SemiImplicit {
		return errors.New("bffg: FlowFilter: ExactSteps and SemiImplicit exclude each other")
	}
	if f.LocalAux && !f.ExactSteps {
		return errors.New("bffg: FlowFilter: LocalAux needs ExactSteps")
	}
	if f.ExponentialSteps && !f.ExactSteps {
		return errors.New("bffg: FlowFilter: ExponentialSteps needs ExactSteps")
	}
	if f.Discrete != nil && len(f.Discrete) != f.t.Len() {
		return fmt.Errorf("bffg: FlowFilter.Discrete has %d entries for %d nodes", len(f.Discrete), f.t.Len())
	}
	f.flow, f.tau2, f.ran, f.guided = flow, tau2, false, false
	f.drift, _ = flow.(Drifter)
	if err := f.setAuxDrift(flow); err != nil {
		return err
	}
	if f.ExponentialSteps && f.aux == nil {
		return errors.New("bffg: FlowFilter: ExponentialSteps needs a flow with an auxiliary drift (an AuxDrifter, such as MeanReverting)")
	}
	f.mode = f.stepMode()
	t, n, d := f.t, f.n, f.d
	nd := n * d
	tau := math.Sqrt(tau2)
	err := f.sweep(true, func(w *flowWork, v int) error {
		if f.obsLeaf(v) >= 0 {
			// Pulled in observation space (pull); no vertex message is needed.
		} else if i := t.LeafIndex(v); i >= 0 {
			// A discrete edge to a noisy leaf (τ² > 0): h(x) = N(y_O; x_O, τ²I) = exp(κ − ½|U − L'x|²) over the observed
			// landmarks O: L = P'/τ (a square-root factor of H with zero rows for the
			// missing landmarks, never inverted) and U = P'y_O/τ.
			clear(f.lv[v])
			clear(f.uv[v])
			for _, k := range f.seen[i] {
				f.lv[v][k*n+k] = 1 / tau
				for c := k * d; c < (k+1)*d; c++ {
					f.uv[v][c] = f.y[i*nd+c] / tau
				}
			}
			f.kappa[v] = -0.5 * float64(len(f.seen[i])*d) * math.Log(2*math.Pi*tau2)
		} else if err := f.fuse(v, w); err != nil {
			return err
		}
		if v == 0 {
			return nil
		}
		if err := f.edgeEnds(v); err != nil {
			return err
		}
		if err := f.checkLeafNoise(v); err != nil {
			return err
		}
		if err := f.prepareEdge(v, w); err != nil {
			return err
		}
		kj, err := f.pull(v, 0, w)
		if err != nil {
			return err
		}
		// Kept for the parent's fusion: G₀, V₀ and κ₀ − ½|V₀|².
		copy(f.g0[v], w.g)
		copy(f.v0[v], w.v)
		f.kq[v] = kj - 0.5*dot(w.v, w.v)
		return nil
	})
	if err != nil {
		return err
	}
	r := f.ws[0].xs
	copy(r, f.uv[0])
	dense.Gemm(true, false, -1, f.lv[0], n, n, f.root, n, d, 1, r) // U − L'x
	f.logH = f.kappa[0] - 0.5*dot(r, r)
	f.ran = true
	return nil
}

// checkLeafNoise refuses a leaf noise variance so small next to the diffusion of a
// tilted step into leaf v (a discrete edge, or the last exact step) that the step's
// log-weight, a difference of two terms of order 1/τ², would lose its accuracy.
func (f *FlowFilter) checkLeafNoise(v int) error {
	T := f.t.BranchLength(v)
	if !f.t.IsLeaf(v) || T == 0 || !(f.discrete(v) || f.ExactSteps) || f.conditioned(v) {
		return nil
	}
	n, m := f.n, f.ns[v]
	c, a := T, f.a0[v]
	if !f.discrete(v) {
		_, dt := f.gridPoint(T, m, m-1)
		c, a = f.stepTimes(v, dt).diff, f.aT[v]
	}
	kmax := 0.0
	for k := 0; k < n; k++ {
		kmax = math.Max(kmax, a[k*n+k])
	}
	if f.tau2 < 1e-9*c*kmax {
		return &NodeError{Node: v, Name: f.t.Name(v), What: "leaf noise", Err: fmt.Errorf(
			"%w: τ² = %g is below 1e−9 of the last step's diffusion %g, where the exact step's weight loses its accuracy; use τ² = 0 (exact observations) or explicit steps", ErrObservation, f.tau2, c*kmax)}
	}
	return nil
}

// stepMode is the settings that choose the guided step.
type stepMode struct{ exact, semi, local, exp bool }

func (f *FlowFilter) stepMode() stepMode {
	return stepMode{f.ExactSteps, f.SemiImplicit, f.LocalAux, f.ExponentialSteps}
}

// checkMode reports whether the kind of guided step changed since the last Run: the
// messages, the checks of Run and the step cache all depend on it.
func (f *FlowFilter) checkMode(since string) error {
	if f.mode != f.stepMode() {
		return fmt.Errorf("bffg: FlowFilter: ExactSteps, SemiImplicit, LocalAux or ExponentialSteps changed since %s", since)
	}
	return nil
}

// workers returns the number of goroutines a sweep may use.
func (f *FlowFilter) workers() int {
	if f.Workers > 0 {
		return f.Workers
	}
	return runtime.GOMAXPROCS(0)
}

// sweep runs fn on every node, level by level (from the deepest when up, else from the
// root), splitting each level into contiguous chunks between up to workers()
// goroutines, each with its own work space. It stops after a level where fn failed and
// returns the error of the lowest such node, so neither the draws nor the error depend
// on the number of workers.
func (f *FlowFilter) sweep(up bool, fn func(w *flowWork, v int) error) error {
	t := f.t
	nw := f.workers()
	for len(f.ws) < nw {
		var w flowWork
		w.init(f.n, f.d)
		f.ws = append(f.ws, w)
	}
	L := t.NumLevels()
	for k := 0; k < L; k++ {
		l := k
		if up {
			l = L - 1 - k
		}
		lo, hi := t.Level(l)
		m := min(nw, hi-lo)
		if m <= 1 {
			for v := lo; v < hi; v++ {
				if err := fn(&f.ws[0], v); err != nil {
					return err
				}
			}
			continue
		}
		var wg sync.WaitGroup
		for c := 0; c < m; c++ {
			a, b := lo+c*(hi-lo)/m, lo+(c+1)*(hi-lo)/m
			wg.Add(1)
			go func(w *flowWork) {
				defer wg.Done()
				for v := a; v < b; v++ {
					f.errs[v] = fn(w, v)
				}
			}(&f.ws[c])
		}
		wg.Wait()
		for v := lo; v < hi; v++ {
			if f.errs[v] != nil {
				return f.errs[v]
			}
		}
	}
	return nil
}

// fuse turns the accumulated H, F, κ of internal node v into its square-root message.
// A landmark that no leaf below v observes has an exactly zero row and column in H (and
// row in F): every pulled G has a zero row there. Those landmarks are left out of the
// factorisation, and L and U get zero rows for them, as a leaf's message does.
func (f *FlowFilter) fuse(v int, w *flowWork) error {
	n, d := f.n, f.d
	// H = ΣGG', F = ΣGV, κ = Σ(κ₀ − ½|V₀|²) + ½|U|² over the children's j = 0 messages.
	clear(f.hAcc[v])
	clear(f.fAcc[v])
	f.kAcc[v] = 0
	lo, hi := f.t.Children(v)
	for c := lo; c < hi; c++ {
		dense.Gemm(false, true, 1, f.g0[c], n, n, f.g0[c], n, n, 1, f.hAcc[v])
		dense.Gemm(false, false, 1, f.g0[c], n, n, f.v0[c], n, d, 1, f.fAcc[v])
		f.kAcc[v] += f.kq[c]
	}
	fail := func(err error) error {
		return &NodeError{Node: v, Name: f.t.Name(v), What: "message precision", Err: err}
	}
	w.act = activeSet(w.act, f.hAcc[v], n)
	A, m := w.act, len(w.act)
	if err := checkInactive(f.hAcc[v], f.fAcc[v], n, d, A); err != nil {
		return fail(err)
	}
	L, U := w.c[:m*m], w.v[:m*d]
	gather(L, f.hAcc[v], n, A, A)
	gather(U, f.fAcc[v], d, A, nil)
	if err := sde.CholeskyTo(L, L, m); err != nil {
		return fail(err)
	}
	dense.Trsm(false, L, m, U, d) // U = L⁻¹F
	clear(f.lv[v])
	clear(f.uv[v])
	scatter(f.lv[v], L, n, A, A)
	scatter(f.uv[v], U, d, A, nil)
	f.kappa[v] = f.kAcc[v] + 0.5*dot(f.uv[v], f.uv[v])
	return nil
}

// edgeEnds writes ã at the two ends of the edge above v.
func (f *FlowFilter) edgeEnds(v int) error {
	p := f.t.Parent(v)
	pa := f.anc[p]
	if p == 0 {
		pa = f.root
	}
	if err := f.flow.KernelTo(f.a0[v], pa); err != nil {
		return &NodeError{Node: v, Name: f.t.Name(v), What: "auxiliary covariance at the parent anchor", Err: err}
	}
	if err := f.flow.KernelTo(f.aT[v], f.anc[v]); err != nil {
		return &NodeError{Node: v, Name: f.t.Name(v), What: "auxiliary covariance at the anchor", Err: err}
	}
	return nil
}

// prepareEdge makes the pulls of the edge above v use the anchors' ã₀ and ã_T
// (w.ea0, w.eaT), and writes P0 = L'ã₀L and PT = L'ã_TL into the work space.
func (f *FlowFilter) prepareEdge(v int, w *flowWork) error {
	w.ea0, w.eaT, w.kfAt = f.a0[v], f.aT[v], nil
	if f.obsLeaf(v) >= 0 {
		return nil // pull uses ã₀ and ã_T directly
	}
	f.sandwich(w.p0, f.a0[v], v)
	f.sandwich(w.pT, f.aT[v], v)
	return nil
}

// sandwich writes P = L'aL (symmetrised) into dst, L the factor of v's vertex message;
// sandwichVJP is its reverse.
func (f *FlowFilter) sandwich(dst, a []float64, v int) {
	n, L := f.n, f.lv[v]
	dense.Gemm(false, false, 1, a, n, n, L, n, n, 0, dst)
	dense.Trmm(true, L, n, dst, n)
	symmetrize(dst, n)
}

// sandwichVJP adds the adjoints of P = L'aL given P̄ (pb): L̄_v += 2aLP̄ and
// ā += LP̄L' (into ab). It uses w.t1.
func (f *FlowFilter) sandwichVJP(a, pb, ab []float64, v int, w *flowWork) {
	n, L := f.n, f.lv[v]
	dense.Gemm(false, false, 1, L, n, n, pb, n, n, 0, w.t1)
	dense.Gemm(false, false, 2, a, n, n, w.t1, n, n, 1, f.lb[v])
	dense.Gemm(false, true, 1, w.t1, n, n, L, n, n, 1, ab)
}

// pull writes the message at grid point j of the edge above v into the work space
// (C = chol(I + q0·P0 + qT·PT), G = LC⁻ᵀ, V = C⁻¹U, then shifted by an auxiliary
// drift) and returns κ_j = κ − dΣlog C_kk.
func (f *FlowFilter) pull(v, j int, w *flowWork) (float64, error) {
	a := f.pullWeights(v, j)
	var kappa float64
	var err error
	if i := f.obsLeaf(v); i >= 0 {
		kappa, err = f.pullLeaf(v, i, a.q0, a.qT, w)
	} else {
		kappa, err = f.pullVertex(v, j, a.q0, a.qT, w)
	}
	if err == nil && f.shifted(v) {
		f.shift(a, w)
	}
	return kappa, err
}

// pullVertex is pull for an edge whose child has a vertex message, before shift.
func (f *FlowFilter) pullVertex(v, j int, q0, qT float64, w *flowWork) (float64, error) {
	n, d := f.n, f.d
	for i := range w.c {
		w.c[i] = q0*w.p0[i] + qT*w.pT[i]
	}
	for k := 0; k < n; k++ {
		w.c[k*n+k]++
	}
	if err := sde.CholeskyTo(w.c, w.c, n); err != nil {
		return 0, &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("pullback at grid point %d", j), Err: err}
	}
	copy(w.g, f.lv[v])
	dense.TrsmRight(true, w.c, n, w.g, n) // G = L C⁻ᵀ
	copy(w.v, f.uv[v])
	dense.Trsm(false, w.c, n, w.v, d) // V = C⁻¹U
	return f.kappa[v] - float64(d)*logDiag(w.c, n), nil
}

func (f *FlowFilter) discrete(v int) bool { return f.Discrete != nil && f.Discrete[v] }

// obsLeaf returns v's leaf index when the edge above v is an SDE edge to a leaf, or a
// discrete edge to an exactly observed leaf (τ² = 0), whose messages are pulled in
// observation space (pullLeaf), else −1.
func (f *FlowFilter) obsLeaf(v int) int {
	if f.discrete(v) && f.tau2 > 0 {
		return -1
	}
	return f.t.LeafIndex(v)
}

// pullLeaf writes the message at grid point j of the SDE edge to leaf v (leaf index i)
// in observation space: with O the observed landmarks (P selects them) and
// Σ = Q_j[O, O] + τ²I = CC',
//
//	h_j(x) = N(y_O; Px, Σ ⊗ I_d) = exp(κ_j − ½|V − G'x|²),  G = P'C⁻ᵀ, V = C⁻¹y_O,
//
// κ_j = −½|O|d·log 2π − dΣlog C_kk, padded to n×n and n×d with zeros. It needs no
// inverse of τ², so exact observations (τ² = 0) and tiny noise are handled alike, and
// missing landmarks simply drop out. C (|O|×|O|, compact) is left in w.c.
func (f *FlowFilter) pullLeaf(v, i int, q0, qT float64, w *flowWork) (float64, error) {
	n, d := f.n, f.d
	O := f.seen[i]
	no := len(O)
	c, ct := w.c[:no*no], w.t1[:no*no]
	for a, ka := range O {
		for b, kb := range O {
			c[a*no+b] = q0*w.ea0[ka*n+kb] + qT*w.eaT[ka*n+kb]
		}
		c[a*no+a] += f.tau2
	}
	if err := sde.CholeskyTo(c, c, no); err != nil {
		// With the anchors' auxiliary only a zero-length edge into an exact leaf gets
		// here; with LocalAux also a near-singular K at a guided state.
		hint := "an exactly observed leaf needs a positive branch length"
		if w.kfAt != nil {
			hint = "the diffusion K at the guided state is near singular"
		}
		return 0, &NodeError{Node: v, Name: f.t.Name(v), What: "pullback of the observation",
			Err: fmt.Errorf("%w (%s)", err, hint)}
	}
	setIdentity(ct, no)
	dense.TrsmRight(true, c, no, ct, no) // C⁻ᵀ
	clear(w.g)
	clear(w.v)
	for a, ka := range O {
		copy(w.g[ka*n:ka*n+no], ct[a*no:(a+1)*no])
		copy(w.v[a*d:(a+1)*d], f.y[i*n*d+ka*d:i*n*d+(ka+1)*d])
	}
	dense.Trsm(false, c, no, w.v[:no*d], d)
	return -0.5*float64(no*d)*log2Pi - float64(d)*logDiag(c, no), nil
}

// pullWeights returns the transition of the auxiliary from grid point j of the edge
// above v to its end: the weights of Q_j = q0·ã₀ + qT·ã_T (a discrete edge has
// Q = T·ã₀) and, with an auxiliary drift, the rest of auxWeights.
func (f *FlowFilter) pullWeights(v, j int) auxTransition {
	T := f.t.BranchLength(v)
	if f.discrete(v) {
		return auxTransition{q0: T, phi: 1}
	}
	tj, _ := f.gridPoint(T, f.ns[v], j)
	if f.shifted(v) {
		return auxWeights(T, tj, f.lam)
	}
	_, q0, qT := edgeWeights(T, tj)
	return auxTransition{q0: q0, qT: qT, phi: 1}
}

// discreteStep draws the state xv at the end of the discrete edge above v from its
// parent's state x and the noise z (n×d), and returns the edge's log-weight. With
// Q = T·K(x), R = chol(Q), M = R'L, B = chol(I + MM'), e = U − L'x and g = B⁻¹Me:
//
//	x_v = x + RB⁻ᵀ(g + z),
//	log ∫N(y; x, Q)h_v(y)dy = κ − dΣlog B_kk − ½|e|² + ½|g|²,
//
// (the push-through identity (I + M'M)⁻¹ = I − M'(I + MM')⁻¹M), from which the
// auxiliary's pulled message log h̃ = κ₀ − ½|V₀ − G₀'x|, kept by Run, is subtracted. It
// leaves s = V₀ − G₀'x and R, M, B, e, g and t = B⁻ᵀ(g + z) in the work space.
func (f *FlowFilter) discreteStep(v int, x, z, xv []float64, w *flowWork) (float64, error) {
	T := f.t.BranchLength(v)
	if T == 0 { // x_v = x, and the true and auxiliary messages agree
		copy(xv, x)
		return 0, nil
	}
	fail := func(what string, err error) error {
		return &NodeError{Node: v, Name: f.t.Name(v), What: what, Err: err}
	}
	f.residual(w.s, f.v0[v], f.g0[v], x)
	logAux := f.kq[v] + 0.5*dot(f.v0[v], f.v0[v]) - 0.5*dot(w.s, w.s)
	var logTrue float64
	var what string
	var err error
	if f.conditioned(v) {
		logTrue, what, err = f.conditionStep(T, f.t.LeafIndex(v), x, x, z, xv, w)
	} else {
		logTrue, what, err = f.tiltedStep(T, x, x, z, xv, f.lv[v], f.uv[v], f.kappa[v], w)
	}
	if err != nil {
		return 0, fail(what, err)
	}
	return logTrue - logAux, nil
}

// tiltedStep draws xv from the Gaussian transition N(m, c·K(x) ⊗ I_d), m = mean (x
// itself, or x + c·b(x) with a drift), tilted by the message exp(κ − ½|V − G'y|²) and
// returns log ∫N(y; m, c·K(x))h(y)dy (see discreteStep, with G, V, κ for L, U, κ and
// e = V − G'm). It leaves R, M, B, e, g and t in w.lk, w.e,
// w.dm, w.dr, w.r and w.xs, and on failure names what failed.
func (f *FlowFilter) tiltedStep(c float64, x, mean, z, xv, G, V []float64, kappa float64, w *flowWork) (float64, string, error) {
	n, d := f.n, f.d
	if len(w.kfAt) > 0 && &w.kfAt[0] == &x[0] { // localEdge has just evaluated K(x)
		copy(w.k, w.kf)
	} else if err := f.flow.KernelTo(w.k, x); err != nil {
		return 0, "transition covariance", err
	}
	for i, e := range w.k {
		w.lk[i] = c * e
	}
	if err := sde.CholeskyTo(w.lk, w.lk, n); err != nil { // R
		return 0, "transition covariance", err
	}
	copy(w.e, G)
	dense.Trmm(true, w.lk, n, w.e, n) // M = R'G
	dense.Syrk(1, w.e, n, n, 0, w.dm) // MM', lower triangle: all chol reads
	for k := 0; k < n; k++ {
		w.dm[k*n+k]++
	}
	if err := sde.CholeskyTo(w.dm, w.dm, n); err != nil { // B
		return 0, "guided transition", err
	}
	copy(w.dr, V)
	dense.Gemm(true, false, -1, G, n, n, mean, n, d, 1, w.dr) // e = V − G'm
	dense.Gemm(false, false, 1, w.e, n, n, w.dr, n, d, 0, w.r)
	dense.Trsm(false, w.dm, n, w.r, d) // g = B⁻¹Me
	for i := range w.xs {
		w.xs[i] = w.r[i] + z[i]
	}
	dense.Trsm(true, w.dm, n, w.xs, d) // t = B⁻ᵀ(g + z)
	copy(xv, mean)
	dense.Gemm(false, false, 1, w.lk, n, n, w.xs, n, d, 1, xv)
	for _, e := range xv {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return 0, "guided transition", sde.ErrNonFinite
		}
	}
	return kappa - float64(d)*logDiag(w.dm, n) - 0.5*dot(w.dr, w.dr) + 0.5*dot(w.r, w.r), "", nil
}

// cacheLen returns the number of values the guided pass keeps for the reverse pass:
// per step, the buffers of flowWork.cached; with ExactSteps, per edge, its grid points'
// pullbacks and its steps (flowWork.savePull, flowWork.saveStep).
func (f *FlowFilter) cacheLen() int {
	N := f.t.Len()
	steps := f.zo[N] - f.zo[1] // the root has no edge
	if f.ExactSteps {
		np, ns := f.exactLens()
		return steps*(np+ns) + (N-1)*np
	}
	return steps * f.ws[0].stride()
}

// slot returns the index of step j of the edge above v in the explicit steps' cache.
func (f *FlowFilter) slot(v, j int) int { return f.zo[v] - f.zo[1] + j }

// exactLens returns the lengths of a saved pullback and of a saved exact step.
func (f *FlowFilter) exactLens() (pull, step int) {
	nn, nd := f.n*f.n, f.n*f.d
	return 2*nn + nd, 3*nn + 4*nd
}

// exactSlot returns the offsets in f.cache of the pullback at grid point j of the edge
// above v and of its step j.
func (f *FlowFilter) exactSlot(v, j int) (pull, step int) {
	np, ns := f.exactLens()
	base := (f.zo[v]-f.zo[1])*(np+ns) + (v-1)*np
	return base + j*np, base + (f.ns[v]+1)*np + j*ns
}

// exactEdge runs the guided pass along the SDE edge above v with ExactSteps, filling
// path (steps+1 states, the first set) from the noise z of the edge (steps×n×d), and
// returns the edge's log-weight. Grid point j's message is kept in the work space's
// second pullback slot (w.cq, w.gq, w.vq) while j+1's is pulled into the first.
func (f *FlowFilter) exactEdge(v int, path, z []float64, w *flowWork) (float64, error) {
	n, d, m := f.n, f.d, f.ns[v]
	nd := n * d
	T := f.t.BranchLength(v)
	if T == 0 { // the state does not move and the messages agree
		for j := 1; j <= m; j++ {
			copy(path[j*nd:(j+1)*nd], path[:nd])
		}
		return 0, nil
	}
	kj, err := f.pull(v, 0, w)
	if err != nil {
		return 0, err
	}
	if f.cache != nil {
		p, _ := f.exactSlot(v, 0)
		w.savePull(f.cache[p:])
	}
	lw := 0.0
	var st stepTimes
	for j := 0; j < m; j++ {
		_, dt := f.gridPoint(T, m, j)
		if j == 0 || f.TimeChange { // on a uniform grid every step has the same dt
			st = f.stepTimes(v, dt)
		}
		x, next := path[j*nd:(j+1)*nd], path[(j+1)*nd:(j+2)*nd]
		w.swapPull()
		f.residual(w.sq, w.vq, w.gq, x) // V_j − G_j'x
		mean, err := f.stepMean(v, j, st.drift, x, w)
		if err != nil {
			return 0, err
		}
		if j == m-1 && f.conditioned(v) {
			logE, what, err := f.conditionStep(st.diff, f.t.LeafIndex(v), x, mean, z[j*nd:(j+1)*nd], next, w)
			if err != nil {
				return 0, &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("%s at step %d", what, j), Err: err}
			}
			return lw + logE - (kj - 0.5*dot(w.sq, w.sq)), nil
		}
		if f.LocalAux {
			if err := f.localEdge(v, j, x, w); err != nil {
				return 0, err
			}
		}
		kn, err := f.pull(v, j+1, w)
		if err != nil {
			return 0, err
		}
		logE, what, err := f.tiltedStep(st.diff, x, mean, z[j*nd:(j+1)*nd], next, w.g, w.v, kn, w)
		if err != nil {
			return 0, &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("%s at step %d", what, j), Err: err}
		}
		lw += logE - (kj - 0.5*dot(w.sq, w.sq))
		kj = kn
		if f.cache != nil {
			p, _ := f.exactSlot(v, j+1)
			_, s := f.exactSlot(v, j)
			w.savePull(f.cache[p:])
			w.saveStep(f.cache[s:])
		}
	}
	return lw, nil
}

// stepMean returns the mean of exact step j's transition from x on the edge above v,
// with drift time c (stepTimes): x itself, or m = x + c·b(x) (in w.xd, with b(x) in
// w.bx) for a Drifter.
func (f *FlowFilter) stepMean(v, j int, c float64, x []float64, w *flowWork) ([]float64, error) {
	if !f.drifts(v) {
		return x, nil
	}
	if err := f.drift.DriftTo(w.bx, x); err != nil {
		return nil, &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("drift at step %d", j), Err: err}
	}
	for i, e := range x {
		w.xd[i] = e + c*w.bx[i]
	}
	return w.xd, nil
}

// drifts reports whether the edge above v has a drift: an SDE edge of a Drifter.
func (f *FlowFilter) drifts(v int) bool { return f.drift != nil && !f.discrete(v) }

// conditioned reports whether the last step of the edge above v is a conditioning step
// (conditionStep): an SDE edge with exact steps, or a discrete edge, into a leaf
// observed without noise.
func (f *FlowFilter) conditioned(v int) bool {
	return f.tau2 == 0 && f.obsLeaf(v) >= 0 && (f.ExactSteps || f.discrete(v))
}

// conditionStep takes the last exact step of the SDE edge to leaf i, or the discrete
// edge to it, when τ² = 0: with O the observed landmarks, Q = c·K(x) and m = mean (x,
// or x + c·b(x) with a drift), it draws x_v from the step's transition N(m, Q ⊗ I_d)
// conditioned on x_v[O] = y_O, by Matheron's rule
//
//	x_v = x' + Q[:, O]Σ⁻¹(y_O − x'_O),  x' = m + chol(Q)z,  Σ = Q[O, O],
//
// (x_v[O] is then set to y_O exactly), and returns log ∫N(y; m, Q)δ(y_O − ·)dy =
// log N(y_O; m_O, Σ ⊗ I_d). The tilted step's formula would subtract two terms of order
// 1/τ² there. With every landmark observed, x_v = y and z is not used. It leaves
// S = chol(Σ) in w.dm.
func (f *FlowFilter) conditionStep(c float64, i int, x, mean, z, xv []float64, w *flowWork) (float64, string, error) {
	n, d := f.n, f.d
	O := f.seen[i]
	no := len(O)
	y := f.y[i*n*d : (i+1)*n*d]
	S, b, what, err := f.observedFactor(c, i, x, mean, w)
	if err != nil {
		return 0, what, err
	}
	if no < n { // x' = x + chol(Q)z for the missing landmarks
		for k, e := range w.k {
			w.lk[k] = c * e
		}
		if err := sde.CholeskyTo(w.lk, w.lk, n); err != nil {
			return 0, "transition covariance", err
		}
		copy(xv, mean)
		dense.Gemm(false, false, 1, w.lk, n, n, z, n, d, 1, xv)
	}
	if no == 0 {
		if err := checkFinite(xv); err != nil {
			return 0, "conditioned transition", err
		}
		return 0, "", nil
	}
	if no < n {
		u := w.r[:no*d] // Σ⁻¹(y_O − x'_O)
		for a, ka := range O {
			for l := 0; l < d; l++ {
				u[a*d+l] = y[ka*d+l] - xv[ka*d+l]
			}
		}
		dense.Trsm(false, S, no, u, d)
		dense.Trsm(true, S, no, u, d)
		for k := 0; k < n; k++ {
			xk := xv[k*d : (k+1)*d]
			for a, ka := range O {
				q := c * w.k[k*n+ka]
				for l := range xk {
					xk[l] += q * u[a*d+l]
				}
			}
		}
	}
	for _, ka := range O {
		copy(xv[ka*d:(ka+1)*d], y[ka*d:(ka+1)*d])
	}
	dense.Trsm(false, S, no, b, d) // S⁻¹(y_O − x_O)
	if err := checkFinite(xv); err != nil {
		return 0, "conditioned transition", err
	}
	return -0.5*float64(no*d)*log2Pi - float64(d)*logDiag(S, no) - 0.5*dot(b, b), "", nil
}

// observedFactor writes K(x) into w.k and returns, for the observed landmarks O of leaf
// i, S = chol(c·K_OO(x)) (in w.dm) and y_O − m_O (in w.dr) for the transition mean m,
// or what failed.
func (f *FlowFilter) observedFactor(c float64, i int, x, mean []float64, w *flowWork) (S, e []float64, what string, err error) {
	n, d := f.n, f.d
	O := f.seen[i]
	no := len(O)
	y := f.y[i*n*d : (i+1)*n*d]
	if err := f.flow.KernelTo(w.k, x); err != nil {
		return nil, nil, "transition covariance", err
	}
	S, e = w.dm[:no*no], w.dr[:no*d]
	for a, ka := range O {
		for b, kb := range O {
			S[a*no+b] = c * w.k[ka*n+kb]
		}
		for l := 0; l < d; l++ {
			e[a*d+l] = y[ka*d+l] - mean[ka*d+l]
		}
	}
	if err := sde.CholeskyTo(S, S, no); err != nil {
		return nil, nil, "transition covariance of the observed landmarks", err
	}
	return S, e, "", nil
}

// residual writes s = V − G'x (n×d) for the message exp(κ − ½|V − G'x|²).
func (f *FlowFilter) residual(s, V, G, x []float64) {
	copy(s, V)
	dense.Gemm(true, false, -1, G, f.n, f.n, x, f.n, f.d, 1, s)
}

// checkFinite returns sde.ErrNonFinite if x has a NaN or infinite entry.
func checkFinite(x []float64) error {
	for _, e := range x {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return sde.ErrNonFinite
		}
	}
	return nil
}

// Refine sets every non-root anchor to H⁻¹F = L⁻ᵀU of its vertex message, as
// hyperiax's Algorithm 3 does between backward filters; landmarks that no leaf below a
// node observes keep their anchors there. Call Run again to use them.
func (f *FlowFilter) Refine() {
	f.mustRun()
	w, n, d := &f.ws[0], f.n, f.d
	for v := 1; v < f.t.Len(); v++ {
		if f.t.IsLeaf(v) {
			continue // the anchor stays at the observation
		}
		// Landmarks that no leaf below v observes keep their anchors.
		w.act = activeSet(w.act, f.lv[v], n)
		A, m := w.act, len(w.act)
		L, x := w.c[:m*m], w.v[:m*d]
		gather(L, f.lv[v], n, A, A)
		gather(x, f.uv[v], d, A, nil)
		dense.Trsm(true, L, m, x, d)
		scatter(f.anc[v], x, d, A, nil)
	}
	f.ran = false
}

func (f *FlowFilter) mustRun() {
	if !f.ran {
		panic("bffg: FlowFilter used before a successful Run")
	}
}

// LogLikelihood returns log h_root at the fixed root state: the log-likelihood of the
// data under the auxiliary process, and the normaliser of the guided proposal.
func (f *FlowFilter) LogLikelihood() float64 {
	f.mustRun()
	return f.logH
}

// NumNoise returns the length of z: node-major blocks of each edge's steps' n×d
// increments (NoiseBlock). With uniform steps that is Len·Steps·n·d, and the root's
// block is unused, as in hyperiax; with StepLength the root has no block.
func (f *FlowFilter) NumNoise() int { return f.zo[f.t.Len()] * f.n * f.d }

// Guide runs the guided Euler–Maruyama pass driven by z (NumNoise) with the flow and
// messages of the last Run, x ← x + (b(x) + K(x)r)dt + chol(K(x))√dt z, r = F − Hx,
// and returns Σ_v log w_v with the left-point log-weight
// Σ_j [tr((b − b̃)'r) − ½ d·tr((K − ã)H) + ½ tr(r'(K − ã)r)] dt_j (b = 0 without a
// Drifter, b̃ = −λ(x − μ) with an AuxDrifter and 0 otherwise); with ExactSteps, each
// step's exact draw and weight instead.
func (f *FlowFilter) Guide(z []float64) (float64, error) {
	f.mustRun()
	if len(z) != f.NumNoise() {
		return 0, fmt.Errorf("bffg: FlowFilter.Guide: %d noise values, want %d", len(z), f.NumNoise())
	}
	if err := f.checkMode("Run"); err != nil {
		return 0, err
	}
	t, n, d := f.t, f.n, f.d
	nd := n * d
	copy(f.path[0][f.ns[0]*nd:], f.root)
	if size := f.cacheLen(); size*8 > flowCacheBytes {
		f.cache = nil
	} else if len(f.cache) != size {
		f.cache = make([]float64, size)
	}
	err := f.sweep(false, func(w *flowWork, v int) error {
		if v == 0 {
			return nil
		}
		path, m, zv := f.path[v], f.ns[v], f.NoiseBlock(z, v)
		copy(path[:nd], f.path[t.Parent(v)][f.ns[t.Parent(v)]*nd:])
		if err := f.prepareEdge(v, w); err != nil {
			return err
		}
		if f.discrete(v) {
			lw, err := f.discreteStep(v, path[:nd], zv[:nd], path[m*nd:], w)
			f.logw[v] = lw
			return err
		}
		if f.ExactSteps {
			lw, err := f.exactEdge(v, path, zv, w)
			f.logw[v] = lw
			return err
		}
		T := t.BranchLength(v)
		lw := 0.0
		f.startEdge(w)
		for j := 0; j < m; j++ {
			_, dt := f.gridPoint(T, m, j)
			x, next := path[j*nd:(j+1)*nd], path[(j+1)*nd:(j+2)*nd]
			if _, err := f.pull(v, j, w); err != nil {
				return err
			}
			l, err := f.stepForward(v, j, x, w)
			if err != nil {
				return err
			}
			w.save(f.cache, f.slot(v, j))
			zj := zv[j*nd : (j+1)*nd]
			if f.SemiImplicit {
				lw += l * dt
				if err := f.semiImplicit(dt, zj, w); err != nil {
					return &NodeError{Node: v, Name: t.Name(v), What: fmt.Sprintf("guided step %d", j), Err: err}
				}
				for i := range next {
					next[i] = x[i] + w.bb[i]
				}
				continue
			}
			if rho := dt * f.stiffness(w); rho > 2 {
				return &NodeError{Node: v, Name: t.Name(v), What: fmt.Sprintf("guided step %d", j),
					Err: fmt.Errorf("%w: dt·λmax(KH) ≈ %.3g > 2; use more steps per edge", ErrUnstable, rho)}
			}
			lw += l * dt
			// x_{j+1} = x + (b + K r)dt + L_K √dt z.
			copy(next, x)
			if f.drift != nil {
				for i, e := range w.bx {
					next[i] += dt * e
				}
			}
			dense.Gemm(false, false, dt, w.k, n, n, w.r, n, d, 1, next)
			dense.Gemm(false, false, math.Sqrt(dt), w.lk, n, n, zj, n, d, 1, next)
			for _, e := range next {
				if math.IsNaN(e) || math.IsInf(e, 0) {
					return &NodeError{Node: v, Name: t.Name(v), What: fmt.Sprintf("guided step %d", j), Err: sde.ErrNonFinite}
				}
			}
		}
		f.logw[v] = lw
		return nil
	})
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, lw := range f.logw[1:] {
		total += lw
	}
	f.guided = true
	return total, nil
}

// stepForward evaluates, at state x on grid point j of the edge above v (with the
// pulled message G, V in the work space), s = V − G'x, r = Gs, K = K(x), its factor
// L_K, D = K − ã(t_j) and the drift b(x) (w.bx, with a Drifter), and returns the
// log-weight rate tr((b − b̃)'r) − ½ d·tr(DGG') + ½ tr(r'Dr).
func (f *FlowFilter) stepForward(v, j int, x []float64, w *flowWork) (float64, error) {
	n, d := f.n, f.d
	copy(w.s, w.v)
	dense.Gemm(true, false, -1, w.g, n, n, x, n, d, 1, w.s)
	dense.Gemm(false, false, 1, w.g, n, n, w.s, n, d, 0, w.r)
	if err := f.flow.KernelTo(w.k, x); err != nil {
		return 0, &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("diffusion at step %d", j), Err: err}
	}
	if err := sde.CholeskyTo(w.lk, w.k, n); err != nil {
		return 0, &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("diffusion at step %d", j), Err: err}
	}
	T := f.t.BranchLength(v)
	tj, _ := f.gridPoint(T, f.ns[v], j)
	wt, _, _ := edgeWeights(T, tj)
	for i := range w.dm {
		w.dm[i] = w.k[i] - (wt*f.aT[v][i] + (1-wt)*f.a0[v][i])
	}
	dense.Gemm(false, false, 1, w.dm, n, n, w.g, n, n, 0, w.e)  // E = DG
	dense.Gemm(false, false, 1, w.dm, n, n, w.r, n, d, 0, w.dr) // Dr
	rate := -0.5*float64(d)*dot(w.e, w.g) + 0.5*dot(w.r, w.dr)
	if f.drift != nil {
		if err := f.drift.DriftTo(w.bx, x); err != nil {
			return 0, &NodeError{Node: v, Name: f.t.Name(v), What: fmt.Sprintf("drift at step %d", j), Err: err}
		}
		rate += dot(w.bx, w.r)
	}
	if f.aux != nil { // −b̃'r = λ(x − μ)'r
		rate += f.lam * (dot(x, w.r) - dot(f.mu, w.r))
	}
	return rate, nil
}

// semiImplicit writes the semi-implicit increment Δ = x_{j+1} − x_j into w.bb, with G,
// K, L_K, r and the drift of the step in the work space: with
// b = dt·(Kr + b(x)) + √dt·L_K z (the drift is explicit),
// (I + dt·KGG')Δ = b, solved by Woodbury's identity, Δ = b − dt·KG W⁻¹G'b with
// W = I + dt·G'KG (positive definite). It leaves a = G'b, chol(W), c = W⁻¹a and e = Gc
// in w.sa, w.wm, w.sc and w.se.
func (f *FlowFilter) semiImplicit(dt float64, z []float64, w *flowWork) error {
	n, d := f.n, f.d
	b := w.bb
	dense.Gemm(false, false, dt, w.k, n, n, w.r, n, d, 0, b)
	dense.Gemm(false, false, math.Sqrt(dt), w.lk, n, n, z, n, d, 1, b)
	if f.drift != nil {
		for i, e := range w.bx {
			b[i] += dt * e
		}
	}
	dense.Gemm(true, false, 1, w.g, n, n, b, n, d, 0, w.sa)
	dense.Gemm(false, false, 1, w.k, n, n, w.g, n, n, 0, w.t1) // KG
	dense.Gemm(true, false, dt, w.g, n, n, w.t1, n, n, 0, w.wm)
	for k := 0; k < n; k++ {
		w.wm[k*n+k]++
	}
	if err := sde.CholeskyTo(w.wm, w.wm, n); err != nil {
		return err
	}
	copy(w.sc, w.sa)
	dense.Trsm(false, w.wm, n, w.sc, d)
	dense.Trsm(true, w.wm, n, w.sc, d)
	dense.Gemm(false, false, 1, w.g, n, n, w.sc, n, d, 0, w.se)
	dense.Gemm(false, false, -dt, w.k, n, n, w.se, n, d, 1, b)
	for _, e := range b {
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return sde.ErrNonFinite
		}
	}
	return nil
}

// ErrUnstable reports a guided Euler step that is unstable: dt·λ_max(K(x)H) > 2, where
// the step overshoots the guiding term's target and the log-weights stop approximating
// the continuous ones. It happens when the true diffusion K(x) is much larger than the
// auxiliary's (say, at a large k_α with the anchors of a small one); more steps per
// edge cure it. A FlowPotential reports such points as having zero density.
var ErrUnstable = errors.New("guided Euler step unstable")

// stiffness estimates λ_max(K H_j) = λ_max(G'KG) (the matrices are similar) by power
// iteration, with G and K of the current step in the work space. The iterate is kept
// from step to step along an edge (startEdge resets it), where the matrix changes
// slowly, so three iterations a step track the largest eigenvalue; each costs three
// n×n matrix–vector products.
func (f *FlowFilter) stiffness(w *flowWork) float64 {
	n := f.n
	u, t, s := w.pu, w.xq[:n], w.yb[:n]
	lam := 0.0
	for it := 0; it < 3; it++ {
		mulVec(t, w.g, n, n, u)
		mulVec(s, w.k, n, n, t)
		mulTVec(u, w.g, n, n, s)
		lam = math.Sqrt(dot(u, u))
		if !(lam > 0) || math.IsInf(lam, 0) {
			f.startEdge(w)
			return lam
		}
		for i := range u {
			u[i] /= lam
		}
	}
	return lam
}

// startEdge resets the power iteration of stiffness to the all-ones direction.
func (f *FlowFilter) startEdge(w *flowWork) {
	u := w.pu
	for i := range u {
		u[i] = 1 / math.Sqrt(float64(len(u)))
	}
}

// Path returns the guided states of the edge above v from the last Guide: one more
// state of n×d than the edge has steps, from the parent's state to v's (for a discrete edge only the first
// and the last are states; the others are unspecified). The slice is f's; do not modify it.
func (f *FlowFilter) Path(v int) []float64 {
	if !f.guided {
		panic("bffg: FlowFilter.Path before Guide")
	}
	return f.path[v]
}

// State returns node v's state from the last Guide (the root's is fixed).
func (f *FlowFilter) State(v int) []float64 {
	nd := f.n * f.d
	m := f.ns[v]
	return f.Path(v)[m*nd : (m+1)*nd]
}

// LogWeights returns the per-edge log-weights of the last Guide (the root's is 0).
func (f *FlowFilter) LogWeights() []float64 {
	if !f.guided {
		panic("bffg: FlowFilter.LogWeights before Guide")
	}
	return f.logw
}
