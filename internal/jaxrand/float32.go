package jaxrand

import "math"

// Uniform32 returns jax.random.uniform(k, (n,), float32, lo, hi) in the
// partitionable scheme. Element i is max(lo, f*(hi-lo) + lo), where f in
// [0, 1) holds the top 23 bits of Bits32(k, n)[i]. The multiply-add is
// fused, as XLA:CPU contracts it; for [0, 1) and for the range that Normal32
// uses both ways agree, and no published vector tests other ranges.
// Uniform32 panics if n is negative.
func Uniform32(k Key, n int, lo, hi float32) []float32 {
	checkN(n)
	out := make([]float32, n)
	for i := range out {
		out[i] = uniform32(word32(k, i), lo, hi)
	}
	return out
}

// Normal32 returns jax.random.normal(k, (n,), float32) in the partitionable
// scheme, JAX's default. Normal32 panics if n is negative.
func Normal32(k Key, n int) []float32 {
	checkN(n)
	out := make([]float32, n)
	for i := range out {
		out[i] = normal32(word32(k, i))
	}
	return out
}

// Uniform32Legacy is Uniform32 in the legacy scheme: it maps
// Bits32Legacy(k, n) instead of Bits32(k, n).
func Uniform32Legacy(k Key, n int, lo, hi float32) []float32 {
	w := Bits32Legacy(k, n)
	out := make([]float32, n)
	for i, b := range w {
		out[i] = uniform32(b, lo, hi)
	}
	return out
}

// Normal32Legacy is Normal32 in the legacy scheme: it maps Bits32Legacy(k, n)
// instead of Bits32(k, n).
func Normal32Legacy(k Key, n int) []float32 {
	w := Bits32Legacy(k, n)
	out := make([]float32, n)
	for i, b := range w {
		out[i] = normal32(b)
	}
	return out
}

// uniform32 maps one random word to [lo, hi) as jax.random.uniform does.
func uniform32(b uint32, lo, hi float32) float32 {
	f := math.Float32frombits(b>>9|0x3F800000) - 1 // [0, 1), step 2^-23
	return max(lo, fma32(f, hi-lo, lo))
}

const (
	sqrt2f32     = 1.4142135   // float32(sqrt(2)), 0x3FB504F3
	nextAfterM1f = -0.99999994 // nextafter(-1, 0) in float32, 0xBF7FFFFF
)

// normal32 maps one random word to a standard normal variate as
// jax.random.normal does in float32: u is uniform on (nextafter(-1, 0), 1) and
// the result is sqrt(2)·erfinv(u).
func normal32(b uint32) float32 {
	u := uniform32(b, nextAfterM1f, 1)
	return float32(sqrt2f32 * erfinv32(u))
}

// erfinv32Coeffs returns M. Giles' single-precision erfinv coefficients as
// StableHLO expands chlo.erf_inv for float32, highest degree first: small for
// w < 5, large for w >= 5 (jax-prng.md §5; bits in §9).
func erfinv32Coeffs() (small, large [9]float32) {
	small = [9]float32{
		2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06,
		0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941,
	}
	large = [9]float32{
		-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844,
		0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682,
	}
	return small, large
}

// erfinv32 is XLA's float32 erf_inv: Giles' approximation with a fused
// multiply-add in every Horner step and a correctly rounded log1p.
func erfinv32(x float32) float32 {
	if x == 1 || x == -1 {
		return x * float32(math.Inf(1))
	}
	small, large := erfinv32Coeffs()
	t := float32(x * -x)
	w := -float32(math.Log1p(float64(t)))
	c := &small
	if w < 5 {
		w -= 2.5
	} else {
		w = float32(math.Sqrt(float64(w))) - 3
		c = &large
	}
	p := c[0]
	for _, ci := range c[1:] {
		p = fma32(p, w, ci)
	}
	return float32(p * x)
}

// fma32 returns a*b + c rounded once to float32.
//
// The product of two float32 values is exact in float64, so only the sum s
// is rounded there. Rounding s again to float32 gives the correct result
// unless s lies exactly halfway between two float32 values; in that case s
// is rounded to odd instead (made inexact in the direction of its rounding
// error), after which the rounding to float32 is correct (Boldo and
// Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms
// using rounding to odd", 2008).
func fma32(a, b, c float32) float32 {
	p := float64(float64(a) * float64(b)) // exact
	cc := float64(c)
	s := p + cc
	const low = 1<<29 - 1 // the float64 fraction bits below a float32 ulp
	if math.Float64bits(s)&low != 1<<28 && math.Abs(s) >= 0x1p-126 {
		return float32(s) // not a midpoint between normal float32 values
	}
	// TwoSum: e is the exact error of s.
	bb := s - p
	e := (p - (s - bb)) + (cc - bb)
	if e != 0 && math.Float64bits(s)&1 == 0 {
		s = math.Nextafter(s, math.Copysign(math.Inf(1), e))
	}
	return float32(s)
}
