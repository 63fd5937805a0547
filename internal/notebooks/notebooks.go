// Package notebooks rebuilds the synthetic data of the hyperiax reference notebooks
// bit for bit, from the same JAX PRNG seeds, so that canopy's examples and tests can
// compare against the numbers those notebooks print.
//
// Notebooks 05 and 06 run in float32: their data are float32 values, returned here
// converted (exactly) to float64. Notebook 04 runs in float64 (jax_enable_x64).
package notebooks

import (
	"math"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/internal/jaxrand"
	"github.com/canopy-bffg/canopy/topology"
)

// Truth of notebooks 05/06: Brownian motion with rate Sigma2 on unit edges, leaf noise
// variance Tau2, root fixed at 0.
const (
	NB05Sigma2 = 0.5
	NB05Tau2   = 0.1
	NB05Seed   = 202605
)

// NB05 is the data of notebooks 05 and 06: a symmetric binary tree of depth 4
// (31 nodes, leaves 15..30), node states drawn by Brownian motion from a root at 0,
// and noisy observations of the 16 leaves.
type NB05 struct {
	Tree *topology.Topology
	Z    []float64 // path noise normal(k_path, (31,)); Z[0], the root's, is unused
	Eps  []float64 // observation noise normal(k_obs, (16,))
	X    []float64 // true node states (31)
	Y    []float64 // leaf observations (16), in Tree.Leaf order
}

// Notebook05 regenerates notebook 05's data: k_path, k_obs = split(PRNGKey(202605));
// x_v = x_pa + √σ²·z_v in float32 with the multiply-add fused, as XLA:CPU compiles the
// jitted sweep; y = x_leaf + √τ²·ε rounded after each operation (eager ops).
func Notebook05() NB05 {
	t, err := topology.Symmetric(4, 2)
	if err != nil {
		panic(err) // cannot happen for these constants
	}
	keys := jaxrand.Split(jaxrand.NewKey(NB05Seed), 2)
	z := jaxrand.Normal32(keys[0], t.Len())
	eps := jaxrand.Normal32(keys[1], t.NumLeaves())
	sd := float32(math.Sqrt(NB05Sigma2)) // 0x3F3504F3, as jnp.sqrt(0.5) in float32
	x := make([]float32, t.Len())
	for v := 1; v < t.Len(); v++ {
		x[v] = jaxrand.FMA32(sd, z[v], x[t.Parent(v)])
	}
	noiseSD := float32(math.Sqrt(NB05Tau2)) // 0x3EA1E89B
	y := make([]float64, t.NumLeaves())
	for i := range y {
		// Explicit conversions round each operation, so no compiler may fuse them.
		noise := float32(noiseSD * eps[i])
		y[i] = float64(float32(x[t.Leaf(i)] + noise))
	}
	return NB05{Tree: t, Z: widen(z), Eps: widen(eps), X: widen(x), Y: y}
}

// GradCheckNoise returns z0 = normal(PRNGKey(0), (31,)), the noise of notebook 05's
// potential check and notebook 06's gradient check.
func GradCheckNoise() []float64 { return widen(jaxrand.Normal32(jaxrand.NewKey(0), 31)) }

// TeaserNoise returns the 500 noise vectors of notebook 05's weight checks:
// normal(k, (31,)) for k in split(PRNGKey(1), 500).
func TeaserNoise() [][]float64 {
	keys := jaxrand.Split(jaxrand.NewKey(1), 500)
	z := make([][]float64, len(keys))
	for i, k := range keys {
		z[i] = widen(jaxrand.Normal32(k, 31))
	}
	return z
}

func widen(s []float32) []float64 {
	d := make([]float64, len(s))
	for i, v := range s {
		d[i] = float64(v)
	}
	return d
}

// Truth of notebook 04.
const (
	NB04Sigma2 = 1.0
	NB04Tau2   = 0.08
	NB04Root   = 0.4
	NB04Seed   = 7
	NB04Newick = "(Human:1,Chimpanzee:1,(Gorilla:1,(Orangutan:1,Gibbon:1)AsianApes:1)GreatApes:1," +
		"(Macaque:1,Baboon:1)OldWorldMonkeys:1)Primates;"
)

// NB04 is notebook 04's primate example (float64).
type NB04 struct {
	Tree    *topology.Topology
	Z       []float64 // normal(kp, (11,)); Z[0] unused
	Eps     []float64 // normal(ko, (7,))
	X       []float64 // latent states, root 0.4
	Y       []float64 // observations of the 7 leaves in Tree.Leaf order
	Samples jaxrand.Key
}

