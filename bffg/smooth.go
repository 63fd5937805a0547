package bffg

import "fmt"

// Smooth writes the posterior mean (Len×d) and covariance (Len×d×d) of every node state
// given the observations, under the proxy transitions (exact when the proxy is the model),
// by one pre-order pass over the filter's messages (bffg-math §6 oracle 5):
//
//	m_v = μ_v + K_v(F_v − H_vμ_v),  μ_v = A_v m_pa + b_v,  K_v = (Q_v⁻¹ + H_v)⁻¹,
//	P_v = K_v + G_v A_v P_pa A_v'G_v',  G_v = I − K_vH_v,
//
// with exactly observed leaves conditioned in observation space. The root is fixed
// (P = 0), Gaussian (m = m0 + K_0(F − Hm0), P = K_0) or flat (m = H⁻¹F, P = H⁻¹).
// These are the ancestral-state reconstructions; with a flat root and maximum-likelihood
// parameters they are the generalised-least-squares estimates and their variances.
func (f *Filter) Smooth(root Root, mean, cov []float64) error {
	f.mustRun()
	n, d := f.t.Len(), f.d
	dd := d * d
	if len(mean) != n*d || len(cov) != n*dd {
		panic(fmt.Sprintf("bffg: Smooth: mean and cov have lengths %d and %d, want %d and %d", len(mean), len(cov), n*d, n*dd))
	}
	f.growAdj()
	rw := &f.adj.rw
	ws := &f.ws[0]
	H0, F0 := f.h.At(0), f.f.At(0)
	m0, P0 := mean[:d], cov[:dd]
	switch {
	case root.Flat:
		if err := f.RootPosterior(m0, P0); err != nil {
			return err
		}
	case root.Cov != nil:
		mu := root.Mean
		if mu == nil {
			mu = ws.zero
		}
		if !rw.fa.compute(H0, F0, root.Cov, d) {
			return f.nodeError(0, "root prior covariance", ErrNotPosDef)
		}
		smoothStep(rw, &rw.fa, H0, F0, mu, m0)
		copy(P0, rw.fa.K)
	default:
		clear(m0)
		if root.Mean != nil {
			copy(m0, root.Mean)
		}
		clear(P0)
	}
	for v := 1; v < n; v++ {
		pa := f.t.Parent(v)
		mv, Pv := mean[v*d:v*d+d], cov[v*dd:v*dd+dd]
		f.p.Proxy(v, f.anchor(ws, v), rw.A, rw.b, rw.Q)
		mu := rw.mu
		mulVec(mu, rw.A, d, d, mean[pa*d:pa*d+d])
		addScaled(mu, 1, rw.b)
		G := rw.T1
		if f.exact[v] {
			if err := f.smoothExact(ws, rw, v, mu, mv, Pv, G); err != nil {
				return err
			}
		} else {
			H, F := f.h.At(v), f.f.At(v)
			if !rw.fa.compute(H, F, rw.Q, d) {
				return f.nodeError(v, "proxy covariance of the edge above", ErrNotPosDef)
			}
			smoothStep(rw, &rw.fa, H, F, mu, mv)
			copy(Pv, rw.fa.K)
			// G = I − KH = I − (HK)'.
			for i := 0; i < d; i++ {
				for j := 0; j < d; j++ {
					G[i*d+j] = -rw.fa.HK[j*d+i]
				}
				G[i*d+i]++
			}
		}
		// P_v += (GA) P_pa (GA)'.
		mul(rw.T2, G, rw.A, d, d, d)
		mul(rw.T3, rw.T2, cov[pa*dd:pa*dd+dd], d, d, d)
		mulBT(rw.T4, rw.T3, rw.T2, d, d, d)
		addScaled(Pv, 1, rw.T4)
		symmetrize(Pv, d)
	}
	return nil
}

// smoothStep writes μ + K(F − Hμ) into m.
func smoothStep(rw *revWorkspace, fc *factors, H, F, mu, m []float64) {
	d := rw.d
	mulVec(rw.t1, H, d, d, mu)
	for i := range rw.t1 {
		rw.t1[i] = F[i] - rw.t1[i]
	}
	mulVec(m, fc.K, d, d, rw.t1)
	addScaled(m, 1, mu)
}

// smoothExact conditions leaf v's prior N(μ, Q) (Q in rw.Q) on Lx = y: with
// C = LQL', m = μ + QL'C⁻¹(y − Lμ), P = Q − QL'C⁻¹LQ and G = I − QL'C⁻¹L.
func (f *Filter) smoothExact(ws *workspace, rw *revWorkspace, v int, mu, m, P, G []float64) error {
	d := f.d
	y, err := f.observed(ws, v)
	if err != nil {
		return err
	}
	o := ws.obs
	k := len(o)
	C := rw.T2[:k*k]
	for a, ka := range o {
		for b, kb := range o {
			C[a*k+b] = rw.Q[ka*d+kb]
		}
	}
	if !cholesky(C, k) {
		return f.nodeError(v, "edge covariance at the observed coordinates", ErrExactZero)
	}
	// B = QL'C⁻¹ (d×k): row i solves C b = (QL')_i'.
	B := rw.T3[:d*k]
	for i := 0; i < d; i++ {
		row := B[i*k : i*k+k]
		for a, ka := range o {
			row[a] = rw.Q[i*d+ka]
		}
		solveLower(C, k, row)
		solveLowerT(C, k, row)
	}
	copy(m, mu)
	for i := 0; i < d; i++ {
		for a, ka := range o {
			m[i] += B[i*k+a] * (y[ka] - mu[ka])
		}
	}
	for _, ka := range o {
		m[ka] = y[ka]
	}
	setIdentity(G, d)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			s := 0.0
			for a, ka := range o {
				s += B[i*k+a] * rw.Q[ka*d+j]
				if ka == j {
					G[i*d+j] -= B[i*k+a]
				}
			}
			P[i*d+j] = rw.Q[i*d+j] - s
		}
	}
	return nil
}
