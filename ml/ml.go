// Package ml fits trait-evolution models on a tree by maximum likelihood, using the exact
// log-likelihood of the backward filter (package bffg) and its adjoint score.
//
// The root state is profiled out analytically: for fixed parameters θ the filter gives
// log p(y | x_root, θ) = c + F'x − ½x'Hx, maximised at x̂ = H⁻¹F, so the profile
// log-likelihood is c + ½F'H⁻¹F and, by the envelope theorem, its gradient in θ is the
// score at x̂. The remaining parameters (log σ², log α and θ for OU, log τ² when the
// leaf noise is estimated) are fitted by L-BFGS (gonum/optimize); OU on an ultrametric
// tree is the exception (below). Ancestral states are the posterior means and standard
// deviations of the internal nodes under a flat root prior at the fitted parameters:
// the generalised-least-squares reconstruction that ape::ace and phytools::fastAnc
// report for Brownian motion.
//
// On an ultrametric tree every tip has the same root-to-tip time T, so under OU the root
// state x₀ and the optimum θ enter the likelihood only through the tips' common mean
// e^{−αT}x₀ + (1 − e^{−αT})θ and cannot be told apart. There, and on trees whose
// root-to-tip distances differ by at most 1% (rounded branch lengths), the fit estimates
// one intercept per trait, θ = x₀ (the mean of every node), as phylolm's OUfixedRoot
// does, and counts its parameters accordingly; Result.Ultrametric reports it. The tied
// model is a valid model on any tree and its likelihood is evaluated exactly on the tree
// given; the tolerance only chooses it where θ and x₀ are practically unidentifiable.
// Its intercept m, which moves every tip's mean with weight 1, is profiled out exactly:
// given the other parameters the log-likelihood is a + b'm − ½m'Cm (a Gaussian mean, C
// diagonal because the traits are independent), so two filter passes give b and C and
// the generalised-least-squares m̂ = C⁻¹b, and a third at m̂ the log-likelihood and, by
// the envelope theorem, its exact gradient in the others. L-BFGS then runs on the log
// parameters alone, so the fit does not depend on the data's units (fitting m along with
// them in data units stopped short of the optimum on data of large scale), and α·T may
// grow without bound: as α → ∞ with σ²/2α fixed the tips become independent with
// variance σ²/2α (white noise).
//
// Standard errors of the parameters and the root come from the observed information:
// the inverse of the negative Hessian of the log-likelihood in all estimated parameters
// (root included), by central differences of the exact score, with the delta method for
// the positive parameters (fitted on the log scale). A positive parameter at a
// boundary of its range (α → 0, the Brownian-motion limit, or a variance → 0) has no
// Wald standard error: it is reported as NaN and named in Result.AtBoundary, and the
// others are computed with it fixed. So has one in which the likelihood is nearly flat
// (Result.PoorlyIdentified), such as α as it runs to ∞ in the white-noise limit, and
// one strongly correlated with it (Result.Confounded), such as σ² there, of which only
// σ²/2α is determined.
//
// With several traits both models treat the traits as independent. By default they
// share one rate σ² (trait covariance σ²I, and one α and τ²), which suits traits on
// one scale; Config.PerTrait fits each trait on its own instead (covariance
// diag(σ²₁, …, σ²_d)), as fitting them one at a time would.
package ml

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/topology"
)

// Model names the edge model.
type Model string

// The supported models.
const (
	BM Model = "bm" // Brownian motion, parameters σ² (and the root)
	OU Model = "ou" // Ornstein–Uhlenbeck with one α, optimum θ per trait, σ²
)

// Config describes a fit.
type Config struct {
	Model Model
	// EstimateNoise fits an isotropic leaf noise variance τ²; otherwise NoiseVar is used
	// as known (0 means the tips are observed exactly).
	EstimateNoise bool
	NoiseVar      float64
	// PerTrait fits every trait separately: its own σ², and for OU its own α and θ,
	// and τ² when estimated. Result.Params then holds name_k for trait k (1-based),
	// and the log-likelihood, AIC and parameter count are those of the joint model
	// of independent traits.
	PerTrait bool
}

// Ancestral is the reconstruction at one node.
type Ancestral struct {
	Node int       // breadth-first index
	Name string    // label, or "" when unnamed
	Mean []float64 // posterior mean (per trait)
	SE   []float64 // posterior standard deviation (per trait)
}

