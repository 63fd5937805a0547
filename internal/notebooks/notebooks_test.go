package notebooks

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/internal/gridpost"
)

func bits32(t *testing.T, hex []uint32, got []float64) {
	t.Helper()
	require.Len(t, got, len(hex))
	for i, h := range hex {
		require.Equal(t, h, math.Float32bits(float32(got[i])), "element %d: %v", i, got[i])
		require.Equal(t, got[i], float64(float32(got[i])), "element %d is not a float32 value", i)
	}
}

// The leaf observations equal notebook 05's (jax-prng.md §8, FMA variant) bit for bit;
// the first four are the ones the notebook prints.
func TestNotebook05Data(t *testing.T) {
	nb := Notebook05()
	bits32(t, []uint32{0xc04ed68f, 0xbfe35253, 0xc046c682, 0xbfe9b6ba, 0xbfbdd08b, 0x3f22767f,
		0xbfd78a34, 0xbfcff16a, 0xbf153d80, 0xbef31dcc, 0xbf89a4c9, 0x3e9ce360, 0xbece7142,
		0xbf4db794, 0xbe586a84, 0x3f102819}, nb.Y)
	require.Equal(t, []float32{-3.2318456, -1.7759498, -3.105866, -1.8258889},
		[]float32{float32(nb.Y[0]), float32(nb.Y[1]), float32(nb.Y[2]), float32(nb.Y[3])})
	require.Equal(t, float32(-1.2774944), float32(nb.Z[0]))
	require.Equal(t, float32(-0.5129927), float32(nb.Eps[0]))
	require.Equal(t, float32(0.30919734), float32(nb.X[30]))
	z0 := GradCheckNoise()
	require.Equal(t, float32(1.6226422), float32(z0[0]))
	require.Equal(t, float32(-1.5388287), float32(z0[30]))
}

func nb05Filter(t *testing.T, nb NB05, sigma2, tau2 float64) *bffg.Filter {
	var f bffg.Filter
	require.NoError(t, f.Run(nb.Tree, bffg.BM{Tree: nb.Tree, D: 1, Sigma2: sigma2}, bffg.Obs{Y: nb.Y, Var: tau2}))
	return &f
}

// The filter at the truth reproduces the notebook's printed H_root, F_root, the
// closed-form log-likelihood −24.4213 and the potential U(θ_true, z0) = 76.9254.
func TestNotebook05Filter(t *testing.T) {
	nb := Notebook05()
	f := nb05Filter(t, nb, NB05Sigma2, NB05Tau2)
	H, F := make([]float64, 1), make([]float64, 1)
	f.Message(0, H, F)
	require.InDelta(t, 2.1052632, H[0], 5e-8)
	require.InDelta(t, -2.2076400, F[0], 5e-7)
	ll, err := f.LogLikelihood(bffg.Root{})
	require.NoError(t, err)
	require.InDelta(t, -24.421315, ll, 5e-7)
	closed, err := bffg.MarginalBM(nb.Tree, NB05Sigma2, nil, bffg.Obs{Y: nb.Y, Var: NB05Tau2}, bffg.Root{})
	require.NoError(t, err)
	require.InDelta(t, closed, ll, 1e-12)

	// U = −[log N(log σ²; 0, 2²) + log N(log τ²; 0, 2²) + log N(z0; 0, I₃₁) + log p(y|θ) + Σ log w].
	z0 := GradCheckNoise()
	n := nb.Tree.Len()
	x, lw := make([]float64, n), make([]float64, n)
	m := bffg.BM{Tree: nb.Tree, D: 1, Sigma2: NB05Sigma2}
	sumw, err := f.Guide(m, bffg.Root{}, z0, x, lw)
	require.NoError(t, err)
	require.Equal(t, 0.0, sumw)
	logN := func(x, sd float64) float64 { return -0.5*math.Log(2*math.Pi*sd*sd) - 0.5*x*x/(sd*sd) }
	U := -(logN(math.Log(NB05Sigma2), 2) + logN(math.Log(NB05Tau2), 2) + ll + sumw)
	for _, z := range z0 {
		U -= logN(z, 1)
	}
	require.InDelta(t, 76.9254, U, 5e-5)
}

