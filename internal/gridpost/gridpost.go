// Package gridpost computes the posterior of the variance parameters (σ², τ²) of the
// Gaussian model
//
//	y ~ N(μ·1, σ²K + τ²I),   log σ² ~ N(a_σ, b_σ²),   log τ² ~ N(a_τ, b_τ²),
//
// on a grid, where K is a known symmetric positive semi-definite m×m kernel (for a
// Brownian-motion trait on a phylogeny with the root fixed, K[i,j] is the root-to-MRCA
// distance of leaves i and j), y holds m observations, μ is a known mean, and σ² and τ²
// are the rate and the observation-noise variance. The priors are independent; by default
// μ = 0 and both priors are N(0, 2²).
//
// The log-likelihood is evaluated from one symmetric eigendecomposition K = UΛUᵀ: with
// w = Uᵀ(y − μ·1),
//
//	log N(y; μ·1, σ²K + τ²I) = −½ Σ_i [log 2π + log(σ²λ_i + τ²) + w_i²/(σ²λ_i + τ²)],
//
// so every grid point costs O(m).
//
// Two summaries of the marginal posteriors of σ² and τ² are provided, both computed on a
// grid in (log σ², log τ²):
//
//   - The notebook box ([Model.NotebookTable]) reproduces the "analytic grid posterior" of
//     notebooks 05/06 of the hyperiax library: a 200×200 grid on [−3, 2]×[−5, 1] with
//     Riemann sums, a right-endpoint cumulative sum as CDF and quantiles interpolated
//     linearly in σ² (not log σ²). That box truncates the posterior and its quantiles are
//     biased by half a grid cell, so it is reproduced for comparison with the published
//     numbers only.
//   - The exact posterior ([Model.ExactTable]) uses the wide box [−9, 5]×[−16, 6],
//     trapezoidal integration in log space and quantiles interpolated linearly in log
//     space. With [ExactN] = 1600 points per axis the means are converged to 1e-8 and the
//     quantiles to about 5e-5 relative (they converge as O(h²)); samplers are checked
//     against this one.
package gridpost

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
)

// Grid boxes used by [Model.NotebookGrid] and [Model.ExactGrid].
const (
	// NotebookN is the number of points per axis of the notebook box.
	NotebookN = 200
	// NotebookLogSigmaSqMin and NotebookLogSigmaSqMax bound log σ² in the notebook box.
	NotebookLogSigmaSqMin, NotebookLogSigmaSqMax = -3.0, 2.0
	// NotebookLogTauSqMin and NotebookLogTauSqMax bound log τ² in the notebook box.
	NotebookLogTauSqMin, NotebookLogTauSqMax = -5.0, 1.0

	// ExactN is the default number of points per axis of the exact grid.
	ExactN = 1600
	// ExactLogSigmaSqMin and ExactLogSigmaSqMax bound log σ² in the exact box.
	ExactLogSigmaSqMin, ExactLogSigmaSqMax = -9.0, 5.0
	// ExactLogTauSqMin and ExactLogTauSqMax bound log τ² in the exact box.
	ExactLogTauSqMin, ExactLogTauSqMax = -16.0, 6.0
)

// Normal is a univariate normal distribution, used as a prior on a log variance.
type Normal struct {
	Mean, SD float64
}

// LogProb returns the log density of n at x.
func (n Normal) LogProb(x float64) float64 {
	z := (x - n.Mean) / n.SD
	return -0.5*z*z - math.Log(n.SD) - 0.5*math.Log(2*math.Pi)
}

// Config holds the known mean and the priors of a [Model].
type Config struct {
	// Mu is the known mean of every observation.
	Mu float64
	// LogSigmaSqPrior is the prior of log σ².
	LogSigmaSqPrior Normal
	// LogTauSqPrior is the prior of log τ².
	LogTauSqPrior Normal
}

// DefaultConfig returns the configuration of hyperiax notebooks 05/06: μ = 0 and
// N(0, 2²) priors on log σ² and log τ².
func DefaultConfig() Config {
	return Config{
		Mu:              0,
		LogSigmaSqPrior: Normal{Mean: 0, SD: 2},
		LogTauSqPrior:   Normal{Mean: 0, SD: 2},
	}
}

