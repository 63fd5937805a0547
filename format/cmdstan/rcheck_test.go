package cmdstan_test

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/format/cmdstan"
	"github.com/canopy-bffg/canopy/mcmc"
)

// rResult is what testdata/read_check.R printed for one file.
type rResult struct {
	args     map[string]string
	warmup2  int
	time     []float64
	stepsize []float64
	metric   []float64
	vars     []string
	draws    [][]float64
	spvars   []string
	sp       [][]float64
}

// rExpect is what a file holds: what was written, or what the Reader read from a
// CmdStan file.
type rExpect struct {
	cfg    cmdstan.Config
	names  []string
	warmup mcmc.Trace
	sample mcmc.Trace
	params mcmc.Params
	timing *[2]float64
}

// TestRReadCheck writes the chains of the golden files to a temporary directory
// and reads them, with the CmdStan fixtures, using rstan::read_stan_csv and
// posterior::as_draws_df (testdata/read_check.R). What R finds must be what was
// written: the settings rstan parses, the number of warmup draws, the times, the
// step size and inverse metric, every draw of every variable with its lp__ and
// every sampler column, to a relative 1e-12 (R's number parser is not always
// correctly rounded). The test is skipped unless Rscript and the R packages rstan
// and posterior are installed.
func TestRReadCheck(t *testing.T) {
	rscript, err := exec.LookPath("Rscript")
	if err != nil {
		t.Skip("skipping the R check: Rscript is not on PATH")
	}
	if out, err := exec.Command(rscript, "-e", "library(rstan); library(posterior)").CombinedOutput(); err != nil {
		t.Skipf("skipping the R check: the R packages rstan and posterior are not installed: %v\n%s", err, out)
	}

	dir := t.TempDir()
	expect := make(map[string]rExpect)
	var files []string
	for _, c := range chainCases(t) {
		path := filepath.Join(dir, c.name+".csv")
		var buf bytes.Buffer
		require.NoError(t, cmdstan.WriteChain(&buf, c.cfg, c.names, &c.chain))
		require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
		e := rExpect{cfg: c.cfg, names: c.names, warmup: c.chain.Warmup, sample: c.chain.Sample, params: c.chain.Params}
		if c.chain.Sample.Len() == c.cfg.NumSamples {
			e.timing = &[2]float64{c.chain.WarmupSeconds, c.chain.SampleSeconds}
		}
		expect[c.name+".csv"] = e
		files = append(files, path)
	}
	for _, name := range []string{"cmdstan-2.33-bernoulli.csv", "cmdstan-2.33-mvn-dense-warmup.csv"} {
		path := filepath.Join("testdata", name)
		f, err := cmdstan.ReadFile(path)
		require.NoError(t, err)
		ch, err := f.Chain()
		require.NoError(t, err)
		expect[name] = rExpect{cfg: f.Config, names: f.Names, warmup: f.Warmup, sample: f.Sample,
			params: ch.Params, timing: &[2]float64{f.Timing.Warmup, f.Timing.Sampling}}
		files = append(files, path)
	}

	cmd := exec.Command(rscript, append([]string{filepath.Join("testdata", "read_check.R")}, files...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "Rscript: %s", stderr.String())
	got, err := parseRCheck(out)
	require.NoError(t, err)
	require.Len(t, got, len(expect))
	for name, e := range expect {
		r, ok := got[name]
		if assert.True(t, ok, "R printed nothing for %s", name) {
			t.Run(name, func(t *testing.T) { compareR(t, e, r) })
		}
	}
}

func compareR(t *testing.T, e rExpect, r *rResult) {
	c := e.cfg
	nWarm := 0
	if c.SaveWarmup {
		nWarm = e.warmup.Len()
	}
	// rstan counts iter as num_warmup + num_samples, or as the number of rows
	// when the file has fewer rows than that.
	iter := c.NumWarmup + c.NumSamples
	if e.timing == nil {
		iter = nWarm + e.sample.Len()
	}
	assert.Equal(t, map[string]string{
		"sampler_t": "NUTS(" + c.Metric + ")", "chain_id": strconv.Itoa(c.ID), "iter": strconv.Itoa(iter),
		"warmup": strconv.Itoa(c.NumWarmup), "thin": strconv.Itoa(c.Thin), "save_warmup": map[bool]string{false: "0", true: "1"}[c.SaveWarmup],
		"seed": strconv.FormatUint(c.Seed, 10), "max_depth": strconv.Itoa(c.MaxDepth), "metric": c.Metric,
		"stepsize": strconv.FormatFloat(c.StepSize, 'g', -1, 64), "delta": strconv.FormatFloat(c.Adapt.Delta, 'g', -1, 64),
		"model": c.Model,
	}, r.args)
	assert.Equal(t, nWarm, r.warmup2)
	if e.timing == nil {
		assert.True(t, math.IsNaN(r.time[0]) && math.IsNaN(r.time[1]), "times %v", r.time)
	} else {
		closeTo(t, "warmup time", e.timing[0], r.time[0])
		closeTo(t, "sampling time", e.timing[1], r.time[1])
	}
	require.Len(t, r.stepsize, 1)
	closeTo(t, "step size", e.params.StepSize, r.stepsize[0])
	var inv mat.SymDense
	e.params.Metric.DenseTo(&inv)
	n := e.params.Metric.Dim()
	var want []float64
	for i := range n {
		if !e.params.Metric.IsDense() {
			want = append(want, inv.At(i, i))
			continue
		}
		for j := range n {
			want = append(want, inv.At(i, j))
		}
	}
	require.Len(t, r.metric, len(want))
	for i, x := range want {
		closeTo(t, fmt.Sprintf("inverse metric entry %d", i), x, r.metric[i])
	}

	// posterior names elements x[1,2]; the file names them x.1.2.
	require.Equal(t, len(e.names)+1, len(r.vars))
	col := make(map[string]int)
	for i, v := range r.vars {
		v = strings.NewReplacer("[", ".", ",", ".", "]", "").Replace(v)
		col[v] = i
	}
	traces := []*mcmc.Trace{&e.sample}
	if c.SaveWarmup {
		traces = []*mcmc.Trace{&e.warmup, &e.sample}
	}
	spcol := make(map[string]int)
	for i, v := range r.spvars {
		spcol[v] = i
	}
	row := 0
	for _, tr := range traces {
		for i := range tr.Len() {
			require.Less(t, row, len(r.draws))
			d := r.draws[row]
			for j, name := range e.names {
				k, ok := col[name]
				require.True(t, ok, "posterior has no variable for column %s: %q", name, r.vars)
				closeTo(t, fmt.Sprintf("row %d, %s", row, name), tr.Draw(i)[j], d[k])
			}
			closeTo(t, fmt.Sprintf("row %d, lp__", row), tr.LogDensity[i], d[col["lp__"]])
			s, info := r.sp[row], tr.Info[i]
			closeTo(t, fmt.Sprintf("row %d, accept_stat__", row), info.AcceptStat, s[spcol["accept_stat__"]])
			closeTo(t, fmt.Sprintf("row %d, stepsize__", row), info.StepSize, s[spcol["stepsize__"]])
			closeTo(t, fmt.Sprintf("row %d, energy__", row), info.Energy, s[spcol["energy__"]])
			assert.Equal(t, float64(info.TreeDepth), s[spcol["treedepth__"]])
			assert.Equal(t, float64(info.NumSteps), s[spcol["n_leapfrog__"]])
			assert.Equal(t, map[bool]float64{false: 0, true: 1}[info.Divergent], s[spcol["divergent__"]])
			row++
		}
	}
	assert.Equal(t, row, len(r.draws))
	assert.Equal(t, row, len(r.sp))
}

// closeTo checks |got − want| ≤ 1e-12 |want|, with equal signs of zeros.
func closeTo(t *testing.T, what string, want, got float64) {
	t.Helper()
	if want == got && math.Signbit(want) == math.Signbit(got) {
		return
	}
	if !(math.Abs(got-want) <= 1e-12*math.Abs(want)) {
		t.Errorf("%s: R read %v, want %v", what, got, want)
	}
}

// parseRCheck parses the output of read_check.R by file name.
func parseRCheck(out []byte) (map[string]*rResult, error) {
	res := make(map[string]*rResult)
	var cur *rResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	nums := func(fs []string) ([]float64, error) {
		xs := make([]float64, len(fs))
		for i, f := range fs {
			if f == "NA" {
				xs[i] = math.NaN()
				continue
			}
			x, err := strconv.ParseFloat(f, 64)
			if err != nil {
				return nil, err
			}
			xs[i] = x
		}
		return xs, nil
	}
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if fs[0] == "file" {
			if len(fs) != 2 {
				return nil, fmt.Errorf("line %d: %q", line, sc.Text())
			}
			cur = &rResult{args: make(map[string]string)}
			res[fs[1]] = cur
			continue
		}
		if cur == nil {
			return nil, fmt.Errorf("line %d: %q before any file", line, sc.Text())
		}
		var err error
		switch fs[0] {
		case "args":
			if len(fs) != 3 {
				return nil, fmt.Errorf("line %d: %q", line, sc.Text())
			}
			cur.args[fs[1]] = fs[2]
		case "warmup2":
			cur.warmup2, err = strconv.Atoi(fs[1])
		case "time":
			cur.time, err = nums(fs[1:])
		case "stepsize":
			cur.stepsize, err = nums(fs[1:])
		case "metric":
			cur.metric, err = nums(fs[1:])
		case "vars":
			cur.vars = fs[1:]
		case "spvars":
			cur.spvars = fs[1:]
		case "draw", "sp":
			var xs []float64
			xs, err = nums(fs[1:])
			if fs[0] == "draw" {
				cur.draws = append(cur.draws, xs)
			} else {
				cur.sp = append(cur.sp, xs)
			}
		case "end":
			cur = nil
		default:
			err = fmt.Errorf("unknown line")
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %q: %v", line, sc.Text(), err)
		}
	}
	return res, sc.Err()
}
