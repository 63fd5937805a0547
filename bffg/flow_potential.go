package bffg

import (
	"errors"
	"fmt"
	"math"
)

// Prior is a prior density on an unconstrained parameter u, including any Jacobian of
// the map from u to the model's parameter.
type Prior interface {
	// LogPDF returns log π(u) and its derivative.
	LogPDF(u float64) (logp, dlogp float64)
}

// LogPDF returns the log density of N(Mean, SD²) at u and its derivative.
func (p Normal) LogPDF(u float64) (float64, float64) { return p.logPDF(u) }

// LogInvGamma is an inverse-gamma prior with shape α and rate β on a positive
// parameter θ = e^u, as a density of u: log π(u) = log InvGamma(e^u; α, β) + u
// (the last term the Jacobian), i.e. α log β − log Γ(α) − αu − βe^{−u}.
type LogInvGamma struct{ Shape, Rate float64 }

// LogPDF returns log π(u) and its derivative −α + βe^{−u}.
func (p LogInvGamma) LogPDF(u float64) (float64, float64) {
	lg, _ := math.Lgamma(p.Shape)
	e := p.Rate * math.Exp(-u)
	return p.Shape*math.Log(p.Rate) - lg - p.Shape*u - e, -p.Shape + e
}

// FlowPotential is the noise-space posterior of a flow model on a tree (hyperiax
// notebook 07's target), on q = (u, z) with θ = e^u the flow's parameters, followed
// by log τ² when EstimateNoise is set:
//
//	U(u, z) = −Σ_i log π_i(u_i) + ½|z|² + (N/2)log 2π − [log h_root + Σ_v log w_v],
//
// N = len(z). Every flow parameter is sampled on the log scale, so the flow sees
// θ > 0; a signed quantity (a drift's offset, say) can be taken as log θ in NewFlow.
// The filter's data and anchors are set by the caller (FlowFilter.SetData,
// SetAnchors or FlowAnchors); the anchors stay fixed, so U is one smooth function of q
// and its gradient is exact. LogDensity and LogDensityGrad return −U and −∇U, the
// form samplers consume. A FlowPotential holds buffers: give each goroutine its own
// (Clone).
type FlowPotential struct {
	Filter *FlowFilter
	// NewFlow returns the flow at natural parameters θ (len NumFlowParams).
	NewFlow       func(theta []float64) (Flow, error)
	NumFlowParams int
	// Priors has one entry per unconstrained parameter: the flow's, then log τ².
	Priors []Prior
	// Tau2 is the leaf noise variance when EstimateNoise is false.
	Tau2          float64
	EstimateNoise bool

	theta, pbar []float64
}

// NumParams returns the number of unconstrained parameters before z.
func (p *FlowPotential) NumParams() int {
	if p.EstimateNoise {
		return p.NumFlowParams + 1
	}
	return p.NumFlowParams
}

// Dim returns the length of q.
func (p *FlowPotential) Dim() int { return p.NumParams() + p.Filter.NumNoise() }

// Clone returns a FlowPotential with the same configuration and anchors and its own
// filter and buffers.
func (p *FlowPotential) Clone() *FlowPotential {
	c := *p
	c.Filter = p.Filter.Clone()
	c.theta, c.pbar = nil, nil
	return &c
}

// LogDensity returns −U(q), or −Inf where the model cannot be evaluated.
func (p *FlowPotential) LogDensity(q []float64) float64 {
	v, _ := p.eval(q, nil)
	return v
}

// LogDensityGrad returns −U(q) and writes −∇U(q) into grad.
func (p *FlowPotential) LogDensityGrad(q, grad []float64) float64 {
	v, _ := p.eval(q, grad)
	return v
}

// Check evaluates −U and its gradient at q and returns an error naming the problem
// when either is not finite.
func (p *FlowPotential) Check(q []float64) error {
	grad := make([]float64, p.Dim())
	v, err := p.eval(q, grad)
	if err != nil {
		return err
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("bffg: log density %v at the initial point", v)
	}
	for i, g := range grad {
		if math.IsNaN(g) || math.IsInf(g, 0) {
			return fmt.Errorf("bffg: gradient coordinate %d is %v at the initial point", i, g)
		}
	}
	return nil
}

