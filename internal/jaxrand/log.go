package jaxrand

import (
	"math"
	"math/big"
)

// This file holds a correctly rounded natural logarithm. XLA:CPU takes the
// log(1+t) branch of its float64 log1p from the C library, whose log is
// correctly rounded on nearly every input; Go's math.Log is off by one ulp on
// about 8% of the arguments that occur, which changes about 0.5% of normal
// variates (jax-prng.md §10.5).
//
// logCR follows Ziv's strategy: a double-double evaluation whose relative
// error stays below 2^-100 is rounded once, unless the result lies so close
// to a rounding boundary that the error could matter; then, which for a
// random argument happens with probability about 2^-42, math/big settles it.

// ln2Hi + ln2Lo is ln 2 to about 107 bits; ln2Hi is float64(math.Ln2).
const (
	ln2Hi = 0x1.62e42fefa39efp-1
	ln2Lo = math.Ln2 - ln2Hi // untyped constant arithmetic is exact
)

// logErr bounds the relative error of logDD with a wide margin: the largest
// error measured is about 2^-104, and TestLogDD fails above 2^-100.
const logErr = 0x1p-95

// logCR returns the natural logarithm of x rounded to nearest (ties cannot
// occur). Zero, negative, infinite and NaN arguments are handed to math.Log,
// whose results for them are exact.
func logCR(x float64) float64 {
	if !(x > 0) || x > math.MaxFloat64 {
		return math.Log(x)
	}
	h, l := logDD(x)
	e := logErr * math.Abs(h)
	if lo, hi := h+(l-e), h+(l+e); lo == hi {
		return lo // every value within the error bound rounds to it
	}
	return logBig(x)
}

// logDD returns log(x) as a double-double h + l, for positive finite x.
func logDD(x float64) (h, l float64) {
	// x = m·2^k with m in [sqrt(1/2), sqrt(2)).
	m, k := math.Frexp(x) // m in [1/2, 1)
	if m < math.Sqrt2/2 {
		m *= 2
		k--
	}

	// s = (m-1)/(m+1) in double-double; log(m) = 2·atanh(s), |s| <= 0.1716.
	num := m - 1 // exact (Sterbenz)
	dh, dl := twoSum(m, 1)
	sh := num / dh
	r := math.FMA(-sh, dh, num) // exact remainder num - sh·dh
	sl := (r - sh*dl) / dh
	sh, sl = fastTwoSum(sh, sl)

	// z = s², at most 0.0295.
	zh, zl := twoProd(sh, sh)
	zl += 2 * sh * sl
	zh, zl = fastTwoSum(zh, zl)

	// atanh(s)/s = Σ z^j/(2j+1). Scaled by L = lcm(1, 3, ..., 21) the
	// coefficients of j <= 10 are integers, exact in float64, and are summed
	// in double-double. For j >= 11 the terms are below 2^-56 of the sum, so
	// plain float64 suffices; j <= 22 leaves a truncation error below 2^-115.
	const L = 14549535
	tail := [...]float64{
		L / 45., L / 43., L / 41., L / 39., L / 37., L / 35.,
		L / 33., L / 31., L / 29., L / 27., L / 25., L / 23.,
	}
	head := [...]float64{
		L / 21, L / 19, L / 17, L / 15, L / 13, L / 11,
		L / 9, L / 7, L / 5, L / 3, L / 1,
	}
	ph := 0.0
	for _, c := range tail {
		ph = ph*zh + c
	}
	pl := 0.0
	for _, c := range head {
		ph, pl = ddMul(ph, pl, zh, zl)
		ph, pl = ddAddF(ph, pl, c)
	}

	// log(m) = 2·s·Σ / L.
	ph, pl = ddMul(ph, pl, sh, sl)
	ph, pl = ddDivF(2*ph, 2*pl, L)

	// log(x) = k·ln2 + log(m).
	fk := float64(k)
	kh, kl := twoProd(fk, ln2Hi)
	kl += fk * ln2Lo
	return ddAdd(kh, kl, ph, pl)
}

