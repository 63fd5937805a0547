package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/internal/dense"
	"github.com/canopy-bffg/canopy/mcmc"
	"github.com/canopy-bffg/canopy/mcmc/diag"
)

// marginalNodes is the tree size above which NUTS samples the parameters' marginal
// posterior instead of the joint (u, z) target.
const marginalNodes = 1000

type fitConfig struct {
	treeFile, traitFile string
	treeIndex           int
	model, noise        string
	sampler             string
	chains, warmup      int
	draws               int
	seed                uint64
	out                 string
	quiet               bool
	landmarkFile        string  // --landmarks, for --model kunita
	steps               int     // kunita: Euler–Maruyama steps per edge
	stepLength          float64 // kunita: if positive, steps per edge ⌈T/stepLength⌉
	adaptDelta          float64 // NUTS: target acceptance of step-size adaptation
	maxDepth            int     // NUTS: maximum tree depth
	localAux            bool    // kunita: guide with the local auxiliary (NUTS; bffg.FlowFilter.LocalAux)
	exponential         bool    // kunita-ou: integrate the pull exactly in each step (bffg.FlowFilter.ExponentialSteps)
	untimed             []bool  // per chain: Elapsed Time misses a session that recorded no times
}

// param describes one reported parameter: its name and how it is computed from the
// unconstrained vector u of the potential.
type param struct {
	name  string
	value func(u []float64) float64
}

// problem is a model built from a dataset: the potential and the parameters reported.
type problem struct {
	ds     *dataset
	centre []float64           // per-trait mean subtracted from the data before fitting
	pot    *bffg.Potential     // trait models
	flow   *bffg.FlowPotential // the shape model (pot is then nil)
	shapes *shapeSummary       // the shape model's ancestral shapes, filled while sampling
	names  []string            // unconstrained parameters, in the potential's order
	params []param             // reported (natural-scale) parameters
}

// stats returns the mean and variance of each trait over observed tips and the mean
// root-to-tip distance, which set the scale of the default priors.
func stats(ds *dataset) (mean, variance []float64, depth float64) {
	d := ds.d()
	mean, variance = make([]float64, d), make([]float64, d)
	nl := ds.tree.NumLeaves()
	for k := 0; k < d; k++ {
		s, s2, n := 0.0, 0.0, 0.0
		for i := 0; i < nl; i++ {
			if v := ds.y[i*d+k]; !math.IsNaN(v) {
				s, s2, n = s+v, s2+v*v, n+1
			}
		}
		mean[k] = s / n
		variance[k] = math.Max(s2/n-mean[k]*mean[k], 1e-12*math.Max(1, mean[k]*mean[k]))
	}
	for i := 0; i < nl; i++ {
		depth += ds.tree.Dist(ds.tree.Leaf(i))
	}
	depth /= float64(nl)
	if !(depth > 0) {
		depth = 1
	}
	return mean, variance, depth
}

