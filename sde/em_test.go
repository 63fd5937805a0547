package sde

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// With zero noise, EM on OU is the explicit Euler method for dx/dt = −α(x − θ): its
// error at T against the ODE solution θ + e^{−αT}(x0 − θ) is O(dt).
func TestEMOUZeroNoiseFirstOrder(t *testing.T) {
	m := OU{D: 2, Alpha: 1.5, Mean: []float64{1, -1}, Scale: 0}
	x0 := []float64{3, 0.5}
	T := 1.3
	want := m.MeanTo(make([]float64, 2), x0, T)
	ns := []int{50, 100, 200, 400, 800}
	errs := make([]float64, len(ns))
	for i, n := range ns {
		g := Uniform(T, n)
		path := make([]float64, (n+1)*2)
		em := EM{SDE: m}
		if err := em.PathTo(path, g, x0, make([]float64, n*2)); err != nil {
			t.Fatal(err)
		}
		errs[i] = maxAbsDiff(path[n*2:], want)
		// Every intermediate state follows the ODE to O(dt) as well.
		mid := m.MeanTo(make([]float64, 2), x0, g.Times[n/2])
		if e := maxAbsDiff(path[n/2*2:n/2*2+2], mid); e > 5/float64(n) {
			t.Errorf("n=%d: midpoint error %v", n, e)
		}
	}
	p := slope(ns, errs)
	t.Logf("OU zero-noise EM errors %v, order %.3f", errs, p)
	if math.Abs(p-1) > 0.05 {
		t.Errorf("order %v, want 1", p)
	}
	// Leading error term of explicit Euler: (1 − αh)^{T/h} = e^{−αT}(1 − α²Th/2 + O(h²)), so
	// e(T) ≈ e^{−αT}·max|x0 − θ|·α²T·h/2 (max|x0 − θ| = 2 here).
	h := T / float64(ns[len(ns)-1])
	c := math.Exp(-m.Alpha*T) * 2 * m.Alpha * m.Alpha * T * h / 2
	if r := errs[len(errs)-1] / c; math.Abs(r-1) > 0.01 {
		t.Errorf("error %v, leading-order prediction %v", errs[len(errs)-1], c)
	}
}

// Brownian paths on the time-changed grid: X_T − X_0 ~ N(0, s²T) in every coordinate,
// whatever the grid. The sample variance over many paths must be within 4 Monte Carlo
// standard errors (sd of the sample variance ≈ s²T·√(2/(N−1))).
func TestEMBrownianVariance(t *testing.T) {
	const (
		paths = 20000
		n     = 16
		T     = 1.7
	)
	m := BM{D: 2, Scale: 0.8}
	g := TimeChanged(T, n)
	rng := rand.New(rand.NewPCG(11, 12))
	em := EM{SDE: m}
	path := make([]float64, (n+1)*2)
	z := make([]float64, n*2)
	x0 := []float64{0.3, -2}
	var sum, sum2 [2]float64
	for p := 0; p < paths; p++ {
		for i := range z {
			z[i] = rng.NormFloat64()
		}
		if err := em.PathTo(path, g, x0, z); err != nil {
			t.Fatal(err)
		}
		for c := 0; c < 2; c++ {
			v := path[n*2+c] - x0[c]
			sum[c] += v
			sum2[c] += v * v
		}
	}
	want := m.Scale * m.Scale * T
	mcse := want * math.Sqrt(2/float64(paths-1))
	for c := 0; c < 2; c++ {
		mean := sum[c] / paths
		v := (sum2[c] - paths*mean*mean) / (paths - 1)
		t.Logf("coordinate %d: variance %.5f, want %.5f (MCSE %.5f)", c, v, want, mcse)
		if math.Abs(v-want) > 4*mcse {
			t.Errorf("coordinate %d: variance %v, want %v ± %v", c, v, want, 4*mcse)
		}
		if math.Abs(mean) > 4*math.Sqrt(want/paths) {
			t.Errorf("coordinate %d: mean %v, want 0", c, mean)
		}
	}
}