// Result is a maximum-likelihood fit.
type Result struct {
	Params map[string]float64 // sigma2, alpha, theta (theta1.. for d > 1), tau2 when estimated
	Root   []float64          // x̂_root
	// SE and RootSE are the standard errors of Params and Root from the observed
	// information; NaN for a parameter at a boundary (AtBoundary), poorly identified
	// (PoorlyIdentified) or confounded with one (Confounded), and NaN where the
	// negative Hessian of the others is not positive definite.
	SE     map[string]float64
	RootSE []float64
	// AtBoundary names the positive parameters (sigma2, alpha, tau2) whose estimates
	// are at a boundary of their range, such as α → 0 (the Brownian-motion limit), and
	// says why. A Wald standard error is undefined there: their SE is NaN, and the other
	// standard errors treat them as fixed at their estimates. Nil when there are none.
	AtBoundary map[string]string
	// PoorlyIdentified names the positive parameters in which the likelihood is nearly
	// flat although they are not at a boundary, and says why: a standard error of their
	// log above 10, or a direction made mostly of their log in which the negative Hessian
	// is not positive definite. Near OU's white-noise limit (α → ∞ with σ²/2α fixed)
	// α is one. Their SE is NaN, and the other standard errors are conditional on them
	// (computed with them fixed). Nil when there are none.
	PoorlyIdentified map[string]string
	// Confounded names the positive parameters whose log moves with that of a poorly
	// identified one (correlation above 0.9 in absolute value, or a share of its flat
	// direction above 10%), such as σ² with α near the white-noise limit, where only
	// σ²/2α is determined, and says with which. Their SE is NaN too: the se they would
	// have with the poorly identified parameter fixed is not their uncertainty. Nil when
	// there are none.
	Confounded map[string]string
	// Ultrametric reports an OU fit on an ultrametric tree (to within 1%, see
	// TipDepths), where θ = root (one intercept per trait) because the two are not
	// separately identifiable.
	Ultrametric bool
	// TipDepths are the shortest and the longest root-to-tip distance.
	TipDepths [2]float64
	LogLik    float64
	AIC, AICc float64
	NumParams int // estimated parameters, the root's d included
	NumObs    int // observed values
	Ancestral []Ancestral
	Converged bool
}

// ErrCannotFit reports data that cannot identify the model.
var ErrCannotFit = errors.New("ml: model cannot be fitted")

// TraitError reports the failure of one trait's fit under Config.PerTrait; callers
// that know the traits' names can use Trait to name it.
type TraitError struct {
	Trait int // 0-based column of y
	Err   error
}

func (e *TraitError) Error() string { return fmt.Sprintf("trait %d: %v", e.Trait+1, e.Err) }
func (e *TraitError) Unwrap() error { return e.Err }

// problem holds the reusable state of one fit.
type problem struct {
	t     *topology.Topology
	d     int
	cfg   Config
	obs   bffg.Obs
	f     bffg.Filter
	g     bffg.Gradient
	bm    *bffg.BM
	ou    *bffg.OU
	theta []float64
	root  bffg.Root
	xhat  []float64
	hcov  []float64
	// tied: OU on an ultrametric tree, where θ = root is one intercept. u then has no
	// θ, and set leaves ou.Theta as the caller put it (full sets it to the intercept).
	tied bool
	// mstep (d) is the shift of the intercept by which tiedProfile measures the
	// curvature of the log-likelihood in it (the spread of each trait, in data units);
	// mhat, g0, g1, tv and tg are tiedProfile's scratch, mhat the last intercept m̂ it
	// found.
	mstep, mhat, g0, g1, tv, tg []float64
}

// ultrametricTol is the relative spread (max − min)/max of the root-to-tip distances up
// to which OU fits the tied model θ = root. That model is a restriction of OU evaluated
// exactly on the tree given, so the tolerance does not make the likelihood approximate;
// it decides only where θ and the root are practically unidentifiable. Apart, they are
// told only by how the tips' weights on the root, e^{−αT_i}, differ, and
// |e^{−αT_i} − e^{−αT_j}| ≈ αT·e^{−αT}·|T_i − T_j|/T ≤ e⁻¹·|T_i − T_j|/T: at a 1% spread
// less than 0.4% of the tips' mean, so θ − root is roughly a few hundred times less
// precise than the mean (on the 3-decimal tree of TestFitOUNearlyUltrametric, spread
// 0.2%, the untied fit ran the root to −1e19 with no finite standard errors). 1% covers branch lengths rounded to 3 decimals on a
// tree of height 1 (up to 5e-4 per edge; the anoles tree's distances differ by 2e-8),
// while tip ages that really differ (fossils, trees not on a clock) usually differ more.
const ultrametricTol = 1e-2

// tipDepths returns the shortest and the longest root-to-tip distance of t.
func tipDepths(t *topology.Topology) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for i := 0; i < t.NumLeaves(); i++ {
		h := t.Dist(t.Leaf(i))
		lo, hi = math.Min(lo, h), math.Max(hi, h)
	}
	return lo, hi
}

// ultrametric reports whether all tips of t are at the same distance from the root,
// within ultrametricTol relative.
func ultrametric(t *topology.Topology) bool {
	lo, hi := tipDepths(t)
	return hi > 0 && hi-lo <= ultrametricTol*hi
}

func (p *problem) numU() int {
	n := 1 // log σ²
	if p.cfg.Model == OU {
		n++ // log α
		if !p.tied {
			n += p.d // θ
		}
	}
	if p.cfg.EstimateNoise {
		n++
	}
	return n
}

// set applies the unconstrained parameters u and runs the filter.
func (p *problem) set(u []float64) (bffg.Parametric, error) {
	var m bffg.Parametric
	switch p.cfg.Model {
	case BM:
		p.bm.Sigma2 = math.Exp(u[0])
		m = p.bm
	case OU:
		p.ou.Sigma2 = math.Exp(u[0])
		p.ou.Alpha = math.Exp(u[1])
		if !p.tied {
			copy(p.ou.Theta, u[2:2+p.d])
		}
		m = p.ou
	}
	if p.cfg.EstimateNoise {
		p.obs.Var = math.Exp(u[len(u)-1])
	}
	if err := p.f.Run(p.t, m, p.obs); err != nil {
		return nil, err
	}
	return m, nil
}

