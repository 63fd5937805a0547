package bffg

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/topology"
	"github.com/canopy-bffg/canopy/tree"
)

// randomTree returns a tree of n nodes in which each new node picks a uniformly random
// earlier node as parent (so polytomies and unary nodes occur), with branch lengths in
// (0.1, 2) and, when zeroEdge is set, one internal edge of length zero.
func randomTree(rng *rand.Rand, n int, zeroEdge bool) *topology.Topology {
	parents := make([]int, n)
	lengths := make([]float64, n)
	parents[0] = -1
	for v := 1; v < n; v++ {
		parents[v] = rng.IntN(v)
		lengths[v] = 0.1 + 1.9*rng.Float64()
	}
	t, _, err := topology.FromParents(parents, lengths, nil)
	if err != nil {
		panic(err)
	}
	if zeroEdge {
		l := t.BranchLengths()
		for v := 1; v < t.Len(); v++ {
			if !t.IsLeaf(v) {
				l[v] = 0
				break
			}
		}
		t, _ = t.WithBranchLengths(l)
	}
	return t
}

// randomSPD returns a random d×d symmetric positive definite matrix scaled by s.
func randomSPD(rng *rand.Rand, d int, s float64) []float64 {
	g := make([]float64, d*d)
	for i := range g {
		g[i] = rng.NormFloat64()
	}
	a := make([]float64, d*d)
	for i := 0; i < d; i++ {
		for j := 0; j < d; j++ {
			v := 0.0
			for k := 0; k < d; k++ {
				v += g[i*d+k] * g[j*d+k]
			}
			a[i*d+j] = s * (v/float64(d) + 0.5*b2f(i == j))
		}
	}
	return a
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func randomObs(rng *rand.Rand, t *topology.Topology, d int) []float64 {
	y := make([]float64, t.NumLeaves()*d)
	for i := range y {
		y[i] = rng.NormFloat64() * 2
	}
	return y
}

// generalProxy is a linear-Gaussian edge with random A, b and Q fixed per node: the most
// general discrete edge the filter supports.
type generalProxy struct {
	d       int
	A, b, Q [][]float64
}

func newGeneralProxy(rng *rand.Rand, t *topology.Topology, d int) generalProxy {
	p := generalProxy{d: d}
	for v := 0; v < t.Len(); v++ {
		A := make([]float64, d*d)
		for i := range A {
			A[i] = 0.3 * rng.NormFloat64()
		}
		for i := 0; i < d; i++ {
			A[i*d+i] += 1
		}
		b := make([]float64, d)
		for i := range b {
			b[i] = rng.NormFloat64()
		}
		Q := randomSPD(rng, d, t.BranchLength(v))
		p.A, p.b, p.Q = append(p.A, A), append(p.b, b), append(p.Q, Q)
	}
	return p
}

func (p generalProxy) Proxy(v int, _ []float64, A, b, Q []float64) {
	copy(A, p.A[v])
	copy(b, p.b[v])
	copy(Q, p.Q[v])
}

func relClose(t *testing.T, want, got, tol float64, msg string) {
	t.Helper()
	if math.Abs(want-got) > tol*math.Max(1, math.Abs(want)) {
		t.Errorf("%s: got %.15g, want %.15g (rel diff %.3g)", msg, got, want, math.Abs(want-got)/math.Max(1, math.Abs(want)))
	}
}

type evidenceCase struct {
	name string
	d    int
	obs  func(rng *rand.Rand, t *topology.Topology, d int) Obs
	root func(rng *rand.Rand, d int) Root
}

var obsCases = []struct {
	name string
	make func(rng *rand.Rand, t *topology.Topology, d int) Obs
}{
	{"isotropic", func(rng *rand.Rand, t *topology.Topology, d int) Obs {
		return Obs{Y: randomObs(rng, t, d), Var: 0.3}
	}},
	{"matrix noise", func(rng *rand.Rand, t *topology.Topology, d int) Obs {
		return Obs{Y: randomObs(rng, t, d), Cov: randomSPD(rng, d, 0.2)}
	}},
	{"exact", func(rng *rand.Rand, t *topology.Topology, d int) Obs {
		return Obs{Y: randomObs(rng, t, d)}
	}},
	{"mixed exact noisy missing", func(rng *rand.Rand, t *topology.Topology, d int) Obs {
		y := randomObs(rng, t, d)
		lv := make([]float64, t.NumLeaves())
		for i := range lv {
			switch i % 4 {
			case 0:
				lv[i] = 0 // exact
			case 1:
				lv[i] = 0.05
			case 2:
				lv[i] = 1.5
				for a := 0; a < d; a++ { // wholly unobserved
					y[i*d+a] = math.NaN()
				}
			case 3:
				lv[i] = 0.4
				y[i*d] = math.NaN() // partly observed (unobserved if d = 1)
			}
		}
		return Obs{Y: y, LeafVar: lv}
	}},
	{"partial matrix noise", func(rng *rand.Rand, t *topology.Topology, d int) Obs {
		y := randomObs(rng, t, d)
		y[(t.NumLeaves()-1)*d] = math.NaN()
		return Obs{Y: y, Cov: randomSPD(rng, d, 0.5)}
	}},
}

var rootCases = []struct {
	name string
	make func(rng *rand.Rand, d int) Root
}{
	{"fixed zero", func(*rand.Rand, int) Root { return Root{} }},
	{"fixed", func(rng *rand.Rand, d int) Root {
		m := make([]float64, d)
		for i := range m {
			m[i] = rng.NormFloat64()
		}
		return Root{Mean: m}
	}},
	{"gaussian prior", func(rng *rand.Rand, d int) Root {
		m := make([]float64, d)
		for i := range m {
			m[i] = rng.NormFloat64()
		}
		return Root{Mean: m, Cov: randomSPD(rng, d, 2)}
	}},
}

// TestEvidenceMatchesDense checks the filter's log h_root against the dense closed form
// (bffg-math §6 oracle 1) on random trees with polytomies, unary nodes, unequal and
// zero branch lengths, for every observation and root case, d = 1, 2, 3.
func TestEvidenceMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, d := range []int{1, 2, 3} {
		for _, oc := range obsCases {
			for _, rc := range rootCases {
				for rep := 0; rep < 3; rep++ {
					name := fmt.Sprintf("d=%d/%s/%s/%d", d, oc.name, rc.name, rep)
					tr := randomTree(rng, 12+rng.IntN(20), true)
					obs := oc.make(rng, tr, d)
					root := rc.make(rng, d)
					models := []struct {
						name string
						p    Proxy
					}{
						{"bm", BM{Tree: tr, D: d, Sigma2: 0.7, Cov: randomSPD(rng, d, 1)}},
						{"ou", OU{Tree: tr, D: d, Alpha: 0.8, Theta: randomObs(rng, tr, d)[:d], Sigma2: 1.3}},
						{"general", newGeneralProxy(rng, tr, d)},
					}
					for _, m := range models {
						var f Filter
						require.NoError(t, f.Run(tr, m.p, obs), name)
						got, err := f.LogLikelihood(root)
						require.NoError(t, err)
						want, err := DenseLogLikelihood(tr, m.p, obs, root)
						require.NoError(t, err)
						relClose(t, want, got, 1e-10, name+"/"+m.name)
						if bm, ok := m.p.(BM); ok {
							want2, err := MarginalBM(tr, bm.Sigma2, bm.Cov, obs, root)
							require.NoError(t, err)
							relClose(t, want2, got, 1e-10, name+"/MarginalBM")
						}
					}
				}
			}
		}
	}
}