// StepTo computes x + b dt + σ√dt z exactly as written, aliasing dst = x is allowed,
// and PathTo is a deterministic function of z.
func TestStepToFormula(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	k := Kunita{N: 4, Dim: 2, KAlpha: 0.3, KSigma: 0.7}
	x := randVec(rng, 8)
	z := randVec(rng, 8)
	dt := 0.013
	sigma := make([]float64, 64)
	if err := k.Diffusion(0, x, sigma); err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 8)
	for i := range want {
		s := 0.0
		for j := range z {
			s += sigma[i*8+j] * z[j]
		}
		want[i] = x[i] + math.Sqrt(dt)*s
	}
	em := EM{SDE: k}
	got := make([]float64, 8)
	if err := em.StepTo(got, 0.2, x, dt, z); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(got, want); d > 1e-15 {
		t.Errorf("StepTo differs from formula by %v", d)
	}
	in := append([]float64(nil), x...)
	if err := em.StepTo(in, 0.2, in, dt, z); err != nil {
		t.Fatal(err)
	}
	if d := maxAbsDiff(in, got); d != 0 {
		t.Errorf("in-place step differs by %v", d)
	}

	g := Uniform(1, 5)
	zs := randVec(rng, 5*8)
	p1, p2 := make([]float64, 6*8), make([]float64, 6*8)
	if err := em.PathTo(p1, g, x, zs); err != nil {
		t.Fatal(err)
	}
	if err := (&EM{SDE: k}).PathTo(p2, g, x, zs); err != nil {
		t.Fatal(err)
	}
	if maxAbsDiff(p1, p2) != 0 || maxAbsDiff(p1[:8], x) != 0 {
		t.Error("PathTo is not deterministic in z or does not start at x0")
	}
}

// blowUp has drift x² so that EM overflows.
type blowUp struct{}

func (blowUp) Dims() (int, int) { return 1, 1 }
func (blowUp) Drift(_ float64, x, dst []float64) {
	dst[0] = x[0] * x[0]
}
func (blowUp) Diffusion(_ float64, _, dst []float64) error { dst[0] = 0; return nil }

func TestPathErrors(t *testing.T) {
	em := EM{SDE: blowUp{}}
	g := Uniform(10, 20)
	path := make([]float64, 21)
	err := em.PathTo(path, g, []float64{10}, make([]float64, 20))
	var se *StepError
	if !errors.As(err, &se) || !errors.Is(err, ErrNonFinite) {
		t.Fatalf("got %v, want a StepError wrapping ErrNonFinite", err)
	}
	if se.Step < 1 || se.Step >= 20 || se.Time != g.Times[se.Step] {
		t.Errorf("step %d time %v", se.Step, se.Time)
	}

	// A Kunita state with NaN coordinates cannot be factorised: the PivotError is wrapped.
	k := Kunita{N: 2, Dim: 2, KAlpha: 0.1, KSigma: 0.25}
	em = EM{SDE: k}
	x := []float64{0, 0, math.NaN(), 1}
	path = make([]float64, 3*4)
	err = em.PathTo(path, Uniform(1, 2), x, make([]float64, 8))
	var pe *PivotError
	if !errors.As(err, &pe) || !errors.As(err, &se) || se.Step != 0 {
		t.Fatalf("got %v, want StepError at step 0 wrapping a PivotError", err)
	}
}

func TestStepToNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for name, m := range map[string]SDE{
		"OU":     OU{D: 32, Alpha: 0.5, Scale: 1},
		"Kunita": Kunita{N: 16, Dim: 2, KAlpha: 0.1, KSigma: 0.25},
	} {
		em := EM{SDE: m}
		x := circle(16)
		z := randVec(rng, 32)
		dst := make([]float64, 32)
		checkAllocs(t, name+" StepTo", func() {
			if err := em.StepTo(dst, 0, x, 0.01, z); err != nil {
				t.Fatal(err)
			}
		})
		g := Uniform(1, 10)
		path := make([]float64, 11*32)
		zs := randVec(rng, 10*32)
		checkAllocs(t, name+" PathTo", func() {
			if err := em.PathTo(path, g, x, zs); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestCovarianceTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	sigma := randVec(rng, 3*2) // 3×2
	a := CovarianceTo(make([]float64, 9), sigma, 2)
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			want := sigma[i*2]*sigma[j*2] + sigma[i*2+1]*sigma[j*2+1]
			if math.Abs(a[i*3+j]-want) > 1e-15 {
				t.Errorf("a[%d,%d] = %v, want %v", i, j, a[i*3+j], want)
			}
		}
	}
	// The Covariancer shortcuts agree with σσ'.
	for name, m := range map[string]interface {
		SDE
		Covariancer
	}{
		"BM":     BM{D: 3, Scale: 1.7},
		"OU":     OU{D: 3, Alpha: 2, Scale: 0.4},
		"Kunita": Kunita{N: 5, Dim: 3, KAlpha: 0.4, KSigma: 0.6},
	} {
		d, mm := m.Dims()
		x := randVec(rng, d)
		s := make([]float64, d*mm)
		if err := m.Diffusion(0, x, s); err != nil {
			t.Fatal(err)
		}
		a1 := CovarianceTo(make([]float64, d*d), s, mm)
		a2 := make([]float64, d*d)
		if err := m.Covariance(0, x, a2); err != nil {
			t.Fatal(err)
		}
		if diff := maxAbsDiff(a1, a2); diff > 1e-14 {
			t.Errorf("%s: σσ' and Covariance differ by %v", name, diff)
		}
	}
}
