package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/format/cmdstan"
	"github.com/canopy-bffg/canopy/mcmc"
	"github.com/canopy-bffg/canopy/mcmc/diag"
)

// auditData writes the four-tip tree and a one- or two-trait CSV into dir and returns
// their paths.
func auditData(t *testing.T, dir string, twoTraits bool) (tree, traits string) {
	w := fileWriter(t, dir)
	tree = w("ok.nwk", "((a:1,b:2):0.5,(c:1,d:1):1);\n")
	if twoTraits {
		return tree, w("t4x2.csv", "taxon,x,y\na,1.0,3\nb,2.0,2.5\nc,0.5,4\nd,1.5,3.2\n")
	}
	return tree, w("t4.csv", "taxon,x\na,1.0\nb,2.0\nc,0.5\nd,1.5\n")
}

// Every trait model's chain-file header is writable, with one trait and with two,
// and the reported names are those users' scripts read.
func TestFitHeaderEveryModel(t *testing.T) {
	dir := t.TempDir()
	for _, model := range []string{"bm", "ou"} {
		for _, two := range []bool{false, true} {
			tree, traits := auditData(t, dir, two)
			ds, err := loadData(io.Discard, tree, traits, 0)
			require.NoError(t, err)
			pr, err := newProblem(ds, model, "estimate")
			require.NoError(t, err)
			for _, sampler := range []string{"nuts", "rwpcn"} {
				c := fitConfig{model: model, sampler: sampler, chains: 1, warmup: 10, draws: 10, adaptDelta: 0.8, maxDepth: 10}
				require.NoError(t, checkHeader(c, pr), "%s, two traits %v, %s", model, two, sampler)
			}
			var rep []string
			for _, p := range pr.params {
				rep = append(rep, p.name)
			}
			want := map[string][]string{
				"bm 1": {"sigma2", "tau2"},
				"bm 2": {"Sigma.1.1", "Sigma.2.1", "Sigma.1.2", "Sigma.2.2", "tau2"},
				"ou 1": {"alpha", "theta", "sigma2", "tau2"},
				"ou 2": {"alpha", "theta.1", "theta.2", "sigma2", "tau2"},
			}[fmt.Sprintf("%s %d", model, ds.d())]
			require.Equal(t, want, rep)
		}
	}
}

// checkHeader finds a column name the writer refuses before any sampling.
func TestFitHeaderCheckedBeforeSampling(t *testing.T) {
	pr := &problem{names: []string{"theta"}, params: []param{{name: "theta"}}}
	err := checkHeader(fitConfig{model: "bm", sampler: "nuts", warmup: 1, draws: 1}, pr)
	require.ErrorIs(t, err, cmdstan.ErrColumn)
}

// OU on one trait runs end to end and writes readable chain files with θ reported.
func TestFitOUOneTrait(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "o_ou")
	stdout, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--model", "ou",
		"--chains", "2", "--warmup", "50", "--draws", "50", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "theta")
	for c := 0; c < 2; c++ {
		f, err := cmdstan.ReadFile(chainFile(out, c))
		require.NoError(t, err)
		require.Equal(t, 50, f.Sample.Len())
		require.Contains(t, f.Header.Columns, "theta")
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.csv"))
	require.NoError(t, err)
	require.True(t, strings.Contains(string(b), "\ntheta,"), string(b))
}

// Short chains draw a warning naming the parameters and the thresholds of Vehtari et
// al. (2021); too few draws give NA (never NaN) in the table and in summary.csv.
func TestFitConvergenceWarnings(t *testing.T) {
	dir := t.TempDir()
	_, stderr := canopyOK(t, "fit", "--chains", "2", "--warmup", "20", "--draws", "20", "--out", filepath.Join(dir, "short"), "--quiet")
	// 20 draws per chain cannot reach a bulk ESS of 200.
	require.Regexp(t, `may not have converged: sigma2 \([^)]*bulk ESS \d+`, stderr)
	require.Contains(t, stderr, "R̂ < 1.01 and bulk and tail ESS > 100 per chain (200 for 2 chains)")

	out := filepath.Join(dir, "few")
	stdout, stderr := canopyOK(t, "fit", "--chains", "2", "--warmup", "20", "--draws", "4", "--out", out, "--quiet")
	require.Contains(t, stderr, "too few draws for R̂ and ESS")
	require.NotContains(t, stdout, "NaN")
	require.Contains(t, stdout, " NA")
	b, err := os.ReadFile(filepath.Join(out, "summary.csv"))
	require.NoError(t, err)
	require.NotContains(t, strings.ToLower(string(b)), "nan")
	rows, err := csv.NewReader(strings.NewReader(string(b))).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "ess_bulk", rows[0][7])
	require.Equal(t, "NA", rows[1][7])
}

