package mcmc

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
)

// Config configures Run. Every field has a usable zero value; usually only Warmup,
// Draws and Seed are set.
type Config struct {
	// Chains is the number of chains; 0 means 4.
	Chains int
	// Warmup and Draws are the numbers of warmup and sampling iterations per chain.
	Warmup, Draws int
	// Seed seeds every chain: chain c uses rand.New(rand.NewPCG(Seed, uint64(c))),
	// for initialisation, warmup and sampling, so a chain's draws depend only on
	// (Seed, c).
	Seed uint64
	// Workers bounds the number of chains running at once; 0 means GOMAXPROCS.
	// It does not change any draw.
	Workers int

	// Init, if not nil, holds one initial point per chain (copied). Otherwise chains
	// start uniformly in [−InitRadius, InitRadius]^n (InitUniform).
	Init [][]float64
	// InitRadius is the radius of uniform initialisation; 0 means Stan's 2.
	InitRadius float64

	// Params are the initial tunables: StepSize 0 means 1, a nil Metric means the
	// identity (for a RandomWalk: its scales; a non-nil one is the proposal
	// covariance of its block), and Beta 0 the β of the kernel's PCN block. Each chain gets its own
	// copy of the Metric. Warmup adapts them (WindowAdaptation for Adaptable kernels,
	// MetropolisAdaptation for RandomWalk, PCN and PCNRW); they are used unchanged
	// for other kernels, or if NoAdapt is set.
	Params Params
	// Adapt configures the warmup of Adaptable kernels; nil means
	// DefaultAdaptation().
	Adapt *Adaptation
	// NoAdapt runs the warmup iterations without adapting Params.
	NoAdapt bool

	// SaveDims, if positive, keeps only the first SaveDims coordinates of each draw in
	// the traces (for example the parameters but not the noise z, which can be as long
	// as the tree); checkpoints still hold the whole position.
	SaveDims int

	// SaveWarmup keeps the warmup iterations in Chain.Warmup.
	SaveWarmup bool
	// Resume, if not nil, holds one checkpoint per chain (a nil entry starts that chain
	// afresh). A resumed chain skips initialisation and warmup and continues from the
	// checkpoint's position, tunables and generator state, drawing Draws − Done more
	// draws; the draws equal those the uninterrupted chain would have made.
	Resume []*Checkpoint

	// Progress, if not nil, is called after every iteration of every chain with the
	// chain index and the 0-based iteration (warmup first). It is called from the
	// chains' goroutines, so it must be safe for concurrent use, and it should be
	// cheap.
	Progress func(chain, iter int, info Info)
	// Observe, if not nil, is called after every sampling iteration with the chain
	// index, the 0-based draw and the whole position (before SaveDims trims it), for
	// summaries of quantities too large to keep per draw. q must not be modified or
	// retained. It is called from the chains' goroutines: one call at a time per chain.
	Observe func(chain, draw int, q []float64)
}

// maxDraws bounds Warmup and Draws, so that traces cannot overflow an allocation.
const maxDraws = 1 << 30

// Trace holds consecutive iterations of one chain.
type Trace struct {
	// Dim is the dimension n of a draw.
	Dim int
	// Draws holds the positions row-major: draw i is Draws[i*Dim : (i+1)*Dim].
	Draws []float64
	// LogDensity holds log π of each draw (lp__).
	LogDensity []float64
	// Info holds the transition that produced each draw.
	Info []Info
}

// Len returns the number of draws.
func (t *Trace) Len() int { return len(t.Info) }

// Draw returns draw i, a slice of Draws (not a copy).
func (t *Trace) Draw(i int) []float64 { return t.Draws[i*t.Dim : (i+1)*t.Dim] }

func (t *Trace) add(s *State, info Info) {
	t.Draws = append(t.Draws, s.Q[:t.Dim]...)
	t.LogDensity = append(t.LogDensity, s.LogDensity)
	t.Info = append(t.Info, info)
}

