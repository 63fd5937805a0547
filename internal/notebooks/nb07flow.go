package notebooks

import (
	"context"
	"math"
	"time"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/internal/jaxrand"
	"github.com/canopy-bffg/canopy/mcmc"
	"github.com/canopy-bffg/canopy/mcmc/diag"
	"github.com/canopy-bffg/canopy/sde"
)

// NB07Pilot is the (k_α, k_σ) at which NB07Potential refines the anchors: the
// notebook's single-chain initial values.
var NB07Pilot = [2]float64{0.2, 0.5}

func nb07Flow(kAlpha, kSigma float64) bffg.Flow {
	return bffg.KunitaFlow(sde.Kunita{N: NB07Landmarks, Dim: NB07Dim, KAlpha: kAlpha, KSigma: kSigma})
}

// FlowFilter returns a factorised filter on notebook 07's data with the anchors of the
// notebook's Algorithm 3 at (k_α, k_σ): NB07LinIters − 1 filter-and-refine rounds from
// the root shape (leaves at their observations), so that one more Run filters with the
// anchors Guided uses.
func (nb NB07) FlowFilter(kAlpha, kSigma float64) (*bffg.FlowFilter, error) {
	f := &bffg.FlowFilter{Steps: NB07Steps}
	if err := f.SetData(nb.Tree, NB07Landmarks, NB07Dim, nb.Root, nb.Y); err != nil {
		return nil, err
	}
	if err := bffg.FlowAnchors(f, nb07Flow(kAlpha, kSigma), NB07Tau2, NB07LinIters-1); err != nil {
		return nil, err
	}
	return f, nil
}

// NB07Potential is notebook 07's target on q = (log k_α, log k_σ, z), z of length
// 13·100·32, with the notebook's priors k_α ~ InvGamma(2, 0.5), k_σ ~ InvGamma(3, 2)
// (shape, rate), τ² = 1e−3 fixed, and anchors refined at NB07Pilot and then frozen,
// so that U is one smooth function whose gradient is exact.
func NB07Potential(nb NB07) (*bffg.FlowPotential, error) {
	f, err := nb.FlowFilter(NB07Pilot[0], NB07Pilot[1])
	if err != nil {
		return nil, err
	}
	return &bffg.FlowPotential{Filter: f, NumFlowParams: 2, Tau2: NB07Tau2,
		NewFlow: func(th []float64) (bffg.Flow, error) { return nb07Flow(th[0], th[1]), nil },
		Priors:  []bffg.Prior{bffg.LogInvGamma{Shape: 2, Rate: 0.5}, bffg.LogInvGamma{Shape: 3, Rate: 2}}}, nil
}

// nb07Target is NB07Potential with cfg's kind of guided step and, if cfg.Steps is
// positive, cfg.Steps steps per edge on the time-changed grid (anchors refined as
// FlowFilter does) instead of the notebook's 100 uniform ones.
func nb07Target(nb NB07, cfg RunConfig) (*bffg.FlowPotential, error) {
	p, err := NB07Potential(nb)
	if err != nil {
		return nil, err
	}
	if cfg.Steps > 0 {
		f := &bffg.FlowFilter{Steps: cfg.Steps, TimeChange: true}
		if err := f.SetData(nb.Tree, NB07Landmarks, NB07Dim, nb.Root, nb.Y); err != nil {
			return nil, err
		}
		if err := bffg.FlowAnchors(f, nb07Flow(NB07Pilot[0], NB07Pilot[1]), NB07Tau2, NB07LinIters-1); err != nil {
			return nil, err
		}
		p.Filter = f
	}
	p.Filter.SemiImplicit = cfg.SemiImplicit
	p.Filter.ExactSteps = cfg.ExactSteps
	p.Filter.LocalAux = cfg.LocalAux
	return p, nil
}

