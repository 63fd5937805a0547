package main

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/canopy-bffg/canopy/bffg"
	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/tps"
	"github.com/canopy-bffg/canopy/sde"
)

// landmarkSet is the shape data of a dataset: n landmarks in dim dimensions per tip.
type landmarkSet struct {
	n, dim int
}

// loadLandmarks reads the tree and a TPS file (or a landmarks CSV, by its .csv
// extension) and matches specimens to tips by name. The dataset's traits are the
// landmark coordinates x1, y1, x2, y2, … (interleaved).
func loadLandmarks(stderr io.Writer, treeFile, lmFile string, index int) (*dataset, error) {
	if treeFile == "" {
		return nil, errors.New("--landmarks needs --tree")
	}
	t, err := loadTree(stderr, treeFile, index)
	if err != nil {
		return nil, err
	}
	var specs []*tps.Specimen
	if strings.EqualFold(filepath.Ext(lmFile), ".csv") {
		f, err := os.Open(lmFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		specs, err = tps.ReadCSV(f, lmFile, 0)
		if err != nil {
			return nil, err
		}
	} else {
		f, err := os.Open(lmFile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r := tps.NewReader(f)
		r.File = lmFile
		if specs, err = r.ReadAll(); err != nil {
			return nil, err
		}
		if k := r.NumMarkedMissing; k > 0 {
			fmt.Fprintf(stderr, "canopy: note: %s: %d landmark(s) with every coordinate -1, tpsDig's mark, are read as missing\n", lmFile, k)
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%s: no specimens", lmFile)
	}
	if t.NumLeaves() < 2 {
		return nil, fmt.Errorf("%s: the tree has %d tip(s); a fit needs at least 2", treeFile, t.NumLeaves())
	}
	n, dim := len(specs[0].Landmarks), specs[0].Dim
	names, lines := make([]string, len(specs)), make([]int, len(specs))
	for i, s := range specs {
		names[i], lines[i] = s.Name(), s.Line
		if len(s.Landmarks) != n || s.Dim != dim {
			return nil, fmt.Errorf("%s:%d: specimen %q has %d landmarks in %dD, the first has %d in %dD", lmFile, s.Line, s.Name(), len(s.Landmarks), s.Dim, n, dim)
		}
		for l, p := range s.Landmarks {
			for _, v := range p {
				if math.IsInf(v, 0) {
					return nil, fmt.Errorf("%s:%d: specimen %q: landmark %d is not finite", lmFile, s.Line, s.Name(), l+1)
				}
			}
		}
	}
	if n < 2 {
		return nil, fmt.Errorf("%s: %d landmark(s) per specimen; the shape model needs at least 2", lmFile, n)
	}
	rows, notes, err := format.Matcher{TreeFile: treeFile, Underscores: true}.Match(t, names, lines, lmFile)
	for _, note := range notes {
		fmt.Fprintln(stderr, "canopy: note:", note)
	}
	if err != nil {
		return nil, err
	}
	nd := n * dim
	y := make([]float64, t.NumLeaves()*nd)
	for i, r := range rows {
		for l, p := range specs[r].Landmarks {
			copy(y[i*nd+l*dim:], p)
		}
	}
	coord := "xyz"
	var cols []string
	for l := 0; l < n; l++ {
		for a := 0; a < dim; a++ {
			cols = append(cols, fmt.Sprintf("%c%d", coord[a], l+1))
		}
	}
	return &dataset{tree: t, traits: cols, y: y, treeFile: treeFile, traitFile: lmFile,
		landmarks: &landmarkSet{n: n, dim: dim}}, nil
}

// newKunitaProblem builds the Kunita-flow shape model (hyperiax notebook 07) on the
// landmark data (missing landmarks are left unobserved): the root shape is fixed at the
// tips' mean shape; k_α, k_σ and (when
// estimated) τ² are sampled in logs with weakly informative priors on the data's scale,
// log k_α ~ N(log(v/T̄), 2²) with v the mean per-coordinate variance over tips and T̄ the
// mean root-to-tip distance (K_ii ≈ k_α is the per-coordinate rate), log k_σ ~ N(log ℓ,
// 1²) with ℓ half the median distance between landmarks of the mean shape, and
// log τ² ~ N(log(v/100), 2²); --noise none observes the tips exactly. With
// --model kunita-ou every landmark is also pulled towards the root shape at rate α,
// the drift −α(x − root) (bffg.MeanReverting, whose auxiliary process shares it), with
// log α ~ N(log(1/T̄), 2²) as for the OU trait model. The auxiliary's
// anchors are refined at the prior medians (two rounds of hyperiax's Algorithm 3) and
// then frozen. Each edge has --steps steps (or ⌈T/--step-length⌉) on the time-changed
// grid t = s(2 − s/T), fine where the guiding term is strongest. The model is the
// Euler–Maruyama discretisation of the flow on that grid (the exponential Euler one
// under c.exponential, below), and each step is guided exactly (bffg.FlowFilter.ExactSteps), so
// the target is that model's exact posterior at any step count. With --noise none the
// last step into a tip is the transition conditioned on the tip's observed landmarks.
// With c.localAux (NUTS) every step is guided by the auxiliary linearised at its state
// (bffg.FlowFilter.LocalAux): on notebook 07's data NUTS then takes steps five times
// longer, with a tenth of the cost per effective draw; RW/pCN mixed worse with it.
// With c.exponential (kunita-ou) each step integrates the pull exactly
// (bffg.FlowFilter.ExponentialSteps), so that a step with α·dt near 1 does not bias α.
func newKunitaProblem(ds *dataset, c fitConfig) (*problem, error) {
	noise, steps, stepLength, ou := c.noise, c.steps, c.stepLength, c.model == "kunita-ou"
	est, nv, err := noiseFlag(noise)
	if err != nil {
		return nil, &exitError{code: 2, err: err}
	}
	if steps < 1 || steps > 100000 {
		return nil, &exitError{code: 2, err: fmt.Errorf("--steps %d: want 1 to 100000", steps)}
	}
	if stepLength < 0 || math.IsNaN(stepLength) || math.IsInf(stepLength, 0) {
		return nil, &exitError{code: 2, err: fmt.Errorf("--step-length %v: want a positive length (or 0 for --steps)", stepLength)}
	}
	t, n, dim := ds.tree, ds.landmarks.n, ds.landmarks.dim
	nd := n * dim
	nl := t.NumLeaves()
	root := make([]float64, nd) // the tips' mean shape, over the tips where observed
	for k := range root {
		s, c := 0.0, 0.0
		for i := 0; i < nl; i++ {
			if v := ds.y[i*nd+k]; !math.IsNaN(v) {
				s, c = s+v, c+1
			}
		}
		if c == 0 {
			return nil, fmt.Errorf("%s: landmark %d is missing in every tip", ds.traitFile, k/dim+1)
		}
		root[k] = s / c
	}
	_, variance, depth := stats(ds)
	v := 0.0
	for _, s := range variance {
		v += s / float64(nd)
	}
	var dist []float64
	for i := 0; i < n; i++ {
		for j := 0; j < i; j++ {
			s := 0.0
			for a := 0; a < dim; a++ {
				e := root[i*dim+a] - root[j*dim+a]
				s += e * e
			}
			dist = append(dist, math.Sqrt(s))
		}
	}
	slices.Sort(dist)
	ell := 0.5 * dist[len(dist)/2]
	if !(ell > 0) {
		return nil, errors.New("--model kunita: the mean shape has coinciding landmarks")
	}
	priors := []bffg.Prior{bffg.Normal{Mean: math.Log(v / depth), SD: 2}, bffg.Normal{Mean: math.Log(ell), SD: 1}}
	pilotTheta := []float64{v / depth, ell}
	if ou {
		priors = append(priors, bffg.Normal{Mean: math.Log(1 / depth), SD: 2})
		pilotTheta = append(pilotTheta, 1/depth)
	}
	if est {
		priors = append(priors, bffg.Normal{Mean: math.Log(v / 100), SD: 2})
		nv = v / 100
	}
	f := &bffg.FlowFilter{Steps: steps, StepLength: stepLength, TimeChange: true, ExactSteps: true,
		LocalAux: c.localAux, ExponentialSteps: c.exponential}
	if err := f.SetData(t, n, dim, root, ds.y); err != nil {
		return nil, err
	}
	newFlow := func(th []float64) (bffg.Flow, error) {
		k := bffg.KunitaFlow(sde.Kunita{N: n, Dim: dim, KAlpha: th[0], KSigma: th[1]})
		if ou {
			return bffg.MeanReverting(k, th[2], root), nil
		}
		return k, nil
	}
	pilot, _ := newFlow(pilotTheta)
	if err := bffg.FlowAnchors(f, pilot, nv, 2); err != nil {
		return nil, fmt.Errorf("the shape model cannot be evaluated on these data: %w", err)
	}
	pot := &bffg.FlowPotential{Filter: f, NewFlow: newFlow, NumFlowParams: len(pilotTheta), Priors: priors, Tau2: nv, EstimateNoise: est}
	pr := &problem{ds: ds, flow: pot, names: []string{"log_k_alpha", "log_k_sigma"}}
	exp := func(i int) func([]float64) float64 { return func(u []float64) float64 { return math.Exp(u[i]) } }
	pr.params = []param{{"k_alpha", exp(0)}, {"k_sigma", exp(1)}}
	if ou {
		pr.names = append(pr.names, "log_alpha")
		pr.params = append(pr.params, param{"alpha", exp(2)})
	}
	if est {
		pr.names = append(pr.names, "log_tau2")
		pr.params = append(pr.params, param{"tau2", exp(len(pilotTheta))})
	}
	return pr, nil
}

// shapeSummary accumulates, chain by chain, the posterior mean and variance of every
// node's shape from the guided states x(θ, z) of each draw (Welford's updates), so that
// ancestral shapes need not keep z, which has Len·steps·n·d values per draw.
type shapeSummary struct {
	pots     []*bffg.FlowPotential
	x        [][]float64
	count    []int
	mean, m2 [][]float64
	errs     []error
}

func newShapeSummary(p *bffg.FlowPotential, chains, size int) *shapeSummary {
	s := &shapeSummary{pots: make([]*bffg.FlowPotential, chains), x: make([][]float64, chains),
		count: make([]int, chains), mean: make([][]float64, chains), m2: make([][]float64, chains), errs: make([]error, chains)}
	for c := range s.pots {
		s.pots[c] = p.Clone()
		s.x[c], s.mean[c], s.m2[c] = make([]float64, size), make([]float64, size), make([]float64, size)
	}
	return s
}

// observe adds one draw of chain c (called by mcmc.Run, one call at a time per chain).
func (s *shapeSummary) observe(c, _ int, q []float64) {
	if s.errs[c] != nil {
		return
	}
	if err := s.pots[c].States(q, s.x[c]); err != nil {
		s.errs[c] = err
		return
	}
	s.count[c]++
	k := float64(s.count[c])
	for i, v := range s.x[c] {
		d := v - s.mean[c][i]
		s.mean[c][i] += d / k
		s.m2[c][i] += d * (v - s.mean[c][i])
	}
}

// writeShapeAncestral writes ancestral.csv for the shape model: for every internal node
// other than the (fixed) root and every landmark coordinate, the posterior mean and sd
// over all chains' draws, with mean ± 1.96 sd as the interval ("normal"). A resumed run
// summarises the draws it made itself.
func writeShapeAncestral(c fitConfig, pr *problem) error {
	s := pr.shapes
	if s == nil {
		return nil
	}
	for ch, err := range s.errs {
		if err != nil {
			return fmt.Errorf("ancestral shapes, chain %d: %w", ch+1, err)
		}
	}
	size := len(s.mean[0])
	mean, m2, total := make([]float64, size), make([]float64, size), 0.0
	for ch, n := range s.count { // Chan et al.'s pairwise combination of the chains
		if n == 0 {
			continue
		}
		nb := float64(n)
		for i := range mean {
			d := s.mean[ch][i] - mean[i]
			mean[i] += d * nb / (total + nb)
			m2[i] += s.m2[ch][i] + d*d*total*nb/(total+nb)
		}
		total += nb
	}
	if total < 2 {
		return nil
	}
	w, err := createAncestral(c.out)
	if err != nil {
		return err
	}
	t := pr.ds.tree
	names := nodeNames(t)
	nd := len(pr.ds.traits)
	for v := 1; v < t.Len(); v++ {
		if t.IsLeaf(v) {
			continue
		}
		for j, coord := range pr.ds.traits {
			mu := mean[v*nd+j]
			sd := math.Sqrt(m2[v*nd+j] / (total - 1))
			w.row(names[v], coord, mu, sd, mu-1.959963984540054*sd, mu+1.959963984540054*sd, "normal")
		}
	}
	return w.close()
}

// shapeModel reports whether model is one of the landmark shape models.
func shapeModel(model string) bool { return model == "kunita" || model == "kunita-ou" }
