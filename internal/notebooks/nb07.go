package notebooks

import (
	"math"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/internal/jaxrand"
	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
)

// Notebook 07: Kunita-flow landmark shapes on a symmetric ternary tree of depth 2 with
// continuous (SDE) edges: the data, and the notebook's forward computations (backward
// filter with the two-anchor interpolated auxiliary, anchor refinement, guided
// Euler–Maruyama with its log-weight) on bffg.SDEFilter.
const (
	NB07KAlpha    = 0.1
	NB07KSigma    = 0.25
	NB07Tau2      = 1e-3
	NB07Steps     = 100
	NB07Landmarks = 16
	NB07Dim       = 2
	NB07LinIters  = 3
)

// NB07 is notebook 07's data: the tree, the root shape (16 landmarks on the unit circle,
// interleaved x0, y0, x1, y1, …) and the noisy leaf shapes (9 × 32), regenerated from
// PRNGKey(202605) in float64 from the notebook's float32 noise.
type NB07 struct {
	Tree *topology.Topology
	Root []float64
	Y    []float64
}

const nb07D = NB07Landmarks * NB07Dim

func nb07Root() []float64 {
	r := make([]float64, nb07D)
	for k := 0; k < NB07Landmarks; k++ {
		phi := 2 * math.Pi * float64(k) / NB07Landmarks
		r[2*k], r[2*k+1] = math.Cos(phi), math.Sin(phi)
	}
	return r
}

// Notebook07 regenerates the data: k_path, k_obs = split(PRNGKey(202605)); path noise
// normal(k_path, (13, 100, 32)); an unconditional Euler–Maruyama sweep x ← x + σ(x)√dt z
// on every edge from the root shape; y = x_leaf(T) + √τ²·normal(k_obs, (9, 32)).
func Notebook07() (NB07, error) {
	t, err := topology.Symmetric(2, 3)
	if err != nil {
		return NB07{}, err
	}
	keys := jaxrand.Split(jaxrand.NewKey(202605), 2)
	n := t.Len()
	z := widen(jaxrand.Normal32(keys[0], n*NB07Steps*nb07D))
	eps := widen(jaxrand.Normal32(keys[1], t.NumLeaves()*nb07D))
	k := sde.Kunita{N: NB07Landmarks, Dim: NB07Dim, KAlpha: NB07KAlpha, KSigma: NB07KSigma}
	root := nb07Root()
	end := make([][]float64, n)
	end[0] = root
	sigma := make([]float64, nb07D*nb07D)
	dz := make([]float64, nb07D)
	for v := 1; v < n; v++ {
		x := append([]float64(nil), end[t.Parent(v)]...)
		dt := t.BranchLength(v) / NB07Steps
		for j := 0; j < NB07Steps; j++ {
			if err := k.Diffusion(0, x, sigma); err != nil {
				return NB07{}, err
			}
			zz := z[(v*NB07Steps+j)*nb07D:][:nb07D]
			matVec(dz, sigma, zz)
			for i := range x {
				x[i] += math.Sqrt(dt) * dz[i]
			}
		}
		end[v] = x
	}
	y := make([]float64, t.NumLeaves()*nb07D)
	for i := 0; i < t.NumLeaves(); i++ {
		for a := 0; a < nb07D; a++ {
			y[i*nb07D+a] = end[t.Leaf(i)][a] + math.Sqrt(NB07Tau2)*eps[i*nb07D+a]
		}
	}
	return NB07{Tree: t, Root: root, Y: y}, nil
}

func matVec(y, a, x []float64) {
	n := len(x)
	for i := range y {
		s := 0.0
		for j, v := range a[i*n : i*n+n] {
			s += v * x[j]
		}
		y[i] = s
	}
}

// NB07Guided is the outcome of one guided pass.
type NB07Guided struct {
	RMSE     float64 // leaf terminal states against the observations
	SumLogW  float64 // Σ_v log w_v
	LogHRoot float64 // log h_root(root shape)
}

// kunitaAux is notebook 07's auxiliary: ã at each end of an edge is the Kunita
// covariance at that end's anchor.
type kunitaAux struct{ k sde.Kunita }

func (a kunitaAux) AuxCovariances(_ int, anchorPa, anchor, a0, aT []float64) error {
	if err := a.k.Covariance(0, anchorPa, a0); err != nil {
		return err
	}
	return a.k.Covariance(0, anchor, aT)
}

