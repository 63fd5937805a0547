package sde

import (
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/internal/dense"
)

// expmTo writes e^{Mτ} for the d×d row-major m into dst (test oracle via gonum).
func expmTo(dst, m []float64, d int, tau float64) {
	a := mat.NewDense(d, d, nil)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			a.Set(i, j, m[i*d+j]*tau)
		}
	}
	var e mat.Dense
	e.Exp(a)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			dst[i*d+j] = e.At(i, j)
		}
	}
}

// Van Loan's Q, b and Φ equal the scalar OU closed forms.
func TestLinearTransitionScalarOU(t *testing.T) {
	for _, c := range []struct{ alpha, theta, sigma, T float64 }{
		{0.7, 1.3, 0.9, 1}, {3, -2, 0.2, 2.5}, {1e-4, 0.5, 1, 0.3}, {-0.4, 1, 1, 1.2},
	} {
		l := Linear{D: 1, B: []float64{-c.alpha}, Beta: []float64{c.alpha * c.theta}, A: []float64{c.sigma * c.sigma}}
		phi, b, q := make([]float64, 1), make([]float64, 1), make([]float64, 1)
		l.TransitionTo(phi, b, q, 0.25, 0.25+c.T)
		wantQ := c.sigma * c.sigma * -math.Expm1(-2*c.alpha*c.T) / (2 * c.alpha)
		wantPhi := math.Exp(-c.alpha * c.T)
		wantB := -c.theta * math.Expm1(-c.alpha*c.T)
		if math.Abs(q[0]-wantQ) > 1e-13*wantQ || math.Abs(phi[0]-wantPhi) > 1e-14*wantPhi ||
			math.Abs(b[0]-wantB) > 1e-13*math.Max(1, math.Abs(wantB)) {
			t.Errorf("α=%v: (Φ, b, Q) = (%v, %v, %v), want (%v, %v, %v)", c.alpha, phi[0], b[0], q[0], wantPhi, wantB, wantQ)
		}
		// Against the OU model's own closed forms.
		m := OU{D: 1, Alpha: c.alpha, Mean: []float64{c.theta}, Scale: c.sigma}
		if v := m.Var(c.T); math.Abs(v-q[0]) > 1e-13*v {
			t.Errorf("OU.Var %v, Van Loan %v", v, q[0])
		}
		mean := m.MeanTo(make([]float64, 1), []float64{2}, c.T)
		if e := math.Abs(mean[0] - (phi[0]*2 + b[0])); e > 1e-14*(1+math.Abs(mean[0])) {
			t.Errorf("OU.MeanTo differs from Φx + b by %v", e)
		}
	}
}

