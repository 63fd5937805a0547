package ml

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/topology"
)

func simulate(t *testing.T, tr *topology.Topology, d int, sigma2, tau2 float64, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 1))
	n := tr.Len()
	z, x := make([]float64, n*d), make([]float64, n*d)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	require.NoError(t, bffg.Simulate(tr, d, bffg.BM{Tree: tr, D: d, Sigma2: sigma2}, bffg.Root{Mean: []float64{1.5, -1}[:d]}, z, x))
	y := make([]float64, tr.NumLeaves()*d)
	for i := 0; i < tr.NumLeaves(); i++ {
		for a := 0; a < d; a++ {
			y[i*d+a] = x[tr.Leaf(i)*d+a] + math.Sqrt(tau2)*rng.NormFloat64()
		}
	}
	return y
}

// gls returns the closed-form Brownian-motion ML estimates without noise: with C the
// MRCA kernel, x̂ = (1'C⁻¹1)⁻¹1'C⁻¹y, σ̂² = r'C⁻¹r/n, log L = −(n/2)(log 2πσ̂² + 1) − ½log|C|.
func gls(tr *topology.Topology, y []float64) (sigma2, root, ll float64) {
	n := tr.NumLeaves()
	C := mat.NewSymDense(n, tr.MRCAKernel(nil))
	var ch mat.Cholesky
	if !ch.Factorize(C) {
		panic("C not positive definite")
	}
	ones := mat.NewVecDense(n, nil)
	for i := 0; i < n; i++ {
		ones.SetVec(i, 1)
	}
	yv := mat.NewVecDense(n, y)
	var ci1, ciy mat.VecDense
	_ = ch.SolveVecTo(&ci1, ones)
	_ = ch.SolveVecTo(&ciy, yv)
	root = mat.Dot(ones, &ciy) / mat.Dot(ones, &ci1)
	r := mat.NewVecDense(n, nil)
	r.AddScaledVec(yv, -root, ones)
	var cir mat.VecDense
	_ = ch.SolveVecTo(&cir, r)
	sigma2 = mat.Dot(r, &cir) / float64(n)
	ll = -0.5*float64(n)*(math.Log(2*math.Pi*sigma2)+1) - 0.5*ch.LogDet()
	return sigma2, root, ll
}

// Brownian motion without noise: σ², root and log-likelihood equal the dense GLS closed
// form to 1e-9 relative.
func TestFitBMMatchesGLS(t *testing.T) {
	for _, leaves := range []int{10, 200} {
		tr, err := topology.Yule(leaves, rand.New(rand.NewPCG(uint64(leaves), 7)))
		require.NoError(t, err)
		y := simulate(t, tr, 1, 0.8, 0, uint64(leaves))
		r, err := Fit(tr, y, Config{Model: BM})
		require.NoError(t, err)
		require.True(t, r.Converged)
		s2, root, ll := gls(tr, y)
		require.InEpsilon(t, s2, r.Params["sigma2"], 1e-9)
		require.InEpsilon(t, root, r.Root[0], 1e-9)
		require.InEpsilon(t, ll, r.LogLik, 1e-9)
		require.Equal(t, 2, r.NumParams)
		require.InDelta(t, 2*2-2*ll, r.AIC, 1e-8)
	}
}

