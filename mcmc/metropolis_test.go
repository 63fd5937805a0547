package mcmc_test

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/mcmc"
)

// latentModel is a linear-Gaussian model with a parameter θ = q[0] ~ N(0, 2²) and
// a latent block z = q[1:] ~ N(0, I), observed through yⱼ = θ + s·zⱼ + N(0, σ²).
// With s = 0 the likelihood does not depend on z (hyperiax notebook 05's situation,
// where proxy = truth makes every guided correction vanish).
type latentModel struct {
	y        []float64
	s, sigma float64
}

func (m latentModel) Dim() int { return 1 + len(m.y) }

func (m latentModel) LogDensity(q []float64) float64 {
	th := q[0]
	lp := -th * th / 8
	for j, y := range m.y {
		z := q[1+j]
		r := (y - th - m.s*z) / m.sigma
		lp += -0.5*z*z - 0.5*r*r
	}
	return lp
}

// posterior returns the exact posterior mean and covariance of q.
func (m latentModel) posterior() ([]float64, *mat.SymDense) {
	n := m.Dim()
	a := mat.NewDense(len(m.y), n, nil)
	for j := range m.y {
		a.Set(j, 0, 1)
		a.Set(j, 1+j, m.s)
	}
	prec := mat.NewSymDense(n, nil)
	prec.SetSym(0, 0, 0.25)
	for i := 1; i < n; i++ {
		prec.SetSym(i, i, 1)
	}
	var ata mat.SymDense
	ata.SymOuterK(1/(m.sigma*m.sigma), a.T())
	prec.AddSym(prec, &ata)
	var ch mat.Cholesky
	if !ch.Factorize(prec) {
		panic("posterior precision not positive definite")
	}
	var cov mat.SymDense
	if err := ch.InverseTo(&cov); err != nil {
		panic(err)
	}
	var aty mat.VecDense
	aty.MulVec(a.T(), mat.NewVecDense(len(m.y), m.y))
	aty.ScaleVec(1/(m.sigma*m.sigma), &aty)
	var mean mat.VecDense
	mean.MulVec(&cov, &aty)
	return mean.RawVector().Data, &cov
}

func pcnrwFactory(m latentModel, beta, scale float64) func(int) (mcmc.Kernel, error) {
	z := make([]int, len(m.y))
	for i := range z {
		z[i] = 1 + i
	}
	return func(int) (mcmc.Kernel, error) {
		return mcmc.NewPCNRW(mcmc.NewPCN(m, z, beta), mcmc.NewRandomWalk(m, []int{0}, []float64{scale})), nil
	}
}

// moments returns m's posterior mean and marginal variances.
func (m latentModel) moments() (mean, variance []float64) {
	mean, cov := m.posterior()
	variance = make([]float64, m.Dim())
	for i := range variance {
		variance[i] = cov.At(i, i)
	}
	return mean, variance
}

// acceptance returns the fractions of sampling draws in which the first and the
// second block (PCNRW: pCN, then the random walk) accepted.
func acceptance(chains ...mcmc.Chain) (first, second float64) {
	n := 0.0
	for _, c := range chains {
		for _, info := range c.Sample.Info {
			if info.Accepted[0] {
				first++
			}
			if info.Accepted[1] {
				second++
			}
			n++
		}
	}
	return first / n, second / n
}

func TestPCNRWMoments(t *testing.T) {
	m := latentModel{y: []float64{1.2, 0.3, 2.1, 1.6, 0.7}, s: 0.8, sigma: 0.5}
	mean, variance := m.moments()
	cfg := mcmc.Config{Chains: 4, Warmup: 500, Draws: 10000, Seed: seed(5)}
	if testing.Short() {
		cfg.Draws = 3000
	}
	chains, err := mcmc.Run(context.Background(), pcnrwFactory(m, 0.5, 0.6), cfg)
	require.NoError(t, err)
	essMean, essVar := checkMoments(t, chains, mean, variance, kMCSE)
	accPCN, accRW := acceptance(chains...)
	t.Logf("min ESS: mean %.0f, variance %.0f of %d draws; acceptance pCN %.3f, RW %.3f",
		essMean, essVar, cfg.Chains*cfg.Draws, accPCN, accRW)
}