// profile returns the log-likelihood at u with the root x̂ profiled out (a flat root
// prior) and, if grad is not nil, its gradient. It is not used with p.tied, whose
// intercept moves every tip's mean with weight 1 and is profiled by tiedProfile:
// profiling the root of OU with θ = 0 instead weighs it by e^{−αT}, which fails once
// α·T is large.
func (p *problem) profile(u, grad []float64) (float64, error) {
	if p.tied {
		panic("ml: profile with the tied model")
	}
	if _, err := p.set(u); err != nil {
		return 0, err
	}
	if err := p.f.RootPosterior(p.xhat, p.hcov); err != nil {
		return 0, err
	}
	p.root.Mean = p.xhat
	ll, err := p.f.LogLikelihood(p.root)
	if err != nil || grad == nil {
		return ll, err
	}
	if err := p.f.Score(p.root, &p.g); err != nil {
		return 0, err
	}
	p.gradU(u, grad)
	return ll, nil
}

// gradU writes the gradient in u from the score p.g.
func (p *problem) gradU(u, grad []float64) {
	grad[0] = p.g.Params[p.sigmaIndex()] * math.Exp(u[0])
	if p.cfg.Model == OU {
		grad[1] = p.g.Params[0] * math.Exp(u[1])
		if !p.tied {
			copy(grad[2:2+p.d], p.g.Params[1:1+p.d])
		}
	}
	if p.cfg.EstimateNoise {
		grad[len(u)-1] = p.g.NoiseVar * p.obs.Var
	}
}

// full returns the log-likelihood at v = (u, m), where m (d) is the root state, or with
// p.tied the intercept θ = root, and, if grad is not nil, its gradient in v.
func (p *problem) full(v, grad []float64) (float64, error) {
	nu := p.numU()
	u, m := v[:nu], v[nu:]
	if p.tied {
		copy(p.ou.Theta, m)
	}
	if _, err := p.set(u); err != nil {
		return 0, err
	}
	p.root.Mean = m
	ll, err := p.f.LogLikelihood(p.root)
	if err != nil || grad == nil {
		return ll, err
	}
	if err := p.f.Score(p.root, &p.g); err != nil {
		return 0, err
	}
	p.gradU(u, grad[:nu])
	for i := range m {
		grad[nu+i] = p.g.RootMean[i]
		if p.tied {
			grad[nu+i] += p.g.Params[1+i] // ∂/∂θ_i
		}
	}
	return ll, nil
}

// initTied sets up tiedProfile for the nl×d data y: its scratch, and the shifts mstep
// of the intercept, the root-mean-square of each centred trait (1 where that is 0).
func (p *problem) initTied(y []float64) {
	d := p.d
	p.mhat, p.g0, p.g1, p.mstep = make([]float64, d), make([]float64, d), make([]float64, d), make([]float64, d)
	p.tv, p.tg = make([]float64, p.numU()+d), make([]float64, p.numU()+d)
	for k := range d {
		s, n := 0.0, 0.0
		for i := k; i < len(y); i += d {
			if v := y[i]; !math.IsNaN(v) {
				s, n = s+v*v, n+1
			}
		}
		p.mstep[k] = 1
		if r := math.Sqrt(s / n); r > 0 && !math.IsInf(r, 0) {
			p.mstep[k] = r
		}
	}
}

// tiedProfile returns, with p.tied, the log-likelihood at u with the intercept m = θ =
// root profiled out and, if grad is not nil, its gradient in u; it leaves m̂ in p.mhat.
// Given u the log-likelihood is exactly ℓ(m) = a + b'm − ½m'Cm, with C diagonal (the
// traits are independent and share no mean), so its gradient in m is linear: from the
// gradients g0 at m = 0 and g1 at m = mstep, C_kk = (g0_k − g1_k)/mstep_k and
// m̂_k = g0_k/C_kk. The value and the gradient in u are those at m̂ (envelope theorem).
func (p *problem) tiedProfile(u, grad []float64) (float64, error) {
	if !p.tied {
		panic("ml: tiedProfile without the tied model")
	}
	nu, d := len(u), p.d
	v, gv := p.tv, p.tg
	copy(v, u)
	clear(v[nu:])
	if _, err := p.full(v, gv); err != nil { // m = 0
		return 0, err
	}
	copy(p.g0, gv[nu:])
	copy(v[nu:], p.mstep)
	if _, err := p.full(v, gv); err != nil {
		return 0, err
	}
	copy(p.g1, gv[nu:])
	for k := range d {
		c := (p.g0[k] - p.g1[k]) / p.mstep[k]
		if !(c > 0) || math.IsInf(c, 0) {
			return 0, fmt.Errorf("ml: the log-likelihood is not concave in the intercept of trait %d (curvature %v)", k+1, -c)
		}
		p.mhat[k] = p.g0[k] / c
	}
	copy(v[nu:], p.mhat)
	if grad == nil {
		return p.full(v, nil)
	}
	ll, err := p.full(v, gv)
	copy(grad, gv[:nu])
	return ll, err
}

// information returns the negative Hessian of the log-likelihood at v = (u, m) (exact
// in m, where the log-likelihood is quadratic).
func (p *problem) information(v []float64) (*mat.SymDense, error) {
	J := mat.NewSymDense(len(v), nil)
	if err := hessianTo(J, slices.Clone(v), p.full); err != nil {
		return nil, err
	}
	J.ScaleSym(-1, J)
	return J, nil
}

// logNames returns the names of the log-scale parameters (σ², α, τ²) by index of u.
func (p *problem) logNames() map[int]string {
	names := map[int]string{0: "sigma2"}
	if p.cfg.Model == OU {
		names[1] = "alpha"
	}
	if p.cfg.EstimateNoise {
		names[p.numU()-1] = "tau2"
	}
	return names
}

