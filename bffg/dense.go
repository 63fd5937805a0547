package bffg

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/topology"
)

// This file holds dense closed forms: O(n²) memory and O(n³) time. They are the oracles
// the filter is tested against and suit trees of up to a few thousand leaves.

// MarginalBM returns the closed-form log marginal likelihood of leaf observations under
// Brownian motion with rate sigma2 and trait covariance traitCov (d×d, nil = identity):
//
//	y ~ N(1⊗m0, sigma2·K⊗Σ + J⊗P0 + I⊗R),
//
// stacked leaf-major, where K[i,j] = Topology.MRCAKernel, J is all ones, (m0, P0) is the
// root (P0 = 0 for a fixed root) and R the noise covariance of obs. Missing values are
// dropped from y.
func MarginalBM(t *topology.Topology, sigma2 float64, traitCov []float64, obs Obs, root Root) (float64, error) {
	nl := t.NumLeaves()
	if nl == 0 || len(obs.Y)%nl != 0 {
		return 0, fmt.Errorf("bffg: %d observed values for %d leaves", len(obs.Y), nl)
	}
	d := len(obs.Y) / nl
	K := t.MRCAKernel(nil)
	sig := func(a, b int) float64 {
		if traitCov == nil {
			if a == b {
				return 1
			}
			return 0
		}
		return traitCov[a*d+b]
	}
	cov := func(i, a, j, b int) float64 {
		s := sigma2 * K[i*nl+j] * sig(a, b)
		if root.Cov != nil {
			s += root.Cov[a*d+b]
		}
		if i == j {
			s += noise(obs, d, i, a, b)
		}
		return s
	}
	mean := func(a int) float64 {
		if root.Mean == nil {
			return 0
		}
		return root.Mean[a]
	}
	return denseLogPDF(obs.Y, nl, d, mean, cov)
}

// noise returns entry (a, b) of the noise covariance of leaf i.
func noise(obs Obs, d, i, a, b int) float64 {
	if obs.Cov != nil {
		return obs.Cov[a*d+b]
	}
	if a != b {
		return 0
	}
	if obs.LeafVar != nil {
		return obs.LeafVar[i]
	}
	return obs.Var
}

// denseLogPDF evaluates log N(y_o; μ_o, Σ_oo) over the non-NaN entries o of y (n×d).
func denseLogPDF(y []float64, n, d int, mean func(a int) float64, cov func(i, a, j, b int) float64) (float64, error) {
	var idx [][2]int
	for i := 0; i < n; i++ {
		for a := 0; a < d; a++ {
			if !math.IsNaN(y[i*d+a]) {
				idx = append(idx, [2]int{i, a})
			}
		}
	}
	m := len(idx)
	S := mat.NewSymDense(m, nil)
	r := mat.NewVecDense(m, nil)
	for p, ip := range idx {
		r.SetVec(p, y[ip[0]*d+ip[1]]-mean(ip[1]))
		for q := p; q < m; q++ {
			iq := idx[q]
			S.SetSym(p, q, cov(ip[0], ip[1], iq[0], iq[1]))
		}
	}
	return gaussLogPDF(S, r)
}

func gaussLogPDF(S *mat.SymDense, r *mat.VecDense) (float64, error) {
	var ch mat.Cholesky
	if !ch.Factorize(S) {
		return 0, fmt.Errorf("bffg: dense covariance: %w", ErrNotPosDef)
	}
	var w mat.VecDense
	if err := ch.SolveVecTo(&w, r); err != nil {
		return 0, err
	}
	m := r.Len()
	return -0.5*float64(m)*log2Pi - 0.5*ch.LogDet() - 0.5*mat.Dot(r, &w), nil
}

// Joint returns the prior mean (n·d) and covariance ((n·d)×(n·d), row-major) of all node
// states under linear-Gaussian transitions p with zero anchors, built in pre-order:
// m_v = A m_pa + b, Cov(x_v, x_w) = A Cov(x_pa, x_w), Var(x_v) = A Var(x_pa) A' + Q.
func Joint(t *topology.Topology, d int, p Proxy, root Root) (mean, cov []float64) {
	n := t.Len()
	N := n * d
	mean = make([]float64, N)
	cov = make([]float64, N*N)
	if root.Mean != nil {
		copy(mean, root.Mean)
	}
	if root.Cov != nil {
		for a := 0; a < d; a++ {
			copy(cov[a*N:a*N+d], root.Cov[a*d:a*d+d])
		}
	}
	A, b, Q := make([]float64, d*d), make([]float64, d), make([]float64, d*d)
	anchor := make([]float64, d)
	for v := 1; v < n; v++ {
		u := t.Parent(v)
		p.Proxy(v, anchor, A, b, Q)
		mulVec(mean[v*d:v*d+d], A, d, d, mean[u*d:u*d+d])
		for a := 0; a < d; a++ {
			mean[v*d+a] += b[a]
		}
		// Rows of v: A times rows of u, for every earlier node w (columns < v·d),
		// then the diagonal block A Var(x_u) A' + Q.
		for a := 0; a < d; a++ {
			row := cov[(v*d+a)*N:]
			for col := 0; col < v*d; col++ {
				s := 0.0
				for k := 0; k < d; k++ {
					s += A[a*d+k] * cov[(u*d+k)*N+col]
				}
				row[col] = s
				cov[col*N+v*d+a] = s
			}
		}
		for a := 0; a < d; a++ {
			for c := 0; c < d; c++ {
				s := Q[a*d+c]
				for k := 0; k < d; k++ {
					s += A[a*d+k] * cov[(u*d+k)*N+v*d+c] // Cov(x_u, x_v) = Var(x_u) A'
				}
				cov[(v*d+a)*N+v*d+c] = s
			}
		}
	}
	return mean, cov
}

