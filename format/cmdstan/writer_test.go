package cmdstan_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/format/cmdstan"
	"github.com/canopy-bffg/canopy/mcmc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden compares the files written for the chains of chainCases with
// testdata/<name>.csv byte for byte; go test -update rewrites them.
func TestGolden(t *testing.T) {
	for _, c := range chainCases(t) {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, cmdstan.WriteChain(&buf, c.cfg, c.names, &c.chain))
			path := filepath.Join("testdata", c.name+".csv")
			if *update {
				require.NoError(t, os.WriteFile(path, buf.Bytes(), 0o644))
				return
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create the golden files")
			assert.Equal(t, string(want), buf.String())
		})
	}
}

// TestRoundTrip writes each chain and reads it back: configuration, names,
// draws, sampler columns, step size, metric and times must come back bit for bit.
func TestRoundTrip(t *testing.T) {
	for _, c := range chainCases(t) {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			require.NoError(t, cmdstan.WriteChain(&buf, c.cfg, c.names, &c.chain))
			r := cmdstan.NewReader(&buf)
			r.File = c.name + ".csv"
			f, err := r.ReadAll()
			require.NoError(t, err)

			got := f.Config
			for i := range got.Extra {
				got.Extra[i].Line = 0
			}
			assert.Equal(t, c.cfg, got)
			assert.Equal(t, c.names, f.Names)
			assert.Equal(t, []string{"lp__", "accept_stat__", "stepsize__", "treedepth__", "n_leapfrog__",
				"divergent__", "energy__"}, f.Columns[:7])

			ch, err := f.Chain()
			require.NoError(t, err)
			assert.Equal(t, c.chain.Index, ch.Index)
			checkTrace(t, "warmup", &c.chain.Warmup, &ch.Warmup)
			checkTrace(t, "sample", &c.chain.Sample, &ch.Sample)
			assert.Equal(t, c.chain.WarmupSeconds, ch.WarmupSeconds)
			assert.Equal(t, c.chain.SampleSeconds, ch.SampleSeconds)
			assert.Equal(t, c.chain.Params.StepSize, ch.Params.StepSize)
			var want, have mat.SymDense
			c.chain.Params.Metric.DenseTo(&want)
			ch.Params.Metric.DenseTo(&have)
			assert.Equal(t, c.chain.Params.Metric.IsDense(), ch.Params.Metric.IsDense())
			assert.True(t, mat.Equal(&want, &have), "inverse metric\n%v\n%v", mat.Formatted(&want), mat.Formatted(&have))

			if c.name == "interrupted" {
				assert.Nil(t, f.Timing)
			} else {
				require.NotNil(t, f.Timing)
				assert.Equal(t, c.chain.WarmupSeconds+c.chain.SampleSeconds, f.Timing.Total)
			}
		})
	}
}

// TestRoundTripSpecial writes non-finite values everywhere a float goes.
func TestRoundTripSpecial(t *testing.T) {
	cfg := cmdstan.DefaultConfig("special")
	cfg.NumWarmup, cfg.NumSamples = 10, 3
	inf, nan := math.Inf(1), math.NaN()
	ch := mcmc.Chain{
		Sample: mcmc.Trace{Dim: 3,
			Draws:      []float64{nan, inf, -inf, 0, math.Copysign(0, -1), 1, 4.9e-324, -math.MaxFloat64, 1e-310},
			LogDensity: []float64{-inf, nan, 1},
			Info: []mcmc.Info{{AcceptStat: nan, StepSize: 1, Energy: inf}, {AcceptStat: 0, StepSize: 1, Energy: nan},
				{AcceptStat: 1, StepSize: 1, Energy: -inf, TreeDepth: 10, NumSteps: 1023, Divergent: true}},
		},
		Params: mcmc.Params{StepSize: 1},
	}
	var buf bytes.Buffer
	require.NoError(t, cmdstan.WriteChain(&buf, cfg, cmdstan.Names("v", 3), &ch))
	assert.Contains(t, buf.String(), "\n-inf,nan,1,0,0,0,inf,nan,inf,-inf\n")
	f, err := cmdstan.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	checkTrace(t, "sample", &ch.Sample, &f.Sample)
}

