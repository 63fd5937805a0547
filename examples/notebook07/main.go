// Command notebook07 reproduces hyperiax notebook 07: Kunita-flow landmark shapes (16
// landmarks in 2D) on a symmetric ternary tree of depth 2 with SDE edges (100
// Euler–Maruyama steps each), k_α and k_σ inferred with τ² = 1e−3 known. It prints the
// notebook's forward checks at the truth (leaf RMSE, Σ log w, log h_root, U(θ, z = 0)),
// a check of the adjoint gradient against finite differences, and then samples the
// posterior of (k_α, k_σ, z) with the notebook's RW/pCN kernel and with NUTS on the
// exact adjoint gradient, reporting R̂, ESS, ESS per second and the posterior against
// the truth. With -json it prints one JSON object.
//
// Usage:
//
//	go run ./examples/notebook07 [-json] [-sampler both|rwpcn|nuts] [-chains 3]
//	    [-rw-warmup 5000 -rw-draws 5000] [-nuts-warmup 300 -nuts-draws 300] [-seed 7]
//	    [-exact-steps [-local-aux]] [-semi-implicit] [-steps n] [-adapt]
//
// The notebook ran 3 RW/pCN chains of 10000 iterations and discarded the first 5000;
// that is the default here. For NUTS, -exact-steps -local-aux is the setting to use
// (canopy fit's): the auxiliary linearised at every step lets NUTS take steps four to
// five times longer, with no divergences, for about 25 times the effective draws per
// second on the notebook's grid (README, Speed). RW/pCN converges with it too on the
// 20-step grid (4 × 80000 draws, R̂ ≤ 1.017, agreeing with NUTS within MCSE); as many
// draws without it did not converge. The filter uses factorised 16×16 messages, and the anchors
// of the auxiliary process are refined at (k_α, k_σ) = (0.2, 0.5) and then frozen, so
// that the sampled target is one exact BFFG posterior.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"

	"github.com/canopy-bffg/canopy/internal/notebooks"
	"github.com/canopy-bffg/canopy/mcmc"
)

func main() {
	asJSON := flag.Bool("json", false, "print one JSON object")
	sampler := flag.String("sampler", "both", "both, rwpcn or nuts")
	chains := flag.Int("chains", 3, "chains per sampler")
	rwWarmup := flag.Int("rw-warmup", 5000, "RW/pCN burn-in iterations per chain")
	rwDraws := flag.Int("rw-draws", 5000, "RW/pCN kept iterations per chain")
	nutsWarmup := flag.Int("nuts-warmup", 300, "NUTS warmup iterations per chain")
	nutsDraws := flag.Int("nuts-draws", 300, "NUTS draws per chain")
	seed := flag.Uint64("seed", 7, "random seed of the chains")
	semi := flag.Bool("semi-implicit", false, "semi-implicit guided steps (stable at any step size; the notebook's are explicit)")
	exactSteps := flag.Bool("exact-steps", false, "guide each Euler step exactly, with exact weights for the discretised flow (the notebook's steps are explicit)")
	local := flag.Bool("local-aux", false, "with -exact-steps, linearise the auxiliary process at every step's state (bffg.FlowFilter.LocalAux)")
	adapt := flag.Bool("adapt", false, "let RW/pCN warmup tune β and the random-walk scale (the notebook keeps β 0.1 and scales 0.05, 0.04)")
	steps := flag.Int("steps", 0, "steps per edge on the time-changed grid for both samplers (0: the notebook's 100 uniform steps)")
	flag.Parse()
	cfg := config{steps: *steps, sampler: *sampler, chains: *chains, rwWarmup: *rwWarmup, rwDraws: *rwDraws,
		nutsWarmup: *nutsWarmup, nutsDraws: *nutsDraws, seed: *seed, semi: *semi, exact: *exactSteps, adapt: *adapt, local: *local}
	if err := run(os.Stdout, *asJSON, cfg); err != nil {
		fmt.Fprintln(os.Stderr, "notebook07:", err)
		os.Exit(1)
	}
}

