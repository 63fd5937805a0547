package ml

import (
	"maps"
	"math"
	"os"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/traits"
	"github.com/canopy-bffg/canopy/topology"
)

// mammals returns the Garland et al. (1992) tree and ln body mass, ln home range.
func mammals(t *testing.T) (*topology.Topology, [2][]float64) {
	b, err := os.ReadFile("../format/testdata/garland1992_mammals/tree.nwk")
	require.NoError(t, err)
	tr, err := topology.ParseNewick(string(b))
	require.NoError(t, err)
	tab, err := traits.ReadFile("../format/testdata/garland1992_mammals/traits.csv")
	require.NoError(t, err)
	rows, _, err := format.Matcher{Underscores: true}.Match(tr, tab.Taxa, tab.Lines, "traits.csv")
	require.NoError(t, err)
	var y [2][]float64
	for k := range y {
		for _, r := range rows {
			y[k] = append(y[k], math.Log(tab.Values[r][k]))
		}
	}
	return tr, y
}

// On an ultrametric tree OU fits one intercept θ = root per trait. The numbers are R's:
// ape::vcv of the tree, V_ij = σ²/(2α)·e^{−α(T_i+T_j−2C_ij)}(1 − e^{−2αC_ij}), mean μ·1,
// −log L minimised over (log α, log σ², μ) by optim (BFGS, Nelder–Mead, BFGS, reltol
// 1e-15), standard errors from optimHess with the delta method (described in the commit
// message). Before the fix θ stayed at its start, the tip mean (2.686 for ln home
// range), the root went to −10.2 and 4 parameters were counted per trait.
func TestFitOUUltrametric(t *testing.T) {
	tr, y := mammals(t)
	want := []struct{ alpha, sigma2, mu, ll, seAlpha, seSigma2, seMu float64 }{
		{0.007980589177, 0.0905079995, 4.577357766, -74.6409139015, 0.00862025, 0.0240441, 0.709034}, // ln body mass
		{0.0629198361, 0.4943236192, 2.529029935, -96.5540247683, 0.0329749, 0.199648, 0.431252},     // ln home range
	}
	for k, w := range want {
		r, err := Fit(tr, y[k], Config{Model: OU})
		require.NoError(t, err)
		require.True(t, r.Ultrametric)
		require.True(t, r.Converged)
		require.InEpsilon(t, w.ll, r.LogLik, 1e-9)
		// R's optimum is good to about 1e-6 in the flat α direction.
		require.InEpsilon(t, w.alpha, r.Params["alpha"], 1e-4)
		require.InEpsilon(t, w.sigma2, r.Params["sigma2"], 1e-4)
		require.InEpsilon(t, w.mu, r.Params["theta"], 1e-5)
		require.Equal(t, r.Params["theta"], r.Root[0])
		require.InEpsilon(t, w.seAlpha, r.SE["alpha"], 1e-3)
		require.InEpsilon(t, w.seSigma2, r.SE["sigma2"], 1e-3)
		require.InEpsilon(t, w.seMu, r.SE["theta"], 1e-3)
		require.InEpsilon(t, w.seMu, r.RootSE[0], 1e-3)
		require.Equal(t, 3, r.NumParams) // σ², α, θ = root
		require.InDelta(t, 2*3-2*r.LogLik, r.AIC, 1e-9)
	}
}

// The anoles tree's root-to-tip distances differ by 2e-8 relative (rounded lengths): it
// counts as ultrametric, as does a tree with one tip 1% longer; 1.5% longer does not.
func TestUltrametric(t *testing.T) {
	b, err := os.ReadFile("../format/testdata/mahler2010_anoles/tree.nwk")
	require.NoError(t, err)
	tr, err := topology.ParseNewick(string(b))
	require.NoError(t, err)
	require.True(t, ultrametric(tr))
	for nwk, want := range map[string]bool{"((a:1,b:1):1,c:2);": true, "((a:1,b:1):1,c:2.02);": true, "((a:1,b:1):1,c:2.03);": false} {
		tr, err := topology.ParseNewick(nwk)
		require.NoError(t, err)
		require.Equal(t, want, ultrametric(tr), nwk)
	}
}

