package mcmc_test

import (
	"flag"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/mcmc"
)

// seedOffset shifts the seeds of the statistical tests, so that they can be re-run on
// fresh random streams: go test ./mcmc -args -seed-offset=17. Pinned-value tests
// and examples ignore it.
var seedOffset = flag.Uint64("seed-offset", 0, "added to the seeds of the statistical tests")

func seed(s uint64) uint64 { return s + *seedOffset }

// stdNormal is N(0, I_n) with log density exactly −½|q|² (no constant), so that the
// mean NUTS energy is n.
type stdNormal struct{ n int }

func (t stdNormal) Dim() int { return t.n }

func (t stdNormal) LogDensity(q []float64) float64 {
	var s float64
	for _, v := range q {
		s += v * v
	}
	return -0.5 * s
}

func (t stdNormal) LogDensityGrad(q, g []float64) float64 {
	for i, v := range q {
		g[i] = -v
	}
	return t.LogDensity(q)
}

// gaussian is N(mu, Σ) given by its precision P = Σ⁻¹ (row-major).
type gaussian struct {
	mu, prec, d []float64 // d: scratch q − mu
}

func newGaussian(mu []float64, cov mat.Symmetric) *gaussian {
	n := len(mu)
	var ch mat.Cholesky
	if !ch.Factorize(cov) {
		panic("test covariance not positive definite")
	}
	var p mat.SymDense
	if err := ch.InverseTo(&p); err != nil {
		panic(err)
	}
	g := &gaussian{mu: mu, prec: make([]float64, n*n), d: make([]float64, n)}
	for i := range n {
		for j := range n {
			g.prec[i*n+j] = p.At(i, j)
		}
	}
	return g
}

// clone returns a copy with its own scratch buffer, as a per-chain factory must.
func (g *gaussian) clone() *gaussian {
	return &gaussian{mu: g.mu, prec: g.prec, d: make([]float64, len(g.mu))}
}

func (g *gaussian) Dim() int { return len(g.mu) }

func (g *gaussian) LogDensity(q []float64) float64 { return g.LogDensityGrad(q, nil) }

func (g *gaussian) LogDensityGrad(q, grad []float64) float64 {
	n := len(g.mu)
	for i := range n {
		g.d[i] = q[i] - g.mu[i]
	}
	var s float64
	for i := range n {
		var pd float64
		row := g.prec[i*n : (i+1)*n]
		for j, v := range row {
			pd += v * g.d[j]
		}
		s += g.d[i] * pd
		if grad != nil {
			grad[i] = -pd
		}
	}
	return -0.5 * s
}

// funnel is Neal's funnel: v ~ N(0, 3²), xᵢ | v ~ N(0, e^v), i = 1…n−1.
type funnel struct{ n int }

func (f funnel) Dim() int { return f.n }

func (f funnel) LogDensity(q []float64) float64 { return f.LogDensityGrad(q, nil) }

func (f funnel) LogDensityGrad(q, g []float64) float64 {
	v := q[0]
	ev := math.Exp(-v)
	var ss float64
	for i, x := range q[1:] {
		ss += x * x
		if g != nil {
			g[i+1] = -x * ev
		}
	}
	m := float64(f.n - 1)
	if g != nil {
		g[0] = -v/9 + 0.5*ss*ev - 0.5*m
	}
	return -v*v/18 - 0.5*ss*ev - 0.5*m*v
}

