package sde_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/canopy-bffg/canopy/sde"
)

// The Kunita-flow landmark model of hyperiax notebook 07: 16 landmarks on the unit
// circle, k_α = 0.1, k_σ = 0.25, one Euler–Maruyama path of 100 steps on a unit edge,
// driven by seeded noise.
func ExampleKunita() {
	const n = 16
	k := sde.Kunita{N: n, Dim: 2, KAlpha: 0.1, KSigma: 0.25}
	q := make([]float64, 2*n) // interleaved (x0, y0, x1, y1, …)
	for i := 0; i < n; i++ {
		phi := 2 * math.Pi * float64(i) / n
		q[2*i], q[2*i+1] = math.Cos(phi), math.Sin(phi)
	}
	K := k.KernelTo(make([]float64, n*n), q)
	fmt.Printf("K_00 = %.6f, K_01 = %.6f, jitter = %g\n", K[0], K[1], k.Jitter())

	g := sde.Uniform(1, 100)
	rng := rand.New(rand.NewPCG(1, 2))
	z := make([]float64, g.Len()*2*n)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	path := make([]float64, (g.Len()+1)*2*n)
	em := sde.EM{SDE: k}
	if err := em.PathTo(path, g, q, z); err != nil {
		fmt.Println(err)
		return
	}
	end := path[g.Len()*2*n:]
	fmt.Printf("landmark 0 at T: (%.4f, %.4f)\n", end[0], end[1])
	// Output:
	// K_00 = 0.100000, K_01 = 0.084482, jitter = 1e-06
	// landmark 0 at T: (1.3037, -0.1332)
}

// The backward filter of an Ornstein–Uhlenbeck edge: the exact pullback through the
// Van Loan transition and fourth-order Runge–Kutta on the backward equations agree.
func ExampleBackward() {
	ou := sde.OU{D: 1, Alpha: 0.8, Mean: []float64{1}, Scale: 0.5}
	aux := ou.Linear()
	g := sde.Uniform(2, 40)
	HT, FT, cT := []float64{4}, []float64{2}, 0.0 // h(x) = exp(−2x² + 2x)
	H1, F1, c1 := make([]float64, 41), make([]float64, 41), make([]float64, 41)
	H2, F2, c2 := make([]float64, 41), make([]float64, 41), make([]float64, 41)
	var w sde.Backward
	if err := w.ExactTo(H1, F1, c1, aux, g, HT, FT, cT); err != nil {
		fmt.Println(err)
		return
	}
	w.RK4To(H2, F2, c2, aux, g, HT, FT, cT)
	// Closed form: H(0) = Φ²H_T/(1 + H_TQ), F(0) = Φ(F_T − H_Tb)/(1 + H_TQ) with Φ = e^{−αT},
	// b = θ(1 − Φ), Q = s²(1 − e^{−2αT})/(2α).
	fmt.Printf("exact: H(0) = %.8f, F(0) = %.8f\n", H1[0], F1[0])
	fmt.Printf("RK4 − exact at t = 0: |ΔH| < 1e-6: %v, |ΔF| < 1e-6: %v, |Δc| < 1e-6: %v\n",
		math.Abs(H2[0]-H1[0]) < 1e-6, math.Abs(F2[0]-F1[0]) < 1e-6, math.Abs(c2[0]-c1[0]) < 1e-6)
	// Output:
	// exact: H(0) = 0.10193586, F(0) = -0.15050995
	// RK4 − exact at t = 0: |ΔH| < 1e-6: true, |ΔF| < 1e-6: true, |Δc| < 1e-6: true
}