// DenseLogLikelihood returns log p(y) for linear-Gaussian transitions p by building the
// joint law of all node states (Joint) and marginalising onto the observed coordinates.
func DenseLogLikelihood(t *topology.Topology, p Proxy, obs Obs, root Root) (float64, error) {
	nl := t.NumLeaves()
	if nl == 0 || len(obs.Y)%nl != 0 {
		return 0, fmt.Errorf("bffg: %d observed values for %d leaves", len(obs.Y), nl)
	}
	d := len(obs.Y) / nl
	mean, cov := Joint(t, d, p, root)
	N := t.Len() * d
	cv := func(i, a, j, b int) float64 {
		vi, vj := t.Leaf(i), t.Leaf(j)
		s := cov[(vi*d+a)*N+vj*d+b]
		if i == j {
			s += noise(obs, d, i, a, b)
		}
		return s
	}
	// Leaf means differ per leaf; fold them into y.
	y := append([]float64(nil), obs.Y...)
	for i := 0; i < nl; i++ {
		for a := 0; a < d; a++ {
			y[i*d+a] -= mean[t.Leaf(i)*d+a]
		}
	}
	return denseLogPDF(y, nl, d, func(int) float64 { return 0 }, cv)
}

// DensePosterior returns the posterior mean (n·d) and covariance of all node states given
// the observations, for linear-Gaussian transitions p, by dense Gaussian conditioning:
// E[x|y] = μ + Σ_xy Σ_yy⁻¹ (y − μ_y), Cov[x|y] = Σ − Σ_xy Σ_yy⁻¹ Σ_yx.
func DensePosterior(t *topology.Topology, p Proxy, obs Obs, root Root) (mean, cov []float64, err error) {
	nl := t.NumLeaves()
	if nl == 0 || len(obs.Y)%nl != 0 {
		return nil, nil, fmt.Errorf("bffg: %d observed values for %d leaves", len(obs.Y), nl)
	}
	d := len(obs.Y) / nl
	mu, S := Joint(t, d, p, root)
	N := t.Len() * d
	var idx []int // indices into the joint state of the observed coordinates
	var r []float64
	for i := 0; i < nl; i++ {
		for a := 0; a < d; a++ {
			if yv := obs.Y[i*d+a]; !math.IsNaN(yv) {
				j := t.Leaf(i)*d + a
				idx = append(idx, j)
				r = append(r, yv-mu[j])
			}
		}
	}
	m := len(idx)
	Syy := mat.NewSymDense(m, nil)
	Sxy := mat.NewDense(N, m, nil)
	for p, ip := range idx {
		for q := p; q < m; q++ {
			s := S[ip*N+idx[q]]
			if ip/d == idx[q]/d {
				s += noise(obs, d, t.LeafIndex(ip/d), ip%d, idx[q]%d)
			}
			Syy.SetSym(p, q, s)
		}
		for x := 0; x < N; x++ {
			Sxy.Set(x, p, S[x*N+ip])
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(Syy) {
		return nil, nil, fmt.Errorf("bffg: dense posterior: %w", ErrNotPosDef)
	}
	var G mat.Dense // Σ_yy⁻¹ Σ_yx
	if err := ch.SolveTo(&G, Sxy.T()); err != nil {
		return nil, nil, err
	}
	mean = append([]float64(nil), mu...)
	rv := mat.NewVecDense(m, r)
	var w mat.VecDense
	w.MulVec(G.T(), rv)
	for x := 0; x < N; x++ {
		mean[x] += w.AtVec(x)
	}
	var corr mat.Dense
	corr.Mul(Sxy, &G)
	cov = append([]float64(nil), S...)
	for x := 0; x < N; x++ {
		for y := 0; y < N; y++ {
			cov[x*N+y] -= corr.At(x, y)
		}
	}
	return mean, cov, nil
}
