package sde

import "math"

// Kernel constants of hyperiax notebook 07.
const (
	// kunitaNugget is added to the scaled squared distance before the square root,
	// r = sqrt(|p_i − p_j|²/k_σ² + 1e−8), keeping r away from 0 (NB07).
	kunitaNugget = 1e-8
	// kunitaJitter scales the diagonal jitter ε = 1e−6·max(1, max_i K_ii) (NB07).
	kunitaJitter = 1e-6
)

// Kunita is the Kunita-flow landmark SDE of hyperiax notebook 07 (bffg-math §3.5): N
// landmarks in R^Dim, flattened interleaved (x_0, y_0, x_1, y_1, …), so the state has
// D = N·Dim coordinates, with
//
//	b = 0,   a(q) = K_ε(q) ⊗ I_Dim,   σ(q) = chol(K_ε(q)) ⊗ I_Dim,   K_ε = K + εI,
//
// where K is the N×N Matérn-9/2 kernel matrix
//
//	r_ij = sqrt(|p_i − p_j|²/k_σ² + 1e−8),
//	K_ij = k_α·(1 + r + (3/7)r² + (2/21)r³ + (1/105)r⁴)·e^{−r},
//
// and ε = 1e−6·max(1, max_i K_ii) is the jitter. Every diagonal entry of K equals
// k_α·f(1e−4) (f the Matérn polynomial times e^{−r}), so ε depends on k_α only. The
// covariance includes the jitter, so a = σσ' up to rounding.
//
// KAlpha and KSigma must be positive. Dim is 2 or 3 in applications; any Dim ≥ 1 works.
// The factorised (N×N) forms KernelTo and FactorTo serve messages H = H_N ⊗ I_Dim.
type Kunita struct {
	N      int     // number of landmarks
	Dim    int     // landmark dimension
	KAlpha float64 // k_α, kernel amplitude
	KSigma float64 // k_σ, kernel length scale
}

var (
	_ SDE         = Kunita{}
	_ Covariancer = Kunita{}
)

// matern returns f(r) = (1 + r + (3/7)r² + (2/21)r³ + (1/105)r⁴)e^{−r}.
func matern(r float64) float64 {
	return (1 + r*(1+r*(45.0/105+r*(10.0/105+r/105)))) * math.Exp(-r)
}

// maternDr returns f(r) and f'(r)/r = −(15 + 15r + 6r² + r³)e^{−r}/105 (smooth at 0).
func maternDr(r float64) (f, g float64) {
	e := math.Exp(-r)
	return (1 + r*(1+r*(45.0/105+r*(10.0/105+r/105)))) * e, -(15 + r*(15+r*(6+r))) * e / 105
}

func (k Kunita) checkQ(q []float64) {
	if len(q) != k.N*k.Dim {
		panic("sde: dimension mismatch")
	}
}

// Dims returns (N·Dim, N·Dim).
func (k Kunita) Dims() (d, m int) { return k.N * k.Dim, k.N * k.Dim }

// Drift writes b = 0.
func (k Kunita) Drift(_ float64, _, dst []float64) { clear(dst) }

// dist2 returns |p_i − p_j|².
func (k Kunita) dist2(q []float64, i, j int) float64 {
	pi, pj := q[i*k.Dim:(i+1)*k.Dim], q[j*k.Dim:(j+1)*k.Dim]
	s := 0.0
	for a, v := range pi {
		e := v - pj[a]
		s += e * e
	}
	return s
}

// diag returns the common diagonal entry K_ii = k_α·f(sqrt(1e−8)).
func (k Kunita) diag() float64 {
	return k.KAlpha * matern(math.Sqrt(kunitaNugget))
}

// KernelTo writes the N×N kernel matrix K(q) (without jitter) into dst and returns it.
// K is symmetric by construction. It panics if len(q) != N·Dim or len(dst) != N².
func (k Kunita) KernelTo(dst, q []float64) []float64 {
	k.checkQ(q)
	n := k.N
	if len(dst) != n*n {
		panic("sde: dimension mismatch")
	}
	s2 := k.KSigma * k.KSigma
	kd := k.diag()
	for i := 0; i < n; i++ {
		dst[i*n+i] = kd
		for j := 0; j < i; j++ {
			r := math.Sqrt(k.dist2(q, i, j)/s2 + kunitaNugget)
			v := k.KAlpha * matern(r)
			dst[i*n+j], dst[j*n+i] = v, v
		}
	}
	return dst
}

