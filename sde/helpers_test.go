package sde

import (
	"math"
	"math/rand/v2"
	"testing"
)

// randSPD returns a random symmetric positive definite n×n matrix GG'/n + shift·I.
func randSPD(rng *rand.Rand, n int, shift float64) []float64 {
	g := make([]float64, n*n)
	for i := range g {
		g[i] = rng.NormFloat64()
	}
	a := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := 0; j < n; j++ {
			s := 0.0
			for k := 0; k < n; k++ {
				s += g[i*n+k] * g[j*n+k]
			}
			a[i*n+j] = s / float64(n)
		}
		a[i*n+i] += shift
	}
	return a
}

func randVec(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		panic("length mismatch")
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

// relErr returns |a − b|/|b| over whole vectors (Euclidean norms).
func relErr(a, b []float64) float64 {
	d := make([]float64, len(a))
	for i := range a {
		d[i] = a[i] - b[i]
	}
	return norm(d) / norm(b)
}

// slope fits log err = p·log(1/n) + c by least squares and returns p (the order).
func slope(ns []int, errs []float64) float64 {
	var sx, sy, sxx, sxy float64
	for i, n := range ns {
		x := -math.Log(float64(n))
		y := math.Log(errs[i])
		sx += x
		sy += y
		sxx += x * x
		sxy += x * y
	}
	m := float64(len(ns))
	return (m*sxy - sx*sy) / (m*sxx - sx*sx)
}

// simpson integrates the matrix-valued f over [a, b] with the composite Simpson rule on
// n (even) intervals into dst.
func simpson(dst []float64, a, b float64, n int, f func(t float64, out []float64)) {
	clear(dst)
	tmp := make([]float64, len(dst))
	h := (b - a) / float64(n)
	for k := 0; k <= n; k++ {
		w := 2.0
		switch {
		case k == 0 || k == n:
			w = 1
		case k%2 == 1:
			w = 4
		}
		f(a+float64(k)*h, tmp)
		for i := range dst {
			dst[i] += w * h / 3 * tmp[i]
		}
	}
}

// circle returns n landmarks on the unit circle, φ_k = 2πk/n, interleaved (NB07 root).
func circle(n int) []float64 {
	q := make([]float64, 2*n)
	for k := 0; k < n; k++ {
		phi := 2 * math.Pi * float64(k) / float64(n)
		q[2*k], q[2*k+1] = math.Cos(phi), math.Sin(phi)
	}
	return q
}

func checkAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	f() // warm
	if a := testing.AllocsPerRun(20, f); a != 0 {
		t.Errorf("%s: %v allocations per run, want 0", name, a)
	}
}
