package sde

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkKunitaDiffusion times σ(q) = chol(K_ε(q)) ⊗ I₂ in full D×D form and the
// factorised N×N factor alone, for NB07's 16 landmarks and hyperiax-phylo's 118
// butterfly landmarks (both 2-D, NB07 kernel parameters, landmarks on the unit circle).
func BenchmarkKunitaDiffusion(b *testing.B) {
	for _, n := range []int{16, 118} {
		k := Kunita{N: n, Dim: 2, KAlpha: 0.1, KSigma: 0.25}
		q := circle(n)
		b.Run(fmt.Sprintf("full/n=%d", n), func(b *testing.B) {
			sigma := make([]float64, 4*n*n)
			for b.Loop() {
				if err := k.Diffusion(0, q, sigma); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("factor/n=%d", n), func(b *testing.B) {
			L := make([]float64, n*n)
			for b.Loop() {
				if err := k.FactorTo(L, q); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("factorVJP/n=%d", n), func(b *testing.B) {
			L := make([]float64, n*n)
			if err := k.FactorTo(L, q); err != nil {
				b.Fatal(err)
			}
			Lbar := randVec(rand.New(rand.NewPCG(1, 2)), n*n)
			qbar := make([]float64, 2*n)
			var w KunitaWork
			for b.Loop() {
				k.FactorVJPTo(qbar, q, L, Lbar, &w)
			}
		})
	}
}

// BenchmarkPathTo times a 100-step Euler–Maruyama path with D = 32: the Kunita model
// with 16 2-D landmarks (a Cholesky per step) and an isotropic OU process.
func BenchmarkPathTo(b *testing.B) {
	const steps, D = 100, 32
	rng := rand.New(rand.NewPCG(1, 2))
	g := Uniform(1, steps)
	z := randVec(rng, steps*D)
	x0 := circle(D / 2)
	path := make([]float64, (steps+1)*D)
	for name, m := range map[string]SDE{
		"Kunita": Kunita{N: D / 2, Dim: 2, KAlpha: 0.1, KSigma: 0.25},
		"OU":     OU{D: D, Alpha: 0.5, Scale: 0.3},
	} {
		b.Run(name, func(b *testing.B) {
			em := EM{SDE: m}
			for b.Loop() {
				if err := em.PathTo(path, g, x0, z); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkKunitaKernel times K(q) alone: n(n−1)/2 Matérn evaluations.
func BenchmarkKunitaKernel(b *testing.B) {
	for _, n := range []int{16, 118} {
		k := Kunita{N: n, Dim: 2, KAlpha: 0.1, KSigma: 0.25}
		q := circle(n)
		K := make([]float64, n*n)
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			for b.Loop() {
				k.KernelTo(K, q)
			}
		})
	}
}