// newProblem builds the potential. Priors are weakly informative and centred on the data's
// scale: log σ² ~ N(log(var/T̄), 2²) with T̄ the mean root-to-tip distance; for OU log α ~
// N(log(1/T̄), 2²) and θ ~ N(mean, (3 sd)²); log τ² ~ N(log(var/10), 2²); for several traits
// under BM the Cholesky factor of Σ has log-diagonal ~ N(½log(var/T̄), 2²) and
// off-diagonal ~ N(0, √(var/T̄)²). The root is integrated out under N(mean, (10 sd)²).
func newProblem(ds *dataset, model, noise string) (*problem, error) {
	est, nv, err := noiseFlag(noise)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	t, d := ds.tree, ds.d()
	mean, variance, depth := stats(ds)
	// Centre each trait: BM and OU are translation equivariant, and the information
	// form's constants cancel terms of size y²/τ², which loses accuracy far from 0.
	// Reported θ and the ancestral states are shifted back by centre.
	centre := append([]float64(nil), mean...)
	yc := make([]float64, len(ds.y))
	for i, v := range ds.y {
		yc[i] = v - centre[i%d]
	}
	mean = make([]float64, d)
	pooled := 0.0
	for _, v := range variance {
		pooled += v / float64(d)
	}
	pr := &problem{ds: ds, centre: centre}
	p := &bffg.Potential{Tree: t, Obs: bffg.Obs{Y: yc, Var: nv}, EstimateNoise: est}
	rootCov := make([]float64, d*d)
	for k := 0; k < d; k++ {
		rootCov[k*d+k] = 100 * variance[k]
	}
	p.Root = bffg.Root{Mean: mean, Cov: rootCov}
	add := func(name string, tr bffg.Transform, prior bffg.Normal, report bool) {
		i := len(pr.names)
		pr.names = append(pr.names, name)
		p.Transforms = append(p.Transforms, tr)
		p.Priors = append(p.Priors, prior)
		if !report {
			return
		}
		rep := name
		f := func(u []float64) float64 { return u[i] }
		if tr == bffg.Log {
			rep = name[len("log_"):]
			f = func(u []float64) float64 { return math.Exp(u[i]) }
		}
		pr.params = append(pr.params, param{rep, f})
	}
	switch {
	case model == "bm" && d == 1:
		p.Model = &bffg.BM{Tree: t, D: 1}
		add("log_sigma2", bffg.Log, bffg.Normal{Mean: math.Log(variance[0] / depth), SD: 2}, true)
	case model == "bm":
		m := bffg.NewMvBM(t, d)
		p.Model = m
		for i := 0; i < d; i++ {
			for j := 0; j <= i; j++ {
				if i == j {
					add(fmt.Sprintf("log_L.%d.%d", i+1, j+1), bffg.Identity, bffg.Normal{Mean: 0.5 * math.Log(variance[i]/depth), SD: 2}, false)
				} else {
					add(fmt.Sprintf("L.%d.%d", i+1, j+1), bffg.Identity, bffg.Normal{Mean: 0, SD: math.Sqrt(pooled / depth)}, false)
				}
			}
		}
		// Report Σ = LL', every entry in CmdStan's column-major order.
		for j := 0; j < d; j++ {
			for i := 0; i < d; i++ {
				name := fmt.Sprintf("Sigma.%d.%d", i+1, j+1)
				i, j := max(i, j), min(i, j) // Σ is symmetric: use the lower triangle
				pr.params = append(pr.params, param{name, func(u []float64) float64 {
					l := func(a, b int) float64 {
						k := a*(a+1)/2 + b
						if a == b {
							return math.Exp(u[k])
						}
						return u[k]
					}
					s := 0.0
					for k := 0; k <= j; k++ {
						s += l(i, k) * l(j, k)
					}
					return s
				}})
			}
		}
	case model == "ou":
		p.Model = &bffg.OU{Tree: t, D: d, Theta: make([]float64, d)}
		add("log_alpha", bffg.Log, bffg.Normal{Mean: math.Log(1 / depth), SD: 2}, true)
		for k := 0; k < d; k++ {
			// The sampled θ is centred; its column is theta_k (columns turns '.'
			// into '_'), so with one trait it must not be called theta too, which is
			// the reported θ's column.
			name, rep := fmt.Sprintf("theta.%d", k+1), "theta"
			if d > 1 {
				rep = name
			}
			add(name, bffg.Identity, bffg.Normal{Mean: mean[k], SD: 3 * math.Sqrt(variance[k])}, false)
			i, k := len(pr.names)-1, k
			pr.params = append(pr.params, param{rep, func(u []float64) float64 { return u[i] + centre[k] }})
		}
		add("log_sigma2", bffg.Log, bffg.Normal{Mean: math.Log(pooled / depth), SD: 2}, true)
	default:
		return nil, unknownModel(model)
	}
	if est {
		add("log_tau2", bffg.Log, bffg.Normal{Mean: math.Log(pooled / 10), SD: 2}, true)
	}
	pr.pot = p
	return pr, nil
}

// knownModel reports whether fit fits model.
func knownModel(model string) bool {
	switch model {
	case "bm", "ou", "kunita", "kunita-ou":
		return true
	}
	return false
}

// unknownModel is the usage error for a --model that fit and simulate do not know.
func unknownModel(model string) error {
	return &exitError{code: 2, err: fmt.Errorf("--model %q: want bm, ou, kunita or kunita-ou", model)}
}