// Van Loan's Q and b for a non-normal 2×2 B equal Simpson integrals of e^{Bu}ãe^{B'u}
// and e^{Bu}β.
func TestLinearTransitionVanLoan2x2(t *testing.T) {
	B := []float64{-0.8, 1.9, -0.3, 0.2}
	A := []float64{0.7, 0.2, 0.2, 0.4}
	beta := []float64{0.3, -1.1}
	l := Linear{D: 2, B: B, Beta: beta, A: A}
	tau := 1.6
	phi, b, q := make([]float64, 4), make([]float64, 2), make([]float64, 4)
	l.TransitionTo(phi, b, q, 0.4, 0.4+tau)

	wantPhi := make([]float64, 4)
	expmTo(wantPhi, B, 2, tau)
	e := make([]float64, 4)
	wantQ := make([]float64, 4)
	simpson(wantQ, 0, tau, 2000, func(u float64, out []float64) {
		expmTo(e, B, 2, u)
		for i := 0; i < 2; i++ {
			for j := 0; j < 2; j++ {
				s := 0.0
				for k := 0; k < 2; k++ {
					for m := 0; m < 2; m++ {
						s += e[i*2+k] * A[k*2+m] * e[j*2+m]
					}
				}
				out[i*2+j] = s
			}
		}
	})
	wantB := make([]float64, 2)
	simpson(wantB, 0, tau, 2000, func(u float64, out []float64) {
		expmTo(e, B, 2, u)
		out[0] = e[0]*beta[0] + e[1]*beta[1]
		out[1] = e[2]*beta[0] + e[3]*beta[1]
	})
	for _, c := range []struct {
		name      string
		got, want []float64
	}{{"Φ", phi, wantPhi}, {"b", b, wantB}, {"Q", q, wantQ}} {
		if d := maxAbsDiff(c.got, c.want); d > 1e-11 {
			t.Errorf("%s = %v, want %v (diff %v)", c.name, c.got, c.want, d)
		}
	}
	if q[1] != q[2] {
		t.Error("Q not symmetric")
	}
	// Semigroup: the transition over [s, u] composed with [u, t] is the one over [s, t].
	p1, b1, q1 := make([]float64, 4), make([]float64, 2), make([]float64, 4)
	p2, b2, q2 := make([]float64, 4), make([]float64, 2), make([]float64, 4)
	l.TransitionTo(p1, b1, q1, 0.4, 1.1)
	l.TransitionTo(p2, b2, q2, 1.1, 0.4+tau)
	comp := make([]float64, 4)
	dense.Gemm(false, false, 1, p2, 2, 2, p1, 2, 2, 0, comp)
	if d := maxAbsDiff(comp, phi); d > 1e-13 {
		t.Errorf("Φ composition off by %v", d)
	}
	tmp := make([]float64, 4)
	dense.Gemm(false, false, 1, p2, 2, 2, q1, 2, 2, 0, tmp)
	dense.Gemm(false, true, 1, tmp, 2, 2, p2, 2, 2, 1, q2)
	if d := maxAbsDiff(q2, q); d > 1e-13 {
		t.Errorf("Q composition off by %v", d)
	}
}

// The closed-form Ã(t) = ((T² − t²)/(2T))ã_T + ((T − t)²/(2T))ã_0 equals Simpson
// integration of the interpolated ã, and transitions compose additively.
func TestInterpolatedIntegral(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	d := 3
	p := Interpolated{D: d, T: 1.7, A0: randSPD(rng, d, 0.1), AT: randSPD(rng, d, 0.5)}
	B, beta := make([]float64, d*d), make([]float64, d)
	got := make([]float64, d*d)
	num := make([]float64, d*d)
	for _, tt := range []float64{0, 0.3, 0.85, 1.6, 1.7} {
		p.IntegralTo(got, tt, p.T)
		simpson(num, tt, p.T, 64, func(u float64, out []float64) { p.CoefficientsTo(B, beta, out, u) })
		if e := maxAbsDiff(got, num); e > 1e-14 {
			t.Errorf("t=%v: closed form differs from quadrature by %v", tt, e)
		}
		T := p.T
		for i := range got {
			want := (T*T-tt*tt)/(2*T)*p.AT[i] + (T-tt)*(T-tt)/(2*T)*p.A0[i]
			if math.Abs(got[i]-want) > 1e-15 {
				t.Errorf("t=%v: entry %d = %v, formula %v", tt, i, got[i], want)
			}
		}
	}
	if !isZero(B) || !isZero(beta) {
		t.Error("B, β not zero")
	}
	// ã at the ends.
	a := make([]float64, d*d)
	p.CoefficientsTo(B, beta, a, 0)
	if maxAbsDiff(a, p.A0) > 0 {
		t.Error("ã(0) != A0")
	}
	p.CoefficientsTo(B, beta, a, p.T)
	if maxAbsDiff(a, p.AT) > 1e-16 {
		t.Error("ã(T) != AT")
	}
	q1, q2 := p.IntegralTo(make([]float64, d*d), 0.2, 0.9), p.IntegralTo(make([]float64, d*d), 0.9, 1.7)
	q := p.IntegralTo(make([]float64, d*d), 0.2, 1.7)
	for i := range q1 {
		q1[i] += q2[i]
	}
	if e := maxAbsDiff(q1, q); e > 1e-15 {
		t.Errorf("integrals do not add: %v", e)
	}
}