// Warmup tunes β and the random-walk multiplier from far-off starting values (β 0.001,
// scale 30 where the posterior sd is about 0.3) until the sampling phase accepts at
// the target rates, and the draws keep the exact posterior moments. Without
// adaptation the same start barely moves.
func TestMetropolisAdaptation(t *testing.T) {
	m := latentModel{y: []float64{1.2, 0.3, 2.1, 1.6, 0.7}, s: 0.8, sigma: 0.5}
	mean, variance := m.moments()
	cfg := mcmc.Config{Chains: 4, Warmup: 2000, Draws: 5000, Seed: seed(8)}
	chains, err := mcmc.Run(context.Background(), pcnrwFactory(m, 0.001, 30), cfg)
	require.NoError(t, err)
	checkMoments(t, chains, mean, variance, kMCSE)

	ad, ok := mcmc.NewMetropolisAdaptation(mcmc.NewPCNRW(mcmc.NewPCN(m, []int{1, 2}, 0.5), mcmc.NewRandomWalk(m, []int{0}, nil)), cfg.Warmup)
	require.True(t, ok)
	rwTarget, pcnTarget := ad.Targets()
	require.Equal(t, 0.44, rwTarget) // a one-coordinate block
	require.Equal(t, 0.234, pcnTarget)
	for c, ch := range chains {
		accPCN, accRW := acceptance(ch)
		t.Logf("chain %d: β %.3f, scale multiplier %.4f, acceptance pCN %.3f, RW %.3f", c, ch.Params.Beta, ch.Params.StepSize, accPCN, accRW)
		// Acceptance over 5000 correlated decisions has a standard error near 0.01;
		// the tolerance also covers the averaged scale's distance from the exact root.
		require.InDelta(t, pcnTarget, accPCN, 0.05)
		require.InDelta(t, rwTarget, accRW, 0.05)
	}

	cfg.NoAdapt = true
	chains, err = mcmc.Run(context.Background(), pcnrwFactory(m, 0.001, 30), cfg)
	require.NoError(t, err)
	_, accRW := acceptance(chains[0])
	require.Less(t, accRW, 0.05)
	require.Equal(t, 1.0, chains[0].Params.StepSize)
	require.Equal(t, 0.001, chains[0].Params.Beta) // the β used

	require.Empty(t, ad.Windows()) // a one-coordinate block has no shape to learn
	_, ok = mcmc.NewMetropolisAdaptation(mcmc.NewNUTS(stdNormal{2}), cfg.Warmup)
	require.False(t, ok)

	// A random walk on every coordinate, and pCN alone on z, reach their targets too.
	z := []int{1, 2, 3, 4, 5}
	for _, tc := range []struct {
		name string
		k    func(int) (mcmc.Kernel, error)
	}{
		{"RandomWalk", func(int) (mcmc.Kernel, error) { return mcmc.NewRandomWalk(m, nil, nil), nil }},
		{"PCN", func(int) (mcmc.Kernel, error) { return mcmc.NewPCN(m, z, 0.001), nil }},
	} {
		chains, err := mcmc.Run(context.Background(), tc.k, mcmc.Config{Chains: 2, Warmup: 2000, Draws: 5000, Seed: seed(9)})
		require.NoError(t, err)
		for _, ch := range chains {
			acc, _ := acceptance(ch)
			t.Logf("%s: step size %.3g, β %.3g, acceptance %.3f", tc.name, ch.Params.StepSize, ch.Params.Beta, acc)
			require.InDelta(t, 0.234, acc, 0.05, tc.name)
		}
	}
}