// TestEvidenceLaws checks algebraic laws of the filter: splitting a Brownian edge with a
// unary node does not change the evidence, and the result is the same whatever the
// schedule (GOMAXPROCS independence).
func TestEvidenceLaws(t *testing.T) {
	// ((a:1,b:2):1.5,c:3) versus the same tree with the 1.5 edge split into 0.5 + 1.
	t1, _, err := topology.FromParents([]int{-1, 0, 0, 1, 1}, []float64{0, 1.5, 3, 1, 2}, nil)
	require.NoError(t, err)
	t2, _, err := topology.FromParents([]int{-1, 0, 0, 1, 3, 3}, []float64{0, 0.5, 3, 1, 1, 2}, nil)
	require.NoError(t, err)
	// Leaf order: t1 is c, a, b; t2 is c, a, b too (c at level 1, then a, b at level 3).
	y := []float64{0.3, -1.2, 0.8}
	var f1, f2 Filter
	require.NoError(t, f1.Run(t1, BM{Tree: t1, D: 1, Sigma2: 0.9}, Obs{Y: y, Var: 0.2}))
	require.NoError(t, f2.Run(t2, BM{Tree: t2, D: 1, Sigma2: 0.9}, Obs{Y: y, Var: 0.2}))
	l1, _ := f1.LogLikelihood(Root{})
	l2, _ := f2.LogLikelihood(Root{})
	relClose(t, l1, l2, 1e-13, "unary split")

	rng := rand.New(rand.NewPCG(3, 4))
	big := randomTree(rng, 20000, false)
	yb := randomObs(rng, big, 2)
	var serial, par Filter
	serial.Schedule = tree.Schedule{Workers: 1}
	par.Schedule = tree.Schedule{Workers: 4, Grain: 16}
	m := BM{Tree: big, D: 2, Sigma2: 0.5}
	require.NoError(t, serial.Run(big, m, Obs{Y: yb, Var: 0.1}))
	require.NoError(t, par.Run(big, m, Obs{Y: yb, Var: 0.1}))
	require.Equal(t, serial.c, par.c)
	require.Equal(t, serial.h.Data, par.h.Data)
}

