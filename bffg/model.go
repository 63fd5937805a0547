package bffg

import (
	"errors"
	"fmt"
	"math"

	"github.com/canopy-bffg/canopy/topology"
)

// Proxy is the auxiliary (proxy) linear-Gaussian transition that the backward filter
// pulls messages through: x_v | x_pa ~ N(A x_pa + b, Q) on the edge above node v.
//
// Proxy writes A (d×d, row-major), b (d) and Q (d×d, symmetric positive definite or
// exactly zero for a zero-length edge) for the edge above v, linearised at anchor, the
// anchor point stored for v (models that are linear ignore it). It must not retain the
// slices and must be safe for concurrent calls with different v.
type Proxy interface {
	Proxy(v int, anchor, A, b, Q []float64)
}

// Kernel is the true Gaussian transition of the edge above node v given the parent
// state x: x_v | x_pa = x ~ N(mean, cov), where mean and cov may be nonlinear in x.
// Transition writes mean (d) and cov (d×d). It must be safe for concurrent calls.
type Kernel interface {
	Transition(v int, x, mean, cov []float64)
}

// ProxyFunc adapts a function to the Proxy interface.
type ProxyFunc func(v int, anchor, A, b, Q []float64)

// Proxy calls f.
func (f ProxyFunc) Proxy(v int, anchor, A, b, Q []float64) { f(v, anchor, A, b, Q) }

// KernelFunc adapts a function to the Kernel interface.
type KernelFunc func(v int, x, mean, cov []float64)

// Transition calls f.
func (f KernelFunc) Transition(v int, x, mean, cov []float64) { f(v, x, mean, cov) }

// scalarProxy and scalarKernel are optional fast paths for d = 1 that skip the slices.
// They must agree exactly with Proxy and Transition.
type scalarProxy interface {
	proxy1(v int, anchor float64) (a, b, q float64)
}

// scalarEdges fills the d = 1 coefficients (a, b, q) of every edge at once (index v
// for the edge above v; entry 0 unused), which is cheaper than one call per edge.
type scalarEdges interface {
	edges1(a, b, q []float64)
}

type scalarKernel interface {
	transition1(v int, x float64) (mean, q float64)
}

// BM is Brownian motion with rate Sigma2 per unit branch length and trait covariance
// Cov (d×d; nil means the identity): x_v | x_pa ~ N(x_pa, Sigma2 · ℓ_v · Cov), where
// ℓ_v is the branch length above v. It is both a Proxy and a Kernel.
type BM struct {
	Tree   *topology.Topology
	D      int
	Sigma2 float64
	Cov    []float64
}

// Proxy implements Proxy.
func (m BM) Proxy(v int, _ []float64, A, b, Q []float64) {
	setIdentity(A, m.D)
	for i := range b[:m.D] {
		b[i] = 0
	}
	m.cov(v, Q)
}

// Transition implements Kernel.
func (m BM) Transition(v int, x, mean, cov []float64) {
	copy(mean, x[:m.D])
	m.cov(v, cov)
}

func (m BM) proxy1(v int, _ float64) (a, b, q float64) {
	return 1, 0, m.scalarCov(v)
}

func (m BM) edges1(a, b, q []float64) {
	// The same arithmetic as scalarCov, so that proxy = truth stays bit-identical.
	for v := 1; v < len(q); v++ {
		a[v], b[v], q[v] = 1, 0, m.scalarCov(v)
	}
}

func (m BM) transition1(v int, x float64) (mean, q float64) {
	return x, m.scalarCov(v)
}

func (m BM) scalarCov(v int) float64 {
	s := m.Sigma2 * m.Tree.BranchLength(v)
	if m.Cov != nil {
		s *= m.Cov[0]
	}
	return s
}

func (m BM) cov(v int, Q []float64) {
	s := m.Sigma2 * m.Tree.BranchLength(v)
	if m.Cov == nil {
		setIdentity(Q, m.D)
		for i := 0; i < m.D; i++ {
			Q[i*m.D+i] = s
		}
		return
	}
	for i, c := range m.Cov[:m.D*m.D] {
		Q[i] = s * c
	}
}

