package dense

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func randMat(rng *rand.Rand, r, c int) []float64 {
	a := make([]float64, r*c)
	for i := range a {
		a[i] = rng.NormFloat64()
	}
	return a
}

// at returns entry (i, j) of op(a) for the row-major r×c matrix a.
func at(a []float64, c int, trans bool, i, j int) float64 {
	if trans {
		return a[j*c+i]
	}
	return a[i*c+j]
}

func naiveMul(ta, tb bool, a []float64, ca int, b []float64, cb int, m, n, k int) []float64 {
	c := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			for l := 0; l < k; l++ {
				c[i*n+j] += at(a, ca, ta, i, l) * at(b, cb, tb, l, j)
			}
		}
	}
	return c
}

func maxDiff(a, b []float64) float64 {
	d := 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
	}
	return d
}

// spd returns a well-conditioned symmetric positive definite n×n matrix.
func spd(rng *rand.Rand, n int) []float64 {
	g := randMat(rng, n, n)
	a := naiveMul(false, true, g, n, g, n, n, n, n)
	for i := 0; i < n; i++ {
		a[i*n+i] += float64(n)
	}
	return a
}

func TestLevel3(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range [][3]int{{1, 1, 1}, {3, 5, 2}, {17, 9, 40}, {40, 33, 16}} {
		m, n, k := size[0], size[1], size[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				ra, ca := m, k
				if ta {
					ra, ca = k, m
				}
				rb, cb := k, n
				if tb {
					rb, cb = n, k
				}
				a, b, c := randMat(rng, ra, ca), randMat(rng, rb, cb), randMat(rng, m, n)
				want := naiveMul(ta, tb, a, ca, b, cb, m, n, k)
				for i := range want {
					want[i] = 2*want[i] - 0.5*c[i]
				}
				Gemm(ta, tb, 2, a, ra, ca, b, rb, cb, -0.5, c)
				if d := maxDiff(c, want); d > 1e-12*float64(k) {
					t.Errorf("Gemm(%v, %v) %v: max error %g", ta, tb, size, d)
				}
			}
		}
		// Syrk: the lower triangle of 3aa' − c, the upper one untouched.
		a, c := randMat(rng, m, k), randMat(rng, m, m)
		want := naiveMul(false, true, a, k, a, k, m, m, k)
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				if j <= i {
					want[i*m+j] = 3*want[i*m+j] - c[i*m+j]
				} else {
					want[i*m+j] = c[i*m+j]
				}
			}
		}
		Syrk(3, a, m, k, -1, c)
		if d := maxDiff(c, want); d > 1e-12*float64(k) {
			t.Errorf("Syrk %v: max error %g", size, d)
		}
		// Trsm: multiplying back by op(L) recovers b.
		l := spd(rng, m)
		if row, _ := Cholesky(l, m); row >= 0 {
			t.Fatal("Cholesky failed on a positive definite matrix")
		}
		for i := 0; i < m; i++ {
			clear(l[i*m+i+1 : i*m+m])
		}
		for _, trans := range []bool{false, true} {
			b := randMat(rng, m, n)
			x := append([]float64(nil), b...)
			Trsm(trans, l, m, x, n)
			if d := maxDiff(naiveMul(trans, false, l, m, x, n, m, n, m), b); d > 1e-10 {
				t.Errorf("Trsm(%v) %v: max error %g", trans, size, d)
			}
			x = append([]float64(nil), b...)
			Trmm(trans, l, m, x, n)
			if d := maxDiff(x, naiveMul(trans, false, l, m, b, n, m, n, m)); d > 1e-10 {
				t.Errorf("Trmm(%v) %v: max error %g", trans, size, d)
			}
			b = randMat(rng, n, m)
			x = append([]float64(nil), b...)
			TrsmRight(trans, l, m, x, n)
			if d := maxDiff(naiveMul(false, trans, x, m, l, m, n, m, m), b); d > 1e-10 {
				t.Errorf("TrsmRight(%v) %v: max error %g", trans, size, d)
			}
		}
	}
}

