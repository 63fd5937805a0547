package mcmc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/mat"
)

// ErrNotPositiveDefinite is wrapped by errors about an inverse metric that is not
// symmetric positive definite.
var ErrNotPositiveDefinite = errors.New("mcmc: inverse metric is not positive definite")

// Metric is the inverse metric M⁻¹ of Hamiltonian Monte Carlo, diagonal or dense.
// Momenta are drawn from N(0, M), the kinetic energy is ½pᵀM⁻¹p and positions move
// with velocity M⁻¹p. A good M⁻¹ approximates the posterior covariance. A
// RandomWalk uses M⁻¹ as the covariance of its proposal instead.
//
// A Metric is read by concurrent chains only if none of them adapts it; Run gives
// every chain its own copy.
type Metric struct {
	n     int
	dense bool
	// inv is M⁻¹: n values, or n×n row-major (symmetric, both triangles stored).
	inv []float64
	// fac draws momenta: 1/√(M⁻¹)ᵢᵢ for a diagonal metric; for a dense one the upper
	// Cholesky factor U with M⁻¹ = UᵀU, row-major, so that p = U⁻¹u has covariance
	// (UᵀU)⁻¹ = M when u ~ N(0, I).
	fac []float64
}

// NewDiagMetric returns a diagonal inverse metric with diagonal inv (copied). It
// returns an error wrapping ErrNotPositiveDefinite unless every entry is positive
// and finite.
func NewDiagMetric(inv []float64) (*Metric, error) {
	m := &Metric{}
	if err := m.setDiag(inv); err != nil {
		return nil, err
	}
	return m, nil
}

// NewDenseMetric returns a dense inverse metric equal to inv (copied). It returns an
// error wrapping ErrNotPositiveDefinite if inv is not positive definite.
func NewDenseMetric(inv mat.Symmetric) (*Metric, error) {
	m := &Metric{}
	if err := m.setDense(inv); err != nil {
		return nil, err
	}
	return m, nil
}

// IdentityMetric returns the n×n identity, stored densely if dense is true.
func IdentityMetric(n int, dense bool) *Metric {
	m := &Metric{n: n, dense: dense}
	if dense {
		m.inv = make([]float64, n*n)
		m.fac = make([]float64, n*n)
		for i := range n {
			m.inv[i*n+i] = 1
			m.fac[i*n+i] = 1
		}
		return m
	}
	m.inv = make([]float64, n)
	m.fac = make([]float64, n)
	for i := range n {
		m.inv[i] = 1
		m.fac[i] = 1
	}
	return m
}

// Dim returns n.
func (m *Metric) Dim() int { return m.n }

// IsDense reports whether m is stored as a dense matrix.
func (m *Metric) IsDense() bool { return m.dense }

// Clone returns a deep copy of m.
func (m *Metric) Clone() *Metric {
	return &Metric{n: m.n, dense: m.dense,
		inv: append([]float64(nil), m.inv...), fac: append([]float64(nil), m.fac...)}
}

// DiagTo writes the diagonal of M⁻¹ into dst and returns it; a nil dst is allocated.
// It panics if a non-nil dst does not have length Dim().
func (m *Metric) DiagTo(dst []float64) []float64 {
	if dst == nil {
		dst = make([]float64, m.n)
	}
	if len(dst) != m.n {
		panic("mcmc: Metric.DiagTo dimension mismatch")
	}
	for i := range dst {
		if m.dense {
			dst[i] = m.inv[i*m.n+i]
		} else {
			dst[i] = m.inv[i]
		}
	}
	return dst
}

// DenseTo writes M⁻¹ into dst and returns it. An empty dst (zero value or Reset) is
// resized; a non-empty dst of the wrong size panics, as in gonum/mat.
func (m *Metric) DenseTo(dst *mat.SymDense) *mat.SymDense {
	if dst.IsEmpty() {
		dst.ReuseAsSym(m.n)
	}
	if dst.SymmetricDim() != m.n {
		panic("mcmc: Metric.DenseTo dimension mismatch")
	}
	for i := range m.n {
		for j := i; j < m.n; j++ {
			v := 0.0
			switch {
			case m.dense:
				v = m.inv[i*m.n+j]
			case i == j:
				v = m.inv[i]
			}
			dst.SetSym(i, j, v)
		}
	}
	return dst
}

func (m *Metric) setDiag(inv []float64) error {
	for i, v := range inv {
		if !(v > 0) || math.IsInf(v, 1) {
			return fmt.Errorf("%w: diagonal entry %d is %g", ErrNotPositiveDefinite, i, v)
		}
	}
	n := len(inv)
	m.n, m.dense = n, false
	m.inv = resize(m.inv, n)
	m.fac = resize(m.fac, n)
	copy(m.inv, inv)
	for i, v := range inv {
		m.fac[i] = 1 / math.Sqrt(v)
	}
	return nil
}