func (c Config) validate() error {
	if !isFinite(c.Mu) {
		return fmt.Errorf("gridpost: mean μ = %v is not finite", c.Mu)
	}
	for _, p := range []struct {
		name string
		n    Normal
	}{{"log σ²", c.LogSigmaSqPrior}, {"log τ²", c.LogTauSqPrior}} {
		if !isFinite(p.n.Mean) || !isFinite(p.n.SD) || p.n.SD <= 0 {
			return fmt.Errorf("gridpost: invalid prior on %s: mean %v, sd %v", p.name, p.n.Mean, p.n.SD)
		}
	}
	return nil
}

// Model is the Gaussian model y ~ N(μ·1, σ²K + τ²I) with normal priors on log σ² and
// log τ², reduced to the eigenvalues of K and the data rotated into its eigenbasis.
// A Model is immutable and safe for concurrent use.
type Model struct {
	cfg    Config
	lambda []float64 // eigenvalues of K, ascending, non-negative
	wsq    []float64 // squared coordinates of y − μ·1 in the eigenbasis of K
}

// New returns the model for the m×m kernel k (row-major, len(k) = m·m), the m
// observations y and the configuration cfg; a nil cfg means [DefaultConfig].
// It returns an error if the lengths do not match, if any value is not finite, if k is
// not symmetric, if k is not positive semi-definite, or if cfg is invalid (a prior
// standard deviation that is not positive, for example). k and y are not retained.
func New(k, y []float64, cfg *Config) (*Model, error) {
	c := DefaultConfig()
	if cfg != nil {
		c = *cfg
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	m := len(y)
	if m == 0 {
		return nil, errors.New("gridpost: no observations")
	}
	if len(k) != m*m {
		return nil, fmt.Errorf("gridpost: kernel has %d elements, want %d×%d = %d", len(k), m, m, m*m)
	}
	for i, v := range y {
		if !isFinite(v) {
			return nil, fmt.Errorf("gridpost: observation %d is %v", i, v)
		}
	}
	var kmax float64
	for i, v := range k {
		if !isFinite(v) {
			return nil, fmt.Errorf("gridpost: kernel element (%d,%d) is %v", i/m, i%m, v)
		}
		kmax = math.Max(kmax, math.Abs(v))
	}
	for i := 0; i < m; i++ {
		for j := i + 1; j < m; j++ {
			if math.Abs(k[i*m+j]-k[j*m+i]) > 1e-12*kmax {
				return nil, fmt.Errorf("gridpost: kernel is not symmetric: K[%d,%d] = %v, K[%d,%d] = %v",
					i, j, k[i*m+j], j, i, k[j*m+i])
			}
		}
	}

	sym := mat.NewSymDense(m, append([]float64(nil), k...))
	var es mat.EigenSym
	if !es.Factorize(sym, true) {
		return nil, errors.New("gridpost: eigendecomposition of the kernel failed")
	}
	lambda := es.Values(nil)
	var u mat.Dense
	es.VectorsTo(&u)

	// Eigenvalues of a PSD matrix computed in floating point may come out slightly
	// negative; accept a backward-error-sized negative part and clamp it to zero.
	lmax := math.Max(math.Abs(lambda[0]), math.Abs(lambda[m-1]))
	tol := 64 * float64(m) * 0x1p-52 * lmax
	for i, l := range lambda {
		if l < -tol {
			return nil, fmt.Errorf("gridpost: kernel is not positive semi-definite: eigenvalue %v", l)
		}
		if l < 0 {
			lambda[i] = 0
		}
	}

	r := make([]float64, m)
	for i, v := range y {
		r[i] = v - c.Mu
	}
	wsq := make([]float64, m)
	for j := range wsq {
		var s float64
		for i := 0; i < m; i++ {
			s += u.At(i, j) * r[i]
		}
		wsq[j] = s * s
	}
	return &Model{cfg: c, lambda: lambda, wsq: wsq}, nil
}

// Len returns the number of observations m.
func (m *Model) Len() int { return len(m.lambda) }

// Config returns the mean and priors of the model.
func (m *Model) Config() Config { return m.cfg }

// Eigenvalues returns the eigenvalues of K in ascending order (negative rounding
// errors clamped to zero), appended to dst.
func (m *Model) Eigenvalues(dst []float64) []float64 { return append(dst, m.lambda...) }

// LogLik returns log N(y; μ·1, σ²K + τ²I) for σ² = sigma2 and τ² = tau2. It returns NaN if
// either argument is negative or NaN, and −Inf if σ²K + τ²I is singular (the
// distribution then has no density).
func (m *Model) LogLik(sigma2, tau2 float64) float64 {
	if !(sigma2 >= 0) || !(tau2 >= 0) {
		return math.NaN()
	}
	return m.logLik(sigma2, tau2)
}

func (m *Model) logLik(sigma2, tau2 float64) float64 {
	// Σ log d_i is accumulated as the log of a running product, which is flushed into s
	// before it can overflow or underflow; this saves most of the logarithms.
	s := float64(len(m.lambda)) * math.Log(2*math.Pi)
	prod := 1.0
	for i, l := range m.lambda {
		d := sigma2*l + tau2
		if !(d > 0) {
			return math.Inf(-1)
		}
		s += m.wsq[i] / d
		if d > 1e100 || d < 1e-100 {
			s += math.Log(d)
			continue
		}
		if prod > 1e100 || prod < 1e-100 {
			s += math.Log(prod)
			prod = 1
		}
		prod *= d
	}
	return -0.5 * (s + math.Log(prod))
}

// LogPosterior returns the unnormalised log posterior density of (log σ², log τ²) at
// (logSigmaSq, logTauSq): LogLik(exp(logSigmaSq), exp(logTauSq)) plus the two log prior
// densities.
func (m *Model) LogPosterior(logSigmaSq, logTauSq float64) float64 {
	return m.LogLik(math.Exp(logSigmaSq), math.Exp(logTauSq)) +
		m.cfg.LogSigmaSqPrior.LogProb(logSigmaSq) + m.cfg.LogTauSqPrior.LogProb(logTauSq)
}

// Rule selects how a [Grid] integrates and how it summarises its marginals.
type Rule int

const (
	// Riemann is the rule of the hyperiax notebooks: the grid must be evenly spaced with
	// steps h; integrals are h·Σ f, the CDF at grid point i is h·Σ_{j≤i} p_j, and a
	// quantile is found by linear interpolation of σ² (not log σ²) against the CDF.
	Riemann Rule = iota + 1
	// Trapezoid integrates with the trapezoidal rule in log space, takes the CDF as the
	// cumulative trapezoid, and finds a quantile by linear interpolation of the log
	// variance against the CDF.
	Trapezoid
)

// String returns the name of the rule.
func (r Rule) String() string {
	switch r {
	case Riemann:
		return "Riemann"
	case Trapezoid:
		return "Trapezoid"
	}
	return fmt.Sprintf("Rule(%d)", int(r))
}

// Grid is the posterior of (log σ², log τ²) evaluated on a rectangular grid.
type Grid struct {
	// LogSigmaSq and LogTauSq are the grid axes, strictly increasing.
	LogSigmaSq, LogTauSq []float64
	// LogDensity is the log posterior density of (log σ², log τ²), row-major with
	// len(LogSigmaSq) rows and len(LogTauSq) columns, normalised so that its exponential
	// integrates to one under Rule.
	LogDensity []float64
	// Rule is the integration and summary rule.
	Rule Rule
}

// Grid evaluates the posterior on the grid logSigmaSq × logTauSq and normalises it
// under rule. Each axis needs at least two strictly increasing finite points; the
// Riemann rule also needs evenly spaced axes. The axes are copied.
func (m *Model) Grid(logSigmaSq, logTauSq []float64, rule Rule) (*Grid, error) {
	if rule != Riemann && rule != Trapezoid {
		return nil, fmt.Errorf("gridpost: unknown rule %v", rule)
	}
	for _, ax := range []struct {
		name string
		x    []float64
	}{{"log σ²", logSigmaSq}, {"log τ²", logTauSq}} {
		if err := checkAxis(ax.x, rule == Riemann); err != nil {
			return nil, fmt.Errorf("gridpost: %s axis: %w", ax.name, err)
		}
	}
	ns, nt := len(logSigmaSq), len(logTauSq)
	g := &Grid{
		LogSigmaSq: append([]float64(nil), logSigmaSq...),
		LogTauSq:   append([]float64(nil), logTauSq...),
		LogDensity: make([]float64, ns*nt),
		Rule:       rule,
	}

	tau2 := make([]float64, nt)
	priorT := make([]float64, nt)
	for j, lt := range g.LogTauSq {
		tau2[j] = math.Exp(lt)
		priorT[j] = m.cfg.LogTauSqPrior.LogProb(lt)
	}
	lp := g.LogDensity
	lpMax := math.Inf(-1)
	for i, ls := range g.LogSigmaSq {
		sigma2 := math.Exp(ls)
		priorS := m.cfg.LogSigmaSqPrior.LogProb(ls)
		row := lp[i*nt : (i+1)*nt]
		for j := range row {
			v := m.logLik(sigma2, tau2[j]) + priorS + priorT[j]
			row[j] = v
			if v > lpMax {
				lpMax = v
			}
		}
	}
	if math.IsNaN(lpMax) || math.IsInf(lpMax, 0) {
		return nil, fmt.Errorf("gridpost: log posterior on the grid has maximum %v", lpMax)
	}

	ws, wt := g.weights()
	var z float64
	for i := 0; i < ns; i++ {
		var r float64
		for j, v := range lp[i*nt : (i+1)*nt] {
			r += wt[j] * math.Exp(v-lpMax)
		}
		z += ws[i] * r
	}
	logZ := lpMax + math.Log(z)
	for i := range lp {
		lp[i] -= logZ
	}
	return g, nil
}

// NotebookGrid returns the grid of hyperiax notebook 05: NotebookN evenly spaced points
// on [NotebookLogSigmaSqMin, NotebookLogSigmaSqMax] × [NotebookLogTauSqMin,
// NotebookLogTauSqMax] with the Riemann rule.
func (m *Model) NotebookGrid() (*Grid, error) {
	ls := floats.Span(make([]float64, NotebookN), NotebookLogSigmaSqMin, NotebookLogSigmaSqMax)
	lt := floats.Span(make([]float64, NotebookN), NotebookLogTauSqMin, NotebookLogTauSqMax)
	return m.Grid(ls, lt, Riemann)
}

// ExactGrid returns n×n evenly spaced points on [ExactLogSigmaSqMin, ExactLogSigmaSqMax]
// × [ExactLogTauSqMin, ExactLogTauSqMax] with the trapezoidal rule. n must be at least 2;
// [ExactN] points give the quantiles to about 5e-5 relative.
func (m *Model) ExactGrid(n int) (*Grid, error) {
	if n < 2 {
		return nil, fmt.Errorf("gridpost: need at least 2 points per axis, got %d", n)
	}
	ls := floats.Span(make([]float64, n), ExactLogSigmaSqMin, ExactLogSigmaSqMax)
	lt := floats.Span(make([]float64, n), ExactLogTauSqMin, ExactLogTauSqMax)
	return m.Grid(ls, lt, Trapezoid)
}

// NotebookTable returns the summary of [Model.NotebookGrid], the numbers printed by
// hyperiax notebook 05 as the "analytic" posterior.
func (m *Model) NotebookTable() (Table, error) {
	g, err := m.NotebookGrid()
	if err != nil {
		return Table{}, err
	}
	return g.Table(), nil
}

// ExactTable returns the summary of [Model.ExactGrid] with n points per axis.
func (m *Model) ExactTable(n int) (Table, error) {
	g, err := m.ExactGrid(n)
	if err != nil {
		return Table{}, err
	}
	return g.Table(), nil
}

// Marginals returns the marginal posterior densities pLogSigmaSq of log σ² at the
// points g.LogSigmaSq and pLogTauSq of log τ² at the points g.LogTauSq, each integrating
// to one under g.Rule. The density of σ² itself at exp(g.LogSigmaSq[i]) is
// pLogSigmaSq[i]/exp(g.LogSigmaSq[i]), and likewise for τ².
func (g *Grid) Marginals() (pLogSigmaSq, pLogTauSq []float64) {
	ns, nt := len(g.LogSigmaSq), len(g.LogTauSq)
	ws, wt := g.weights()
	pLogSigmaSq = make([]float64, ns)
	pLogTauSq = make([]float64, nt)
	for i := 0; i < ns; i++ {
		for j, v := range g.LogDensity[i*nt : (i+1)*nt] {
			p := math.Exp(v)
			pLogSigmaSq[i] += wt[j] * p
			pLogTauSq[j] += ws[i] * p
		}
	}
	return pLogSigmaSq, pLogTauSq
}

// Table summarises the marginal posteriors of σ² and τ² under g.Rule.
func (g *Grid) Table() Table {
	ps, pt := g.Marginals()
	return Table{
		SigmaSq: summarize(g.LogSigmaSq, ps, g.Rule),
		TauSq:   summarize(g.LogTauSq, pt, g.Rule),
	}
}

// weights returns the quadrature weights of the two axes under g.Rule.
func (g *Grid) weights() (ws, wt []float64) {
	return quadWeights(g.LogSigmaSq, g.Rule), quadWeights(g.LogTauSq, g.Rule)
}

// quadWeights returns the weights of the one-dimensional rule on the axis x:
// h for every point under Riemann (h = x[1] − x[0]), the trapezoid weights otherwise.
func quadWeights(x []float64, rule Rule) []float64 {
	n := len(x)
	w := make([]float64, n)
	if rule == Riemann {
		h := x[1] - x[0]
		for i := range w {
			w[i] = h
		}
		return w
	}
	for i := 0; i < n-1; i++ {
		h := 0.5 * (x[i+1] - x[i])
		w[i] += h
		w[i+1] += h
	}
	return w
}

// Summary summarises a posterior marginal.
type Summary struct {
	Mean   float64 `json:"mean"`
	Median float64 `json:"median"`
	Q025   float64 `json:"q025"` // 2.5% quantile
	Q975   float64 `json:"q975"` // 97.5% quantile
}

// Table holds the posterior summaries of σ² and τ².
type Table struct {
	SigmaSq Summary `json:"sigma_sq"`
	TauSq   Summary `json:"tau_sq"`
}

// summarize returns the summary of the variance v = exp(x) whose log has density p on
// the axis x.
func summarize(x, p []float64, rule Rule) Summary {
	n := len(x)
	w := quadWeights(x, rule)
	var mean float64
	for i, xi := range x {
		mean += w[i] * math.Exp(xi) * p[i]
	}
	cdf := make([]float64, n)
	var q func(level float64) float64
	switch rule {
	case Riemann:
		// cdf[i] = h·Σ_{j≤i} p_j; a quantile interpolates exp(x) linearly against cdf.
		h := x[1] - x[0]
		var s float64
		for i, pi := range p {
			s += pi
			cdf[i] = s * h
		}
		v := make([]float64, n)
		for i, xi := range x {
			v[i] = math.Exp(xi)
		}
		q = func(level float64) float64 { return interp(level, cdf, v) }
	default:
		// Cumulative trapezoid, renormalised to end at one; a quantile interpolates x
		// linearly against cdf and is then exponentiated.
		for i := 1; i < n; i++ {
			cdf[i] = cdf[i-1] + 0.5*(x[i]-x[i-1])*(p[i-1]+p[i])
		}
		total := cdf[n-1]
		for i := range cdf {
			cdf[i] /= total
		}
		q = func(level float64) float64 { return math.Exp(interp(level, cdf, x)) }
	}
	return Summary{Mean: mean, Median: q(0.5), Q025: q(0.025), Q975: q(0.975)}
}

// interp returns the piecewise-linear interpolant through (xp[i], fp[i]) at x, with xp
// non-decreasing, clamped to fp[0] below xp[0] and fp[n−1] above xp[n−1]. Inside, it
// uses the segment [xp[i−1], xp[i]) with xp[i] the first point greater than x.
func interp(x float64, xp, fp []float64) float64 {
	n := len(xp)
	if x <= xp[0] {
		return fp[0]
	}
	if x >= xp[n-1] {
		return fp[n-1]
	}
	i := sort.Search(n, func(i int) bool { return xp[i] > x })
	t := (x - xp[i-1]) / (xp[i] - xp[i-1])
	return fp[i-1] + t*(fp[i]-fp[i-1])
}

func checkAxis(x []float64, even bool) error {
	if len(x) < 2 {
		return fmt.Errorf("need at least 2 points, got %d", len(x))
	}
	for i, v := range x {
		if !isFinite(v) {
			return fmt.Errorf("point %d is %v", i, v)
		}
		if i > 0 && !(v > x[i-1]) {
			return fmt.Errorf("points %d and %d are not increasing: %v, %v", i-1, i, x[i-1], v)
		}
	}
	if even {
		h := (x[len(x)-1] - x[0]) / float64(len(x)-1)
		for i := 1; i < len(x); i++ {
			if math.Abs((x[i]-x[i-1])-h) > 1e-9*h {
				return fmt.Errorf("not evenly spaced at point %d", i)
			}
		}
	}
	return nil
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
