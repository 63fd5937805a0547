package plots

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// normalSample returns n seeded draws from N(mu, sd²).
func normalSample(n int, mu, sd float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	x := make([]float64, n)
	for i := range x {
		x[i] = mu + sd*rng.NormFloat64()
	}
	return x
}

// trapezoid integrates f over [a, b] with m equal intervals.
func trapezoid(f func(float64) float64, a, b float64, m int) float64 {
	step := (b - a) / float64(m)
	sum := 0.5 * (f(a) + f(b))
	for i := 1; i < m; i++ {
		sum += f(a + float64(i)*step)
	}
	return sum * step
}

func TestQuantile(t *testing.T) {
	x := []float64{1, 2, 3, 4}
	for _, tc := range []struct{ p, want float64 }{
		{0, 1}, {1, 4}, {0.5, 2.5}, {1.0 / 3, 2}, {0.25, 1.75},
	} {
		if got := quantile(x, tc.p); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("quantile(%v, %v) = %v, want %v", x, tc.p, got, tc.want)
		}
	}
	if got := quantile([]float64{7}, 0.3); got != 7 {
		t.Errorf("quantile of single value = %v, want 7", got)
	}
}

func TestSilverman(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    []float64
		want float64
	}{
		// sd = 1.58 > IQR/1.34 = 2/1.34, so the IQR is used.
		{"iqr", []float64{1, 2, 3, 4, 5}, 0.9 * (2 / 1.34) * math.Pow(5, -0.2)},
		// sd = √30 ≈ 5.48 < IQR/1.34 = 10/1.34, so sd is used.
		{"sd", []float64{0, 0, 0, 10, 10, 10}, 0.9 * math.Sqrt(30) * math.Pow(6, -0.2)},
		// IQR = 0 but sd > 0: sd is used, not the zero IQR.
		{"zero iqr", []float64{0, 0, 0, 0, 0, 0, 0, 5}, 0.9 * math.Sqrt(25.0/8) * math.Pow(8, -0.2)},
		// Degenerate samples get a small positive fallback.
		{"constant", []float64{2, 2, 2}, 2e-3},
		{"single", []float64{-4}, 4e-3},
		{"zeros", []float64{0, 0}, 1e-3},
	} {
		if got := silverman(tc.x); math.Abs(got-tc.want) > 1e-12*math.Max(1, tc.want) {
			t.Errorf("%s: silverman(%v) = %v, want %v", tc.name, tc.x, got, tc.want)
		}
	}
}

// TestKDEMoments checks that the estimate is a proper density whose mean is
// the sample mean and whose variance is the (1/n) sample variance plus h².
func TestKDEMoments(t *testing.T) {
	const mu, sd = 3.0, 2.0
	draws := normalSample(1500, mu, sd, 1)
	sorted := slices.Sorted(slices.Values(draws))
	h := silverman(sorted)
	if want := 0.9 * sd * math.Pow(1500, -0.2); math.Abs(h-want) > 0.15*want {
		t.Errorf("bandwidth %v far from 0.9·σ·n^(-1/5) = %v", h, want)
	}

	var mean, v float64
	for _, x := range draws {
		mean += x
	}
	mean /= float64(len(draws))
	for _, x := range draws {
		v += (x - mean) * (x - mean)
	}
	v /= float64(len(draws))

	a, b := sorted[0]-10*h, sorted[len(sorted)-1]+10*h
	const m = 8000
	f := func(x float64) float64 { return kdeAt(draws, h, x) }
	mass := trapezoid(f, a, b, m)
	if math.Abs(mass-1) > 1e-3 {
		t.Errorf("KDE integrates to %v, want 1 ± 1e-3", mass)
	}
	gotMean := trapezoid(func(x float64) float64 { return x * f(x) }, a, b, m)
	if math.Abs(gotMean-mean) > 1e-3*sd {
		t.Errorf("KDE mean %v, sample mean %v", gotMean, mean)
	}
	gotVar := trapezoid(func(x float64) float64 { return (x - mean) * (x - mean) * f(x) }, a, b, m)
	if want := v + h*h; math.Abs(gotVar-want) > 1e-3*want {
		t.Errorf("KDE variance %v, want sample variance + h² = %v + %v = %v", gotVar, v, h*h, want)
	}
}

// TestKDEGrid checks the evaluation grid and that the estimate is close to
// the true density for a large normal sample.
func TestKDEGrid(t *testing.T) {
	const mu, sd = -1.0, 0.5
	draws := normalSample(4000, mu, sd, 2)
	xs, ys, h := kde(draws)
	sorted := slices.Sorted(slices.Values(draws))
	if len(xs) != 256 || len(ys) != 256 {
		t.Fatalf("grid has %d x and %d y values, want 256", len(xs), len(ys))
	}
	if lo := quantile(sorted, 0.001); xs[0] != lo {
		t.Errorf("grid starts at %v, want 0.1%% quantile %v", xs[0], lo)
	}
	if hi := quantile(sorted, 0.999); xs[255] != hi {
		t.Errorf("grid ends at %v, want 99.9%% quantile %v", xs[255], hi)
	}
	peak := 1 / (sd * math.Sqrt(2*math.Pi))
	for i, x := range xs {
		if i > 0 && !(x > xs[i-1]) {
			t.Fatalf("grid not increasing at %d", i)
		}
		if want := kdeAt(draws, h, x); math.Abs(ys[i]-want) > 1e-12*want {
			t.Fatalf("ys[%d] = %v, want kdeAt = %v", i, ys[i], want)
		}
		z := (x - mu) / sd
		pdf := peak * math.Exp(-0.5*z*z)
		if math.Abs(ys[i]-pdf) > 0.08*peak {
			t.Errorf("KDE at %v = %v, true density %v", x, ys[i], pdf)
		}
	}

	// Fewer than 1000 draws: the grid spans the minimum to the maximum.
	small := draws[:200]
	xs, _, _ = kde(small)
	if lo, hi := slices.Min(small), slices.Max(small); xs[0] != lo || xs[255] != hi {
		t.Errorf("small-sample grid [%v, %v], want [min, max] = [%v, %v]", xs[0], xs[255], lo, hi)
	}

	// Constant draws: the grid is widened around the value, the density is
	// finite and peaks there.
	xs, ys, h = kde([]float64{5, 5, 5, 5})
	if !(xs[0] < 5 && xs[255] > 5) || h <= 0 {
		t.Errorf("constant sample: grid [%v, %v], h = %v", xs[0], xs[255], h)
	}
	for _, y := range ys {
		if math.IsNaN(y) || math.IsInf(y, 0) || y < 0 {
			t.Fatalf("constant sample: density value %v", y)
		}
	}
}
