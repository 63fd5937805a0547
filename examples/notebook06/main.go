// Command notebook06 reproduces hyperiax notebook 06: the model of notebook 05 sampled
// by NUTS in noise space (4 chains × (1000 + 4000), diagonal metric, target acceptance
// 0.8). It prints the gradient check of the hand-written adjoint against finite
// differences, R̂, ESS, divergences, the posterior against the exact one, the posterior
// of the internal node states (through the guided map x(θ, z)) against the exact
// smoothing distribution, and ESS per draw and per second against notebook 05's RW/pCN
// sampler run in the same process. With -json it prints one JSON object.
//
// Usage:
//
//	go run ./examples/notebook06 [-json] [-seed N] [-stan stan_runs.csv]
//
// With -stan it also reads the Stan anchor's results (../shared/anchors/nb06_stan_run.R)
// and prints bulk ESS per second of both, min over (log σ², log τ²), and their ratio;
// for the latent model the node states' ESS and the cost of mapping draws to states
// count too. scripts/compare_stan.sh runs both in one go.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/internal/notebooks"
)

func main() {
	asJSON := flag.Bool("json", false, "print one JSON object")
	seed := flag.Uint64("seed", 7, "random seed of the chains")
	stan := flag.String("stan", "", "Stan anchor results (stan_runs.csv) to compare with")
	flag.Parse()
	if err := run(os.Stdout, *asJSON, *seed, *stan); err != nil {
		fmt.Fprintln(os.Stderr, "notebook06:", err)
		os.Exit(1)
	}
}

// GradCheck compares d/d log θ of Σ_v x_v (the guided pass at z0) by the adjoint with
// central finite differences.
type GradCheck struct {
	Adjoint          [2]float64 `json:"adjoint"`
	FiniteDifference [2]float64 `json:"finite_difference"`
}

// Report is the -json output: the NUTS run's fields plus the gradient check and the
// RW/pCN run.
type Report struct {
	*notebooks.Report
	GradCheck GradCheck         `json:"grad_check"`
	RWPCN     *notebooks.Report `json:"rwpcn"`
	Stan      []StanComparison  `json:"stan,omitempty"`
}

// sumStates returns Σ_v x_v of the guided pass at (log σ², log τ²) and z, and its adjoint
// gradient with respect to (log σ², log τ²).
func sumStates(nb notebooks.NB05, logTheta [2]float64, z []float64) (float64, [2]float64, error) {
	n := nb.Tree.Len()
	s2, t2 := math.Exp(logTheta[0]), math.Exp(logTheta[1])
	m := bffg.BM{Tree: nb.Tree, D: 1, Sigma2: s2}
	var f bffg.Filter
	if err := f.Run(nb.Tree, m, bffg.Obs{Y: nb.Y, Var: t2}); err != nil {
		return 0, [2]float64{}, err
	}
	x, lw := make([]float64, n), make([]float64, n)
	if _, err := f.Guide(m, bffg.Root{}, z, x, lw); err != nil {
		return 0, [2]float64{}, err
	}
	ones := make([]float64, n)
	sum := 0.0
	for i, v := range x {
		ones[i] = 1
		sum += v
	}
	var g bffg.Gradient
	if err := f.Backward(m, bffg.Root{}, z, x, 0, ones, &g); err != nil {
		return 0, [2]float64{}, err
	}
	return sum, [2]float64{s2 * g.Params[0], t2 * g.NoiseVar}, nil
}

func gradCheck(nb notebooks.NB05) (GradCheck, error) {
	z0 := notebooks.GradCheckNoise()
	at := [2]float64{math.Log(notebooks.NB05Sigma2), math.Log(notebooks.NB05Tau2)}
	_, adj, err := sumStates(nb, at, z0)
	if err != nil {
		return GradCheck{}, err
	}
	c := GradCheck{Adjoint: adj}
	const h = 1e-6
	for i := 0; i < 2; i++ {
		p, m := at, at
		p[i] += h
		m[i] -= h
		sp, _, err := sumStates(nb, p, z0)
		if err != nil {
			return GradCheck{}, err
		}
		sm, _, err := sumStates(nb, m, z0)
		if err != nil {
			return GradCheck{}, err
		}
		c.FiniteDifference[i] = (sp - sm) / (2 * h)
	}
	return c, nil
}

func compute(seed uint64) (*Report, error) {
	nb := notebooks.Notebook05()
	gc, err := gradCheck(nb)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	nuts, err := notebooks.NUTS(ctx, nb, notebooks.RunConfig{Seed: seed})
	if err != nil {
		return nil, err
	}
	if err := nuts.AddAncestral(nb); err != nil {
		return nil, err
	}
	rw, err := notebooks.RWPCN(ctx, nb, notebooks.RunConfig{Seed: seed})
	if err != nil {
		return nil, err
	}
	return &Report{Report: nuts, GradCheck: gc, RWPCN: rw}, nil
}

func run(w io.Writer, asJSON bool, seed uint64, stan string) error {
	r, err := compute(seed)
	if err != nil {
		return err
	}
	if stan != "" {
		if r.Stan, err = compareStan(stan, r); err != nil {
			return err
		}
	}
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	defer printStan(w, r.Stan)
	fmt.Fprintln(w, "gradient of Σ_v x_v (guided pass, z0 = normal(PRNGKey(0), (31,))) at log θ = log(0.5, 0.1):")
	fmt.Fprintf(w, "  adjoint            [%.7f, %.7f]\n", r.GradCheck.Adjoint[0], r.GradCheck.Adjoint[1])
	fmt.Fprintf(w, "  finite difference  [%.7f, %.7f]\n", r.GradCheck.FiniteDifference[0], r.GradCheck.FiniteDifference[1])
	fmt.Fprintln(w, "  notebook (float32) [0.3344605, 0.90956414]")
	fmt.Fprintf(w, "\nNUTS: %.2fs, %d chains × %d draws, mean accept_stat %.3f\n", r.Seconds, r.Chains, r.DrawsPerChain, r.Accept["mean_accept_stat"])
	notebooks.PrintDiagnostics(w, r.Report)
	fmt.Fprintln(w, "\nancestral states (internal nodes; exact = smoothing mixed over the posterior of θ):")
	fmt.Fprintf(w, "%6s %9s %9s %9s %9s %9s %9s\n", "node", "mean", "exact", "MCSE", "sd", "exact sd", "bulk ESS")
	for _, a := range r.Ancestral {
		fmt.Fprintf(w, "%6d %9.4f %9.4f %9.4f %9.4f %9.4f %9.0f\n", a.Node, a.Mean, a.ExactMean, a.MCSE, a.SD, a.ExactSD, a.ESSBulk)
	}
	fmt.Fprintf(w, "\nRW/pCN (notebook 05's sampler, same process): %.2fs, acceptance pCN %.4f, RW %.4f\n",
		r.RWPCN.Seconds, r.RWPCN.Accept["pcn"], r.RWPCN.Accept["rw"])
	notebooks.PrintDiagnostics(w, r.RWPCN)
	fmt.Fprintf(w, "\n%-8s %-8s %12s %12s %12s\n", "sampler", "param", "bulk ESS", "ESS/draw", "ESS/s")
	for _, s := range []*notebooks.Report{r.Report, r.RWPCN} {
		draws := float64(s.Chains * s.DrawsPerChain)
		for i, name := range []string{"log σ²", "log τ²"} {
			fmt.Fprintf(w, "%-8s %-8s %12.0f %12.3f %12.0f\n", s.Sampler, name, s.ESSBulk[i], s.ESSBulk[i]/draws, s.ESSBulk[i]/s.Seconds)
		}
	}
	return nil
}
