package diag

import (
	"math"
	"slices"
)

// rhat returns the potential scale reduction factor of chains of equal
// length, as they are (posterior's internal .rhat).
func rhat(chains [][]float64) float64 {
	m, n := dims(chains)
	if m == 0 || n == 0 || undefined(chains) {
		return math.NaN()
	}
	means := make([]float64, m)
	var varWithin float64
	for j, c := range chains {
		means[j] = mean(c)
		varWithin += variance(c, means[j])
	}
	varWithin /= float64(m)
	fn := float64(n)
	varBetween := fn * variance(means, mean(means))
	return math.Sqrt((varBetween/varWithin + fn - 1) / fn)
}

// RhatBasic returns the split R̂ of the chains without rank normalisation or
// folding (posterior::rhat_basic with split = TRUE).
func RhatBasic(chains [][]float64) float64 {
	if empty(chains) {
		return math.NaN()
	}
	return rhat(split(chains))
}

// Rhat returns the rank-normalised split R̂ of Vehtari et al. (2021): the
// larger of the bulk R̂, computed from the rank-normalised split chains, and
// the tail R̂, computed from the rank-normalised split chains of the draws
// folded about their pooled median, |x − median| (posterior::rhat). Values
// near 1 (below 1.01, say) are consistent with convergence.
//
// Rhat depends on the draws only through their ranks and those of the folded
// draws, so it is finite for draws with ±Inf. It is NaN for constant draws.
func Rhat(chains [][]float64) float64 {
	if empty(chains) || hasNaN(chains) {
		return math.NaN()
	}
	bulk := rhat(zScale(split(chains)))
	sorted := sortedPooled(chains)
	med := medianSorted(sorted)
	folded := apply(chains, func(v float64) float64 { return math.Abs(v - med) })
	if hasNaN(folded) { // Inf − Inf
		return math.NaN()
	}
	tail := rhat(zScale(split(folded)))
	if math.IsNaN(bulk) || math.IsNaN(tail) {
		return math.NaN()
	}
	return math.Max(bulk, tail)
}

// sortedPooled returns the pooled draws in increasing order.
func sortedPooled(chains [][]float64) []float64 {
	x := pooled(chains)
	slices.Sort(x)
	return x
}