// Notebook 05's teaser: over the 500 draws of split(PRNGKey(1), 500), proxy = truth gives
// Σ log w = 0 exactly, and the nonlinear true covariance σ²(1 + 0.3x²) gives a standard
// deviation of Σ log w of 0.782 as printed (our float64 evaluation on the float32 noise:
// 0.7824, mean −0.988, hyperiax-reference.md §3).
func TestNotebook05Teaser(t *testing.T) {
	nb := Notebook05()
	f := nb05Filter(t, nb, NB05Sigma2, NB05Tau2)
	n := nb.Tree.Len()
	x, lw := make([]float64, n), make([]float64, n)
	bm := bffg.BM{Tree: nb.Tree, D: 1, Sigma2: NB05Sigma2}
	nonlinear := bffg.KernelFunc(func(v int, xp, mean, cov []float64) {
		mean[0] = xp[0]
		cov[0] = NB05Sigma2 * nb.Tree.BranchLength(v) * (1 + 0.3*xp[0]*xp[0])
	})
	var sums []float64
	for _, z := range TeaserNoise() {
		s, err := f.Guide(bm, bffg.Root{}, z, x, lw)
		require.NoError(t, err)
		require.Equal(t, 0.0, s)
		s, err = f.Guide(nonlinear, bffg.Root{}, z, x, lw)
		require.NoError(t, err)
		sums = append(sums, s)
	}
	mean, sd := 0.0, 0.0
	for _, s := range sums {
		mean += s
	}
	mean /= float64(len(sums))
	for _, s := range sums {
		sd += (s - mean) * (s - mean)
	}
	sd = math.Sqrt(sd / float64(len(sums))) // jnp.std: ddof = 0
	require.InDelta(t, 0.782, sd, 0.0005, "printed 7.82e-01")
	require.InDelta(t, -0.988, mean, 0.0005)
}

// The analytic grid on the regenerated data reproduces the notebook's printed table.
func TestNotebook05Grid(t *testing.T) {
	nb := Notebook05()
	m, err := gridpost.New(nb.Tree.MRCAKernel(nil), nb.Y, nil)
	require.NoError(t, err)
	box, err := m.NotebookTable()
	require.NoError(t, err)
	r4 := func(x float64) float64 { return math.Round(x*1e4) / 1e4 }
	require.Equal(t, []float64{0.4669, 0.4136, 0.1364, 1.0678, 0.3721, 0.2584, 0.0166, 1.3592},
		[]float64{r4(box.SigmaSq.Mean), r4(box.SigmaSq.Median), r4(box.SigmaSq.Q025), r4(box.SigmaSq.Q975),
			r4(box.TauSq.Mean), r4(box.TauSq.Median), r4(box.TauSq.Q025), r4(box.TauSq.Q975)})
}

