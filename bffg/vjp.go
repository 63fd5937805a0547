package bffg

import "github.com/canopy-bffg/canopy/sde"

// Vector–Jacobian products of the small dense primitives (bffg-math §4.2). All matrices
// are row-major d×d; "adds" means the result is accumulated into the destination.

// cholVJP writes into sbar the adjoint of S for L = chol(S) given Lbar, by Murray's
// rule (sde.CholeskyVJPTo).
func cholVJP(sbar, l, lbar []float64, d int) {
	sde.CholeskyVJPTo(sbar[:d*d], l[:d*d], lbar[:d*d], d)
}

// addOuter adds s·x y' to a.
func addOuter(a []float64, s float64, x, y []float64) {
	d := len(y)
	for i, xi := range x {
		if xi == 0 {
			continue
		}
		row := a[i*d : i*d+d]
		for j, yj := range y {
			row[j] += s * xi * yj
		}
	}
}

// addScaled adds s·b to a.
func addScaled(a []float64, s float64, b []float64) {
	for i, v := range b {
		a[i] += s * v
	}
}

// mulT sets C = A'B for A k×m and B k×n.
func mulT(c, a, b []float64, k, m, n int) {
	for i := range c[:m*n] {
		c[i] = 0
	}
	for p := 0; p < k; p++ {
		for i, av := range a[p*m : p*m+m] {
			if av == 0 {
				continue
			}
			ci := c[i*n : i*n+n]
			for j, bv := range b[p*n : p*n+n] {
				ci[j] += av * bv
			}
		}
	}
}

// mulBT sets C = A B' for A m×k and B n×k.
func mulBT(c, a, b []float64, m, k, n int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			c[i*n+j] = dot(a[i*k:i*k+k], b[j*k:j*k+k])
		}
	}
}
