// Package jaxrand re-implements, bit for bit, the default pseudo-random
// number generator of JAX (threefry2x32), so that canopy's example programs
// can regenerate the exact synthetic data of published JAX notebooks.
//
// canopy's own sampling does not use this package: library code draws its
// randomness from a caller-supplied math/rand/v2 Source. jaxrand exists only
// to reproduce numbers printed by JAX programs (the hyperiax notebooks 04, 05
// and 06) and is internal for that reason.
//
// The specification, with every known-answer vector the tests check, is the
// design note jax-prng.md ("JAX's default PRNG (threefry2x32), implemented
// outside JAX").
//
// # Keys and schemes
//
// A [Key] is a pair of uint32 words, as returned by jax.random.PRNGKey.
// [NewKey] builds the key of JAX's default 32-bit mode and [NewKeyX64] the key
// of jax_enable_x64 mode; they agree for seeds in [0, 2^31).
//
// JAX has two ways of turning a key into bits. The "partitionable" scheme
// (jax_threefry_partitionable=True) has been the default since JAX 0.5.0:
// element i of an output is derived from the Threefry block with counter
// (i>>32, i&0xffffffff). The functions without a suffix ([Split], [Bits32],
// [Normal32], ...) implement it. The older scheme of JAX 0.4.x and earlier is
// available through the functions with a Legacy suffix ([SplitLegacy],
// [Bits32Legacy], [Normal32Legacy], ...). [FoldIn] is the same in both.
//
// Array shapes are flattened in row-major order: a draw of shape (31, 1) is
// requested with n = 31, and n = 1 gives the scalar draw.
//
// # Precision
//
// The functions ending in 32 reproduce JAX's default float32 results and the
// functions ending in 64 the float64 results of jax_enable_x64 mode; for the
// same key the two streams are unrelated. The normal variates use XLA's
// expansions of erf_inv (M. Giles' approximations) evaluated with fused
// multiply-adds, as XLA:CPU does, and XLA:CPU's log1p, including the range bug
// of JAX 0.10 in float64 (JAX issue #39707). Results match a JAX CPU backend;
// GPU and TPU backends use other code paths and may differ in the last bits.
// In float32 a correctly rounded log1p is used, which can differ from a given
// XLA build in the last bit of rare draws.
//
// # Invariants
//
// Every function is a pure function of its arguments: there is no hidden or
// global state, and the returned slices are newly allocated and owned by the
// caller. Functions panic, with messages starting with "jaxrand: ", for a
// negative n, and the legacy functions for an n beyond the range they cover.
//
// See the package Example for the keys and draws of hyperiax notebook 05.
package jaxrand
