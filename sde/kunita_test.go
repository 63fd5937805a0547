package sde

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/canopy-bffg/canopy/internal/dense"
)

// Kernel entries at hand-computed points, NB07 parameters. Reference values of
// f(r) = (1 + r + 3r²/7 + 2r³/21 + r⁴/105)e^{−r} from 40-digit arithmetic (mpmath):
// f(√(1e−8)), f(√(1 + 1e−8)), f(√(4 + 1e−8)), f(√(5 + 1e−8)).
func TestKunitaKernelValues(t *testing.T) {
	const (
		f0 = 0.9999999992857142860714285712301587304068
		f1 = 0.9319612503194853424750661376661865367723
		f2 = 0.7617443080069906370023790349241865150811
		f5 = 0.7141384872139379241869851278011145758757
	)
	k := Kunita{N: 3, Dim: 2, KAlpha: 0.1, KSigma: 0.25}
	// p0 = 0; p1 at distance k_σ (r = √(1 + 1e−8)); p2 at 2k_σ from p0 and √5 k_σ from p1.
	q := []float64{0, 0, 0.25, 0, 0, 0.5}
	K := k.KernelTo(make([]float64, 9), q)
	want := []float64{
		f0, f1, f2,
		f1, f0, f5,
		f2, f5, f0,
	}
	for i := range want {
		if w := 0.1 * want[i]; math.Abs(K[i]-w) > 2e-16 {
			t.Errorf("K[%d,%d] = %.17g, want %.17g", i/3, i%3, K[i], w)
		}
	}
	if eps := k.Jitter(); eps != 1e-6 {
		t.Errorf("jitter %v, want 1e−6 (max diag 0.1 < 1)", eps)
	}
	big := Kunita{N: 3, Dim: 2, KAlpha: 4, KSigma: 0.25}
	if eps := big.Jitter(); math.Abs(eps-4e-6*f0) > 1e-21 {
		t.Errorf("jitter %v, want 1e−6·4·f(1e−4)", eps)
	}
	// Dim = 3: the same distances in R³ give the same kernel.
	k3 := Kunita{N: 3, Dim: 3, KAlpha: 0.1, KSigma: 0.25}
	K3 := k3.KernelTo(make([]float64, 9), []float64{0, 0, 0, 0, 0.25, 0, 0, 0, 0.5})
	if d := maxAbsDiff(K3, K); d != 0 {
		t.Errorf("3-D kernel differs by %v", d)
	}
}

