package main

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/format/tps"
	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
)

func runSimulate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("simulate", stderr)
	treeFile := fs.String("tree", "", "tree file (Newick or Nexus); none for the built-in tree")
	index := fs.Int("tree-index", 0, "which tree of a multi-tree file (0 = first)")
	model := fs.String("model", "bm", "edge model: bm, ou, kunita or kunita-ou (landmark shapes, written as TPS)")
	nland := fs.Int("landmarks", 16, "kunita: number of landmarks (the root shape is a unit circle)")
	kalpha := fs.Float64("kalpha", 0.1, "kunita: kernel amplitude k_α")
	ksigma := fs.Float64("ksigma", 0.25, "kunita: kernel length scale k_σ")
	steps := fs.Int("steps", 100, "kunita: Euler–Maruyama steps per unit branch length")
	sigma2 := fs.Float64("sigma2", 1, "rate σ² per unit branch length")
	alpha := fs.Float64("alpha", 1, "OU mean reversion α (kunita-ou: towards the root shape)")
	theta := fs.Float64("theta", 0, "OU optimum θ")
	root := fs.Float64("root", 0, "root state")
	noise := fs.Float64("noise", 0, "leaf noise variance τ²")
	ntraits := fs.Int("traits", 1, "number of independent traits")
	seed := fs.Uint64("seed", 1, "random seed")
	out := fs.String("out", "", "output traits CSV (default: standard output)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !knownModel(*model) {
		return unknownModel(*model)
	}
	for _, c := range []struct {
		name string
		v    float64
		pos  bool
	}{{"--sigma2", *sigma2, true}, {"--alpha", *alpha, false}, {"--noise", *noise, false}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) || c.v < 0 || (c.pos && c.v == 0) {
			want := "non-negative"
			if c.pos {
				want = "positive"
			}
			return &exitError{code: 2, err: fmt.Errorf("%s %v: must be a finite %s number", c.name, c.v, want)}
		}
	}
	if *ntraits < 1 || *ntraits > 10000 {
		return &exitError{code: 2, err: fmt.Errorf("--traits %d: want 1 to 10000 traits", *ntraits)}
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"--root", *root}, {"--theta", *theta}} {
		if math.IsNaN(c.v) || math.IsInf(c.v, 0) {
			return &exitError{code: 2, err: fmt.Errorf("%s %v: must be finite", c.name, c.v)}
		}
	}
	var err error
	ds := &dataset{}
	if *treeFile == "" {
		if ds, err = builtinData(); err != nil {
			return err
		}
	} else if ds.tree, err = loadTree(stderr, *treeFile, *index); err != nil {
		return err
	}
	t := ds.tree
	switch *model {
	case "kunita":
		return simulateKunita(stdout, *out, t, *nland, *kalpha, *ksigma, 0, *steps, *noise, *seed)
	case "kunita-ou":
		return simulateKunita(stdout, *out, t, *nland, *kalpha, *ksigma, *alpha, *steps, *noise, *seed)
	}
	d := *ntraits
	var k bffg.Kernel
	switch *model {
	case "bm":
		k = bffg.BM{Tree: t, D: d, Sigma2: *sigma2}
	case "ou":
		th := make([]float64, d)
		for i := range th {
			th[i] = *theta
		}
		k = bffg.OU{Tree: t, D: d, Alpha: *alpha, Theta: th, Sigma2: *sigma2}
	default: // checked above
		return unknownModel(*model)
	}
	rng := rand.New(rand.NewPCG(*seed, 0))
	n := t.Len()
	z, x := make([]float64, n*d), make([]float64, n*d)
	for i := range z {
		z[i] = rng.NormFloat64()
	}
	r := make([]float64, d)
	for i := range r {
		r[i] = *root
	}
	if err := bffg.Simulate(t, d, k, bffg.Root{Mean: r}, z, x); err != nil {
		return err
	}
	y := make([]float64, t.NumLeaves()*d)
	sd := math.Sqrt(*noise)
	for i := 0; i < t.NumLeaves(); i++ {
		for a := 0; a < d; a++ {
			y[i*d+a] = x[t.Leaf(i)*d+a] + sd*rng.NormFloat64()
		}
	}
	names := make([]string, d)
	for a := range names {
		names[a] = fmt.Sprintf("trait%d", a+1)
	}
	w := stdout
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	return writeTraits(w, t, names, y)
}

