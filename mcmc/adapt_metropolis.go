package mcmc

import "math"

// MetropolisAdaptation tunes the proposal sizes of the Metropolis kernels during
// warmup, as WindowAdaptation tunes NUTS: stochastic approximation (Robbins–Monro,
// as in Andrieu & Thoms 2008, §4.1) of log p.StepSize, the multiplier of a
// RandomWalk's scales, towards the random-walk acceptance rate, and of log p.Beta, a
// PCN block's β, towards the pCN acceptance rate:
//
//	xₜ = xₜ₋₁ + (aₜ − δ)/t^0.6,  x̄ₜ = (1 − t^−0.75) x̄ₜ₋₁ + t^−0.75 xₜ,
//
// with aₜ the block's acceptance statistic, and x = log β projected onto x ≤ 0
// (β = 1 is an independence proposal from the prior). Sampling uses exp(x̄). Unlike
// the dual averaging NUTS uses, whose iterates fluctuate by about √(δ(1 − δ))/γ ≈ 8
// in log scale when the statistic is a 0/1 decision, the steps here shrink, so the
// proposals settle.
//
// The target rates δ are the random-walk optima of Gelman, Roberts & Gilks (1996)
// and Roberts, Gelman & Gilks (1997): 0.44 for a block of one coordinate and 0.234
// for larger ones (the efficiency curve is flat enough near the optimum that the
// high-dimensional value serves from two coordinates on). A pCN block follows the
// same rule: it moves like a random walk in the directions the likelihood informs.
//
// The statistic of a random-walk block is its acceptance probability min(1, α);
// for the pCN block of a PCNRW, whose Info keeps only the decision, it is the
// decision (0 or 1).
//
// A RandomWalk kernel on d ≥ 2 coordinates also learns the shape of its proposal:
// at the end of each slow window of a schedule like Stan's (BuildSchedule with
// buffers of 15% and 10% of the warmup and a first window of 5%, doubling), the
// covariance Σ̂ of its positions in that window becomes p.Metric, the proposal
// covariance of RandomWalk (Haario, Saksman & Tamminen 2001, estimated in windows
// so that the sampling phase is an ordinary Metropolis chain). Its off-diagonal
// part is shrunk by w = a/(a + 5d) for a accepted moves in the window (the
// positions span at most a directions), and a window with fewer than max(10, 2d)
// accepted moves leaves the proposal as it was: estimates from a few moves would
// otherwise stretch it into a needle along them, where the next window's moves
// would stay. The multiplier is rescaled at the switch so that the proposal's
// generalised variance (its determinant) is unchanged, and the recursion carries
// on from there. Warmups shorter than 200 iterations adapt only the multiplier,
// and so (p.Metric stays nil) does NoAdapt, a walk on one coordinate, or one that
// never makes enough moves.
//
// The random-walk block of a PCNRW keeps its scales (only the multiplier adapts):
// it moves the parameters given the latent block, so its proposal should follow
// their conditional spread given z, which the covariance of the warmup draws, a
// marginal one, does not measure. On hyperiax notebook 07's target the marginal
// covariance gave the block's parameters three to four times less ESS than the
// scales did.
type MetropolisAdaptation struct {
	rw, pcn *robbinsMonro // nil for a block the kernel does not have
	beta0   float64
	started bool

	// Covariance of a random-walk block of two or more coordinates.
	block    []int
	scales   []float64
	slow     slowWindows
	est      *welford
	accepted int // random-walk moves accepted in the current window
	x        []float64
}

// minCovarianceWarmup is the shortest warmup over which MetropolisAdaptation
// estimates a proposal covariance: its first window then has 10 draws.
const minCovarianceWarmup = 200

// robbinsMonro is the recursion of MetropolisAdaptation for one log scale.
type robbinsMonro struct {
	target  float64
	max     float64 // upper bound of x: 0 for log β, +Inf for the multiplier
	t       int
	x, xBar float64
}

// blockTarget is the target acceptance rate of a block of d coordinates.
func blockTarget(d int) float64 {
	if d == 1 {
		return 0.44
	}
	return 0.234
}

func (r *robbinsMonro) restart(v float64) { r.t, r.x, r.xBar = 0, math.Log(v), math.Log(v) }

func (r *robbinsMonro) update(a float64) float64 {
	if math.IsNaN(a) {
		a = 0
	}
	r.t++
	t := float64(r.t)
	r.x = min(r.x+(min(a, 1)-r.target)/math.Pow(t, 0.6), r.max)
	w := math.Pow(t, -0.75)
	r.xBar = (1-w)*r.xBar + w*r.x
	return math.Exp(r.x)
}