// TestProxyEqualsTruthZeroWeights: with the true kernel equal to the proxy, every
// log-weight is exactly zero (the two sides are computed by the same arithmetic).
func TestProxyEqualsTruthZeroWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, d := range []int{1, 2, 3} {
		for _, oc := range obsCases {
			tr := randomTree(rng, 25, true)
			obs := oc.make(rng, tr, d)
			for _, k := range []interface {
				Proxy
				Kernel
			}{
				BM{Tree: tr, D: d, Sigma2: 0.7, Cov: randomSPD(rng, d, 1)},
				OU{Tree: tr, D: d, Alpha: 0.5, Theta: []float64{1, 2, 3}[:d], Sigma2: 1.1},
			} {
				var f Filter
				require.NoError(t, f.Run(tr, k, obs))
				n := tr.Len()
				z, x, lw := make([]float64, n*d), make([]float64, n*d), make([]float64, n)
				for i := range z {
					z[i] = rng.NormFloat64()
				}
				sum, err := f.Guide(k, Root{Mean: make([]float64, d), Cov: randomSPD(rng, d, 1)}, z, x, lw)
				require.NoError(t, err)
				require.Equal(t, 0.0, sum)
				for v, w := range lw {
					require.Equal(t, 0.0, w, "node %d", v)
				}
			}
		}
	}
}

