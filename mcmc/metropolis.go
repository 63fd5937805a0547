package mcmc

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// RandomWalk is a Gaussian random-walk Metropolis update of a block of coordinates:
//
//	q'ⱼ = qⱼ + ε·sᵢ·ξᵢ,  j = Index[i], ξ ~ N(0, I),
//
// with every other coordinate unchanged, accepted with probability
// min(1, π(q')/π(q)) evaluated on the full log density. ε is Params.StepSize and sᵢ
// the scale of the i-th coordinate of the block. A proposal with a non-finite log density is rejected.
//
// With a non-nil Params.Metric of the block's dimension, the proposal is instead
// correlated: q'_block = q_block + ε·Lξ with LLᵀ = M⁻¹, the metric's inverse being
// the proposal covariance (MetropolisAdaptation estimates it from the warmup draws,
// as in the adaptive Metropolis of Haario, Saksman & Tamminen 2001).
//
// A RandomWalk does not allocate in Step.
type RandomWalk struct {
	target Density
	index  []int
	scales []float64
	moved  []float64 // the moved coordinates of src, to undo a rejection
	xi, dq []float64 // scratch for a correlated proposal
}

// NewRandomWalk returns a random-walk update of the coordinates index (nil: all of
// them) of t with per-coordinate proposal scales (nil: all 1). Both are copied. It
// panics if an index is out of range or repeated, if len(scales) differs from the
// block size, or if a scale is not positive and finite.
func NewRandomWalk(t Density, index []int, scales []float64) *RandomWalk {
	index = blockIndex("NewRandomWalk", t.Dim(), index)
	if scales == nil {
		scales = make([]float64, len(index))
		for i := range scales {
			scales[i] = 1
		}
	} else {
		if len(scales) != len(index) {
			panic(fmt.Sprintf("mcmc: NewRandomWalk has %d scales for %d coordinates", len(scales), len(index)))
		}
		scales = append([]float64(nil), scales...)
	}
	for i, s := range scales {
		if !(s > 0) || math.IsInf(s, 1) {
			panic(fmt.Sprintf("mcmc: NewRandomWalk scale %d is %g", i, s))
		}
	}
	n := len(index)
	return &RandomWalk{target: t, index: index, scales: scales, moved: make([]float64, n),
		xi: make([]float64, n), dq: make([]float64, n)}
}

// Scales returns a copy of the per-coordinate proposal scales.
func (k *RandomWalk) Scales() []float64 { return append([]float64(nil), k.scales...) }

// Dim returns the dimension of the target.
func (k *RandomWalk) Dim() int { return k.target.Dim() }

// Init evaluates the density at a copy of q.
func (k *RandomWalk) Init(q []float64) (State, error) { return initMetropolis(k.target, q) }

// Step proposes a move of the block and accepts or rejects it. It reads p.StepSize
// as a multiplier of the scales or, if p.Metric is not nil, of the proposal factor
// L with LLᵀ = M⁻¹ (the scales are then not used). It panics if p.Metric's
// dimension is not the block's.
func (k *RandomWalk) Step(r *rand.Rand, dst, src *State, p Params) Info {
	checkStates("RandomWalk.Step", dst, src, k.target.Dim(), false)
	dst.copyFrom(src)
	if m := p.Metric; m != nil {
		if m.Dim() != len(k.index) {
			panic(fmt.Sprintf("mcmc: RandomWalk.Step metric has dimension %d for a block of %d coordinates", m.Dim(), len(k.index)))
		}
		for i := range k.xi {
			k.xi[i] = r.NormFloat64()
		}
		m.mulCovFactor(k.dq, k.xi)
		for i, j := range k.index {
			k.moved[i] = src.Q[j]
			dst.Q[j] += p.StepSize * k.dq[i]
		}
	} else {
		for i, j := range k.index {
			k.moved[i] = src.Q[j]
			dst.Q[j] += p.StepSize * k.scales[i] * r.NormFloat64()
		}
	}
	lp := k.target.LogDensity(dst.Q)
	acc, prob := metropolis(r, dst, src, lp, lp-src.LogDensity, k.index, k.moved)
	return Info{AcceptStat: prob, StepSize: p.StepSize, NumSteps: 1, Accepted: [2]bool{acc}}
}

// PCN is a preconditioned Crank–Nicolson update of a block z of coordinates that
// have a standard normal prior N(0, I) inside the density:
//
//	z' = ρz + √(1−ρ²)ξ = ρz + βξ,  ρ = √(1−β²), ξ ~ N(0, I).
//
// The proposal is reversible with respect to N(0, I), so only the rest of the
// density enters the acceptance ratio:
//
//	log α = [log π(q') − log π(q)] + ½|z'|² − ½|z|²,
//
// exactly as in hyperiax notebook 05. When the density depends on z only through its
// prior, α = 1 and every proposal is accepted. A proposal with a non-finite log
// density is rejected.
//
// A PCN does not allocate in Step.
type PCN struct {
	target Density
	index  []int
	beta   float64
	rho    float64
	moved  []float64
}

// NewPCN returns a pCN update of the coordinates index (nil: all) of t with step
// β ∈ (0, 1]. It panics if an index is out of range or repeated or if β is outside
// (0, 1].
func NewPCN(t Density, index []int, beta float64) *PCN {
	index = blockIndex("NewPCN", t.Dim(), index)
	if !(beta > 0 && beta <= 1) {
		panic(fmt.Sprintf("mcmc: NewPCN β = %g is not in (0, 1]", beta))
	}
	return &PCN{target: t, index: index, beta: beta, rho: math.Sqrt(1 - beta*beta),
		moved: make([]float64, len(index))}
}

