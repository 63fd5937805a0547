package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/cmd/canopy/internal/plots"
	"github.com/canopy-bffg/canopy/format/cmdstan"
	"github.com/canopy-bffg/canopy/internal/dense"
	"github.com/canopy-bffg/canopy/mcmc"
)

// columns returns the names of a chain file's columns: the unconstrained parameters the
// sampler moves (with '.' replaced, as CmdStan reserves it for array elements), then the
// reported parameters on their natural scale.
func (pr *problem) columns() []string {
	var cols []string
	for _, n := range pr.names {
		cols = append(cols, strings.ReplaceAll(n, ".", "_"))
	}
	for _, p := range pr.params {
		cols = append(cols, p.name)
	}
	return cols
}

// toColumns converts the sampler's draws (u and the noise z) into chain-file columns.
func (pr *problem) toColumns(ch *mcmc.Chain) mcmc.Chain {
	np := pr.numParams()
	cols := pr.columns()
	out := mcmc.Chain{Index: ch.Index, WarmupSeconds: ch.WarmupSeconds, SampleSeconds: ch.SampleSeconds,
		Params: mcmc.Params{StepSize: ch.Params.StepSize, Beta: ch.Params.Beta}}
	if m := ch.Params.Metric; m != nil {
		out.Params.Metric = subMetric(m, np)
	}
	out.Sample = mcmc.Trace{Dim: len(cols), LogDensity: ch.Sample.LogDensity, Info: ch.Sample.Info}
	for k := 0; k < ch.Sample.Len(); k++ {
		u := ch.Sample.Draw(k)[:np]
		out.Sample.Draws = append(out.Sample.Draws, u...)
		for _, p := range pr.params {
			out.Sample.Draws = append(out.Sample.Draws, p.value(u))
		}
	}
	return out
}

// subMetric returns the leading np×np block of a metric: the part over the model
// parameters, which is what a reader of the chain file can relate to its columns.
func subMetric(m *mcmc.Metric, np int) *mcmc.Metric {
	if !m.IsDense() {
		s, err := mcmc.NewDiagMetric(m.DiagTo(nil)[:np])
		if err != nil {
			return nil
		}
		return s
	}
	var dense mat.SymDense
	m.DenseTo(&dense)
	if m.IsDense() {
		sub := mat.NewSymDense(np, nil)
		for i := 0; i < np; i++ {
			for j := i; j < np; j++ {
				sub.SetSym(i, j, dense.At(i, j))
			}
		}
		if s, err := mcmc.NewDenseMetric(sub); err == nil {
			return s
		}
		return nil
	}
	diag := make([]float64, np)
	for i := range diag {
		diag[i] = dense.At(i, i)
	}
	s, err := mcmc.NewDiagMetric(diag)
	if err != nil {
		return nil
	}
	return s
}

// untimedSetting is the chain-file setting saying that Elapsed Time misses a session
// whose times were recorded nowhere (neither in the checkpoint nor in a timing
// block). A later resume reads it back from the chain file, so the caveat stays as
// long as the times are partial.
const untimedSetting = "canopy_timing"

func chainFile(dir string, c int) string { return filepath.Join(dir, fmt.Sprintf("chain-%d.csv", c+1)) }

