package cmdstan_test

import (
	"errors"
	"io"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/format/cmdstan"
	"github.com/canopy-bffg/canopy/mcmc"
)

// The files testdata/cmdstan-2.33-*.csv follow, line for line, the output of
// CmdStan 2.33's sample method (for bernoulli.stan with num_samples=10, and for a
// bivariate normal with a matrix-valued generated quantity, run with
// num_samples=8 num_warmup=6 save_warmup=1 thin=2 metric=dense_e id=2), with
// CmdStan's default 6 significant digits. They are format fixtures: the values
// are made up to be consistent (lp__ is the log density of the draw).

func TestReadCmdStanBernoulli(t *testing.T) {
	f, err := cmdstan.ReadFile("testdata/cmdstan-2.33-bernoulli.csv")
	require.NoError(t, err)
	c := f.Config
	assert.Equal(t, [3]int{2, 33, 0}, c.StanVersion)
	assert.Equal(t, "bernoulli_model", c.Model)
	assert.Equal(t, time.Date(2023, 11, 29, 16, 52, 51, 0, time.UTC), c.StartTime)
	assert.Equal(t, 10, c.NumSamples)
	assert.Equal(t, 1000, c.NumWarmup)
	assert.False(t, c.SaveWarmup)
	assert.Equal(t, 1, c.Thin)
	assert.Equal(t, cmdstan.Adapt{Engaged: true, Gamma: 0.05, Delta: 0.8, Kappa: 0.75, T0: 10,
		InitBuffer: 75, TermBuffer: 50, Window: 25}, c.Adapt)
	assert.Equal(t, "hmc", c.Algorithm)
	assert.Equal(t, "nuts", c.Engine)
	assert.Equal(t, 10, c.MaxDepth)
	assert.Equal(t, cmdstan.DiagMetric, c.Metric)
	assert.Equal(t, 1.0, c.StepSize)
	assert.Equal(t, 1, c.ID)
	assert.Equal(t, "bernoulli.data.json", c.DataFile)
	assert.Equal(t, "2", c.Init)
	assert.Equal(t, uint64(589886520), c.Seed)
	assert.Equal(t, "output_1.csv", c.OutputFile)
	var extra []string
	for _, s := range c.Extra {
		extra = append(extra, s.Path+"="+s.Value)
	}
	assert.Equal(t, []string{"num_threads=1", "stanc_version=stanc3 v2.33.1", "stancflags="}, extra)

	s, ok := f.Setting("output.sig_figs")
	assert.True(t, ok)
	assert.Equal(t, cmdstan.Setting{Path: "output.sig_figs", Value: "-1", Default: true, Line: 41}, s)
	s, _ = f.Setting("metric_file")
	assert.Equal(t, "sample.hmc.metric_file", s.Path)
	assert.Equal(t, "", s.Value)

	assert.Equal(t, []string{"theta"}, f.Names)
	assert.Equal(t, 46, f.Line)
	assert.Equal(t, 0, f.Warmup.Len())
	require.Equal(t, 10, f.Sample.Len())
	assert.Equal(t, []float64{0.170938}, f.Sample.Draw(0))
	assert.Equal(t, -6.9865, f.Sample.LogDensity[0])
	assert.Equal(t, mcmc.Info{AcceptStat: 0.841147, StepSize: 0.911297, TreeDepth: 2, NumSteps: 7, Energy: 7.04625},
		f.Sample.Info[0])
	assert.Equal(t, []float64{0.0897981}, f.Sample.Draw(9))
	assert.Equal(t, &cmdstan.Adaptation{StepSize: 0.911297, Metric: cmdstan.DiagMetric, InvMetric: []float64{0.566254}, Line: 47},
		f.Adaptation)
	assert.Equal(t, &cmdstan.Timing{Warmup: 0.005, Sampling: 0.001, Total: 0.006, Line: 62}, f.Timing)

	ch, err := f.Chain()
	require.NoError(t, err)
	assert.Equal(t, 0.911297, ch.Params.StepSize)
	assert.Equal(t, []float64{0.566254}, ch.Params.Metric.DiagTo(nil))
	assert.Equal(t, 0.001, ch.SampleSeconds)
}

