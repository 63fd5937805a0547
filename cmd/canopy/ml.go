package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/canopy-bffg/canopy/ml"
)

// noiseFlag parses --noise: "estimate", "none" (exact tips) or a variance.
func noiseFlag(s string) (estimate bool, v float64, err error) {
	switch s {
	case "estimate":
		return true, 0, nil
	case "none", "0":
		return false, 0, nil
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
		return false, 0, fmt.Errorf("--noise %q: want estimate, none or a non-negative variance", s)
	}
	if v != 0 && v < 1e-300 {
		return false, 0, fmt.Errorf("--noise %q: too small to invert; use none for exact tips", s)
	}
	return false, v, nil
}

// jsonFloat encodes NaN and ±Inf, which JSON cannot represent, as null: AICc is
// infinite when there are too few observations for its correction (n ≤ k + 1), and an
// ancestral se can overflow where the root is barely identified.
type jsonFloat float64

func (x jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(x))
}

func jsonFloats(x []float64) []jsonFloat {
	out := make([]jsonFloat, len(x))
	for i, v := range x {
		out[i] = jsonFloat(v)
	}
	return out
}

type mlNode struct {
	Node string      `json:"node"`
	Mean []jsonFloat `json:"mean"`
	SE   []jsonFloat `json:"se"`
}

// mlReport is the --json output. ml.Fit returns finite parameters, log-likelihood and
// AIC; the fields that may be non-finite are jsonFloats.
type mlReport struct {
	Params map[string]float64   `json:"params"`
	LogLik float64              `json:"loglik"`
	AIC    float64              `json:"aic"`
	AICc   jsonFloat            `json:"aicc"`
	Root   []jsonFloat          `json:"root"`
	SE     map[string]jsonFloat `json:"se"` // standard errors of params
	// AtBoundary names the params at a boundary of their range (se null) and says why.
	AtBoundary map[string]string `json:"at_boundary,omitempty"`
	// PoorlyIdentified names the params in which the likelihood is nearly flat (se
	// null; the other se are conditional on them) and says why; Confounded those
	// whose log moves with one of them (se null), and with which.
	PoorlyIdentified map[string]string `json:"poorly_identified,omitempty"`
	Confounded       map[string]string `json:"confounded,omitempty"`
	RootSE           []jsonFloat       `json:"root_se"` // standard errors of root
	Ancestral        []mlNode          `json:"ancestral"`
	Converged        bool              `json:"converged"`
	Traits           []string          `json:"traits"`
}

