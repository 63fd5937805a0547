package diag

import (
	"math"
	"slices"
)

// Summary holds the usual posterior summary of one scalar quantity, close to
// the default columns of posterior::summarise_draws.
type Summary struct {
	Mean float64 // mean of the pooled draws
	SD   float64 // standard deviation of the pooled draws (divisor S − 1)

	// Quantiles of the pooled draws, type 7 (see Quantile).
	Q5, Q50, Q95 float64

	Rhat     float64 // rank-normalised split R̂ (see Rhat)
	ESSBulk  float64 // bulk effective sample size (see ESSBulk)
	ESSTail  float64 // tail effective sample size (see ESSTail)
	MCSEMean float64 // Monte Carlo standard error of the mean (see MCSEMean)
}

// Summarize returns the Summary of the draws in chains. It returns an error
// if Validate does; undefined statistics are NaN, as documented for each.
func Summarize(chains [][]float64) (Summary, error) {
	if err := Validate(chains); err != nil {
		return Summary{}, err
	}
	x := pooled(chains)
	m := mean(x)
	s := Summary{
		Mean:     m,
		SD:       math.Sqrt(variance(x, m)),
		Rhat:     Rhat(chains),
		ESSBulk:  ESSBulk(chains),
		ESSTail:  ESSTail(chains),
		MCSEMean: MCSEMean(chains),
	}
	if hasNaN(chains) {
		s.Q5, s.Q50, s.Q95 = math.NaN(), math.NaN(), math.NaN()
	} else {
		slices.Sort(x)
		s.Q5 = quantileSorted(x, 0.05)
		s.Q50 = quantileSorted(x, 0.50)
		s.Q95 = quantileSorted(x, 0.95)
	}
	return s, nil
}
