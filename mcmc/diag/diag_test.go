package diag

// The reference values in testdata were computed by the R package posterior;
// to regenerate them (needs R and posterior, not needed by the tests):
//
//	cd testdata && Rscript make_reference.R

import (
	"bufio"
	"encoding/csv"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// statistics maps the statistic names of testdata/reference.csv to the
// functions under test.
var statistics = map[string]func([][]float64) float64{
	"mean": func(c [][]float64) float64 { s, _ := Summarize(c); return s.Mean },
	"sd":   func(c [][]float64) float64 { s, _ := Summarize(c); return s.SD },
	"q5":   func(c [][]float64) float64 { return Quantile(c, 0.05) },
	"q50":  func(c [][]float64) float64 { return Quantile(c, 0.5) },
	"q95":  func(c [][]float64) float64 { return Quantile(c, 0.95) },

	"rhat":       Rhat,
	"rhat_basic": RhatBasic,
	"ess_basic":  ESSBasic,
	"ess_bulk":   ESSBulk,
	"ess_tail":   ESSTail,
	"ess_mean":   ESSMean,
	"ess_sd":     ESSSd,
	"ess_q5":     func(c [][]float64) float64 { return ESSQuantile(c, 0.05) },
	"ess_q50":    func(c [][]float64) float64 { return ESSQuantile(c, 0.5) },
	"ess_q95":    func(c [][]float64) float64 { return ESSQuantile(c, 0.95) },
	"mcse_mean":  MCSEMean,
	"mcse_sd":    MCSESd,
	"mcse_q5":    func(c [][]float64) float64 { return MCSEQuantile(c, 0.05) },
	"mcse_q50":   func(c [][]float64) float64 { return MCSEQuantile(c, 0.5) },
	"mcse_q95":   func(c [][]float64) float64 { return MCSEQuantile(c, 0.95) },
}

// parseValue parses a number written by R, where NA stands for a missing
// value.
func parseValue(s string) (float64, error) {
	if s == "NA" {
		return math.NaN(), nil
	}
	return strconv.ParseFloat(s, 64)
}

// readDraws reads testdata/draws_<name>.csv: one column per chain.
func readDraws(t testing.TB, name string) [][]float64 {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "draws_"+name+".csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) < 2 {
		t.Fatalf("draws_%s.csv: no draws", name)
	}
	chains := make([][]float64, len(recs[0]))
	for _, rec := range recs[1:] {
		for j, s := range rec {
			v, err := parseValue(s)
			if err != nil {
				t.Fatalf("draws_%s.csv: %v", name, err)
			}
			chains[j] = append(chains[j], v)
		}
	}
	return chains
}

type reference struct {
	set, statistic string
	value          float64
}

// readReference reads testdata/reference.csv and returns its rows and its
// comment lines.
func readReference(t testing.TB) ([]reference, []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "reference.csv"))
	if err != nil {
		t.Fatal(err)
	}
	var comments []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "# "); ok {
			comments = append(comments, line)
		}
	}
	r := csv.NewReader(strings.NewReader(string(b)))
	r.Comment = '#'
	header, err := r.Read()
	if err != nil || !slices.Equal(header, []string{"set", "statistic", "value"}) {
		t.Fatalf("reference.csv: bad header %q (%v)", header, err)
	}
	var refs []reference
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		v, err := parseValue(rec[2])
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, reference{set: rec[0], statistic: rec[1], value: v})
	}
	return refs, comments
}

// TestPosteriorReference checks every statistic against the values computed
// by the R package posterior on the same draws.
func TestPosteriorReference(t *testing.T) {
	const tol = 1e-6
	refs, comments := readReference(t)
	for _, c := range comments {
		t.Log(c)
	}
	if len(refs) == 0 {
		t.Fatal("no reference values")
	}
	draws := make(map[string][][]float64)
	worst := make(map[string]float64)
	for _, ref := range refs {
		f, ok := statistics[ref.statistic]
		if !ok {
			t.Errorf("unknown statistic %q", ref.statistic)
			continue
		}
		chains, ok := draws[ref.set]
		if !ok {
			chains = readDraws(t, ref.set)
			draws[ref.set] = chains
		}
		got, want := f(chains), ref.value
		name := ref.set + "/" + ref.statistic
		switch {
		case math.IsNaN(want) || math.IsNaN(got):
			if !math.IsNaN(want) || !math.IsNaN(got) {
				t.Errorf("%s: got %v, want %v", name, got, want)
			}
		case math.IsInf(want, 0) || want == got:
			if got != want {
				t.Errorf("%s: got %v, want %v", name, got, want)
			}
			worst[ref.statistic] = math.Max(worst[ref.statistic], 0)
		default:
			// Relative error, absolute for values near zero.
			err := math.Abs(got-want) / math.Max(math.Abs(want), 1e-8)
			worst[ref.statistic] = math.Max(worst[ref.statistic], err)
			if err > tol {
				t.Errorf("%s: got %.17g, want %.17g (relative error %.2g)", name, got, want, err)
			}
		}
	}
	stats := make([]string, 0, len(worst))
	for s := range worst {
		stats = append(stats, s)
	}
	slices.Sort(stats)
	for _, s := range stats {
		t.Logf("%-10s max relative error %.2g", s, worst[s])
	}
}