// chainConfig returns the header settings of chain id's file; p are the tunables
// warmup chose (for --sampler rwpcn, the pCN β).
func chainConfig(c fitConfig, pr *problem, id int, p mcmc.Params) cmdstan.Config {
	cfg := cmdstan.DefaultConfig("canopy_" + c.model)
	cfg.NumSamples, cfg.NumWarmup, cfg.Seed, cfg.ID = c.draws, c.warmup, c.seed, id
	cfg.Metric = cmdstan.DiagMetric
	cfg.Adapt = cmdstan.AdaptFrom(*c.adaptation())
	cfg.MaxDepth = c.depth()
	if pr.flow != nil { // the backends' results differ by rounding
		cfg.Extra = append(cfg.Extra, cmdstan.Setting{Path: "canopy_blas", Value: dense.Backend},
			cmdstan.Setting{Path: "canopy_local_aux", Value: strconv.FormatBool(pr.flow.Filter.LocalAux)},
			cmdstan.Setting{Path: "canopy_exponential_steps", Value: strconv.FormatBool(pr.flow.Filter.ExponentialSteps)})
	}
	if id-1 < len(c.untimed) && c.untimed[id-1] {
		cfg.Extra = append(cfg.Extra, cmdstan.Setting{Path: untimedSetting,
			Value: "the warmup and the draws before --resume ran in a session that did not record its time; Elapsed Time is that of the later sessions"})
	}
	if c.sampler == "rwpcn" {
		cfg.Metric = cmdstan.UnitMetric
		cfg.Adapt.Engaged = false
		// The warmup tuned the pCN β and the random walk's multiplier (the step
		// size of the adaptation block) by Robbins–Monro, not by Stan's dual
		// averaging, which is what adapt engaged = 1 would announce.
		cfg.Extra = append(cfg.Extra, cmdstan.Setting{Path: "canopy_kernel", Value: "pcnrw"},
			cmdstan.Setting{Path: "canopy_pcn_beta", Value: strconv.FormatFloat(p.Beta, 'g', -1, 64)},
			// cmdstanpy and cmdstanr read only HMC files (or fixed_param, which has
			// no sampler columns), so the hmc/nuts settings stay; say what they are.
			cmdstan.Setting{Path: "canopy_sampler", Value: "pCN on the noise z then a Gaussian random walk on the parameters (Metropolis within Gibbs); " +
				"algorithm, engine, max_depth and stepsize above are placeholders that CmdStan readers require. " +
				"stepsize__ and the Step size line are the random-walk scale, accept_stat__ is its Metropolis acceptance probability, " +
				"n_leapfrog__ is the number of density evaluations (2), and treedepth__, divergent__ and energy__ are 0 (E-BFMI is meaningless)"})
	}
	return cfg
}

// checkHeader reports whether the chain files' headers can be written, so that a
// bad column name or setting is found before sampling rather than after it.
func checkHeader(c fitConfig, pr *problem) error {
	if _, err := cmdstan.NewWriter(io.Discard, chainConfig(c, pr, 1, mcmc.Params{Beta: 0.5}), pr.columns()); err != nil {
		return fmt.Errorf("canopy cannot write this model's chain files: %w", err)
	}
	return nil
}

// writeChains writes one CmdStan-format CSV per chain (cols are in column space),
// except for chains with a non-nil keep[i] (keep may be nil), whose files stay.
func writeChains(c fitConfig, pr *problem, cols []mcmc.Chain, keep []*chainState) error {
	names := pr.columns()
	for i := range cols {
		if keep != nil && keep[i] != nil {
			continue
		}
		cfg := chainConfig(c, pr, i+1, cols[i].Params)
		if c.sampler == "rwpcn" {
			cols[i].Params.Metric = nil
		}
		f, err := os.Create(chainFile(c.out, i))
		if err != nil {
			return err
		}
		err = cmdstan.WriteChain(f, cfg, names, &cols[i])
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", chainFile(c.out, i), err)
		}
	}
	return nil
}

// checkpoint is DIR/checkpoint.json: the run's configuration and, per chain, what
// mcmc.Run needs to continue it (nil for a chain stopped during warmup, which a resumed
// run repeats from its start; its seed makes that identical).
type checkpoint struct {
	Version    int     `json:"version"`
	TreeFile   string  `json:"tree"`
	TraitFile  string  `json:"traits"`
	Landmarks  string  `json:"landmarks,omitempty"`
	Steps      int     `json:"steps,omitempty"`
	StepLength float64 `json:"step_length,omitempty"`
	TreeIndex  int     `json:"tree_index"`
	Model      string  `json:"model"`
	Noise      string  `json:"noise"`
	Sampler    string  `json:"sampler"`
	Chains     int     `json:"chains"`
	Warmup     int     `json:"warmup"`
	Draws      int     `json:"draws"`
	Seed       uint64  `json:"seed"`
	AdaptDelta float64 `json:"adapt_delta,omitempty"`
	MaxDepth   int     `json:"max_depth,omitempty"`
	LocalAux   bool    `json:"local_aux,omitempty"` // absent in checkpoints from before it: false
	// ExponentialSteps is absent in checkpoints from before it: false, the Euler steps.
	ExponentialSteps bool          `json:"exponential_steps,omitempty"`
	State            []*chainState `json:"state"`
}