// TestGuidedMomentsMatchConditioning: in the linear case x(z = 0) is the posterior mean of
// every node and, x being affine in z, JJ' (J = ∂x/∂z) is the joint posterior covariance
// (bffg-math §6 oracle 5), compared with dense Gaussian conditioning.
func TestGuidedMomentsMatchConditioning(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, d := range []int{1, 2} {
		for _, oc := range obsCases {
			for _, rc := range rootCases {
				tr := randomTree(rng, 14, true)
				obs := oc.make(rng, tr, d)
				root := rc.make(rng, d)
				p := newGeneralProxy(rng, tr, d)
				var f Filter
				require.NoError(t, f.Run(tr, p, obs))
				n := tr.Len()
				N := n * d
				x0, x, lw := make([]float64, N), make([]float64, N), make([]float64, n)
				z := make([]float64, N)
				_, err := f.Guide(nil, root, z, x0, lw)
				require.NoError(t, err)
				wantMean, wantCov, err := DensePosterior(tr, p, obs, root)
				require.NoError(t, err)
				for i := range x0 {
					require.InDelta(t, wantMean[i], x0[i], 1e-9*(1+math.Abs(wantMean[i])), "%s %s d=%d mean[%d]", oc.name, rc.name, d, i)
				}
				J := make([]float64, N*N) // column k = x(e_k) − x(0)
				for k := 0; k < N; k++ {
					z[k] = 1
					_, err := f.Guide(nil, root, z, x, lw)
					require.NoError(t, err)
					z[k] = 0
					for i := 0; i < N; i++ {
						J[i*N+k] = x[i] - x0[i]
					}
				}
				for i := 0; i < N; i++ {
					for j := 0; j < N; j++ {
						s := 0.0
						for k := 0; k < N; k++ {
							s += J[i*N+k] * J[j*N+k]
						}
						require.InDelta(t, wantCov[i*N+j], s, 1e-8, "%s %s d=%d cov[%d,%d]", oc.name, rc.name, d, i, j)
					}
				}
			}
		}
	}
}

// TestUnbiasedWeights: with proxy ≠ truth (both linear), E_q[Π w_v]·h̃_root(x_root) = p(y)
// (bffg-math §2.4). The Monte Carlo mean of the weights is compared with the dense
// evidence under the true model within 4 standard errors.
func TestUnbiasedWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	tr := randomTree(rng, 9, false)
	d := 2
	truth := newGeneralProxy(rng, tr, d)
	proxy := generalProxy{d: d}
	for v := range truth.A {
		A := append([]float64(nil), truth.A[v]...)
		A[1] += 0.1
		b := append([]float64(nil), truth.b[v]...)
		b[0] += 0.2
		Q := append([]float64(nil), truth.Q[v]...)
		for i := range Q {
			Q[i] *= 1.3
		}
		proxy.A, proxy.b, proxy.Q = append(proxy.A, A), append(proxy.b, b), append(proxy.Q, Q)
	}
	obs := Obs{Y: randomObs(rng, tr, d), Var: 0.5}
	root := Root{Mean: []float64{0.2, -0.1}}
	want, err := DenseLogLikelihood(tr, truth, obs, root)
	require.NoError(t, err)
	var f Filter
	require.NoError(t, f.Run(tr, proxy, obs))
	lp, err := f.LogLikelihood(root)
	require.NoError(t, err)
	kernel := KernelFunc(func(v int, x, mean, cov []float64) {
		mulVec(mean, truth.A[v], d, d, x)
		for i := range mean {
			mean[i] += truth.b[v][i]
		}
		copy(cov, truth.Q[v])
	})
	n := tr.Len()
	z, x, lw := make([]float64, n*d), make([]float64, n*d), make([]float64, n)
	const draws = 100000
	ws := make([]float64, draws)
	for i := range ws {
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		s, err := f.Guide(kernel, root, z, x, lw)
		require.NoError(t, err)
		ws[i] = math.Exp(s + lp - want) // ratio to the exact evidence; mean 1
	}
	mean, sd := meanSD(ws)
	se := sd / math.Sqrt(draws)
	require.InDelta(t, 1, mean, 4*se, "E[w]·h/p(y) = %.4f ± %.4f", mean, se)
	require.Greater(t, sd, 0.01, "weights should vary when proxy ≠ truth")
}

