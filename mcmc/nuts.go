package mcmc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// NUTS is the No-U-Turn sampler as Stan implements it (Stan ≥ 2.26, also BlackJAX):
// a trajectory doubled in a random direction until it makes a U-turn, with
//
//   - multinomial sampling of the selected point, biased progressive sampling when a
//     new subtree is merged into the trajectory and uniform progressive sampling
//     inside subtrees;
//   - the generalised no-U-turn criterion p♯₋·ρ > 0 and p♯₊·ρ > 0 (Betancourt 2017)
//     on every merged (sub)tree, plus the two extra checks across the pair of merged
//     subtrees that Stan 2.26 added;
//   - a divergence, which ends the trajectory, when the energy error H − H0 exceeds
//     MaxDeltaH or the density stops being finite;
//   - leapfrog integration with a diagonal or dense inverse metric (Params.Metric).
//
// Step reads Params.StepSize (ε) and Params.Metric. After its first Step a NUTS does
// not allocate, unless MaxDepth grows.
type NUTS struct {
	// MaxDepth is the maximum tree depth: a transition takes at most 2^MaxDepth − 1
	// leapfrog steps. NewNUTS sets Stan's default, 10.
	MaxDepth int
	// MaxDeltaH is the energy error H − H0 above which a trajectory is divergent.
	// NewNUTS sets Stan's default, 1000.
	MaxDeltaH float64

	target GradDensity
	n      int
	unit   *Metric

	// Trajectory state, reused by every Step.
	fwd, bck       phasePoint // moving ends of the trajectory
	sample, prop   candidate  // selected point; proposal from the newest subtree
	pFF, pFB       []float64  // momenta at the forward/backward end of the forward subtree
	pBF, pBB       []float64  // and of the backward subtree
	sFF, sFB       []float64  // their sharp momenta M⁻¹p
	sBF, sBB       []float64
	rho, rhoF      []float64 // summed momenta: whole trajectory, forward part
	rhoB           []float64 // and backward part
	vel            []float64 // M⁻¹p inside leapfrog (dense metric)
	levels         []treeLevel
	heuristicPoint phasePoint // FindStepSize's trial point

	// Per-transition values, set by Step.
	r         *rand.Rand
	metric    *Metric
	eps, h0   float64
	nLeapfrog int
	sumMetro  float64
	divergent bool
}

// phasePoint is a point (q, p) of the integrator with its log density and gradient.
type phasePoint struct {
	q, p, g []float64
	lp      float64
}

// candidate is a point the trajectory may select: what the next State needs and its
// Hamiltonian.
type candidate struct {
	q, g  []float64
	lp, h float64
}

// treeLevel is the scratch of buildTree at one depth. A subtree of depth d uses
// level d while its two halves, of depth d−1, use the levels below, and the halves
// run one after the other, so one set per depth suffices and nothing is allocated
// during a transition.
type treeLevel struct {
	final                candidate // proposal from the final half
	pInitEnd, sInitEnd   []float64 // (sharp) momentum at the end of the initial half
	pFinalBeg, sFinalBeg []float64 // and at the beginning of the final half
	rhoInit, rhoFinal    []float64 // summed momenta of the halves
}

// NewNUTS returns a NUTS kernel for t with Stan's defaults.
func NewNUTS(t GradDensity) *NUTS {
	n := t.Dim()
	k := &NUTS{MaxDepth: 10, MaxDeltaH: 1000, target: t, n: n, unit: IdentityMetric(n, false)}
	k.fwd = newPhasePoint(n)
	k.bck = newPhasePoint(n)
	k.heuristicPoint = newPhasePoint(n)
	k.sample = newCandidate(n)
	k.prop = newCandidate(n)
	for _, v := range []*[]float64{&k.pFF, &k.pFB, &k.pBF, &k.pBB, &k.sFF, &k.sFB, &k.sBF, &k.sBB,
		&k.rho, &k.rhoF, &k.rhoB, &k.vel} {
		*v = make([]float64, n)
	}
	return k
}

func newPhasePoint(n int) phasePoint {
	return phasePoint{q: make([]float64, n), p: make([]float64, n), g: make([]float64, n)}
}

func newCandidate(n int) candidate {
	return candidate{q: make([]float64, n), g: make([]float64, n)}
}

// Dim returns the dimension of the target.
func (k *NUTS) Dim() int { return k.n }

