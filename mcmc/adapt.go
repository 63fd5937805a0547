package mcmc

import (
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"
)

// Adaptation configures WindowAdaptation. Start from DefaultAdaptation: every field
// is used as given, zero included.
type Adaptation struct {
	// TargetAccept is δ, the mean accept_stat that dual averaging aims for.
	TargetAccept float64
	// Gamma, T0 and Kappa are the dual-averaging constants γ, t0 and κ
	// (Hoffman & Gelman 2014, §3.2).
	Gamma, T0, Kappa float64
	// InitBuffer, Window and TermBuffer are the schedule of BuildSchedule.
	InitBuffer, Window, TermBuffer int
	// Dense selects a dense inverse metric; the default is diagonal.
	Dense bool
}

// DefaultAdaptation returns Stan's defaults: δ = 0.8, γ = 0.05, t0 = 10, κ = 0.75,
// and windows 75 / 25 / 50 with a diagonal metric.
func DefaultAdaptation() Adaptation {
	return Adaptation{TargetAccept: 0.8, Gamma: 0.05, T0: 10, Kappa: 0.75,
		InitBuffer: 75, Window: 25, TermBuffer: 50}
}

// DualAveraging is Nesterov's dual averaging of log ε as Stan uses it
// (Hoffman & Gelman 2014, Algorithm 6): after t updates with acceptance statistics
// a₁…aₜ,
//
//	s̄ₜ = (1 − 1/(t+t0)) s̄ₜ₋₁ + (δ − min(aₜ, 1))/(t+t0),
//	xₜ = μ − s̄ₜ√t/γ,  ε = exp(xₜ),
//	x̄ₜ = (1 − t^−κ) x̄ₜ₋₁ + t^−κ xₜ.
//
// The step size to use after adaptation is exp(x̄ₜ) (Final).
type DualAveraging struct {
	// TargetAccept, Gamma, T0 and Kappa are δ, γ, t0 and κ.
	TargetAccept, Gamma, T0, Kappa float64
	// Mu is μ, the value log ε is shrunk towards.
	Mu float64

	t          int
	sBar, xBar float64
}

// NewDualAveraging returns dual averaging with the constants of a and μ = log(10ε0).
func NewDualAveraging(a Adaptation, eps0 float64) DualAveraging {
	d := DualAveraging{TargetAccept: a.TargetAccept, Gamma: a.Gamma, T0: a.T0, Kappa: a.Kappa}
	d.Restart(eps0)
	return d
}

// Restart forgets all updates and sets μ = log(10ε0).
func (d *DualAveraging) Restart(eps0 float64) {
	d.t, d.sBar, d.xBar = 0, 0, 0
	d.Mu = math.Log(10 * eps0)
}

// Update records one acceptance statistic and returns the step size for the next
// transition.
func (d *DualAveraging) Update(acceptStat float64) float64 {
	d.t++
	t := float64(d.t)
	a := min(acceptStat, 1)
	if math.IsNaN(a) {
		a = 0
	}
	eta := 1 / (t + d.T0)
	d.sBar = (1-eta)*d.sBar + eta*(d.TargetAccept-a)
	x := d.Mu - d.sBar*math.Sqrt(t)/d.Gamma
	w := math.Pow(t, -d.Kappa)
	d.xBar = (1-w)*d.xBar + w*x
	return math.Exp(x)
}

// Count returns the number of updates since the last Restart.
func (d *DualAveraging) Count() int { return d.t }

// Final returns exp(x̄), the averaged step size.
func (d *DualAveraging) Final() float64 { return math.Exp(d.xBar) }

// Window is a slow adaptation window: warmup iterations Start, …, End−1 (0-based)
// feed the metric estimate, which replaces the metric after iteration End−1.
type Window struct{ Start, End int }