// named returns m keyed by the names of logNames instead of indices of u, or nil if m
// is empty.
func (p *problem) named(m map[int]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	names := p.logNames()
	out := make(map[string]string, len(m))
	for i, why := range m {
		out[names[i]] = why
	}
	return out
}

// Boundary tests. A positive parameter is fitted on the log scale, so at a boundary of
// its range (α or a variance → 0) its estimate runs towards −∞ in log and the
// likelihood is flat there: a Wald standard error is undefined, and the information's
// log-scale entry is rounding noise (the 8-tip BM-simulated tree of TestFitOUAtBoundary
// gave α = 1.4e-13 with se 1.4e-6, se 1e7 in log α). boundaryRatio is the size below
// which α·T (T the tree height) counts as 0, and a variance as 0 next to the other one
// (τ² next to the variance a tip gains from the root at depth T, σ²T under BM and
// σ²(1 − e^{−2αT})/(2α) under OU, or the reverse): the log-likelihood then moves by
// about n times that fraction, far below what the optimiser resolves.
//
// maxLogSE catches flat directions the ratios do not name, where a parameter is poorly
// identified rather than at a boundary: a log-scale se of 10 spans a factor e^{±20} at
// 95%. In OU's white-noise limit (α → ∞ on an ultrametric tree, TestFitOUWhiteNoise)
// only σ²/2α is determined, so log α and log σ² move together along a ridge: holding α
// fixed gives σ² a small se that describes the ridge's width, not the estimate's
// uncertainty. So a log-scale parameter whose correlation with a poorly identified one
// exceeds maxCorr in absolute value gets no se either (on white_noise4 it is 1 − 3e-12).
// Where the rest of the information is not positive definite, as along that ridge once
// its curvature is rounding noise, the eigenvector of its smallest eigenvalue is the
// flat direction, and a log-scale parameter counts as part of it when its component's
// square exceeds flatShare.
const (
	boundaryRatio = 1e-8
	maxLogSE      = 10
	maxCorr       = 0.9
	flatShare     = 0.1
)

// boundary returns why the log-scale parameters of u that are at a boundary of their
// range are there, by index of u.
func (p *problem) boundary(u []float64) map[int]string {
	out := map[int]string{}
	_, height := tipDepths(p.t)
	s2 := math.Exp(u[0])
	tree := s2 * height // the variance a tip at depth T gains from the root
	if p.cfg.Model == OU {
		a := math.Exp(u[1])
		if a*height < boundaryRatio {
			out[1] = fmt.Sprintf("α·T = %.2g for tree height T = %.6g: the Brownian-motion limit α → 0", a*height, height)
		} else {
			tree = s2 * -math.Expm1(-2*a*height) / (2 * a)
		}
	}
	tau2 := p.cfg.NoiseVar
	if p.cfg.EstimateNoise {
		tau2 = math.Exp(u[len(u)-1])
		if tau2 < boundaryRatio*tree {
			out[len(u)-1] = fmt.Sprintf("τ² is %.2g of the variance a tip gains from the root: the limit τ² → 0 of tips without noise", tau2/tree)
		}
	}
	if tau2 > 0 && tree < boundaryRatio*tau2 {
		out[0] = fmt.Sprintf("the variance a tip gains from the root is %.2g of τ²: the limit σ² → 0 of tips that vary by noise alone", tree/tau2)
	}
	return out
}