func meanSD(x []float64) (float64, float64) {
	m := 0.0
	for _, v := range x {
		m += v
	}
	m /= float64(len(x))
	s := 0.0
	for _, v := range x {
		s += (v - m) * (v - m)
	}
	return m, math.Sqrt(s / float64(len(x)-1))
}

// TestSimulateMoments: unconditional simulation has the prior moments of Joint.
func TestSimulateMoments(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	tr := randomTree(rng, 7, false)
	d := 2
	p := newGeneralProxy(rng, tr, d)
	root := Root{Mean: []float64{1, -1}, Cov: randomSPD(rng, d, 1)}
	k := KernelFunc(func(v int, x, mean, cov []float64) {
		var A, b, Q = make([]float64, d*d), make([]float64, d), make([]float64, d*d)
		p.Proxy(v, nil, A, b, Q)
		mulVec(mean, A, d, d, x)
		for i := range mean {
			mean[i] += b[i]
		}
		copy(cov, Q)
	})
	wantMean, wantCov := Joint(tr, d, p, root)
	n := tr.Len()
	N := n * d
	z, x := make([]float64, N), make([]float64, N)
	const draws = 40000
	sum := make([]float64, N)
	sq := make([]float64, N)
	for i := 0; i < draws; i++ {
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		require.NoError(t, Simulate(tr, d, k, root, z, x))
		for j, v := range x {
			sum[j] += v
			sq[j] += v * v
		}
	}
	for j := 0; j < N; j++ {
		m := sum[j] / draws
		v := sq[j]/draws - m*m
		se := math.Sqrt(wantCov[j*N+j] / draws)
		require.InDelta(t, wantMean[j], m, 4*se, "mean %d", j)
		// The variance of a sample variance is about 2σ⁴/n for a Gaussian.
		require.InDelta(t, wantCov[j*N+j], v, 4*math.Sqrt(2/float64(draws))*wantCov[j*N+j], "var %d", j)
	}
}

func TestFilterErrors(t *testing.T) {
	tr, err := topology.Symmetric(2, 2)
	require.NoError(t, err)
	m := BM{Tree: tr, D: 1, Sigma2: 1}
	var f Filter
	require.ErrorContains(t, f.Run(tr, m, Obs{Y: []float64{1, 2, 3}, Var: 1}), "3 observed values for 4 leaves")
	err = f.Run(tr, m, Obs{Y: []float64{1, 2, 3, 4}, Var: -1})
	require.ErrorIs(t, err, ErrObservation)
	err = f.Run(tr, m, Obs{Y: []float64{1, math.Inf(1), 3, 4}, Var: 1})
	require.ErrorIs(t, err, ErrObservation)
	require.ErrorContains(t, err, "node 4")
	bad := BM{Tree: tr, D: 1, Sigma2: -1}
	err = f.Run(tr, bad, Obs{Y: []float64{1, 2, 3, 4}, Var: 1})
	require.ErrorIs(t, err, ErrNotPosDef)
	// An exact leaf at the end of a zero-length edge pins its parent: reported, not NaN.
	l := tr.BranchLengths()
	l[3] = 0
	tz, err := tr.WithBranchLengths(l)
	require.NoError(t, err)
	err = f.Run(tz, BM{Tree: tz, D: 2, Sigma2: 1}, Obs{Y: make([]float64, 8)})
	require.ErrorIs(t, err, ErrExactZero)
	require.ErrorContains(t, err, "node 3")
	require.Panics(t, func() { var g Filter; g.LogLikelihood(Root{}) })
}

func TestFilterNoAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	tr := randomTree(rng, 500, false)
	for _, d := range []int{1, 2} {
		// Box the model once: converting a struct to an interface allocates.
		var m interface {
			Proxy
			Kernel
		} = BM{Tree: tr, D: d, Sigma2: 0.5}
		obs := Obs{Y: randomObs(rng, tr, d), Var: 0.1}
		n := tr.Len()
		z, x, lw := make([]float64, n*d), make([]float64, n*d), make([]float64, n)
		f := Filter{Schedule: tree.Schedule{Workers: 1}}
		require.NoError(t, f.Run(tr, m, obs))
		allocs := testing.AllocsPerRun(20, func() {
			if err := f.Run(tr, m, obs); err != nil {
				t.Fatal(err)
			}
			if _, err := f.LogLikelihood(Root{}); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Guide(m, Root{}, z, x, lw); err != nil {
				t.Fatal(err)
			}
		})
		require.Zero(t, allocs, "d=%d", d)
	}
}

// TestFlatRoot: the flat-prior evidence is the limit of a Gaussian root prior with
// covariance s·I as s → ∞, after adding the prior's normalising term
// (d/2)·log(2πs); and the root posterior is the dense posterior under that vague prior.
func TestFlatRoot(t *testing.T) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, d := range []int{1, 2} {
		tr := randomTree(rng, 15, false)
		p := newGeneralProxy(rng, tr, d)
		obs := Obs{Y: randomObs(rng, tr, d), Var: 0.3}
		var f Filter
		require.NoError(t, f.Run(tr, p, obs))
		flat, err := f.LogLikelihood(Root{Flat: true})
		require.NoError(t, err)
		const s = 1e8
		cov := make([]float64, d*d)
		for i := 0; i < d; i++ {
			cov[i*d+i] = s
		}
		vague, err := DenseLogLikelihood(tr, p, obs, Root{Cov: cov})
		require.NoError(t, err)
		relClose(t, vague+0.5*float64(d)*math.Log(2*math.Pi*s), flat, 1e-6, "flat evidence")

		mean, rc := make([]float64, d), make([]float64, d*d)
		require.NoError(t, f.RootPosterior(mean, rc))
		wm, wc, err := DensePosterior(tr, p, obs, Root{Cov: cov})
		require.NoError(t, err)
		N := tr.Len() * d
		for i := 0; i < d; i++ {
			require.InDelta(t, wm[i], mean[i], 1e-6*(1+math.Abs(wm[i])))
			for j := 0; j < d; j++ {
				require.InDelta(t, wc[i*N+j], rc[i*d+j], 1e-6*(1+math.Abs(wc[i*N+j])))
			}
		}
		// Guide with a flat root at z = 0 puts the root at its posterior mean.
		n := tr.Len()
		x, lw := make([]float64, n*d), make([]float64, n)
		_, err = f.Guide(nil, Root{Flat: true}, make([]float64, n*d), x, lw)
		require.NoError(t, err)
		require.InDeltaSlice(t, mean, x[:d], 1e-12)
	}
}

// TestScalarPathMatchesConditioning covers the d = 1 fast path (BM and OU proxies):
// the guided draw at z = 0 is the dense posterior mean, including exact, missing and
// noisy leaves and every root case.
func TestScalarPathMatchesConditioning(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	for _, oc := range obsCases {
		for _, rc := range rootCases {
			tr := randomTree(rng, 30, true)
			obs := oc.make(rng, tr, 1)
			root := rc.make(rng, 1)
			for _, m := range []interface {
				Proxy
				Kernel
			}{
				BM{Tree: tr, D: 1, Sigma2: 0.6},
				OU{Tree: tr, D: 1, Alpha: 0.7, Theta: []float64{1.5}, Sigma2: 0.9},
			} {
				var f Filter
				require.NoError(t, f.Run(tr, m, obs))
				require.NotNil(t, f.p1, "scalar path not taken")
				n := tr.Len()
				x, lw := make([]float64, n), make([]float64, n)
				_, err := f.Guide(m, root, make([]float64, n), x, lw)
				require.NoError(t, err)
				want, _, err := DensePosterior(tr, m, obs, root)
				require.NoError(t, err)
				require.InDeltaSlice(t, want, x, 1e-9, "%s %s %T", oc.name, rc.name, m)
			}
		}
	}
}