func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fit", stderr)
	var c fitConfig
	fs.StringVar(&c.treeFile, "tree", "", "tree file (Newick or Nexus); none for the built-in data")
	fs.StringVar(&c.traitFile, "traits", "", "traits CSV (taxon,trait1,...; NA or empty for missing)")
	fs.StringVar(&c.landmarkFile, "landmarks", "", "landmark file (TPS, or CSV by its .csv extension), for --model kunita")
	fs.IntVar(&c.steps, "steps", 25, "kunita: Euler–Maruyama steps per edge")
	fs.Float64Var(&c.stepLength, "step-length", 0, "kunita: if positive, give each edge of length T ⌈T/step-length⌉ steps instead of --steps")
	fs.IntVar(&c.treeIndex, "tree-index", 0, "which tree of a multi-tree file (0 = first)")
	fs.StringVar(&c.model, "model", "bm", "edge model: bm, ou, kunita (landmark shapes) or kunita-ou (shapes pulled towards the mean shape)")
	fs.StringVar(&c.noise, "noise", "estimate", "leaf noise variance: estimate, none or a value")
	fs.StringVar(&c.sampler, "sampler", "nuts", "sampler: nuts or rwpcn (hyperiax's pCN on z with a random walk on the parameters; warmup tunes both to acceptance 0.234)")
	fs.IntVar(&c.chains, "chains", 4, "number of chains")
	fs.IntVar(&c.warmup, "warmup", 1000, "warmup iterations per chain")
	fs.IntVar(&c.draws, "draws", 1000, "draws per chain")
	fs.Uint64Var(&c.seed, "seed", 1, "random seed")
	fs.StringVar(&c.out, "out", "canopy-out", "output directory")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress on standard error")
	fs.Float64Var(&c.adaptDelta, "adapt-delta", 0.8, "nuts: target acceptance of step-size adaptation, in (0, 1); raise it (0.9, 0.95) against divergences")
	fs.IntVar(&c.maxDepth, "max-depth", 10, "nuts: maximum tree depth (a transition takes at most 2^depth − 1 leapfrog steps)")
	euler := fs.Bool("euler-steps", false, "kunita-ou: Euler steps for the pull (hyperiax's discretisation) instead of integrating it exactly in each step; for comparisons")
	resume := fs.String("resume", "", "continue the run saved in this directory (its settings; --draws may raise the total)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var prev *checkpoint
	if *resume != "" {
		var err error
		if prev, err = readCheckpoint(*resume); err != nil {
			return err
		}
		draws := c.draws
		drawsSet := false
		var ignored []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "draws":
				drawsSet = true
			case "quiet", "resume":
			default:
				ignored = append(ignored, "--"+f.Name)
			}
		})
		if len(ignored) > 0 {
			fmt.Fprintf(stderr, "canopy: --resume continues with the settings in %s; ignoring %s (only --draws and --quiet apply)\n",
				filepath.Join(*resume, "checkpoint.json"), strings.Join(ignored, ", "))
		}
		made := 0
		for _, st := range prev.State {
			if st != nil {
				made = max(made, st.Done)
			}
		}
		if drawsSet && draws < made {
			return &exitError{code: 2, err: fmt.Errorf("--draws %d is below the %d draws already made in %s: --resume keeps them, so it takes --draws of at least %d", draws, made, *resume, made)}
		}
		c = fitConfig{treeFile: prev.TreeFile, traitFile: prev.TraitFile, treeIndex: prev.TreeIndex, model: prev.Model,
			noise: prev.Noise, sampler: prev.Sampler, chains: prev.Chains, warmup: prev.Warmup, draws: prev.Draws,
			seed: prev.Seed, out: *resume, quiet: c.quiet, landmarkFile: prev.Landmarks, steps: prev.Steps, stepLength: prev.StepLength,
			adaptDelta: prev.AdaptDelta, maxDepth: prev.MaxDepth, localAux: prev.LocalAux, exponential: prev.ExponentialSteps}
		if c.adaptDelta == 0 { // a checkpoint from before these settings: the defaults
			c.adaptDelta, c.maxDepth = 0.8, 10
		}
		if drawsSet {
			c.draws = draws
		}
	} else {
		// Shape fits with NUTS guide with the local auxiliary; RW/pCN mixed better
		// without it. A resumed run keeps its checkpoint's choice.
		c.localAux = c.sampler == "nuts"
		c.exponential = c.model == "kunita-ou" && !*euler
		if *euler && c.model != "kunita-ou" {
			return &exitError{code: 2, err: fmt.Errorf("--euler-steps goes with --model kunita-ou (the other models' steps have no drift to integrate)")}
		}
	}
	if !knownModel(c.model) {
		return unknownModel(c.model)
	}
	if c.out == "" {
		return &exitError{code: 2, err: errors.New("--out is empty: give the output directory")}
	}
	if (c.landmarkFile != "") != shapeModel(c.model) {
		return &exitError{code: 2, err: errors.New("--landmarks goes with --model kunita or kunita-ou, and they need --landmarks")}
	}
	if c.landmarkFile != "" && c.traitFile != "" {
		return &exitError{code: 2, err: errors.New("give --traits or --landmarks, not both")}
	}
	if c.chains < 1 || c.draws < 1 || c.warmup < 0 {
		return &exitError{code: 2, err: fmt.Errorf("need --chains ≥ 1, --draws ≥ 1 and --warmup ≥ 0 (got %d, %d, %d)", c.chains, c.draws, c.warmup)}
	}
	if c.sampler != "nuts" && c.sampler != "rwpcn" {
		return &exitError{code: 2, err: fmt.Errorf("--sampler %q: want nuts or rwpcn", c.sampler)}
	}
	if !(c.adaptDelta > 0 && c.adaptDelta < 1) {
		return &exitError{code: 2, err: fmt.Errorf("--adapt-delta %v: want a value in (0, 1)", c.adaptDelta)}
	}
	if c.maxDepth < 1 || c.maxDepth > 20 {
		return &exitError{code: 2, err: fmt.Errorf("--max-depth %d: want 1 to 20", c.maxDepth)}
	}
	pr, err := loadProblem(stderr, c)
	if err != nil {
		return err
	}
	if err := checkHeader(c, pr); err != nil {
		return err
	}
	if prev == nil {
		removed, err := removeOldOutputs(c.out, c.chains, pr)
		if len(removed) > 0 {
			fmt.Fprintf(stderr, "canopy: removed the earlier run's %s from %s\n", summarizeRemoved(removed), c.out)
		}
		if err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.out, 0o755); err != nil {
		return err
	}
	var old []mcmc.Chain // draws of the run being resumed, in column space
	var from []*mcmc.Checkpoint
	if prev != nil {
		if err := checkSummariesFree(c.out, pr); err != nil {
			return err
		}
		var times []fileTimes
		if old, times, err = readChains(c.out, c.chains); err != nil {
			return err
		}
		c.untimed = make([]bool, c.chains)
		for i, st := range prev.State {
			cp, err := st.resumeState()
			if err != nil {
				return err
			}
			switch {
			case cp == nil || cp.Done != old[i].Sample.Len():
				// Stopped during warmup, or the file and the checkpoint disagree:
				// repeat this chain from its start (its seed makes it identical).
				old[i] = mcmc.Chain{Index: i, Sample: mcmc.Trace{Dim: len(pr.columns())}}
				cp = nil
			case len(st.Seconds) == 2: // the times of every session, interrupted ones too
				old[i].WarmupSeconds, old[i].SampleSeconds = st.Seconds[0], st.Seconds[1]
				c.untimed[i] = times[i].partial
			default:
				// A checkpoint from before the times were recorded: those of the
				// file's timing block (readChains), if the run finished.
				c.untimed[i] = !times[i].block || times[i].partial
			}
			from = append(from, cp)
		}
	}
	raw, runErr := sample(ctx, pr, c, from, stderr)
	if raw == nil {
		return runErr
	}
	// A chain that failed (say, no valid initial point) does not discard the others:
	// every chain's draws and the checkpoint are written before the error is reported.
	// A resumed chain that stopped before its first new draw (it failed to resume,
	// or the run was cancelled before it started) keeps its file and its state in
	// the checkpoint as they were: it has no new draws or tunables to write.
	var keep []*chainState
	cols := make([]mcmc.Chain, len(raw))
	for i := range raw {
		if from != nil && from[i] != nil && raw[i].Checkpoint == nil {
			if keep == nil {
				keep = make([]*chainState, len(raw))
			}
			keep[i] = prev.State[i]
			continue
		}
		cols[i] = pr.toColumns(&raw[i])
		if old != nil {
			cols[i] = appendChain(old[i], cols[i])
		}
	}
	if prev != nil && slices.ContainsFunc(raw, func(ch mcmc.Chain) bool { return ch.Sample.Len() > 0 }) {
		// The earlier run's summary, ancestral states and plots describe fewer
		// draws than the chain files are about to hold; left in place, they would
		// outlive an interrupted resume as if current.
		removed, err := removeSummaries(c.out)
		if len(removed) > 0 && runErr != nil {
			// A finished run writes them anew below; say so only when it will not.
			fmt.Fprintf(stderr, "canopy: removed the earlier run's %s from %s: they describe fewer draws than the chains now hold; a resume that finishes writes them anew\n",
				describeSummaries(removed), c.out)
		}
		if err != nil {
			return err
		}
	}
	if err := writeChains(c, pr, cols, keep); err != nil {
		return err
	}
	for i := range raw { // the checkpoint carries the times of every session so far
		raw[i].WarmupSeconds, raw[i].SampleSeconds = cols[i].WarmupSeconds, cols[i].SampleSeconds
	}
	if err := writeCheckpoint(c, raw, keep); err != nil {
		return err
	}
	if errors.Is(runErr, context.Canceled) {
		fmt.Fprintf(stderr, "canopy: interrupted; the draws made so far are in %s; continue with: canopy fit --resume %s\n", c.out, c.out)
		return &exitError{code: 130, err: errors.New("interrupted")}
	}
	if runErr != nil {
		return fmt.Errorf("%w (the other chains' draws are in %s)", runErr, c.out)
	}
	return report(c, pr, cols, stdout, stderr)
}