// Init evaluates the density and gradient at a copy of q.
func (k *NUTS) Init(q []float64) (State, error) {
	if len(q) != k.n {
		return State{}, fmt.Errorf("mcmc: initial point has length %d, target dimension is %d", len(q), k.n)
	}
	s := State{Q: append([]float64(nil), q...), Grad: make([]float64, k.n)}
	s.LogDensity = k.target.LogDensityGrad(s.Q, s.Grad)
	if !finite(s.LogDensity) || !allFinite(s.Grad) {
		return State{}, fmt.Errorf("%w: log density %g at the initial point", ErrNotFinite, s.LogDensity)
	}
	return s, nil
}

func (k *NUTS) ensureLevels() {
	if k.MaxDepth < 1 {
		panic("mcmc: NUTS.MaxDepth must be at least 1")
	}
	// The top level builds subtrees of depth 0 … MaxDepth−1; depth 0 needs no scratch.
	for len(k.levels) < k.MaxDepth {
		if len(k.levels) == 0 {
			k.levels = append(k.levels, treeLevel{})
			continue
		}
		l := treeLevel{final: newCandidate(k.n)}
		for _, v := range []*[]float64{&l.pInitEnd, &l.sInitEnd, &l.pFinalBeg, &l.sFinalBeg,
			&l.rhoInit, &l.rhoFinal} {
			*v = make([]float64, k.n)
		}
		k.levels = append(k.levels, l)
	}
}

func (k *NUTS) setMetric(m *Metric) {
	if m == nil {
		m = k.unit
	}
	if m.n != k.n {
		panic(fmt.Sprintf("mcmc: NUTS metric has dimension %d, target %d", m.n, k.n))
	}
	k.metric = m
}

// Step performs one NUTS transition from src into dst. It reads p.StepSize and
// p.Metric.
func (k *NUTS) Step(r *rand.Rand, dst, src *State, p Params) Info {
	checkStates("NUTS.Step", dst, src, k.n, true)
	k.ensureLevels()
	k.setMetric(p.Metric)
	if !(p.StepSize > 0) || math.IsInf(p.StepSize, 1) {
		panic(fmt.Sprintf("mcmc: NUTS step size %g is not positive and finite", p.StepSize))
	}
	k.r, k.eps = r, p.StepSize

	// Start both ends of the trajectory at src with a fresh momentum.
	z := &k.fwd
	copy(z.q, src.Q)
	copy(z.g, src.Grad)
	z.lp = src.LogDensity
	k.metric.sampleMomentum(r, z.p)
	k.h0 = -z.lp + k.metric.velocity(k.sFF, z.p)
	copy(k.bck.q, z.q)
	copy(k.bck.p, z.p)
	copy(k.bck.g, z.g)
	k.bck.lp = z.lp
	for _, v := range [][]float64{k.pFF, k.pFB, k.pBF, k.pBB, k.rho} {
		copy(v, z.p)
	}
	for _, v := range [][]float64{k.sFB, k.sBF, k.sBB} {
		copy(v, k.sFF)
	}
	copy(k.sample.q, src.Q)
	copy(k.sample.g, src.Grad)
	k.sample.lp, k.sample.h = src.LogDensity, k.h0

	k.nLeapfrog, k.sumMetro, k.divergent = 0, 0, false
	logSumW := 0.0 // log of the summed weights exp(H0 − H), relative to the start point
	depth := 0
	for depth < k.MaxDepth {
		logSumWSub := math.Inf(-1)
		var valid bool
		if r.Float64() > 0.5 {
			// Extend forward: the old trajectory becomes the backward part.
			copy(k.rhoB, k.rho)
			copy(k.pBF, k.pFF)
			copy(k.sBF, k.sFF)
			clear(k.rhoF)
			valid = k.buildTree(depth, &k.fwd, &k.prop, k.sFB, k.sFF, k.rhoF, k.pFB, k.pFF, 1, &logSumWSub)
		} else {
			copy(k.rhoF, k.rho)
			copy(k.pFB, k.pBB)
			copy(k.sFB, k.sBB)
			clear(k.rhoB)
			valid = k.buildTree(depth, &k.bck, &k.prop, k.sBF, k.sBB, k.rhoB, k.pBF, k.pBB, -1, &logSumWSub)
		}
		if !valid {
			break
		}
		depth++

		// Biased progressive sampling: prefer the new subtree if it is heavier.
		if logSumWSub > logSumW || r.Float64() < math.Exp(logSumWSub-logSumW) {
			k.sample.copyFrom(&k.prop)
		}
		logSumW = logAddExp(logSumW, logSumWSub)

		for i := range k.rho {
			k.rho[i] = k.rhoB[i] + k.rhoF[i]
		}
		// The criterion on the merged trajectory, then the extra checks: each half
		// extended by the nearest point of the other.
		if !uTurnFree(k.sBB, k.sFF, k.rhoB, k.rhoF) ||
			!uTurnFree(k.sBB, k.sFB, k.rhoB, k.pFB) ||
			!uTurnFree(k.sBF, k.sFF, k.rhoF, k.pBF) {
			break
		}
	}

	copy(dst.Q, k.sample.q)
	copy(dst.Grad, k.sample.g)
	dst.LogDensity = k.sample.lp
	k.r = nil // do not keep the caller's generator reachable
	return Info{
		AcceptStat: k.sumMetro / float64(k.nLeapfrog),
		StepSize:   k.eps,
		TreeDepth:  depth,
		NumSteps:   k.nLeapfrog,
		Divergent:  k.divergent,
		Energy:     k.sample.h,
	}
}