// MetropolisAdaptation follows its documented recursion, block by block, for each
// kind of Metropolis kernel: a transcription of the formulas is the oracle.
func TestMetropolisAdaptationRecursion(t *testing.T) {
	m := latentModel{y: []float64{1.2, 0.3, 2.1}, s: 0.8, sigma: 0.5}
	type want struct{ logEps, logBeta float64 }
	rm := func(x0 float64, target, max float64, stats []float64) float64 {
		x, xBar := x0, x0
		for i, a := range stats {
			t := float64(i + 1)
			x = math.Min(x+(math.Min(a, 1)-target)/math.Pow(t, 0.6), max)
			w := math.Pow(t, -0.75)
			xBar = (1-w)*xBar + w*x
		}
		return xBar
	}
	r := rand.New(rand.NewPCG(1, 1))
	const n = 300
	pcnStats, rwStats := make([]float64, n), make([]float64, n)
	infos := make([]mcmc.Info, n)
	for i := range infos {
		// Early on everything is accepted, which drives log β against its bound.
		acc := i < 60 || r.Float64() < 0.1
		if acc {
			pcnStats[i] = 1
		}
		rwStats[i] = r.Float64()
		infos[i] = mcmc.Info{AcceptStat: rwStats[i], Accepted: [2]bool{acc}}
	}
	for _, tc := range []struct {
		name  string
		k     mcmc.Kernel
		stats func(mcmc.Info) float64
		rw    bool // StepSize adapts; otherwise β does
		delta float64
	}{
		{"RandomWalk", mcmc.NewRandomWalk(m, []int{0, 1}, nil), nil, true, 0.234},
		{"RandomWalk/one", mcmc.NewRandomWalk(m, []int{0}, nil), nil, true, 0.44},
		{"PCN", mcmc.NewPCN(m, []int{1, 2, 3}, 0.3), nil, false, 0.234},
		{"PCN/one", mcmc.NewPCN(m, []int{1}, 0.3), nil, false, 0.44},
	} {
		// Without a warmup length (numWarmup 0) only the sizes adapt.
		ad, ok := mcmc.NewMetropolisAdaptation(tc.k, 0)
		require.True(t, ok, tc.name)
		require.Empty(t, ad.Windows(), tc.name)
		p := mcmc.Params{StepSize: 2}
		ad.Init(&p)
		s := mcmc.State{Q: make([]float64, m.Dim())}
		for _, info := range infos {
			ad.Update(&s, info, &p)
		}
		ad.Final(&p)
		if tc.rw {
			require.InDelta(t, rm(math.Log(2), tc.delta, math.Inf(1), rwStats), math.Log(p.StepSize), 1e-12, tc.name)
			require.Zero(t, p.Beta, tc.name)
		} else {
			require.InDelta(t, rm(math.Log(0.3), tc.delta, 0, rwStats), math.Log(p.Beta), 1e-12, tc.name)
			require.Equal(t, 2.0, p.StepSize, tc.name)
		}
	}
	ad, _ := mcmc.NewMetropolisAdaptation(mcmc.NewPCNRW(mcmc.NewPCN(m, []int{1, 2, 3}, 0.3), mcmc.NewRandomWalk(m, []int{0}, nil)), n)
	require.Empty(t, ad.Windows())
	var p mcmc.Params
	ad.Init(&p)
	require.Equal(t, mcmc.Params{StepSize: 1, Beta: 0.3}, p)
	s := mcmc.State{Q: make([]float64, m.Dim())}
	for _, info := range infos {
		ad.Update(&s, info, &p)
	}
	ad.Final(&p)
	wantBeta := rm(math.Log(0.3), 0.234, 0, pcnStats)
	require.InDelta(t, rm(0, 0.44, math.Inf(1), rwStats), math.Log(p.StepSize), 1e-12)
	require.InDelta(t, wantBeta, math.Log(p.Beta), 1e-12)
	// Without the bound at β = 1 the 60 accepted proposals would have pushed log β
	// far above 0, and the rejections after them would not have brought it back.
	require.Less(t, p.Beta, 0.5)
}

// A β outside [0, 1] in the initial tunables or in a checkpoint is an error, not a
// panic inside a chain.
func TestRunRejectsBadBeta(t *testing.T) {
	m := latentModel{y: []float64{1.2}, s: 0.8, sigma: 0.5}
	newKernel := pcnrwFactory(m, 0.2, 0.5)
	_, err := mcmc.Run(context.Background(), newKernel, mcmc.Config{Chains: 1, Draws: 5, Params: mcmc.Params{Beta: 1.5}})
	require.ErrorContains(t, err, "β = 1.5")
	_, err = mcmc.Run(context.Background(), newKernel, mcmc.Config{Chains: 1, Draws: 5,
		Resume: []*mcmc.Checkpoint{{Q: []float64{0, 0}, Params: mcmc.Params{Beta: math.NaN()}}}})
	require.ErrorContains(t, err, "checkpoint of chain 0")
}

