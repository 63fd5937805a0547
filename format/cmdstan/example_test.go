package cmdstan_test

import (
	"bytes"
	"fmt"
	"log"

	"github.com/canopy-bffg/canopy/format/cmdstan"
	"github.com/canopy-bffg/canopy/mcmc"
)

func ExampleNames() {
	names := cmdstan.Names("sigma2")
	names = cmdstan.AppendNames(names, "root", 2)
	names = cmdstan.AppendNames(names, "Sigma", 2, 2)
	fmt.Println(names)
	fmt.Println(cmdstan.CheckNames(names))
	// Output:
	// [sigma2 root.1 root.2 Sigma.1.1 Sigma.2.1 Sigma.1.2 Sigma.2.2]
	// <nil>
}

// ExampleWriter writes a chain draw by draw, as a sampler produces it, and reads
// it back.
func ExampleWriter() {
	cfg := cmdstan.DefaultConfig("bm")
	cfg.NumWarmup, cfg.NumSamples = 100, 3
	cfg.Seed = 42

	var buf bytes.Buffer
	w, err := cmdstan.NewWriter(&buf, cfg, cmdstan.Names("x", 2))
	if err != nil {
		log.Fatal(err)
	}
	metric, err := mcmc.NewDiagMetric([]float64{0.5, 2})
	if err != nil {
		log.Fatal(err)
	}
	if err := w.EndWarmup(mcmc.Params{StepSize: 0.7, Metric: metric}); err != nil {
		log.Fatal(err)
	}
	for i := range 3 {
		info := mcmc.Info{AcceptStat: 0.9, StepSize: 0.7, TreeDepth: 2, NumSteps: 3, Energy: 2.5}
		q := []float64{0.1 * float64(i), -1.0 / 3}
		if err := w.Write(-1.25, info, q); err != nil {
			log.Fatal(err)
		}
		if err := w.Flush(); err != nil { // the file is valid after every draw
			log.Fatal(err)
		}
	}
	if err := w.Finish(1.5, 0.25); err != nil {
		log.Fatal(err)
	}

	f, err := cmdstan.NewReader(&buf).ReadAll()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(f.Columns)
	fmt.Println(f.Sample.Len(), "draws; last:", f.Sample.Draw(f.Sample.Len()-1))
	fmt.Println("step size", f.Adaptation.StepSize, "inverse metric", f.Adaptation.InvMetric)
	fmt.Println("seconds", f.Timing.Warmup, f.Timing.Sampling, f.Timing.Total)
	// Output:
	// [lp__ accept_stat__ stepsize__ treedepth__ n_leapfrog__ divergent__ energy__ x.1 x.2]
	// 3 draws; last: [0.2 -0.3333333333333333]
	// step size 0.7 inverse metric [0.5 2]
	// seconds 1.5 0.25 1.75
}
