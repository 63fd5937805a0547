package diag

import (
	"math"
)

// ess returns the effective sample size of chains of equal length that have
// already been split and transformed (posterior's internal .ess).
func ess(chains [][]float64) float64 {
	m, n := dims(chains)
	if n < 3 || undefined(chains) {
		return math.NaN()
	}
	fn := float64(n)
	ac := newAutocov(chains)
	meanVar := ac.at(0) * fn / (fn - 1)
	varPlus := meanVar * (fn - 1) / fn
	if m > 1 {
		means := make([]float64, m)
		for j, c := range chains {
			means[j] = mean(c)
		}
		varPlus += variance(means, mean(means))
	}
	rhoAt := func(k int) float64 { return 1 - (meanVar-ac.at(k))/varPlus }

	// Geyer's initial positive sequence: sum autocorrelations in pairs of
	// lags (2k, 2k+1) while the pair sums are positive.
	rho := make([]float64, n)
	rho[0] = 1
	rhoEven, rhoOdd := 1.0, rhoAt(1)
	rho[1] = rhoOdd
	t := 0
	for t < n-5 && rhoEven+rhoOdd > 0 { // false for NaN, as in posterior
		t += 2
		rhoEven, rhoOdd = rhoAt(t), rhoAt(t+1)
		if rhoEven+rhoOdd >= 0 {
			rho[t], rho[t+1] = rhoEven, rhoOdd
		}
	}
	maxT := t
	// The last even-lag autocorrelation, if positive, improves the estimate
	// for antithetic chains.
	if rhoEven > 0 {
		rho[maxT] = rhoEven
	}
	// Geyer's initial monotone sequence.
	for t = 2; t <= maxT-2; t += 2 {
		if rho[t]+rho[t+1] > rho[t-2]+rho[t-1] {
			rho[t] = (rho[t-2] + rho[t-1]) / 2
			rho[t+1] = rho[t]
		}
	}
	var sum float64
	for _, r := range rho[:maxT] {
		sum += r
	}
	if maxT == 0 {
		// posterior sums rho_hat_t[1:max_t], which for max_t = 0 is R's
		// 1:0 = c(1, 0), selecting the lag 0 term.
		sum = rho[0]
	}
	tau := -1 + 2*sum + rho[maxT]
	total := float64(m * n)
	tau = math.Max(tau, 1/math.Log10(total))
	return total / tau
}

// ESSBasic returns the effective sample size of the mean of the split chains,
// without rank normalisation (posterior::ess_basic with split = TRUE). It is
// the same number as ESSMean.
func ESSBasic(chains [][]float64) float64 {
	return ESSMean(chains)
}

// ESSMean returns the effective sample size for estimating the mean: the ESS
// of the split chains (posterior::ess_mean).
func ESSMean(chains [][]float64) float64 {
	if empty(chains) {
		return math.NaN()
	}
	return ess(split(chains))
}

// ESSBulk returns the bulk effective sample size: the ESS of the
// rank-normalised split chains (posterior::ess_bulk). It depends on the
// draws only through their ranks, so it is finite for draws with ±Inf.
func ESSBulk(chains [][]float64) float64 {
	if empty(chains) || hasNaN(chains) {
		return math.NaN()
	}
	return ess(zScale(split(chains)))
}

// ESSTail returns the tail effective sample size: the smaller of the ESS of
// the 5% and the 95% quantiles (posterior::ess_tail). It is NaN if either is.
func ESSTail(chains [][]float64) float64 {
	lo := ESSQuantile(chains, 0.05)
	hi := ESSQuantile(chains, 0.95)
	if math.IsNaN(lo) || math.IsNaN(hi) {
		return math.NaN()
	}
	return math.Min(lo, hi)
}

// ESSQuantile returns the effective sample size for estimating the
// p-quantile: the ESS of the split chains of the indicators x ≤ q, where q is
// the type 7 p-quantile of the pooled draws (posterior::ess_quantile). For
// p = 1, p is taken as (S − ½)/S for S draws in all, as in posterior.
// ESSQuantile panics if p is outside [0, 1].
func ESSQuantile(chains [][]float64, p float64) float64 {
	checkProb(p)
	if empty(chains) || undefined(chains) {
		return math.NaN()
	}
	return essQuantile(chains, p, sortedPooled(chains))
}

// essQuantile is ESSQuantile for valid chains and p, given the sorted pooled
// draws.
func essQuantile(chains [][]float64, p float64, sorted []float64) float64 {
	if p == 1 {
		s := float64(len(sorted))
		p = (s - 0.5) / s
	}
	q := quantileSorted(sorted, p)
	return ess(split(apply(chains, func(v float64) float64 {
		if v <= q {
			return 1
		}
		return 0
	})))
}

// ESSSd returns the effective sample size for estimating the standard
// deviation: the ESS of the split chains of the absolute deviations from the
// pooled mean, |x − x̄| (posterior::ess_sd).
func ESSSd(chains [][]float64) float64 {
	if empty(chains) {
		return math.NaN()
	}
	m := mean(pooled(chains))
	return ess(split(apply(chains, func(v float64) float64 { return math.Abs(v - m) })))
}