func TestReadCmdStanDenseWarmup(t *testing.T) {
	f, err := cmdstan.ReadFile("testdata/cmdstan-2.33-mvn-dense-warmup.csv")
	require.NoError(t, err)
	assert.True(t, f.Config.SaveWarmup)
	assert.Equal(t, 2, f.Config.Thin)
	assert.Equal(t, cmdstan.DenseMetric, f.Config.Metric)
	assert.Equal(t, 2, f.Config.ID)
	assert.Equal(t, []string{"mu.1", "mu.2", "S.1.1", "S.2.1", "S.1.2", "S.2.2"}, f.Names)
	assert.NoError(t, cmdstan.CheckNames(f.Names))
	assert.Equal(t, 3, f.Warmup.Len(), "⌈6/2⌉ warmup draws")
	assert.Equal(t, 4, f.Sample.Len(), "⌈8/2⌉ draws")
	assert.Equal(t, 1.0, f.Warmup.Info[0].StepSize)
	assert.Equal(t, 0.853215, f.Sample.Info[0].StepSize)
	require.NotNil(t, f.Adaptation)
	assert.Equal(t, 2, f.Adaptation.Dim())
	assert.Equal(t, []float64{0.982716, 0.574239, 0.574239, 1.06185}, f.Adaptation.InvMetric)
	p, err := f.Adaptation.Params()
	require.NoError(t, err)
	assert.True(t, p.Metric.IsDense())
	ch, err := f.Chain()
	require.NoError(t, err)
	assert.Equal(t, 1, ch.Index)
}

// TestReaderStream reads draw by draw: warmup flags, lines, and the blocks as
// they are passed.
func TestReaderStream(t *testing.T) {
	r := cmdstan.NewReader(strings.NewReader(valid))
	h, err := r.Header()
	require.NoError(t, err)
	assert.Equal(t, []string{"x.1", "x.2"}, h.Names)
	type row struct {
		warmup  bool
		line    int
		adapted bool
	}
	var rows []row
	for {
		d, err := r.Read()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		rows = append(rows, row{d.Warmup, d.Line, r.Adaptation() != nil})
	}
	assert.Equal(t, []row{{true, 12, false}, {true, 13, false}, {false, 18, true}, {false, 19, true}}, rows)
	require.NotNil(t, r.Timing())
	assert.Equal(t, 0.3, r.Timing().Total)
	_, err = r.Read()
	assert.Equal(t, io.EOF, err)
}

// valid is a small file in CmdStan's format; the malformed inputs are edits of it.
const valid = `# model = m
# method = sample (Default)
#   sample
#     num_samples = 2
#     num_warmup = 2
#     save_warmup = 1
#     thin = 1
#     algorithm = hmc (Default)
#       hmc
#         metric = diag_e
lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,x.1,x.2
-1,0.5,1,1,1,0,1,0.1,0.2
-1,0.5,1,1,1,0,1,0.1,0.2
# Adaptation terminated
# Step size = 0.5
# Diagonal elements of inverse mass matrix:
# 1, 2
-1,0.9,0.5,2,3,0,1.5,0.3,0.4
-1,0.9,0.5,2,3,1,1.5,0.3,0.4
# 
#  Elapsed Time: 0.1 seconds (Warm-up)
#                0.2 seconds (Sampling)
#                0.3 seconds (Total)
# 
`

// edit returns valid with line n (1-based) replaced by the given lines.
func edit(n int, with ...string) string {
	lines := strings.SplitAfter(valid, "\n")
	for i := range with {
		with[i] += "\n"
	}
	out := append(append(append([]string(nil), lines[:n-1]...), with...), lines[n:]...)
	return strings.Join(out, "")
}