// Chain is the output of one chain.
type Chain struct {
	// Index is the chain index c.
	Index int
	// Warmup holds the warmup iterations if Config.SaveWarmup is set.
	Warmup Trace
	// Sample holds the sampling iterations.
	Sample Trace
	// Params are the tunables used for sampling: the adapted step size (the final
	// dual-averaging exp(x̄)) and inverse metric for Adaptable kernels, the adapted
	// random-walk multiplier, pCN β (the β used, adapted or not) and a RandomWalk's
	// proposal covariance (Metric, of the block's dimension) if warmup learned one
	// (see MetropolisAdaptation) for Metropolis kernels. Otherwise Metric is nil
	// for kernels that are not Adaptable unless Config.Params.Metric was set.
	Params Params
	// WarmupSeconds and SampleSeconds are the wall-clock durations of the phases.
	WarmupSeconds, SampleSeconds float64
	// Checkpoint is the chain's state after its last sampling draw, from which Run can
	// resume it; nil if the chain stopped before sampling began.
	Checkpoint *Checkpoint
}

// Checkpoint is what a chain needs to continue its sampling phase exactly.
type Checkpoint struct {
	Q      []float64 // position after the last draw
	Params Params    // the adapted step size, metric and pCN β
	RNG    []byte    // the chain's PCG generator, marshalled after the last draw
	Done   int       // sampling draws made so far
}