// Empty operands are no work, not an error, in both backends: a product over k = 0
// terms scales c by beta, and empty matrices are left alone.
func TestEmpty(t *testing.T) {
	c := []float64{1, 2, 3, 4}
	Gemm(false, false, 1, nil, 2, 0, nil, 0, 2, 0.5, c)
	require.Equal(t, []float64{0.5, 1, 1.5, 2}, c)
	Syrk(1, nil, 2, 0, 2, c)
	require.Equal(t, []float64{1, 1, 3, 4}, c, "the lower triangle scaled, the upper kept")
	Gemm(true, false, 1, nil, 0, 2, nil, 0, 2, 0, c)
	require.Equal(t, []float64{0, 0, 0, 0}, c, "beta = 0 clears c")
	Gemm(false, false, 1, nil, 0, 3, nil, 3, 0, 1, nil)
	Syrk(1, nil, 0, 3, 1, nil)
	l := []float64{2}
	Trsm(false, nil, 0, nil, 3)
	Trsm(true, l, 1, nil, 0)
	TrsmRight(false, nil, 0, nil, 4)
	Trmm(true, nil, 0, nil, 2)
	Trmm(false, l, 1, nil, 0)
	row, _ := Cholesky(nil, 0)
	require.Equal(t, -1, row)
}

func TestCholesky(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	// Sizes below, at and above the block order, and several blocks with a ragged end.
	for _, n := range []int{1, 2, 31, 32, 33, 64, 100, 118} {
		a := spd(rng, n)
		l := append([]float64(nil), a...)
		for i := 0; i < n; i++ { // the strict upper triangle must not be read
			for j := i + 1; j < n; j++ {
				l[i*n+j] = math.NaN()
			}
		}
		if row, p := Cholesky(l, n); row >= 0 {
			t.Fatalf("n=%d: pivot %d is %g on a positive definite matrix", n, row, p)
		}
		for i := 0; i < n; i++ {
			for j := i + 1; j < n; j++ {
				if !math.IsNaN(l[i*n+j]) {
					t.Fatalf("n=%d: Cholesky wrote the upper triangle at (%d, %d)", n, i, j)
				}
				l[i*n+j] = 0
			}
		}
		if d := maxDiff(naiveMul(false, true, l, n, l, n, n, n, n), a); d > 1e-10*float64(n) {
			t.Errorf("n=%d: |LL' − A| = %g", n, d)
		}
	}
}

func TestCholeskyPivot(t *testing.T) {
	const n = 100
	for _, tc := range []struct {
		name string
		set  func(a []float64)
		row  int
	}{
		{"negative pivot", func(a []float64) { a[70*n+70] = -2 }, 70},
		{"zero pivot in the first block", func(a []float64) { a[5*n+5] = 0 }, 5},
		{"NaN below the diagonal", func(a []float64) { a[90*n+10] = math.NaN() }, 90},
		{"infinite entry", func(a []float64) { a[40*n+3] = math.Inf(1) }, 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := make([]float64, n*n)
			for i := 0; i < n; i++ {
				a[i*n+i] = 1
			}
			tc.set(a)
			row, p := Cholesky(a, n)
			if row != tc.row {
				t.Fatalf("first bad pivot reported at row %d (value %g), want row %d", row, p, tc.row)
			}
			if p > 0 && !math.IsInf(p, 0) {
				t.Errorf("reported pivot %g is positive and finite", p)
			}
		})
	}
	// A rank-one deficiency found through the blocked updates: the pivot is the
	// Schur complement, which is 0 up to rounding.
	rng := rand.New(rand.NewPCG(5, 6))
	g := randMat(rng, n, n-1)
	a := naiveMul(false, true, g, n-1, g, n-1, n, n, n-1)
	for i := 0; i < n; i++ {
		a[i*n+i] -= 1e-9
	}
	if row, _ := Cholesky(a, n); row < 0 {
		t.Error("a singular matrix was factorised")
	}
}

func BenchmarkCholesky(b *testing.B) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{16, 118} {
		a := spd(rng, n)
		l := make([]float64, n*n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				copy(l, a)
				Cholesky(l, n)
			}
		})
	}
}

func BenchmarkGemm(b *testing.B) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{16, 118} {
		a, c := randMat(rng, n, n), make([]float64, n*n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				Gemm(false, false, 1, a, n, n, a, n, n, 0, c)
			}
			b.ReportMetric(2*float64(n*n*n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFlop/s")
		})
	}
}
