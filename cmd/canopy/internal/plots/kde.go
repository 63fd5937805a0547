package plots

import (
	"math"
	"slices"
)

// gridPoints is the number of points at which Density evaluates the kernel
// density estimate.
const gridPoints = 256

// tailProb is the probability cut from each tail when choosing the range over
// which Density evaluates the kernel density estimate. The 0.1% and 99.9%
// quantiles are only used when there are at least minTailDraws draws; with
// fewer draws the minimum and maximum are used instead.
const (
	tailProb     = 0.001
	minTailDraws = 1000
)

// silverman returns the bandwidth of a Gaussian kernel for the draws by
// Silverman's rule of thumb,
//
//	h = 0.9 · min(s, IQR/1.34) · n^(-1/5),
//
// where s is the sample standard deviation and IQR the interquartile range
// (quantiles as computed by quantile). If the IQR is zero s alone is used.
// sorted must be sorted in increasing order and contain only finite values.
//
// For fewer than two draws, or draws that are all equal, the rule gives zero;
// a small positive fallback proportional to the magnitude of the draws is
// returned instead so that the estimate remains a proper density.
func silverman(sorted []float64) float64 {
	n := len(sorted)
	if n >= 2 {
		s := stdDev(sorted)
		iqr := quantile(sorted, 0.75) - quantile(sorted, 0.25)
		a := s
		if r := iqr / 1.34; r > 0 && r < a {
			a = r
		}
		if h := 0.9 * a * math.Pow(float64(n), -0.2); h > 0 && !math.IsInf(h, 0) {
			return h
		}
	}
	scale := math.Max(math.Abs(sorted[0]), math.Abs(sorted[n-1]))
	if scale == 0 {
		return 1e-3
	}
	return 1e-3 * scale
}

// kdeAt returns the Gaussian kernel density estimate with bandwidth h of the
// draws at x,
//
//	f(x) = 1/(n h) Σ φ((x − xᵢ)/h).
func kdeAt(draws []float64, h, x float64) float64 {
	var sum float64
	for _, xi := range draws {
		z := (x - xi) / h
		sum += math.Exp(-0.5 * z * z)
	}
	return sum / (float64(len(draws)) * h * math.Sqrt(2*math.Pi))
}

// kde returns a Gaussian kernel density estimate of the draws (which must be
// non-empty and finite) with Silverman's bandwidth h, evaluated on gridPoints
// equally spaced points between the tailProb and 1−tailProb quantiles, or
// between the minimum and maximum when there are fewer than minTailDraws
// draws. If that range is empty (all draws equal) it is widened to ±4h.
func kde(draws []float64) (xs, ys []float64, h float64) {
	sorted := slices.Clone(draws)
	slices.Sort(sorted)
	h = silverman(sorted)

	lo, hi := sorted[0], sorted[len(sorted)-1]
	if len(sorted) >= minTailDraws {
		lo = quantile(sorted, tailProb)
		hi = quantile(sorted, 1-tailProb)
	}
	if !(hi > lo) {
		lo, hi = lo-4*h, hi+4*h
	}

	xs = make([]float64, gridPoints)
	ys = make([]float64, gridPoints)
	step := (hi - lo) / (gridPoints - 1)
	for i := range xs {
		x := lo + float64(i)*step
		if i == gridPoints-1 {
			x = hi
		}
		xs[i] = x
		ys[i] = kdeAt(sorted, h, x)
	}
	return xs, ys, h
}

// quantile returns the p-quantile of the non-empty sorted sample by linear
// interpolation between order statistics (Hyndman and Fan's type 7, the
// default of R and NumPy): with k = (n−1)p, the value x₍⌊k⌋₎ plus the fraction
// k−⌊k⌋ of the gap to the next order statistic.
func quantile(sorted []float64, p float64) float64 {
	k := float64(len(sorted)-1) * p
	i := int(math.Floor(k))
	if i >= len(sorted)-1 {
		return sorted[len(sorted)-1]
	}
	if i < 0 {
		return sorted[0]
	}
	return sorted[i] + (k-float64(i))*(sorted[i+1]-sorted[i])
}

// stdDev returns the sample standard deviation (divisor n−1) of x, which
// must have at least two elements. It uses two passes for accuracy.
func stdDev(x []float64) float64 {
	var mean float64
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var ss float64
	for _, v := range x {
		d := v - mean
		ss += d * d
	}
	return math.Sqrt(ss / float64(len(x)-1))
}
