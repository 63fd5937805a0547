package notebooks

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/internal/jaxrand"
	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
)

// Notebook 07: Kunita-flow landmark shapes on a symmetric ternary tree of depth 2 with
// continuous (SDE) edges. This file is a reference implementation of the notebook's
// forward computations (data, backward filter with the two-anchor interpolated
// auxiliary, anchor refinement, guided Euler–Maruyama with its log-weight), written
// directly on package sde, to serve as the oracle for bffg's general continuous edges.
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

// nb07Filter holds the backward filter along every edge's grid and the anchors.
type nb07Filter struct {
	t                 *topology.Topology
	k                 sde.Kunita
	root, y           []float64
	H, F              [][]float64 // vertex messages per node
	c                 []float64
	gridH, gridF      [][][]float64 // per node, per grid point j = 0..n (the edge above the node)
	anchor, anchorPa  [][]float64
	bw                sde.Backward
	aCh, aPa, q       []float64
	ident, zero, kern []float64
}

func newNB07Filter(nb NB07, kAlpha, kSigma float64) *nb07Filter {
	t := nb.Tree
	n := t.Len()
	f := &nb07Filter{t: t, k: sde.Kunita{N: NB07Landmarks, Dim: NB07Dim, KAlpha: kAlpha, KSigma: kSigma},
		root: nb.Root, y: nb.Y, c: make([]float64, n)}
	dd := nb07D * nb07D
	f.H, f.F = make([][]float64, n), make([][]float64, n)
	f.gridH, f.gridF = make([][][]float64, n), make([][][]float64, n)
	f.anchor, f.anchorPa = make([][]float64, n), make([][]float64, n)
	for v := 0; v < n; v++ {
		f.H[v], f.F[v] = make([]float64, dd), make([]float64, nb07D)
		f.gridH[v], f.gridF[v] = make([][]float64, NB07Steps+1), make([][]float64, NB07Steps+1)
		for j := range f.gridH[v] {
			f.gridH[v][j], f.gridF[v][j] = make([]float64, dd), make([]float64, nb07D)
		}
		// Anchors start at the root shape, leaves at their observations.
		f.anchor[v] = append([]float64(nil), nb.Root...)
		if i := t.LeafIndex(v); i >= 0 {
			copy(f.anchor[v], nb.Y[i*nb07D:(i+1)*nb07D])
		}
		f.anchorPa[v] = append([]float64(nil), nb.Root...)
	}
	f.aCh, f.aPa, f.q = make([]float64, dd), make([]float64, dd), make([]float64, dd)
	f.ident, f.zero, f.kern = make([]float64, dd), make([]float64, nb07D), make([]float64, dd)
	for i := 0; i < nb07D; i++ {
		f.ident[i*nb07D+i] = 1
	}
	return f
}

// backward runs the filter: leaves from their observations, then every edge pulled
// back at every grid point through the transition from t_j to T of the auxiliary with
// ã interpolated between a(anchor_pa) at t = 0 and a(anchor) at t = T.
func (f *nb07Filter) backward() error {
	t := f.t
	n := t.Len()
	for v := 0; v < n; v++ {
		clear(f.H[v])
		clear(f.F[v])
		f.c[v] = 0
	}
	for i := 0; i < t.NumLeaves(); i++ {
		v := t.Leaf(i)
		y := f.y[i*nb07D : (i+1)*nb07D]
		for a := 0; a < nb07D; a++ {
			f.H[v][a*nb07D+a] = 1 / NB07Tau2
			f.F[v][a] = y[a] / NB07Tau2
			f.c[v] -= 0.5*(math.Log(2*math.Pi*NB07Tau2)) + 0.5*y[a]*y[a]/NB07Tau2
		}
	}
	for v := n - 1; v >= 1; v-- {
		T := t.BranchLength(v)
		if err := f.k.Covariance(0, f.anchor[v], f.aCh); err != nil {
			return err
		}
		if err := f.k.Covariance(0, f.anchorPa[v], f.aPa); err != nil {
			return err
		}
		aux := sde.Interpolated{D: nb07D, T: T, A0: f.aPa, AT: f.aCh}
		var c0 float64
		for j := 0; j <= NB07Steps; j++ {
			tj := T * float64(j) / NB07Steps
			aux.IntegralTo(f.q, tj, T)
			c, err := f.bw.PullbackTo(f.gridH[v][j], f.gridF[v][j], f.H[v], f.F[v], f.c[v], f.ident, f.zero, f.q)
			if err != nil {
				return fmt.Errorf("node %d, grid point %d: %w", v, j, err)
			}
			if j == 0 {
				c0 = c
			}
		}
		p := t.Parent(v)
		for i := range f.H[p] {
			f.H[p][i] += f.gridH[v][0][i]
		}
		for i := range f.F[p] {
			f.F[p][i] += f.gridF[v][0][i]
		}
		f.c[p] += c0
	}
	return nil
}

