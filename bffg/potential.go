package bffg

import (
	"fmt"
	"math"

	"github.com/canopy-bffg/canopy/topology"
)

// Parametric is a differentiable model whose parameter vector θ can be read and set
// in place (so that a Potential does not allocate per evaluation). *BM and *OU are
// Parametric.
type Parametric interface {
	ProxyVJP
	Params(dst []float64) []float64
	SetParams(theta []float64)
	// Copy returns an independent copy, so that concurrent chains can set parameters
	// without sharing state.
	Copy() Parametric
}

// Transform maps an unconstrained parameter u to the model's θ.
type Transform int

const (
	Identity Transform = iota // θ = u
	Log                       // θ = e^u, for positive parameters
)

// Normal is a normal prior N(Mean, SD²) on an unconstrained parameter.
type Normal struct{ Mean, SD float64 }

func (p Normal) logPDF(u float64) (float64, float64) {
	r := (u - p.Mean) / p.SD
	return -0.5*r*r - p.logNorm(), -r / p.SD
}

// logNorm returns log(SD·√2π), with the common SD = 2 and 1 not paying for a log.
func (p Normal) logNorm() float64 {
	switch p.SD {
	case 1:
		return 0.5 * log2Pi
	case 2:
		return math.Ln2 + 0.5*log2Pi
	}
	return math.Log(p.SD) + 0.5*log2Pi
}

// Potential is the negative log density of the noise-space (non-centred) posterior of
// bffg-math §2.5, on the unconstrained vector q = (u, z):
//
//	U(u, z) = −Σ_i log π_i(u_i) + ½|z|² + (n/2) log 2π − [log h_root(x_root; θ(u)) + Σ_v log w_v(z, θ(u))]
//
// where θ_i = Transforms[i](u_i) are the model's parameters, followed by log τ² when
// EstimateNoise is set (the isotropic leaf noise variance), and z (Len×d) drives the
// guided pass. Priors are on the unconstrained scale (as in hyperiax notebooks 05/06),
// so no Jacobian term is needed. Its methods LogDensity and LogDensityGrad return −U and
// −∇U, the form samplers consume. A Potential holds buffers: it is not safe for
// concurrent use; give each chain its own (see Clone).
type Potential struct {
	Tree *topology.Topology
	// Model is the proxy and, when Kernel is nil, also the true transition.
	Model Parametric
	// Kernel, if not nil, is the true transition; if it is also Parametric its
	// parameters are set to the same θ as Model's.
	Kernel KernelVJP
	// Obs holds the observations; Var is replaced by e^{u} when EstimateNoise is set.
	Obs Obs
	// Root is the root (fixed or Gaussian prior).
	Root Root
	// Transforms and Priors describe the unconstrained parameters, one per model
	// parameter, then one for log τ² when EstimateNoise is set.
	Transforms    []Transform
	Priors        []Normal
	EstimateNoise bool
	// Marginal drops z: q = u and U(u) = −Σ log π_i(u_i) − log p(y | θ(u)), the exact
	// marginal posterior of the parameters. It needs Kernel = nil (the proxy is the
	// model), where p(u, z | y) = p(u | y)·N(z; 0, I) exactly, so z carries no
	// information and sampling it only costs dimensions. States is then unavailable;
	// node states come from Filter().Smooth.
	Marginal bool

	f        Filter
	theta    []float64
	x, lw, u []float64
	g        Gradient
}

// NumParams returns the number of unconstrained parameters (before z).
func (p *Potential) NumParams() int {
	n := p.Model.NumParams()
	if p.EstimateNoise {
		n++
	}
	return n
}

// Dim returns the length of q: NumParams() + Tree.Len()·d, or NumParams() if Marginal.
func (p *Potential) Dim() int {
	if p.Marginal {
		return p.NumParams()
	}
	return p.NumParams() + p.Tree.Len()*p.dim()
}

func (p *Potential) dim() int { return len(p.Obs.Y) / p.Tree.NumLeaves() }