// appendChain appends the draws of b to those of a (a resumed run's continuation); b's
// tunables describe the combined chain, and its times are the sums of both.
func appendChain(a, b mcmc.Chain) mcmc.Chain {
	out := b
	out.Sample = mcmc.Trace{Dim: b.Sample.Dim}
	for _, t := range []*mcmc.Trace{&a.Sample, &b.Sample} {
		out.Sample.Draws = append(out.Sample.Draws, t.Draws...)
		out.Sample.LogDensity = append(out.Sample.LogDensity, t.LogDensity...)
		out.Sample.Info = append(out.Sample.Info, t.Info...)
	}
	out.WarmupSeconds += a.WarmupSeconds
	out.SampleSeconds += a.SampleSeconds
	return out
}

// loadProblem reads the data and builds the model, and evaluates it once at the prior
// means, so that data the model cannot take (say a zero-length branch to an exactly
// observed tip) is reported by name rather than as a failure to find an initial point.
func loadProblem(stderr io.Writer, c fitConfig) (*problem, error) {
	load, build := loadData, func(ds *dataset) (*problem, error) { return newProblem(ds, c.model, c.noise) }
	file := c.traitFile
	if shapeModel(c.model) {
		load, file = loadLandmarks, c.landmarkFile
		build = func(ds *dataset) (*problem, error) {
			return newKunitaProblem(ds, c)
		}
	}
	ds, err := load(stderr, c.treeFile, file, c.treeIndex)
	if err != nil {
		return nil, err
	}
	pr, err := build(ds)
	if err != nil {
		return nil, err
	}
	if !shapeModel(c.model) && c.noise == "estimate" && ds.d() > 1 {
		fmt.Fprintf(stderr, "canopy: note: fit estimates one leaf noise variance τ² shared by the %d traits; scale them comparably, or fit them one at a time, or give --noise none or a value\n", ds.d())
	}
	return pr, pr.check()
}