type chainState struct {
	Q         []float64 `json:"q"`
	StepSize  float64   `json:"step_size"`
	Beta      float64   `json:"beta,omitempty"`       // pCN β of --sampler rwpcn
	InvMetric []float64 `json:"inv_metric,omitempty"` // diagonal, or row-major dense
	Dense     bool      `json:"dense,omitempty"`
	RNG       []byte    `json:"rng"`
	Done      int       `json:"done"`
	// Seconds are the warmup and sampling times of the chain so far, over every
	// session; absent in checkpoints from before them.
	Seconds []float64 `json:"seconds,omitempty"`
}

// writeCheckpoint writes the checkpoint of chains, with keep[i] (keep may be nil)
// as the state of a chain that has one.
func writeCheckpoint(c fitConfig, chains []mcmc.Chain, keep []*chainState) error {
	cp := checkpoint{Version: 1, TreeFile: abs(c.treeFile), TraitFile: abs(c.traitFile), Landmarks: abs(c.landmarkFile), Steps: c.steps, StepLength: c.stepLength, TreeIndex: c.treeIndex,
		Model: c.model, Noise: c.noise, Sampler: c.sampler, Chains: c.chains, Warmup: c.warmup, Draws: c.draws, Seed: c.seed,
		AdaptDelta: c.adaptDelta, MaxDepth: c.maxDepth, LocalAux: c.localAux, ExponentialSteps: c.exponential}
	for i, ch := range chains {
		if keep != nil && keep[i] != nil {
			cp.State = append(cp.State, keep[i])
			continue
		}
		k := ch.Checkpoint
		if k == nil {
			cp.State = append(cp.State, nil)
			continue
		}
		s := &chainState{Q: k.Q, StepSize: k.Params.StepSize, Beta: k.Params.Beta, RNG: k.RNG, Done: k.Done,
			Seconds: []float64{ch.WarmupSeconds, ch.SampleSeconds}}
		if m := k.Params.Metric; m != nil {
			s.Dense = m.IsDense()
			if !s.Dense {
				s.InvMetric = m.DiagTo(nil) // never densify: Dim can be large
			} else {
				var d mat.SymDense
				m.DenseTo(&d)
				n := m.Dim()
				for i := 0; i < n; i++ {
					for j := 0; j < n; j++ {
						s.InvMetric = append(s.InvMetric, d.At(i, j))
					}
				}
			}
		}
		cp.State = append(cp.State, s)
	}
	b, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	tmp := filepath.Join(c.out, "checkpoint.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(c.out, "checkpoint.json"))
}

func abs(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func readCheckpoint(dir string) (*checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, "checkpoint.json"))
	if err != nil {
		return nil, fmt.Errorf("--resume %s: %w", dir, err)
	}
	cp, err := parseCheckpoint(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "checkpoint.json"), err)
	}
	return cp, nil
}

// parseCheckpoint decodes a checkpoint and checks that it is one of canopy's: a
// version it writes, a model it fits, at least one chain and a state for each.
func parseCheckpoint(b []byte) (*checkpoint, error) {
	var cp checkpoint
	if err := json.Unmarshal(b, &cp); err != nil {
		return nil, err
	}
	switch {
	case cp.Version != 1:
		return nil, fmt.Errorf("checkpoint version %d: this canopy reads version 1", cp.Version)
	case !knownModel(cp.Model):
		return nil, fmt.Errorf("damaged checkpoint: model %q is none canopy fits", cp.Model)
	case cp.Chains < 1 || len(cp.State) != cp.Chains:
		return nil, fmt.Errorf("damaged checkpoint: %d chains with %d states", cp.Chains, len(cp.State))
	}
	return &cp, nil
}

