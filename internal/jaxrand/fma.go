package jaxrand

// FMA32 returns a·b + c rounded once to float32, the fused multiply-add XLA:CPU emits
// for float32 code. Callers use it to replay jitted float32 arithmetic, such as the
// notebooks' forward sweeps.
func FMA32(a, b, c float32) float32 { return fma32(a, b, c) }