// BuildSchedule returns Stan's windowed adaptation schedule for numWarmup
// iterations: an initial fast buffer of initBuffer iterations (step size only),
// slow windows starting with window iterations and doubling, and a final fast buffer
// of termBuffer iterations. A window is stretched to the end of the slow phase when
// the window after it would not fit. As in Stan, if the three stages do not fit they
// become 15% / 75% / 10% of numWarmup, and below 20 iterations there are no windows
// (only the step size adapts). It panics on negative arguments.
func BuildSchedule(numWarmup, initBuffer, window, termBuffer int) []Window {
	if numWarmup < 0 || initBuffer < 0 || window < 0 || termBuffer < 0 {
		panic("mcmc: BuildSchedule arguments must be non-negative")
	}
	if numWarmup < 20 {
		return nil
	}
	if initBuffer+window+termBuffer > numWarmup {
		initBuffer = int(0.15 * float64(numWarmup))
		termBuffer = int(0.10 * float64(numWarmup))
		window = numWarmup - initBuffer - termBuffer
	}
	if window == 0 {
		return nil
	}
	end := numWarmup - termBuffer
	var ws []Window
	for start, size := initBuffer, window; start < end; size *= 2 {
		stop := start + size
		// Stan checks the fit only for windows after the first.
		if len(ws) > 0 && stop+2*size > end {
			stop = end
		}
		ws = append(ws, Window{start, stop})
		start = stop
	}
	return ws
}

// welford accumulates a running mean and (co)variance (Welford 1962).
type welford struct {
	n     int
	count int
	dense bool
	mean  []float64
	m2    []float64 // n, or n×n row-major
	delta []float64
}

func newWelford(n int, dense bool) *welford {
	w := &welford{n: n, dense: dense, mean: make([]float64, n), delta: make([]float64, n)}
	if dense {
		w.m2 = make([]float64, n*n)
	} else {
		w.m2 = make([]float64, n)
	}
	return w
}

func (w *welford) reset() {
	w.count = 0
	clear(w.mean)
	clear(w.m2)
}

func (w *welford) add(x []float64) {
	w.count++
	c := float64(w.count)
	for i, v := range x {
		w.delta[i] = v - w.mean[i]
		w.mean[i] += w.delta[i] / c
	}
	if !w.dense {
		for i, v := range x {
			w.m2[i] += w.delta[i] * (v - w.mean[i])
		}
		return
	}
	for i := range w.n {
		for j, v := range x {
			w.m2[i*w.n+j] += w.delta[i] * (v - w.mean[j])
		}
	}
}

// regularizedTo writes Stan's regularised estimate
// (c/(c+5))·Σ̂ + 1e-3·(5/(c+5))·I, with Σ̂ the sample (co)variance of c draws, into m.
// It leaves m unchanged if fewer than two draws were added, as Stan does.
func (w *welford) regularizedTo(m *Metric) error {
	if w.count < 2 {
		return nil
	}
	c := float64(w.count)
	shrink, floor := c/(c+5), 1e-3*5/(c+5)
	if !w.dense {
		v := make([]float64, w.n)
		for i, s := range w.m2 {
			v[i] = shrink*s/(c-1) + floor
		}
		return m.setDiag(v)
	}
	s := mat.NewSymDense(w.n, nil)
	for i := range w.n {
		for j := i; j < w.n; j++ {
			// Average the two triangles: rounding makes m2 slightly asymmetric.
			cov := 0.5 * (w.m2[i*w.n+j] + w.m2[j*w.n+i]) / (c - 1)
			v := shrink * cov
			if i == j {
				v += floor
			}
			s.SetSym(i, j, v)
		}
	}
	return m.setDense(s)
}

// slowWindows tracks warmup iterations against the slow windows of a schedule.
type slowWindows struct {
	windows    []Window
	iter, next int // the next iteration, and the index of the current window
}

// step advances one warmup iteration i and reports whether i lies in the current
// window and whether it ends it (the caller then uses and resets its estimate).
func (w *slowWindows) step() (i int, in, end bool) {
	i = w.iter
	w.iter++
	if w.next >= len(w.windows) {
		return i, false, false
	}
	win := w.windows[w.next]
	in = i >= win.Start && i < win.End
	if end = i == win.End-1; end {
		w.next++
	}
	return i, in, end
}