// unfinished returns why the run cp records has not finished, "" if it has.
func (cp *checkpoint) unfinished() string {
	for i, s := range cp.State {
		switch {
		case s == nil:
			return fmt.Sprintf("chain %d stopped during its warmup", i+1)
		case s.Done < cp.Draws:
			return fmt.Sprintf("chain %d made %d of %d draws", i+1, s.Done, cp.Draws)
		}
	}
	return ""
}

// resumeState turns a saved chain state into an mcmc checkpoint.
func (s *chainState) resumeState() (*mcmc.Checkpoint, error) {
	if s == nil {
		return nil, nil
	}
	p := mcmc.Params{StepSize: s.StepSize, Beta: s.Beta} // mcmc.Run checks them
	if len(s.InvMetric) > 0 {
		var err error
		if s.Dense {
			// A NUTS metric covers every coordinate, a random walk's only its
			// block; mcmc.Run checks the size against the kernel's.
			n := int(math.Round(math.Sqrt(float64(len(s.InvMetric)))))
			if len(s.InvMetric) != n*n {
				return nil, errors.New("checkpoint: dense metric of the wrong size")
			}
			p.Metric, err = mcmc.NewDenseMetric(mat.NewSymDense(n, s.InvMetric))
		} else {
			p.Metric, err = mcmc.NewDiagMetric(s.InvMetric)
		}
		if err != nil {
			return nil, fmt.Errorf("checkpoint: %w", err)
		}
	}
	return &mcmc.Checkpoint{Q: s.Q, Params: p, RNG: s.RNG, Done: s.Done}, nil
}

// fileTimes is what a chain file of an earlier run records of its times.
type fileTimes struct {
	block bool // it has a timing block: the run finished, and these are its times
	// partial: its untimedSetting says a session before those times went untimed.
	partial bool
}

// readChains reads the chain files of an earlier run (in column space), with the
// times of their timing blocks, which a checkpoint from before it recorded the
// times lacks.
func readChains(dir string, n int) ([]mcmc.Chain, []fileTimes, error) {
	out, times := make([]mcmc.Chain, n), make([]fileTimes, n)
	for c := range out {
		f, err := cmdstan.ReadFile(chainFile(dir, c))
		if err != nil && f == nil {
			return nil, nil, err
		}
		out[c] = mcmc.Chain{Index: c, Sample: f.Sample}
		if f.Timing != nil {
			out[c].WarmupSeconds, out[c].SampleSeconds = f.Timing.Warmup, f.Timing.Sampling
			times[c].block = true
		}
		_, times[c].partial = f.Setting(untimedSetting)
	}
	return out, times, nil
}

// summaryHeader and ancestralHeader are the first lines of summary.csv and
// ancestral.csv.
const (
	summaryHeader   = "parameter,mean,sd,q5,q50,q95,rhat,ess_bulk,ess_tail,mcse_mean"
	ancestralHeader = "node,trait,mean,sd,q2.5,q97.5,interval"
)

var chainName = regexp.MustCompile(`^chain-[1-9][0-9]*\.csv$`)

// removeOldOutputs removes from dir the files an earlier fit wrote there, so that a
// new run with fewer chains or other parameters leaves none of the old run's chain
// files or plots for a reader to mix with its own. A file is removed only if its
// name is one fit writes and its contents are canopy's (chain files say model =
// canopy_…, the CSVs start with canopy's header, the checkpoint passes the checks of
// --resume), and a plot only if it is a parameter's in the earlier run's summary.csv;
// every other file stays. If dir holds a checkpoint of an unfinished run, which
// --resume could continue, it removes nothing and returns an error saying so: a
// forgotten --resume must not discard the draws made. It returns the paths removed,
// relative to dir. Before removing anything it checks with checkOutputsFree that
// the new run, of chains chains of pr, would overwrite no other file.
func removeOldOutputs(dir string, chains int, pr *problem) ([]string, error) {
	ours, err := oldOutputs(dir)
	if err != nil {
		return nil, err
	}
	if err := checkOutputsFree(dir, chains, pr, ours); err != nil {
		return nil, err
	}
	return removeAll(dir, ours)
}