// An ultrametric tree of height 1 with its branch lengths rounded to 3 decimals (tip
// depths 0.999 to 1.001) gets the tied model θ = root, as the exact tree does, and the
// tied model's exact optimum on the rounded tree. R: ape::rcoal(8) after set.seed(9),
// tips a–h, x from rTraitCont (BM, σ 1) rounded to 3 decimals, lengths scaled to height
// 1 and written with 10 digits (exact) or rounded to 3; fitted as in
// TestFitOUUltrametric. Before the 1% tolerance the rounded tree got the untied model:
// 4 parameters, root −1e19, log-likelihood 1.92 and no standard errors.
func TestFitOUNearlyUltrametric(t *testing.T) {
	y := map[string]float64{"a": 1.203, "b": 1.084, "c": 0.553, "d": 0.321, "e": 0.556, "f": 0.367, "g": -0.101, "h": -0.288}
	fit := func(nwk string) *Result {
		tr, err := topology.ParseNewick(nwk)
		require.NoError(t, err)
		yy := make([]float64, tr.NumLeaves())
		for i := range yy {
			yy[i] = y[tr.Name(tr.Leaf(i))]
		}
		r, err := Fit(tr, yy, Config{Model: OU})
		require.NoError(t, err)
		return r
	}
	exact := fit("(((a:0.2516396021,(b:0.1599767069,c:0.1599767069):0.09166289528):0.0455712215,(d:0.09441093526,e:0.09441093526):0.2027998884):0.7027891764,(f:0.2956779627,(g:0.0392449313,h:0.0392449313):0.2564330314):0.7043220373);")
	rounded := fit("(((a:0.252,(b:0.16,c:0.16):0.092):0.046,(d:0.094,e:0.094):0.203):0.703,(f:0.296,(g:0.039,h:0.039):0.256):0.704);")
	require.InDelta(t, 0.999, rounded.TipDepths[0], 1e-12)
	require.InDelta(t, 1.001, rounded.TipDepths[1], 1e-12)
	require.InEpsilon(t, -3.6440969945, exact.LogLik, 1e-9)
	for _, r := range []*Result{exact, rounded} {
		require.True(t, r.Ultrametric)
		require.True(t, r.Converged)
		require.Equal(t, 3, r.NumParams)
	}
	// Rounding the lengths moves the log-likelihood by 2e-3.
	require.InDelta(t, exact.LogLik, rounded.LogLik, 5e-3)
	require.InEpsilon(t, -3.6422354494, rounded.LogLik, 1e-9)
	require.InEpsilon(t, 1.491715685, rounded.Params["alpha"], 1e-5)
	require.InEpsilon(t, 0.7093607651, rounded.Params["sigma2"], 1e-5)
	require.InEpsilon(t, 0.4575383412, rounded.Params["theta"], 1e-5)
	require.InEpsilon(t, 1.94778, rounded.SE["alpha"], 1e-3)
	require.InEpsilon(t, 0.57515, rounded.SE["sigma2"], 1e-3)
	require.InEpsilon(t, 0.264966, rounded.SE["theta"], 1e-3)
}