// logBig returns log(x) rounded to nearest for positive finite x, from a
// 256-bit evaluation of k·ln2 + 2·atanh((m-1)/(m+1)). Exhaustive searches
// (Lefèvre and Muller) found that the logarithm of a float64 other than 1
// needs only about 120 bits to be rounded correctly, so 256 bits suffice.
func logBig(x float64) float64 {
	const prec = 256
	m, k := math.Frexp(x)
	if m < math.Sqrt2/2 {
		m *= 2
		k--
	}
	num := new(big.Float).SetPrec(prec).SetFloat64(m - 1) // exact
	den := new(big.Float).SetPrec(prec).SetFloat64(m)
	den.Add(den, big.NewFloat(1))
	r := atanhBig(num.Quo(num, den), prec)
	third := new(big.Float).SetPrec(prec).SetInt64(1)
	third.Quo(third, big.NewFloat(3))
	ln2 := atanhBig(third, prec) // ln 2 = 2·atanh(1/3)
	ln2.Mul(ln2, big.NewFloat(float64(k)))
	r.Add(r, ln2)
	r.Mul(r, big.NewFloat(2))
	f, _ := r.Float64()
	return f
}

// atanhBig returns atanh(s) = Σ s^(2j+1)/(2j+1) for |s| <= 1/3, to about
// prec bits.
func atanhBig(s *big.Float, prec uint) *big.Float {
	sum := new(big.Float).SetPrec(prec).Set(s)
	s2 := new(big.Float).SetPrec(prec).Mul(s, s)
	pow := new(big.Float).SetPrec(prec).Set(s)
	term := new(big.Float).SetPrec(prec)
	d := new(big.Float).SetPrec(prec)
	for j := int64(1); ; j++ {
		pow.Mul(pow, s2)
		term.Quo(pow, d.SetInt64(2*j+1))
		if term.Sign() == 0 || term.MantExp(nil)-sum.MantExp(nil) < -int(prec)-8 {
			return sum
		}
		sum.Add(sum, term)
	}
}

// twoSum returns s = fl(a+b) and the exact error e = a + b - s.
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	e = (a - (s - bb)) + (b - bb)
	return s, e
}

// fastTwoSum is twoSum for |a| >= |b| (or a == 0).
func fastTwoSum(a, b float64) (s, e float64) {
	s = a + b
	e = b - (s - a)
	return s, e
}

// twoProd returns p = fl(a·b) and the exact error e = a·b - p.
func twoProd(a, b float64) (p, e float64) {
	p = float64(a * b) // the conversion keeps p from being fused by the caller
	e = math.FMA(a, b, -p)
	return p, e
}

// ddMul returns the double-double product (ah+al)·(bh+bl).
func ddMul(ah, al, bh, bl float64) (float64, float64) {
	p, e := twoProd(ah, bh)
	e += ah*bl + al*bh
	return fastTwoSum(p, e)
}

// ddAddF returns the double-double sum (ah+al) + b.
func ddAddF(ah, al, b float64) (float64, float64) {
	s, e := twoSum(ah, b)
	e += al
	return fastTwoSum(s, e)
}

// ddAdd returns the double-double sum (ah+al) + (bh+bl).
func ddAdd(ah, al, bh, bl float64) (float64, float64) {
	s, e := twoSum(ah, bh)
	t, f := twoSum(al, bl)
	e += t
	s, e = fastTwoSum(s, e)
	e += f
	return fastTwoSum(s, e)
}

// ddDivF returns the double-double quotient (ah+al)/b.
func ddDivF(ah, al, b float64) (float64, float64) {
	q := ah / b
	r := math.FMA(-q, b, ah) // exact remainder ah - q·b
	return fastTwoSum(q, (r+al)/b)
}