// removeAll removes the files rels, relative to dir, and returns those it removed.
func removeAll(dir string, rels []string) ([]string, error) {
	var removed []string
	for _, rel := range rels {
		if err := os.Remove(filepath.Join(dir, rel)); err != nil {
			return removed, fmt.Errorf("removing the earlier run's %s: %w", filepath.Join(dir, rel), err)
		}
		removed = append(removed, rel)
	}
	return removed, nil
}

// removeSummaries removes from dir the files that report derives from the draws:
// summary.csv and ancestral.csv with canopy's headers, and the plots summary.csv
// names. It returns what it removed, relative to dir.
func removeSummaries(dir string) ([]string, error) {
	var rels, plotted []string
	if ownCSV(dir, "summary.csv") {
		plotted = oldPlots(dir) // before summary.csv, which names them, goes
		rels = append(rels, "summary.csv")
	}
	if ownCSV(dir, "ancestral.csv") {
		rels = append(rels, "ancestral.csv")
	}
	return removeAll(dir, append(rels, plotted...))
}

// csvHeaders are the first lines of the CSV files fit derives from the draws.
var csvHeaders = map[string]string{"summary.csv": summaryHeader, "ancestral.csv": ancestralHeader}

// ownCSV reports whether dir/rel, one of csvHeaders' files, is a regular file that
// starts with canopy's header.
func ownCSV(dir, rel string) bool {
	name := filepath.Join(dir, rel)
	st, err := os.Lstat(name)
	return err == nil && st.Mode().IsRegular() && strings.HasPrefix(readHead(name), csvHeaders[rel]+"\n")
}

// checkSummariesFree reports a file that a resumed run into dir would write
// through or over although it is not canopy's: a summary.csv or ancestral.csv that
// is not a regular file with canopy's header, a plots that is not a directory, or a
// plot of one of pr's parameters that is not a regular file (a symbolic link to a
// figure elsewhere, say). A fresh run refuses the same in checkOutputsFree.
func checkSummariesFree(dir string, pr *problem) error {
	refuse := func(rel, what string) error {
		return &exitError{code: 2, err: fmt.Errorf("%s %s, and the resumed run would write over it: move it, then resume", filepath.Join(dir, rel), what)}
	}
	for _, rel := range []string{"summary.csv", "ancestral.csv"} {
		_, err := os.Lstat(filepath.Join(dir, rel))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !ownCSV(dir, rel) {
			return refuse(rel, "is not an earlier canopy fit's output")
		}
	}
	if ok, err := plotsDir(dir, "move it, then resume"); !ok {
		return err
	}
	for _, pa := range pr.params {
		for _, file := range plots.Files(plots.FileName(pa.name)) {
			rel := filepath.Join("plots", file)
			if st, err := os.Lstat(filepath.Join(dir, rel)); err == nil && !st.Mode().IsRegular() {
				return refuse(rel, "is not a regular file (a symbolic link?)")
			}
		}
	}
	return nil
}

// plotsDir reports whether dir/plots exists as a directory; if it exists as
// anything else (a symbolic link, say), the error says so and ends with advice.
func plotsDir(dir, advice string) (bool, error) {
	st, err := os.Lstat(filepath.Join(dir, "plots"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	case !st.IsDir():
		return false, &exitError{code: 2, err: fmt.Errorf("%s is not a directory (a symbolic link?), and fit writes its plots there: %s",
			filepath.Join(dir, "plots"), advice)}
	}
	return true, nil
}

// describeSummaries names what removeSummaries removed: the files, then the number
// of plots.
func describeSummaries(removed []string) string {
	var files []string
	n := 0
	for _, rel := range removed {
		if strings.HasPrefix(rel, "plots"+string(filepath.Separator)) {
			n++
		} else {
			files = append(files, rel)
		}
	}
	switch {
	case n == 1:
		files = append(files, "1 plot")
	case n > 1:
		files = append(files, fmt.Sprintf("%d plots", n))
	}
	if len(files) == 1 {
		return files[0]
	}
	return strings.Join(files[:len(files)-1], ", ") + " and " + files[len(files)-1]
}

// oldOutputs returns the earlier fit's files in dir that removeOldOutputs removes.
func oldOutputs(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ckpt := func(name string) *checkpoint {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil
		}
		cp, _ := parseCheckpoint(b)
		return cp
	}
	var ours []string // relative to dir
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		var own bool
		switch {
		case chainName.MatchString(name):
			own = strings.Contains(readHead(filepath.Join(dir, name)), "\n# model = canopy_")
		case csvHeaders[name] != "":
			own = ownCSV(dir, name)
		case name == "checkpoint.json":
			cp := ckpt(name)
			if cp != nil {
				if why := cp.unfinished(); why != "" {
					return nil, &exitError{code: 2, err: fmt.Errorf("%s holds an unfinished run (%s) that a new run would remove: "+
						"continue it with canopy fit --resume %s, or choose another --out", dir, why, dir)}
				}
			}
			own = cp != nil
		case name == "checkpoint.json.tmp": // left by a crash before the rename; --resume never reads it
			own = ckpt(name) != nil
		}
		if own {
			ours = append(ours, name)
		}
	}
	if slices.Contains(ours, "summary.csv") {
		ours = append(ours, oldPlots(dir)...)
	}
	return ours, nil
}