type config struct {
	sampler                                          string
	chains, rwWarmup, rwDraws, nutsWarmup, nutsDraws int
	seed                                             uint64
	semi, exact, adapt, local                        bool
	steps                                            int
}

// Check holds the forward numbers at the truth with the notebook's z0, in the
// notebook's order of operations (its pitfall P3) and as exact BFFG.
type Check struct {
	RMSE            float64 `json:"rmse"`
	SumLogW         float64 `json:"sum_log_w"`
	SumLogWExact    float64 `json:"sum_log_w_exact"`
	LogHRoot        float64 `json:"log_h_root"`
	UTruthZeroNoise float64 `json:"u_truth_z0"`
}

// GradCheck compares ∂U/∂(log k_α, log k_σ) at the truth and z0 by the adjoint with
// central finite differences.
type GradCheck struct {
	Adjoint          [2]float64 `json:"adjoint"`
	FiniteDifference [2]float64 `json:"finite_difference"`
}

// Report is the -json output.
type Report struct {
	Check     Check               `json:"check"`
	GradCheck GradCheck           `json:"grad_check"`
	RWPCN     *notebooks.Report07 `json:"rwpcn,omitempty"`
	NUTS      *notebooks.Report07 `json:"nuts,omitempty"`
}

func run(w io.Writer, asJSON bool, cfg config) error {
	nb, err := notebooks.Notebook07()
	if err != nil {
		return err
	}
	var r Report
	z0 := notebooks.NB07CheckNoise()
	asNB, err := nb.GuidedAsNotebook(notebooks.NB07KAlpha, notebooks.NB07KSigma, z0)
	if err != nil {
		return err
	}
	exact, err := nb.Guided(notebooks.NB07KAlpha, notebooks.NB07KSigma, z0)
	if err != nil {
		return err
	}
	u0, err := nb.UNotebook(make([]float64, len(z0)))
	if err != nil {
		return err
	}
	r.Check = Check{RMSE: asNB.RMSE, SumLogW: asNB.SumLogW, SumLogWExact: exact.SumLogW, LogHRoot: asNB.LogHRoot, UTruthZeroNoise: u0}
	if r.GradCheck, err = gradCheck(nb, z0); err != nil {
		return err
	}
	if !asJSON {
		fmt.Fprintf(w, "notebook 07 at the truth (k_α 0.1, k_σ 0.25, τ² 1e-3), z0 = normal(PRNGKey(0), 41600):\n")
		fmt.Fprintf(w, "  leaf RMSE %.4f (notebook 0.0933)\n", r.Check.RMSE)
		fmt.Fprintf(w, "  Σ log w %.3f (notebook −759.758 in float32; exact BFFG order %.3f)\n", r.Check.SumLogW, r.Check.SumLogWExact)
		fmt.Fprintf(w, "  log h_root %.3f (notebook 94.751)\n", r.Check.LogHRoot)
		fmt.Fprintf(w, "  U(θ_true, z = 0) %.2f (notebook 38265.30)\n\n", r.Check.UTruthZeroNoise)
		fmt.Fprintf(w, "∂U/∂(log k_α, log k_σ) at the truth, z0: adjoint %.6g %.6g, finite difference %.6g %.6g\n\n",
			r.GradCheck.Adjoint[0], r.GradCheck.Adjoint[1], r.GradCheck.FiniteDifference[0], r.GradCheck.FiniteDifference[1])
	}
	ctx := context.Background()
	if cfg.sampler == "both" || cfg.sampler == "rwpcn" {
		r.RWPCN, err = notebooks.NB07RWPCN(ctx, nb, notebooks.RunConfig{Chains: cfg.chains, Warmup: cfg.rwWarmup, Draws: cfg.rwDraws, Seed: cfg.seed,
			SemiImplicit: cfg.semi, ExactSteps: cfg.exact, Steps: cfg.steps, Adapt: cfg.adapt, LocalAux: cfg.local, Progress: progress("rw/pcn", cfg.rwWarmup+cfg.rwDraws)})
		if err != nil {
			return err
		}
		if !asJSON {
			print07(w, r.RWPCN)
		}
	}
	if cfg.sampler == "both" || cfg.sampler == "nuts" {
		r.NUTS, err = notebooks.NB07NUTS(ctx, nb, notebooks.RunConfig{Chains: cfg.chains, Warmup: cfg.nutsWarmup, Draws: cfg.nutsDraws, Seed: cfg.seed,
			SemiImplicit: cfg.semi, ExactSteps: cfg.exact, Steps: cfg.steps, LocalAux: cfg.local, Progress: progress("nuts", cfg.nutsWarmup+cfg.nutsDraws)})
		if err != nil {
			return err
		}
		if !asJSON {
			print07(w, r.NUTS)
		}
	}
	if !asJSON && r.RWPCN != nil && r.NUTS != nil {
		fmt.Fprintf(w, "min bulk ESS per second: NUTS %.4g, RW/pCN %.4g (ratio %.3g)\n",
			r.NUTS.MinESSPerSecond, r.RWPCN.MinESSPerSecond, r.NUTS.MinESSPerSecond/r.RWPCN.MinESSPerSecond)
	}
	if asJSON {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(r)
	}
	return nil
}