// covariance returns the inverse of the information J at v = (u, m) without the rows
// and columns of the log-scale parameters at a boundary (p.boundary) or poorly
// identified, and, by index of u, why those are left out (boundary, flat) and which
// log-scale parameters are confounded with a poorly identified one (confounded).
// Parameters are found poorly identified one at a time: the one whose log-scale se
// exceeds maxLogSE most, or, where the rest of J is not positive definite, the one with
// the largest component in the eigenvector of its smallest eigenvalue. The entries of
// all three kinds are NaN (the confounded stay in the inversion, so the others' se are
// conditional only on those left out), and so is every entry where J is nil or the rest
// of J is not positive definite along a direction that no log-scale parameter explains.
func (p *problem) covariance(J *mat.SymDense, u []float64) (cov *mat.SymDense, boundary, flat, confounded map[int]string) {
	boundary, flat, confounded = p.boundary(u), map[int]string{}, map[int]string{}
	if J == nil {
		return nanSym(len(u) + p.d), boundary, flat, confounded
	}
	k := J.SymmetricDim()
	for i := range k {
		for j := i; j < k; j++ {
			if v := J.At(i, j); math.IsNaN(v) || math.IsInf(v, 0) {
				return nanSym(k), boundary, flat, confounded
			}
		}
	}
	names := p.logNames()
	logs := slices.Sorted(maps.Keys(names))
	for {
		keep := make([]int, 0, k)
		for i := range k {
			_, b := boundary[i]
			_, f := flat[i]
			if !b && !f {
				keep = append(keep, i)
			}
		}
		sub := mat.NewSymDense(len(keep), nil)
		for a, i := range keep {
			for b := a; b < len(keep); b++ {
				sub.SetSym(a, b, J.At(i, keep[b]))
			}
		}
		// InverseTo writes the inverse before it reports a condition number above
		// mat.ConditionTolerance, so it writes into inv and the fallback sees sub.
		var ch mat.Cholesky
		inv := mat.NewSymDense(len(keep), nil)
		if !ch.Factorize(sub) || ch.InverseTo(inv) != nil {
			// The flat direction: the eigenvector w of the smallest eigenvalue.
			var es mat.EigenSym
			if len(keep) == 0 || !es.Factorize(sub, true) {
				return nanSym(k), boundary, flat, confounded
			}
			vals := es.Values(nil)
			var vecs mat.Dense
			es.VectorsTo(&vecs)
			w := vecs.ColView(slices.Index(vals, slices.Min(vals)))
			worst, worstW := -1, 0.0
			for a, i := range keep {
				if _, ok := names[i]; ok && w.AtVec(a)*w.AtVec(a) > max(flatShare, worstW*worstW) {
					worst, worstW = i, math.Abs(w.AtVec(a))
				}
			}
			if worst < 0 {
				return nanSym(k), boundary, flat, confounded
			}
			flat[worst] = fmt.Sprintf("the information is not positive definite along a direction %.0f%% of which is its log: the likelihood is flat in it", 100*worstW*worstW) + p.whiteNoise(worst, u)
			delete(confounded, worst)
			for a, i := range keep {
				if _, ok := names[i]; ok && i != worst && w.AtVec(a)*w.AtVec(a) > flatShare {
					confounded[i] = fmt.Sprintf("its log makes up %.0f%% of the flat direction of %s", 100*w.AtVec(a)*w.AtVec(a), names[worst])
				}
			}
			continue
		}
		cov = nanSym(k)
		for a, i := range keep {
			for b := a; b < len(keep); b++ {
				cov.SetSym(i, keep[b], inv.At(a, b))
			}
		}
		worst, worstSE := -1, float64(maxLogSE)
		for _, i := range logs {
			if s := math.Sqrt(cov.At(i, i)); s > worstSE {
				worst, worstSE = i, s
			}
		}
		if worst < 0 {
			for i := range confounded {
				for j := range k {
					cov.SetSym(i, j, math.NaN())
				}
			}
			return cov, boundary, flat, confounded
		}
		flat[worst] = fmt.Sprintf("the se of its log is %.3g > %d: the likelihood is nearly flat in it", worstSE, maxLogSE) + p.whiteNoise(worst, u)
		delete(confounded, worst)
		for _, i := range logs {
			r := cov.At(worst, i) / math.Sqrt(cov.At(worst, worst)*cov.At(i, i))
			if i != worst && math.Abs(r) > maxCorr {
				confounded[i] = fmt.Sprintf("its log has correlation %.6g with that of %s", r, names[worst])
			}
		}
	}
}

// whiteNoise returns, when i is OU's log α or log σ² and α·T is large (T the tree
// height), a clause saying that the fit is near the white-noise limit α → ∞, where the
// tips are independent with variance σ²/2α; otherwise "".
func (p *problem) whiteNoise(i int, u []float64) string {
	_, height := tipDepths(p.t)
	if p.cfg.Model != OU || i > 1 || math.Exp(u[1])*height < 10 {
		return ""
	}
	a := math.Exp(u[1])
	return fmt.Sprintf("; α·T = %.3g for tree height T = %.6g, near the white-noise limit α → ∞ where the tips are independent and only σ²/2α = %.6g is identified", a*height, height, math.Exp(u[0])/(2*a))
}

// nanSym returns a k×k symmetric matrix of NaN.
func nanSym(k int) *mat.SymDense {
	s := mat.NewSymDense(k, nil)
	for i := range k {
		for j := i; j < k; j++ {
			s.SetSym(i, j, math.NaN())
		}
	}
	return s
}

// objective is a log-likelihood that writes its gradient into grad when grad is not nil:
// problem.profile and problem.full.
type objective func(x, grad []float64) (float64, error)

// hessianTo writes into dst (len(x)×len(x)) the Hessian of f at x by central differences
// of its exact gradient, steps h_i = 1e-5(1 + |x_i|), symmetrised as
// ½(∂g_j/∂x_i + ∂g_i/∂x_j). x is changed during the call and restored.
func hessianTo(dst *mat.SymDense, x []float64, f objective) error {
	k := len(x)
	gp, gm := make([]float64, k), make([]float64, k)
	for i := 0; i < k; i++ {
		h := 1e-5 * (1 + math.Abs(x[i]))
		old := x[i]
		x[i] = old + h
		_, e1 := f(x, gp)
		x[i] = old - h
		_, e2 := f(x, gm)
		x[i] = old
		if e1 != nil || e2 != nil {
			return errors.Join(e1, e2)
		}
		// Row i: the entries above the diagonal are stored now and averaged with their
		// transposes when rows j > i come.
		for j := 0; j < k; j++ {
			v := (gp[j] - gm[j]) / (2 * h)
			if j < i {
				v = 0.5 * (v + dst.At(j, i))
			}
			dst.SetSym(i, j, v)
		}
	}
	return nil
}

func (p *problem) sigmaIndex() int {
	if p.cfg.Model == OU {
		return p.d + 1
	}
	return 0
}