// check evaluates the model at the prior means (z = 0 for the shape model).
func (pr *problem) check() error {
	var at []float64
	var check func([]float64) error
	if pr.flow != nil {
		at, check = make([]float64, pr.flow.Dim()), pr.flow.Check
		for i, pri := range pr.flow.Priors {
			at[i] = pri.(bffg.Normal).Mean
		}
	} else {
		at, check = make([]float64, pr.pot.NumParams()), pr.pot.Check
		for i, pri := range pr.pot.Priors {
			at[i] = pri.Mean
		}
	}
	if err := check(at); err != nil {
		return fmt.Errorf("the model cannot be evaluated on these data: %w", err)
	}
	return nil
}

// stepLengthHint returns the number of steps of a tree with these branch lengths at
// steps per edge, the step length ℓ of its longest edge (rounded down to three
// significant digits, as the hint prints it), and the number of steps with that step
// length on every edge (⌈T/ℓ⌉).
func stepLengthHint(bl []float64, steps int) (uniform int, ell float64, fewer int) {
	ell = slices.Max(bl) / float64(steps)
	unit := math.Pow(10, math.Floor(math.Log10(ell))-2)
	ell = math.Floor(ell/unit) * unit
	for _, T := range bl[1:] { // the root has no edge
		if T > 0 {
			uniform += steps
			fewer += max(1, int(math.Ceil(T/ell)))
		}
	}
	return uniform, ell, fewer
}

// numParams returns the number of sampled model parameters (before the noise z).
func (pr *problem) numParams() int {
	if pr.flow != nil {
		return pr.flow.NumParams()
	}
	return pr.pot.NumParams()
}