// Notebook04 regenerates notebook 04's data: kp, ko, ks = split(PRNGKey(7), 3) in x64
// mode; x_v = x_pa + z_v from the root 0.4; y = x_leaf + √0.08·ε. Samples is ks, the key
// of the notebook's 512 guided samples.
func Notebook04() (NB04, error) {
	t, err := topology.ParseNewick(NB04Newick)
	if err != nil {
		return NB04{}, err
	}
	keys := jaxrand.Split(jaxrand.NewKeyX64(NB04Seed), 3)
	z := jaxrand.Normal64(keys[0], t.Len())
	eps := jaxrand.Normal64(keys[1], t.NumLeaves())
	x := make([]float64, t.Len())
	x[0] = NB04Root
	for v := 1; v < t.Len(); v++ {
		x[v] = x[t.Parent(v)] + z[v] // chol([[1.0]]) = 1, so the product is exact
	}
	s := math.Sqrt(NB04Tau2)
	y := make([]float64, t.NumLeaves())
	for i := range y {
		noise := float64(s * eps[i]) // rounded before the add, as the eager ops do
		y[i] = x[t.Leaf(i)] + noise
	}
	return NB04{Tree: t, Z: z, Eps: eps, X: x, Y: y, Samples: keys[2]}, nil
}

// NB04Posterior holds notebook 04's inference: the flat-prior root posterior from the
// backward filter and the mean and standard deviation (ddof 0, as jnp.std) of every node
// over the notebook's 512 guided samples.
type NB04Posterior struct {
	RootMean, RootSD float64
	Mean, SD         []float64 // per node
}

// Posterior runs notebook 04's inference on its data: the backward filter under the
// true model, the root posterior N(H⁻¹F, H⁻¹), and 512 guided samples with the keys of
// split(ks, 512): per key, kr, kn = split(key); root = mean + sd·normal(kr, (1,));
// z = normal(kn, (11,)).
func (nb NB04) Posterior() (NB04Posterior, error) {
	t := nb.Tree
	var f bffg.Filter
	if err := f.Run(t, bffg.BM{Tree: t, D: 1, Sigma2: NB04Sigma2}, bffg.Obs{Y: nb.Y, Var: NB04Tau2}); err != nil {
		return NB04Posterior{}, err
	}
	mean, cov := make([]float64, 1), make([]float64, 1)
	if err := f.RootPosterior(mean, cov); err != nil {
		return NB04Posterior{}, err
	}
	p := NB04Posterior{RootMean: mean[0], RootSD: math.Sqrt(cov[0])}
	n := t.Len()
	x, lw := make([]float64, n), make([]float64, n)
	sum, sq := make([]float64, n), make([]float64, n)
	keys := jaxrand.Split(nb.Samples, 512)
	for _, k := range keys {
		kk := jaxrand.Split(k, 2)
		r := p.RootMean + p.RootSD*jaxrand.Normal64(kk[0], 1)[0]
		z := jaxrand.Normal64(kk[1], n)
		if _, err := f.Guide(nil, bffg.Root{Mean: []float64{r}}, z, x, lw); err != nil {
			return NB04Posterior{}, err
		}
		for v := range x {
			sum[v] += x[v]
			sq[v] += x[v] * x[v]
		}
	}
	N := float64(len(keys))
	p.Mean, p.SD = make([]float64, n), make([]float64, n)
	for v := range sum {
		p.Mean[v] = sum[v] / N
		p.SD[v] = math.Sqrt(sq[v]/N - p.Mean[v]*p.Mean[v])
	}
	return p, nil
}

// NB05Potential returns the potential of notebooks 05/06 on their data: Brownian motion
// with rate σ² on the tree, leaf noise τ², root fixed at 0, priors log σ², log τ² ~
// N(0, 2²), over q = (log σ², log τ², z_0..z_30) (z_0, the root's, enters only its prior,
// as in the notebook's NumPyro model).
func NB05Potential(nb NB05) *bffg.Potential {
	return &bffg.Potential{
		Tree:          nb.Tree,
		Model:         &bffg.BM{Tree: nb.Tree, D: 1},
		Obs:           bffg.Obs{Y: nb.Y},
		Transforms:    []bffg.Transform{bffg.Log, bffg.Log},
		Priors:        []bffg.Normal{{Mean: 0, SD: 2}, {Mean: 0, SD: 2}},
		EstimateNoise: true,
	}
}