// Clone returns a Potential with the same configuration, its own copy of the model (and
// of the kernel when it is Parametric) and its own buffers, for use by another goroutine.
func (p *Potential) Clone() *Potential {
	c := &Potential{Tree: p.Tree, Model: p.Model.Copy(), Kernel: p.Kernel, Obs: p.Obs, Root: p.Root,
		Transforms: p.Transforms, Priors: p.Priors, EstimateNoise: p.EstimateNoise, Marginal: p.Marginal}
	if k, ok := p.Kernel.(Parametric); ok {
		c.Kernel = k.Copy().(KernelVJP)
	}
	return c
}

// LogDensity returns −U(q), or −Inf where the model cannot be evaluated.
func (p *Potential) LogDensity(q []float64) float64 { return p.eval(q, nil) }

// LogDensityGrad returns −U(q) and writes −∇U(q) into grad.
func (p *Potential) LogDensityGrad(q, grad []float64) float64 { return p.eval(q, grad) }

func (p *Potential) check() {
	np := p.NumParams()
	if len(p.Transforms) != np || len(p.Priors) != np {
		panic(fmt.Sprintf("bffg: Potential has %d parameters but %d transforms and %d priors", np, len(p.Transforms), len(p.Priors)))
	}
}

func (p *Potential) eval(q, grad []float64) float64 {
	p.check()
	np, mp := p.NumParams(), p.Model.NumParams()
	n, d := p.Tree.Len(), p.dim()
	if len(q) != p.Dim() || (grad != nil && len(grad) != len(q)) {
		panic(fmt.Sprintf("bffg: Potential: q has length %d, want %d", len(q), p.Dim()))
	}
	if p.Marginal && p.Kernel != nil {
		panic("bffg: Potential: Marginal needs Kernel = nil")
	}
	u, z := q[:np], q[np:]
	nz := n * d // dimension of z, 0 if Marginal
	if p.Marginal {
		nz = 0
	}
	lp := 0.0
	for i, ui := range u {
		l, _ := p.Priors[i].logPDF(ui)
		lp += l
	}
	obs := p.setParams(u)
	var k Kernel
	if p.Kernel != nil {
		k = p.Kernel
	}
	if p.x == nil || len(p.x) != n*d {
		p.x, p.lw = make([]float64, n*d), make([]float64, n)
	}
	ll, sw := math.Inf(-1), 0.0
	err := p.f.Run(p.Tree, p.Model, obs)
	if err == nil {
		ll, err = p.f.LogLikelihood(p.Root)
	}
	// With the proxy as the true kernel every log-weight is identically zero, in θ and
	// in z, so U needs no guided pass and ∇U is the prior's plus the score.
	if err == nil && k != nil {
		sw, err = p.f.Guide(k, p.Root, z, p.x, p.lw)
	}
	zz := dot(z, z)
	logp := lp - 0.5*zz - 0.5*float64(nz)*log2Pi + ll + sw
	if err != nil || math.IsNaN(logp) {
		return math.Inf(-1)
	}
	if grad == nil {
		return logp
	}
	if k == nil {
		err = p.f.Score(p.Root, &p.g)
		clear(p.g.Z[:nz])
	} else {
		err = p.f.Backward(k, p.Root, z, p.x, 1, nil, &p.g)
	}
	if err != nil {
		return math.Inf(-1)
	}
	for i, ui := range u {
		_, dl := p.Priors[i].logPDF(ui)
		var gi float64
		switch {
		case i < mp && p.Transforms[i] == Log:
			gi = p.g.Params[i] * p.theta[i]
		case i < mp:
			gi = p.g.Params[i]
		default: // log τ²
			gi = p.g.NoiseVar * obs.Var
		}
		grad[i] = dl + gi
	}
	for i, zi := range z {
		grad[np+i] = p.g.Z[i] - zi
	}
	return logp
}