// Report07 is the outcome of one sampler run on notebook 07's model.
type Report07 struct {
	Sampler       string             `json:"sampler"`
	Chains        int                `json:"chains"`
	Warmup        int                `json:"warmup"`
	DrawsPerChain int                `json:"draws_per_chain"`
	Seconds       float64            `json:"seconds"`
	Params        []ParamSummary     `json:"params"` // k_alpha, k_sigma
	Divergences   int                `json:"divergences"`
	Accept        map[string]float64 `json:"accept"`
	// EvalsPerDraw is the mean number of U + ∇U evaluations per iteration (NUTS)
	// or U evaluations (RW/pCN: 2).
	EvalsPerDraw float64 `json:"evals_per_draw"`
	// MinESSPerSecond is the smaller bulk ESS of the two parameters over Seconds.
	MinESSPerSecond float64 `json:"min_ess_per_second"`
	// StepSize is each chain's sampling step size (NUTS) or random-walk multiplier
	// (RW/pCN), and Beta each RW/pCN chain's pCN β.
	StepSize []float64 `json:"step_size"`
	Beta     []float64 `json:"beta,omitempty"`
}

// ParamSummary summarises the posterior draws of one parameter.
type ParamSummary struct {
	Name    string  `json:"name"`
	Truth   float64 `json:"truth"`
	Mean    float64 `json:"mean"`
	SD      float64 `json:"sd"`
	Q05     float64 `json:"q5"`
	Q50     float64 `json:"q50"`
	Q95     float64 `json:"q95"`
	MCSE    float64 `json:"mcse_mean"`
	Rhat    float64 `json:"rhat"`
	ESSBulk float64 `json:"ess_bulk"`
	ESSTail float64 `json:"ess_tail"`
}

// nb07Inits returns the notebook's three-chain initial points (k_α 0.05, 0.10, 0.3;
// k_σ 0.15, 0.25, 0.5; z from split(PRNGKey(2024), 3)), cycled over chains.
func nb07Inits(chains, nz int) [][]float64 {
	ka, ks := []float64{0.05, 0.10, 0.3}, []float64{0.15, 0.25, 0.5}
	keys := jaxrand.Split(jaxrand.NewKey(2024), 3)
	init := make([][]float64, chains)
	for c := range init {
		i := c % 3
		q := make([]float64, 2, 2+nz)
		q[0], q[1] = math.Log(ka[i]), math.Log(ks[i])
		init[c] = append(q, widen(jaxrand.Normal32(keys[i], nz))...)
	}
	return init
}

// NB07RWPCN runs notebook 07's sampler: pCN on z with β = 0.1, then a joint Gaussian
// random walk on (log k_α, log k_σ) with scales 0.05 and 0.04, from the notebook's
// three-chain initial values. The zero RunConfig means 3 chains × (0 + 10000), the
// notebook's run (the notebook discards the first 5000 as burn-in; pass Warmup 5000
// for the same effect).
func NB07RWPCN(ctx context.Context, nb NB07, cfg RunConfig) (*Report07, error) {
	if cfg.Chains == 0 {
		cfg.Chains = 3
	}
	cfg = cfg.orDefault(0, 10000)
	p, err := nb07Target(nb, cfg)
	if err != nil {
		return nil, err
	}
	nz := p.Filter.NumNoise()
	zIdx := make([]int, nz)
	for i := range zIdx {
		zIdx[i] = 2 + i
	}
	newKernel := func(int) (mcmc.Kernel, error) {
		q := p.Clone()
		return mcmc.NewPCNRW(mcmc.NewPCN(q, zIdx, 0.1), mcmc.NewRandomWalk(q, []int{0, 1}, []float64{0.05, 0.04})), nil
	}
	start := time.Now()
	// Unless cfg.Adapt, the notebook's burn-in keeps its fixed β and scales.
	chains, err := mcmc.Run(ctx, newKernel, mcmc.Config{Chains: cfg.Chains, Warmup: cfg.Warmup, Draws: cfg.Draws,
		Seed: cfg.Seed, Workers: cfg.Workers, Init: nb07Inits(cfg.Chains, nz), SaveDims: 2, Progress: cfg.Progress,
		NoAdapt: !cfg.Adapt})
	if err != nil {
		return nil, err
	}
	name := "rw_pcn"
	if cfg.Adapt {
		name = "rw_pcn_adapted"
	}
	r := &Report07{Sampler: name, Chains: cfg.Chains, Warmup: cfg.Warmup, DrawsPerChain: cfg.Draws,
		Seconds: time.Since(start).Seconds(), EvalsPerDraw: 2}
	r.Accept = pcnRWAcceptance(chains)
	for _, c := range chains {
		r.StepSize = append(r.StepSize, c.Params.StepSize)
		r.Beta = append(r.Beta, c.Params.Beta)
	}
	r.summarise(chains)
	return r, nil
}