// On a non-ultrametric tree root and θ are both fitted, with standard errors from the
// full information. R: the untied model (tip mean x₀e^{−αT_i} + θ(1 − e^{−αT_i}), V as
// above) on ape::rtree(16) after set.seed(7), lengths ×3 rounded to 3 decimals, data
// simulated with α 0.8, σ² 1, x₀ −3, θ 2 and rounded; fitted as in TestFitOUUltrametric
// over (log α, log σ², x₀, θ). The root is barely determined (se 30): the ancestral se
// of the root (7.4, given α and θ) understates it.
func TestFitOUNonUltrametricSE(t *testing.T) {
	tr, err := topology.ParseNewick("(((t8:2.372,(t16:1.371,t3:2.398):2.515):1.494,((((t15:0.959,t13:0.248):2.713,t6:2.449):1.31,t12:2.695):2.279,(t14:1.719,(t4:2.322,t2:1.883):2.16):2.899):1.146):2.541,((t11:0.488,t9:0.562):1.16,((t1:0.576,t5:1.513):0.822,(t7:2.081,t10:1.632):2.292):1.174):2.169);")
	require.NoError(t, err)
	val := map[string]float64{"t8": 2.294, "t16": 1.957, "t3": 1.845, "t15": 2.202, "t13": 2.301, "t6": 2.137, "t12": 1.874, "t14": 3.176,
		"t4": 2.931, "t2": 2.554, "t11": 0.649, "t9": 1.806, "t1": 1.695, "t5": 0.047, "t7": 1.263, "t10": 2.078}
	y := make([]float64, tr.NumLeaves())
	for i := range y {
		y[i] = val[tr.Name(tr.Leaf(i))]
	}
	r, err := Fit(tr, y, Config{Model: OU})
	require.NoError(t, err)
	require.False(t, r.Ultrametric)
	require.Equal(t, 4, r.NumParams)
	require.InEpsilon(t, -16.4520989528, r.LogLik, 1e-9)
	require.InEpsilon(t, 0.6815231749, r.Params["alpha"], 1e-4)
	require.InEpsilon(t, 0.646959873, r.Params["sigma2"], 1e-4)
	require.InEpsilon(t, 2.174025995, r.Params["theta"], 1e-4)
	require.InEpsilon(t, -13.11819266, r.Root[0], 1e-4)
	require.InEpsilon(t, 0.504977, r.SE["alpha"], 1e-3)
	require.InEpsilon(t, 0.49914, r.SE["sigma2"], 1e-3)
	require.InEpsilon(t, 0.262414, r.SE["theta"], 1e-3)
	require.InEpsilon(t, 30.1488, r.RootSE[0], 1e-3)
}

// Ancestral states of the tied OU fit equal dense conditioning: with Σ the OU covariance
// of all nodes started at 0 with optimum 0, every node has mean μ, μ has a flat prior,
// so E[x_v|y] = μ̂ + Σ_vy Σ_yy⁻¹(y − μ̂1) and Var = Σ_vv − Σ_vy Σ_yy⁻¹ Σ_yv + b_v²/(1'Σ_yy⁻¹1)
// with b_v = 1 − Σ_vy Σ_yy⁻¹1.
func TestFitOUUltrametricAncestral(t *testing.T) {
	tr, y := mammals(t)
	r, err := Fit(tr, y[1], Config{Model: OU})
	require.NoError(t, err)
	require.True(t, r.Ultrametric)
	a, s2, mu := r.Params["alpha"], r.Params["sigma2"], r.Params["theta"]
	cov := func(u, v int) float64 {
		ta := tr.Dist(tr.MRCA(u, v))
		return s2 / (2 * a) * math.Exp(-a*(tr.Dist(u)+tr.Dist(v)-2*ta)) * -math.Expm1(-2*a*ta)
	}
	n := tr.NumLeaves()
	S := mat.NewSymDense(n, nil)
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			S.SetSym(i, j, cov(tr.Leaf(i), tr.Leaf(j)))
		}
	}
	var ch mat.Cholesky
	require.True(t, ch.Factorize(S))
	ones, res := mat.NewVecDense(n, nil), mat.NewVecDense(n, nil)
	for i := 0; i < n; i++ {
		ones.SetVec(i, 1)
		res.SetVec(i, y[1][i]-mu)
	}
	var si1, sir mat.VecDense
	require.NoError(t, ch.SolveVecTo(&si1, ones))
	require.NoError(t, ch.SolveVecTo(&sir, res))
	require.InDelta(t, 0, mat.Dot(ones, &sir), 1e-8) // μ̂ is the GLS mean
	varMu := 1 / mat.Dot(ones, &si1)
	for _, anc := range r.Ancestral {
		c := mat.NewVecDense(n, nil)
		for i := 0; i < n; i++ {
			c.SetVec(i, cov(anc.Node, tr.Leaf(i)))
		}
		var sic mat.VecDense
		require.NoError(t, ch.SolveVecTo(&sic, c))
		b := 1 - mat.Dot(c, &si1)
		v := cov(anc.Node, anc.Node) - mat.Dot(c, &sic) + b*b*varMu
		require.InDelta(t, mu+mat.Dot(c, &sir), anc.Mean[0], 1e-8, "node %d", anc.Node)
		require.InDelta(t, math.Sqrt(v), anc.SE[0], 1e-7, "node %d", anc.Node)
	}
}