// TestScalarPathUnbiased: d = 1, proxy BM, truth OU (both with scalar fast paths):
// the weights are unbiased for the true evidence, within 4 standard errors.
func TestScalarPathUnbiased(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	tr := randomTree(rng, 12, false)
	obs := Obs{Y: randomObs(rng, tr, 1), Var: 0.4}
	proxy := BM{Tree: tr, D: 1, Sigma2: 1.2}
	truth := OU{Tree: tr, D: 1, Alpha: 0.3, Theta: []float64{0.5}, Sigma2: 1}
	root := Root{Mean: []float64{0.3}}
	want, err := DenseLogLikelihood(tr, truth, obs, root)
	require.NoError(t, err)
	var f Filter
	require.NoError(t, f.Run(tr, proxy, obs))
	lp, _ := f.LogLikelihood(root)
	n := tr.Len()
	z, x, lw := make([]float64, n), make([]float64, n), make([]float64, n)
	const draws = 100000
	ws := make([]float64, draws)
	for i := range ws {
		for j := range z {
			z[j] = rng.NormFloat64()
		}
		s, err := f.Guide(truth, root, z, x, lw)
		require.NoError(t, err)
		ws[i] = math.Exp(s + lp - want)
	}
	mean, sd := meanSD(ws)
	se := sd / math.Sqrt(draws)
	require.InDelta(t, 1, mean, 4*se, "E[w]·h/p(y) = %.4f ± %.4f", mean, se)
	require.Greater(t, sd, 0.01)
	// The scalar and the general path give the same weights.
	k := KernelFunc(truth.Transition)
	var lw2 = make([]float64, n)
	x2 := make([]float64, n)
	_, err = f.Guide(k, root, z, x2, lw2)
	require.NoError(t, err)
	_, err = f.Guide(truth, root, z, x, lw)
	require.NoError(t, err)
	require.InDeltaSlice(t, lw2, lw, 1e-12)
	require.InDeltaSlice(t, x2, x, 1e-12)
}

// TestSmoothMatchesDense: the linear-time smoother's means and marginal covariances equal
// dense Gaussian conditioning for every observation and root case (flat root against a
// vague Gaussian prior).
func TestSmoothMatchesDense(t *testing.T) {
	rng := rand.New(rand.NewPCG(45, 46))
	for _, d := range []int{1, 2, 3} {
		for _, oc := range obsCases {
			for _, rc := range append(rootCases, struct {
				name string
				make func(rng *rand.Rand, d int) Root
			}{"flat", func(*rand.Rand, int) Root { return Root{Flat: true} }}) {
				tr := randomTree(rng, 15, true)
				obs := oc.make(rng, tr, d)
				root := rc.make(rng, d)
				p := newGeneralProxy(rng, tr, d)
				var f Filter
				require.NoError(t, f.Run(tr, p, obs))
				n := tr.Len()
				mean, cov := make([]float64, n*d), make([]float64, n*d*d)
				if err := f.Smooth(root, mean, cov); err != nil {
					// A flat root needs H_root ≻ 0, which fails only without observations.
					require.True(t, root.Flat, "%v", err)
					continue
				}
				dense := root
				tol := 1e-8
				if root.Flat {
					c := make([]float64, d*d)
					for i := 0; i < d; i++ {
						c[i*d+i] = 1e9
					}
					dense = Root{Cov: c}
					tol = 1e-5
				}
				wm, wc, err := DensePosterior(tr, p, obs, dense)
				require.NoError(t, err)
				N := n * d
				for v := 0; v < n; v++ {
					for i := 0; i < d; i++ {
						require.InDelta(t, wm[v*d+i], mean[v*d+i], tol*(1+math.Abs(wm[v*d+i])), "%s %s d=%d mean v=%d", oc.name, rc.name, d, v)
						for j := 0; j < d; j++ {
							w := wc[(v*d+i)*N+v*d+j]
							require.InDelta(t, w, cov[v*d*d+i*d+j], tol*(1+math.Abs(w)), "%s %s d=%d cov v=%d", oc.name, rc.name, d, v)
						}
					}
				}
			}
		}
	}
}