func TestReaderErrors(t *testing.T) {
	for _, c := range []struct {
		name      string
		src       string
		kind      error
		line, col int
	}{
		{"empty", "", cmdstan.ErrNoHeader, 1, 0},
		{"comments only", "# model = m\n#\n", cmdstan.ErrNoHeader, 3, 0},
		{"no lp__", edit(11, "accept_stat__,x"), cmdstan.ErrColumn, 11, 1},
		{"duplicate column", edit(11, "lp__,x.1,x.1"), cmdstan.ErrColumn, 11, 10},
		{"empty column", edit(11, "lp__,,x"), cmdstan.ErrColumn, 11, 6},
		{"num_samples", edit(4, "#     num_samples = two"), cmdstan.ErrSetting, 4, 0},
		{"negative num_warmup", edit(5, "#     num_warmup = -1"), cmdstan.ErrSetting, 5, 0},
		{"method", edit(2, "# method = optimize"), cmdstan.ErrNotSample, 2, 0},
		{"save_warmup", edit(6, "#     save_warmup = yes"), cmdstan.ErrSetting, 6, 0},
		{"thin", edit(7, "#     thin = 0"), cmdstan.ErrSetting, 7, 0},
		{"metric", edit(10, "#         metric = diag"), cmdstan.ErrSetting, 10, 0},
		{"too few fields", edit(13, "-1,0.5,1,1,1,0,1,0.1"), cmdstan.ErrFieldCount, 13, 21},
		{"too many fields", edit(18, "-1,0.9,0.5,2,3,0,1.5,0.3,0.4,7"), cmdstan.ErrFieldCount, 18, 29},
		{"bad number", edit(12, "-1,0.5,1,1,1,0,1,0.1x,0.2"), cmdstan.ErrNumber, 12, 18},
		{"hex number", edit(12, "-1,0.5,1,1,1,0,1,0x1p-2,0.2"), cmdstan.ErrNumber, 12, 18},
		{"empty field", edit(12, "-1,0.5,1,1,1,0,1,,0.2"), cmdstan.ErrNumber, 12, 18},
		{"fractional depth", edit(18, "-1,0.9,0.5,2.5,3,0,1.5,0.3,0.4"), cmdstan.ErrNumber, 18, 12},
		{"negative steps", edit(18, "-1,0.9,0.5,2,-3,0,1.5,0.3,0.4"), cmdstan.ErrNumber, 18, 14},
		{"divergent 2", edit(19, "-1,0.9,0.5,2,3,2,1.5,0.3,0.4"), cmdstan.ErrNumber, 19, 16},
		{"no step size", edit(15), cmdstan.ErrAdaptation, 15, 0},
		{"bad step size", edit(15, "# Step size = -1"), cmdstan.ErrAdaptation, 15, 0},
		{"early adaptation", edit(13), cmdstan.ErrDrawCount, 13, 0},
		{"adaptation after draws", edit(6, "#     save_warmup = 0"), cmdstan.ErrAdaptation, 14, 0},
		{"dense block in diag_e file", edit(16, "# Elements of inverse mass matrix:", "# 1, 0", "# 0, 2"), cmdstan.ErrAdaptation, 14, 0},
		{"unit block in diag_e file", edit(16, "#"), cmdstan.ErrAdaptation, 14, 0},
		{"bad metric value", edit(17, "# 1, x"), cmdstan.ErrAdaptation, 17, 0},
		{"diag block in dense_e file", edit(10, "#         metric = dense_e"), cmdstan.ErrAdaptation, 14, 0},
		{"ragged dense", strings.Replace(edit(16, "# Elements of inverse mass matrix:", "# 1, 0", "# 0"),
			"diag_e", "dense_e", 1), cmdstan.ErrAdaptation, 18, 0},
		{"second adaptation", edit(18, "# Adaptation terminated"), cmdstan.ErrAdaptation, 18, 0},
		{"truncated adaptation", strings.Join(strings.SplitAfter(valid, "\n")[:16], ""), cmdstan.ErrAdaptation, 14, 0},
		{"incomplete timing", edit(22), cmdstan.ErrTiming, 22, 0},
		{"bad time", edit(21, "#  Elapsed Time: 1e999 seconds (Warm-up)"), cmdstan.ErrTiming, 21, 0},
		{"draw after timing", valid + "-1,0.9,0.5,2,3,0,1.5,0.3,0.4\n", cmdstan.ErrDrawCount, 25, 1},
		{"one draw too many", edit(19, "-1,0.9,0.5,2,3,1,1.5,0.3,0.4", "-1,0.9,0.5,2,3,1,1.5,0.3,0.4"), cmdstan.ErrDrawCount, 20, 1},
		{"finished run with a draw missing", edit(19), cmdstan.ErrDrawCount, 20, 0},
		{"second timing", valid + "#  Elapsed Time: 0.1 seconds (Warm-up)\n", cmdstan.ErrTiming, 25, 0},
	} {
		r := cmdstan.NewReader(strings.NewReader(c.src))
		r.File = "f.csv"
		_, err := r.ReadAll()
		require.Error(t, err, c.name)
		assert.ErrorIs(t, err, c.kind, c.name)
		var pe *cmdstan.ParseError
		if assert.True(t, errors.As(err, &pe), c.name) {
			assert.Equal(t, "f.csv", pe.File, c.name)
			assert.Equal(t, c.line, pe.Line, "%s: %v", c.name, err)
			assert.Equal(t, c.col, pe.Column, "%s: %v", c.name, err)
		}
		_, again := r.Read()
		assert.Equal(t, err, again, "%s: errors are sticky", c.name)
	}
}