// correlatedCov returns Q·diag(λ)·Qᵀ with λ log-spaced over [1e-2, 1e2] (condition
// number 1e4) and Q a random orthogonal matrix from the QR factorisation of a
// Gaussian matrix.
func correlatedCov(n int, seed uint64) *mat.SymDense {
	r := rand.New(rand.NewPCG(seed, 0))
	a := mat.NewDense(n, n, nil)
	for i := range n {
		for j := range n {
			a.Set(i, j, r.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(a)
	var q mat.Dense
	qr.QTo(&q)
	cov := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			var s float64
			for k := range n {
				lam := math.Pow(10, -2+4*float64(k)/float64(n-1))
				s += q.At(i, k) * lam * q.At(j, k)
			}
			cov.SetSym(i, j, s)
		}
	}
	return cov
}

// batchMeans returns the mean of x and its Monte Carlo standard error estimated from
// ⌊√N⌋ batches of ⌊√N⌋ draws (the batch-means method; Flegal & Jones 2010), and the
// effective sample size N·var(x)/(b·var(batch means)).
func batchMeans(x []float64) (mean, mcse, ess float64) {
	n := len(x)
	b := int(math.Sqrt(float64(n)))
	a := n / b
	x = x[n-a*b:] // drop the oldest draws so batches are full
	n = a * b
	for _, v := range x {
		mean += v
	}
	mean /= float64(n)
	var varX, varB float64
	for _, v := range x {
		varX += (v - mean) * (v - mean)
	}
	varX /= float64(n - 1)
	for k := range a {
		var m float64
		for _, v := range x[k*b : (k+1)*b] {
			m += v
		}
		m /= float64(b)
		varB += (m - mean) * (m - mean)
	}
	varB /= float64(a - 1)
	mcse = math.Sqrt(varB / float64(a))
	return mean, mcse, float64(n) * varX / (float64(b) * varB)
}

// pooled combines per-chain batch-means estimates of the same quantity: the mean of
// the chain means and its standard error, and the summed ESS.
func pooled(chains [][]float64) (mean, mcse, ess float64) {
	var v float64
	for _, x := range chains {
		m, s, e := batchMeans(x)
		mean += m
		v += s * s
		ess += e
	}
	c := float64(len(chains))
	return mean / c, math.Sqrt(v) / c, ess
}

// column returns coordinate j of every sampling draw of each chain, transformed by f.
func column(chains []mcmc.Chain, j int, f func(float64) float64) [][]float64 {
	out := make([][]float64, len(chains))
	for c := range chains {
		t := &chains[c].Sample
		out[c] = make([]float64, t.Len())
		for i := range out[c] {
			out[c][i] = f(t.Draw(i)[j])
		}
	}
	return out
}

func identity(x float64) float64 { return x }

// checkMoments asserts that every coordinate's sample mean is within k MCSE of
// mean[j] and its sample variance about mean[j] within k MCSE of variance[j], and
// returns the smallest ESS of the means and of the variances.
func checkMoments(t *testing.T, chains []mcmc.Chain, mean, variance []float64, k float64) (minESSMean, minESSVar float64) {
	t.Helper()
	minESSMean, minESSVar = math.Inf(1), math.Inf(1)
	for j := range mean {
		m, se, ess := pooled(column(chains, j, identity))
		require.InDeltaf(t, mean[j], m, k*se, "mean of coordinate %d (MCSE %.3g, ESS %.0f)", j, se, ess)
		minESSMean = min(minESSMean, ess)
		mu := mean[j]
		v, sev, essv := pooled(column(chains, j, func(x float64) float64 { return (x - mu) * (x - mu) }))
		require.InDeltaf(t, variance[j], v, k*sev, "variance of coordinate %d (MCSE %.3g, ESS %.0f)", j, sev, essv)
		minESSVar = min(minESSVar, essv)
	}
	return minESSMean, minESSVar
}

// sampleStats sums NUTS diagnostics over the sampling draws of all chains.
func sampleStats(chains []mcmc.Chain) (divergent int, meanAccept, meanDepth, meanEnergy float64) {
	var n int
	for _, c := range chains {
		for _, info := range c.Sample.Info {
			if info.Divergent {
				divergent++
			}
			meanAccept += info.AcceptStat
			meanDepth += float64(info.TreeDepth)
			meanEnergy += info.Energy
			n++
		}
	}
	return divergent, meanAccept / float64(n), meanDepth / float64(n), meanEnergy / float64(n)
}

func nutsFactory(newTarget func() mcmc.GradDensity) func(int) (mcmc.Kernel, error) {
	return func(int) (mcmc.Kernel, error) { return mcmc.NewNUTS(newTarget()), nil }
}