func TestEBFMI(t *testing.T) {
	// Ē = 2; Σ(E_i − E_{i−1})² = 1 + 4 + 9 = 14; Σ(E_i − Ē)² = 1 + 0 + 4 + 1 = 6.
	if got, want := EBFMI([]float64{1, 2, 4, 1}), 14.0/6; math.Abs(got-want) > 1e-15 {
		t.Errorf("EBFMI = %v, want %v", got, want)
	}
	for _, e := range [][]float64{nil, {1}, {3, 3, 3}, {1, math.NaN(), 2}, {1, math.Inf(1)}} {
		if got := EBFMI(e); !math.IsNaN(got) {
			t.Errorf("EBFMI(%v) = %v, want NaN", e, got)
		}
	}
	// For independent draws E-BFMI is close to 2.
	rnd := rand.New(rand.NewPCG(1, 2))
	e := make([]float64, 100000)
	for i := range e {
		e[i] = rnd.NormFloat64()
	}
	if got := EBFMI(e); math.Abs(got-2) > 0.05 {
		t.Errorf("EBFMI of white noise = %v, want about 2", got)
	}
}

func TestShapes(t *testing.T) {
	if err := Validate(nil); err != ErrNoDraws {
		t.Errorf("Validate(nil) = %v, want ErrNoDraws", err)
	}
	if err := Validate([][]float64{{}, {}}); err != ErrNoDraws {
		t.Errorf("Validate of empty chains = %v, want ErrNoDraws", err)
	}
	ragged := [][]float64{{1, 2, 3}, {1, 2}}
	if err := Validate(ragged); err != ErrRagged {
		t.Errorf("Validate of ragged chains = %v, want ErrRagged", err)
	}
	if err := Validate([][]float64{{}, {1}}); err != ErrRagged {
		t.Errorf("Validate of ragged chains = %v, want ErrRagged", err)
	}
	if _, err := Summarize(ragged); err != ErrRagged {
		t.Errorf("Summarize of ragged chains: error %v, want ErrRagged", err)
	}
	for name, f := range statistics {
		if name == "mean" || name == "sd" { // Summarize returns an error
			continue
		}
		if got := f(nil); !math.IsNaN(got) {
			t.Errorf("%s(nil) = %v, want NaN", name, got)
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic for ragged chains", name)
				}
			}()
			f(ragged)
		}()
	}
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("ESSQuantile did not panic for p = %v", p)
				}
			}()
			ESSQuantile([][]float64{{1, 2, 3}}, p)
		}()
	}
}

func TestFewDraws(t *testing.T) {
	// Halves of fewer than three draws have no ESS; halves of one draw have
	// no R̂.
	for n := 1; n <= 7; n++ {
		chains := [][]float64{make([]float64, n), make([]float64, n)}
		for i := range n {
			chains[0][i] = float64(i*i) + 0.5
			chains[1][i] = float64(-i)
		}
		wantESS := n >= 6
		if got := ESSBulk(chains); math.IsNaN(got) == wantESS {
			t.Errorf("n = %d: ESSBulk = %v", n, got)
		}
		wantRhat := n >= 4
		if got := Rhat(chains); math.IsNaN(got) == wantRhat {
			t.Errorf("n = %d: Rhat = %v", n, got)
		}
	}
}

// TestAutocovFFT checks that the FFT and the direct autocovariances agree.
func TestAutocovFFT(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{3, 10, 97, 1000} {
		chains := make([][]float64, 3)
		for j := range chains {
			x := 0.0
			for range n {
				x = 0.9*x + rnd.NormFloat64()
				chains[j] = append(chains[j], x)
			}
		}
		direct := newAutocov(chains)
		direct.limit = n
		fft := newAutocov(chains)
		fft.limit = 0
		for k := range n {
			d, f := direct.at(k), fft.at(k)
			if math.Abs(d-f) > 1e-12*direct.at(0) {
				t.Errorf("n = %d, lag %d: direct %v, FFT %v", n, k, d, f)
			}
		}
	}
}

func TestGoodSize(t *testing.T) {
	for n, want := range map[int]int{1: 1, 2: 2, 7: 8, 11: 12, 13: 15, 17: 18, 121: 125, 2001: 2025} {
		if got := goodSize(n); got != want {
			t.Errorf("goodSize(%d) = %d, want %d", n, got, want)
		}
	}
}

func BenchmarkESSBulk(b *testing.B) {
	rnd := rand.New(rand.NewPCG(5, 6))
	chains := make([][]float64, 4)
	for j := range chains {
		x := 0.0
		for range 10000 {
			x = 0.5*x + rnd.NormFloat64()
			chains[j] = append(chains[j], x)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		ESSBulk(chains)
	}
}
