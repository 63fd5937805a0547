package jaxrand

import (
	"math"
	"math/bits"
)

// Key is a JAX PRNG key: the two uint32 words of jax.random.PRNGKey, in the
// order JAX stores them.
type Key [2]uint32

// NewKey returns jax.random.PRNGKey(seed) in JAX's default 32-bit mode:
// [0, seed mod 2^32]. A negative seed wraps, so NewKey(-1) is [0, 0xffffffff].
func NewKey(seed int64) Key {
	return Key{0, uint32(seed)}
}

// NewKeyX64 returns jax.random.PRNGKey(seed) with jax_enable_x64 set: the seed
// is read as an int64 and the key is [seed>>32 mod 2^32, seed mod 2^32].
// For seeds in [0, 2^31) it equals NewKey(seed).
func NewKeyX64(seed int64) Key {
	return Key{uint32(seed >> 32), uint32(seed)}
}

// Threefry2x32 returns the Threefry-2x32 block function, with 20 rounds, of
// the counter (x0, x1) under key k. It is the primitive beneath every other
// function of the package.
func Threefry2x32(k Key, x0, x1 uint32) (uint32, uint32) {
	// Rotation constants and the key-schedule parity constant of Threefry
	// (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", 2011).
	k0, k1 := k[0], k[1]
	k2 := k0 ^ k1 ^ 0x1BD11BDA

	x0 += k0
	x1 += k1

	x0, x1 = rounds(x0, x1, 13, 15, 26, 6)
	x0 += k1
	x1 += k2 + 1

	x0, x1 = rounds(x0, x1, 17, 29, 16, 24)
	x0 += k2
	x1 += k0 + 2

	x0, x1 = rounds(x0, x1, 13, 15, 26, 6)
	x0 += k0
	x1 += k1 + 3

	x0, x1 = rounds(x0, x1, 17, 29, 16, 24)
	x0 += k1
	x1 += k2 + 4

	x0, x1 = rounds(x0, x1, 13, 15, 26, 6)
	x0 += k2
	x1 += k0 + 5

	return x0, x1
}

// rounds applies four Threefry mix rounds with the rotations r0..r3.
func rounds(x0, x1 uint32, r0, r1, r2, r3 int) (uint32, uint32) {
	x0 += x1
	x1 = bits.RotateLeft32(x1, r0) ^ x0
	x0 += x1
	x1 = bits.RotateLeft32(x1, r1) ^ x0
	x0 += x1
	x1 = bits.RotateLeft32(x1, r2) ^ x0
	x0 += x1
	x1 = bits.RotateLeft32(x1, r3) ^ x0
	return x0, x1
}

// block returns the Threefry block of the partitionable scheme for the flat
// index i, whose counter is (i>>32, i&0xffffffff).
func block(k Key, i int) (uint32, uint32) {
	return Threefry2x32(k, uint32(uint64(i)>>32), uint32(i))
}

// FoldIn returns jax.random.fold_in(k, d), a new key derived from k and the
// data d. It is the same in both schemes.
func FoldIn(k Key, d uint32) Key {
	y0, y1 := Threefry2x32(k, 0, d)
	return Key{y0, y1}
}

// Split returns jax.random.split(k, n) in the partitionable scheme, the JAX
// default since 0.5.0. Key i is FoldIn(k, i) for i < 2^32. Split panics if n
// is negative.
func Split(k Key, n int) []Key {
	checkN(n)
	keys := make([]Key, n)
	for i := range keys {
		y0, y1 := block(k, i)
		keys[i] = Key{y0, y1}
	}
	return keys
}

// Bits32 returns jax.random.bits(k, (n,), uint32) in the partitionable
// scheme: element i is y0 XOR y1 for the Threefry block (y0, y1) of counter
// (i>>32, i&0xffffffff). Bits32 panics if n is negative.
func Bits32(k Key, n int) []uint32 {
	checkN(n)
	out := make([]uint32, n)
	for i := range out {
		out[i] = word32(k, i)
	}
	return out
}

// Bits64 returns jax.random.bits(k, (n,), uint64) in the partitionable
// scheme: element i is y0<<32 | y1 for the Threefry block (y0, y1) of counter
// (i>>32, i&0xffffffff). Bits64 panics if n is negative.
func Bits64(k Key, n int) []uint64 {
	checkN(n)
	out := make([]uint64, n)
	for i := range out {
		out[i] = word64(k, i)
	}
	return out
}

// word32 returns element i of Bits32(k, ·).
func word32(k Key, i int) uint32 {
	y0, y1 := block(k, i)
	return y0 ^ y1
}

// word64 returns element i of Bits64(k, ·).
func word64(k Key, i int) uint64 {
	y0, y1 := block(k, i)
	return uint64(y0)<<32 | uint64(y1)
}

// SplitLegacy returns jax.random.split(k, n) in the legacy scheme of JAX
// 0.4.x and earlier (jax_threefry_partitionable=False): the flat hash of the
// counters 0..2n-1, read as n pairs. SplitLegacy panics if n is negative or
// 2n >= 2^32-1, where JAX switches to another counter layout.
func SplitLegacy(k Key, n int) []Key {
	checkLegacyN(n, 2)
	w := hashCounters(k, 2*n)
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = Key{w[2*i], w[2*i+1]}
	}
	return keys
}

// Bits32Legacy returns jax.random.bits(k, (n,), uint32) in the legacy scheme:
// the flat hash of the counters 0..n-1. It panics if n is negative or
// n >= 2^32-1.
func Bits32Legacy(k Key, n int) []uint32 {
	checkLegacyN(n, 1)
	return hashCounters(k, n)
}

// Bits64Legacy returns jax.random.bits(k, (n,), uint64) in the legacy scheme:
// element i is y0<<32 | y1 for the Threefry block (y0, y1) of counter
// (i, n+i), which is how the flat hash of the counters 0..2n-1 pairs its
// words. It panics if n is negative or 2n >= 2^32-1.
func Bits64Legacy(k Key, n int) []uint64 {
	checkLegacyN(n, 2)
	out := make([]uint64, n)
	for i := range out {
		y0, y1 := Threefry2x32(k, uint32(i), uint32(n+i))
		out[i] = uint64(y0)<<32 | uint64(y1)
	}
	return out
}

// hashCounters is the legacy flat hash of the n counters 0..n-1. An odd n is
// padded with one counter 0. With m pairs, block j hashes the counters
// (c[j], c[m+j]); the output is the first words of all blocks followed by the
// second words, cut back to n words.
func hashCounters(k Key, n int) []uint32 {
	m := (n + 1) / 2
	out := make([]uint32, 2*m)
	for j := 0; j < m; j++ {
		c1 := uint32(m + j)
		if m+j == n { // the padding counter
			c1 = 0
		}
		out[j], out[m+j] = Threefry2x32(k, uint32(j), c1)
	}
	return out[:n]
}

func checkN(n int) {
	if n < 0 {
		panic("jaxrand: negative n")
	}
}

// checkLegacyN panics unless 0 <= n and the words*n counters of a legacy
// draw stay below 2^32-1, the size from which JAX splits the key into blocks.
func checkLegacyN(n, words int) {
	checkN(n)
	if uint64(n)*uint64(words) >= math.MaxUint32 {
		panic("jaxrand: n too large for the legacy scheme")
	}
}