// terminal returns a test terminal message: H_T SPD, F_T, c_T.
func terminal(rng *rand.Rand, d int) (HT, FT []float64, cT float64) {
	return randSPD(rng, d, 0.5), randVec(rng, d), -0.7
}

// hDiff returns the largest difference of H, F and c at grid point k.
func hDiff(H1, F1, c1, H2, F2, c2 []float64, d, k int) (dH, dF, dc float64) {
	dd := d * d
	return maxAbsDiff(H1[k*dd:(k+1)*dd], H2[k*dd:(k+1)*dd]),
		maxAbsDiff(F1[k*d:(k+1)*d], F2[k*d:(k+1)*d]),
		math.Abs(c1[k] - c2[k])
}

// RK4 on the backward ODEs converges at fourth order to the exact pullback through
// (Φ, b, Q), for a constant linear auxiliary (Van Loan) and the interpolated driftless
// one (closed form).
func TestRK4ConvergesToExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 32))
	d := 3
	T := 1.0
	cases := map[string]Transitioner{
		"Linear": Linear{D: d,
			B:    []float64{-0.9, 0.6, 0, -0.3, -0.4, 0.5, 0.2, 0, -1.2},
			Beta: []float64{0.4, -0.2, 0.9},
			A:    randSPD(rng, d, 0.3)},
		"Interpolated": Interpolated{D: d, T: T, A0: randSPD(rng, d, 0.2), AT: randSPD(rng, d, 0.6)},
	}
	HT, FT, cT := terminal(rng, d)
	for name, tr := range cases {
		ns := []int{20, 40, 80, 160, 320}
		var eH, eF, eC []float64
		var w Backward
		for _, n := range ns {
			g := Uniform(T, n)
			H1, F1, c1 := make([]float64, (n+1)*d*d), make([]float64, (n+1)*d), make([]float64, n+1)
			H2, F2, c2 := make([]float64, (n+1)*d*d), make([]float64, (n+1)*d), make([]float64, n+1)
			if err := w.ExactTo(H1, F1, c1, tr, g, HT, FT, cT); err != nil {
				t.Fatal(err)
			}
			w.RK4To(H2, F2, c2, tr, g, HT, FT, cT)
			var mh, mf, mc float64
			for k := 0; k <= n; k++ {
				dh, df, dc := hDiff(H1, F1, c1, H2, F2, c2, d, k)
				mh, mf, mc = math.Max(mh, dh), math.Max(mf, df), math.Max(mc, dc)
			}
			eH, eF, eC = append(eH, mh), append(eF, mf), append(eC, mc)
		}
		pH, pF, pC := slope(ns[:4], eH[:4]), slope(ns[:4], eF[:4]), slope(ns[:4], eC[:4])
		t.Logf("%s: |ΔH| %.3g, |ΔF| %.3g, |Δc| %.3g at n = %v; orders %.3f %.3f %.3f",
			name, eH, eF, eC, ns, pH, pF, pC)
		for _, p := range []float64{pH, pF, pC} {
			if math.Abs(p-4) > 0.15 {
				t.Errorf("%s: order %v, want 4", name, p)
			}
		}
		if eH[4] > 1e-8 || eF[4] > 1e-8 || eC[4] > 1e-8 {
			t.Errorf("%s: errors at n=320 too large: %v %v %v", name, eH[4], eF[4], eC[4])
		}
	}
}