// OU is the Ornstein–Uhlenbeck process dX = Alpha(Theta − X)dt + √Sigma2 Cov^{1/2} dW,
// with one mean-reversion rate for all traits, optimum Theta (d; nil means zero) and trait
// covariance Cov (nil means the identity). Its exact transition over a branch of length ℓ
// is N(e^{−αℓ}x + (1 − e^{−αℓ})θ, Sigma2 · Cov · (1 − e^{−2αℓ})/(2α)), which tends to
// Brownian motion as Alpha → 0. It is both a Proxy and a Kernel.
type OU struct {
	Tree   *topology.Topology
	D      int
	Alpha  float64
	Theta  []float64
	Sigma2 float64
	Cov    []float64
}

func (m OU) coef(v int) (a, g, q float64) {
	l := m.Tree.BranchLength(v)
	e := math.Expm1(-m.Alpha * l) // e^{−αℓ} − 1, accurate for small αℓ
	a, g = 1+e, -e
	if m.Alpha == 0 {
		q = m.Sigma2 * l
	} else {
		q = m.Sigma2 * -math.Expm1(-2*m.Alpha*l) / (2 * m.Alpha)
	}
	return a, g, q
}

// Proxy implements Proxy.
func (m OU) Proxy(v int, _ []float64, A, b, Q []float64) {
	a, g, q := m.coef(v)
	setIdentity(A, m.D)
	for i := 0; i < m.D; i++ {
		A[i*m.D+i] = a
		b[i] = 0
		if m.Theta != nil {
			b[i] = g * m.Theta[i]
		}
	}
	m.scaleCov(Q, q)
}

func (m OU) proxy1(v int, _ float64) (a, b, q float64) {
	a, g, q := m.coef(v)
	if m.Theta != nil {
		b = g * m.Theta[0]
	}
	if m.Cov != nil {
		q *= m.Cov[0]
	}
	return a, b, q
}

func (m OU) transition1(v int, x float64) (mean, q float64) {
	a, b, q := m.proxy1(v, 0)
	return a*x + b, q
}

// Transition implements Kernel.
func (m OU) Transition(v int, x, mean, cov []float64) {
	a, g, q := m.coef(v)
	for i := 0; i < m.D; i++ {
		mean[i] = a * x[i]
		if m.Theta != nil {
			mean[i] += g * m.Theta[i]
		}
	}
	m.scaleCov(cov, q)
}

func (m OU) scaleCov(Q []float64, q float64) {
	if m.Cov == nil {
		setIdentity(Q, m.D)
		for i := 0; i < m.D; i++ {
			Q[i*m.D+i] = q
		}
		return
	}
	for i, c := range m.Cov[:m.D*m.D] {
		Q[i] = q * c
	}
}

// Obs holds the leaf observations y_ℓ = x_ℓ + η_ℓ with η_ℓ ~ N(0, R) on the observed
// coordinates of each leaf.
type Obs struct {
	// Y holds NumLeaves×D values, leaf-major, leaves in breadth-first order
	// (Topology.Leaf(i) is row i). NaN marks a missing value; a leaf whose values are
	// all missing is unobserved.
	Y []float64
	// Var is the isotropic noise variance τ² used when Cov and LeafVar are nil. Zero
	// means the leaves are observed exactly.
	Var float64
	// LeafVar, if not nil, gives each leaf its own isotropic noise variance (NumLeaves
	// entries, in the order of Y), overriding Var; a zero entry marks an exact leaf.
	LeafVar []float64
	// Cov, if not nil, is the D×D noise covariance R shared by all leaves; a leaf with
	// missing values uses the rows and columns of its observed coordinates. It must be
	// positive definite there, or zero for exact observations.
	Cov []float64
}

// Root is the state at the root: fixed at Mean when Cov is nil, else Gaussian N(Mean, Cov)
// and integrated out. A nil Mean means zero. With Flat set, the root has an improper
// flat prior instead (Mean and Cov are ignored); this needs H_root positive definite,
// and then the root's posterior is N(H_root⁻¹F_root, H_root⁻¹).
type Root struct {
	Mean []float64
	Cov  []float64
	Flat bool
}

// Errors reported by the filter and the guided pass; they come wrapped in a *NodeError.
var (
	ErrNotPosDef   = errors.New("covariance is neither zero nor positive definite")
	ErrObservation = errors.New("invalid observation")
	ErrExactZero   = errors.New("exact observation at the end of a zero-variance edge")
)

// NodeError reports a numerical or data problem at a node.
type NodeError struct {
	Node int    // node index in breadth-first order
	Name string // node label, if any
	What string // which quantity
	Err  error
}

