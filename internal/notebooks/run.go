package notebooks

import (
	"context"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/internal/gridpost"
	"github.com/canopy-bffg/canopy/internal/jaxrand"
	"github.com/canopy-bffg/canopy/mcmc"
	"github.com/canopy-bffg/canopy/mcmc/diag"
)

// Report is the outcome of one sampler run on notebook 05/06's model, in the shape the
// examples print with -json.
type Report struct {
	Sampler       string             `json:"sampler"`
	Chains        int                `json:"chains"`
	DrawsPerChain int                `json:"draws_per_chain"`
	Seconds       float64            `json:"seconds"`  // wall time, warmup included
	ESSBulk       [2]float64         `json:"ess_bulk"` // log σ², log τ²
	ESSTail       [2]float64         `json:"ess_tail"`
	Rhat          [2]float64         `json:"rhat"`
	Divergences   int                `json:"divergences"`
	Accept        map[string]float64 `json:"accept"`
	Posterior     gridpost.Table     `json:"posterior"`
	MCSE          gridpost.Table     `json:"mcse"` // Monte Carlo standard error of each posterior entry
	Analytic      gridpost.Table     `json:"analytic"`
	Ancestral     []NodePosterior    `json:"ancestral,omitempty"`
	// AncestralSeconds is the time to map every draw to the node states (the latent
	// model's extra cost over Seconds).
	AncestralSeconds float64 `json:"ancestral_seconds,omitempty"`

	chains []mcmc.Chain
}

// NodePosterior compares the posterior of an internal node's state from the draws with
// the exact one (the smoothing distribution mixed over the grid posterior of θ).
type NodePosterior struct {
	Node      int     `json:"node"`
	Mean      float64 `json:"mean"`
	SD        float64 `json:"sd"`
	MCSE      float64 `json:"mcse"`
	ESSBulk   float64 `json:"ess_bulk"`
	ExactMean float64 `json:"exact_mean"`
	ExactSD   float64 `json:"exact_sd"`
}

// RunConfig sets a run's size; the zero value means the notebook's.
type RunConfig struct {
	Chains, Warmup, Draws int
	Seed                  uint64
	Workers               int
	// Progress, if not nil, is passed to mcmc.Config.Progress.
	Progress func(chain, iter int, info mcmc.Info)
	// SemiImplicit makes notebook 07's guided steps semi-implicit (bffg.FlowFilter).
	SemiImplicit bool
	// ExactSteps guides notebook 07's steps exactly as Euler transitions
	// (bffg.FlowFilter.ExactSteps).
	ExactSteps bool
	// Steps, if positive, sets notebook 07's steps per edge (on the time-changed grid)
	// instead of the notebook's 100 uniform ones.
	Steps int
	// LocalAux linearises notebook 07's auxiliary at every step's state
	// (bffg.FlowFilter.LocalAux; needs ExactSteps).
	LocalAux bool
	// Adapt lets warmup tune notebook 07's RW/pCN kernel (β and the random-walk
	// scale, mcmc.MetropolisAdaptation) instead of keeping the notebook's fixed values.
	Adapt bool
}

func (c RunConfig) orDefault(warmup, draws int) RunConfig {
	if c.Chains == 0 {
		c.Chains = 4
	}
	if c.Warmup == 0 {
		c.Warmup = warmup
	}
	if c.Draws == 0 {
		c.Draws = draws
	}
	if c.Seed == 0 {
		c.Seed = 7
	}
	return c
}

// RWPCN runs notebook 05's sampler: pCN on z (β = 0.2) then a joint Gaussian random walk
// on (log σ², log τ²) with scale 0.8, 4 chains × (1000 + 8000) from the notebook's
// initial values (z from normal(PRNGKey(33), (4, 31))).
func RWPCN(ctx context.Context, nb NB05, cfg RunConfig) (*Report, error) {
	cfg = cfg.orDefault(1000, 8000)
	inits := [][]float64{{-1.5, -2.0}, {1.0, -1.0}, {0.3, 0.5}, {-0.5, 0.0}}
	z := jaxrand.Normal32(jaxrand.NewKey(33), 4*31)
	init := make([][]float64, cfg.Chains)
	for c := range init {
		q := append([]float64(nil), inits[c%4]...)
		for _, v := range z[(c%4)*31 : (c%4+1)*31] {
			q = append(q, float64(v))
		}
		init[c] = q
	}
	zIdx := make([]int, 31)
	for i := range zIdx {
		zIdx[i] = 2 + i
	}
	newKernel := func(int) (mcmc.Kernel, error) {
		p := NB05Potential(nb)
		return mcmc.NewPCNRW(mcmc.NewPCN(p, zIdx, 0.2), mcmc.NewRandomWalk(p, []int{0, 1}, []float64{0.8, 0.8})), nil
	}
	start := time.Now()
	// NoAdapt: the notebook's burn-in keeps its fixed β and scales.
	chains, err := mcmc.Run(ctx, newKernel, mcmc.Config{Chains: cfg.Chains, Warmup: cfg.Warmup, Draws: cfg.Draws,
		Seed: cfg.Seed, Workers: cfg.Workers, Init: init, NoAdapt: true})
	if err != nil {
		return nil, err
	}
	r := &Report{Sampler: "rw_pcn", Chains: cfg.Chains, DrawsPerChain: cfg.Draws, Seconds: time.Since(start).Seconds(), chains: chains}
	r.Accept = pcnRWAcceptance(chains)
	return r, r.summarise(nb)
}