// NB07: 16 landmarks on the unit circle with k_α = 0.1, k_σ = 0.25. K_ε is SPD (every
// Cholesky pivot positive, LL' = K_ε), and the factorised and full (⊗ I_2) forms agree.
func TestKunitaCircleSPD(t *testing.T) {
	n := 16
	k := Kunita{N: n, Dim: 2, KAlpha: 0.1, KSigma: 0.25}
	q := circle(n)
	K := k.KernelTo(make([]float64, n*n), q)
	L := make([]float64, n*n)
	if err := k.FactorTo(L, q); err != nil {
		t.Fatal(err)
	}
	minPivot := math.Inf(1)
	for i := 0; i < n; i++ {
		minPivot = math.Min(minPivot, L[i*n+i])
		for j := i + 1; j < n; j++ {
			if L[i*n+j] != 0 {
				t.Fatalf("L not lower triangular at %d,%d", i, j)
			}
		}
	}
	t.Logf("smallest Cholesky pivot %.4g", minPivot)
	LL := make([]float64, n*n)
	dense.Gemm(false, true, 1, L, n, n, L, n, n, 0, LL)
	eps := k.Jitter()
	for i := 0; i < n; i++ {
		K[i*n+i] += eps
	}
	if d := maxAbsDiff(LL, K); d > 1e-15 {
		t.Errorf("LL' differs from K + εI by %v", d)
	}
	// The circle is rotation invariant: K is circulant.
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			if d := math.Abs(K[i*n+j] - K[((i+1)%n)*n+(j+1)%n]); d > 1e-15 {
				t.Fatalf("K not circulant at %d,%d: %v", i, j, d)
			}
		}
	}

	D := 2 * n
	sigma, a := make([]float64, D*D), make([]float64, D*D)
	if err := k.Diffusion(0, q, sigma); err != nil {
		t.Fatal(err)
	}
	if err := k.Covariance(0, q, a); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(sigma, KronTo(make([]float64, D*D), L, n, 2)); d != 0 {
		t.Errorf("σ differs from L ⊗ I₂ by %v", d)
	}
	if d := maxAbsDiff(a, KronTo(make([]float64, D*D), K, n, 2)); d != 0 {
		t.Errorf("a differs from K_ε ⊗ I₂ by %v", d)
	}
	// Spot-check the interleaved layout: σ_{(i,c),(j,e)} = L_ij δ_ce.
	for _, idx := range [][4]int{{3, 0, 1, 0}, {5, 1, 2, 1}, {7, 0, 7, 1}, {9, 1, 4, 0}} {
		i, c, j, e := idx[0], idx[1], idx[2], idx[3]
		want := 0.0
		if c == e {
			want = L[i*n+j]
		}
		if got := sigma[(2*i+c)*D+2*j+e]; got != want {
			t.Errorf("σ[(%d,%d),(%d,%d)] = %v, want %v", i, c, j, e, got, want)
		}
	}
	// The full Cholesky of K_ε ⊗ I₂ is L ⊗ I₂.
	full := make([]float64, D*D)
	if err := CholeskyTo(full, a, D); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(full, sigma); d > 1e-15 {
		t.Errorf("chol(K_ε ⊗ I₂) differs from chol(K_ε) ⊗ I₂ by %v", d)
	}
	// KronVJPTo is the adjoint of KronTo: ⟨X̄, A ⊗ I⟩ = ⟨Ā, A⟩.
	rng := rand.New(rand.NewPCG(61, 62))
	xbar := randVec(rng, D*D)
	abar := KronVJPTo(make([]float64, n*n), xbar, n, 2)
	if l, r := dot(xbar, KronTo(make([]float64, D*D), K, n, 2)), dot(abar, K); math.Abs(l-r) > 1e-13 {
		t.Errorf("KronVJPTo not adjoint: %v vs %v", l, r)
	}
}

// A matrix that is not positive definite is reported with the failing pivot.
func TestCholeskyPivotError(t *testing.T) {
	a := []float64{
		4, 2, 0,
		2, 1, 0,
		0, 0, 1,
	} // singular: the second pivot is 1 − 2²/4 = 0
	err := CholeskyTo(make([]float64, 9), a, 3)
	var pe *PivotError
	if !errors.As(err, &pe) || pe.Index != 1 || pe.Pivot != 0 {
		t.Fatalf("got %v, want PivotError{Index: 1, Pivot: 0}", err)
	}
	a[4] = 0.5 // now the pivot is −0.5
	err = CholeskyTo(make([]float64, 9), a, 3)
	if !errors.As(err, &pe) || pe.Index != 1 || pe.Pivot != -0.5 {
		t.Fatalf("got %v, want pivot −0.5", err)
	}
	t.Log(err)
	// A kernel with a negative amplitude is not positive definite.
	k := Kunita{N: 4, Dim: 2, KAlpha: -0.1, KSigma: 0.25}
	if err := k.FactorTo(make([]float64, 16), circle(4)); !errors.As(err, &pe) || pe.Index != 0 {
		t.Errorf("negative amplitude: got %v", err)
	}
}

// fdCheck compares an analytic gradient with central differences of f along every
// coordinate of x, by Euclidean relative error.
func fdCheck(t *testing.T, name string, x []float64, grad []float64, f func() float64) {
	t.Helper()
	fd := make([]float64, len(x))
	for i := range x {
		h := 1e-6 * (1 + math.Abs(x[i]))
		x0 := x[i]
		x[i] = x0 + h
		fp := f()
		x[i] = x0 - h
		fm := f()
		x[i] = x0
		fd[i] = (fp - fm) / (2 * h)
	}
	if e := relErr(grad, fd); e > 1e-6 || math.IsNaN(e) {
		t.Errorf("%s: relative error %.3g\nanalytic %v\nfd       %v", name, e, grad, fd)
	} else {
		t.Logf("%s: relative error %.2g", name, e)
	}
}

// TestCholeskyVJP checks Murray's rule by finite differences, on a small matrix and on
// one above the order where both the factor and the rule switch to level-3 BLAS.
func TestCholeskyVJP(t *testing.T) {
	for _, n := range []int{6, 40} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) { checkCholeskyVJP(t, n) })
	}
}

