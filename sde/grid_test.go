package sde

import (
	"math"
	"testing"
)

func TestUniformGrid(t *testing.T) {
	for _, c := range []struct {
		T float64
		n int
	}{{1, 100}, {0.1, 3}, {2.7, 7}, {0, 4}} {
		g := Uniform(c.T, c.n)
		if g.Len() != c.n || len(g.Times) != c.n+1 {
			t.Fatalf("T=%v n=%v: sizes %d, %d", c.T, c.n, len(g.Steps), len(g.Times))
		}
		if g.Times[0] != 0 || g.Times[c.n] != c.T || g.End() != c.T {
			t.Errorf("T=%v n=%v: endpoints %v, %v", c.T, c.n, g.Times[0], g.Times[c.n])
		}
		sum := 0.0
		for k, h := range g.Steps {
			if math.Abs(h-(g.Times[k+1]-g.Times[k])) > 1e-15*(1+c.T) {
				t.Errorf("step %d = %v, times differ by %v", k, h, g.Times[k+1]-g.Times[k])
			}
			sum += h
		}
		if math.Abs(sum-c.T) > 1e-14*(1+c.T) {
			t.Errorf("Σ steps = %v, want %v", sum, c.T)
		}
	}
}

func TestTimeChangedGrid(t *testing.T) {
	for _, c := range []struct {
		T float64
		n int
	}{{1, 100}, {0.3, 10}, {2.5, 1000}} {
		g := TimeChanged(c.T, c.n)
		n := c.n
		if g.Times[0] != 0 || g.Times[n] != c.T {
			t.Errorf("endpoints %v, %v", g.Times[0], g.Times[n])
		}
		// First step ≈ 2T/n (exactly T(2n−1)/n²), last exactly T/n².
		if first := g.Steps[0]; math.Abs(first-2*c.T/float64(n)) > c.T/float64(n*n)*(1+1e-12) {
			t.Errorf("first step %v, want ≈ 2T/n = %v", first, 2*c.T/float64(n))
		}
		if last := g.Steps[n-1]; last != c.T/float64(n*n) {
			t.Errorf("last step %v, want exactly T/n² = %v", last, c.T/float64(n*n))
		}
		// Times follow t = s(2 − s/T); steps match time differences; steps decrease.
		sum := 0.0
		for k := 0; k <= n; k++ {
			s := float64(k) * c.T / float64(n)
			if want := s * (2 - s/c.T); math.Abs(g.Times[k]-want) > 4e-16*c.T {
				t.Errorf("t_%d = %v, want %v", k, g.Times[k], want)
			}
			if k < n {
				if d := g.Steps[k] - (g.Times[k+1] - g.Times[k]); math.Abs(d) > 4e-16*c.T {
					t.Errorf("step %d differs from time difference by %v", k, d)
				}
				if k > 0 && !(g.Steps[k] < g.Steps[k-1]) {
					t.Errorf("steps not decreasing at %d", k)
				}
				sum += g.Steps[k]
			}
		}
		if math.Abs(sum-c.T) > 1e-13*c.T {
			t.Errorf("Σ steps = %v, want %v", sum, c.T)
		}
		// Inverse map s = T − √(T(T − t)) recovers the uniform grid.
		for k := 0; k <= n; k++ {
			s := c.T - math.Sqrt(c.T*(c.T-g.Times[k]))
			if math.Abs(s-float64(k)*c.T/float64(n)) > 1e-7*c.T {
				t.Errorf("inverse map at %d: %v", k, s)
			}
		}
	}
}

func TestGridPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"n=0":   func() { Uniform(1, 0) },
		"T<0":   func() { TimeChanged(-1, 3) },
		"NaN T": func() { Uniform(math.NaN(), 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