// lineWriter records every Write and checks that each one ends a line.
type lineWriter struct {
	t      *testing.T
	buf    bytes.Buffer
	writes int
}

func (w *lineWriter) Write(p []byte) (int, error) {
	if len(p) == 0 || p[len(p)-1] != '\n' {
		w.t.Errorf("write %d does not end a line: %q", w.writes, p)
	}
	w.writes++
	return w.buf.Write(p)
}

// TestValidAtEveryDraw flushes after every draw and reads what has been written
// so far: it must be a valid file holding every draw written.
func TestValidAtEveryDraw(t *testing.T) {
	c := chainCases(t)[2] // saved warmup
	lw := &lineWriter{t: t}
	w, err := cmdstan.NewWriter(lw, c.cfg, c.names)
	require.NoError(t, err)
	check := func(warm, draws int) {
		t.Helper()
		f, err := cmdstan.NewReader(bytes.NewReader(lw.buf.Bytes())).ReadAll()
		require.NoError(t, err)
		assert.Equal(t, warm, f.Warmup.Len())
		assert.Equal(t, draws, f.Sample.Len())
	}
	check(0, 0)
	tr := &c.chain.Warmup
	for i := range tr.Len() {
		require.NoError(t, w.Write(tr.LogDensity[i], tr.Info[i], tr.Draw(i)))
		require.NoError(t, w.Flush())
		check(i+1, 0)
	}
	require.NoError(t, w.EndWarmup(c.chain.Params))
	check(tr.Len(), 0)
	tr = &c.chain.Sample
	for i := range tr.Len() {
		require.NoError(t, w.Write(tr.LogDensity[i], tr.Info[i], tr.Draw(i)))
		require.NoError(t, w.Flush())
		check(c.chain.Warmup.Len(), i+1)
	}
	require.NoError(t, w.Finish(1, 2))
	check(c.chain.Warmup.Len(), tr.Len())
}

// TestWriterBuffersWholeLines writes many draws without Flush: the writer hands
// over whole lines only, in chunks of about 64 KiB.
func TestWriterBuffersWholeLines(t *testing.T) {
	cfg := cmdstan.DefaultConfig("big")
	cfg.NumSamples = 5000
	lw := &lineWriter{t: t}
	w, err := cmdstan.NewWriter(lw, cfg, cmdstan.Names("x", 10))
	require.NoError(t, err)
	require.NoError(t, w.EndWarmup(mcmc.Params{StepSize: 1}))
	q := make([]float64, 10)
	for i := range q {
		q[i] = 1 / float64(i+3)
	}
	for range 5000 {
		require.NoError(t, w.Write(-1.5, mcmc.Info{AcceptStat: 0.9, StepSize: 1}, q))
	}
	assert.Greater(t, lw.writes, 5)
	assert.Less(t, lw.writes, 100)
	require.NoError(t, w.Finish(0, 0))
	f, err := cmdstan.NewReader(&lw.buf).ReadAll()
	require.NoError(t, err)
	assert.Equal(t, 5000, f.Sample.Len())
}

