package gridpost_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/stat/distuv"

	"github.com/canopy-bffg/canopy/internal/gridpost"
)

var update = flag.Bool("update", false, "rewrite testdata/nb05_tables.json")

const goldenPath = "testdata/nb05_tables.json"

func nb05Model(t testing.TB) *gridpost.Model {
	t.Helper()
	m, err := gridpost.New(binaryTreeKernel(4), nb05Data(), nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// summaryFields flattens a table in a fixed order for comparisons.
func summaryFields(tb gridpost.Table) []struct {
	name string
	v    float64
} {
	type f = struct {
		name string
		v    float64
	}
	return []f{
		{"sigma_sq.mean", tb.SigmaSq.Mean}, {"sigma_sq.median", tb.SigmaSq.Median},
		{"sigma_sq.q025", tb.SigmaSq.Q025}, {"sigma_sq.q975", tb.SigmaSq.Q975},
		{"tau_sq.mean", tb.TauSq.Mean}, {"tau_sq.median", tb.TauSq.Median},
		{"tau_sq.q025", tb.TauSq.Q025}, {"tau_sq.q975", tb.TauSq.Q975},
	}
}

// checkRounded checks that every entry of got printed with %.4f is the string in want
// (in the order of summaryFields).
func checkRounded(t *testing.T, got gridpost.Table, want [8]string) {
	t.Helper()
	for i, f := range summaryFields(got) {
		if s := fmt.Sprintf("%.4f", f.v); s != want[i] {
			t.Errorf("%s = %.9f prints as %s, want %s", f.name, f.v, s, want[i])
		}
	}
}

func TestNotebookTable(t *testing.T) {
	tb, err := nb05Model(t).NotebookTable()
	if err != nil {
		t.Fatal(err)
	}
	// Printed by hyperiax notebook 05, "analytic" row.
	checkRounded(t, tb, [8]string{"0.4669", "0.4136", "0.1364", "1.0678", "0.3721", "0.2584", "0.0166", "1.3592"})
	// Independent float64 reproduction of the notebook's computation.
	want := []float64{0.4669026, 0.4136068, 0.1364172, 1.0677734, 0.3720906, 0.2584119, 0.0166027, 1.3592081}
	for i, f := range summaryFields(tb) {
		if math.Abs(f.v-want[i]) > 1e-6 {
			t.Errorf("%s = %.9f, want %.7f ± 1e-6", f.name, f.v, want[i])
		}
	}
}

func TestExactTable(t *testing.T) {
	tb, err := nb05Model(t).ExactTable(gridpost.ExactN)
	if err != nil {
		t.Fatal(err)
	}
	checkRounded(t, tb, [8]string{"0.4674", "0.4197", "0.1350", "1.0833", "0.3770", "0.2600", "0.0129", "1.4289"})
}

// TestExactConvergence checks that the exact table does not move when the grid is
// refined. The quantiles converge as O(h²) (cumulative trapezoid and linear
// interpolation of the CDF); the means converge much faster.
func TestExactConvergence(t *testing.T) {
	m := nb05Model(t)
	t800, err := m.ExactTable(800)
	if err != nil {
		t.Fatal(err)
	}
	t1600, err := m.ExactTable(1600)
	if err != nil {
		t.Fatal(err)
	}
	compare := func(a, b gridpost.Table, label string, tolMean, tolQuant float64) {
		fb := summaryFields(b)
		for i, f := range summaryFields(a) {
			tol := tolQuant
			if i%4 == 0 {
				tol = tolMean
			}
			if rel := math.Abs(f.v-fb[i].v) / math.Abs(fb[i].v); rel > tol {
				t.Errorf("%s %s: %.9f vs %.9f, relative difference %.2g > %.2g", label, f.name, f.v, fb[i].v, rel, tol)
			}
		}
	}
	// Largest quantile difference 800 vs 1600 is 1.7e-4 (σ² 97.5%).
	compare(t800, t1600, "800 vs 1600", 1e-9, 2.5e-4)
	if testing.Short() {
		return
	}
	t3200, err := m.ExactTable(3200)
	if err != nil {
		t.Fatal(err)
	}
	// Largest quantile difference 1600 vs 3200 is 4.5e-5 (τ² 97.5%).
	compare(t1600, t3200, "1600 vs 3200", 1e-9, 1e-4)
}

// TestExactBoxWideEnough checks that the exact box holds all the posterior mass: a
// grid twice as wide with the same spacing gives the same means.
func TestExactBoxWideEnough(t *testing.T) {
	m := nb05Model(t)
	// The trapezoidal rule converges fast for the means, so a coarse grid is enough.
	g, err := m.ExactGrid(400)
	if err != nil {
		t.Fatal(err)
	}
	h := g.LogSigmaSq[1] - g.LogSigmaSq[0]
	axis := func(lo, hi float64) []float64 {
		n := int(math.Round((hi-lo)/h)) + 1
		return floats.Span(make([]float64, n), lo, lo+h*float64(n-1))
	}
	wide, err := m.Grid(axis(-16, 12), axis(-27, 17), gridpost.Trapezoid)
	if err != nil {
		t.Fatal(err)
	}
	a, b := g.Table(), wide.Table()
	for _, p := range [][2]float64{{a.SigmaSq.Mean, b.SigmaSq.Mean}, {a.TauSq.Mean, b.TauSq.Mean}} {
		if rel := math.Abs(p[0]-p[1]) / p[1]; rel > 1e-6 {
			t.Errorf("mean %.10f in the exact box, %.10f in the wide box: relative difference %.2g", p[0], p[1], rel)
		}
	}
}

// denseLogLik evaluates log N(y; μ·1, σ²K + τ²I) with a dense Cholesky factorisation.
func denseLogLik(t *testing.T, k, y []float64, mu, sigma2, tau2 float64) float64 {
	t.Helper()
	n := len(y)
	cov := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := sigma2 * k[i*n+j]
			if i == j {
				v += tau2
			}
			cov.SetSym(i, j, v)
		}
	}
	var chol mat.Cholesky
	if !chol.Factorize(cov) {
		t.Fatalf("covariance not positive definite at σ²=%v τ²=%v", sigma2, tau2)
	}
	r := mat.NewVecDense(n, nil)
	for i, v := range y {
		r.SetVec(i, v-mu)
	}
	var x mat.VecDense
	if err := chol.SolveVecTo(&x, r); err != nil {
		t.Fatal(err)
	}
	return -0.5 * (float64(n)*math.Log(2*math.Pi) + chol.LogDet() + mat.Dot(r, &x))
}