// Jitter returns ε = 1e−6·max(1, max_i K_ii) = 1e−6·max(1, k_α·f(1e−4)).
func (k Kunita) Jitter() float64 {
	return kunitaJitter * math.Max(1, k.diag())
}

// jitterDAlpha returns dε/dk_α, treating max(1, m) at its active argument: 1e−6·f(1e−4)
// when m = k_α·f(1e−4) > 1, and 0 otherwise (including the tie m = 1).
func (k Kunita) jitterDAlpha() float64 {
	if k.diag() > 1 {
		return kunitaJitter * matern(math.Sqrt(kunitaNugget))
	}
	return 0
}

// FactorTo writes the lower Cholesky factor L of K_ε(q) = K(q) + εI (N×N) into dst. It
// returns a *PivotError when K_ε is not numerically positive definite, and panics on a
// size mismatch.
func (k Kunita) FactorTo(dst, q []float64) error {
	return CholeskyTo(dst, k.JitteredKernelTo(dst, q), k.N)
}

// JitteredKernelTo writes the N×N matrix K_ε(q) = K(q) + εI into dst and returns it:
// the factorised diffusion covariance, a(q) = K_ε(q) ⊗ I_Dim.
func (k Kunita) JitteredKernelTo(dst, q []float64) []float64 {
	k.KernelTo(dst, q)
	eps := k.Jitter()
	for i := 0; i < k.N; i++ {
		dst[i*k.N+i] += eps
	}
	return dst
}

// Diffusion writes σ(q) = chol(K_ε(q)) ⊗ I_Dim (D×D) into dst. It uses dst as its own
// workspace and does not allocate; it returns a *PivotError when K_ε is not positive
// definite.
func (k Kunita) Diffusion(_ float64, q, dst []float64) error {
	n, D := k.N, k.N*k.Dim
	if len(dst) != D*D {
		panic("sde: dimension mismatch")
	}
	if err := k.FactorTo(dst[:n*n], q); err != nil {
		return err
	}
	kronInPlace(dst, n, k.Dim)
	return nil
}

// Covariance writes a(q) = K_ε(q) ⊗ I_Dim (D×D) into dst without allocating.
func (k Kunita) Covariance(_ float64, q, dst []float64) error {
	n, D := k.N, k.N*k.Dim
	if len(dst) != D*D {
		panic("sde: dimension mismatch")
	}
	k.JitteredKernelTo(dst[:n*n], q)
	kronInPlace(dst, n, k.Dim)
	return nil
}

// KronTo writes A ⊗ I_d ((nd)×(nd)) into dst for the n×n matrix a and returns dst. With
// interleaved coordinates (index i·d + c for coordinate c of landmark i),
// (A ⊗ I_d)_{(i,c),(j,e)} = A_ij·δ_ce. dst must not alias a.
func KronTo(dst, a []float64, n, d int) []float64 {
	D := n * d
	if len(a) != n*n || len(dst) != D*D {
		panic("sde: dimension mismatch")
	}
	clear(dst)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			v := a[i*n+j]
			for c := 0; c < d; c++ {
				dst[(i*d+c)*D+j*d+c] = v
			}
		}
	}
	return dst
}

// KronVJPTo writes into dst (n×n) the adjoint Ā of A for X = A ⊗ I_d given X̄ ((nd)×(nd)):
// Ā_ij = Σ_c X̄_{(i,c),(j,c)}. It returns dst; dst must not alias xbar.
func KronVJPTo(dst, xbar []float64, n, d int) []float64 {
	D := n * d
	if len(dst) != n*n || len(xbar) != D*D {
		panic("sde: dimension mismatch")
	}
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for c := 0; c < d; c++ {
				s += xbar[(i*d+c)*D+j*d+c]
			}
			dst[i*n+j] = s
		}
	}
	return dst
}

// kronInPlace expands the n×n matrix held in a[:n²] into A ⊗ I_d over all of a
// ((nd)×(nd)). Entries are written from the last to the first: the source of target p
// sits at i·n + j ≤ p, and every target of a source lies at or after it, so no source is
// overwritten before it is read.
func kronInPlace(a []float64, n, d int) {
	if d == 1 {
		return
	}
	D := n * d
	for R := D - 1; R >= 0; R-- {
		i, c := R/d, R%d
		row := a[R*D : R*D+D]
		for C := D - 1; C >= 0; C-- {
			j, e := C/d, C%d
			if c == e {
				row[C] = a[i*n+j]
			} else {
				row[C] = 0
			}
		}
	}
}