// With estimated noise and for OU the fit is a stationary point of the dense likelihood
// (finite-difference gradient ≈ 0), and the reported log-likelihood is the dense one.
func TestFitStationary(t *testing.T) {
	tr, err := topology.Yule(60, rand.New(rand.NewPCG(3, 4)))
	require.NoError(t, err)
	y := simulate(t, tr, 1, 0.6, 0.05, 5)
	for _, cfg := range []Config{{Model: BM, EstimateNoise: true}, {Model: OU}, {Model: OU, NoiseVar: 0.05}} {
		r, err := Fit(tr, y, cfg)
		require.NoError(t, err, "%+v", cfg)
		dense := func(p map[string]float64, root float64) float64 {
			var m bffg.Proxy = bffg.BM{Tree: tr, D: 1, Sigma2: p["sigma2"]}
			if cfg.Model == OU {
				m = bffg.OU{Tree: tr, D: 1, Alpha: p["alpha"], Theta: []float64{p["theta"]}, Sigma2: p["sigma2"]}
			}
			tau2 := cfg.NoiseVar
			if cfg.EstimateNoise {
				tau2 = p["tau2"]
			}
			v, err := bffg.DenseLogLikelihood(tr, m, bffg.Obs{Y: y, Var: tau2}, bffg.Root{Mean: []float64{root}})
			require.NoError(t, err)
			return v
		}
		require.InDelta(t, dense(r.Params, r.Root[0]), r.LogLik, 1e-9*math.Abs(r.LogLik))
		for name, v := range r.Params {
			h := 1e-5 * (1 + math.Abs(v))
			p := map[string]float64{}
			for k, w := range r.Params {
				p[k] = w
			}
			p[name] = v + h
			lp := dense(p, r.Root[0])
			p[name] = v - h
			lm := dense(p, r.Root[0])
			require.InDelta(t, 0, (lp-lm)/(2*h), 1e-5, "%+v: ∂logL/∂%s", cfg, name)
		}
		h := 1e-5
		require.InDelta(t, 0, (dense(r.Params, r.Root[0]+h)-dense(r.Params, r.Root[0]-h))/(2*h), 1e-5, "root")
	}
}

// Ancestral states equal dense conditioning under a vague root prior at the fit.
func TestFitAncestral(t *testing.T) {
	tr, err := topology.Yule(30, rand.New(rand.NewPCG(8, 9)))
	require.NoError(t, err)
	y := simulate(t, tr, 2, 0.5, 0, 10)
	r, err := Fit(tr, y, Config{Model: BM})
	require.NoError(t, err)
	m := bffg.BM{Tree: tr, D: 2, Sigma2: r.Params["sigma2"]}
	vague := bffg.Root{Cov: []float64{1e6, 0, 0, 1e6}} // larger loses digits in the dense oracle
	mean, cov, err := bffg.DensePosterior(tr, m, bffg.Obs{Y: y}, vague)
	require.NoError(t, err)
	N := tr.Len() * 2
	require.Len(t, r.Ancestral, tr.Len()-tr.NumLeaves())
	for _, a := range r.Ancestral {
		for i := 0; i < 2; i++ {
			j := a.Node*2 + i
			require.InDelta(t, mean[j], a.Mean[i], 1e-5)
			require.InDelta(t, math.Sqrt(cov[j*N+j]), a.SE[i], 1e-5)
		}
	}
}

func TestFitErrors(t *testing.T) {
	tr, _ := topology.Symmetric(1, 2)
	_, err := Fit(tr, []float64{1, 2}, Config{Model: BM})
	require.ErrorIs(t, err, ErrCannotFit) // 2 values, 2 parameters
	_, err = Fit(tr, []float64{1, 2}, Config{Model: "brownian"})
	require.ErrorContains(t, err, `unknown model "brownian"`)
	one, _ := topology.Symmetric(0, 2)
	_, err = Fit(one, []float64{1}, Config{Model: BM})
	require.ErrorIs(t, err, ErrCannotFit)
}

