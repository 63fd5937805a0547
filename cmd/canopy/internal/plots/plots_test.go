package plots

import (
	"bytes"
	"image"
	_ "image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"
)

// mcmcChains returns c chains of n draws of a stationary Gaussian AR(1)
// process with mean mu, marginal standard deviation sd and autocorrelation
// rho, each chain started at a different, dispersed point so that the trace
// shows a short burn-in.
func mcmcChains(c, n int, mu, sd, rho float64) [][]float64 {
	rng := rand.New(rand.NewPCG(42, 7))
	innov := sd * math.Sqrt(1-rho*rho)
	chains := make([][]float64, c)
	for k := range chains {
		x := mu + 4*sd*(float64(k)-float64(c-1)/2)
		chains[k] = make([]float64, n)
		for i := range n {
			x = mu + rho*(x-mu) + innov*rng.NormFloat64()
			chains[k][i] = x
		}
	}
	return chains
}

// normalCurve returns the N(mu, sd²) density on m points over mu ± 4sd.
func normalCurve(mu, sd float64, m int) *Curve {
	c := &Curve{X: make([]float64, m), Y: make([]float64, m), Label: "exact (grid)"}
	for i := range m {
		x := mu - 4*sd + 8*sd*float64(i)/float64(m-1)
		z := (x - mu) / sd
		c.X[i] = x
		c.Y[i] = math.Exp(-0.5*z*z) / (sd * math.Sqrt(2*math.Pi))
	}
	return c
}

// checkImages checks that dir/base.png is a PNG of wantW × wantH pixels and
// dir/base.svg an SVG document containing each of texts.
func checkImages(t *testing.T, dir, base string, wantW, wantH int, texts ...string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, base+".png"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("%s.png: no PNG signature (%d bytes)", base, len(data))
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s.png: %v", base, err)
	}
	if b := img.Bounds(); format != "png" || b.Dx() != wantW || b.Dy() != wantH {
		t.Errorf("%s.png: %s image %d×%d, want png %d×%d", base, format, b.Dx(), b.Dy(), wantW, wantH)
	}
	// The picture must not be blank: count non-white pixels.
	var ink int
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, g, bl, _ := img.At(x, y).RGBA(); r&g&bl != 0xffff {
				ink++
			}
		}
	}
	if ink < b.Dx()*b.Dy()/100 {
		t.Errorf("%s.png: only %d non-white pixels", base, ink)
	}

	svg, err := os.ReadFile(filepath.Join(dir, base+".svg"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSpace(string(svg))
	if !strings.HasPrefix(s, "<?xml") && !strings.HasPrefix(s, "<svg") {
		t.Errorf("%s.svg does not start with <?xml or <svg: %.40q", base, s)
	}
	if !strings.Contains(s, "</svg>") {
		t.Errorf("%s.svg has no closing </svg>", base)
	}
	for _, text := range texts {
		if !strings.Contains(s, text) {
			t.Errorf("%s.svg does not contain %q", base, text)
		}
	}
}

// outDir returns the directory for the test's pictures: $CANOPY_PLOTS_OUT if
// set (to look at them), else a temporary directory.
func outDir(t *testing.T) string {
	if d := os.Getenv("CANOPY_PLOTS_OUT"); d != "" {
		return d
	}
	return t.TempDir()
}

func TestSave(t *testing.T) {
	const name = "log σ²"
	chains := mcmcChains(4, 1000, 1, 0.5, 0.9)
	dir := outDir(t)
	base := FileName(name)

	tr, err := Trace(chains, name)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Title.Text != "Trace of "+name || tr.X.Label.Text != "iteration" || tr.Y.Label.Text != name {
		t.Errorf("trace labels: title %q, x %q, y %q", tr.Title.Text, tr.X.Label.Text, tr.Y.Label.Text)
	}
	if tr.X.Min != 1 || tr.X.Max != 1000 {
		t.Errorf("trace x range [%v, %v], want [1, 1000]", tr.X.Min, tr.X.Max)
	}
	if err := Save(tr, dir, base+"_trace", 6*vg.Inch, 4*vg.Inch); err != nil {
		t.Fatal(err)
	}
	checkImages(t, dir, base+"_trace", 576, 384, "chain 1", "chain 4", "iteration")

	de, err := Density(chains, name, normalCurve(1, 0.5, 201))
	if err != nil {
		t.Fatal(err)
	}
	if de.Y.Min != 0 || de.X.Label.Text != name || de.Y.Label.Text != "density" {
		t.Errorf("density axes: y min %v, x %q, y %q", de.Y.Min, de.X.Label.Text, de.Y.Label.Text)
	}
	// The exact curve spans 1 ± 2, beyond the draws' quantiles, so it sets
	// the x range.
	if de.X.Min != -1 || de.X.Max != 3 {
		t.Errorf("density x range [%v, %v], want the exact curve's [-1, 3]", de.X.Min, de.X.Max)
	}
	if err := Save(de, filepath.Join(dir, "sub", "dir"), base+"_density", 5*vg.Inch, 3.5*vg.Inch); err != nil {
		t.Fatal(err)
	}
	checkImages(t, filepath.Join(dir, "sub", "dir"), base+"_density", 480, 336, "KDE", "exact (grid)")

	if err := TraceDensity(chains, name, normalCurve(1, 0.5, 201), dir, base, 10*vg.Inch, 3.5*vg.Inch); err != nil {
		t.Fatal(err)
	}
	checkImages(t, dir, base, 960, 336, "chain 3", "KDE", "exact (grid)")
	// Files names exactly what was written.
	var wrote []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), base+".") {
			wrote = append(wrote, e.Name())
		}
	}
	if files := Files(base); !slices.Equal(wrote, files) {
		t.Errorf("Files(%q) = %v, TraceDensity wrote %v", base, files, wrote)
	}

	// Without an exact curve the legend has no exact entry.
	de, err = Density(chains, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Save(de, dir, "noexact", 4*vg.Inch, 3*vg.Inch); err != nil {
		t.Fatal(err)
	}
	if svg, _ := os.ReadFile(filepath.Join(dir, "noexact.svg")); bytes.Contains(svg, []byte("exact")) {
		t.Error("density without exact curve mentions exact")
	}
}