func runML(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ml", stderr)
	treeFile := fs.String("tree", "", "tree file (Newick or Nexus); none for the built-in data")
	traitFile := fs.String("traits", "", "traits CSV (taxon,trait1,...)")
	index := fs.Int("tree-index", 0, "which tree of a multi-tree file (0 = first)")
	model := fs.String("model", "bm", "edge model: bm or ou")
	noise := fs.String("noise", "none", "leaf noise variance: estimate, none or a value")
	perTrait := fs.Bool("per-trait", false, "fit each trait on its own (its own σ², and α, θ, τ² where fitted) instead of one shared rate")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	est, v, err := noiseFlag(*noise)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	ds, err := loadData(stderr, *treeFile, *traitFile, *index)
	if err != nil {
		return err
	}
	r, err := ml.Fit(ds.tree, ds.y, ml.Config{Model: ml.Model(*model), EstimateNoise: est, NoiseVar: v, PerTrait: *perTrait})
	if te := (*ml.TraitError)(nil); errors.As(err, &te) && te.Trait < ds.d() {
		return fmt.Errorf("%s: trait %q: %w", ds.traitFile, ds.traits[te.Trait], te.Err)
	}
	if err != nil {
		return err
	}
	if *perTrait && ds.d() > 1 {
		if r.Params, err = perTraitNames(r.Params, ds.traits); err != nil {
			return err
		}
		if r.SE, err = perTraitNames(r.SE, ds.traits); err != nil {
			return err
		}
		for _, m := range []*map[string]string{&r.AtBoundary, &r.PoorlyIdentified, &r.Confounded} {
			if *m, err = perTraitNames(*m, ds.traits); err != nil {
				return err
			}
		}
	}
	names := nodeNames(ds.tree)
	rep := mlReport{Params: r.Params, LogLik: r.LogLik, AIC: r.AIC, AICc: jsonFloat(r.AICc), Root: jsonFloats(r.Root),
		SE: make(map[string]jsonFloat, len(r.SE)), RootSE: jsonFloats(r.RootSE), AtBoundary: r.AtBoundary,
		PoorlyIdentified: r.PoorlyIdentified, Confounded: r.Confounded, Converged: r.Converged, Traits: ds.traits}
	for k, v := range r.SE {
		rep.SE[k] = jsonFloat(v)
	}
	for _, a := range r.Ancestral {
		rep.Ancestral = append(rep.Ancestral, mlNode{Node: names[a.Node], Mean: jsonFloats(a.Mean), SE: jsonFloats(a.SE)})
	}
	if ds.d() > 1 && !*perTrait {
		fmt.Fprintf(stderr, "canopy: note: ml fits one common rate σ² to the %d traits (Σ = σ²I); scale them comparably, use --per-trait for a rate per trait, or use fit, which estimates a full Σ\n", ds.d())
	}
	if r.Ultrametric {
		lo, hi := r.TipDepths[0], r.TipDepths[1]
		depths := fmt.Sprintf("every tip at distance %.6g from the root", hi)
		if lo < hi {
			depths = fmt.Sprintf("root-to-tip distances %.6g to %.6g, relative spread %.2g, within ml's 0.01", lo, hi, (hi-lo)/hi)
		}
		fmt.Fprintf(stderr, "canopy: note: the tree is ultrametric (%s), so under OU the optimum θ and the root state are not separately identifiable (every tip's mean is e^{−αT}·root + (1 − e^{−αT})·θ); ml fits one intercept per trait, θ = root, as phylolm's OUfixedRoot does, with the likelihood on the tree as given\n", depths)
	}
	if *model == string(ml.OU) && !r.Ultrametric {
		fmt.Fprintln(stderr, "canopy: note: the ancestral states' se are given the fitted α and θ; the root's se with the parameters includes their uncertainty, and θ and the root are often poorly determined apart")
	}
	for _, name := range slices.Sorted(maps.Keys(r.AtBoundary)) {
		fmt.Fprintf(stderr, "canopy: note: %s is at the boundary of its range (%s), so its Wald se is undefined (NA); the other se treat it as fixed at its estimate\n", name, r.AtBoundary[name])
	}
	for _, name := range slices.Sorted(maps.Keys(r.PoorlyIdentified)) {
		fmt.Fprintf(stderr, "canopy: note: %s is poorly identified (%s), so its se is NA; the other se are conditional on it\n", name, r.PoorlyIdentified[name])
	}
	for _, name := range slices.Sorted(maps.Keys(r.Confounded)) {
		fmt.Fprintf(stderr, "canopy: note: %s is confounded with a poorly identified parameter (%s), so its se is NA as well\n", name, r.Confounded[name])
	}
	if !r.Converged {
		fmt.Fprintln(stderr, "canopy: warning: the optimiser did not reach its gradient tolerance")
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "maximum likelihood, model %s, %d tips, %d trait(s), %d observed values\n",
		*model, ds.tree.NumLeaves(), ds.d(), r.NumObs)
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// The standard errors come from the observed information (inverse negative Hessian).
	w := 10
	for _, k := range keys {
		w = max(w, len(k))
	}
	// NA: the parameter is at a boundary of its range, or the likelihood is flat in some
	// direction, so the information is singular.
	for _, k := range keys {
		fmt.Fprintf(stdout, "  %-*s %-12.6g se %s\n", w, k, r.Params[k], na(r.SE[k], "%.3g"))
	}
	for k, x := range r.Root {
		fmt.Fprintf(stdout, "  %-*s %-12.6g se %s\n", w, "root["+ds.traits[k]+"]", x, na(r.RootSE[k], "%.3g"))
	}
	aicc := "NA (n ≤ k + 1)"
	if !math.IsInf(r.AICc, 0) && !math.IsNaN(r.AICc) {
		aicc = fmt.Sprintf("%.4f", r.AICc)
	}
	fmt.Fprintf(stdout, "log-likelihood %.6f, AIC %.4f, AICc %s (%d parameters)\n\n", r.LogLik, r.AIC, aicc, r.NumParams)
	fmt.Fprintf(stdout, "%-40s %-12s %12s %12s\n", "ancestral state", "trait", "mean", "se")
	for _, a := range rep.Ancestral {
		for k := range a.Mean {
			fmt.Fprintf(stdout, "%-40s %-12s %12.6g %12.6g\n", a.Node, ds.traits[k], float64(a.Mean[k]), float64(a.SE[k]))
		}
	}
	return nil
}

// perTraitNames renames the keys name_k of m (trait k, 1-based, as ml.Fit writes
// them for Config.PerTrait) to name[trait]; an empty m becomes nil.
func perTraitNames[V any](m map[string]V, traits []string) (map[string]V, error) {
	if len(m) == 0 {
		return nil, nil
	}
	out := make(map[string]V, len(m))
	for key, v := range m {
		i := strings.LastIndexByte(key, '_')
		k, err := strconv.Atoi(key[i+1:])
		if i < 0 || err != nil || k < 1 || k > len(traits) {
			return nil, fmt.Errorf("ml: unexpected parameter %q", key)
		}
		out[key[:i]+"["+traits[k-1]+"]"] = v
	}
	return out, nil
}