func checkCholeskyVJP(t *testing.T, n int) {
	rng := rand.New(rand.NewPCG(71, uint64(n)))
	S := randSPD(rng, n, 0.3)
	W := randVec(rng, n*n)
	L := make([]float64, n*n)
	if err := CholeskyTo(L, S, n); err != nil {
		t.Fatal(err)
	}
	Sbar := make([]float64, n*n)
	CholeskyVJPTo(Sbar, L, W, n)
	// Entries of the symmetric S as free parameters s_ij (i ≥ j), both triangles moved.
	var params []float64
	var grad []float64
	for i := 0; i < n; i++ {
		for j := 0; j <= i; j++ {
			params = append(params, S[i*n+j])
			g := Sbar[i*n+j]
			if i != j {
				g *= 2
			}
			grad = append(grad, g)
		}
	}
	Sp := make([]float64, n*n)
	Lp := make([]float64, n*n)
	fdCheck(t, "Cholesky", params, grad, func() float64 {
		p := 0
		for i := 0; i < n; i++ {
			for j := 0; j <= i; j++ {
				Sp[i*n+j], Sp[j*n+i] = params[p], params[p]
				p++
			}
		}
		if err := CholeskyTo(Lp, Sp, n); err != nil {
			t.Fatal(err)
		}
		s := 0.0
		for i := 0; i < n; i++ {
			for j := 0; j <= i; j++ {
				s += W[i*n+j] * Lp[i*n+j]
			}
		}
		return s
	})
}

// kunitaParams packs (q, k_α, k_σ) for finite differences.
type kunitaCase struct {
	name string
	k    Kunita
	q    []float64
}

func kunitaCases(rng *rand.Rand) []kunitaCase {
	rq := func(n, d int) []float64 {
		q := make([]float64, n*d)
		for i := range q {
			q[i] = rng.Float64()
		}
		return q
	}
	return []kunitaCase{
		{"2-D random", Kunita{N: 5, Dim: 2, KAlpha: 0.3, KSigma: 0.4}, rq(5, 2)},
		{"3-D random", Kunita{N: 4, Dim: 3, KAlpha: 0.7, KSigma: 0.6}, rq(4, 3)},
		{"NB07 circle", Kunita{N: 16, Dim: 2, KAlpha: 0.1, KSigma: 0.25}, circle(16)},
		{"active jitter", Kunita{N: 5, Dim: 2, KAlpha: 3, KSigma: 0.5}, rq(5, 2)},
	}
}

// grad packs (q̄, k̄_α, k̄_σ) and the matching parameter vector.
func packParams(c *kunitaCase) []float64 {
	return append(append([]float64(nil), c.q...), c.k.KAlpha, c.k.KSigma)
}

func unpackParams(c *kunitaCase, p []float64) Kunita {
	copy(c.q, p[:len(c.q)])
	k := c.k
	k.KAlpha, k.KSigma = p[len(c.q)], p[len(c.q)+1]
	return k
}

func TestKunitaVJPs(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	for _, c := range kunitaCases(rng) {
		n, D := c.k.N, c.k.N*c.k.Dim
		var w KunitaWork
		params := packParams(&c)
		qbar := make([]float64, D)

		// Kernel: J = ⟨W, K⟩ with W not symmetric.
		W := randVec(rng, n*n)
		ab, sb := c.k.KernelVJPTo(qbar, c.q, W)
		Kp := make([]float64, n*n)
		fdCheck(t, c.name+" kernel", params, append(append([]float64(nil), qbar...), ab, sb), func() float64 {
			k := unpackParams(&c, params)
			return dot(W, k.KernelTo(Kp, c.q))
		})

		// Factor: J = ⟨W, chol(K + εI)⟩ (lower triangle).
		L := make([]float64, n*n)
		if err := c.k.FactorTo(L, c.q); err != nil {
			t.Fatal(err)
		}
		ab, sb = c.k.FactorVJPTo(qbar, c.q, L, W, &w)
		fdCheck(t, c.name+" factor", params, append(append([]float64(nil), qbar...), ab, sb), func() float64 {
			k := unpackParams(&c, params)
			if err := k.FactorTo(Kp, c.q); err != nil {
				t.Fatal(err)
			}
			s := 0.0
			for i := 0; i < n; i++ {
				for j := 0; j <= i; j++ {
					s += W[i*n+j] * Kp[i*n+j]
				}
			}
			return s
		})

		// Diffusion: J = ⟨V, σ(q)⟩ over the full D×D matrix.
		V := randVec(rng, D*D)
		ab, sb, err := c.k.DiffusionVJPTo(qbar, c.q, V, &w)
		if err != nil {
			t.Fatal(err)
		}
		full := make([]float64, D*D)
		fdCheck(t, c.name+" diffusion", params, append(append([]float64(nil), qbar...), ab, sb), func() float64 {
			k := unpackParams(&c, params)
			if err := k.Diffusion(0, c.q, full); err != nil {
				t.Fatal(err)
			}
			return dot(V, full)
		})

		// Covariance: J = ⟨V, a(q)⟩.
		ab, sb = c.k.CovarianceVJPTo(qbar, c.q, V, &w)
		fdCheck(t, c.name+" covariance", params, append(append([]float64(nil), qbar...), ab, sb), func() float64 {
			k := unpackParams(&c, params)
			if err := k.Covariance(0, c.q, full); err != nil {
				t.Fatal(err)
			}
			return dot(V, full)
		})
	}
}