// A chain whose draws are all identical is reported by number; a moving one is not.
func TestFitStuckChainWarning(t *testing.T) {
	pr := &problem{params: []param{{name: "x"}}}
	trace := func(xs ...float64) mcmc.Chain {
		return mcmc.Chain{Sample: mcmc.Trace{Dim: 1, Draws: xs, Info: make([]mcmc.Info, len(xs))}}
	}
	moving := trace(1, 2, 3, 1, 2, 3, 1, 2)
	chains := []mcmc.Chain{moving, trace(5, 5, 5, 5, 5, 5, 5, 5)}
	var sums []diag.Summary
	s, err := diag.Summarize([][]float64{moving.Sample.Draws, chains[1].Sample.Draws})
	require.NoError(t, err)
	sums = append(sums, s)
	warn := strings.Join(convergenceWarnings(pr, chains, sums), "\n")
	require.Contains(t, warn, "chain 2 never moved")
	require.NotContains(t, warn, "chain 1 never moved")
}

// A new run into the directory of an earlier one removes that run's chain files,
// summaries, checkpoint and plots, says so, and leaves every other file alone.
func TestFitRemovesEarlierOutputs(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "out")
	fit := func(model, chains string) string {
		_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--model", model,
			"--chains", chains, "--warmup", "20", "--draws", "20", "--out", out, "--quiet")
		require.Equal(t, 0, code, stderr)
		return stderr
	}
	fit("ou", "4")
	for _, f := range []string{"chain-4.csv", "plots/alpha.png", "plots/theta.svg"} {
		require.FileExists(t, filepath.Join(out, f))
	}
	w := fileWriter(t, out)
	keep := []string{w("notes.txt", "mine\n"), w("chain-9.csv", "x,y\n1,2\n"), w("chain-01.csv", "# model = canopy_bm\n"),
		w("plots/mine.png", "not canopy's"), w("summary.csv.bak", summaryHeader+"\n")}
	stderr := fit("bm", "2")
	require.Regexp(t, `canopy: removed the earlier run's .*chain-3\.csv.* from `, stderr)
	for _, f := range []string{"chain-3.csv", "chain-4.csv", "plots/alpha.png", "plots/alpha.svg", "plots/theta.png"} {
		require.NoFileExists(t, filepath.Join(out, f))
	}
	for _, f := range append(keep, filepath.Join(out, "chain-2.csv"), filepath.Join(out, "plots/sigma2.png")) {
		require.FileExists(t, f)
	}
	// A run into a fresh directory has nothing to remove and says nothing about it.
	_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--chains", "1", "--warmup", "20",
		"--draws", "20", "--out", filepath.Join(dir, "fresh"), "--quiet")
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stderr, "removed")
}

// --resume names the flags it ignores, refuses --draws below the draws made, and
// keeps the warmup time of the session that ran it.
func TestFitResumeFlagsAndTiming(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "r")
	_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--chains", "2", "--warmup", "100",
		"--draws", "30", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	first, err := cmdstan.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Greater(t, first.Timing.Warmup, 0.0)

	_, stderr, code = canopy(t, "fit", "--resume", out, "--draws", "10", "--quiet")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--draws 10 is below the 30 draws already made")

	_, stderr = canopyOK(t, "fit", "--resume", out, "--draws", "40", "--model", "ou", "--seed", "5", "--quiet")
	require.Contains(t, stderr, "ignoring --model, --seed")
	got, err := cmdstan.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Equal(t, 40, got.Sample.Len())
	require.Equal(t, first.Timing.Warmup, got.Timing.Warmup)
	require.Greater(t, got.Timing.Sampling, first.Timing.Sampling)
	require.Equal(t, "canopy_bm", got.Config.Model) // --model was ignored
}

// Errors name every accepted value and the flag at fault; canopy help COMMAND shows
// the command's flags.
func TestFitSimulateMessages(t *testing.T) {
	dir := t.TempDir()
	tree, _ := auditData(t, dir, false)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"fit", "--model", "foo"}, `--model "foo": want bm, ou, kunita or kunita-ou`},
		{[]string{"simulate", "--model", "foo"}, `--model "foo": want bm, ou, kunita or kunita-ou`},
		{[]string{"simulate", "--noise", "-1"}, "--noise -1: must be a finite non-negative number"},
		{[]string{"simulate", "--sigma2", "0"}, "--sigma2 0: must be a finite positive number"},
		{[]string{"fit", "--out", ""}, "--out is empty"},
		{[]string{"simulate", "--tree", tree, "--model", "kunita-ou", "--alpha", "50", "--steps", "1"},
			"α·dt = 50, but the Euler steps need α·dt well below 1 (dt = 1/--steps per unit branch length); use --steps 500"},
	} {
		_, stderr, code := canopy(t, c.args...)
		assert.Equal(t, 2, code, "%v: %s", c.args, stderr)
		assert.Contains(t, stderr, c.want, "%v", c.args)
		assert.NotContains(t, stderr, "(positive for --sigma2)", "%v", c.args)
	}
	_, stderr := canopyOK(t, "simulate", "--tree", tree, "--model", "kunita-ou", "--alpha", "50", "--steps", "500")

	_, want, code := canopy(t, "fit", "-h")
	require.Equal(t, 0, code)
	stdout, stderr, code := canopy(t, "help", "fit")
	assert.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout+stderr, "-adapt-delta")
	assert.Equal(t, want, stderr)
}