// Fit maximises the likelihood of the leaf values y (NumLeaves×d, leaf-major in
// t.Leaf order, NaN for missing) under cfg.
func Fit(t *topology.Topology, y []float64, cfg Config) (*Result, error) {
	nl := t.NumLeaves()
	if nl < 2 {
		return nil, fmt.Errorf("%w: need at least 2 tips, have %d", ErrCannotFit, nl)
	}
	if len(y) == 0 || len(y)%nl != 0 {
		return nil, fmt.Errorf("ml: %d values for %d tips", len(y), nl)
	}
	d := len(y) / nl
	if cfg.PerTrait && d > 1 {
		return fitPerTrait(t, y, d, cfg)
	}
	nobs := 0
	for _, v := range y {
		if !math.IsNaN(v) {
			nobs++
		}
	}
	// BM and OU are translation equivariant; centring each trait keeps the information
	// form's constants, which cancel terms of size y²/τ², accurate for data far from 0.
	// The root, θ and the ancestral states are shifted back at the end.
	centre := make([]float64, d)
	for k := 0; k < d; k++ {
		s, n := 0.0, 0.0
		for i := 0; i < nl; i++ {
			if v := y[i*d+k]; !math.IsNaN(v) {
				s, n = s+v, n+1
			}
		}
		if n > 0 {
			centre[k] = s / n
		}
	}
	yc := make([]float64, len(y))
	for i := range y {
		yc[i] = y[i] - centre[i%d]
	}
	y = yc
	p := &problem{t: t, d: d, cfg: cfg, obs: bffg.Obs{Y: y, Var: cfg.NoiseVar},
		xhat: make([]float64, d), hcov: make([]float64, d*d)}
	switch cfg.Model {
	case BM:
		p.bm = &bffg.BM{Tree: t, D: d}
	case OU:
		p.ou = &bffg.OU{Tree: t, D: d, Theta: make([]float64, d)}
		p.tied = ultrametric(t)
	default:
		return nil, fmt.Errorf("ml: unknown model %q (want %q or %q)", cfg.Model, BM, OU)
	}
	k := p.numU() + d
	if nobs <= k {
		return nil, fmt.Errorf("%w: %d observed values for %d parameters", ErrCannotFit, nobs, k)
	}
	// The tied model profiles out m, the intercept θ = root on which every tip's mean
	// depends with weight 1, so that α·T may grow without bound (the white-noise limit);
	// otherwise the root is profiled out with θ in u. Either way v = (u, m̂ or x̂).
	prof, at := p.profile, &p.xhat
	if p.tied {
		p.initTied(y)
		prof, at = p.tiedProfile, &p.mhat
	}
	// maximise evaluates prof last at the u it returns, so *at is x̂ or m̂ there.
	u, converged, err := p.maximise(prof, p.start(y), nobs)
	if err != nil {
		return nil, err
	}
	v := append(u, *at...)
	u, m := v[:p.numU()], v[p.numU():]
	ll, err := p.full(v, nil)
	if err != nil {
		return nil, err
	}
	r := &Result{Params: map[string]float64{}, SE: map[string]float64{}, Root: append([]float64(nil), m...),
		RootSE: make([]float64, d), LogLik: ll, NumParams: k, NumObs: nobs, Converged: converged, Ultrametric: p.tied}
	r.TipDepths[0], r.TipDepths[1] = tipDepths(t)
	for i := range r.Root {
		r.Root[i] += centre[i]
	}
	// Standard errors from the inverse information, leaving out the parameters at a
	// boundary or poorly identified (their se is NaN, and the others' are given them,
	// but for those confounded with them, whose se is NaN too); NaN where the rest is
	// not invertible (a flat direction of the likelihood).
	J, _ := p.information(v) // nil when it fails
	cov, atBoundary, flat, confounded := p.covariance(J, u)
	r.AtBoundary = p.named(atBoundary)
	r.PoorlyIdentified = p.named(flat)
	r.Confounded = p.named(confounded)
	se := func(i int) float64 { return math.Sqrt(cov.At(i, i)) }
	r.Params["sigma2"] = math.Exp(u[0])
	r.SE["sigma2"] = r.Params["sigma2"] * se(0)
	if cfg.Model == OU {
		r.Params["alpha"] = math.Exp(u[1])
		r.SE["alpha"] = r.Params["alpha"] * se(1)
		for i := 0; i < d; i++ {
			name := "theta"
			if d > 1 {
				name = fmt.Sprintf("theta%d", i+1)
			}
			if p.tied {
				r.Params[name], r.SE[name] = r.Root[i], se(len(u)+i)
			} else {
				r.Params[name], r.SE[name] = u[2+i]+centre[i], se(2+i)
			}
		}
	}
	if cfg.EstimateNoise {
		r.Params["tau2"] = math.Exp(u[len(u)-1])
		r.SE["tau2"] = r.Params["tau2"] * se(len(u)-1)
	}
	for i := range r.RootSE {
		r.RootSE[i] = se(len(u) + i)
	}
	// Callers print these as numbers (JSON has no ±Inf or NaN); a non-finite estimate
	// means the likelihood has no maximum that the optimiser could reach.
	for name, v := range r.Params {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%w: the estimate of %s is %v", ErrCannotFit, name, v)
		}
	}
	for i, v := range r.Root {
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return nil, fmt.Errorf("%w: the root estimate of trait %d is %v", ErrCannotFit, i+1, v)
		}
	}
	if math.IsInf(ll, 0) || math.IsNaN(ll) {
		return nil, fmt.Errorf("%w: the log-likelihood at the optimum is %v", ErrCannotFit, ll)
	}
	r.setCriteria()
	if r.Ancestral, err = p.ancestral(v, J); err != nil {
		return nil, err
	}
	for _, a := range r.Ancestral {
		for i := range a.Mean {
			a.Mean[i] += centre[i]
		}
	}
	return r, nil
}

