package jaxrand_test

import (
	"fmt"

	"github.com/canopy-bffg/canopy/internal/jaxrand"
)

// Example regenerates the first draws of hyperiax notebook 05, which runs
// k_path, k_obs = jax.random.split(jax.random.PRNGKey(202605)) and draws
// the path noise z = jax.random.normal(k_path, (31, 1)) and the observation
// noise eps = jax.random.normal(k_obs, (16, 1)) in float32.
func Example() {
	keys := jaxrand.Split(jaxrand.NewKey(202605), 2)
	kPath, kObs := keys[0], keys[1]
	z := jaxrand.Normal32(kPath, 31)
	eps := jaxrand.Normal32(kObs, 16)
	fmt.Println("k_path:", kPath, "k_obs:", kObs)
	fmt.Println("z[:4]:  ", z[:4])
	fmt.Println("eps[:4]:", eps[:4])
	// Output:
	// k_path: [312824529 157373597] k_obs: [1142685175 3404909736]
	// z[:4]:   [-1.2774944 -2.72812 -0.30319944 -1.2306509]
	// eps[:4]: [-0.5129927 -0.31877232 -1.9722761 1.6964393]
}

// ExampleNormal64 regenerates the latent noise of hyperiax notebook 04,
// which sets jax_enable_x64 and runs kp, ko, ks = split(PRNGKey(7), 3) and
// z = normal(kp, (11, 1)) in float64.
func ExampleNormal64() {
	keys := jaxrand.Split(jaxrand.NewKeyX64(7), 3)
	z := jaxrand.Normal64(keys[0], 11)
	for _, v := range z[:3] {
		fmt.Println(v)
	}
	// Output:
	// 0.35160447220202895
	// -1.1542001731480933
	// -0.04618345047903788
}