// Run runs cfg.Chains chains, cfg.Workers at a time, each in its own goroutine. It
// calls newKernel(c) for c = 0, 1, … in order, on the calling goroutine, before any
// chain starts; a kernel (and the target inside it) is used by one goroutine only.
//
// The result has one Chain per chain, in chain order, whatever the scheduling. On
// cancellation of ctx, Run returns what each chain has drawn so far together with
// ctx's error. Other failures (a kernel that cannot be built, no valid initial
// point, an adaptation failure) are reported per chain, joined with errors.Join; the
// other chains still run.
func Run(ctx context.Context, newKernel func(chain int) (Kernel, error), cfg Config) ([]Chain, error) {
	if cfg.Chains == 0 {
		cfg.Chains = 4
	}
	if cfg.Chains < 0 || cfg.Warmup < 0 || cfg.Draws < 0 || cfg.Workers < 0 {
		panic("mcmc: Run needs non-negative Chains, Warmup, Draws and Workers")
	}
	if cfg.Init != nil && len(cfg.Init) != cfg.Chains {
		panic(fmt.Sprintf("mcmc: Run has %d initial points for %d chains", len(cfg.Init), cfg.Chains))
	}
	if cfg.Draws > maxDraws || cfg.Warmup > maxDraws {
		return nil, fmt.Errorf("mcmc: %d warmup and %d draws per chain: at most %d each", cfg.Warmup, cfg.Draws, maxDraws)
	}
	if cfg.Resume != nil && len(cfg.Resume) != cfg.Chains {
		panic(fmt.Sprintf("mcmc: Run has %d checkpoints for %d chains", len(cfg.Resume), cfg.Chains))
	}
	if err := checkParams(cfg.Params); err != nil {
		return nil, fmt.Errorf("mcmc: Run: %w", err)
	}
	for c, cp := range cfg.Resume {
		if cp == nil {
			continue
		}
		if err := checkParams(cp.Params); err != nil {
			return nil, fmt.Errorf("mcmc: Run: checkpoint of chain %d: %w", c, err)
		}
	}
	workers := cfg.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	chains := make([]Chain, cfg.Chains)
	errs := make([]error, cfg.Chains)
	kernels := make([]Kernel, cfg.Chains)
	for c := range kernels {
		chains[c].Index = c
		k, err := newKernel(c)
		switch {
		case err != nil:
			errs[c] = fmt.Errorf("mcmc: chain %d: %w", c, err)
		case k == nil:
			errs[c] = fmt.Errorf("mcmc: chain %d: newKernel returned no kernel", c)
		default:
			kernels[c] = k
		}
	}

	// Metrics a kernel cannot use are errors before any chain starts, like bad β.
	for c, k := range kernels {
		if k == nil {
			continue
		}
		if err := checkMetric(k, cfg.Params.Metric); err != nil {
			return nil, fmt.Errorf("mcmc: Run: chain %d: %w", c, err)
		}
		if cfg.Resume != nil && cfg.Resume[c] != nil {
			if err := checkMetric(k, cfg.Resume[c].Params.Metric); err != nil {
				return nil, fmt.Errorf("mcmc: Run: checkpoint of chain %d: %w", c, err)
			}
		}
	}

	sem := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for c, k := range kernels {
		if k == nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := runChain(ctx, c, k, &cfg, &chains[c]); err != nil {
				errs[c] = fmt.Errorf("mcmc: chain %d: %w", c, err)
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return chains, err
	}
	return chains, errors.Join(errs...)
}

// checkParams reports tunables that no kernel can use: a step size that is negative
// or not finite, or a β outside [0, 1] (0 means unset for both).
func checkParams(p Params) error {
	if !(p.StepSize >= 0) || math.IsInf(p.StepSize, 1) {
		return fmt.Errorf("step size %g is not positive and finite", p.StepSize)
	}
	if !(p.Beta >= 0 && p.Beta <= 1) {
		return fmt.Errorf("pCN β = %g is not in (0, 1]", p.Beta)
	}
	return nil
}

// checkMetric reports a metric that k cannot use: one whose dimension is not the
// target's for an Adaptable kernel, or not the random-walk block's for a Metropolis
// kernel with one (where it is the proposal covariance).
func checkMetric(k Kernel, m *Metric) error {
	if m == nil {
		return nil
	}
	want := k.Dim()
	if rw, _ := metropolisBlocks(k); rw != nil {
		want = len(rw.index)
	} else if _, ok := k.(Adaptable); !ok {
		return nil
	}
	if m.Dim() != want {
		return fmt.Errorf("metric of dimension %d, the kernel needs %d", m.Dim(), want)
	}
	return nil
}

// pcnBeta returns the β k's PCN block was built with, or 0 if it has none.
func pcnBeta(k Kernel) float64 {
	if _, pcn := metropolisBlocks(k); pcn != nil {
		return pcn.beta
	}
	return 0
}

func runChain(ctx context.Context, c int, k Kernel, cfg *Config, out *Chain) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	pcg := rand.NewPCG(cfg.Seed, uint64(c))
	r := rand.New(pcg)
	if cfg.Resume != nil && cfg.Resume[c] != nil {
		return resumeChain(ctx, c, k, cfg, out, pcg, r, cfg.Resume[c])
	}
	start := time.Now()
	var s State
	var err error
	if cfg.Init != nil {
		s, err = k.Init(cfg.Init[c])
	} else {
		radius := cfg.InitRadius
		if radius == 0 {
			radius = 2
		}
		s, err = InitUniform(r, k, radius)
	}
	if err != nil {
		return err
	}
	t := s.Clone()

	p := cfg.Params
	if p.StepSize == 0 {
		p.StepSize = 1
	}
	if err := checkMetric(k, p.Metric); err != nil {
		return err
	}
	if p.Metric != nil {
		p.Metric = p.Metric.Clone()
	}
	var wa *WindowAdaptation
	if ak, ok := k.(Adaptable); ok && !cfg.NoAdapt && cfg.Warmup > 0 {
		a := DefaultAdaptation()
		if cfg.Adapt != nil {
			a = *cfg.Adapt
		}
		wa = NewWindowAdaptation(ak, cfg.Warmup, a)
		if err := wa.Init(r, &s, &p); err != nil {
			return err
		}
	}
	if _, ok := k.(Adaptable); ok && p.Metric == nil {
		p.Metric = IdentityMetric(k.Dim(), false)
	}
	if p.Beta == 0 {
		p.Beta = pcnBeta(k) // so that Chain.Params and checkpoints record the β used
	}
	var ma *MetropolisAdaptation
	if wa == nil && !cfg.NoAdapt && cfg.Warmup > 0 {
		if m, ok := NewMetropolisAdaptation(k, cfg.Warmup); ok {
			ma = m
			ma.Init(&p)
		}
	}

	n := k.Dim()
	if cfg.SaveDims > 0 && cfg.SaveDims < n {
		n = cfg.SaveDims
	}
	out.Warmup.Dim, out.Sample.Dim = n, n
	if cfg.SaveWarmup {
		out.Warmup.reserve(cfg.Warmup)
	}
	out.Sample.reserve(cfg.Draws)

	for i := range cfg.Warmup {
		if err := ctx.Err(); err != nil {
			out.Params = p
			out.WarmupSeconds = time.Since(start).Seconds()
			return err
		}
		if !(p.StepSize > 0) || math.IsInf(p.StepSize, 1) {
			// Adaptation met a density it could not tune for (e.g. NaN gradients).
			out.Params = p
			return fmt.Errorf("%w: warmup iteration %d: adaptation gave step size %g", ErrStepSize, i, p.StepSize)
		}
		info := k.Step(r, &t, &s, p)
		s, t = t, s
		if cfg.SaveWarmup {
			out.Warmup.add(&s, info)
		}
		if wa != nil {
			if err := wa.Update(r, &s, info, &p); err != nil {
				return err
			}
		}
		if ma != nil {
			ma.Update(&s, info, &p)
		}
		if cfg.Progress != nil {
			cfg.Progress(c, i, info)
		}
	}
	if wa != nil {
		wa.Final(&p)
	}
	if ma != nil {
		ma.Final(&p)
	}
	out.Params = p
	out.WarmupSeconds = time.Since(start).Seconds()

	return sampleChain(ctx, c, k, cfg, out, pcg, r, s, t, p, 0)
}