// When the information is unavailable (information returns an error and J is nil) or
// its intercept entry is not positive, the tied fit's ancestral means are still given
// and their standard errors are NaN. Before the guard a nil J panicked in ancestral,
// and a negative entry gave se 0.
func TestAncestralTiedWithoutInformation(t *testing.T) {
	tr, y := mammals(t)
	r, err := Fit(tr, y[1], Config{Model: OU})
	require.NoError(t, err)
	require.True(t, r.Ultrametric)
	// The problem as Fit sets it up, at the fitted v = (log σ², log α, θ = root).
	p := &problem{t: tr, d: 1, cfg: Config{Model: OU}, obs: bffg.Obs{Y: y[1]},
		xhat: make([]float64, 1), hcov: make([]float64, 1),
		ou: &bffg.OU{Tree: tr, D: 1, Theta: make([]float64, 1)}}
	p.tied = ultrametric(tr)
	v := []float64{math.Log(r.Params["sigma2"]), math.Log(r.Params["alpha"]), r.Params["theta"]}
	negative := mat.NewSymDense(3, nil)
	negative.SetSym(2, 2, -1)
	for name, J := range map[string]*mat.SymDense{"nil": nil, "negative": negative} {
		anc, err := p.ancestral(v, J)
		require.NoError(t, err, name)
		require.Len(t, anc, len(r.Ancestral), name)
		for i, a := range anc {
			require.InDelta(t, r.Ancestral[i].Mean[0], a.Mean[0], 1e-9, "%s: node %d", name, a.Node)
			require.True(t, math.IsNaN(a.SE[0]), "%s: node %d se %v", name, a.Node, a.SE[0])
		}
	}
}

// Data simulated under BM on an 8-tip ultrametric tree take OU's α to 0, the
// Brownian-motion limit: α is reported at its boundary with se NaN, and σ², θ = root and
// the log-likelihood are BM's, with BM's closed-form standard errors σ̂²√(2/n) and
// (σ̂²/1'C⁻¹1)^½ (R: the GLS fit of TestFitBMMatchesGLS on ape::vcv of the tree). A
// leaf noise τ² estimated on the same data goes to 0 as well, and σ² to 0 when the
// known noise variance dwarfs the data's. The tree is ape::rcoal(8) after set.seed(10),
// tips a–h, lengths scaled to height 1, x from rTraitCont (BM, σ 1) rounded to 3
// decimals. Before, α was 1.4e-13 with se 1.4e-6 (1e7 on the log scale), BM's τ²
// 1.6e-14 with se 3.2e-9, and σ² 6.2e-11 with se 4e-5 under noise 100.
func TestFitOUAtBoundary(t *testing.T) {
	tr, err := topology.ParseNewick("(((a:0.0001792198161,b:0.0001792198161):0.2188596483,((c:0.01488167098,d:0.01488167098):0.01682422876,e:0.03170589974):0.1873329683):0.7809611319,(f:0.09750580983,(g:0.08455150805,h:0.08455150805):0.01295430178):0.9024941902);")
	require.NoError(t, err)
	val := map[string]float64{"a": -3.555, "b": -3.551, "c": -4.252, "d": -4.626, "e": -4.210, "f": -1.007, "g": -1.637, "h": -1.609}
	y := make([]float64, tr.NumLeaves())
	for i := range y {
		y[i] = val[tr.Name(tr.Leaf(i))]
	}
	const sigma2, root, ll, seSigma2, seRoot = 1.655707102, -2.718197718, -3.8482032994, 0.827854, 0.868444
	for _, tc := range []struct {
		cfg      Config
		boundary []string
	}{
		{Config{Model: BM}, nil},
		{Config{Model: OU}, []string{"alpha"}},
		{Config{Model: BM, EstimateNoise: true}, []string{"tau2"}},
		{Config{Model: OU, EstimateNoise: true}, []string{"alpha", "tau2"}},
	} {
		r, err := Fit(tr, y, tc.cfg)
		require.NoError(t, err, "%+v", tc.cfg)
		require.ElementsMatch(t, tc.boundary, slices.Collect(maps.Keys(r.AtBoundary)), "%+v", tc.cfg)
		for _, name := range tc.boundary {
			require.True(t, math.IsNaN(r.SE[name]), "%+v: se %s %v", tc.cfg, name, r.SE[name])
		}
		require.InEpsilon(t, ll, r.LogLik, 1e-9, "%+v", tc.cfg)
		require.InEpsilon(t, sigma2, r.Params["sigma2"], 1e-6, "%+v", tc.cfg)
		require.InEpsilon(t, root, r.Root[0], 1e-6, "%+v", tc.cfg)
		require.InEpsilon(t, seSigma2, r.SE["sigma2"], 1e-5, "%+v", tc.cfg)
		require.InEpsilon(t, seRoot, r.RootSE[0], 1e-5, "%+v", tc.cfg)
	}
	r, err := Fit(tr, y, Config{Model: BM, NoiseVar: 100})
	require.NoError(t, err)
	require.Equal(t, []string{"sigma2"}, slices.Collect(maps.Keys(r.AtBoundary)))
	require.True(t, math.IsNaN(r.SE["sigma2"]))
}