// A zero-noise transition is plain substitution h↑(x) = h(Φx + b); with B = β = 0 the
// pullback equals the closed form H(t) = (I + H_TÃ)⁻¹H_T, F(t) = (I + H_TÃ)⁻¹F_T; and c
// equals log ∫h(y)N(y; Φx + b, Q)dy computed densely.
func TestPullbackClosedForms(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 42))
	d := 3
	var w Backward
	HT, FT, cT := terminal(rng, d)
	Q := randSPD(rng, d, 0.2)
	phi := randVec(rng, d*d)
	b := randVec(rng, d)
	H, F := make([]float64, d*d), make([]float64, d)
	c, err := w.PullbackTo(H, F, HT, FT, cT, phi, b, Q)
	if err != nil {
		t.Fatal(err)
	}
	// Dense oracle: with P = H_T⁻¹, ν = PF_T, h(y) = exp(κ)N(ν; y, P) with
	// κ = c_T + ½F_T'PF_T + ½log det(2πP); then h↑(x) = exp(κ)N(ν; Φx + b, P + Q).
	Hm := mat.NewSymDense(d, append([]float64(nil), HT...))
	var P mat.Dense
	if err := P.Inverse(Hm); err != nil {
		t.Fatal(err)
	}
	nu := mat.NewVecDense(d, nil)
	nu.MulVec(&P, mat.NewVecDense(d, FT))
	ldP := math.Log(mat.Det(&P))
	kappa := cT + 0.5*mat.Dot(mat.NewVecDense(d, FT), nu) + 0.5*(float64(d)*math.Log(2*math.Pi)+ldP)
	S := mat.NewDense(d, d, nil)
	S.Add(&P, mat.NewDense(d, d, Q))
	var Si mat.Dense
	if err := Si.Inverse(S); err != nil {
		t.Fatal(err)
	}
	logh := func(x []float64) float64 {
		r := mat.NewVecDense(d, nil)
		r.MulVec(mat.NewDense(d, d, phi), mat.NewVecDense(d, x))
		r.AddVec(r, mat.NewVecDense(d, b))
		r.SubVec(nu, r)
		var tmp mat.VecDense
		tmp.MulVec(&Si, r)
		return kappa - 0.5*mat.Dot(r, &tmp) - 0.5*(float64(d)*math.Log(2*math.Pi)+math.Log(mat.Det(S)))
	}
	for trial := 0; trial < 4; trial++ {
		x := randVec(rng, d)
		if trial == 0 {
			clear(x)
		}
		gx := make([]float64, d)
		gemv(false, 1, H, d, d, x, 0, gx)
		got := c - 0.5*dot(x, gx) + dot(F, x)
		if want := logh(x); math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
			t.Errorf("log h↑(x) = %v, dense %v", got, want)
		}
	}

	// Zero Q: substitution.
	H0, F0 := make([]float64, d*d), make([]float64, d)
	c0, err := w.PullbackTo(H0, F0, HT, FT, cT, phi, b, make([]float64, d*d))
	if err != nil {
		t.Fatal(err)
	}
	x := randVec(rng, d)
	y := make([]float64, d)
	gemv(false, 1, phi, d, d, x, 0, y)
	for i := range y {
		y[i] += b[i]
	}
	hy := make([]float64, d)
	gemv(false, 1, HT, d, d, y, 0, hy)
	hx := make([]float64, d)
	gemv(false, 1, H0, d, d, x, 0, hx)
	if a, e := c0-0.5*dot(x, hx)+dot(F0, x), cT-0.5*dot(y, hy)+dot(FT, y); math.Abs(a-e) > 1e-12*(1+math.Abs(e)) {
		t.Errorf("Q = 0: log h↑(x) = %v, h(Φx + b) = %v", a, e)
	}

	// Closed form for B = β = 0.
	p := Interpolated{D: d, T: 2, A0: randSPD(rng, d, 0.1), AT: randSPD(rng, d, 0.1)}
	At := p.IntegralTo(make([]float64, d*d), 0.5, 2)
	I := make([]float64, d*d)
	identityTo(I, d)
	_, err = w.PullbackTo(H0, F0, HT, FT, cT, I, make([]float64, d), At)
	if err != nil {
		t.Fatal(err)
	}
	M := mat.NewDense(d, d, nil)
	M.Mul(mat.NewDense(d, d, HT), mat.NewDense(d, d, At))
	for i := 0; i < d; i++ {
		M.Set(i, i, M.At(i, i)+1)
	}
	var wantH mat.Dense
	if err := wantH.Solve(M, mat.NewDense(d, d, HT)); err != nil {
		t.Fatal(err)
	}
	var wantF mat.VecDense
	if err := wantF.SolveVec(M, mat.NewVecDense(d, FT)); err != nil {
		t.Fatal(err)
	}
	if e := maxAbsDiff(H0, wantH.RawMatrix().Data); e > 1e-13 {
		t.Errorf("H(t) differs from (I + H_TÃ)⁻¹H_T by %v", e)
	}
	if e := maxAbsDiff(F0, wantF.RawVector().Data); e > 1e-13 {
		t.Errorf("F(t) differs from (I + H_TÃ)⁻¹F_T by %v", e)
	}
}