// maximise maximises the log-likelihood f from x0 by L-BFGS on −f/nobs, refines the
// optimum with polish, and reports whether the gradient per observation is below 1e-8
// there.
func (p *problem) maximise(f objective, x0 []float64, nobs int) (x []float64, converged bool, err error) {
	if _, err := f(x0, nil); err != nil {
		return nil, false, fmt.Errorf("%w: %w", ErrCannotFit, err)
	}
	// gonum asks for the value and the gradient at the same point in separate calls;
	// one filter and score pass gives both, so remember the last point.
	var lastX, lastGrad []float64
	lastLL := math.NaN()
	eval := func(x []float64) float64 {
		if lastX != nil && slices.Equal(x, lastX) {
			return lastLL
		}
		lastX = append(lastX[:0], x...)
		lastGrad = slices.Grow(lastGrad[:0], len(x))[:len(x)]
		ll, err := f(x, lastGrad)
		if err != nil || math.IsNaN(ll) {
			ll = math.Inf(-1)
		}
		lastLL = ll
		return ll
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 {
			ll := eval(x)
			if math.IsInf(ll, -1) {
				return math.Inf(1)
			}
			return -ll / float64(nobs)
		},
		Grad: func(grad, x []float64) {
			ll := eval(x)
			for i := range grad {
				if math.IsInf(ll, -1) {
					grad[i] = math.NaN()
					continue
				}
				grad[i] = -lastGrad[i] / float64(nobs)
			}
		},
	}
	// The objective is the log-likelihood per observation, so a gradient of 1e-10
	// locates the optimum to about 1e-11 in log-parameters; rounding puts the floor of
	// the gradient near 1e-12 on large trees, where the line search may stop first.
	settings := &optimize.Settings{GradientThreshold: 1e-11, MajorIterations: 1000}
	res, err := optimize.Minimize(prob, x0, settings, &optimize.LBFGS{})
	if res == nil || math.IsInf(res.F, 0) || math.IsNaN(res.F) {
		return nil, false, fmt.Errorf("%w: the optimiser found no finite likelihood (%v)", ErrCannotFit, err)
	}
	x = p.polish(f, res.X)
	g := make([]float64, len(x))
	if _, err := f(x, g); err != nil {
		return nil, false, err
	}
	return x, maxAbs(g)/float64(nobs) < 1e-8, nil
}

// fitPerTrait fits the d traits of y one at a time and joins the fits.
func fitPerTrait(t *topology.Topology, y []float64, d int, cfg Config) (*Result, error) {
	nl := t.NumLeaves()
	cfg.PerTrait = false
	col := make([]float64, nl)
	r := &Result{Params: map[string]float64{}, SE: map[string]float64{}, Converged: true}
	for k := range d {
		for i := range col {
			col[i] = y[i*d+k]
		}
		rk, err := Fit(t, col, cfg)
		if err != nil {
			return nil, &TraitError{Trait: k, Err: err}
		}
		for name, v := range rk.Params {
			r.Params[fmt.Sprintf("%s_%d", name, k+1)] = v
			r.SE[fmt.Sprintf("%s_%d", name, k+1)] = rk.SE[name]
		}
		for _, m := range []struct {
			dst *map[string]string
			src map[string]string
		}{
			{&r.AtBoundary, rk.AtBoundary}, {&r.PoorlyIdentified, rk.PoorlyIdentified}, {&r.Confounded, rk.Confounded},
		} {
			for name, why := range m.src {
				if *m.dst == nil {
					*m.dst = map[string]string{}
				}
				(*m.dst)[fmt.Sprintf("%s_%d", name, k+1)] = why
			}
		}
		r.Root = append(r.Root, rk.Root...)
		r.RootSE = append(r.RootSE, rk.RootSE...)
		r.Ultrametric, r.TipDepths = rk.Ultrametric, rk.TipDepths
		r.LogLik += rk.LogLik
		r.NumParams += rk.NumParams
		r.NumObs += rk.NumObs
		r.Converged = r.Converged && rk.Converged
		if k == 0 {
			for _, a := range rk.Ancestral {
				r.Ancestral = append(r.Ancestral, Ancestral{Node: a.Node, Name: a.Name,
					Mean: make([]float64, 0, d), SE: make([]float64, 0, d)})
			}
		}
		for i, a := range rk.Ancestral {
			r.Ancestral[i].Mean = append(r.Ancestral[i].Mean, a.Mean...)
			r.Ancestral[i].SE = append(r.Ancestral[i].SE, a.SE...)
		}
	}
	r.setCriteria()
	return r, nil
}

// setCriteria sets AIC and AICc from LogLik, NumParams and NumObs (AICc is +Inf when
// there are too few observations for its correction).
func (r *Result) setCriteria() {
	k, n := float64(r.NumParams), float64(r.NumObs)
	r.AIC = 2*k - 2*r.LogLik
	if n-k-1 > 0 {
		r.AICc = r.AIC + 2*k*(k+1)/(n-k-1)
	} else {
		r.AICc = math.Inf(1)
	}
}