// A log-scale standard error above maxLogSE puts its parameter at a boundary even when
// the ratios in boundary do not (α = 1 on a tree of height 2 here): log α has
// information 1e-4 (se 100), and the others' se come from the rest of J.
func TestCovarianceFlatLogScale(t *testing.T) {
	tr, err := topology.ParseNewick("((a:1,b:1):1,c:2);")
	require.NoError(t, err)
	p := &problem{t: tr, d: 1, cfg: Config{Model: OU}}
	J := mat.NewSymDense(3, []float64{4, 0, 0, 0, 1e-4, 0, 0, 0, 1}) // log σ², log α, m
	cov, boundary, flat, confounded := p.covariance(J, []float64{0, 0})
	require.Empty(t, boundary)
	require.Contains(t, flat, 1)
	require.NotContains(t, flat, 0)
	require.Empty(t, confounded)
	require.True(t, math.IsNaN(cov.At(1, 1)))
	require.InDelta(t, 0.25, cov.At(0, 0), 1e-15)
	require.InDelta(t, 1, cov.At(2, 2), 1e-15)
}

// A log-scale parameter strongly correlated with a poorly identified one gets se NaN
// as well, and the others' se are conditional only on the poorly identified one. Here
// log σ² and log α have information 4 and 1 and cross term 1.99: their inverse has
// se 5.006 and 10.01 and correlation −0.995, and m, uncorrelated, keeps se 1. Before,
// σ² got the se 0.5 it has with α fixed.
func TestCovarianceConfounded(t *testing.T) {
	tr, err := topology.ParseNewick("((a:1,b:1):1,c:2);")
	require.NoError(t, err)
	p := &problem{t: tr, d: 1, cfg: Config{Model: OU}}
	J := mat.NewSymDense(3, []float64{4, 1.99, 0, 1.99, 1, 0, 0, 0, 1}) // log σ², log α, m
	cov, boundary, flat, confounded := p.covariance(J, []float64{0, 0})
	require.Empty(t, boundary)
	require.Equal(t, []int{1}, slices.Collect(maps.Keys(flat)))
	require.Equal(t, map[int]string{0: "its log has correlation -0.995 with that of alpha"}, confounded)
	require.True(t, math.IsNaN(cov.At(0, 0)))
	require.True(t, math.IsNaN(cov.At(1, 1)))
	require.InDelta(t, 1, cov.At(2, 2), 1e-15)
}

// readTestdata returns testdata/name.nwk and the x column of testdata/name.csv in
// t.Leaf order.
func readTestdata(t *testing.T, name string) (*topology.Topology, []float64) {
	b, err := os.ReadFile("testdata/" + name + ".nwk")
	require.NoError(t, err)
	tr, err := topology.ParseNewick(string(b))
	require.NoError(t, err)
	tab, err := traits.ReadFile("testdata/" + name + ".csv")
	require.NoError(t, err)
	rows, _, err := format.Matcher{}.Match(tr, tab.Taxa, tab.Lines, name+".csv")
	require.NoError(t, err)
	y := make([]float64, len(rows))
	for i, r := range rows {
		y[i] = tab.Values[r][0]
	}
	return tr, y
}