// sample runs the chains with progress on stderr.
func sample(ctx context.Context, pr *problem, c fitConfig, from []*mcmc.Checkpoint, stderr io.Writer) ([]mcmc.Chain, error) {
	np := pr.numParams()
	newKernel := func(int) (mcmc.Kernel, error) {
		if pr.flow != nil {
			// The shape model is nonlinear: z is part of the target. The random-walk
			// scale and pCN β are those of hyperiax notebook 07.
			p := pr.flow.Clone()
			if c.sampler == "nuts" {
				return newNUTS(p, c), nil
			}
			return pcnRW(p, np, 0.1, 0.05), nil
		}
		p := pr.pot.Clone()
		if c.sampler == "nuts" {
			// BM and OU are linear, so the proxy is the model and the posterior is
			// p(u | y)·N(z; 0, I) exactly. On large trees NUTS runs on u alone (z would
			// add a dimension per node for nothing); on small ones the joint target's
			// longer trajectories give more ESS per second. Node states are
			// Rao-Blackwellised afterwards either way (ancestral.csv).
			p.Marginal = pr.ds.tree.Len() > marginalNodes
			return newNUTS(p, c), nil
		}
		return pcnRW(p, np, 0.2, 0.5/math.Sqrt(float64(np))), nil
	}
	var init [][]float64
	if pr.flow != nil {
		// Start at the prior medians, spread by ±0.5 per chain, with z ~ N(0, I): the
		// default uniform(−2, 2) on every coordinate puts z far in its prior's tails.
		init = make([][]float64, c.chains)
		for i := range init {
			r := rand.New(rand.NewPCG(c.seed, 1<<32+uint64(i)))
			q := make([]float64, pr.flow.Dim())
			for k := range q {
				if k < np {
					q[k] = pr.flow.Priors[k].(bffg.Normal).Mean + r.Float64() - 0.5
				} else {
					q[k] = r.NormFloat64()
				}
			}
			init[i] = q
		}
	}
	var params mcmc.Params
	if pr.flow != nil && c.sampler == "nuts" && from == nil {
		// Given z the model parameters are far more tightly determined than any z:
		// start the metric from their curvature, not the identity (where the first
		// adaptation stage would creep with tiny steps across every z). Where the
		// curvature cannot be computed the identity stays.
		idx := make([]int, np)
		for i := range idx {
			idx[i] = i
		}
		if m, err := mcmc.CurvatureMetric(pr.flow.Clone(), init[0], idx, 1e-4); err == nil {
			params.Metric = m
		} else if !c.quiet {
			fmt.Fprintf(stderr, "canopy: NUTS starts from the identity metric (%v)\n", err)
		}
	}
	if pr.flow != nil && !c.quiet {
		if dense.Backend == "gonum" && pr.ds.landmarks.n >= 32 {
			fmt.Fprintf(stderr, "canopy: %d landmarks on gonum's pure-Go BLAS; a build with -tags openblas runs the shape model several times faster (README, Speed)\n", pr.ds.landmarks.n)
		}
		if c.stepLength == 0 && from == nil { // a resumed run keeps its grid
			if uniform, ell, fewer := stepLengthHint(pr.ds.tree.BranchLengths(), c.steps); fewer < uniform/2 {
				fmt.Fprintf(stderr, "canopy: %d steps in all; --step-length %.3g would resolve every edge at least as finely with %d\n", uniform, ell, fewer)
			}
		}
	}
	var observe func(int, int, []float64)
	if pr.flow != nil {
		pr.shapes = newShapeSummary(pr.flow, c.chains, len(pr.ds.y)/pr.ds.tree.NumLeaves()*pr.ds.tree.Len())
		observe = pr.shapes.observe
	}
	prog := newProgress(stderr, c.chains, c.warmup, c.warmup+c.draws, c.quiet)
	defer prog.done()
	return mcmc.Run(ctx, newKernel, mcmc.Config{Chains: c.chains, Warmup: c.warmup, Draws: c.draws,
		Seed: c.seed, Progress: prog.update, Observe: observe, Resume: from, SaveDims: np, Init: init, Params: params,
		Adapt: c.adaptation()})
}

// newNUTS returns NUTS on t with the configured maximum tree depth.
func newNUTS(t mcmc.GradDensity, c fitConfig) *mcmc.NUTS {
	k := mcmc.NewNUTS(t)
	k.MaxDepth = c.depth()
	return k
}

// depth returns the configured maximum tree depth (0: Stan's 10).
func (c fitConfig) depth() int {
	if c.maxDepth > 0 {
		return c.maxDepth
	}
	return 10
}

// adaptation returns Stan's warmup with the configured target acceptance (0: Stan's
// 0.8).
func (c fitConfig) adaptation() *mcmc.Adaptation {
	a := mcmc.DefaultAdaptation()
	if c.adaptDelta > 0 {
		a.TargetAccept = c.adaptDelta
	}
	return &a
}