// buildTree integrates 2^depth leapfrog steps from z in direction sign, leaving z at
// the new end. It writes the subtree's multinomial proposal into prop, its end
// momenta and sharp momenta (beg is the end adjacent to the existing trajectory),
// adds its summed momentum to rho and its log summed weight to *logSumW. It returns
// false if the subtree diverged or contains a U-turn, in which case the caller
// discards it.
func (k *NUTS) buildTree(depth int, z *phasePoint, prop *candidate,
	sBeg, sEnd, rho, pBeg, pEnd []float64, sign float64, logSumW *float64) bool {
	if depth == 0 {
		k.leapfrog(z, sign*k.eps)
		k.nLeapfrog++
		h := -z.lp + k.metric.velocity(sBeg, z.p)
		if !finite(h) {
			h = math.Inf(1) // also +Inf log densities: treat as a divergence, never a jackpot
		}
		if h-k.h0 > k.MaxDeltaH {
			k.divergent = true
		}
		*logSumW = logAddExp(*logSumW, k.h0-h)
		if k.h0-h > 0 {
			k.sumMetro++
		} else {
			k.sumMetro += math.Exp(k.h0 - h)
		}
		copy(prop.q, z.q)
		copy(prop.g, z.g)
		prop.lp, prop.h = z.lp, h
		copy(sEnd, sBeg)
		rho = rho[:len(z.p)]
		for i, v := range z.p {
			rho[i] += v
		}
		copy(pBeg, z.p)
		copy(pEnd, z.p)
		return !k.divergent
	}

	l := &k.levels[depth]
	logSumWInit := math.Inf(-1)
	clear(l.rhoInit)
	if !k.buildTree(depth-1, z, prop, sBeg, l.sInitEnd, l.rhoInit, pBeg, l.pInitEnd, sign, &logSumWInit) {
		return false
	}
	logSumWFinal := math.Inf(-1)
	clear(l.rhoFinal)
	if !k.buildTree(depth-1, z, &l.final, l.sFinalBeg, sEnd, l.rhoFinal, l.pFinalBeg, pEnd, sign, &logSumWFinal) {
		return false
	}

	// Uniform progressive sampling between the two halves.
	logSumWSub := logAddExp(logSumWInit, logSumWFinal)
	*logSumW = logAddExp(*logSumW, logSumWSub)
	if logSumWFinal > logSumWSub || k.r.Float64() < math.Exp(logSumWFinal-logSumWSub) {
		prop.copyFrom(&l.final)
	}

	rho, rhoFinal := rho[:len(l.rhoInit)], l.rhoFinal[:len(l.rhoInit)]
	for i, v := range l.rhoInit {
		rho[i] += v + rhoFinal[i]
	}
	return uTurnFree(sBeg, sEnd, l.rhoInit, l.rhoFinal) &&
		uTurnFree(sBeg, l.sFinalBeg, l.rhoInit, l.pFinalBeg) &&
		uTurnFree(l.sInitEnd, sEnd, l.rhoFinal, l.pInitEnd)
}