// The tied model reaches large α·T: data simulated with α = 40 on a 30-tip coalescent
// tree of height 1 have their maximum at α = 91. R: testdata/tied_ou.R. Before the tied
// model was fitted in its intercept, the fit profiled the root of OU with θ = 0, whose
// flat root prior fails for α·T ≳ 50, and stopped at α = 1.9, log-likelihood 9.21.
func TestFitOUUltrametricLargeAlpha(t *testing.T) {
	tr, y := readTestdata(t, "ou_alpha40")
	r, err := Fit(tr, y, Config{Model: OU})
	require.NoError(t, err)
	require.True(t, r.Ultrametric)
	require.True(t, r.Converged)
	require.InEpsilon(t, 25.5925592786, r.LogLik, 1e-9)
	require.InEpsilon(t, 91.1109174, r.Params["alpha"], 1e-5)
	require.InEpsilon(t, 1.992215874, r.Params["sigma2"], 1e-5)
	require.InEpsilon(t, 0.4550741603, r.Params["theta"], 1e-6)
	require.Empty(t, r.AtBoundary)
}

// i.i.d. N(0, 1) tips on a coalescent tree of height 1 have no maximum at finite α: the
// likelihood rises towards the white-noise limit α → ∞ with σ²/2α the tips' variance
// and θ their mean, and the fit gets there (R: testdata/tied_ou.R, whose optim ran α
// to 1e102 and 1e15). Before, the fit stopped at α = 1.6 on white_noise1 (log-likelihood
// −68.85, the limit is −39.47) and at α = 1.8 on white_noise4 (−94.41 against −39.00).
//
// There only σ²/2α is identified: α (or σ²) is poorly identified and the other is
// confounded with it, both with se NaN, and θ gets the se of a mean of n independent
// tips, √(variance/n). Before, on white_noise4, α was said to be at the boundary of its
// range and σ² got se 2.3e4 with α fixed; on white_noise1 the information was not
// positive definite and every se, θ's included, was NaN.
func TestFitOUWhiteNoise(t *testing.T) {
	for _, tc := range []struct {
		name               string
		ll, variance, mean float64
	}{
		{"white_noise1", -39.4740882190, 0.8136124068, 0.07553},
		{"white_noise4", -39.0019913403, 0.7884042521, 0.03773},
	} {
		tr, y := readTestdata(t, tc.name)
		r, err := Fit(tr, y, Config{Model: OU})
		require.NoError(t, err, tc.name)
		require.True(t, r.Ultrametric, tc.name)
		require.True(t, r.Converged, tc.name)
		require.InEpsilon(t, tc.ll, r.LogLik, 1e-9, tc.name)
		require.Greater(t, r.Params["alpha"]*r.TipDepths[1], 1e3, tc.name)
		require.InEpsilon(t, tc.variance, r.Params["sigma2"]/(2*r.Params["alpha"]), 1e-6, tc.name)
		require.InEpsilon(t, tc.mean, r.Params["theta"], 1e-6, tc.name)

		require.Empty(t, r.AtBoundary, tc.name)
		require.Len(t, r.PoorlyIdentified, 1, tc.name)
		for _, why := range r.PoorlyIdentified {
			require.Contains(t, why, "near the white-noise limit α → ∞", tc.name)
		}
		require.Len(t, r.Confounded, 1, tc.name)
		require.ElementsMatch(t, []string{"alpha", "sigma2"},
			append(slices.Collect(maps.Keys(r.PoorlyIdentified)), slices.Collect(maps.Keys(r.Confounded))...), tc.name)
		require.True(t, math.IsNaN(r.SE["alpha"]), tc.name)
		require.True(t, math.IsNaN(r.SE["sigma2"]), tc.name)
		require.InEpsilon(t, math.Sqrt(tc.variance/float64(len(y))), r.SE["theta"], 1e-4, tc.name)
		// The root is θ in the tied model: its se is the same independent number.
		require.InEpsilon(t, math.Sqrt(tc.variance/float64(len(y))), r.RootSE[0], 1e-4, tc.name)
	}
}

