package jaxrand

import "math"

// Uniform64 returns jax.random.uniform(k, (n,), float64, lo, hi) with
// jax_enable_x64 set, in the partitionable scheme. Element i is
// max(lo, f*(hi-lo) + lo), where f in [0, 1) holds the top 52 bits of
// Bits64(k, n)[i]. The multiply-add is fused, as XLA:CPU contracts it; for
// [0, 1) and for the range that Normal64 uses both ways agree, and no
// published vector tests other ranges. Uniform64 panics if n is negative.
func Uniform64(k Key, n int, lo, hi float64) []float64 {
	checkN(n)
	out := make([]float64, n)
	for i := range out {
		out[i] = uniform64(word64(k, i), lo, hi)
	}
	return out
}

// Normal64 returns jax.random.normal(k, (n,), float64) with jax_enable_x64
// set, in the partitionable scheme. Normal64 panics if n is negative.
func Normal64(k Key, n int) []float64 {
	checkN(n)
	out := make([]float64, n)
	for i := range out {
		out[i] = normal64(word64(k, i))
	}
	return out
}

// Uniform64Legacy is Uniform64 in the legacy scheme: it maps
// Bits64Legacy(k, n) instead of Bits64(k, n).
func Uniform64Legacy(k Key, n int, lo, hi float64) []float64 {
	w := Bits64Legacy(k, n)
	out := make([]float64, n)
	for i, b := range w {
		out[i] = uniform64(b, lo, hi)
	}
	return out
}

// Normal64Legacy is Normal64 in the legacy scheme: it maps Bits64Legacy(k, n)
// instead of Bits64(k, n).
func Normal64Legacy(k Key, n int) []float64 {
	w := Bits64Legacy(k, n)
	out := make([]float64, n)
	for i, b := range w {
		out[i] = normal64(b)
	}
	return out
}

// uniform64 maps one random word to [lo, hi) as jax.random.uniform does.
func uniform64(b uint64, lo, hi float64) float64 {
	f := math.Float64frombits(b>>12|0x3FF0000000000000) - 1 // [0, 1), step 2^-52
	return max(lo, math.FMA(f, hi-lo, lo))
}

const (
	sqrt2        = 1.4142135623730951  // float64(sqrt(2)), 0x3FF6A09E667F3BCD
	nextAfterM1d = -0.9999999999999999 // -1 + 2^-53, 0xBFEFFFFFFFFFFFFF
)

// normal64 maps one random word to a standard normal variate as
// jax.random.normal does in float64: u is uniform on (-1 + 2^-53, 1) and the
// result is sqrt(2)·erfinv(u).
func normal64(b uint64) float64 {
	u := uniform64(b, nextAfterM1d, 1)
	return float64(sqrt2 * erfinv64(u))
}

// erfinv64 is StableHLO's float64 expansion of chlo.erf_inv, M. Giles'
// double-precision approximation ("Approximating the erfinv function", GPU
// Computing Gems, 2011), evaluated with a fused multiply-add in every Horner
// step and XLA:CPU's log1p (jax-prng.md §10.4).
func erfinv64(x float64) float64 {
	if x == 1 || x == -1 {
		return x * math.Inf(1)
	}
	t := float64(x * -x)
	w := -xlaLog1p64(t)
	var p float64
	switch {
	case w < 6.25:
		s := w - 3.125
		c := [...]float64{
			-3.6444120640178196996e-21, -1.685059138182016589e-19,
			1.2858480715256400167e-18, 1.115787767802518096e-17,
			-1.333171662854620906e-16, 2.0972767875968561637e-17,
			6.6376381343583238325e-15, -4.0545662729752068639e-14,
			-8.1519341976054721522e-14, 2.6335093153082322977e-12,
			-1.2975133253453532498e-11, -5.4154120542946279317e-11,
			1.051212273321532285e-09, -4.1126339803469836976e-09,
			-2.9070369957882005086e-08, 4.2347877827932403518e-07,
			-1.3654692000834678645e-06, -1.3882523362786468719e-05,
			0.0001867342080340571352, -0.00074070253416626697512,
			-0.0060336708714301490533, 0.24015818242558961693,
			1.6536545626831027356,
		}
		p = horner(c[:], s)
	case w < 16:
		s := math.Sqrt(w) - 3.25
		c := [...]float64{
			2.2137376921775787049e-09, 9.0756561938885390979e-08,
			-2.7517406297064545428e-07, 1.8239629214389227755e-08,
			1.5027403968909827627e-06, -4.013867526981545969e-06,
			2.9234449089955446044e-06, 1.2475304481671778723e-05,
			-4.7318229009055733981e-05, 6.8284851459573175448e-05,
			2.4031110387097893999e-05, -0.0003550375203628474796,
			0.00095328937973738049703, -0.0016882755560235047313,
			0.0024914420961078508066, -0.0037512085075692412107,
			0.005370914553590063617, 1.0052589676941592334,
			3.0838856104922207635,
		}
		p = horner(c[:], s)
	default:
		s := math.Sqrt(w) - 5
		c := [...]float64{
			-2.7109920616438573243e-11, -2.5556418169965252055e-10,
			1.5076572693500548083e-09, -3.7894654401267369937e-09,
			7.6157012080783393804e-09, -1.4960026627149240478e-08,
			2.9147953450901080826e-08, -6.7711997758452339498e-08,
			2.2900482228026654717e-07, -9.9298272942317002539e-07,
			4.5260625972231537039e-06, -1.9681778105531670567e-05,
			7.5995277030017761139e-05, -0.00021503011930044477347,
			-0.00013871931833623122026, 1.0103004648645343977,
			4.8499064014085844221,
		}
		p = horner(c[:], s)
	}
	return float64(p * x)
}

// horner evaluates the polynomial with coefficients c, highest degree first,
// at x, rounding once per step.
func horner(c []float64, x float64) float64 {
	p := c[0]
	for _, ci := range c[1:] {
		p = math.FMA(p, x, ci)
	}
	return p
}

// xlaLog1p64 is log(1+t) as XLA:CPU computes it in float64 in JAX 0.10
// (xla/codegen/intrinsic/log1p.cc): a Cephes rational function for
// |t| < sqrt(2)-1, and otherwise a correctly rounded log of the rounded 1+t.
//
// The rational function fits only -0.29289 <= t <= sqrt(2)-1; on the rest of
// the range used here, t in (-0.41421, -0.29289), it is off by up to 129 ulp
// (JAX issue #39707). JAX's results depend on that error, so it is kept.
func xlaLog1p64(t float64) float64 {
	if math.Abs(t) >= 0.41421356237309504880 {
		return logCR(1 + t)
	}
	num := horner([]float64{
		4.5270000862445199635215e-5,
		4.9854102823193375972212e-1,
		6.5787325942061044846969e0,
		2.9911919328553073277375e1,
		6.0949667980987787057556e1,
		5.7112963590585538103336e1,
		2.0039553499201281259648e1,
	}, t)
	den := horner([]float64{
		1.0,
		1.5062909083469192043167e1,
		8.3047565967967209469434e1,
		2.2176239823732856465394e2,
		3.0909872225312059774938e2,
		2.1642788614495947685003e2,
		6.0118660497603843919306e1,
	}, t)
	t2 := float64(t * t)
	q := float64(float64(t*t2) * (num / den))
	return t + math.FMA(-0.5, t2, q)
}