// NewMetropolisAdaptation returns the adaptation over numWarmup iterations of a
// RandomWalk, PCN or PCNRW kernel, or false for any other kernel.
func NewMetropolisAdaptation(k Kernel, numWarmup int) (*MetropolisAdaptation, bool) {
	rw, pcn := metropolisBlocks(k)
	if rw == nil && pcn == nil {
		return nil, false
	}
	m := &MetropolisAdaptation{}
	if rw != nil {
		m.rw = &robbinsMonro{target: blockTarget(len(rw.index)), max: math.Inf(1)}
	}
	if pcn != nil {
		// log β stays at most 0: a recursion that climbed above while every
		// proposal was accepted (say, early, where the likelihood ignores z) could
		// not come back down in time with its shrinking steps.
		m.pcn = &robbinsMonro{target: blockTarget(len(pcn.index)), max: 0}
		m.beta0 = pcn.beta
	}
	if _, alone := k.(*RandomWalk); alone && len(rw.index) >= 2 && numWarmup >= minCovarianceWarmup {
		d := len(rw.index)
		m.block, m.scales = rw.index, rw.scales
		m.slow.windows = BuildSchedule(numWarmup, numWarmup*15/100, numWarmup/20, numWarmup/10)
		m.est = newWelford(d, true)
		m.x = make([]float64, d)
	}
	return m, true
}

// Windows returns the slow windows in which the proposal covariance of the
// random-walk block is estimated (none if it is not).
func (m *MetropolisAdaptation) Windows() []Window { return append([]Window(nil), m.slow.windows...) }

// Targets returns the acceptance rates δ of the random-walk and pCN blocks (0 for
// a block the kernel does not have).
func (m *MetropolisAdaptation) Targets() (rw, pcn float64) {
	if m.rw != nil {
		rw = m.rw.target
	}
	if m.pcn != nil {
		pcn = m.pcn.target
	}
	return rw, pcn
}

// Init starts the recursions at p.StepSize (0 means 1) and p.Beta (0 means the
// kernel's β), and writes those starting values into p.
func (m *MetropolisAdaptation) Init(p *Params) {
	if m.rw != nil {
		if p.StepSize == 0 {
			p.StepSize = 1
		}
		m.rw.restart(p.StepSize)
	}
	if m.pcn != nil {
		if p.Beta == 0 {
			p.Beta = m.beta0
		}
		m.pcn.restart(p.Beta)
	}
	m.slow.iter, m.slow.next, m.accepted = 0, 0, 0
	if m.est != nil {
		m.est.reset()
	}
	m.started = true
}

// Update adapts p after one warmup transition that produced s and info. It panics
// if called before Init.
func (m *MetropolisAdaptation) Update(s *State, info Info, p *Params) {
	if !m.started {
		panic("mcmc: MetropolisAdaptation.Update before Init")
	}
	switch {
	case m.pcn == nil: // a RandomWalk: Info.AcceptStat is its statistic
		p.StepSize = m.rw.update(info.AcceptStat)
	case m.rw == nil: // a PCN: likewise
		p.Beta = m.pcn.update(info.AcceptStat)
	default:
		a := 0.0
		if info.Accepted[0] {
			a = 1
		}
		p.Beta = m.pcn.update(a)
		p.StepSize = m.rw.update(info.AcceptStat)
	}
	if m.est != nil { // only a standalone RandomWalk: Accepted[0] is its move
		m.updateCovariance(s, info.Accepted[0], p)
	}
}

// updateCovariance adds s to the current window's estimate and, at the window's
// end, makes the estimate the proposal covariance.
func (m *MetropolisAdaptation) updateCovariance(s *State, moved bool, p *Params) {
	_, in, end := m.slow.step()
	if in {
		for k, j := range m.block {
			m.x[k] = s.Q[j]
		}
		m.est.add(m.x)
		if moved {
			m.accepted++
		}
	}
	if !end {
		return
	}
	cov, ok := m.est.shrunkCovariance(m.accepted)
	m.est.reset()
	m.accepted = 0
	if !ok {
		return
	}
	next := &Metric{}
	if next.setDense(cov) != nil {
		return
	}
	oldLogDet := 0.0
	if p.Metric != nil {
		oldLogDet = p.Metric.logDetInv()
	} else {
		for _, v := range m.scales {
			oldLogDet += 2 * math.Log(v)
		}
	}
	shift := (oldLogDet - next.logDetInv()) / float64(2*len(m.block))
	m.rw.x += shift
	m.rw.xBar += shift
	p.StepSize = math.Exp(m.rw.x)
	p.Metric = next
}

// Final sets p to the averaged values exp(x̄) of the blocks that had updates.
func (m *MetropolisAdaptation) Final(p *Params) {
	if m.rw != nil && m.rw.t > 0 {
		p.StepSize = math.Exp(m.rw.xBar)
	}
	if m.pcn != nil && m.pcn.t > 0 {
		p.Beta = math.Exp(m.pcn.xBar)
	}
}

// metropolisBlocks returns the random-walk and pCN blocks of a RandomWalk, PCN or
// PCNRW kernel (nil where it has none; both nil for other kernels).
func metropolisBlocks(k Kernel) (*RandomWalk, *PCN) {
	switch k := k.(type) {
	case *RandomWalk:
		return k, nil
	case *PCN:
		return nil, k
	case *PCNRW:
		return k.rw, k.pcn
	}
	return nil, nil
}