// Dim returns the dimension of the target.
func (k *PCN) Dim() int { return k.target.Dim() }

// Beta returns β.
func (k *PCN) Beta() float64 { return k.beta }

// Init evaluates the density at a copy of q.
func (k *PCN) Init(q []float64) (State, error) { return initMetropolis(k.target, q) }

// Step proposes a pCN move of the block and accepts or rejects it. It reads
// p.Beta, and uses the β of NewPCN where that is 0; Info.StepSize reports the β
// used. It panics if p.Beta is outside [0, 1].
func (k *PCN) Step(r *rand.Rand, dst, src *State, p Params) Info {
	checkStates("PCN.Step", dst, src, k.target.Dim(), false)
	beta, rho := k.beta, k.rho
	if p.Beta != 0 {
		if !(p.Beta > 0 && p.Beta <= 1) {
			panic(fmt.Sprintf("mcmc: PCN.Step β = %g is not in (0, 1]", p.Beta))
		}
		beta, rho = p.Beta, math.Sqrt(1-p.Beta*p.Beta)
	}
	dst.copyFrom(src)
	var halfSq, halfSqNew float64
	for i, j := range k.index {
		z := src.Q[j]
		k.moved[i] = z
		zNew := rho*z + beta*r.NormFloat64()
		dst.Q[j] = zNew
		halfSq += 0.5 * z * z
		halfSqNew += 0.5 * zNew * zNew
	}
	lp := k.target.LogDensity(dst.Q)
	logAlpha := (lp - src.LogDensity) + (halfSqNew - halfSq)
	acc, prob := metropolis(r, dst, src, lp, logAlpha, k.index, k.moved)
	return Info{AcceptStat: prob, StepSize: beta, NumSteps: 1, Accepted: [2]bool{acc}}
}

// PCNRW is the Metropolis-within-Gibbs kernel of hyperiax notebook 05: a PCN update
// of the latent block z followed by a RandomWalk update of the parameter block, each
// accepted on its own. Info.Accepted reports both flags (pCN first) and
// Info.AcceptStat is the random-walk block's, the one Params tune.
//
// A PCNRW does not allocate in Step.
type PCNRW struct {
	pcn *PCN
	rw  *RandomWalk
	mid State
}

// NewPCNRW composes pcn and rw, which must share one target. It panics if their
// dimensions differ.
func NewPCNRW(pcn *PCN, rw *RandomWalk) *PCNRW {
	if pcn.Dim() != rw.Dim() {
		panic(fmt.Sprintf("mcmc: NewPCNRW blocks have dimensions %d and %d", pcn.Dim(), rw.Dim()))
	}
	return &PCNRW{pcn: pcn, rw: rw, mid: State{Q: make([]float64, pcn.Dim())}}
}

// Dim returns the dimension of the target.
func (k *PCNRW) Dim() int { return k.pcn.Dim() }

// Init evaluates the density at a copy of q.
func (k *PCNRW) Init(q []float64) (State, error) { return initMetropolis(k.rw.target, q) }

// Step applies the pCN block, then the random-walk block. p is passed to both
// (p.Beta is the pCN block's β; p.StepSize and p.Metric shape the random walk's
// proposal, as in RandomWalk.Step).
func (k *PCNRW) Step(r *rand.Rand, dst, src *State, p Params) Info {
	a := k.pcn.Step(r, &k.mid, src, p)
	b := k.rw.Step(r, dst, &k.mid, p)
	b.Accepted = [2]bool{a.Accepted[0], b.Accepted[0]}
	b.NumSteps += a.NumSteps
	return b
}

// metropolis accepts the proposal in dst, whose log density is lp, with probability
// min(1, exp(logAlpha)), or restores the block from moved. A non-finite lp is always
// rejected. It returns the decision and min(1, α).
func metropolis(r *rand.Rand, dst, src *State, lp, logAlpha float64, index []int, moved []float64) (bool, float64) {
	prob := 0.0
	if !finite(lp) {
		logAlpha = math.Inf(-1)
	}
	if logAlpha >= 0 {
		prob = 1
	} else {
		prob = math.Exp(logAlpha)
	}
	// Always draw the uniform, so the random stream does not depend on the outcome.
	if math.Log(r.Float64()) < logAlpha {
		dst.LogDensity = lp
		return true, prob
	}
	for i, j := range index {
		dst.Q[j] = moved[i]
	}
	dst.LogDensity = src.LogDensity
	return false, prob
}

func initMetropolis(t Density, q []float64) (State, error) {
	if len(q) != t.Dim() {
		return State{}, fmt.Errorf("mcmc: initial point has length %d, target dimension is %d", len(q), t.Dim())
	}
	s := State{Q: append([]float64(nil), q...)}
	s.LogDensity = t.LogDensity(s.Q)
	if !finite(s.LogDensity) {
		return State{}, fmt.Errorf("%w: log density %g at the initial point", ErrNotFinite, s.LogDensity)
	}
	return s, nil
}

// blockIndex validates and copies a coordinate block; nil means all n coordinates.
func blockIndex(fn string, n int, index []int) []int {
	if index == nil {
		index = make([]int, n)
		for i := range index {
			index[i] = i
		}
		return index
	}
	seen := make([]bool, n)
	for _, j := range index {
		if j < 0 || j >= n {
			panic(fmt.Sprintf("mcmc: %s index %d out of range [0, %d)", fn, j, n))
		}
		if seen[j] {
			panic(fmt.Sprintf("mcmc: %s index %d repeated", fn, j))
		}
		seen[j] = true
	}
	return append([]int(nil), index...)
}