// A singular Q (rank-deficient ã) falls back to an eigenvalue square root and still
// matches RK4; a singular H (unobserved coordinates) needs no special case.
func TestPullbackSingular(t *testing.T) {
	d := 2
	l := Linear{D: d, B: []float64{0, 1, 0, 0}, A: []float64{0, 0, 0, 1}} // integrated BM
	HT := []float64{2, 0, 0, 0}                                           // observe coordinate 0 only
	FT := []float64{1.5, 0}
	n := 200
	g := Uniform(1, n)
	var w Backward
	H1, F1, c1 := make([]float64, (n+1)*d*d), make([]float64, (n+1)*d), make([]float64, n+1)
	H2, F2, c2 := make([]float64, (n+1)*d*d), make([]float64, (n+1)*d), make([]float64, n+1)
	if err := w.ExactTo(H1, F1, c1, l, g, HT, FT, 0.3); err != nil {
		t.Fatal(err)
	}
	w.RK4To(H2, F2, c2, l, g, HT, FT, 0.3)
	dh, df, dc := hDiff(H1, F1, c1, H2, F2, c2, d, 0)
	if dh > 1e-9 || df > 1e-9 || dc > 1e-9 {
		t.Errorf("exact vs RK4 at t=0: %v %v %v", dh, df, dc)
	}
	// An indefinite Q is rejected.
	_, err := w.PullbackTo(make([]float64, 4), make([]float64, 2), HT, FT, 0, []float64{1, 0, 0, 1}, []float64{0, 0}, []float64{1, 0, 0, -1})
	if err == nil {
		t.Error("indefinite Q accepted")
	}
}

func TestBackwardNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	d := 8
	n := 25
	// Boxed once: converting the struct to an interface at each call would allocate.
	var p Transitioner = Interpolated{D: d, T: 1, A0: randSPD(rng, d, 0.1), AT: randSPD(rng, d, 0.1)}
	HT, FT, cT := terminal(rng, d)
	g := TimeChanged(1, n)
	H, F, c := make([]float64, (n+1)*d*d), make([]float64, (n+1)*d), make([]float64, n+1)
	var w Backward
	checkAllocs(t, "RK4To", func() { w.RK4To(H, F, c, p, g, HT, FT, cT) })
	checkAllocs(t, "ExactTo(Interpolated)", func() {
		if err := w.ExactTo(H, F, c, p, g, HT, FT, cT); err != nil {
			t.Fatal(err)
		}
	})
}

// tvAux is a time-varying auxiliary with commuting drift matrices B(t) = φ(t)M, so that
// Φ(T, s) = exp(M∫_s^T φ) is known; β(t) and ã(t) vary too.
type tvAux struct{ M, A0, A1, beta []float64 }

func (a tvAux) Dim() int { return 2 }

func (a tvAux) phi(t float64) float64 { return 0.5 + math.Sin(2*t) }
func (a tvAux) intPhi(s, t float64) float64 {
	return 0.5*(t-s) - 0.5*(math.Cos(2*t)-math.Cos(2*s))
}