func TestLogLikCholesky(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	// A random rank-3 PSD kernel on 7 points: its zero eigenvalues exercise the clamp.
	const n, rank = 7, 3
	a := make([]float64, n*rank)
	for i := range a {
		a[i] = rnd.NormFloat64()
	}
	lowRank := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			for l := 0; l < rank; l++ {
				lowRank[i*n+j] += a[i*rank+l] * a[j*rank+l]
			}
		}
	}
	yRand := make([]float64, n)
	for i := range yRand {
		yRand[i] = 3 * rnd.NormFloat64()
	}

	all := [][2]float64{{0.5, 0.1}, {1e-3, 2}, {3, 1e-4}, {1e-3, 1e-3}, {20, 0.5}}
	cases := []struct {
		name   string
		k, y   []float64
		mu     float64
		points [][2]float64
	}{
		{"nb05", binaryTreeKernel(4), nb05Data(), 0, all},
		{"nb05 mu", binaryTreeKernel(4), nb05Data(), -0.7, all},
		// With τ² ≪ σ²‖K‖ a singular K makes σ²K + τ²I ill-conditioned and the dense
		// reference itself loses digits, so only well-conditioned points here.
		{"low rank", lowRank, yRand, 0.3, [][2]float64{{0.5, 0.1}, {1e-3, 2}, {20, 0.5}}},
	}
	for _, c := range cases {
		cfg := gridpost.DefaultConfig()
		cfg.Mu = c.mu
		m, err := gridpost.New(c.k, c.y, &cfg)
		if err != nil {
			t.Fatalf("%s: New: %v", c.name, err)
		}
		for _, p := range c.points {
			got := m.LogLik(p[0], p[1])
			want := denseLogLik(t, c.k, c.y, c.mu, p[0], p[1])
			if rel := math.Abs(got-want) / math.Abs(want); rel > 1e-12 {
				t.Errorf("%s: LogLik(%v, %v) = %.15g, Cholesky %.15g, relative difference %.2g",
					c.name, p[0], p[1], got, want, rel)
			}
		}
	}
}