func (m *Metric) setDense(inv mat.Symmetric) error {
	n := inv.SymmetricDim()
	for i := range n {
		for j := i; j < n; j++ {
			if !finite(inv.At(i, j)) {
				return fmt.Errorf("%w: entry (%d, %d) is %g", ErrNotPositiveDefinite, i, j, inv.At(i, j))
			}
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(inv) {
		return fmt.Errorf("%w: Cholesky factorisation failed", ErrNotPositiveDefinite)
	}
	var u mat.TriDense
	chol.UTo(&u)
	m.n, m.dense = n, true
	m.inv = resize(m.inv, n*n)
	m.fac = resize(m.fac, n*n)
	for i := range n {
		for j := range n {
			m.inv[i*n+j] = inv.At(i, j)
			m.fac[i*n+j] = u.At(i, j)
		}
	}
	return nil
}

// sampleMomentum draws p ~ N(0, M).
func (m *Metric) sampleMomentum(r *rand.Rand, p []float64) {
	for i := range p {
		p[i] = r.NormFloat64()
	}
	if !m.dense {
		for i, f := range m.fac {
			p[i] *= f
		}
		return
	}
	u := blas64.Triangular{Uplo: blas.Upper, Diag: blas.NonUnit, N: m.n, Stride: m.n, Data: m.fac}
	blas64.Trsv(blas.NoTrans, u, blas64.Vector{N: m.n, Inc: 1, Data: p})
}

// mulCovFactor writes dst = Lu, where LLᵀ = M⁻¹, so that dst ~ N(0, M⁻¹) when
// u ~ N(0, I): a random-walk proposal step shaped by M⁻¹.
func (m *Metric) mulCovFactor(dst, u []float64) {
	if !m.dense {
		for i, f := range m.fac {
			dst[i] = u[i] / f
		}
		return
	}
	// L = Uᵀ: dst_i = Σ_{k≤i} U_ki u_k.
	for i := range m.n {
		s := 0.0
		for k := 0; k <= i; k++ {
			s += m.fac[k*m.n+i] * u[k]
		}
		dst[i] = s
	}
}

// logDetInv returns log det M⁻¹.
func (m *Metric) logDetInv() float64 {
	s := 0.0
	if !m.dense {
		for _, v := range m.inv {
			s += math.Log(v)
		}
		return s
	}
	for i := range m.n {
		s += 2 * math.Log(m.fac[i*m.n+i])
	}
	return s
}

// velocity writes v = M⁻¹p (Stan's dτ/dp, the "sharp" momentum) and returns the
// kinetic energy ½pᵀM⁻¹p.
func (m *Metric) velocity(v, p []float64) float64 {
	if m.dense {
		// Both triangles are stored, so each entry is a contiguous row dot product:
		// for small n a plain loop (no call overhead), otherwise gonum's Gemv with
		// its assembly kernels. Both are several times faster than the pure-Go Symv.
		if m.n < 32 {
			for i := range v {
				v[i] = dot(m.inv[i*m.n:(i+1)*m.n], p)
			}
		} else {
			a := blas64.General{Rows: m.n, Cols: m.n, Stride: m.n, Data: m.inv}
			blas64.Gemv(blas.NoTrans, 1, a, blas64.Vector{N: m.n, Inc: 1, Data: p},
				0, blas64.Vector{N: m.n, Inc: 1, Data: v})
		}
	} else {
		for i, d := range m.inv {
			v[i] = d * p[i]
		}
	}
	return 0.5 * dot(p, v)
}

func resize(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// dot returns a·b with four partial sums, which run in parallel on the FPU; the
// summation order is fixed, so results do not depend on the platform's assembly.
func dot(a, b []float64) float64 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// CurvatureMetric returns a diagonal inverse metric for starting adaptation: 1 on
// every coordinate except those in idx, where it is 1/|c_i| with
// c_i = −∂²log π/∂q_i² at q, by central differences of the gradient with step h (away
// from the mode c_i may be negative; its size still gives the scale on which the
// density changes).
// It suits non-centred targets whose latent coordinates have standard normal priors
// while a few parameters are far more tightly determined given the latents: with
// the identity, the first adaptation stage would need tiny steps across every latent
// coordinate. It returns an error wrapping ErrNotFinite if the density is not finite
// near q, or ErrNotPositiveDefinite if a curvature is zero or not finite.
func CurvatureMetric(t GradDensity, q []float64, idx []int, h float64) (*Metric, error) {
	n := t.Dim()
	if len(q) != n {
		return nil, fmt.Errorf("mcmc: CurvatureMetric: point has length %d, target dimension is %d", len(q), n)
	}
	inv := make([]float64, n)
	for i := range inv {
		inv[i] = 1
	}
	x := append([]float64(nil), q...)
	gp, gm := make([]float64, n), make([]float64, n)
	for _, i := range idx {
		x[i] = q[i] + h
		lp := t.LogDensityGrad(x, gp)
		x[i] = q[i] - h
		lm := t.LogDensityGrad(x, gm)
		x[i] = q[i]
		if !finite(lp) || !finite(lm) {
			return nil, fmt.Errorf("%w: log density %g, %g at coordinate %d ± %g", ErrNotFinite, lp, lm, i, h)
		}
		c := math.Abs(gp[i]-gm[i]) / (2 * h)
		if !(c > 0) || math.IsInf(c, 0) {
			return nil, fmt.Errorf("%w: curvature %g of coordinate %d", ErrNotPositiveDefinite, c, i)
		}
		inv[i] = 1 / c
	}
	return NewDiagMetric(inv)
}