// simulateKunita draws landmark shapes on t under the Kunita flow of notebook 07 (drift
// 0, or −α(x − root) if alpha > 0; diffusion chol(K(q) + εI) ⊗ I_2 with the Matérn-9/2
// kernel), by Euler–Maruyama from
// a unit circle of n landmarks at the root, adds N(0, τ²) noise at the tips and writes
// them as a TPS file, one specimen per tip named by its label.
func simulateKunita(stdout io.Writer, out string, t *topology.Topology, n int, kAlpha, kSigma, alpha float64, steps int, noise float64, seed uint64) error {
	if n < 2 || n > 10000 || steps < 1 || steps > 1e6 || !(kAlpha > 0) || !(kSigma > 0) || math.IsInf(kAlpha, 0) || math.IsInf(kSigma, 0) {
		return &exitError{code: 2, err: fmt.Errorf("kunita: need 2 ≤ --landmarks ≤ 10000, --steps ≥ 1 and positive finite --kalpha, --ksigma")}
	}
	const dim = 2
	k := sde.Kunita{N: n, Dim: dim, KAlpha: kAlpha, KSigma: kSigma}
	D := n * dim
	rng := rand.New(rand.NewPCG(seed, 0))
	x := make([][]float64, t.Len())
	x[0] = make([]float64, D)
	for i := 0; i < n; i++ {
		phi := 2 * math.Pi * float64(i) / float64(n)
		x[0][dim*i], x[0][dim*i+1] = math.Cos(phi), math.Sin(phi)
	}
	em := sde.EM{SDE: k}
	if alpha > 0 {
		em.SDE = meanRevertingKunita{Kunita: k, alpha: alpha, mu: x[0]}
		// An Euler step multiplies the distance to the root shape by 1 − α·dt: with
		// α·dt ≥ 1 it overshoots, and the shapes oscillate and blow up.
		dt := 0.0
		for v := 1; v < t.Len(); v++ {
			_, h := edgeSteps(t.BranchLength(v), steps)
			dt = max(dt, h)
		}
		if alpha*dt >= 1 {
			return &exitError{code: 2, err: fmt.Errorf("--alpha %g with --steps %d: α·dt = %.3g, but the Euler steps need α·dt well below 1 (dt = 1/--steps per unit branch length); use --steps %d or more",
				alpha, steps, alpha*dt, int(math.Ceil(10*alpha)))}
		}
	}
	z := make([]float64, D)
	for v := 1; v < t.Len(); v++ {
		cur := append([]float64(nil), x[t.Parent(v)]...)
		m, dt := edgeSteps(t.BranchLength(v), steps)
		for j := 0; j < m && dt > 0; j++ {
			for i := range z {
				z[i] = rng.NormFloat64()
			}
			if err := em.StepTo(cur, 0, cur, dt, z); err != nil {
				if alpha > 0 {
					return fmt.Errorf("kunita: node %d: %w; with --alpha %g the Euler steps need α·dt (%.3g) well below 1: try --steps %d", v, err, alpha, alpha*dt, int(math.Ceil(10*alpha)))
				}
				return fmt.Errorf("kunita: node %d: %w", v, err)
			}
		}
		x[v] = cur
	}
	w := stdout
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	tw := tps.NewWriter(w)
	sd := math.Sqrt(noise)
	for i := 0; i < t.NumLeaves(); i++ {
		v := t.Leaf(i)
		name := t.Name(v)
		if name == "" {
			name = fmt.Sprintf("t%d", i+1)
		}
		s := &tps.Specimen{ID: name, Dim: dim}
		for l := 0; l < n; l++ {
			p := make([]float64, dim)
			for a := range p {
				p[a] = x[v][dim*l+a] + sd*rng.NormFloat64()
			}
			s.Landmarks = append(s.Landmarks, p)
		}
		if err := tw.Write(s); err != nil {
			return err
		}
	}
	return tw.Flush()
}

// meanRevertingKunita is the Kunita flow with the drift −α(x − μ) towards the shape μ
// (bffg.MeanReverting's model), for simulation.
type meanRevertingKunita struct {
	sde.Kunita
	alpha float64
	mu    []float64
}

func (k meanRevertingKunita) Drift(_ float64, x, dst []float64) {
	for i, e := range x {
		dst[i] = -k.alpha * (e - k.mu[i])
	}
}

// edgeSteps returns the number of Euler steps on an edge of length T, ⌈steps·T⌉ and at
// least one, and their length.
func edgeSteps(T float64, steps int) (m int, dt float64) {
	m = max(1, int(math.Ceil(float64(steps)*T)))
	return m, T / float64(m)
}