// The jitter's k_α-derivative is too small to show in the VJP checks above (relative
// 1e−6), so check it on its own: J(k_α) = ⟨W, a⟩ − ⟨W, K ⊗ I⟩ = ε(k_α)·Dim·tr(W).
func TestKunitaJitterDerivative(t *testing.T) {
	for _, alpha := range []float64{0.1, 0.9, 1.5, 4} {
		k := Kunita{N: 3, Dim: 2, KAlpha: alpha, KSigma: 0.3}
		h := 1e-4 * alpha
		kp, km := k, k
		kp.KAlpha += h
		km.KAlpha -= h
		fd := (kp.Jitter() - km.Jitter()) / (2 * h)
		an := k.jitterDAlpha()
		if math.Abs(fd-an) > 1e-8*1e-6 {
			t.Errorf("k_α = %v: dε/dk_α = %v, finite difference %v", alpha, an, fd)
		}
		// The covariance VJP picks it up: ā = I_D reduces to K̄ = Dim·I_n, which weights
		// the diagonal only, so k̄_α = Dim·n·(f(1e−4) + dε/dk_α) whatever q is.
		q := []float64{0, 0, 5, 0, 0, 5}
		D := 6
		abar := make([]float64, D*D)
		identityTo(abar, D)
		var w KunitaWork
		ab, _ := k.CovarianceVJPTo(make([]float64, D), q, abar, &w)
		want := 2 * 3 * (matern(1e-4) + an)
		if math.Abs(ab-want) > 1e-15 {
			t.Errorf("k_α = %v: k̄_α = %.17g, want %.17g", alpha, ab, want)
		}
	}
}

func TestKunitaNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	n := 16
	k := Kunita{N: n, Dim: 2, KAlpha: 0.1, KSigma: 0.25}
	q := circle(n)
	D := 2 * n
	K, L, Sbar := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	sigma := make([]float64, D*D)
	qbar := make([]float64, D)
	W := randVec(rng, n*n)
	V := randVec(rng, D*D)
	var w KunitaWork
	checkAllocs(t, "KernelTo", func() { k.KernelTo(K, q) })
	checkAllocs(t, "FactorTo", func() {
		if err := k.FactorTo(L, q); err != nil {
			t.Fatal(err)
		}
	})
	checkAllocs(t, "Diffusion", func() {
		if err := k.Diffusion(0, q, sigma); err != nil {
			t.Fatal(err)
		}
	})
	checkAllocs(t, "Covariance", func() { _ = k.Covariance(0, q, sigma) })
	checkAllocs(t, "CholeskyVJPTo", func() { CholeskyVJPTo(Sbar, L, W, n) })
	checkAllocs(t, "KernelVJPTo", func() { k.KernelVJPTo(qbar, q, W) })
	checkAllocs(t, "FactorVJPTo", func() { k.FactorVJPTo(qbar, q, L, W, &w) })
	checkAllocs(t, "DiffusionVJPTo", func() {
		if _, _, err := k.DiffusionVJPTo(qbar, q, V, &w); err != nil {
			t.Fatal(err)
		}
	})
}