// progress returns a callback that prints a line to standard error each time a chain
// passes another tenth of its iterations.
func progress(name string, total int) func(chain, iter int, info mcmc.Info) {
	var mu sync.Mutex
	start := time.Now()
	return func(chain, iter int, info mcmc.Info) {
		if (iter+1)*10/total == iter*10/total {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stderr, "%s chain %d: %d/%d, step size %.3g, %d leapfrog steps, %s\n",
			name, chain+1, iter+1, total, info.StepSize, info.NumSteps, time.Since(start).Round(time.Second))
	}
}

func print07(w io.Writer, r *notebooks.Report07) {
	fmt.Fprintf(w, "%s: %d chains × (%d + %d), %.1f s, accept %v, divergences %d, %.1f evaluations per iteration\n",
		r.Sampler, r.Chains, r.Warmup, r.DrawsPerChain, r.Seconds, r.Accept, r.Divergences, r.EvalsPerDraw)
	fmt.Fprintf(w, "  step size %.3g", r.StepSize)
	if r.Beta != nil {
		fmt.Fprintf(w, ", pCN β %.3g", r.Beta)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  %-8s %6s %8s %8s %8s %8s %8s %8s %9s %9s %10s\n", "", "truth", "mean", "sd", "5%", "95%", "MCSE", "R̂", "bulk ESS", "tail ESS", "ESS/s")
	for _, p := range r.Params {
		fmt.Fprintf(w, "  %-8s %6.3f %8.4f %8.4f %8.4f %8.4f %8.4f %8.4f %9.0f %9.0f %10.3f\n", p.Name, p.Truth, p.Mean, p.SD, p.Q05, p.Q95, p.MCSE, p.Rhat, p.ESSBulk, p.ESSTail, p.ESSBulk/r.Seconds)
	}
	fmt.Fprintln(w)
}

// gradCheck differentiates U of NB07Potential at (log θ_true, z0).
func gradCheck(nb notebooks.NB07, z0 []float64) (GradCheck, error) {
	p, err := notebooks.NB07Potential(nb)
	if err != nil {
		return GradCheck{}, err
	}
	q := make([]float64, p.Dim())
	q[0], q[1] = math.Log(notebooks.NB07KAlpha), math.Log(notebooks.NB07KSigma)
	copy(q[2:], z0)
	if err := p.Check(q); err != nil {
		return GradCheck{}, err
	}
	g := make([]float64, len(q))
	p.LogDensityGrad(q, g)
	var c GradCheck
	for i := 0; i < 2; i++ {
		c.Adjoint[i] = -g[i]
		h := 1e-5
		qp, qm := append([]float64(nil), q...), append([]float64(nil), q...)
		qp[i] += h
		qm[i] -= h
		c.FiniteDifference[i] = -(p.LogDensity(qp) - p.LogDensity(qm)) / (2 * h)
	}
	return c, nil
}