// refine sets every non-root anchor to H⁻¹F of its vertex message and anchor_pa to the
// parent's (refined) anchor, in breadth-first order (hyperiax's Algorithm 3 step).
func (f *nb07Filter) refine() error {
	t := f.t
	for v := 1; v < t.Len(); v++ {
		var ch mat.Cholesky
		if !ch.Factorize(mat.NewSymDense(nb07D, append([]float64(nil), f.H[v]...))) {
			return fmt.Errorf("node %d: H is not positive definite", v)
		}
		var x mat.VecDense
		if err := ch.SolveVecTo(&x, mat.NewVecDense(nb07D, append([]float64(nil), f.F[v]...))); err != nil {
			return err
		}
		copy(f.anchor[v], x.RawVector().Data)
		copy(f.anchorPa[v], f.anchor[t.Parent(v)])
	}
	return nil
}

func (f *nb07Filter) logHRoot() float64 {
	x := f.root
	s := f.c[0]
	for i := 0; i < nb07D; i++ {
		s += f.F[0][i] * x[i]
		for j := 0; j < nb07D; j++ {
			s -= 0.5 * x[i] * f.H[0][i*nb07D+j] * x[j]
		}
	}
	return s
}

// guide runs the guided Euler–Maruyama pass x ← x + a(x)(F − Hx)dt + σ(x)√dt z with the
// left-point log-weight Σ [−½tr((a − ã)H) + ½r'(a − ã)r] dt on every edge (drift and
// auxiliary drift zero), using the current anchors for ã as the notebook does.
func (f *nb07Filter) guide(z []float64) (NB07Guided, error) {
	t := f.t
	n := t.Len()
	end := make([][]float64, n)
	end[0] = f.root
	dd := nb07D * nb07D
	a, at, sigma := make([]float64, dd), make([]float64, dd), make([]float64, dd)
	r, ar, sz := make([]float64, nb07D), make([]float64, nb07D), make([]float64, nb07D)
	var out NB07Guided
	for v := 1; v < n; v++ {
		T := t.BranchLength(v)
		dt := T / NB07Steps
		if err := f.k.Covariance(0, f.anchor[v], f.aCh); err != nil {
			return out, err
		}
		if err := f.k.Covariance(0, f.anchorPa[v], f.aPa); err != nil {
			return out, err
		}
		x := append([]float64(nil), end[t.Parent(v)]...)
		for j := 0; j < NB07Steps; j++ {
			tj := T * float64(j) / NB07Steps
			H, F := f.gridH[v][j], f.gridF[v][j]
			matVec(r, H, x)
			for i := range r {
				r[i] = F[i] - r[i]
			}
			if err := f.k.Covariance(0, x, a); err != nil {
				return out, err
			}
			if err := f.k.Diffusion(0, x, sigma); err != nil {
				return out, err
			}
			w := tj / T
			for i := range at {
				at[i] = a[i] - (w*f.aCh[i] + (1-w)*f.aPa[i]) // a − ã
			}
			tr := 0.0
			for i := 0; i < nb07D; i++ {
				for k := 0; k < nb07D; k++ {
					tr += at[i*nb07D+k] * H[k*nb07D+i]
				}
			}
			matVec(ar, at, r)
			quad := 0.0
			for i := range r {
				quad += r[i] * ar[i]
			}
			out.SumLogW += (-0.5*tr + 0.5*quad) * dt
			matVec(ar, a, r)
			matVec(sz, sigma, z[(v*NB07Steps+j)*nb07D:][:nb07D])
			for i := range x {
				x[i] += ar[i]*dt + math.Sqrt(dt)*sz[i]
			}
		}
		end[v] = x
	}
	s, m := 0.0, 0
	for i := 0; i < t.NumLeaves(); i++ {
		x := end[t.Leaf(i)]
		for k := 0; k < nb07D; k++ {
			e := x[k] - f.y[i*nb07D+k]
			s += e * e
			m++
		}
	}
	out.RMSE = math.Sqrt(s / float64(m))
	out.LogHRoot = f.logHRoot()
	return out, nil
}

// Guided runs notebook 07's workflow at (k_α, k_σ): NB07LinIters rounds of {backward
// filter; anchor refinement}, then one guided pass driven by z (13 × 100 × 32).
func (nb NB07) Guided(kAlpha, kSigma float64, z []float64) (NB07Guided, error) {
	f := newNB07Filter(nb, kAlpha, kSigma)
	for it := 0; it < NB07LinIters; it++ {
		if err := f.backward(); err != nil {
			return NB07Guided{}, err
		}
		if err := f.refine(); err != nil {
			return NB07Guided{}, err
		}
	}
	return f.guide(z)
}

// NB07CheckNoise returns z0 = normal(PRNGKey(0), (41600,)), notebook 07's guided draw.
func NB07CheckNoise() []float64 {
	return widen(jaxrand.Normal32(jaxrand.NewKey(0), 13*NB07Steps*nb07D))
}