func TestLogLikTruth(t *testing.T) {
	got := nb05Model(t).LogLik(0.5, 0.1)
	if s := fmt.Sprintf("%.4f", got); s != "-24.4213" {
		t.Errorf("LogLik(0.5, 0.1) prints as %s, want -24.4213 (notebook 05)", s)
	}
	if math.Abs(got-(-24.421315)) > 5e-7 {
		t.Errorf("LogLik(0.5, 0.1) = %.9f, want -24.421315", got)
	}
}

func TestLogLikInvalid(t *testing.T) {
	m := nb05Model(t)
	for _, p := range [][2]float64{{-1, 0.1}, {0.5, -1e-9}, {math.NaN(), 1}} {
		if v := m.LogLik(p[0], p[1]); !math.IsNaN(v) {
			t.Errorf("LogLik(%v, %v) = %v, want NaN", p[0], p[1], v)
		}
	}
	// Singular covariance: K has a null direction that y does not avoid.
	s, err := gridpost.New([]float64{1, 1, 1, 1}, []float64{1, -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := s.LogLik(1, 0); !math.IsInf(v, -1) {
		t.Errorf("singular LogLik = %v, want -Inf", v)
	}
	if v := s.LogLik(1, 0.5); math.IsInf(v, 0) || math.IsNaN(v) {
		t.Errorf("LogLik with τ² > 0 = %v, want finite", v)
	}
}

func TestLogPosterior(t *testing.T) {
	cfg := gridpost.Config{
		Mu:              0.2,
		LogSigmaSqPrior: gridpost.Normal{Mean: -1, SD: 1.5},
		LogTauSqPrior:   gridpost.Normal{Mean: 0.5, SD: 3},
	}
	m, err := gridpost.New(binaryTreeKernel(4), nb05Data(), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	ls, lt := -0.4, -2.1
	want := m.LogLik(math.Exp(ls), math.Exp(lt)) +
		distuv.Normal{Mu: -1, Sigma: 1.5}.LogProb(ls) + distuv.Normal{Mu: 0.5, Sigma: 3}.LogProb(lt)
	if got := m.LogPosterior(ls, lt); math.Abs(got-want) > 1e-12*math.Abs(want) {
		t.Errorf("LogPosterior = %.15g, want %.15g", got, want)
	}
}

// TestMarginals checks the normalisation of the marginals under both rules and that
// Table's mean is the integral of σ² against them.
func TestMarginals(t *testing.T) {
	m := nb05Model(t)
	nb, err := m.NotebookGrid()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := m.ExactGrid(400)
	if err != nil {
		t.Fatal(err)
	}
	trapz := func(x, f []float64) float64 {
		var s float64
		for i := 1; i < len(x); i++ {
			s += 0.5 * (x[i] - x[i-1]) * (f[i] + f[i-1])
		}
		return s
	}
	riemann := func(x, f []float64) float64 { return (x[1] - x[0]) * floats.Sum(f) }
	for _, c := range []struct {
		g   *gridpost.Grid
		int func(x, f []float64) float64
	}{{nb, riemann}, {ex, trapz}} {
		ps, pt := c.g.Marginals()
		if len(ps) != len(c.g.LogSigmaSq) || len(pt) != len(c.g.LogTauSq) {
			t.Fatalf("%v: marginal lengths %d, %d", c.g.Rule, len(ps), len(pt))
		}
		for _, z := range []float64{c.int(c.g.LogSigmaSq, ps), c.int(c.g.LogTauSq, pt)} {
			if math.Abs(z-1) > 1e-12 {
				t.Errorf("%v: marginal integrates to %.15g", c.g.Rule, z)
			}
		}
		f := make([]float64, len(ps))
		for i, x := range c.g.LogSigmaSq {
			f[i] = math.Exp(x) * ps[i]
		}
		if got, want := c.g.Table().SigmaSq.Mean, c.int(c.g.LogSigmaSq, f); math.Abs(got-want) > 1e-12 {
			t.Errorf("%v: σ² mean %.15g, integral %.15g", c.g.Rule, got, want)
		}
	}
}

type goldenTables struct {
	Notebook gridpost.Table `json:"notebook"`
	ExactN   int            `json:"exact_n"`
	Exact    gridpost.Table `json:"exact"`
}

func TestGolden(t *testing.T) {
	m := nb05Model(t)
	var got goldenTables
	var err error
	if got.Notebook, err = m.NotebookTable(); err != nil {
		t.Fatal(err)
	}
	got.ExactN = gridpost.ExactN
	if got.Exact, err = m.ExactTable(gridpost.ExactN); err != nil {
		t.Fatal(err)
	}
	if *update {
		b, err := json.MarshalIndent(got, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(goldenPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(goldenPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", goldenPath)
	}
	b, err := os.ReadFile(goldenPath)
	if err != nil {
		t.Fatalf("%v (run go test with -update to create it)", err)
	}
	var want goldenTables
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if want.ExactN != got.ExactN {
		t.Fatalf("golden exact_n = %d, want %d", want.ExactN, got.ExactN)
	}
	for _, c := range []struct {
		name      string
		got, want gridpost.Table
	}{{"notebook", got.Notebook, want.Notebook}, {"exact", got.Exact, want.Exact}} {
		fw := summaryFields(c.want)
		for i, f := range summaryFields(c.got) {
			if math.Abs(f.v-fw[i].v) > 1e-12*math.Max(1, math.Abs(fw[i].v)) {
				t.Errorf("%s %s = %.17g, golden %.17g", c.name, f.name, f.v, fw[i].v)
			}
		}
	}
}

func TestNewErrors(t *testing.T) {
	k2 := []float64{1, 0.5, 0.5, 1}
	neg := -1.0
	cases := []struct {
		name string
		k, y []float64
		cfg  *gridpost.Config
	}{
		{"no data", nil, nil, nil},
		{"length mismatch", k2, []float64{1, 2, 3}, nil},
		{"not symmetric", []float64{1, 0.5, 0.4, 1}, []float64{1, 2}, nil},
		{"not PSD", []float64{1, 2, 2, 1}, []float64{1, 2}, nil},
		{"NaN kernel", []float64{1, math.NaN(), math.NaN(), 1}, []float64{1, 2}, nil},
		{"Inf data", k2, []float64{1, math.Inf(1)}, nil},
		{"bad prior sd", k2, []float64{1, 2}, &gridpost.Config{
			LogSigmaSqPrior: gridpost.Normal{SD: neg}, LogTauSqPrior: gridpost.Normal{SD: 1}}},
		{"zero prior sd", k2, []float64{1, 2}, &gridpost.Config{
			LogSigmaSqPrior: gridpost.Normal{SD: 1}}},
		{"NaN mean", k2, []float64{1, 2}, &gridpost.Config{Mu: math.NaN(),
			LogSigmaSqPrior: gridpost.Normal{SD: 1}, LogTauSqPrior: gridpost.Normal{SD: 1}}},
	}
	for _, c := range cases {
		if m, err := gridpost.New(c.k, c.y, c.cfg); err == nil {
			t.Errorf("%s: New succeeded (%v), want an error", c.name, m)
		}
	}
	if _, err := gridpost.New(k2, []float64{1, 2}, nil); err != nil {
		t.Errorf("valid input: %v", err)
	}
}

func TestGridErrors(t *testing.T) {
	m := nb05Model(t)
	ok := []float64{-1, 0, 1}
	cases := []struct {
		name   string
		ls, lt []float64
		rule   gridpost.Rule
	}{
		{"unknown rule", ok, ok, gridpost.Rule(0)},
		{"one point", []float64{0}, ok, gridpost.Trapezoid},
		{"decreasing", ok, []float64{1, 0, -1}, gridpost.Trapezoid},
		{"repeated", []float64{0, 0, 1}, ok, gridpost.Trapezoid},
		{"NaN", ok, []float64{0, math.NaN(), 1}, gridpost.Trapezoid},
		{"uneven Riemann", []float64{-1, 0, 2}, ok, gridpost.Riemann},
	}
	for _, c := range cases {
		if _, err := m.Grid(c.ls, c.lt, c.rule); err == nil {
			t.Errorf("%s: Grid succeeded, want an error", c.name)
		}
	}
	if _, err := m.Grid([]float64{-1, 0, 2}, ok, gridpost.Trapezoid); err != nil {
		t.Errorf("uneven trapezoid grid: %v", err)
	}
	if _, err := m.ExactGrid(1); err == nil {
		t.Error("ExactGrid(1) succeeded, want an error")
	}
}

func BenchmarkExact1600(b *testing.B) {
	m := nb05Model(b)
	for b.Loop() {
		if _, err := m.ExactTable(1600); err != nil {
			b.Fatal(err)
		}
	}
}