// The scalar path defers log-determinants; Message still returns every node's complete
// constant, equal to the general path's.
func TestDeferredConstants(t *testing.T) {
	rng := rand.New(rand.NewPCG(49, 50))
	for _, oc := range obsCases {
		tr := randomTree(rng, 40, true)
		obs := oc.make(rng, tr, 1)
		m := OU{Tree: tr, D: 1, Alpha: 0.4, Theta: []float64{0.5}, Sigma2: 0.9}
		var fast, general Filter
		require.NoError(t, fast.Run(tr, m, obs))
		require.True(t, fast.deferred)
		require.NoError(t, general.Run(tr, proxyOnly{m}, obs))
		H, F := make([]float64, 1), make([]float64, 1)
		for v := 0; v < tr.Len(); v++ {
			if general.exact[v] {
				continue
			}
			relClose(t, general.Message(v, H, F), fast.Message(v, H, F), 1e-12, fmt.Sprintf("%s node %d", oc.name, v))
		}
		a, _ := fast.LogLikelihood(Root{})
		b, _ := general.LogLikelihood(Root{})
		relClose(t, b, a, 1e-12, oc.name+" evidence")
	}
}

// A Filter reused on another tree of no larger size must not keep the exact-leaf flags
// of the first tree (a review found a panic).
func TestFilterReuseTopology(t *testing.T) {
	cat, err := topology.ParseNewick("(a:1,(b:1,(c:1,(d:1,e:1):1):1):1);")
	require.NoError(t, err)
	bal, err := topology.ParseNewick("((a:1,b:1):1,(c:1,(d:1,e:1):1):1);")
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(55, 56))
	var f Filter
	for _, tr := range []*topology.Topology{cat, bal} {
		obs := Obs{Y: randomObs(rng, tr, 2)} // exact
		m := BM{Tree: tr, D: 2, Sigma2: 0.5}
		require.NoError(t, f.Run(tr, m, obs))
		got, err := f.LogLikelihood(Root{})
		require.NoError(t, err)
		want, err := MarginalBM(tr, 0.5, nil, obs, Root{})
		require.NoError(t, err)
		relClose(t, want, got, 1e-10, tr.Newick())
	}
}

// The reported error does not depend on the schedule: non-finite observations at two
// depths give the same node whether the small-tree loop or the level sweep runs, with
// any chunking, for the scalar and the general path.
func TestErrorIndependentOfSchedule(t *testing.T) {
	tr, err := topology.ParseNewick("((a:1,b:1):1,(c:1,(d:1,e:1):1):1);")
	require.NoError(t, err)
	for _, d := range []int{1, 2} {
		y := make([]float64, tr.NumLeaves()*d)
		for i := range y {
			y[i] = 0.5
		}
		y[0] = math.Inf(1)                     // leaf a, depth 2
		y[(tr.NumLeaves()-1)*d] = math.Inf(-1) // leaf e, depth 3
		var nodes []int
		for _, s := range []tree.Schedule{{}, {Workers: 1}, {Workers: 2, Grain: 1}, {Workers: 3, Grain: 1}} {
			f := Filter{Schedule: s}
			err := f.Run(tr, BM{Tree: tr, D: d, Sigma2: 1}, Obs{Y: y, Var: 0.1})
			var ne *NodeError
			require.ErrorAs(t, err, &ne)
			nodes = append(nodes, ne.Node)
		}
		for _, n := range nodes {
			require.Equal(t, tr.Leaf(tr.NumLeaves()-1), n, "d=%d: %v", d, nodes) // the deeper one
		}
	}
}