// With the leaf noise estimated on a rounded ultrametric tree the tied fit still reaches
// the exact tied optimum: τ² goes to 0 and the fit is the one without noise, whose
// log-likelihood it cannot be below. The trees are TestFitOUNearlyUltrametric's, of
// height 1 and 0.25, lengths rounded to 3 decimals (spread 0.2% and 0.4%); R:
// testdata/tied_ou.R. Before the tied model was fitted directly, L-BFGS ran on a
// stand-in that is exact only on an exactly ultrametric tree, and the Newton steps
// meant to finish on the tied model stop where the negative Hessian is not positive
// definite, as it is not with log τ² flat at τ² → 0: both fits were left unconverged,
// and at height 0.25 with log-likelihood −3.6510491632, below the no-noise fit.
func TestFitOUNearlyUltrametricNoise(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ll, alpha float64
	}{
		{"rounded8_h1", -3.6422354494, 1.491715587},
		{"rounded8_h0.25", -3.6510435350, 5.934264313},
	} {
		tr, y := readTestdata(t, tc.name)
		without, err := Fit(tr, y, Config{Model: OU})
		require.NoError(t, err, tc.name)
		r, err := Fit(tr, y, Config{Model: OU, EstimateNoise: true})
		require.NoError(t, err, tc.name)
		require.True(t, r.Ultrametric, tc.name)
		require.True(t, r.Converged, tc.name)
		require.GreaterOrEqual(t, r.LogLik, without.LogLik-1e-12*math.Abs(without.LogLik), tc.name)
		require.InEpsilon(t, tc.ll, r.LogLik, 1e-9, tc.name)
		require.InEpsilon(t, tc.alpha, r.Params["alpha"], 1e-6, tc.name)
		require.Contains(t, r.AtBoundary, "tau2", tc.name)
	}
}

// carnivora returns the Diniz-Filho (2002) carnivora tree and its two traits in raw units,
// leaf-major in t.Leaf order.
func carnivora(t *testing.T) (*topology.Topology, []float64) {
	const dir = "../format/testdata/dinizfilho2002_carnivora/"
	b, err := os.ReadFile(dir + "tree.nwk")
	require.NoError(t, err)
	tr, err := topology.ParseNewick(string(b))
	require.NoError(t, err)
	tab, err := traits.ReadFile(dir + "traits.csv")
	require.NoError(t, err)
	rows, _, err := format.Matcher{Underscores: true}.Match(tr, tab.Taxa, tab.Lines, "traits.csv")
	require.NoError(t, err)
	var y []float64
	for _, r := range rows {
		y = append(y, tab.Values[r]...)
	}
	return tr, y
}

// On the carnivora data in raw units (sizes up to 3e2) the tied OU maximum is at
// α = 0.00207, 0.029 above the Brownian-motion limit α → 0, and with the noise estimated
// τ² → 0 and the log-likelihood is the same (R: testdata/carnivora_ou.R).
// Before the intercept was profiled, L-BFGS fitted it with the log parameters in data
// units and stopped at α = 2.5e-14 with the BM log-likelihood −611.8174089526, reporting
// convergence and α at the boundary; with the noise estimated it stopped at −612.1469,
// below both nested fits. Fits with τ² → 0 end where the gradient in log τ², which is
// the log-likelihood they lack, is below maximise's 1e-8 per observation: that bounds
// how far below the fit without noise they may be.
func TestFitOUCarnivoraRaw(t *testing.T) {
	tr, y := carnivora(t)
	bm, err := Fit(tr, y, Config{Model: BM})
	require.NoError(t, err)
	require.InEpsilon(t, -611.8174089526, bm.LogLik, 1e-11)
	r, err := Fit(tr, y, Config{Model: OU})
	require.NoError(t, err)
	require.True(t, r.Ultrametric)
	require.True(t, r.Converged)
	require.InEpsilon(t, -611.7881492819, r.LogLik, 1e-11)
	require.InEpsilon(t, 0.002067313381, r.Params["alpha"], 1e-5)
	require.InEpsilon(t, 44.67033796, r.Params["sigma2"], 1e-6)
	require.Greater(t, r.LogLik, bm.LogLik+0.029)
	require.Empty(t, r.AtBoundary)

	rn, err := Fit(tr, y, Config{Model: OU, EstimateNoise: true})
	require.NoError(t, err)
	require.True(t, rn.Converged)
	require.GreaterOrEqual(t, rn.LogLik, r.LogLik-1e-8*float64(rn.NumObs))
	require.InDelta(t, -611.7881492819, rn.LogLik, 1e-8*float64(rn.NumObs)) // R: τ² → 2e-13
	require.InEpsilon(t, 0.002067313381, rn.Params["alpha"], 1e-4)
	require.Contains(t, rn.AtBoundary, "tau2")
}