// Guided runs notebook 07's workflow at (k_α, k_σ) on bffg.SDEFilter: anchors at the
// root shape (leaves at their observations), NB07LinIters backward filters with an
// anchor refinement between consecutive ones, then one guided pass driven by z
// (13 × 100 × 32) with the last filter's messages. (The notebook refines once more
// before its guided pass and interpolates ã between those newer anchors, its pitfall
// P3; here the guided pass uses the auxiliary its messages came from, which is exact
// BFFG and moves Σ log w by about 0.07.)
func (nb NB07) Guided(kAlpha, kSigma float64, z []float64) (NB07Guided, error) {
	return nb.guided(kAlpha, kSigma, z, false)
}

// GuidedAsNotebook is Guided with the notebook's own order of operations: a refinement
// after the last filter, and the guided pass interpolating ã between the refined
// anchors (bffg.SDEFilter.AuxFromAnchors). It reproduces the notebook's printed numbers.
func (nb NB07) GuidedAsNotebook(kAlpha, kSigma float64, z []float64) (NB07Guided, error) {
	return nb.guided(kAlpha, kSigma, z, true)
}

func (nb NB07) guided(kAlpha, kSigma float64, z []float64, asNotebook bool) (NB07Guided, error) {
	t := nb.Tree
	n := t.Len()
	k := sde.Kunita{N: NB07Landmarks, Dim: NB07Dim, KAlpha: kAlpha, KSigma: kSigma}
	f := bffg.SDEFilter{Steps: NB07Steps}
	anchors := make([]float64, n*nb07D)
	for v := 0; v < n; v++ {
		copy(anchors[v*nb07D:], nb.Root)
		if i := t.LeafIndex(v); i >= 0 {
			copy(anchors[v*nb07D:(v+1)*nb07D], nb.Y[i*nb07D:(i+1)*nb07D])
		}
	}
	f.SetAnchors(t, anchors)
	obs := bffg.Obs{Y: nb.Y, Var: NB07Tau2}
	for it := 0; it < NB07LinIters; it++ {
		if it > 0 {
			f.Refine()
		}
		if err := f.Run(t, kunitaAux{k}, obs); err != nil {
			return NB07Guided{}, err
		}
	}
	if asNotebook {
		f.Refine()
		f.AuxFromAnchors = true
	}
	x, lw := make([]float64, n*nb07D), make([]float64, n)
	sum, err := f.Guide(k, nb.Root, z, x, lw)
	if err != nil {
		return NB07Guided{}, err
	}
	s := 0.0
	for i := 0; i < t.NumLeaves(); i++ {
		v := t.Leaf(i)
		for a := 0; a < nb07D; a++ {
			e := x[v*nb07D+a] - nb.Y[i*nb07D+a]
			s += e * e
		}
	}
	return NB07Guided{RMSE: math.Sqrt(s / float64(t.NumLeaves()*nb07D)), SumLogW: sum, LogHRoot: f.LogLikelihood(nb.Root)}, nil
}

// NB07CheckNoise returns z0 = normal(PRNGKey(0), (41600,)), notebook 07's guided draw.
func NB07CheckNoise() []float64 {
	return widen(jaxrand.Normal32(jaxrand.NewKey(0), 13*NB07Steps*nb07D))
}

// UNotebook returns the notebook's potential at the truth and noise z, in its order of
// operations (GuidedAsNotebook): U = −[log π(log k_α) + log π(log k_σ) + log N(z; 0, I)
// + log h_root + Σ log w], priors InvGamma(2, 0.5) and InvGamma(3, 2) (shape, rate) with
// their log-Jacobians. At z = 0 the notebook prints 38265.2969.
func (nb NB07) UNotebook(z []float64) (float64, error) {
	g, err := nb.GuidedAsNotebook(NB07KAlpha, NB07KSigma, z)
	if err != nil {
		return 0, err
	}
	la, _ := bffg.LogInvGamma{Shape: 2, Rate: 0.5}.LogPDF(math.Log(NB07KAlpha))
	ls, _ := bffg.LogInvGamma{Shape: 3, Rate: 2}.LogPDF(math.Log(NB07KSigma))
	zz := 0.0
	for _, v := range z {
		zz += v * v
	}
	return -(la + ls - 0.5*zz - 0.5*float64(len(z))*math.Log(2*math.Pi) + g.LogHRoot + g.SumLogW), nil
}