// pcnRW returns hyperiax's Metropolis-within-Gibbs kernel on t: pCN with β on the
// noise z (every coordinate after the first np), then a joint Gaussian random walk with
// the given scale on the np parameters. β and scale are where warmup starts
// (mcmc.MetropolisAdaptation tunes both towards acceptance 0.234).
func pcnRW(t mcmc.Density, np int, beta, scale float64) mcmc.Kernel {
	zIdx := make([]int, t.Dim()-np)
	for i := range zIdx {
		zIdx[i] = np + i
	}
	uIdx, scales := make([]int, np), make([]float64, np)
	for i := range uIdx {
		uIdx[i], scales[i] = i, scale
	}
	return mcmc.NewPCNRW(mcmc.NewPCN(t, zIdx, beta), mcmc.NewRandomWalk(t, uIdx, scales))
}

// progress reports per-chain iterations and the estimated time left on stderr,
// redrawn in place on a terminal and as a line every 10% otherwise.
type progress struct {
	mu        sync.Mutex
	w         io.Writer
	iters     []int
	div       []int
	step      []float64
	warmup    int
	total     int
	start     time.Time
	tty       bool
	last      time.Time
	lastTenth int
	off       bool
}

func newProgress(w io.Writer, chains, warmup, total int, quiet bool) *progress {
	p := &progress{w: w, iters: make([]int, chains), div: make([]int, chains), step: make([]float64, chains),
		warmup: warmup, total: total, start: time.Now(), off: quiet}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) update(chain, iter int, info mcmc.Info) {
	if p.off {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.iters[chain] = iter + 1
	p.step[chain] = info.StepSize
	if info.Divergent && iter >= p.warmup { // as Stan, count divergences after warmup
		p.div[chain]++
	}
	done := 0
	for _, n := range p.iters {
		done += n
	}
	all := p.total * len(p.iters)
	frac := float64(done) / float64(all)
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && done < all {
			return
		}
		p.last = now
		fmt.Fprintf(p.w, "\r%s", p.line(frac, now))
		return
	}
	if tenth := int(frac * 10); tenth > p.lastTenth {
		p.lastTenth = tenth
		fmt.Fprintln(p.w, p.line(frac, now))
	}
}

func (p *progress) line(frac float64, now time.Time) string {
	s := ""
	for c, n := range p.iters {
		s += fmt.Sprintf("chain %d: %d/%d div %d ε %.2g | ", c+1, n, p.total, p.div[c], p.step[c])
	}
	el := now.Sub(p.start)
	left := "?"
	if frac > 0 {
		left = (time.Duration(float64(el)/frac) - el).Round(time.Second / 10).String()
	}
	return s + "time left " + left
}

func (p *progress) done() {
	if p.tty && !p.off {
		fmt.Fprintln(p.w)
	}
}