// sampleChain runs the sampling phase from state s, draws done..cfg.Draws−1, keeping
// out.Checkpoint current so that an interrupted chain can be resumed.
func sampleChain(ctx context.Context, c int, k Kernel, cfg *Config, out *Chain, pcg *rand.PCG, r *rand.Rand,
	s, t State, p Params, done int) error {
	start := time.Now()
	defer func() {
		out.SampleSeconds = time.Since(start).Seconds()
		rng, err := pcg.MarshalBinary()
		if err != nil {
			return // PCG marshalling cannot fail
		}
		out.Checkpoint = &Checkpoint{Q: append([]float64(nil), s.Q...), Params: p, RNG: rng, Done: done}
	}()
	for ; done < cfg.Draws; done++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		info := k.Step(r, &t, &s, p)
		s, t = t, s
		out.Sample.add(&s, info)
		if cfg.Observe != nil {
			cfg.Observe(c, done, s.Q)
		}
		if cfg.Progress != nil {
			cfg.Progress(c, cfg.Warmup+done, info)
		}
	}
	return nil
}

// resumeChain continues chain c from a checkpoint.
func resumeChain(ctx context.Context, c int, k Kernel, cfg *Config, out *Chain, pcg *rand.PCG, r *rand.Rand, cp *Checkpoint) error {
	if err := pcg.UnmarshalBinary(cp.RNG); err != nil {
		return fmt.Errorf("resume: generator state: %w", err)
	}
	s, err := k.Init(cp.Q)
	if err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	p := cp.Params
	if err := checkMetric(k, p.Metric); err != nil {
		return fmt.Errorf("resume: %w", err)
	}
	if p.Metric != nil {
		p.Metric = p.Metric.Clone()
	}
	if _, ok := k.(Adaptable); ok && p.Metric == nil {
		p.Metric = IdentityMetric(k.Dim(), false)
	}
	if p.StepSize == 0 {
		p.StepSize = 1
	}
	if p.Beta == 0 {
		p.Beta = pcnBeta(k)
	}
	n := k.Dim()
	if cfg.SaveDims > 0 && cfg.SaveDims < n {
		n = cfg.SaveDims
	}
	out.Warmup.Dim, out.Sample.Dim = n, n
	out.Params = p
	out.Sample.reserve(max(cfg.Draws-cp.Done, 0))
	return sampleChain(ctx, c, k, cfg, out, pcg, r, s, s.Clone(), p, cp.Done)
}

func (t *Trace) reserve(n int) {
	t.Draws = make([]float64, 0, n*t.Dim)
	t.LogDensity = make([]float64, 0, n)
	t.Info = make([]Info, 0, n)
}
