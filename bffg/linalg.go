package bffg

import (
	"math"

	"github.com/canopy-bffg/canopy/sde"
)

// Small dense kernels on row-major d×d matrices. The filter calls them once or twice per
// node with d usually below 10, where gonum's general routines cost more in set-up than
// in arithmetic; these do not allocate.

// cholesky overwrites a with its lower Cholesky factor L (a = LL', strict upper
// triangle zeroed) and reports false if a is not positive definite.
func cholesky(a []float64, d int) bool { return sde.CholeskyTo(a[:d*d], a[:d*d], d) == nil }

// isZero reports whether every entry of a is zero.
func isZero(a []float64) bool {
	for _, v := range a {
		if v != 0 {
			return false
		}
	}
	return true
}

// sqrtCov writes into r a square root of the covariance q (q = rr'): the lower Cholesky
// factor, or zero when q is zero (a zero-length edge). It reports false when q is
// neither zero nor positive definite.
func sqrtCov(r, q []float64, d int) bool {
	copy(r, q)
	if isZero(q) {
		return true
	}
	return cholesky(r, d)
}

// logDiag returns Σ log L_ii, as the log of the product when that neither overflows
// nor underflows (one log instead of d).
func logDiag(l []float64, d int) float64 {
	p := 1.0
	for i := 0; i < d; i++ {
		p *= l[i*d+i]
	}
	if p > 1e-300 && p < 1e300 {
		return math.Log(p)
	}
	s := 0.0
	for i := 0; i < d; i++ {
		s += math.Log(l[i*d+i])
	}
	return s
}

// solveLower overwrites x with L⁻¹x for lower-triangular L.
func solveLower(l []float64, d int, x []float64) {
	for i := 0; i < d; i++ {
		s := x[i]
		ri := l[i*d : i*d+i]
		for k, v := range ri {
			s -= v * x[k]
		}
		x[i] = s / l[i*d+i]
	}
}

// solveLowerT overwrites x with L⁻ᵀx for lower-triangular L.
func solveLowerT(l []float64, d int, x []float64) {
	for i := d - 1; i >= 0; i-- {
		s := x[i]
		for k := i + 1; k < d; k++ {
			s -= l[k*d+i] * x[k]
		}
		x[i] = s / l[i*d+i]
	}
}

// mulVec sets y = A x for an m×n matrix A.
func mulVec(y, a []float64, m, n int, x []float64) {
	for i := 0; i < m; i++ {
		s := 0.0
		for k, v := range a[i*n : i*n+n] {
			s += v * x[k]
		}
		y[i] = s
	}
}

// mulTVec sets y = A'x for an m×n matrix A (y has n entries).
func mulTVec(y, a []float64, m, n int, x []float64) {
	for j := 0; j < n; j++ {
		y[j] = 0
	}
	for i := 0; i < m; i++ {
		xi := x[i]
		for j, v := range a[i*n : i*n+n] {
			y[j] += v * xi
		}
	}
}

// lowerTMulVec sets y = L'x for lower-triangular d×d L.
func lowerTMulVec(y, l []float64, d int, x []float64) {
	for j := 0; j < d; j++ {
		s := 0.0
		for i := j; i < d; i++ {
			s += l[i*d+j] * x[i]
		}
		y[j] = s
	}
}

// lowerMulVec sets y = L x for lower-triangular d×d L.
func lowerMulVec(y, l []float64, d int, x []float64) {
	for i := d - 1; i >= 0; i-- {
		s := 0.0
		for k := 0; k <= i; k++ {
			s += l[i*d+k] * x[k]
		}
		y[i] = s
	}
}

// mul sets C = A B for A m×k and B k×n.
func mul(c, a, b []float64, m, k, n int) {
	for i := 0; i < m; i++ {
		ci := c[i*n : i*n+n]
		for j := range ci {
			ci[j] = 0
		}
		for p, av := range a[i*k : i*k+k] {
			if av == 0 {
				continue
			}
			for j, bv := range b[p*n : p*n+n] {
				ci[j] += av * bv
			}
		}
	}
}

// dot returns x'y.
func dot(x, y []float64) float64 {
	s := 0.0
	for i, v := range x {
		s += v * y[i]
	}
	return s
}

// quad returns x'Ax for a d×d matrix A.
func quad(a []float64, d int, x []float64) float64 {
	s := 0.0
	for i := 0; i < d; i++ {
		t := 0.0
		for j, v := range a[i*d : i*d+d] {
			t += v * x[j]
		}
		s += x[i] * t
	}
	return s
}

// symmetrize replaces a by (a + a')/2.
func symmetrize(a []float64, d int) {
	for i := 0; i < d; i++ {
		for j := i + 1; j < d; j++ {
			m := 0.5 * (a[i*d+j] + a[j*d+i])
			a[i*d+j], a[j*d+i] = m, m
		}
	}
}

func setIdentity(a []float64, d int) {
	for i := range a[:d*d] {
		a[i] = 0
	}
	for i := 0; i < d; i++ {
		a[i*d+i] = 1
	}
}
