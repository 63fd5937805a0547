package sde

import "math"

// BM is scaled Brownian motion dX = s·dW on R^D: b = 0, σ = s·I_D.
type BM struct {
	D     int     // state dimension
	Scale float64 // s
}

var (
	_ SDE         = BM{}
	_ Covariancer = BM{}
	_ SDE         = OU{}
	_ Covariancer = OU{}
)

// Dims returns (D, D).
func (m BM) Dims() (d, n int) { return m.D, m.D }

// Drift writes b = 0.
func (m BM) Drift(_ float64, _, dst []float64) { clear(dst) }

// Diffusion writes σ = s·I_D.
func (m BM) Diffusion(_ float64, _, dst []float64) error {
	identityTo(dst, m.D)
	scaleDiag(dst, m.D, m.Scale)
	return nil
}

// Covariance writes a = s²·I_D.
func (m BM) Covariance(_ float64, _, dst []float64) error {
	identityTo(dst, m.D)
	scaleDiag(dst, m.D, m.Scale*m.Scale)
	return nil
}

// Linear returns BM as a linear auxiliary (B = 0, β = 0, ã = s²I); its transition over
// time τ is exact: N(x, s²τI).
func (m BM) Linear() Linear {
	a := make([]float64, m.D*m.D)
	_ = m.Covariance(0, nil, a)
	return Linear{D: m.D, A: a}
}

// OU is the isotropic Ornstein–Uhlenbeck process dX = −α(X − θ)dt + s·dW on R^D, with
// mean-reversion rate α, mean θ (nil means 0) and scale s.
type OU struct {
	D     int
	Alpha float64   // α
	Mean  []float64 // θ, length D; nil means 0
	Scale float64   // s
}

// Dims returns (D, D).
func (m OU) Dims() (d, n int) { return m.D, m.D }

// Drift writes b(x) = −α(x − θ).
func (m OU) Drift(_ float64, x, dst []float64) {
	for i, v := range x {
		if m.Mean != nil {
			v -= m.Mean[i]
		}
		dst[i] = -m.Alpha * v
	}
}

// Diffusion writes σ = s·I_D, Brownian motion's.
func (m OU) Diffusion(t float64, x, dst []float64) error {
	return BM{D: m.D, Scale: m.Scale}.Diffusion(t, x, dst)
}

// Covariance writes a = s²·I_D.
func (m OU) Covariance(t float64, x, dst []float64) error {
	return BM{D: m.D, Scale: m.Scale}.Covariance(t, x, dst)
}

// MeanTo writes the mean E[X_t | X_0 = x0] = θ + e^{−αt}(x0 − θ) into dst and returns it.
func (m OU) MeanTo(dst, x0 []float64, t float64) []float64 {
	e := math.Exp(-m.Alpha * t)
	for i, v := range x0 {
		th := 0.0
		if m.Mean != nil {
			th = m.Mean[i]
		}
		dst[i] = th + e*(v-th)
	}
	return dst
}

// Var returns the per-coordinate variance s²(1 − e^{−2αt})/(2α) of X_t given X_0
// (s²t when α = 0), evaluated with expm1 so that it stays accurate as α → 0.
func (m OU) Var(t float64) float64 {
	if m.Alpha == 0 {
		return m.Scale * m.Scale * t
	}
	return m.Scale * m.Scale * -math.Expm1(-2*m.Alpha*t) / (2 * m.Alpha)
}

// Linear returns OU as a linear SDE: B = −αI, β = αθ, ã = s²I. Used as the auxiliary
// of an OU edge it is exact (the guiding weight G vanishes).
func (m OU) Linear() Linear {
	d := m.D
	l := Linear{D: d, B: make([]float64, d*d), Beta: make([]float64, d), A: make([]float64, d*d)}
	for i := 0; i < d; i++ {
		l.B[i*d+i] = -m.Alpha
		if m.Mean != nil {
			l.Beta[i] = m.Alpha * m.Mean[i]
		}
		l.A[i*d+i] = m.Scale * m.Scale
	}
	return l
}

func scaleDiag(a []float64, n int, s float64) {
	for i := 0; i < n; i++ {
		a[i*n+i] *= s
	}
}