func TestWriterErrors(t *testing.T) {
	names := cmdstan.Names("x", 2)
	for name, edit := range map[string]func(*cmdstan.Config){
		"empty model":   func(c *cmdstan.Config) { c.Model = "" },
		"model blank":   func(c *cmdstan.Config) { c.Model = "my model" },
		"model equals":  func(c *cmdstan.Config) { c.Model = "a=b" },
		"thin":          func(c *cmdstan.Config) { c.Thin = 0 },
		"negative":      func(c *cmdstan.Config) { c.NumSamples = -1 },
		"metric":        func(c *cmdstan.Config) { c.Metric = "diag" },
		"algorithm":     func(c *cmdstan.Config) { c.Algorithm = "fixed_param" },
		"max depth":     func(c *cmdstan.Config) { c.MaxDepth = 0 },
		"step size":     func(c *cmdstan.Config) { c.StepSize = math.Inf(1) },
		"jitter":        func(c *cmdstan.Config) { c.StepSizeJitter = 2 },
		"delta":         func(c *cmdstan.Config) { c.Adapt.Delta = math.NaN() },
		"data newline":  func(c *cmdstan.Config) { c.DataFile = "a\nb" },
		"output blanks": func(c *cmdstan.Config) { c.OutputFile = " out.csv" },
		"extra key":     func(c *cmdstan.Config) { c.Extra = []cmdstan.Setting{{Path: "model", Value: "x"}} },
		"extra dotted":  func(c *cmdstan.Config) { c.Extra = []cmdstan.Setting{{Path: "a.b", Value: "x"}} },
		"extra twice": func(c *cmdstan.Config) {
			c.Extra = []cmdstan.Setting{{Path: "a", Value: "x"}, {Path: "a", Value: "y"}}
		},
		"extra default": func(c *cmdstan.Config) { c.Extra = []cmdstan.Setting{{Path: "a", Value: "x (Default)"}} },
	} {
		cfg := cmdstan.DefaultConfig("m")
		edit(&cfg)
		_, err := cmdstan.NewWriter(io.Discard, cfg, names)
		assert.ErrorIs(t, err, cmdstan.ErrConfig, name)
	}
	for _, bad := range [][]string{nil, {"x__"}, {"2x"}, {"x.0"}, {"x.1", "y", "x.2"}, {"x.2", "x.1"}, {"lp__"}} {
		_, err := cmdstan.NewWriter(io.Discard, cmdstan.DefaultConfig("m"), bad)
		assert.ErrorIs(t, err, cmdstan.ErrColumn, "%q", bad)
	}

	q := []float64{1, 2}
	info := mcmc.Info{StepSize: 1}
	cfg := cmdstan.DefaultConfig("m")
	cfg.NumWarmup, cfg.NumSamples = 2, 1
	w, err := cmdstan.NewWriter(io.Discard, cfg, names)
	require.NoError(t, err)
	assert.ErrorIs(t, w.Write(0, info, q), cmdstan.ErrDrawCount, "warmup draw with save_warmup = 0")
	assert.ErrorIs(t, w.Finish(0, 0), cmdstan.ErrDrawCount, "Finish before EndWarmup")
	assert.ErrorIs(t, w.EndWarmup(mcmc.Params{}), cmdstan.ErrMetric, "zero step size")
	assert.ErrorIs(t, w.EndWarmup(mcmc.Params{StepSize: 1, Metric: mustDense(t, 2, []float64{1, 0, 0, 1})}),
		cmdstan.ErrMetric, "dense metric in a diag_e file")
	require.NoError(t, w.EndWarmup(mcmc.Params{StepSize: 1}))
	assert.ErrorIs(t, w.Write(0, mcmc.Info{TreeDepth: -1}, q), cmdstan.ErrNumber)
	require.NoError(t, w.Write(0, info, q))
	assert.ErrorIs(t, w.Write(0, info, q), cmdstan.ErrDrawCount, "one draw too many")
	assert.ErrorIs(t, w.Finish(-1, 0), cmdstan.ErrNumber)
	assert.ErrorIs(t, w.Finish(0, math.NaN()), cmdstan.ErrNumber)
	assert.Panics(t, func() { w.Write(0, info, q[:1]) })
	assert.Panics(t, func() { w.EndWarmup(mcmc.Params{StepSize: 1}) })
	require.NoError(t, w.Finish(0, 0))
	assert.Panics(t, func() { w.Write(0, info, q) })
	assert.Panics(t, func() { w.Finish(0, 0) })

	cfg.SaveWarmup = true
	w, err = cmdstan.NewWriter(io.Discard, cfg, names)
	require.NoError(t, err)
	require.NoError(t, w.Write(0, info, q))
	assert.ErrorIs(t, w.EndWarmup(mcmc.Params{StepSize: 1}), cmdstan.ErrDrawCount, "1 of 2 warmup draws")
	require.NoError(t, w.Write(0, info, q))
	assert.ErrorIs(t, w.Write(0, info, q), cmdstan.ErrDrawCount, "3 of 2 warmup draws")

	cfg = cmdstan.DefaultConfig("m")
	cfg.Metric = cmdstan.UnitMetric
	w, err = cmdstan.NewWriter(io.Discard, cfg, names)
	require.NoError(t, err)
	assert.ErrorIs(t, w.EndWarmup(mcmc.Params{StepSize: 1, Metric: mustDiag(t, []float64{1, 2})}), cmdstan.ErrMetric)
	require.NoError(t, w.EndWarmup(mcmc.Params{StepSize: 1, Metric: mcmc.IdentityMetric(2, true)}))

	ch := mcmc.Chain{Sample: mcmc.Trace{Dim: 3, Draws: []float64{1, 2, 3}, LogDensity: []float64{0}, Info: []mcmc.Info{{}}}}
	assert.ErrorIs(t, cmdstan.WriteChain(io.Discard, cmdstan.DefaultConfig("m"), names, &ch), cmdstan.ErrColumn)
}

