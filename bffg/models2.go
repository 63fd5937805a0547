package bffg

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/canopy-bffg/canopy/topology"
)

// MvBM is multivariate Brownian motion x_v | x_pa ~ N(x_pa, ℓ_v Σ) with the trait
// covariance Σ = LL' parameterised by its Cholesky factor: θ holds the lower triangle of
// L row by row, with log L_ii on the diagonal, so every θ ∈ R^{d(d+1)/2} is valid.
// Set θ with SetParams before use.
type MvBM struct {
	Tree  *topology.Topology
	D     int
	theta []float64
	sigma []float64 // Σ = LL'
	l     []float64 // L
}

// NewMvBM returns a multivariate Brownian motion with Σ = I.
func NewMvBM(t *topology.Topology, d int) *MvBM {
	m := &MvBM{Tree: t, D: d}
	m.SetParams(make([]float64, d*(d+1)/2))
	return m
}

// NumParams returns d(d+1)/2.
func (m *MvBM) NumParams() int { return m.D * (m.D + 1) / 2 }

// Params implements Parametric.
func (m *MvBM) Params(dst []float64) []float64 { return append(dst[:0], m.theta...) }

// SetParams implements Parametric.
func (m *MvBM) SetParams(theta []float64) {
	d := m.D
	m.theta = append(m.theta[:0], theta[:m.NumParams()]...)
	if len(m.l) != d*d {
		m.l, m.sigma = make([]float64, d*d), make([]float64, d*d)
	}
	k := 0
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			if i == j {
				m.l[i*d+j] = math.Exp(theta[k])
			} else {
				m.l[i*d+j] = theta[k]
			}
			k++
		}
	}
	mulBT(m.sigma, m.l, m.l, d, d, d)
}

// Sigma returns a copy of the trait covariance Σ.
func (m *MvBM) Sigma() []float64 { return append([]float64(nil), m.sigma...) }

// Proxy implements Proxy.
func (m *MvBM) Proxy(v int, _, A, b, Q []float64) {
	setIdentity(A, m.D)
	clear(b[:m.D])
	m.cov(v, Q)
}

// Transition implements Kernel.
func (m *MvBM) Transition(v int, x, mean, cov []float64) {
	copy(mean, x[:m.D])
	m.cov(v, cov)
}

func (m *MvBM) cov(v int, Q []float64) {
	l := m.Tree.BranchLength(v)
	for i, s := range m.sigma {
		Q[i] = l * s
	}
}

// ProxyVJP implements ProxyVJP.
func (m *MvBM) ProxyVJP(v int, _, _, _, Qbar, grad []float64) { m.sigmaVJP(v, Qbar, grad) }

// TransitionVJP implements KernelVJP.
func (m *MvBM) TransitionVJP(v int, _, meanBar, covBar, xbar, grad []float64) {
	addScaled(xbar[:m.D], 1, meanBar)
	m.sigmaVJP(v, covBar, grad)
}

// sigmaVJP maps Q̄ (Q = ℓΣ, Σ = LL') to θ: Σ̄ = ℓ·sym(Q̄), L̄ = 2Σ̄L, and the log
// diagonal multiplies by L_ii.
func (m *MvBM) sigmaVJP(v int, Qbar, grad []float64) {
	d := m.D
	l := m.Tree.BranchLength(v)
	k := 0
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			s := 0.0 // (2 Σ̄ L)_ij with Σ̄ = ℓ(Q̄ + Q̄')/2
			for p := 0; p < d; p++ {
				s += (Qbar[i*d+p] + Qbar[p*d+i]) * m.l[p*d+j]
			}
			s *= l
			if i == j {
				s *= m.l[i*d+i]
			}
			grad[k] += s
			k++
		}
	}
}

// Linear is a general linear-Gaussian edge x_v | x_pa ~ N(A x_pa + b, ℓ_v LL'), the same
// on every edge, with θ = (A row by row, b, lower triangle of L with log-diagonal):
// d² + d + d(d+1)/2 parameters. Set θ with SetParams before use.
type Linear struct {
	Tree *topology.Topology
	D    int
	bm   MvBM // holds L and Σ = LL'
	a, b []float64
}

// NewLinear returns the model with A = I, b = 0 and L = I.
func NewLinear(t *topology.Topology, d int) *Linear {
	m := &Linear{Tree: t, D: d, bm: MvBM{Tree: t, D: d}}
	theta := make([]float64, m.NumParams())
	for i := 0; i < d; i++ {
		theta[i*d+i] = 1
	}
	m.SetParams(theta)
	return m
}

// NumParams returns d² + d + d(d+1)/2.
func (m *Linear) NumParams() int { return m.D*m.D + m.D + m.D*(m.D+1)/2 }

// Params implements Parametric.
func (m *Linear) Params(dst []float64) []float64 {
	dst = append(append(dst[:0], m.a...), m.b...)
	return append(dst, m.bm.theta...)
}

// SetParams implements Parametric.
func (m *Linear) SetParams(theta []float64) {
	d := m.D
	m.a = append(m.a[:0], theta[:d*d]...)
	m.b = append(m.b[:0], theta[d*d:d*d+d]...)
	m.bm.SetParams(theta[d*d+d:])
}

// Proxy implements Proxy.
func (m *Linear) Proxy(v int, _, A, b, Q []float64) {
	copy(A, m.a)
	copy(b, m.b)
	m.bm.cov(v, Q)
}