// States panics for a Marginal potential; see its documentation.
func (p *Potential) checkStates() {
	if p.Marginal {
		panic("bffg: Potential.States needs z; a Marginal potential has none")
	}
}

// Params implements Parametric: θ = (Sigma2).
func (m *BM) Params(dst []float64) []float64 { return append(dst[:0], m.Sigma2) }

// SetParams implements Parametric.
func (m *BM) SetParams(theta []float64) { m.Sigma2 = theta[0] }

// Params implements Parametric: θ = (Alpha, Theta_1..Theta_D, Sigma2).
func (m *OU) Params(dst []float64) []float64 {
	dst = append(dst[:0], m.Alpha)
	for i := 0; i < m.D; i++ {
		dst = append(dst, m.theta(i))
	}
	return append(dst, m.Sigma2)
}

// SetParams implements Parametric. It allocates Theta on first use.
func (m *OU) SetParams(theta []float64) {
	m.Alpha = theta[0]
	if m.Theta == nil {
		m.Theta = make([]float64, m.D)
	}
	copy(m.Theta, theta[1:m.D+1])
	m.Sigma2 = theta[m.D+1]
}

// setParams sets θ(u) in the model (and in the kernel when it is Parametric) and
// returns the observations with the noise variance e^{u_last} when it is estimated.
func (p *Potential) setParams(u []float64) Obs {
	mp := p.Model.NumParams()
	p.theta = growZero(p.theta, mp)
	for i := range p.theta {
		p.theta[i] = u[i]
		if p.Transforms[i] == Log {
			p.theta[i] = math.Exp(u[i])
		}
	}
	p.Model.SetParams(p.theta)
	if pk, ok := p.Kernel.(Parametric); ok {
		pk.SetParams(p.theta)
	}
	obs := p.Obs
	if p.EstimateNoise {
		obs.Var = math.Exp(u[len(u)-1])
	}
	return obs
}

// States writes into x (Len×d) the node states that q = (u, z) maps to through the
// guided pass at θ(u): with proxy = truth these are exact draws from p(x | y, θ) when z
// is standard normal, so a chain over q yields the posterior of the ancestral states.
func (p *Potential) States(q, x []float64) error {
	p.check()
	p.checkStates()
	np := p.NumParams()
	n, d := p.Tree.Len(), p.dim()
	if len(q) != np+n*d || len(x) != n*d {
		panic("bffg: Potential.States: wrong length")
	}
	if math.IsInf(p.LogDensity(q), -1) {
		return fmt.Errorf("bffg: Potential.States: density is zero at q")
	}
	var k Kernel
	if p.Kernel != nil {
		k = p.Kernel
	}
	if p.lw == nil || len(p.lw) != n {
		p.lw = make([]float64, n)
	}
	_, err := p.f.Guide(k, p.Root, q[np:], x, p.lw)
	return err
}

// Filter returns the filter of the last evaluation, for smoothing or inspection at the
// parameters of that evaluation. It is valid until the next evaluation.
func (p *Potential) Filter() *Filter { return &p.f }

// Copy implements Parametric.
func (m *BM) Copy() Parametric {
	c := *m
	c.Cov = append([]float64(nil), m.Cov...)
	if m.Cov == nil {
		c.Cov = nil
	}
	return &c
}

// Copy implements Parametric.
func (m *OU) Copy() Parametric {
	c := *m
	c.Theta = append([]float64(nil), m.Theta...)
	if m.Cov != nil {
		c.Cov = append([]float64(nil), m.Cov...)
	}
	return &c
}

// Check evaluates the potential at q and returns the error that makes the density zero
// there (such as a zero-length branch to an exactly observed tip, named by node), or nil.
// LogDensity reports such points only as −Inf.
func (p *Potential) Check(q []float64) error {
	p.check()
	obs := p.setParams(q[:p.NumParams()])
	if err := p.f.Run(p.Tree, p.Model, obs); err != nil {
		return err
	}
	_, err := p.f.LogLikelihood(p.Root)
	return err
}