// TestReaderInterrupted reads files cut where an interrupted run leaves them.
func TestReaderInterrupted(t *testing.T) {
	lines := strings.SplitAfter(valid, "\n")
	for _, c := range []struct {
		keep          int // lines kept
		warm, draws   int
		adapted, done bool
	}{
		{11, 0, 0, false, false},
		{12, 1, 0, false, false},
		{17, 2, 0, true, false},
		{18, 2, 1, true, false},
		{19, 2, 2, true, false},
		{24, 2, 2, true, true},
	} {
		f, err := cmdstan.NewReader(strings.NewReader(strings.Join(lines[:c.keep], ""))).ReadAll()
		require.NoError(t, err, "%d lines", c.keep)
		assert.Equal(t, c.warm, f.Warmup.Len(), "%d lines", c.keep)
		assert.Equal(t, c.draws, f.Sample.Len(), "%d lines", c.keep)
		assert.Equal(t, c.adapted, f.Adaptation != nil, "%d lines", c.keep)
		assert.Equal(t, c.done, f.Timing != nil, "%d lines", c.keep)
	}

	// A damaged last line: the draws before it are returned with the error.
	src := strings.Join(lines[:18], "") + "-1,0.9,0.5,2,3"
	f, err := cmdstan.NewReader(strings.NewReader(src)).ReadAll()
	assert.ErrorIs(t, err, cmdstan.ErrFieldCount)
	require.NotNil(t, f)
	assert.Equal(t, 1, f.Sample.Len())
	assert.Equal(t, []float64{0.3, 0.4}, f.Sample.Draw(0))
}

// TestReaderLenient accepts what CmdStan and other tools write: CRLF line ends,
// false/true, non-finite values in any case, unknown sampler columns, fixed_param
// files without sampler columns or adaptation block.
func TestReaderLenient(t *testing.T) {
	src := strings.ReplaceAll(edit(6, "#     save_warmup = true"), "\n", "\r\n")
	f, err := cmdstan.NewReader(strings.NewReader(src)).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, 2, f.Warmup.Len())

	src = edit(12, "-inf,NaN,1,1,1,0,+Inf,nan,-Infinity")
	f, err = cmdstan.NewReader(strings.NewReader(src)).ReadAll()
	require.NoError(t, err)
	assert.True(t, math.IsInf(f.Warmup.LogDensity[0], -1))
	assert.True(t, math.IsNaN(f.Warmup.Info[0].AcceptStat))
	assert.True(t, math.IsInf(f.Warmup.Info[0].Energy, 1))
	assert.True(t, math.IsNaN(f.Warmup.Draws[0]))
	assert.True(t, math.IsInf(f.Warmup.Draws[1], -1))

	fixed := `# model = gen
# method = sample (Default)
#   sample
#     num_samples = 3
#     num_warmup = 0
#     save_warmup = 0
#     algorithm = fixed_param
# id = 1
lp__,accept_stat__,custom__,y.1,y.2
0,0,7,1,2
0,0,7,3,4
0,0,7,5,6
# 
#  Elapsed Time: 0 seconds (Warm-up)
#                0.001 seconds (Sampling)
#                0.001 seconds (Total)
# 
`
	f, err = cmdstan.NewReader(strings.NewReader(fixed)).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, "fixed_param", f.Config.Algorithm)
	assert.Equal(t, []string{"y.1", "y.2"}, f.Names)
	assert.Equal(t, []float64{1, 2, 3, 4, 5, 6}, f.Sample.Draws)
	assert.Nil(t, f.Adaptation)
	ch, err := f.Chain()
	require.NoError(t, err)
	assert.Nil(t, ch.Params.Metric)
}

func TestAdaptationParamsErrors(t *testing.T) {
	a := &cmdstan.Adaptation{StepSize: 1, Metric: cmdstan.DiagMetric, InvMetric: []float64{1, -1}}
	_, err := a.Params()
	assert.ErrorIs(t, err, cmdstan.ErrMetric)
	assert.ErrorIs(t, err, mcmc.ErrNotPositiveDefinite)
	a = &cmdstan.Adaptation{StepSize: 1, Metric: cmdstan.DenseMetric, InvMetric: []float64{1, 0.5, 0.25, 1}}
	_, err = a.Params()
	assert.ErrorIs(t, err, mcmc.ErrNotPositiveDefinite, "not symmetric")
	a.InvMetric = []float64{1, 2, 2, 1}
	_, err = a.Params()
	assert.ErrorIs(t, err, mcmc.ErrNotPositiveDefinite, "indefinite")
}