// report prints and writes the summary and the ancestral states.
func report(c fitConfig, pr *problem, chains []mcmc.Chain, stdout, stderr io.Writer) error {
	np := pr.numParams() // reported parameter i is column np + i
	div, full := 0, 0
	for _, ch := range chains {
		for _, in := range ch.Sample.Info {
			if in.Divergent {
				div++
			}
			if in.TreeDepth >= c.depth() {
				full++
			}
		}
	}
	f, err := os.Create(filepath.Join(c.out, "summary.csv"))
	if err != nil {
		return err
	}
	defer f.Close()
	cw := csv.NewWriter(f)
	_ = cw.Write(strings.Split(summaryHeader, ","))
	fmt.Fprintf(stdout, "%-14s %10s %10s %10s %10s %10s %7s %9s %9s %10s\n", "parameter", "mean", "sd", "5%", "50%", "95%", "R̂", "ESS bulk", "ESS tail", "MCSE")
	sums := make([]diag.Summary, len(pr.params))
	for j, pa := range pr.params {
		draws := make([][]float64, len(chains))
		for i, ch := range chains {
			for k := 0; k < ch.Sample.Len(); k++ {
				draws[i] = append(draws[i], ch.Sample.Draw(k)[np+j])
			}
		}
		s, err := summarize(draws)
		if err != nil {
			return err
		}
		sums[j] = s
		fmt.Fprintf(stdout, "%-14s %10s %10s %10s %10s %10s %7s %9s %9s %10s\n", pa.name, na(s.Mean, "%.4g"), na(s.SD, "%.4g"),
			na(s.Q5, "%.4g"), na(s.Q50, "%.4g"), na(s.Q95, "%.4g"), na(s.Rhat, "%.4f"), na(s.ESSBulk, "%.0f"), na(s.ESSTail, "%.0f"), na(s.MCSEMean, "%.3g"))
		row := []string{pa.name}
		for _, v := range []float64{s.Mean, s.SD, s.Q5, s.Q50, s.Q95, s.Rhat, s.ESSBulk, s.ESSTail, s.MCSEMean} {
			row = append(row, na(v, ""))
		}
		_ = cw.Write(row)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	for _, w := range convergenceWarnings(pr, chains, sums) {
		fmt.Fprintln(stderr, "canopy:", w)
	}
	fmt.Fprintf(stdout, "divergences: %d of %d draws\n", div, c.chains*c.draws)
	if c.sampler == "nuts" {
		delta := c.adaptation().TargetAccept
		if div > 0 {
			fmt.Fprintf(stderr, "canopy: %d divergent transitions; the posterior may be biased where they occur. A higher --adapt-delta (now %g; try %g) takes smaller steps\n",
				div, delta, math.Min(0.99, delta+(1-delta)/2))
		}
		if full > 0 {
			fmt.Fprintf(stderr, "canopy: %d of %d transitions stopped at the maximum tree depth %d; --max-depth %d lets trajectories run further (each costs up to twice as many gradients)\n",
				full, c.chains*c.draws, c.depth(), c.depth()+1)
		}
	}
	if err := writeAncestral(c, pr, chains); err != nil {
		return err
	}
	if err := writePlots(c.out, pr, chains); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", c.out)
	return nil
}

func summarize(draws [][]float64) (diag.Summary, error) { return diag.Summarize(draws) }

// na formats x with format, or as the shortest exact decimal if format is empty;
// an undefined x (NaN) is NA, as R's write.csv writes the NA of posterior's
// summarise_draws, and as R, pandas and readr read a missing number.
func na(x float64, format string) string {
	switch {
	case math.IsNaN(x):
		return "NA"
	case format == "":
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprintf(format, x)
}

// minESSPerChain and maxRhat are the thresholds of Vehtari et al. (2021,
// "Rank-normalization, folding, and localization", Bayesian Analysis 16(2)):
// use the draws if R̂ < 1.01 and the bulk and tail ESS exceed 100 per chain.
const (
	maxRhat        = 1.01
	minESSPerChain = 100
)

// minDraws is the fewest draws per chain for which diag defines both R̂ and the ESS
// (three in each half chain).
const minDraws = 6

// convergenceWarnings returns the warnings for the summaries sums of the reported
// parameters: chains that never moved, too few draws for R̂ and ESS, and the
// parameters whose R̂ or ESS miss the thresholds of Vehtari et al. (2021).
func convergenceWarnings(pr *problem, chains []mcmc.Chain, sums []diag.Summary) []string {
	var warn []string
	n := math.MaxInt
	for i, ch := range chains {
		n = min(n, ch.Sample.Len())
		if ch.Sample.Len() > 1 && stuck(&ch.Sample) {
			warn = append(warn, fmt.Sprintf("chain %d never moved: its %d draws are all identical, so do not use them; warmup left it a step size (%.3g) that fits the posterior badly: a longer --warmup or another --seed may help",
				i+1, ch.Sample.Len(), ch.Params.StepSize))
		}
	}
	if n < minDraws {
		return append(warn, fmt.Sprintf("too few draws for R̂ and ESS (%d per chain; the ESS needs at least %d): convergence cannot be checked, so run more --draws", n, minDraws))
	}
	minESS := float64(minESSPerChain * len(chains))
	var bad []string
	for j, s := range sums {
		var why []string
		if !(s.Rhat < maxRhat) {
			why = append(why, "R̂ "+na(s.Rhat, "%.3f"))
		}
		if !(s.ESSBulk > minESS) {
			why = append(why, "bulk ESS "+na(s.ESSBulk, "%.0f"))
		}
		if !(s.ESSTail > minESS) {
			why = append(why, "tail ESS "+na(s.ESSTail, "%.0f"))
		}
		if why != nil {
			bad = append(bad, fmt.Sprintf("%s (%s)", pr.params[j].name, strings.Join(why, ", ")))
		}
	}
	if bad != nil {
		warn = append(warn, fmt.Sprintf("the chains may not have converged: %s. Vehtari et al. (2021) recommend R̂ < %g and bulk and tail ESS > %d per chain (%g for %d chains); run longer (--warmup, --draws) or more chains",
			strings.Join(bad, "; "), maxRhat, minESSPerChain, minESS, len(chains)))
	}
	return warn
}

// stuck reports whether every draw of t equals the first.
func stuck(t *mcmc.Trace) bool {
	first := t.Draw(0)
	for k := 1; k < t.Len(); k++ {
		if !slices.Equal(t.Draw(k), first) {
			return false
		}
	}
	return true
}