// shrunkCovariance returns wΣ̂ + (1 − w)·diag(Σ̂), the sample covariance shrunk
// towards its diagonal, with w = a/(a + 5n) for a accepted moves among the draws: a
// random walk's positions in a window span at most a directions, so with few moves
// the off-diagonal part is mostly noise, and shrinking it keeps the correlation
// matrix wR̂ + (1 − w)I positive definite with condition number at most
// (1 + (n − 1)w)/(1 − w). The estimate does not depend on the
// coordinates' units. It returns false if fewer than max(10, 2n) moves were
// accepted or a variance is not positive and finite.
func (w *welford) shrunkCovariance(accepted int) (*mat.SymDense, bool) {
	if accepted < max(10, 2*w.n) || w.count < 2 {
		return nil, false
	}
	c := float64(w.count)
	a := float64(accepted)
	wt := a / (a + 5*float64(w.n))
	s := mat.NewSymDense(w.n, nil)
	for i := range w.n {
		for j := i; j < w.n; j++ {
			// Average the two triangles: rounding makes m2 slightly asymmetric.
			cov := 0.5 * (w.m2[i*w.n+j] + w.m2[j*w.n+i]) / (c - 1)
			if i == j {
				if !(cov > 0) || math.IsInf(cov, 1) {
					return nil, false
				}
				s.SetSym(i, i, cov)
				continue
			}
			s.SetSym(i, j, wt*cov)
		}
	}
	return s, true
}

// WindowAdaptation is Stan's warmup for an Adaptable kernel, kept outside the
// kernel: it wraps the Step loop and changes only Params. The step size follows
// DualAveraging throughout; the inverse metric is re-estimated at the end of every
// slow window of BuildSchedule from the positions drawn in that window, after which
// the step size is re-initialised by the kernel's FindStepSize and dual averaging
// restarts with μ = log(10ε). Use it as
//
//	w := NewWindowAdaptation(k, n, DefaultAdaptation())
//	err := w.Init(r, &s, &p)
//	for range n {
//		info := k.Step(r, &t, &s, p)
//		s, t = t, s
//		err = w.Update(r, &s, info, &p)
//	}
//	w.Final(&p)
//
// Unlike Stan, the first μ is log(10ε) with ε from the initial heuristic (as in
// BlackJAX), not from the user's initial step size. Updates allocate only at window
// ends.
type WindowAdaptation struct {
	kernel Adaptable
	cfg    Adaptation
	slow   slowWindows
	da     DualAveraging
	est    *welford
}

// NewWindowAdaptation prepares numWarmup iterations of adaptation of k.
func NewWindowAdaptation(k Adaptable, numWarmup int, a Adaptation) *WindowAdaptation {
	return &WindowAdaptation{
		kernel: k,
		cfg:    a,
		slow:   slowWindows{windows: BuildSchedule(numWarmup, a.InitBuffer, a.Window, a.TermBuffer)},
		est:    newWelford(k.Dim(), a.Dense),
	}
}

// Windows returns the slow windows of the schedule.
func (w *WindowAdaptation) Windows() []Window { return append([]Window(nil), w.slow.windows...) }

// Init sets p.Metric to an identity of the configured kind if it is nil (otherwise
// p.Metric is adapted in place, so it must not be shared), runs the step-size
// heuristic from s starting at p.StepSize (1 if zero), and starts dual averaging.
func (w *WindowAdaptation) Init(r *rand.Rand, s *State, p *Params) error {
	if p.Metric == nil {
		p.Metric = IdentityMetric(w.kernel.Dim(), w.cfg.Dense)
	}
	if p.StepSize == 0 {
		p.StepSize = 1
	}
	eps, err := w.kernel.FindStepSize(r, s, *p)
	if err != nil {
		return err
	}
	p.StepSize = eps
	w.da = NewDualAveraging(w.cfg, eps)
	w.slow.iter, w.slow.next = 0, 0
	w.est.reset()
	return nil
}

// Update adapts p after one warmup transition that produced s and info.
func (w *WindowAdaptation) Update(r *rand.Rand, s *State, info Info, p *Params) error {
	p.StepSize = w.da.Update(info.AcceptStat)
	i, in, end := w.slow.step()
	if in {
		w.est.add(s.Q)
	}
	if !end {
		return nil
	}
	if err := w.est.regularizedTo(p.Metric); err != nil {
		return fmt.Errorf("mcmc: metric estimate at warmup iteration %d: %w", i, err)
	}
	w.est.reset()
	eps, err := w.kernel.FindStepSize(r, s, *p)
	if err != nil {
		return fmt.Errorf("mcmc: step size after warmup iteration %d: %w", i, err)
	}
	p.StepSize = eps
	w.da.Restart(eps)
	return nil
}

// Final sets p.StepSize to the dual-averaged step size exp(x̄). If dual averaging has
// had no update since its last restart (no warmup, or a last window ending the
// warmup), the current step size is kept, where Stan would use exp(0) = 1.
func (w *WindowAdaptation) Final(p *Params) {
	if w.da.Count() > 0 {
		p.StepSize = w.da.Final()
	}
}
