package bffg

// Vector–Jacobian products of the small dense primitives (bffg-math §4.2). All matrices
// are row-major d×d; "adds" means the result is accumulated into the destination.

// cholVJP returns in sbar the adjoint of S for L = chol(S), given Lbar (lower triangle
// used), by Murray's rule: P = Φ(L'L̄) (lower triangle, diagonal halved),
// Ψ = L⁻ᵀPL⁻¹, S̄ = ½(Ψ + Ψ'). tmp is d×d scratch; Lbar is overwritten.
func cholVJP(sbar, l, lbar, tmp []float64, d int) {
	// P = L' L̄ restricted to the lower triangle, diagonal halved.
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			s := 0.0
			for k := i; k < d; k++ { // L'_{ik} = L_{ki}, nonzero for k ≥ i
				s += l[k*d+i] * lbar[k*d+j]
			}
			if i == j {
				s *= 0.5
			}
			tmp[i*d+j] = s
		}
		for j := i + 1; j < d; j++ {
			tmp[i*d+j] = 0
		}
	}
	// Ψ = L⁻ᵀ P L⁻¹: first X = P L⁻¹ (solve X L = P row by row, i.e. L' X' = P'), then L⁻ᵀ X.
	col := lbar[:d] // lbar is no longer needed; reuse a row as a vector
	for i := 0; i < d; i++ {
		copy(col, tmp[i*d:i*d+d])
		solveLowerT(l, d, col) // row i of P L⁻¹ is L⁻ᵀ applied to row i of P, transposed
		copy(tmp[i*d:i*d+d], col)
	}
	for j := 0; j < d; j++ {
		for i := 0; i < d; i++ {
			col[i] = tmp[i*d+j]
		}
		solveLowerT(l, d, col)
		for i := 0; i < d; i++ {
			sbar[i*d+j] = col[i]
		}
	}
	symmetrize(sbar, d)
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