// With a likelihood free of z, pCN proposals leave the density ratio equal to the
// prior ratio, which the acceptance ratio removes: every pCN move is accepted, for
// notebook 05's β = 0.2 as for any other. The z block is then an exact N(0, I)
// autoregression with lag-one correlation ρ = √(1−β²), so its moments are checked at
// β = 0.5, where ρ ≈ 0.87 leaves batch means enough effective draws per batch.
func TestPCNAcceptsAllWhenLikelihoodIgnoresZ(t *testing.T) {
	m := latentModel{y: []float64{1.2, 0.3, 2.1, 1.6, 0.7}, s: 0, sigma: 0.5}
	mean, variance := m.moments()
	for _, beta := range []float64{0.2, 0.5} {
		cfg := mcmc.Config{Chains: 2, Warmup: 100, Draws: 5000, Seed: seed(6), NoAdapt: true}
		chains, err := mcmc.Run(context.Background(), pcnrwFactory(m, beta, 0.6), cfg)
		require.NoError(t, err)
		var rw int
		for _, c := range chains {
			for i, info := range c.Sample.Info {
				require.Truef(t, info.Accepted[0], "β = %g: pCN rejected at draw %d", beta, i)
				require.Equal(t, 2, info.NumSteps, "one density evaluation per block")
				if info.Accepted[1] {
					rw++
				}
			}
		}
		if beta == 0.5 {
			checkMoments(t, chains, mean, variance, kMCSE)
		}
		t.Logf("β = %g: acceptance pCN 1, RW %.3f", beta, float64(rw)/float64(cfg.Chains*cfg.Draws))
	}
}

// nanOutside has log density −½q² on |q| < 1 and NaN (zero density) outside.
type nanOutside struct{}

func (nanOutside) Dim() int { return 1 }

func (nanOutside) LogDensity(q []float64) float64 {
	if math.Abs(q[0]) >= 1 {
		return math.NaN()
	}
	return -0.5 * q[0] * q[0]
}

func (t nanOutside) LogDensityGrad(q, g []float64) float64 {
	g[0] = -q[0]
	return t.LogDensity(q)
}

// A NaN density is a rejection for Metropolis kernels and a divergence for NUTS,
// never a panic or a NaN draw.
func TestBadDensity(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, k := range []mcmc.Kernel{mcmc.NewRandomWalk(nanOutside{}, nil, []float64{3}), mcmc.NewNUTS(nanOutside{})} {
		s, err := k.Init([]float64{0.5})
		require.NoError(t, err)
		d := s.Clone()
		p := mcmc.Params{StepSize: 1.5}
		var rejected, divergent int
		for range 200 {
			info := k.Step(r, &d, &s, p)
			s, d = d, s
			require.Less(t, math.Abs(s.Q[0]), 1.0)
			require.False(t, math.IsNaN(s.LogDensity))
			if !info.Accepted[0] {
				rejected++
			}
			if info.Divergent {
				divergent++
			}
		}
		if _, ok := k.(*mcmc.NUTS); ok {
			require.Positive(t, divergent)
		} else {
			require.Positive(t, rejected)
		}
	}

	_, err := mcmc.NewNUTS(nanOutside{}).Init([]float64{2})
	require.ErrorIs(t, err, mcmc.ErrNotFinite)
	// Uniform initialisation retries until it lands inside (−1, 1).
	s, err := mcmc.InitUniform(r, mcmc.NewNUTS(nanOutside{}), 2)
	require.NoError(t, err)
	require.Less(t, math.Abs(s.Q[0]), 1.0)
	// It gives up after 100 draws when there is nothing to land on.
	_, err = mcmc.Run(context.Background(), func(int) (mcmc.Kernel, error) {
		return mcmc.NewRandomWalk(alwaysNaN{}, nil, nil), nil
	}, mcmc.Config{Chains: 1, Draws: 1})
	require.ErrorIs(t, err, mcmc.ErrNotFinite)
}

type alwaysNaN struct{}

func (alwaysNaN) Dim() int                       { return 2 }
func (alwaysNaN) LogDensity(q []float64) float64 { return math.NaN() }