func (e *NodeError) Error() string {
	name := ""
	if e.Name != "" {
		name = fmt.Sprintf(" (%q)", e.Name)
	}
	return fmt.Sprintf("bffg: node %d%s: %s: %v", e.Node, name, e.What, e.Err)
}

func (e *NodeError) Unwrap() error { return e.Err }

// NumParams returns 1: BM's parameter vector is (Sigma2).
func (m BM) NumParams() int { return 1 }

// ProxyVJP implements ProxyVJP: ∂Q/∂σ² = ℓ_v·Cov.
func (m BM) ProxyVJP(v int, _, _, _, Qbar, grad []float64) {
	grad[0] += m.covDot(v, Qbar)
}

// TransitionVJP implements KernelVJP: the mean is the parent state.
func (m BM) TransitionVJP(v int, _, meanBar, covBar, xbar, grad []float64) {
	addScaled(xbar[:m.D], 1, meanBar)
	grad[0] += m.covDot(v, covBar)
}

// covDot returns Σ Q̄_ij ∂Q_ij/∂σ².
func (m BM) covDot(v int, Qbar []float64) float64 {
	l := m.Tree.BranchLength(v)
	s := 0.0
	if m.Cov == nil {
		for i := 0; i < m.D; i++ {
			s += Qbar[i*m.D+i]
		}
	} else {
		s = dot(Qbar[:m.D*m.D], m.Cov[:m.D*m.D])
	}
	return l * s
}

// NumParams returns D+2: OU's parameter vector is (Alpha, Theta_1..Theta_D, Sigma2).
// A nil Theta counts as zero and still receives its derivative.
func (m OU) NumParams() int { return m.D + 2 }

// coefDeriv returns the derivatives with respect to α of a = e^{−αℓ}, g = 1 − a and
// q = (1 − e^{−2αℓ})/(2α) (times Sigma2), the last by its series when αℓ is small.
func (m OU) coefDeriv(v int) (da, dg, dq float64) {
	l := m.Tree.BranchLength(v)
	a := math.Exp(-m.Alpha * l)
	da, dg = -l*a, l*a
	x := m.Alpha * l
	if math.Abs(x) < 1e-4 {
		// q/σ² = ℓ(1 − x + 2x²/3 − x³/3 + …), so dq/dα = σ²ℓ²(−1 + 4x/3 − x²).
		dq = m.Sigma2 * l * l * (-1 + 4*x/3 - x*x)
	} else {
		em := math.Expm1(-2 * x) // e^{−2αℓ} − 1, accurate where the two terms nearly cancel
		dq = m.Sigma2 * (l*(1+em)/m.Alpha + em/(2*m.Alpha*m.Alpha))
	}
	return da, dg, dq
}

func (m OU) theta(i int) float64 {
	if m.Theta == nil {
		return 0
	}
	return m.Theta[i]
}

// ProxyVJP implements ProxyVJP.
func (m OU) ProxyVJP(v int, _, Abar, bbar, Qbar, grad []float64) {
	d := m.D
	_, g, q := m.coef(v)
	da, dg, dq := m.coefDeriv(v)
	for i := 0; i < d; i++ {
		grad[0] += Abar[i*d+i]*da + bbar[i]*dg*m.theta(i)
		grad[1+i] += bbar[i] * g
	}
	m.covVJP(Qbar, q, dq, grad)
}

// TransitionVJP implements KernelVJP.
func (m OU) TransitionVJP(v int, x, meanBar, covBar, xbar, grad []float64) {
	d := m.D
	a, g, q := m.coef(v)
	da, dg, dq := m.coefDeriv(v)
	for i := 0; i < d; i++ {
		xbar[i] += a * meanBar[i]
		grad[0] += meanBar[i] * (da*x[i] + dg*m.theta(i))
		grad[1+i] += meanBar[i] * g
	}
	m.covVJP(covBar, q, dq, grad)
}

// covVJP adds the derivatives of Q = q·Cov with respect to α and σ², given q (which
// includes σ²) and dq/dα.
func (m OU) covVJP(Qbar []float64, q, dq float64, grad []float64) {
	d := m.D
	s := 0.0
	if m.Cov == nil {
		for i := 0; i < d; i++ {
			s += Qbar[i*d+i]
		}
	} else {
		s = dot(Qbar[:d*d], m.Cov[:d*d])
	}
	grad[0] += s * dq
	if m.Sigma2 != 0 {
		grad[d+1] += s * q / m.Sigma2
	}
}
