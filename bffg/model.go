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
