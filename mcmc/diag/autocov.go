package diag

import (
	"math/bits"

	"gonum.org/v1/gonum/dsp/fourier"
)

// autocov provides the autocovariances of a set of chains of equal length,
// averaged over the chains, computed on demand lag by lag.
//
// The autocovariance of one chain x of length n at lag k is the biased
// estimate (1/n) Σ_{i<n−k} (x_i − x̄)(x_{i+k} − x̄), as in posterior. The
// first lags are summed directly, which is exact and cheap when the Geyer
// sequence stops early; once a lag beyond a threshold is needed, all lags
// are computed with a zero-padded FFT.
type autocov struct {
	yc    [][]float64 // centred chains; nil for a constant chain
	n     int         // draws per chain
	lags  []float64   // mean autocovariance at lags 0, 1, ..., len(lags)−1
	limit int         // lags summed directly before switching to the FFT
}

func newAutocov(chains [][]float64) *autocov {
	_, n := dims(chains)
	a := &autocov{
		yc:    make([][]float64, len(chains)),
		n:     n,
		lags:  make([]float64, 0, 16),
		limit: 8 * bits.Len(uint(n)),
	}
	for j, c := range chains {
		if isConst(c) {
			// posterior returns zero autocovariances for a chain with zero
			// variance.
			continue
		}
		m := mean(c)
		y := make([]float64, n)
		for i, v := range c {
			y[i] = v - m
		}
		a.yc[j] = y
	}
	return a
}

func isConst(x []float64) bool {
	for _, v := range x[1:] {
		if v != x[0] {
			return false
		}
	}
	return true
}

// at returns the mean autocovariance at lag k, 0 ≤ k < n.
func (a *autocov) at(k int) float64 {
	for len(a.lags) <= k {
		if len(a.lags) >= a.limit {
			a.fft()
			break
		}
		a.lags = append(a.lags, a.direct(len(a.lags)))
	}
	return a.lags[k]
}

// direct returns the mean autocovariance at lag k by direct summation.
func (a *autocov) direct(k int) float64 {
	var sum float64
	for _, y := range a.yc {
		if y == nil {
			continue
		}
		var s float64
		for i, v := range y[:a.n-k] {
			s += v * y[i+k]
		}
		sum += s / float64(a.n)
	}
	return sum / float64(len(a.yc))
}

// fft completes a.lags up to lag n−1 using the FFT. Lags already summed
// directly are kept.
func (a *autocov) fft() {
	n := a.n
	size := goodSize(2 * n)
	t := fourier.NewFFT(size)
	seq := make([]float64, size)
	coef := make([]complex128, size/2+1)
	sum := make([]float64, n)
	for _, y := range a.yc {
		if y == nil {
			continue
		}
		copy(seq, y)
		clear(seq[n:])
		t.Coefficients(coef, seq)
		for i, c := range coef {
			coef[i] = complex(real(c)*real(c)+imag(c)*imag(c), 0)
		}
		t.Sequence(seq, coef)
		// Coefficients followed by Sequence scales by size.
		for k := range sum {
			sum[k] += seq[k] / float64(size) / float64(n)
		}
	}
	for k := len(a.lags); k < n; k++ {
		a.lags = append(a.lags, sum[k]/float64(len(a.yc)))
	}
}

// goodSize returns the smallest integer not less than n whose only prime
// factors are 2, 3 and 5.
func goodSize(n int) int {
	best := 1
	for best < n {
		best *= 2
	}
	for p5 := 1; p5 < best; p5 *= 5 {
		for p35 := p5; p35 < best; p35 *= 3 {
			m := p35
			for m < n {
				m *= 2
			}
			best = min(best, m)
		}
	}
	return best
}