// RW/pCN chain files say which settings are HMC placeholders, keep metric = unit_e,
// and load in the cmdstan reader and, where R is installed, in read.csv.
func TestFitRWPCNHeader(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "rw")
	_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--sampler", "rwpcn", "--chains", "2",
		"--warmup", "50", "--draws", "30", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	f, err := cmdstan.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Equal(t, 30, f.Sample.Len())
	require.Equal(t, cmdstan.UnitMetric, f.Config.Metric)
	s, ok := f.Setting("canopy_sampler")
	require.True(t, ok)
	require.Contains(t, s.Value, "placeholders")
	require.Contains(t, s.Value, "E-BFMI is meaningless")
	// A resumed run samples on; a checkpoint with a metric of the wrong size is
	// reported, not a panic.
	_, stderr = canopyOK(t, "fit", "--resume", out, "--draws", "40", "--quiet")
	f, err = cmdstan.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Equal(t, 40, f.Sample.Len())
	cp := editCheckpoint(t, out, func(s string) string {
		return strings.Replace(s, `"rng":`, `"inv_metric":[1,0,0,0,1,0,0,0,1],"dense":true,"rng":`, 1)
	})
	_, stderr, code = canopy(t, "fit", "--resume", out, "--draws", "50", "--quiet")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "metric of dimension 3, the kernel needs 2")
	require.NotContains(t, stderr, "panic")
	// A chain that fails on resuming (here at a position with no finite density)
	// leaves every file as it was.
	before, err := os.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	before2, err := os.ReadFile(chainFile(out, 1))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(out, "checkpoint.json"), cp, 0o644))
	editCheckpoint(t, out, func(s string) string {
		loc := regexp.MustCompile(`"q":\[[^,]*`).FindStringIndex(s) // chain 1's
		return s[:loc[0]] + `"q":[1e300` + s[loc[1]:]
	})
	_, stderr, code = canopy(t, "fit", "--resume", out, "--draws", "50", "--quiet")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "not finite")
	require.NotContains(t, stderr, "step size 0")
	after, err := os.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Equal(t, string(before), string(after))
	f, err = cmdstan.ReadFile(chainFile(out, 1)) // the other chain went on
	require.NoError(t, err)
	require.Equal(t, 50, f.Sample.Len(), stderr)
	var saved checkpoint
	b, err := os.ReadFile(filepath.Join(out, "checkpoint.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &saved))
	require.Equal(t, 1e300, saved.State[0].Q[0])
	require.Equal(t, 40, saved.State[0].Done)
	require.Equal(t, 50, saved.State[1].Done)
	// So does one when the run is interrupted: Run then reports only the
	// cancellation, not the chain's error.
	interruptResume(t, out, "5000000", 300*time.Millisecond)
	after, err = os.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Equal(t, string(before), string(after))
	require.NoError(t, os.WriteFile(filepath.Join(out, "checkpoint.json"), cp, 0o644))
	require.NoError(t, os.WriteFile(chainFile(out, 1), before2, 0o644))
	if _, err := exec.LookPath("Rscript"); err != nil {
		t.Log("no Rscript: read.csv not checked")
		return
	}
	b, err = exec.Command("Rscript", "-e", `d <- read.csv(commandArgs(TRUE)[1], comment.char = "#"); cat(nrow(d), ncol(d), names(d)[8])`,
		chainFile(out, 0)).CombinedOutput()
	require.NoError(t, err, string(b))
	require.Equal(t, "40 11 log_sigma2", strings.TrimSpace(string(b)))
}

// editCheckpoint rewrites dir's checkpoint.json by edit, which must change it, and
// returns the original.
func editCheckpoint(t *testing.T, dir string, edit func(string) string) []byte {
	t.Helper()
	name := filepath.Join(dir, "checkpoint.json")
	cp, err := os.ReadFile(name)
	require.NoError(t, err)
	bad := edit(string(cp))
	require.NotEqual(t, string(cp), bad)
	require.NoError(t, os.WriteFile(name, []byte(bad), 0o644))
	return cp
}

// interruptResume resumes the run in out towards draws, interrupts it after wait,
// checks that it stopped as interrupted, and returns its standard error.
func interruptResume(t *testing.T, out, draws string, wait time.Duration) string {
	t.Helper()
	cmd := exec.Command(binary, "fit", "--resume", out, "--draws", draws, "--quiet")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	time.Sleep(wait)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	var ee *exec.ExitError
	require.ErrorAs(t, cmd.Wait(), &ee, errb.String())
	require.Equal(t, 130, ee.ExitCode(), errb.String())
	return errb.String()
}
