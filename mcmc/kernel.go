package mcmc

import (
	"fmt"
	"math/rand/v2"
)

// State is the position of a chain together with what the next transition needs
// from it. Kernels write a State only as the dst of Step or the result of Init.
type State struct {
	// Q is the position, of length Dim().
	Q []float64
	// LogDensity is log π(Q), always finite.
	LogDensity float64
	// Grad is ∇ log π(Q) for gradient-based kernels and nil otherwise.
	Grad []float64
}

// Clone returns a deep copy of s; use it to make the second buffer of a dst/src pair.
func (s *State) Clone() State {
	c := State{LogDensity: s.LogDensity, Q: append([]float64(nil), s.Q...)}
	if s.Grad != nil {
		c.Grad = append([]float64(nil), s.Grad...)
	}
	return c
}

// checkStates panics unless dst and src have the shape of Init's states for a target
// of dimension n (with a gradient if grad) and do not share storage.
func checkStates(fn string, dst, src *State, n int, grad bool) {
	if len(dst.Q) != n || len(src.Q) != n {
		panic(fmt.Sprintf("mcmc: %s states have lengths %d and %d, target dimension is %d", fn, len(dst.Q), len(src.Q), n))
	}
	if grad && (len(dst.Grad) != n || len(src.Grad) != n) {
		panic(fmt.Sprintf("mcmc: %s states need gradients of length %d", fn, n))
	}
	if n > 0 && &dst.Q[0] == &src.Q[0] {
		panic(fmt.Sprintf("mcmc: %s dst and src share storage", fn))
	}
}

// copyFrom copies src into s without allocating; s must have the same shape.
func (s *State) copyFrom(src *State) {
	copy(s.Q, src.Q)
	copy(s.Grad, src.Grad)
	s.LogDensity = src.LogDensity
}

// Params are the tunables of a transition. They are an argument of Step rather than
// part of the kernel so that a warmup can change them between transitions without
// rebuilding anything. Each kernel's Step documents which fields it reads.
type Params struct {
	// StepSize is the leapfrog step size ε of NUTS, and the multiplier of
	// RandomWalk's proposal: of its per-coordinate scales, or of the Cholesky
	// factor of Metric.
	StepSize float64
	// Metric is the inverse metric (inverse mass matrix) of NUTS, nil meaning the
	// identity; for RandomWalk, if not nil, the proposal covariance of its block
	// (of the block's dimension), which then replaces the scales.
	Metric *Metric
	// Beta is the step β ∈ (0, 1] of PCN blocks; 0 means the β they were built with.
	Beta float64
}

// Info describes one transition. It is returned by value, never fed back into the
// kernel, and its fields map one-to-one onto the CmdStan sampler columns.
type Info struct {
	// AcceptStat is accept_stat__. For NUTS it is the mean Metropolis acceptance
	// probability min(1, exp(H0 − H)) over every leapfrog step of the trajectory,
	// including those of rejected subtrees (Stan's definition, and what step-size
	// adaptation targets). For Metropolis kernels it is min(1, α) of the block that
	// Params.StepSize tunes (the random-walk block of PCNRW; Accepted[0] records the
	// pCN block's decision).
	AcceptStat float64
	// StepSize is stepsize__, the step size used by this transition.
	StepSize float64
	// TreeDepth is treedepth__, the number of trajectory doublings (NUTS only).
	TreeDepth int
	// NumSteps is n_leapfrog__, the transition's cost: the number of leapfrog steps
	// (NUTS), or of density evaluations (the Metropolis kernels, as CmdStan-format
	// readers of other samplers expect).
	NumSteps int
	// Divergent is divergent__: the energy error exceeded NUTS.MaxDeltaH, or the
	// density or gradient stopped being finite, somewhere on the trajectory.
	Divergent bool
	// Energy is energy__, the Hamiltonian −log π(q) + ½pᵀM⁻¹p at the selected point
	// (NUTS only).
	Energy float64
	// Accepted holds the Metropolis accept flag of each block: Accepted[0] for
	// RandomWalk and PCN; Accepted[0] (pCN block) and Accepted[1] (random-walk block)
	// for PCNRW. NUTS leaves it false.
	Accepted [2]bool
}

// Kernel is a Markov transition kernel bound to one target, with explicit state.
// A Kernel holds scratch buffers and is not safe for concurrent use.
type Kernel interface {
	// Dim returns the dimension of the target.
	Dim() int
	// Init evaluates the target at q and returns a new State holding a copy of q. It
	// returns an error wrapping ErrNotFinite if the density (or gradient) at q is not
	// finite.
	Init(q []float64) (State, error)
	// Step draws the next state from src into dst using only r for randomness. It
	// never writes src; dst must have the shape of a State returned by Init and must
	// not share storage with src. The caller swaps dst and src between steps.
	Step(r *rand.Rand, dst, src *State, p Params) Info
}

// Adaptable is a Kernel whose Params a WindowAdaptation can tune: the kernel must
// provide Stan's initial step-size heuristic.
type Adaptable interface {
	Kernel
	// FindStepSize returns a step size, starting from p.StepSize, at which one
	// leapfrog step from s with a fresh momentum has acceptance probability near 0.8.
	FindStepSize(r *rand.Rand, s *State, p Params) (float64, error)
}

var (
	_ Adaptable = (*NUTS)(nil)
	_ Kernel    = (*RandomWalk)(nil)
	_ Kernel    = (*PCN)(nil)
	_ Kernel    = (*PCNRW)(nil)
)