// leapfrog advances z by one step of size eps (negative to go backwards).
func (k *NUTS) leapfrog(z *phasePoint, eps float64) {
	half := 0.5 * eps
	p := z.p[:len(z.g)]
	for i, g := range z.g {
		p[i] += half * g
	}
	if k.metric.dense {
		k.metric.velocity(k.vel, z.p)
		for i, vi := range k.vel {
			z.q[i] += eps * vi
		}
	} else {
		for i, d := range k.metric.inv {
			z.q[i] += eps * d * z.p[i]
		}
	}
	z.lp = k.target.LogDensityGrad(z.q, z.g)
	for i, g := range z.g {
		p[i] += half * g
	}
}

func (c *candidate) copyFrom(src *candidate) {
	copy(c.q, src.q)
	copy(c.g, src.g)
	c.lp, c.h = src.lp, src.h
}

// uTurnFree is the generalised no-U-turn criterion p♯₋·ρ > 0 and p♯₊·ρ > 0 between
// the sharp momenta at the two ends of a trajectory whose summed momentum is
// ρ = a + b; ρ is summed on the fly, in one pass, rather than stored.
func uTurnFree(sMinus, sPlus, a, b []float64) bool {
	b, sMinus, sPlus = b[:len(a)], sMinus[:len(a)], sPlus[:len(a)] // hoist bounds checks
	var dm, dp float64
	for i, v := range a {
		r := v + b[i]
		dm += sMinus[i] * r
		dp += sPlus[i] * r
	}
	return dp > 0 && dm > 0
}

// logAddExp returns log(exp(a) + exp(b)) for a, b < +Inf.
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

// ErrStepSize is wrapped by the errors of FindStepSize: the step size needed to reach
// the target acceptance grew beyond 1e7 (the posterior is likely improper) or shrank
// to zero (the density or gradient is not finite near the point).
var ErrStepSize = errors.New("mcmc: no acceptable step size")

// FindStepSize is Stan's initial step-size heuristic: starting from ε = p.StepSize it
// draws a fresh momentum, takes one leapfrog step from s, and doubles ε while the
// acceptance probability exp(H0 − H) exceeds 0.8 or halves it while it is below 0.8
// (the direction is set by the first trial), stopping at the first crossing. It
// returns p.StepSize unchanged if that is zero, NaN or above 1e7, as Stan does, and
// panics if it is negative or infinite. It does not modify s.
func (k *NUTS) FindStepSize(r *rand.Rand, s *State, p Params) (float64, error) {
	if len(s.Q) != k.n || len(s.Grad) != k.n {
		panic("mcmc: NUTS.FindStepSize state does not match the target dimension")
	}
	eps := p.StepSize
	if eps < 0 || math.IsInf(eps, 1) {
		panic(fmt.Sprintf("mcmc: NUTS.FindStepSize step size %g is negative or infinite", eps))
	}
	if eps == 0 || math.IsNaN(eps) || eps > 1e7 {
		return eps, nil
	}
	k.setMetric(p.Metric)
	logTarget := math.Log(0.8)
	dH := k.oneStepEnergyChange(r, s, eps)
	up := dH > logTarget
	for {
		dH = k.oneStepEnergyChange(r, s, eps)
		if up && !(dH > logTarget) || !up && !(dH < logTarget) {
			return eps, nil
		}
		if up {
			eps *= 2
		} else {
			eps /= 2
		}
		if eps > 1e7 {
			return eps, fmt.Errorf("%w: step size above 1e7, the posterior may be improper", ErrStepSize)
		}
		if eps == 0 {
			return eps, fmt.Errorf("%w: step size underflowed to zero", ErrStepSize)
		}
	}
}

// oneStepEnergyChange returns H0 − H after one leapfrog step of size eps from s with a
// fresh momentum, with a non-finite H counting as +Inf.
func (k *NUTS) oneStepEnergyChange(r *rand.Rand, s *State, eps float64) float64 {
	z := &k.heuristicPoint
	copy(z.q, s.Q)
	copy(z.g, s.Grad)
	z.lp = s.LogDensity
	k.metric.sampleMomentum(r, z.p)
	h0 := -z.lp + k.metric.velocity(k.sFF, z.p)
	k.leapfrog(z, eps)
	h := -z.lp + k.metric.velocity(k.sFF, z.p)
	if !finite(h) {
		h = math.Inf(1)
	}
	return h0 - h
}