func (p *FlowPotential) eval(q, grad []float64) (float64, error) {
	np, nf := p.NumParams(), p.NumFlowParams
	if len(p.Priors) != np {
		panic(fmt.Sprintf("bffg: FlowPotential has %d parameters and %d priors", np, len(p.Priors)))
	}
	if len(q) != p.Dim() || (grad != nil && len(grad) != len(q)) {
		panic("bffg: FlowPotential: wrong length")
	}
	fail := math.Inf(-1)
	if grad != nil {
		clear(grad)
	}
	p.theta = growZero(p.theta, nf)
	lp := 0.0
	for i := 0; i < np; i++ {
		v, dv := p.Priors[i].LogPDF(q[i])
		lp += v
		if grad != nil {
			grad[i] = dv
		}
	}
	for i := 0; i < nf; i++ {
		p.theta[i] = math.Exp(q[i])
	}
	tau2 := p.Tau2
	if p.EstimateNoise {
		tau2 = math.Exp(q[nf])
	}
	flow, err := p.NewFlow(p.theta)
	if err != nil {
		return fail, err
	}
	f := p.Filter
	if err := f.Run(flow, tau2); err != nil {
		return fail, err
	}
	z := q[np:]
	sum, err := f.Guide(z)
	if err != nil {
		return fail, err
	}
	J := f.LogLikelihood() + sum
	v := lp + J - 0.5*dot(z, z) - 0.5*float64(len(z))*log2Pi
	if math.IsNaN(v) {
		return fail, errors.New("bffg: log density is NaN")
	}
	if grad == nil {
		return v, nil
	}
	p.pbar = growZero(p.pbar, nf)
	tb, err := f.Backward(z, grad[np:], p.pbar)
	if err != nil {
		return fail, err
	}
	for i := 0; i < nf; i++ {
		grad[i] += p.pbar[i] * p.theta[i] // dθ/du = θ
	}
	if p.EstimateNoise {
		grad[nf] += tb * tau2
	}
	for i, e := range z {
		grad[np+i] -= e
	}
	return v, nil
}

// States writes the node states of the guided pass at q (Len×n×d, node-major; the
// root's is the fixed root state) into x: the map from a posterior draw of (u, z) to a
// draw of the ancestral shapes.
func (p *FlowPotential) States(q, x []float64) error {
	f := p.Filter
	nd := f.n * f.d
	if len(q) != p.Dim() || len(x) != f.t.Len()*nd {
		panic("bffg: FlowPotential.States: wrong length")
	}
	if _, err := p.eval(q, nil); err != nil {
		return err
	}
	copy(x, f.root)
	for v := 1; v < f.t.Len(); v++ {
		copy(x[v*nd:(v+1)*nd], f.State(v))
	}
	return nil
}

// Clone returns a FlowFilter with the same tree, data, anchors and settings, and its
// own buffers.
func (f *FlowFilter) Clone() *FlowFilter {
	c := &FlowFilter{Steps: f.Steps, TimeChange: f.TimeChange, SemiImplicit: f.SemiImplicit, ExactSteps: f.ExactSteps,
		LocalAux: f.LocalAux, ExponentialSteps: f.ExponentialSteps, StepLength: f.StepLength, Workers: f.Workers, Discrete: f.Discrete}
	if f.t == nil {
		return c
	}
	if err := c.SetData(f.t, f.n, f.d, f.root, f.y); err != nil {
		panic("bffg: FlowFilter.Clone: " + err.Error()) // the data passed SetData once
	}
	c.SetAnchors(f.Anchors())
	return c
}

// FlowAnchors sets f's anchors by hyperiax's Algorithm 3 at the given flow and noise:
// iters backward filters from the current anchors, each followed by a refinement.
func FlowAnchors(f *FlowFilter, flow Flow, tau2 float64, iters int) error {
	for i := 0; i < iters; i++ {
		if err := f.Run(flow, tau2); err != nil {
			return err
		}
		f.Refine()
	}
	return nil
}
