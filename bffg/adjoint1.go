package bffg

import "math"

// scalarProxyVJP is the d = 1 fast path of ProxyVJP.
type scalarProxyVJP interface {
	proxyVJP1(v int, abar, bbar, qbar float64, grad []float64)
}

func (m BM) proxyVJP1(v int, _, _, qbar float64, grad []float64) {
	s := m.Tree.BranchLength(v)
	if m.Cov != nil {
		s *= m.Cov[0]
	}
	grad[0] += qbar * s
}

func (m OU) proxyVJP1(v int, abar, bbar, qbar float64, grad []float64) {
	_, g, q := m.coef(v)
	da, dg, dq := m.coefDeriv(v)
	c := 1.0
	if m.Cov != nil {
		c = m.Cov[0]
	}
	grad[0] += abar*da + bbar*dg*m.theta(0) + qbar*dq*c
	grad[1] += bbar * g
	if m.Sigma2 != 0 {
		grad[2] += qbar * q * c / m.Sigma2
	}
}

// pullVJP1 is pullVJPCore for d = 1: with s = 1 + qH, K = q/s, M = H/s, F̂ = F/s and
// G = 1/s, it returns the adjoints of the child message (c̄, F̄, H̄) and of the edge
// (ā, b̄, q̄) given the pseudo-moments (n0, n1, n2) of the pulled message.
func pullVJP1(H, F, a, b, q, n0, n1, n2 float64) (cbar, Fbar, Hbar, abar, bbar, qbar float64) {
	is := 1 / (1 + q*H) // one division; the rest multiplies
	k := q * is
	M := H * is
	Fh := F * is
	mu1 := a*n1 + n0*b
	mu2 := a*a*n2 + 2*a*n1*b + n0*b*b
	kF := k * F
	gmu1 := mu1 * is
	Fbar = gmu1 + n0*kF
	Hbar = -0.5 * (n0*k + mu2*is*is + 2*gmu1*kF + n0*kF*kF)
	Mmu1 := M * mu1
	bbar = n0*Fh - Mmu1
	abar = -M*(a*n2+b*n1) + Fh*n1
	qbar = 0.5 * (n0*Fh*Fh - 2*Fh*Mmu1 + M*M*mu2 - n0*M)
	return n0, Fbar, Hbar, abar, bbar, qbar
}

// score1 is Score for d = 1 with a scalar proxy: the reverse pass over the filter in
// breadth-first order with every matrix a number. It reports false when the fast path
// does not apply.
func (f *Filter) score1(root Root, g *Gradient) bool {
	pv, ok := f.p.(scalarProxyVJP)
	if f.d != 1 || f.p1 == nil || !ok || root.Flat {
		return false
	}
	t := f.t
	n := t.Len()
	a := &f.adj
	hb, fb, cb := a.hbar, a.fbar, a.cbar
	H, F := f.h.Data, f.f.Data
	m := 0.0
	if root.Mean != nil {
		m = root.Mean[0]
	}
	if root.Cov == nil {
		cb[0], fb[0], hb[0] = 1, m, -0.5*m*m
		g.RootMean[0] = F[0] - H[0]*m
	} else {
		c, fbar, hbar, _, bbar, qbar := pullVJP1(H[0], F[0], 0, m, root.Cov[0], 1, 0, 0)
		cb[0], fb[0], hb[0] = c, fbar, hbar
		g.RootMean[0], g.RootCov[0] = bbar, qbar
	}
	for u := 0; u < n; u++ {
		n0, n1, n2 := cb[u], fb[u], -2*hb[u]
		if t.IsLeaf(u) {
			continue // handled at its parent, in observation space
		}
		lo, hi := t.Children(u)
		for v := lo; v < hi; v++ {
			av, bv, qv := f.ea[v], f.eb[v], f.eq[v]
			if t.IsLeaf(v) {
				// The leaf edge's message N(y; ax + b, C), C = q + τ² (see fuse1): with
				// r = y − b − ax, ρ1 = E[r], ρ2 = E[r²]: C̄ = ½(ρ2/C² − n0/C), which is
				// both q̄ and τ̄², b̄ = ρ1/C and ā = E[rx]/C.
				i := t.LeafIndex(v)
				y := f.obs.Y[i]
				if math.IsNaN(y) {
					continue
				}
				C := qv + f.leafVar(i)
				yb := y - bv
				rho1 := n0*yb - av*n1
				rho2 := n0*yb*yb - 2*yb*av*n1 + av*av*n2
				cbar := 0.5 * (rho2/(C*C) - n0/C)
				pv.proxyVJP1(v, (yb*n1-av*n2)/C, rho1/C, cbar, g.Params)
				if !f.exact[v] {
					switch {
					case f.obs.Cov != nil:
						g.NoiseCov[0] += cbar
					case f.obs.LeafVar != nil:
						g.LeafVar[i] += cbar
					default:
						g.NoiseVar += cbar
					}
				}
				continue
			}
			c, fbar, hbar, abar, bbar, qbar := pullVJP1(H[v], F[v], av, bv, qv, n0, n1, n2)
			cb[v] += c
			fb[v] += fbar
			hb[v] += hbar
			pv.proxyVJP1(v, abar, bbar, qbar, g.Params)
		}
	}
	return true
}
