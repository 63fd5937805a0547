package main

import (
	"fmt"
	"math"
	"path/filepath"

	"gonum.org/v1/plot/vg"

	"github.com/canopy-bffg/canopy/cmd/canopy/internal/plots"
	"github.com/canopy-bffg/canopy/mcmc"
)

// writePlots draws a trace and a density per reported parameter into DIR/plots, with the
// exact marginal posterior where exactCurves provides one.
func writePlots(dir string, pr *problem, chains []mcmc.Chain) error {
	np := pr.numParams()
	exact := exactCurves(pr, chains)
	for i, pa := range pr.params {
		draws := make([][]float64, len(chains))
		for c, ch := range chains {
			for k := 0; k < ch.Sample.Len(); k++ {
				draws[c] = append(draws[c], ch.Sample.Draw(k)[np+i])
			}
		}
		if len(draws[0]) == 0 {
			continue
		}
		var e *plots.Curve
		if exact != nil {
			e = exact[i]
		}
		if err := plots.TraceDensity(draws, pa.name, e, filepath.Join(dir, "plots"), plots.FileName(pa.name), 10*vg.Inch, 3.5*vg.Inch); err != nil {
			return fmt.Errorf("plot of %s: %w", pa.name, err)
		}
	}
	return nil
}

// exactCurves returns, for Brownian motion with one trait, the exact marginal posterior
// density of each reported parameter (σ², and τ² when estimated) on the natural scale.
// With the proxy equal to the model, the potential at z = 0 is the exact log posterior
// of the parameters up to a constant, so a grid over the unconstrained parameters,
// spanning the draws' range and more, integrates it. Other models have no exact curve (nil).
func exactCurves(pr *problem, chains []mcmc.Chain) []*plots.Curve {
	if pr.pot == nil {
		return nil
	}
	np := pr.pot.NumParams()
	if pr.ds.d() != 1 || len(pr.params) != np || np > 2 {
		return nil
	}
	if _, ok := pr.pot.Model.(interface{ NumParams() int }); !ok || pr.pot.Kernel != nil {
		return nil
	}
	// The BM model has one parameter; more means OU, which the grid does not cover.
	if pr.pot.Model.NumParams() != 1 {
		return nil
	}
	// Up to 241 points per axis, fewer on large trees (about 2e7 node evaluations).
	n := 241
	if np == 2 {
		n = max(41, min(241, int(math.Sqrt(2e7/float64(pr.ds.tree.Len())))))
	}
	lo, hi := make([]float64, np), make([]float64, np)
	for i := range lo {
		lo[i], hi[i] = math.Inf(1), math.Inf(-1)
	}
	for _, ch := range chains {
		for k := 0; k < ch.Sample.Len(); k++ {
			for i, u := range ch.Sample.Draw(k)[:np] {
				lo[i], hi[i] = math.Min(lo[i], u), math.Max(hi[i], u)
			}
		}
	}
	axes := make([][]float64, np)
	for i := range axes {
		w := hi[i] - lo[i]
		a, b := lo[i]-0.5*w-1, hi[i]+0.5*w+1
		axes[i] = make([]float64, n)
		for j := range axes[i] {
			axes[i][j] = a + (b-a)*float64(j)/float64(n-1)
		}
	}
	p := pr.pot.Clone()
	p.Marginal = true
	q := make([]float64, p.Dim())
	size := 1
	for range np {
		size *= n
	}
	logp := make([]float64, size)
	maxLog := math.Inf(-1)
	for idx := range logp {
		r := idx
		for i := np - 1; i >= 0; i-- {
			q[i] = axes[i][r%n]
			r /= n
		}
		logp[idx] = p.LogDensity(q)
		maxLog = math.Max(maxLog, logp[idx])
	}
	curves := make([]*plots.Curve, np)
	for i := 0; i < np; i++ {
		marg := make([]float64, n)
		for idx, l := range logp {
			j := idx
			for k := np - 1; k > i; k-- {
				j /= n
			}
			marg[j%n] += math.Exp(l - maxLog)
		}
		// Normalise in u by the trapezoid rule, then change variables to θ = e^u.
		h := axes[i][1] - axes[i][0]
		z := 0.0
		for j, m := range marg {
			w := 1.0
			if j == 0 || j == n-1 {
				w = 0.5
			}
			z += w * m * h
		}
		// Show the curve over the draws' range only; the grid extends far beyond it.
		c := &plots.Curve{Label: "exact (grid)"}
		for j, m := range marg {
			if axes[i][j] < lo[i] || axes[i][j] > hi[i] {
				continue
			}
			theta := math.Exp(axes[i][j])
			c.X = append(c.X, theta)
			c.Y = append(c.Y, m/z/theta)
		}
		if len(c.X) < 2 {
			return nil
		}
		curves[i] = c
	}
	return curves
}