// Transition implements Kernel.
func (m *Linear) Transition(v int, x, mean, cov []float64) {
	mulVec(mean, m.a, m.D, m.D, x)
	addScaled(mean, 1, m.b)
	m.bm.cov(v, cov)
}

// ProxyVJP implements ProxyVJP.
func (m *Linear) ProxyVJP(v int, _, Abar, bbar, Qbar, grad []float64) {
	d := m.D
	addScaled(grad[:d*d], 1, Abar[:d*d])
	addScaled(grad[d*d:d*d+d], 1, bbar[:d])
	m.bm.sigmaVJP(v, Qbar, grad[d*d+d:])
}

// TransitionVJP implements KernelVJP.
func (m *Linear) TransitionVJP(v int, x, meanBar, covBar, xbar, grad []float64) {
	d := m.D
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			xbar[j] += m.a[i*d+j] * meanBar[i]
			grad[i*d+j] += meanBar[i] * x[j]
		}
	}
	addScaled(grad[d*d:d*d+d], 1, meanBar)
	m.bm.sigmaVJP(v, covBar, grad[d*d+d:])
}

// DerivativeCheck reports the worst disagreement found by CheckDerivatives.
type DerivativeCheck struct {
	Worst     float64 // largest relative error, |adjoint − fd| / max(1, |fd|)
	Component string  // where it occurred
}

func (c DerivativeCheck) String() string {
	return fmt.Sprintf("worst relative error %.3g at %s", c.Worst, c.Component)
}

// CheckDerivatives compares a model's vector–Jacobian products with central finite
// differences at its current parameters, on the edges above the given nodes with
// random adjoints and parent states drawn from rng: ProxyVJP against the proxy's
// (A, b, Q) and, if the model is a KernelVJP, TransitionVJP against (mean, cov) with
// respect to θ and the parent state. It restores the parameters before returning.
func CheckDerivatives(m Parametric, d int, nodes []int, rng *rand.Rand) DerivativeCheck {
	np := m.NumParams()
	theta := m.Params(nil)
	defer m.SetParams(theta)
	var worst DerivativeCheck
	note := func(adj, fd float64, what string) {
		e := math.Abs(adj-fd) / math.Max(1, math.Abs(fd))
		if e > worst.Worst || worst.Component == "" {
			worst = DerivativeCheck{Worst: e, Component: what}
		}
	}
	rnd := func(n int) []float64 {
		s := make([]float64, n)
		for i := range s {
			s[i] = rng.NormFloat64()
		}
		return s
	}
	A, b, Q, mean, cov := make([]float64, d*d), make([]float64, d), make([]float64, d*d), make([]float64, d), make([]float64, d*d)
	kv, isKernel := m.(KernelVJP)
	for _, v := range nodes {
		anchor, x := rnd(d), rnd(d)
		Abar, bbar, Qbar, mbar, cbar := rnd(d*d), rnd(d), rnd(d*d), rnd(d), rnd(d*d)
		symmetrize(Qbar, d)
		symmetrize(cbar, d)
		proxyJ := func() float64 {
			m.Proxy(v, anchor, A, b, Q)
			return dot(Abar, A) + dot(bbar, b) + dot(Qbar, Q)
		}
		kernelJ := func() float64 {
			kv.Transition(v, x, mean, cov)
			return dot(mbar, mean) + dot(cbar, cov)
		}
		gp := make([]float64, np)
		m.ProxyVJP(v, anchor, Abar, bbar, Qbar, gp)
		gk, gx := make([]float64, np), make([]float64, d)
		if isKernel {
			kv.TransitionVJP(v, x, mbar, cbar, gx, gk)
		}
		th := append([]float64(nil), theta...)
		for i := 0; i < np; i++ {
			h := 1e-6 * (1 + math.Abs(th[i]))
			th[i] = theta[i] + h
			m.SetParams(th)
			pp := proxyJ()
			kp := 0.0
			if isKernel {
				kp = kernelJ()
			}
			th[i] = theta[i] - h
			m.SetParams(th)
			pm := proxyJ()
			km := 0.0
			if isKernel {
				km = kernelJ()
			}
			th[i] = theta[i]
			m.SetParams(theta)
			note(gp[i], (pp-pm)/(2*h), fmt.Sprintf("ProxyVJP, node %d, θ[%d]", v, i))
			if isKernel {
				note(gk[i], (kp-km)/(2*h), fmt.Sprintf("TransitionVJP, node %d, θ[%d]", v, i))
			}
		}
		if isKernel {
			for i := 0; i < d; i++ {
				h := 1e-6 * (1 + math.Abs(x[i]))
				old := x[i]
				x[i] = old + h
				kp := kernelJ()
				x[i] = old - h
				km := kernelJ()
				x[i] = old
				note(gx[i], (kp-km)/(2*h), fmt.Sprintf("TransitionVJP, node %d, x[%d]", v, i))
			}
		}
	}
	return worst
}

// Copy implements Parametric.
func (m *MvBM) Copy() Parametric {
	c := &MvBM{Tree: m.Tree, D: m.D}
	c.SetParams(m.theta)
	return c
}

// Copy implements Parametric.
func (m *Linear) Copy() Parametric {
	c := &Linear{Tree: m.Tree, D: m.D, bm: MvBM{Tree: m.Tree, D: m.D}}
	c.SetParams(m.Params(nil))
	return c
}