// The tied OU fit does not depend on the data's units: multiplying the carnivora traits
// by 10^k leaves α unchanged, scales σ² and θ by 10^{2k} and 10^k, and shifts the
// log-likelihood by −n·k·log 10 for n observed values. Before the intercept was profiled,
// the fit found the maximum (α = 0.00207) for k = −3 … −1 after scaling by 0.01 (sizes
// up to 3) and stopped in the Brownian-motion limit for k ≥ 0.
func TestFitOUScaleInvariant(t *testing.T) {
	tr, y := carnivora(t)
	ref, err := Fit(tr, y, Config{Model: OU})
	require.NoError(t, err)
	for k := -3; k <= 3; k++ {
		s := math.Pow(10, float64(k))
		ys := make([]float64, len(y))
		for i, v := range y {
			ys[i] = v * s
		}
		r, err := Fit(tr, ys, Config{Model: OU})
		require.NoError(t, err, k)
		require.True(t, r.Converged, k)
		require.InEpsilon(t, ref.Params["alpha"], r.Params["alpha"], 1e-6, k)
		require.InEpsilon(t, ref.Params["sigma2"]*s*s, r.Params["sigma2"], 1e-6, k)
		require.InEpsilon(t, ref.Params["theta1"]*s, r.Params["theta1"], 1e-6, k)
		require.InDelta(t, ref.LogLik-float64(r.NumObs)*float64(k)*math.Ln10, r.LogLik, 1e-9*math.Abs(ref.LogLik), k)
	}
}

// When the rest of J is positive definite but too ill-conditioned to invert
// (condition number above mat.ConditionTolerance, 1e16), the flat direction is found in
// J itself. Here log σ² and log α are nearly collinear (information [[1, 1], [1, 1 +
// 1e-14]], flat along (1, −1)/√2) and m is separate with information 1e3: one of σ² and α
// is poorly identified, the other is confounded with it, and m keeps se 1e3^{−1/2}.
// Before, Cholesky.InverseTo had written J⁻¹ over J when it reported the condition
// number, and the eigenvector of the smallest eigenvalue of J⁻¹ (m's, J's stiffest
// direction) explained no log-scale parameter, so every se was NaN.
func TestCovarianceIllConditioned(t *testing.T) {
	tr, err := topology.ParseNewick("((a:1,b:1):1,c:2);")
	require.NoError(t, err)
	p := &problem{t: tr, d: 1, cfg: Config{Model: OU}}
	J := mat.NewSymDense(3, []float64{1, 1, 0, 1, 1 + 1e-14, 0, 0, 0, 1e3}) // log σ², log α, m
	cov, boundary, flat, confounded := p.covariance(J, []float64{0, 0})
	require.Empty(t, boundary)
	require.Len(t, flat, 1)
	require.Len(t, confounded, 1)
	require.ElementsMatch(t, []int{0, 1}, append(slices.Collect(maps.Keys(flat)), slices.Collect(maps.Keys(confounded))...))
	require.True(t, math.IsNaN(cov.At(0, 0)))
	require.True(t, math.IsNaN(cov.At(1, 1)))
	require.InEpsilon(t, 1e-3, cov.At(2, 2), 1e-12)
}

// A non-finite entry in the information (a failed finite difference) gives every se NaN.
// Before, slices.Min passed the NaN eigenvalue on, slices.Index returned −1 and
// ColView(−1) panicked.
func TestCovarianceNaN(t *testing.T) {
	tr, err := topology.ParseNewick("((a:1,b:1):1,c:2);")
	require.NoError(t, err)
	p := &problem{t: tr, d: 1, cfg: Config{Model: OU}}
	for _, bad := range []float64{math.NaN(), math.Inf(1)} {
		J := mat.NewSymDense(3, []float64{4, 0, 0, 0, bad, 0, 0, 0, 1}) // log σ², log α, m
		cov, _, flat, confounded := p.covariance(J, []float64{0, 0})
		require.Empty(t, flat)
		require.Empty(t, confounded)
		for i := range 3 {
			for j := range 3 {
				require.True(t, math.IsNaN(cov.At(i, j)), "%v: %d, %d", bad, i, j)
			}
		}
	}
}