func TestSaveErrors(t *testing.T) {
	dir := t.TempDir()
	p, err := Trace([][]float64{{1, 2, 3}}, "x")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"nil plot", Save(nil, dir, "a", vg.Inch, vg.Inch)},
		{"empty base", Save(p, dir, "", vg.Inch, vg.Inch)},
		{"base with slash", Save(p, dir, "a/b", vg.Inch, vg.Inch)},
		{"dot dot", Save(p, dir, "..", vg.Inch, vg.Inch)},
		{"zero size", Save(p, dir, "a", 0, vg.Inch)},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Save(p, filepath.Join(dir, "f"), "a", vg.Inch, vg.Inch); err == nil {
		t.Error("Save into a regular file: no error")
	}
}

func TestInvalidDraws(t *testing.T) {
	nan, inf := math.NaN(), math.Inf(-1)
	for _, tc := range []struct {
		name   string
		chains [][]float64
		want   []string // substrings of the error
	}{
		{"nil", nil, []string{"no chains"}},
		{"no chains", [][]float64{}, []string{"no chains"}},
		{"empty chain", [][]float64{{}}, []string{"chain 1", "no draws"}},
		{"second chain empty", [][]float64{{1, 2}, {}}, []string{"chain 2", "no draws"}},
		{"unequal", [][]float64{{1, 2, 3}, {1, 2, 3}, {1, 2}}, []string{"unequal", "chains[2] has 2"}},
		{"nan", [][]float64{{1, 2, 3}, {1, 2, nan}}, []string{"chains[1][2]", "chain 2, iteration 3", "NaN"}},
		{"inf", [][]float64{{inf, 2, 3}}, []string{"chains[0][0]", "-Inf"}},
	} {
		check := func(what string, err error) {
			t.Helper()
			if err == nil {
				t.Errorf("%s %s: no error", what, tc.name)
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s %s: error %q does not mention %q", what, tc.name, err, w)
				}
			}
			if !strings.Contains(err.Error(), `"theta"`) {
				t.Errorf("%s %s: error %q does not name the parameter", what, tc.name, err)
			}
		}
		p, err := Trace(tc.chains, "theta")
		check("Trace", err)
		if p != nil {
			t.Errorf("Trace %s: non-nil plot with error", tc.name)
		}
		p, err = Density(tc.chains, "theta", nil)
		check("Density", err)
		if p != nil {
			t.Errorf("Density %s: non-nil plot with error", tc.name)
		}
		check("TraceDensity", TraceDensity(tc.chains, "theta", nil, t.TempDir(), "x", vg.Inch, vg.Inch))
	}
}

func TestInvalidExact(t *testing.T) {
	chains := [][]float64{{1, 2, 3, 4}}
	for _, tc := range []struct {
		name string
		c    Curve
	}{
		{"length mismatch", Curve{X: []float64{0, 1}, Y: []float64{1}}},
		{"too short", Curve{X: []float64{0}, Y: []float64{1}}},
		{"nan", Curve{X: []float64{0, 1, 2}, Y: []float64{1, math.NaN(), 1}}},
		{"not increasing", Curve{X: []float64{0, 2, 1}, Y: []float64{1, 1, 1}}},
	} {
		if _, err := Density(chains, "theta", &tc.c); err == nil || !strings.Contains(err.Error(), "exact curve") {
			t.Errorf("%s: error %v, want one about the exact curve", tc.name, err)
		}
	}
}

// TestDegenerateDraws checks that a constant or single-draw chain still
// gives a plot rather than an error or panic.
func TestDegenerateDraws(t *testing.T) {
	for _, chains := range [][][]float64{{{2, 2, 2}, {2, 2, 2}}, {{0}}} {
		if _, err := Trace(chains, "c"); err != nil {
			t.Errorf("Trace(%v): %v", chains, err)
		}
		p, err := Density(chains, "c", nil)
		if err != nil {
			t.Fatalf("Density(%v): %v", chains, err)
		}
		if err := Save(p, t.TempDir(), "c", 3*vg.Inch, 2*vg.Inch); err != nil {
			t.Errorf("Save density of %v: %v", chains, err)
		}
	}
}