// start returns initial unconstrained parameters from the data's spread.
func (p *problem) start(y []float64) []float64 {
	// σ² from the variance of the tips over the mean root-to-tip distance.
	s, s2, n := 0.0, 0.0, 0.0
	for _, v := range y {
		if !math.IsNaN(v) {
			s += v
			s2 += v * v
			n++
		}
	}
	variance := math.Max(s2/n-(s/n)*(s/n), 1e-12)
	depth := 0.0
	for i := 0; i < p.t.NumLeaves(); i++ {
		depth += p.t.Dist(p.t.Leaf(i))
	}
	depth /= float64(p.t.NumLeaves())
	u := make([]float64, p.numU())
	u[0] = math.Log(variance / math.Max(depth, 1e-12))
	if p.cfg.Model == OU {
		u[1] = math.Log(1 / math.Max(depth, 1e-12))
		for i := 0; !p.tied && i < p.d; i++ {
			u[2+i] = s / n
		}
	}
	if p.cfg.EstimateNoise {
		u[len(u)-1] = math.Log(0.1 * variance)
	}
	return u
}

// ancestral smooths the internal nodes at the fitted v = (u, m) under a flat prior on
// the root or, with p.tied, on the intercept θ = root, whose conditional precision given
// u is the m-block of the information J. With p.tied the standard errors are NaN where
// that precision is unavailable: J nil (the information could not be computed) or a
// diagonal entry that is not positive.
func (p *problem) ancestral(v []float64, J *mat.SymDense) ([]Ancestral, error) {
	n, d := p.t.Len(), p.d
	nu := p.numU()
	mean, cov := make([]float64, n*d), make([]float64, n*d*d)
	if !p.tied {
		if _, err := p.set(v[:nu]); err != nil {
			return nil, err
		}
		if err := p.f.Smooth(bffg.Root{Flat: true}, mean, cov); err != nil {
			return nil, err
		}
	} else {
		// Given the intercept μ every node's posterior mean is a + bμ with the same
		// covariance, so under a flat prior on μ (posterior N(μ̂, 1/J_μμ)) the mean is
		// a + bμ̂ and the variance gains b²/J_μμ. Smoothing at μ̂ and at μ̂ + 1 gives b.
		m := slices.Clone(v[nu:])
		smooth := func(mean, cov []float64) error {
			copy(p.ou.Theta, m)
			if _, err := p.set(v[:nu]); err != nil {
				return err
			}
			return p.f.Smooth(bffg.Root{Mean: m}, mean, cov)
		}
		if err := smooth(mean, cov); err != nil {
			return nil, err
		}
		for i := range m {
			m[i]++
		}
		shifted, cov1 := make([]float64, n*d), make([]float64, n*d*d)
		if err := smooth(shifted, cov1); err != nil {
			return nil, err
		}
		prec := make([]float64, d)
		for i := range prec {
			prec[i] = math.NaN()
			if J != nil && J.At(nu+i, nu+i) > 0 {
				prec[i] = J.At(nu+i, nu+i)
			}
		}
		for w := 0; w < n; w++ {
			for i := 0; i < d; i++ {
				b := shifted[w*d+i] - mean[w*d+i]
				cov[w*d*d+i*d+i] += b * b / prec[i]
			}
		}
	}
	out := make([]Ancestral, 0, n-p.t.NumLeaves())
	se := make([]float64, 0, (n-p.t.NumLeaves())*d)
	for v := 0; v < n; v++ {
		if p.t.IsLeaf(v) {
			continue
		}
		for i := 0; i < d; i++ {
			se = append(se, math.Sqrt(math.Max(cov[v*d*d+i*d+i], 0)))
		}
		out = append(out, Ancestral{Node: v, Name: p.t.Name(v), Mean: mean[v*d : v*d+d : v*d+d], SE: se[len(se)-d : len(se) : len(se)]})
	}
	return out, nil
}

func maxAbs(x []float64) float64 {
	m := 0.0
	for _, v := range x {
		m = math.Max(m, math.Abs(v))
	}
	return m
}

// polish refines a quasi-Newton optimum of f with up to three Newton steps, using the
// Hessian from hessianTo, and keeps a step only when it shrinks the gradient without
// lowering the likelihood beyond rounding. L-BFGS stops where its line search can no
// longer make progress, which on small problems can leave the gradient near 1e-8; a
// Newton step from there is accurate to rounding.
func (p *problem) polish(f objective, x []float64) []float64 {
	k := len(x)
	x = slices.Clone(x)
	g, gt := make([]float64, k), make([]float64, k)
	H := mat.NewSymDense(k, nil)
	neg := mat.NewSymDense(k, nil)
	step := mat.NewVecDense(k, nil)
	trial := make([]float64, k)
	ll, err := f(x, g)
	if err != nil {
		return x
	}
	for it := 0; it < 3; it++ {
		if hessianTo(H, x, f) != nil {
			return x
		}
		// Newton step on the negative log-likelihood: Δ = −(∇²ℓ)⁻¹∇ℓ, ∇²ℓ negative definite.
		neg.ScaleSym(-1, H)
		var ch mat.Cholesky
		if !ch.Factorize(neg) {
			return x
		}
		if err := ch.SolveVecTo(step, mat.NewVecDense(k, g)); err != nil {
			return x
		}
		for i := range trial {
			trial[i] = x[i] + step.AtVec(i)
		}
		// Near the optimum the likelihood is flat to rounding, so judge a step by the
		// gradient, allowing the likelihood to drop only by rounding error.
		lt, err := f(trial, gt)
		if err != nil || !(lt >= ll-1e-12*math.Abs(ll)) || !(maxAbs(gt) < maxAbs(g)) {
			return x
		}
		copy(x, trial)
		copy(g, gt)
		ll = lt
	}
	return x
}