// failWriter fails after n bytes.
type failWriter struct{ n int }

var errDiskFull = errors.New("disk full")

func (w *failWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, errDiskFull
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriterStickyError(t *testing.T) {
	_, err := cmdstan.NewWriter(&failWriter{10}, cmdstan.DefaultConfig("m"), []string{"x"})
	assert.ErrorIs(t, err, errDiskFull)

	fw := &failWriter{2000}
	w, err := cmdstan.NewWriter(fw, cmdstan.DefaultConfig("m"), []string{"x"})
	require.NoError(t, err)
	fw.n = 0
	assert.ErrorIs(t, w.EndWarmup(mcmc.Params{StepSize: 1}), errDiskFull)
	assert.ErrorIs(t, w.Write(0, mcmc.Info{}, []float64{1}), errDiskFull)
	assert.ErrorIs(t, w.Flush(), errDiskFull)
}

// TestHeaderForReaders checks the lines that cmdstanpy and rstan look for.
func TestHeaderForReaders(t *testing.T) {
	c := chainCases(t)[0]
	var buf bytes.Buffer
	require.NoError(t, cmdstan.WriteChain(&buf, c.cfg, c.names, &c.chain))
	s := buf.String()
	for _, line := range []string{
		"# model = diag\n", "# method = sample (Default)\n", "#     num_samples = 8\n",
		"#     num_warmup = 100\n", "#     save_warmup = 0\n", "#     thin = 1\n",
		"#       engaged = 1\n", "#       delta = 0.8\n", "#     algorithm = hmc (Default)\n",
		"#         engine = nuts (Default)\n", "#             max_depth = 10\n", "#         metric = diag_e\n",
		"#         stepsize = 1\n", "# id = 1\n", "#   seed = 20260314\n", "# stan_version_major = 2\n",
		"\nlp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,mu,theta.1.1,theta.2.1,theta.1.2,theta.2.2\n# Adaptation terminated\n# Step size = 0.4125\n# Diagonal elements of inverse mass matrix:\n# 0.5, 1.25, 2, 0.001, 1000\n",
		"\n# \n#  Elapsed Time: 0.123456789 seconds (Warm-up)\n#                1.5 seconds (Sampling)\n#                1.623456789 seconds (Total)\n# \n",
	} {
		assert.Contains(t, s, line)
	}
	assert.True(t, strings.HasSuffix(s, "(Total)\n# \n"))
}
