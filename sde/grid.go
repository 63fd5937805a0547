package sde

// Grid is a time grid 0 = t_0 < t_1 < … < t_n = T on one edge, with Steps[k] the
// length Δ_k = t_{k+1} − t_k of step k.
//
// Times has n+1 entries and Steps n. Times[0] = 0 and Times[n] = T hold exactly; Steps
// are computed from their closed forms, so Steps[k] equals Times[k+1] − Times[k] up to
// rounding (and Σ Steps = T up to rounding).
type Grid struct {
	Times []float64
	Steps []float64
}

// Len returns the number of steps n.
func (g Grid) Len() int { return len(g.Steps) }

// End returns the edge length T = t_n.
func (g Grid) End() float64 { return g.Times[len(g.Times)-1] }

func checkGrid(T float64, n int) {
	if n < 1 {
		panic("sde: grid needs at least one step")
	}
	if !(T >= 0) {
		panic("sde: negative or NaN edge length")
	}
}

// Uniform returns the grid of n equal steps on [0, T]: t_k = k·T/n (t_n = T exactly),
// Δ_k = T/n. It panics if n < 1 or T < 0.
func Uniform(T float64, n int) Grid {
	checkGrid(T, n)
	g := Grid{Times: make([]float64, n+1), Steps: make([]float64, n)}
	h := T / float64(n)
	for k := 0; k < n; k++ {
		g.Times[k] = float64(k) * h
		g.Steps[k] = h
	}
	g.Times[n] = T
	return g
}

// TimeChanged returns the time-changed grid t_k = s_k(2 − s_k/T), s_k = kT/n, of van
// der Meulen & Schauer (2017): steps shrink linearly towards T, from Δ_0 = T(2n − 1)/n²
// ≈ 2T/n to Δ_{n−1} = T/n². The times are evaluated as t_k = T − T((n − k)/n)², so
// t_0 = 0 and t_n = T exactly, and the steps as Δ_k = T(2(n − k) − 1)/n². It panics if
// n < 1 or T < 0.
func TimeChanged(T float64, n int) Grid {
	checkGrid(T, n)
	g := Grid{Times: make([]float64, n+1), Steps: make([]float64, n)}
	nn := float64(n) * float64(n)
	for k := 0; k < n; k++ {
		u := float64(n-k) / float64(n)
		g.Times[k] = T - T*u*u
		g.Steps[k] = T * float64(2*(n-k)-1) / nn
	}
	g.Times[0] = 0
	g.Times[n] = T
	return g
}