// NUTS runs notebook 06's sampler: NUTS with default settings (diagonal metric, target
// acceptance 0.8, maximum depth 10), 4 chains × (1000 + 4000) from uniform initial values.
func NUTS(ctx context.Context, nb NB05, cfg RunConfig) (*Report, error) {
	cfg = cfg.orDefault(1000, 4000)
	newKernel := func(int) (mcmc.Kernel, error) { return mcmc.NewNUTS(NB05Potential(nb)), nil }
	start := time.Now()
	chains, err := mcmc.Run(ctx, newKernel, mcmc.Config{Chains: cfg.Chains, Warmup: cfg.Warmup, Draws: cfg.Draws,
		Seed: cfg.Seed, Workers: cfg.Workers})
	if err != nil {
		return nil, err
	}
	r := &Report{Sampler: "nuts", Chains: cfg.Chains, DrawsPerChain: cfg.Draws, Seconds: time.Since(start).Seconds(), chains: chains}
	var acc, n float64
	for _, c := range chains {
		for _, in := range c.Sample.Info {
			acc += in.AcceptStat
			n++
			if in.Divergent {
				r.Divergences++
			}
		}
	}
	r.Accept = map[string]float64{"mean_accept_stat": acc / n}
	return r, r.summarise(nb)
}

// pcnRWAcceptance returns the acceptance rates of the pCN and random-walk blocks of a
// PCNRW run over every draw of every chain.
func pcnRWAcceptance(chains []mcmc.Chain) map[string]float64 {
	var pcn, rw, n float64
	for _, c := range chains {
		for _, in := range c.Sample.Info {
			pcn += b2f(in.Accepted[0])
			rw += b2f(in.Accepted[1])
			n++
		}
	}
	return map[string]float64{"pcn": pcn / n, "rw": rw / n}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// param returns the draws of coordinate i of every chain, transformed by f.
func (r *Report) param(i int, f func(float64) float64) [][]float64 {
	out := make([][]float64, len(r.chains))
	for c, ch := range r.chains {
		s := make([]float64, ch.Sample.Len())
		for k := range s {
			s[k] = f(ch.Sample.Draw(k)[i])
		}
		out[c] = s
	}
	return out
}

func (r *Report) summarise(nb NB05) error {
	id := func(x float64) float64 { return x }
	for i := 0; i < 2; i++ {
		u := r.param(i, id)
		r.ESSBulk[i], r.ESSTail[i], r.Rhat[i] = diag.ESSBulk(u), diag.ESSTail(u), diag.Rhat(u)
		theta := r.param(i, math.Exp)
		s, se := gridpost.Summary{
			Mean: mean(theta), Median: diag.Quantile(theta, 0.5),
			Q025: diag.Quantile(theta, 0.025), Q975: diag.Quantile(theta, 0.975),
		}, gridpost.Summary{
			Mean: diag.MCSEMean(theta), Median: diag.MCSEQuantile(theta, 0.5),
			Q025: diag.MCSEQuantile(theta, 0.025), Q975: diag.MCSEQuantile(theta, 0.975),
		}
		if i == 0 {
			r.Posterior.SigmaSq, r.MCSE.SigmaSq = s, se
		} else {
			r.Posterior.TauSq, r.MCSE.TauSq = s, se
		}
	}
	m, err := gridpost.New(nb.Tree.MRCAKernel(nil), nb.Y, nil)
	if err != nil {
		return err
	}
	r.Analytic, err = m.ExactTable(gridpost.ExactN)
	return err
}

func mean(chains [][]float64) float64 {
	s, n := 0.0, 0.0
	for _, c := range chains {
		for _, v := range c {
			s += v
			n++
		}
	}
	return s / n
}

// AddAncestral maps every draw to the node states through the guided pass (the latent
// model: x = x(θ, z)) and records the posterior of each internal node against the exact
// posterior.
func (r *Report) AddAncestral(nb NB05) error {
	start := time.Now()
	p := NB05Potential(nb)
	n := nb.Tree.Len()
	x := make([]float64, n)
	draws := make([][][]float64, n) // node → chain → draws
	for v := range draws {
		draws[v] = make([][]float64, len(r.chains))
	}
	for c, ch := range r.chains {
		for k := 0; k < ch.Sample.Len(); k++ {
			if err := p.States(ch.Sample.Draw(k), x); err != nil {
				return err
			}
			for v := 0; v < n; v++ {
				draws[v][c] = append(draws[v][c], x[v])
			}
		}
	}
	r.AncestralSeconds = time.Since(start).Seconds()
	em, es, err := ExactAncestral(nb, 301)
	if err != nil {
		return err
	}
	r.Ancestral = nil
	for v := 1; v < n; v++ {
		if nb.Tree.IsLeaf(v) {
			continue
		}
		mu := mean(draws[v])
		s2 := 0.0
		cnt := 0.0
		for _, c := range draws[v] {
			for _, xv := range c {
				s2 += (xv - mu) * (xv - mu)
				cnt++
			}
		}
		r.Ancestral = append(r.Ancestral, NodePosterior{Node: v, Mean: mu, SD: math.Sqrt(s2 / (cnt - 1)),
			MCSE: diag.MCSEMean(draws[v]), ESSBulk: diag.ESSBulk(draws[v]), ExactMean: em[v], ExactSD: es[v]})
	}
	return nil
}

// ExactAncestral returns the exact posterior mean and standard deviation of every node
// state of notebook 05's model, integrating the Gaussian smoothing distribution at θ
// against the posterior of θ on an n×n trapezoidal grid over the wide box
// log σ² ∈ [−9, 5], log τ² ∈ [−16, 6]: E[x] = E_θ[m(θ)], Var[x] = E_θ[P(θ)] + Var_θ[m(θ)].
func ExactAncestral(nb NB05, n int) (mean, sd []float64, err error) {
	m, err := gridpost.New(nb.Tree.MRCAKernel(nil), nb.Y, nil)
	if err != nil {
		return nil, nil, err
	}
	axis := func(lo, hi float64) []float64 {
		a := make([]float64, n)
		for i := range a {
			a[i] = lo + (hi-lo)*float64(i)/float64(n-1)
		}
		return a
	}
	ls, lt := axis(-9, 5), axis(-16, 6)
	g, err := m.Grid(ls, lt, gridpost.Trapezoid)
	if err != nil {
		return nil, nil, err
	}
	t := nb.Tree
	N := t.Len()
	sm, s2 := make([]float64, N), make([]float64, N)
	mv, pv := make([]float64, N), make([]float64, N)
	model := &bffg.BM{Tree: t, D: 1}
	var f bffg.Filter
	trap := func(i, k int) float64 { // trapezoid weights, up to the constant step sizes
		w := 1.0
		if i == 0 || i == k-1 {
			w = 0.5
		}
		return w
	}
	hs, ht := ls[1]-ls[0], lt[1]-lt[0]
	total := 0.0
	for i, a := range ls {
		for j, b := range lt {
			w := math.Exp(g.LogDensity[i*n+j]) * trap(i, n) * trap(j, n) * hs * ht
			if w < 1e-300 {
				continue
			}
			model.Sigma2 = math.Exp(a)
			if err := f.Run(t, model, bffg.Obs{Y: nb.Y, Var: math.Exp(b)}); err != nil {
				return nil, nil, err
			}
			if err := f.Smooth(bffg.Root{}, mv, pv); err != nil {
				return nil, nil, err
			}
			for v := range sm {
				sm[v] += w * mv[v]
				s2[v] += w * (pv[v] + mv[v]*mv[v])
			}
			total += w
		}
	}
	mean, sd = make([]float64, N), make([]float64, N)
	for v := range sm {
		mean[v] = sm[v] / total
		sd[v] = math.Sqrt(math.Max(s2[v]/total-mean[v]*mean[v], 0))
	}
	return mean, sd, nil
}

// PrintDiagnostics writes R̂, ESS and the posterior-versus-exact table of a run.
func PrintDiagnostics(w io.Writer, r *Report) {
	fmt.Fprintf(w, "%-10s %10s %10s %10s\n", "", "R̂", "bulk ESS", "tail ESS")
	for i, name := range []string{"log σ²", "log τ²"} {
		fmt.Fprintf(w, "%-10s %10.5f %10.0f %10.0f\n", name, r.Rhat[i], r.ESSBulk[i], r.ESSTail[i])
	}
	fmt.Fprintf(w, "divergences: %d\n\n", r.Divergences)
	fmt.Fprintf(w, "%-22s %8s %8s %8s %8s\n", "posterior", "mean", "median", "2.5%", "97.5%")
	row := func(name string, s gridpost.Summary) {
		fmt.Fprintf(w, "%-22s %8.4f %8.4f %8.4f %8.4f\n", name, s.Mean, s.Median, s.Q025, s.Q975)
	}
	row("σ² "+r.Sampler, r.Posterior.SigmaSq)
	row("σ² MCSE", r.MCSE.SigmaSq)
	row("σ² exact", r.Analytic.SigmaSq)
	row("τ² "+r.Sampler, r.Posterior.TauSq)
	row("τ² MCSE", r.MCSE.TauSq)
	row("τ² exact", r.Analytic.TauSq)
}
