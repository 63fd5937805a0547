package diag_test

import (
	"fmt"
	"log"

	"github.com/canopy-bffg/canopy/mcmc/diag"
)

func ExampleSummarize() {
	// Four chains of 1000 draws of the autoregressive process
	// x_i = 0.5 x_{i−1} + u_i, with u_i uniform on (−1, 1) from a small
	// deterministic generator.
	state := uint64(1)
	uniform := func() float64 {
		state = state*6364136223846793005 + 1442695040888963407
		return float64(state>>11) / (1 << 53)
	}
	chains := make([][]float64, 4)
	for j := range chains {
		x := 0.0
		for range 1000 {
			x = 0.5*x + 2*uniform() - 1
			chains[j] = append(chains[j], x)
		}
	}

	s, err := diag.Summarize(chains)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("mean %.3f, sd %.3f\n", s.Mean, s.SD)
	fmt.Printf("quantiles 5%% %.3f, 50%% %.3f, 95%% %.3f\n", s.Q5, s.Q50, s.Q95)
	fmt.Printf("R̂ %.3f, bulk ESS %.0f, tail ESS %.0f, MCSE of mean %.4f\n",
		s.Rhat, s.ESSBulk, s.ESSTail, s.MCSEMean)

	// Output:
	// mean 0.010, sd 0.658
	// quantiles 5% -1.058, 50% 0.012, 95% 1.079
	// R̂ 1.001, bulk ESS 1496, tail ESS 2334, MCSE of mean 0.0168
}

func ExampleEBFMI() {
	energy := []float64{1, 2, 4, 1}
	fmt.Printf("%.4f\n", diag.EBFMI(energy))

	// Output:
	// 2.3333
}