// NB07NUTS runs NUTS (diagonal metric, target acceptance 0.8, maximum depth 10) on
// notebook 07's target with the exact adjoint gradient, from the notebook's three-chain
// initial values. The zero RunConfig means 3 chains × (300 + 300).
func NB07NUTS(ctx context.Context, nb NB07, cfg RunConfig) (*Report07, error) {
	if cfg.Chains == 0 {
		cfg.Chains = 3
	}
	cfg = cfg.orDefault(300, 300)
	p, err := nb07Target(nb, cfg)
	if err != nil {
		return nil, err
	}
	newKernel := func(int) (mcmc.Kernel, error) { return mcmc.NewNUTS(p.Clone()), nil }
	start := time.Now()
	// Given z, (log k_α, log k_σ) are determined to about 0.01–0.04, while every z has
	// scale about 1: start the metric from their curvature at the first initial point
	// rather than the identity, whose first adaptation stage would need steps of 0.01.
	init := nb07Inits(cfg.Chains, p.Filter.NumNoise())
	metric, err := mcmc.CurvatureMetric(p, init[0], []int{0, 1}, 1e-4)
	if err != nil {
		return nil, err
	}
	chains, err := mcmc.Run(ctx, newKernel, mcmc.Config{Chains: cfg.Chains, Warmup: cfg.Warmup, Draws: cfg.Draws,
		Seed: cfg.Seed, Workers: cfg.Workers, Init: init, SaveDims: 2, Progress: cfg.Progress,
		Params: mcmc.Params{Metric: metric}})
	if err != nil {
		return nil, err
	}
	r := &Report07{Sampler: "nuts", Chains: cfg.Chains, Warmup: cfg.Warmup, DrawsPerChain: cfg.Draws,
		Seconds: time.Since(start).Seconds()}
	var acc, n, leap float64
	for _, c := range chains {
		for _, in := range c.Sample.Info {
			acc += in.AcceptStat
			leap += float64(in.NumSteps)
			n++
			if in.Divergent {
				r.Divergences++
			}
		}
	}
	r.Accept = map[string]float64{"mean_accept_stat": acc / n}
	r.EvalsPerDraw = leap / n
	for _, c := range chains {
		r.StepSize = append(r.StepSize, c.Params.StepSize)
	}
	r.summarise(chains)
	return r, nil
}

func (r *Report07) summarise(chains []mcmc.Chain) {
	names := []string{"k_alpha", "k_sigma"}
	truth := []float64{NB07KAlpha, NB07KSigma}
	r.Params = nil
	for i := range names {
		th := make([][]float64, len(chains))
		for c, ch := range chains {
			for k := 0; k < ch.Sample.Len(); k++ {
				th[c] = append(th[c], math.Exp(ch.Sample.Draw(k)[i]))
			}
		}
		mu := mean(th)
		s2, cnt := 0.0, 0.0
		for _, c := range th {
			for _, v := range c {
				s2 += (v - mu) * (v - mu)
				cnt++
			}
		}
		r.Params = append(r.Params, ParamSummary{Name: names[i], Truth: truth[i], Mean: mu, SD: math.Sqrt(s2 / (cnt - 1)),
			Q05: diag.Quantile(th, 0.05), Q50: diag.Quantile(th, 0.5), Q95: diag.Quantile(th, 0.95),
			MCSE: diag.MCSEMean(th), Rhat: diag.Rhat(th), ESSBulk: diag.ESSBulk(th), ESSTail: diag.ESSTail(th)})
	}
	r.MinESSPerSecond = math.Min(r.Params[0].ESSBulk, r.Params[1].ESSBulk) / r.Seconds
}