// Fits are translation equivariant even far from zero: shifting the data by 1e8 shifts
// the root and the ancestral states and leaves σ² and the log-likelihood unchanged (the
// data are centred internally; a review found the uncentred arithmetic failing at 1e8).
func TestFitTranslation(t *testing.T) {
	tr, err := topology.Yule(80, rand.New(rand.NewPCG(12, 13)))
	require.NoError(t, err)
	y := simulate(t, tr, 1, 0.4, 0.01, 14)
	shifted := make([]float64, len(y))
	for i, v := range y {
		shifted[i] = v + 1e8
	}
	for _, cfg := range []Config{{Model: BM}, {Model: BM, EstimateNoise: true}, {Model: OU}} {
		a, err := Fit(tr, y, cfg)
		require.NoError(t, err)
		b, err := Fit(tr, shifted, cfg)
		require.NoError(t, err)
		require.InEpsilon(t, a.Params["sigma2"], b.Params["sigma2"], 1e-6, "%+v", cfg)
		require.InDelta(t, a.LogLik, b.LogLik, 1e-6*math.Abs(a.LogLik), "%+v", cfg)
		require.InDelta(t, a.Root[0]+1e8, b.Root[0], 1e-5, "%+v", cfg)
		require.InDelta(t, a.Ancestral[3].Mean[0]+1e8, b.Ancestral[3].Mean[0], 1e-5, "%+v", cfg)
	}
}

// PerTrait on two traits on different scales: each rate, root and log-likelihood is
// the GLS closed form of its own trait, the joint fit adds them up, and the shared-
// rate model fits worse. A missing value in one trait leaves the other untouched.
func TestFitPerTrait(t *testing.T) {
	tr, err := topology.Yule(40, rand.New(rand.NewPCG(3, 7)))
	require.NoError(t, err)
	y := simulate(t, tr, 2, 0.8, 0, 3)
	for i := 1; i < len(y); i += 2 {
		y[i] *= 10 // trait 2 has rate 80
	}
	r, err := Fit(tr, y, Config{Model: BM, PerTrait: true})
	require.NoError(t, err)
	require.True(t, r.Converged)
	col := func(k int) []float64 {
		c := make([]float64, tr.NumLeaves())
		for i := range c {
			c[i] = y[2*i+k]
		}
		return c
	}
	wantLL := 0.0
	for k := range 2 {
		s2, root, ll := gls(tr, col(k))
		require.InEpsilon(t, s2, r.Params[[]string{"sigma2_1", "sigma2_2"}[k]], 1e-9)
		require.InEpsilon(t, root, r.Root[k], 1e-9)
		wantLL += ll
	}
	require.Len(t, r.Params, 2)
	require.InEpsilon(t, wantLL, r.LogLik, 1e-9)
	require.Equal(t, 4, r.NumParams)
	require.InDelta(t, 2*4-2*wantLL, r.AIC, 1e-8)
	one, err := Fit(tr, col(1), Config{Model: BM})
	require.NoError(t, err)
	for i, a := range r.Ancestral {
		require.Equal(t, one.Ancestral[i].Node, a.Node)
		require.InDelta(t, one.Ancestral[i].Mean[0], a.Mean[1], 1e-12)
		require.InDelta(t, one.Ancestral[i].SE[0], a.SE[1], 1e-12)
	}
	shared, err := Fit(tr, y, Config{Model: BM})
	require.NoError(t, err)
	require.Less(t, shared.LogLik, r.LogLik-10)

	// OU with estimated noise and a missing value in trait 2: trait 1's fit is
	// unchanged, and every per-trait parameter is reported.
	y[3] = math.NaN()
	r2, err := Fit(tr, y, Config{Model: OU, EstimateNoise: true, PerTrait: true})
	require.NoError(t, err)
	first, err := Fit(tr, col(0), Config{Model: OU, EstimateNoise: true})
	require.NoError(t, err)
	for _, name := range []string{"sigma2", "alpha", "theta", "tau2"} {
		require.Equal(t, first.Params[name], r2.Params[name+"_1"], name)
		require.Contains(t, r2.Params, name+"_2")
	}
	require.Equal(t, 2*tr.NumLeaves()-1, r2.NumObs)

	for i := 1; i < len(y); i += 2 {
		y[i] = math.NaN()
	}
	_, err = Fit(tr, y, Config{Model: BM, PerTrait: true})
	require.ErrorContains(t, err, "trait 2")
}