// Notebook 04 (x64): the printed latent/observed table, the backward filter's root
// message, the flat-prior root posterior (printed 0.094, 0.567), and the summaries of
// the notebook's 512 guided samples (hyperiax-reference.md §3 NB04, jax-prng.md §10.7).
func TestNotebook04(t *testing.T) {
	nb, err := Notebook04()
	require.NoError(t, err)
	names := []string{"Human", "Chimpanzee", "Gorilla", "Macaque", "Baboon", "Orangutan", "Gibbon"}
	latent := []float64{-0.7542001731480933, 0.35381654952096214, 2.1328495429385166,
		0.11538059621553842, -0.3723537735728064, 0.30520291685307144, 0.6780005714576122}
	obs := []float64{-0.9014699907532875, 0.2636612660706634, 2.3362256069160114,
		0.19875858747198244, -0.42968330759089496, 0.15158835085079853, 0.7830000506174917}
	for i, name := range names {
		v := nb.Tree.Leaf(i)
		require.Equal(t, name, nb.Tree.Name(v))
		require.Equal(t, latent[i], nb.X[v], name)
		require.Equal(t, obs[i], nb.Y[i], name)
	}

	var f bffg.Filter
	m := bffg.BM{Tree: nb.Tree, D: 1, Sigma2: NB04Sigma2}
	require.NoError(t, f.Run(nb.Tree, m, bffg.Obs{Y: nb.Y, Var: NB04Tau2}))
	H, F := make([]float64, 1), make([]float64, 1)
	f.Message(0, H, F)
	require.InDelta(t, 3.112894693955583, H[0], 1e-14)
	require.InDelta(t, 0.2922645924450679, F[0], 1e-14)

	post, err := nb.Posterior()
	require.NoError(t, err)
	require.InDelta(t, 0.09388836474698882, post.RootMean, 1e-14)
	require.InDelta(t, 0.5667842656455038, post.RootSD, 1e-14)
	n := nb.Tree.Len()
	pm := func(v int) float64 { return post.Mean[v] }
	psd := func(v int) float64 { return post.SD[v] }
	table := map[string][2]float64{
		"Primates": {0.068092, 0.565133}, "GreatApes": {0.952614, 0.671630},
		"OldWorldMonkeys": {-0.035564, 0.637079}, "AsianApes": {0.642664, 0.630638},
	}
	for v := 0; v < n; v++ {
		if want, ok := table[nb.Tree.Name(v)]; ok {
			require.InDelta(t, want[0], pm(v), 5e-7, nb.Tree.Name(v))
			require.InDelta(t, want[1], psd(v), 5e-7, nb.Tree.Name(v))
		}
	}
	leafErr, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for i := 0; i < nb.Tree.NumLeaves(); i++ {
		leafErr += math.Abs(pm(nb.Tree.Leaf(i))-nb.Y[i]) / float64(nb.Tree.NumLeaves())
	}
	for v := 0; v < n; v++ {
		lo, hi = math.Min(lo, psd(v)), math.Max(hi, psd(v))
	}
	require.InDelta(t, 0.049123, leafErr, 5e-7)
	require.InDelta(t, 0.267119, lo, 5e-7)
	require.InDelta(t, 0.671630, hi, 5e-7)
}

// Notebook 06's gradient check: d/d log θ of Σ_v x_v of the guided pass with
// z0 = normal(PRNGKey(0), (31,)) at log θ = log(0.5, 0.1) is [0.3344605, 0.90956414]
// (jax.grad in float32); the adjoint agrees to 1e-5 relative.
func TestNotebook06GradCheck(t *testing.T) {
	nb := Notebook05()
	f := nb05Filter(t, nb, NB05Sigma2, NB05Tau2)
	n := nb.Tree.Len()
	z0 := GradCheckNoise()
	x, lw := make([]float64, n), make([]float64, n)
	m := bffg.BM{Tree: nb.Tree, D: 1, Sigma2: NB05Sigma2}
	_, err := f.Guide(m, bffg.Root{}, z0, x, lw)
	require.NoError(t, err)
	ones := make([]float64, n)
	for i := range ones {
		ones[i] = 1
	}
	var g bffg.Gradient
	require.NoError(t, f.Backward(m, bffg.Root{}, z0, x, 0, ones, &g))
	got := []float64{NB05Sigma2 * g.Params[0], NB05Tau2 * g.NoiseVar}
	require.InEpsilonSlice(t, []float64{0.3344605, 0.90956414}, got, 1e-5)
	// Our float64 value (hyperiax-reference.md §9): [0.334464, 0.909568].
	require.InDeltaSlice(t, []float64{0.33446351, 0.90956832}, got, 5e-8)
}

// The notebook's NumPyro potential U(θ_true, z0) = 76.9254 from bffg.Potential, whose
// gradient in the linear case is exactly −z in the z block.
func TestNotebook05Potential(t *testing.T) {
	nb := Notebook05()
	p := NB05Potential(nb)
	q := append([]float64{math.Log(NB05Sigma2), math.Log(NB05Tau2)}, GradCheckNoise()...)
	grad := make([]float64, len(q))
	require.InDelta(t, -76.9254, p.LogDensityGrad(q, grad), 5e-5)
	for i := 2; i < len(q); i++ {
		require.Equal(t, -q[i], grad[i])
	}
}
