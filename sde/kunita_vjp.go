package sde

import "math"

// KunitaWork is scratch space for the Kunita VJPs. The zero value is ready to use; it
// is sized on first use and reused, so warm calls do not allocate. A KunitaWork must not
// be used by several goroutines at once.
type KunitaWork struct {
	l, lbar, sbar []float64
}

func (w *KunitaWork) resize(n int) {
	w.l, w.lbar, w.sbar = grow(w.l, n*n), grow(w.lbar, n*n), grow(w.sbar, n*n)
}

// KernelVJPTo is the vector–Jacobian product of KernelTo: given the adjoint K̄ (N×N) of
// K(q) (K̄ need not be symmetric; δJ = Σ_ij K̄_ij δK_ij), it writes q̄ = (∂K/∂q)'K̄ into
// qbar (length N·Dim, overwritten) and returns k̄_α and k̄_σ. With g(r) = f'(r)/r =
// −(15 + 15r + 6r² + r³)e^{−r}/105 and w_ij = K̄_ij + K̄_ji,
//
//	k̄_α = Σ_ij K̄_ij f(r_ij),
//	k̄_σ = −Σ_{i<j} w_ij k_α g(r_ij) |p_i − p_j|²/k_σ³,
//	q̄_i = Σ_{j≠i} w_ij k_α g(r_ij) (p_i − p_j)/k_σ².
//
// The diagonal (r = 1e−4 for all q and k_σ) contributes to k̄_α only. The jitter is not
// part of K; FactorVJPTo and CovarianceVJPTo account for it.
func (k Kunita) KernelVJPTo(qbar, q, Kbar []float64) (alphaBar, sigmaBar float64) {
	k.checkQ(q)
	n, dim := k.N, k.Dim
	if len(qbar) != n*dim || len(Kbar) != n*n {
		panic("sde: dimension mismatch")
	}
	clear(qbar)
	s2 := k.KSigma * k.KSigma
	s3 := s2 * k.KSigma
	f0 := matern(math.Sqrt(kunitaNugget))
	for i := 0; i < n; i++ {
		alphaBar += Kbar[i*n+i] * f0
		pi := q[i*dim : (i+1)*dim]
		gi := qbar[i*dim : (i+1)*dim]
		for j := 0; j < i; j++ {
			w := Kbar[i*n+j] + Kbar[j*n+i]
			if w == 0 {
				continue
			}
			d2 := k.dist2(q, i, j)
			r := math.Sqrt(d2/s2 + kunitaNugget)
			f, g := maternDr(r)
			alphaBar += w * f
			g *= w * k.KAlpha
			sigmaBar -= g * d2 / s3
			pj := q[j*dim : (j+1)*dim]
			gj := qbar[j*dim : (j+1)*dim]
			for a := range pi {
				v := g * (pi[a] - pj[a]) / s2
				gi[a] += v
				gj[a] -= v
			}
		}
	}
	return alphaBar, sigmaBar
}

// jitteredVJP is KernelVJPTo for K_ε = K + ε(k_α)I.
func (k Kunita) jitteredVJP(qbar, q, Kbar []float64) (alphaBar, sigmaBar float64) {
	alphaBar, sigmaBar = k.KernelVJPTo(qbar, q, Kbar)
	if de := k.jitterDAlpha(); de != 0 {
		tr := 0.0
		for i := 0; i < k.N; i++ {
			tr += Kbar[i*k.N+i]
		}
		alphaBar += tr * de
	}
	return alphaBar, sigmaBar
}

// FactorVJPTo is the vector–Jacobian product of FactorTo, L = chol(K(q) + εI): given L
// and the adjoint L̄ of its lower triangle (N×N), it writes q̄ into qbar and returns k̄_α
// and k̄_σ. The Cholesky step uses Murray's rule (CholeskyVJPTo). The jitter
// ε = 1e−6·max(1, k_α f(1e−4)) is differentiated at its active argument: it adds
// tr(K̄_ε)·1e−6·f(1e−4) to k̄_α when k_α f(1e−4) > 1 and nothing otherwise (ties count as
// the constant branch).
func (k Kunita) FactorVJPTo(qbar, q, L, Lbar []float64, w *KunitaWork) (alphaBar, sigmaBar float64) {
	n := k.N
	w.resize(n)
	CholeskyVJPTo(w.sbar, L, Lbar, n)
	return k.jitteredVJP(qbar, q, w.sbar)
}

// DiffusionVJPTo is the vector–Jacobian product of Diffusion: given the adjoint σ̄ (D×D)
// of σ(q) = chol(K_ε(q)) ⊗ I_Dim, it writes q̄ into qbar and returns k̄_α and k̄_σ. It
// recomputes the factor into w; it returns the factorisation's error, if any.
func (k Kunita) DiffusionVJPTo(qbar, q, sigmaBar []float64, w *KunitaWork) (alphaBar, ksigmaBar float64, err error) {
	n := k.N
	w.resize(n)
	if err := k.FactorTo(w.l, q); err != nil {
		return 0, 0, err
	}
	KronVJPTo(w.lbar, sigmaBar, n, k.Dim)
	alphaBar, ksigmaBar = k.FactorVJPTo(qbar, q, w.l, w.lbar, w)
	return alphaBar, ksigmaBar, nil
}

// CovarianceVJPTo is the vector–Jacobian product of Covariance: given the adjoint ā
// (D×D) of a(q) = K_ε(q) ⊗ I_Dim, it writes q̄ into qbar and returns k̄_α and k̄_σ.
func (k Kunita) CovarianceVJPTo(qbar, q, abar []float64, w *KunitaWork) (alphaBar, sigmaBar float64) {
	w.resize(k.N)
	KronVJPTo(w.sbar, abar, k.N, k.Dim)
	return k.jitteredVJP(qbar, q, w.sbar)
}

// JitteredKernelVJPTo is the vector–Jacobian product of JitteredKernelTo: given the
// adjoint K̄ (N×N, not necessarily symmetric) of K_ε(q) = K(q) + εI, it writes q̄ into
// qbar (overwritten) and returns k̄_α and k̄_σ. The jitter is differentiated as in
// FactorVJPTo.
func (k Kunita) JitteredKernelVJPTo(qbar, q, Kbar []float64) (alphaBar, sigmaBar float64) {
	return k.jitteredVJP(qbar, q, Kbar)
}