// checkOutputsFree returns an error naming the first file that a new run into dir
// would overwrite and that is not among the earlier fit's files (ours, relative to
// dir): a user's summary.csv, say, or a plot of one of pr's parameters, or a plots
// that is not a directory, such as a symbolic link to figures elsewhere.
func checkOutputsFree(dir string, chains int, pr *problem, ours []string) error {
	taken := func(rel string) error {
		return &exitError{code: 2, err: fmt.Errorf("%s is not an earlier canopy fit's output (fit removes only those), and this run would overwrite it: move it or choose another --out",
			filepath.Join(dir, rel))}
	}
	names := []string{"summary.csv", "ancestral.csv", "checkpoint.json", "checkpoint.json.tmp"}
	for i := 0; i < chains; i++ {
		names = append(names, filepath.Base(chainFile(dir, i)))
	}
	for _, rel := range names {
		if _, err := os.Lstat(filepath.Join(dir, rel)); err == nil && !slices.Contains(ours, rel) {
			return taken(rel)
		}
	}
	if ok, err := plotsDir(dir, "move it or choose another --out"); !ok {
		return err
	}
	for _, pa := range pr.params {
		for _, file := range plots.Files(plots.FileName(pa.name)) {
			rel := filepath.Join("plots", file)
			if _, err := os.Lstat(filepath.Join(dir, rel)); err == nil && !slices.Contains(ours, rel) {
				return taken(rel)
			}
		}
	}
	return nil
}

// oldPlots returns the plots, relative to dir, of the parameters listed in
// dir/summary.csv (which has canopy's header). report writes summary.csv before the
// plots, so a run that drew plots left one naming each; a file in plots that no
// parameter of it names is not canopy's, however much its name looks like one. A
// plots that is a symbolic link is not followed: what it points at lies outside
// dir.
func oldPlots(dir string) []string {
	if st, err := os.Lstat(filepath.Join(dir, "plots")); err != nil || !st.IsDir() {
		return nil
	}
	f, err := os.Open(filepath.Join(dir, "summary.csv"))
	if err != nil {
		return nil
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil || len(rows) == 0 || strings.Join(rows[0], ",") != summaryHeader {
		return nil
	}
	var out []string
	for _, row := range rows[1:] {
		for _, file := range plots.Files(plots.FileName(row[0])) {
			rel := filepath.Join("plots", file)
			if slices.Contains(out, rel) { // a row repeated, say by hand
				continue
			}
			if st, err := os.Lstat(filepath.Join(dir, rel)); err == nil && st.Mode().IsRegular() {
				out = append(out, rel)
			}
		}
	}
	return out
}

// readHead returns the first 1 KiB of a file, "" if it cannot be read.
func readHead(name string) string {
	f, err := os.Open(name)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 1024)
	n, _ := io.ReadFull(f, b)
	return string(b[:n])
}

// summarizeRemoved returns a one-line list of removed files: all of them, or the
// first few and how many more.
func summarizeRemoved(removed []string) string {
	const show = 6
	if len(removed) <= show {
		return strings.Join(removed, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(removed[:show], ", "), len(removed)-show)
}
