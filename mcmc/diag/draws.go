package diag

import (
	"errors"
	"math"
	"slices"

	"gonum.org/v1/gonum/mathext"
)

// Errors returned by Validate and Summarize.
var (
	ErrNoDraws = errors.New("diag: no draws")
	ErrRagged  = errors.New("diag: chains have different lengths")
)

// constTol is posterior's tolerance for constant draws: .Machine$double.eps.
const constTol = 0x1p-52

// Validate reports whether chains is a usable set of draws: at least one
// chain, at least one draw, and all chains of the same length. It does not
// look at the values.
func Validate(chains [][]float64) error {
	if len(chains) == 0 {
		return ErrNoDraws
	}
	n := len(chains[0])
	for _, c := range chains[1:] {
		if len(c) != n {
			return ErrRagged
		}
	}
	if n == 0 {
		return ErrNoDraws
	}
	return nil
}

// dims returns the number of chains and the number of draws per chain. It
// panics if the chains have different lengths.
func dims(chains [][]float64) (m, n int) {
	if len(chains) == 0 {
		return 0, 0
	}
	n = len(chains[0])
	for _, c := range chains[1:] {
		if len(c) != n {
			panic(ErrRagged.Error())
		}
	}
	return len(chains), n
}

// empty reports whether chains holds no draws. It panics if the chains have
// different lengths.
func empty(chains [][]float64) bool {
	m, n := dims(chains)
	return m == 0 || n == 0
}

// split returns the first and second halves of every chain, all first halves
// before all second halves. With an odd number of draws the middle draw is in
// neither half; a chain of one draw is not split. The halves share memory
// with chains.
func split(chains [][]float64) [][]float64 {
	_, n := dims(chains)
	if n <= 1 {
		return chains
	}
	h := n / 2
	s := make([][]float64, 0, 2*len(chains))
	for _, c := range chains {
		s = append(s, c[:h])
	}
	for _, c := range chains {
		s = append(s, c[n-h:])
	}
	return s
}

// apply returns f applied to every draw.
func apply(chains [][]float64, f func(float64) float64) [][]float64 {
	out := make([][]float64, len(chains))
	for j, c := range chains {
		o := make([]float64, len(c))
		for i, v := range c {
			o[i] = f(v)
		}
		out[j] = o
	}
	return out
}

// pooled returns all draws of all chains in one new slice.
func pooled(chains [][]float64) []float64 {
	var n int
	for _, c := range chains {
		n += len(c)
	}
	x := make([]float64, 0, n)
	for _, c := range chains {
		x = append(x, c...)
	}
	return x
}

// hasNaN reports whether any draw is NaN.
func hasNaN(chains [][]float64) bool {
	for _, c := range chains {
		for _, v := range c {
			if math.IsNaN(v) {
				return true
			}
		}
	}
	return false
}

// undefined reports whether posterior would return NA for these draws: some
// draw is not finite, or all draws are equal to within constTol.
func undefined(chains [][]float64) bool {
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, c := range chains {
		for _, v := range c {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return true
			}
			lo = math.Min(lo, v)
			hi = math.Max(hi, v)
		}
	}
	return math.Abs(hi-lo) < constTol
}

// mean returns the arithmetic mean of x, refined by a second pass as R does.
func mean(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	m := s / float64(len(x))
	if math.IsInf(m, 0) || math.IsNaN(m) {
		return m
	}
	var r float64
	for _, v := range x {
		r += v - m
	}
	return m + r/float64(len(x))
}

// variance returns the unbiased sample variance of x about its mean m.
func variance(x []float64, m float64) float64 {
	var s float64
	for _, v := range x {
		d := v - m
		s += d * d
	}
	return s / float64(len(x)-1)
}

// zScale returns the rank-normalised draws: the average ranks r of the pooled
// draws mapped to Φ⁻¹((r − 3/8)/(S + 1/4)) for S draws in all. The draws must
// not contain NaN.
func zScale(chains [][]float64) [][]float64 {
	x := pooled(chains)
	r := ranks(x)
	s := float64(len(x))
	for i, v := range r {
		r[i] = mathext.NormalQuantile((v - 3.0/8) / (s - 2*3.0/8 + 1))
	}
	out := make([][]float64, len(chains))
	for j, c := range chains {
		out[j], r = r[:len(c):len(c)], r[len(c):]
	}
	return out
}

// ranks returns the 1-based ranks of x, ties receiving their average rank.
// x must not contain NaN.
func ranks(x []float64) []float64 {
	type draw struct {
		v float64
		i int
	}
	d := make([]draw, len(x))
	for i, v := range x {
		d[i] = draw{v, i}
	}
	slices.SortFunc(d, func(a, b draw) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	r := make([]float64, len(x))
	for lo := 0; lo < len(d); {
		hi := lo + 1
		for hi < len(d) && d[hi].v == d[lo].v {
			hi++
		}
		// Ranks lo+1, ..., hi share their average.
		avg := float64(lo+1+hi) / 2
		for _, e := range d[lo:hi] {
			r[e.i] = avg
		}
		lo = hi
	}
	return r
}

// quantileSorted returns the type 7 quantile (R's default, linear
// interpolation between order statistics) of the sorted draws x at p in
// [0, 1], with the same floating-point operations as R's quantile.
func quantileSorted(x []float64, p float64) float64 {
	index := 1 + float64(len(x)-1)*p
	lo := math.Floor(index)
	hi := math.Ceil(index)
	q := x[int(lo)-1]
	if index > lo && x[int(hi)-1] != q {
		h := index - lo
		q = (1-h)*q + h*x[int(hi)-1]
	}
	return q
}

// median returns the median of the sorted draws x as R's median does.
func medianSorted(x []float64) float64 {
	n := len(x)
	if n%2 == 1 {
		return x[n/2]
	}
	return (x[n/2-1] + x[n/2]) / 2
}

// Quantile returns the p-quantile of the pooled draws of all chains by linear
// interpolation between order statistics (type 7 in R's quantile, the default
// of R and of posterior). It returns NaN if any draw is NaN or there are no
// draws, and panics if p is outside [0, 1] or the chains have different
// lengths.
func Quantile(chains [][]float64, p float64) float64 {
	checkProb(p)
	if empty(chains) || hasNaN(chains) {
		return math.NaN()
	}
	x := pooled(chains)
	slices.Sort(x)
	return quantileSorted(x, p)
}

func checkProb(p float64) {
	if !(0 <= p && p <= 1) {
		panic("diag: probability out of range [0, 1]")
	}
}