func (a tvAux) CoefficientsTo(B, beta, A []float64, t float64) {
	for i := range B {
		B[i] = a.phi(t) * a.M[i]
	}
	for i := range beta {
		beta[i] = a.beta[i] * math.Cos(t)
	}
	for i := range A {
		A[i] = a.A0[i] + t*t*a.A1[i]
	}
}

// RK4 evaluates time-varying coefficients at the right stage times: against an exact
// pullback whose (Φ, b, Q) come from the closed-form Φ and Simpson quadrature, it
// converges at fourth order.
func TestRK4TimeVarying(t *testing.T) {
	aux := tvAux{
		M:    []float64{-0.6, 0.9, -0.4, -0.2},
		A0:   []float64{0.5, 0.1, 0.1, 0.3},
		A1:   []float64{0.2, -0.05, -0.05, 0.4},
		beta: []float64{0.7, -0.3},
	}
	d, T := 2, 1.5
	phiTs := func(dst []float64, s float64) { expmTo(dst, aux.M, d, aux.intPhi(s, T)) }
	phi := make([]float64, 4)
	phiTs(phi, 0)
	e := make([]float64, 4)
	B, beta, A := make([]float64, 4), make([]float64, 2), make([]float64, 4)
	q := make([]float64, 4)
	simpson(q, 0, T, 4000, func(s float64, out []float64) {
		phiTs(e, s)
		aux.CoefficientsTo(B, beta, A, s)
		tmp := make([]float64, 4)
		dense.Gemm(false, false, 1, e, 2, 2, A, 2, 2, 0, tmp)
		dense.Gemm(false, true, 1, tmp, 2, 2, e, 2, 2, 0, out)
	})
	b := make([]float64, 2)
	simpson(b, 0, T, 4000, func(s float64, out []float64) {
		phiTs(e, s)
		aux.CoefficientsTo(B, beta, A, s)
		gemv(false, 1, e, 2, 2, beta, 0, out)
	})
	rng := rand.New(rand.NewPCG(33, 34))
	HT, FT, cT := terminal(rng, d)
	var w Backward
	H0, F0 := make([]float64, 4), make([]float64, 2)
	c0, err := w.PullbackTo(H0, F0, HT, FT, cT, phi, b, q)
	if err != nil {
		t.Fatal(err)
	}
	ns := []int{20, 40, 80, 160}
	var errs []float64
	for _, n := range ns {
		g := Uniform(T, n)
		H, F, c := make([]float64, (n+1)*4), make([]float64, (n+1)*2), make([]float64, n+1)
		w.RK4To(H, F, c, aux, g, HT, FT, cT)
		errs = append(errs, math.Max(maxAbsDiff(H[:4], H0), math.Max(maxAbsDiff(F[:2], F0), math.Abs(c[0]-c0))))
	}
	p := slope(ns, errs)
	t.Logf("time-varying auxiliary: errors %.3g, order %.3f", errs, p)
	if math.Abs(p-4) > 0.2 {
		t.Errorf("order %v, want 4", p)
	}
}

func TestTransitionsTo(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 36))
	d, n := 2, 6
	l := Linear{D: d, B: []float64{-1, 0.5, 0, -0.3}, Beta: []float64{1, 2}, A: randSPD(rng, d, 0.2)}
	g := TimeChanged(2, n)
	phi, b, q := make([]float64, (n+1)*4), make([]float64, (n+1)*2), make([]float64, (n+1)*4)
	TransitionsTo(phi, b, q, l, g)
	p1, b1, q1 := make([]float64, 4), make([]float64, 2), make([]float64, 4)
	for k := 0; k <= n; k++ {
		l.TransitionTo(p1, b1, q1, g.Times[k], 2)
		if maxAbsDiff(p1, phi[k*4:(k+1)*4]) > 1e-15 || maxAbsDiff(b1, b[k*2:(k+1)*2]) > 1e-15 || maxAbsDiff(q1, q[k*4:(k+1)*4]) > 1e-15 {
			t.Errorf("grid point %d differs", k)
		}
	}
}
