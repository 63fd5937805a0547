package diag

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// MCSEMean returns the Monte Carlo standard error of the mean: the standard
// deviation of the pooled draws divided by √ESSMean (posterior::mcse_mean).
func MCSEMean(chains [][]float64) float64 {
	if empty(chains) {
		return math.NaN()
	}
	x := pooled(chains)
	return math.Sqrt(variance(x, mean(x))) / math.Sqrt(ESSMean(chains))
}

// MCSESd returns the Monte Carlo standard error of the standard deviation,
// as posterior::mcse_sd in posterior 1.2.2 to 1.4.x: with centred draws
// d = x − x̄ and v = mean(d²), the delta method gives
//
//	MCSE = √( (mean(d⁴) − v²) / ESS(d²) / (4v) ),
//
// where ESS(d²) is ESSMean of the squared centred draws. It assumes no
// particular distribution of the draws. (posterior before 1.2.2 assumed
// normal draws; versions after 1.4.x may differ again.)
func MCSESd(chains [][]float64) float64 {
	if empty(chains) {
		return math.NaN()
	}
	x := pooled(chains)
	m := mean(x)
	sq := apply(chains, func(v float64) float64 { d := v - m; return d * d })
	essSq := ess(split(sq))
	d2 := pooled(sq)
	v := mean(d2)
	for i, d := range d2 {
		d2[i] = d * d
	}
	varvar := (mean(d2) - v*v) / essSq
	return math.Sqrt(varvar / v / 4)
}

// Normal probabilities of ±1 standard deviation, as in posterior.
const (
	pLower = 0.1586553
	pUpper = 0.8413447
)

// MCSEQuantile returns the Monte Carlo standard error of the type 7
// p-quantile of the pooled draws (posterior::mcse_quantile). With ESS the
// ESSQuantile at p and S pooled draws sorted as x₍₁₎ ≤ … ≤ x₍S₎, let a and b
// be the 0.1586553 and 0.8413447 quantiles of a Beta(ESS·p + 1,
// ESS·(1 − p) + 1) distribution; the MCSE is (x₍⌈bS⌉₎ − x₍⌊aS⌋₎)/2, the
// indices clamped to [1, S]. MCSEQuantile panics if p is outside [0, 1].
func MCSEQuantile(chains [][]float64, p float64) float64 {
	checkProb(p)
	if empty(chains) || undefined(chains) {
		return math.NaN()
	}
	sorted := sortedPooled(chains)
	n := essQuantile(chains, p, sorted)
	if math.IsNaN(n) {
		return math.NaN()
	}
	alpha, beta := n*p+1, n*(1-p)+1
	s := float64(len(sorted))
	lo := int(math.Max(math.Floor(mathext.InvRegIncBeta(alpha, beta, pLower)*s), 1))
	hi := int(math.Min(math.Ceil(mathext.InvRegIncBeta(alpha, beta, pUpper)*s), s))
	return (sorted[hi-1] - sorted[lo-1]) / 2
}
