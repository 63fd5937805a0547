package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/format/cmdstan"
)

// fitInto runs a short fit of the four-tip data into out and fails the test unless
// it succeeds.
func fitInto(t *testing.T, tree, traits, out string, args ...string) {
	t.Helper()
	_, stderr, code := canopy(t, append([]string{"fit", "--tree", tree, "--traits", traits, "--chains", "1",
		"--warmup", "20", "--draws", "20", "--out", out, "--quiet"}, args...)...)
	require.Equal(t, 0, code, stderr)
}

// A new run removes only the plots of the parameters the earlier run reported: a
// figure of the user's named like another model's parameter stays.
func TestFitKeepsPlotsOfOtherParameters(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "proj")
	require.NoError(t, os.MkdirAll(filepath.Join(out, "plots"), 0o755))
	mine := fileWriter(t, filepath.Join(out, "plots"))("alpha.png", "my figure")
	fitInto(t, tree, traits, out) // bm: never writes alpha.png
	fitInto(t, tree, traits, out)
	b, err := os.ReadFile(mine)
	require.NoError(t, err)
	require.Equal(t, "my figure", string(b))
	require.FileExists(t, filepath.Join(out, "plots", "sigma2.png"))
}

// A plots that is a symbolic link is neither descended into nor written through: the
// files it points at lie outside --out. The run refuses before removing anything.
func TestFitDoesNotFollowPlotsLink(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "proj")
	fitInto(t, tree, traits, out, "--model", "ou") // summary.csv names alpha and theta
	figs := filepath.Join(dir, "figs")
	require.NoError(t, os.Mkdir(figs, 0o755))
	theta := fileWriter(t, figs)("theta.png", "my figure")
	require.NoError(t, os.RemoveAll(filepath.Join(out, "plots")))
	require.NoError(t, os.Symlink(filepath.Join("..", "figs"), filepath.Join(out, "plots")))
	_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--chains", "1",
		"--warmup", "20", "--draws", "20", "--out", out, "--quiet")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "plots is not a directory (a symbolic link?)")
	require.NotContains(t, stderr, "removed")
	require.FileExists(t, filepath.Join(out, "summary.csv"))
	b, err := os.ReadFile(theta)
	require.NoError(t, err)
	require.Equal(t, "my figure", string(b))
	require.NoFileExists(t, filepath.Join(figs, "sigma2.png"))
}

// A file that a new run would write but that is not an earlier fit's — a user's
// summary.csv or chain file next to an earlier run's other files, or a plot of one of
// the run's parameters where no earlier run's summary names it — makes the run
// refuse, naming it, before anything is removed or written.
func TestFitRefusesToOverwriteForeignFiles(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	for _, rel := range []string{"summary.csv", "chain-1.csv", filepath.Join("plots", "sigma2.png")} {
		out := filepath.Join(dir, strings.ReplaceAll(rel, string(filepath.Separator), "_"))
		if filepath.Dir(rel) == "." {
			fitInto(t, tree, traits, out) // an earlier canopy run, which the new one may replace
			require.NoError(t, os.Remove(filepath.Join(out, rel)))
		} else {
			require.NoError(t, os.MkdirAll(filepath.Join(out, filepath.Dir(rel)), 0o755))
		}
		mine := fileWriter(t, out)(rel, "my precious file")
		_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--chains", "1",
			"--warmup", "20", "--draws", "20", "--out", out, "--quiet")
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, filepath.Join(out, rel)+" is not an earlier canopy fit's output")
		require.NotContains(t, stderr, "removed")
		b, err := os.ReadFile(mine)
		require.NoError(t, err)
		require.Equal(t, "my precious file", string(b), rel)
	}
}

// A checkpoint.json that only resembles canopy's (version 1) is not canopy's, nor
// is one of a model canopy does not fit or of no chains.
func TestRemoveOldOutputsKeepsForeignCheckpoint(t *testing.T) {
	for _, foreign := range []string{`{"version":1,"epoch":17,"loss":0.25}`,
		`{"version":1,"model":"resnet","chains":1,"state":[{"done":3}]}`,
		`{"version":1,"model":"bm","chains":0,"state":[]}`} {
		for _, name := range []string{"checkpoint.json", "checkpoint.json.tmp"} {
			out := t.TempDir()
			ck := fileWriter(t, out)(name, foreign)
			ours, err := oldOutputs(out)
			require.NoError(t, err)
			require.Empty(t, ours, foreign)
			require.FileExists(t, ck)
		}
	}
}

// A new run into the directory of an unfinished one removes nothing and says how to
// continue it; --resume may then lower the target to no fewer than the draws made.
func TestFitRefusesToReplaceUnfinishedRun(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "proj")
	fitInto(t, tree, traits, out)
	// A run of 20 draws stopped after 20 of 60 leaves this checkpoint.
	ck := filepath.Join(out, "checkpoint.json")
	b, err := os.ReadFile(ck)
	require.NoError(t, err)
	var cp map[string]any
	require.NoError(t, json.Unmarshal(b, &cp))
	cp["draws"] = 60
	b, err = json.Marshal(cp)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(ck, b, 0o644))
	before, err := os.ReadFile(chainFile(out, 0))
	require.NoError(t, err)

	_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--chains", "1", "--warmup", "20",
		"--draws", "20", "--out", out, "--quiet")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "unfinished run (chain 1 made 20 of 60 draws)")
	require.Contains(t, stderr, "canopy fit --resume "+out)
	require.NotContains(t, stderr, "removed")
	after, err := os.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Equal(t, before, after)
	require.FileExists(t, ck)

	// Below the draws made is refused, and the message gives the lowest allowed.
	_, stderr, code = canopy(t, "fit", "--resume", out, "--draws", "10", "--quiet")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--draws 10 is below the 20 draws already made")
	require.Contains(t, stderr, "--draws of at least 20")
	// Lowering the target of 60 to 30, above the 20 made, is allowed.
	_, stderr = canopyOK(t, "fit", "--resume", out, "--draws", "30", "--quiet")
	f, err := cmdstan.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Equal(t, 30, f.Sample.Len())
}

// A chain stopped during warmup (a null state) makes the run unfinished too.
func TestRemoveOldOutputsUnfinishedWarmup(t *testing.T) {
	out := t.TempDir()
	b, err := json.Marshal(checkpoint{Version: 1, Model: "bm", Chains: 2, Warmup: 10, Draws: 10,
		State: []*chainState{{Done: 10}, nil}})
	require.NoError(t, err)
	keep := fileWriter(t, out)("checkpoint.json", string(b))
	ours, err := oldOutputs(out)
	require.ErrorContains(t, err, "chain 2 stopped during its warmup")
	require.Empty(t, ours)
	require.FileExists(t, keep)
}

// stripSeconds removes the per-chain times from out's checkpoint, as a checkpoint
// from before they were recorded lacks them.
func stripSeconds(t *testing.T, out string) {
	t.Helper()
	ck := filepath.Join(out, "checkpoint.json")
	b, err := os.ReadFile(ck)
	require.NoError(t, err)
	stripped := regexp.MustCompile(`,"seconds":\[[^\]]*\]`).ReplaceAll(b, nil)
	require.NotEqual(t, b, stripped)
	require.NoError(t, os.WriteFile(ck, stripped, 0o644))
}

// Resuming from a checkpoint without the times takes them from the chain file, so
// the warmup time stays that of the first session however often the run is resumed.
func TestFitResumeTimesFromChainFile(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "r")
	fitInto(t, tree, traits, out, "--warmup", "100")
	first, err := cmdstan.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Greater(t, first.Timing.Warmup, 0.0)
	stripSeconds(t, out)
	for _, draws := range []string{"30", "40"} {
		canopyOK(t, "fit", "--resume", out, "--draws", draws, "--quiet")
		f, err := cmdstan.ReadFile(chainFile(out, 0))
		require.NoError(t, err)
		require.Equal(t, first.Timing.Warmup, f.Timing.Warmup, "--draws %s", draws)
		require.Greater(t, f.Timing.Sampling, first.Timing.Sampling)
		_, ok := f.Setting("canopy_timing")
		require.False(t, ok, "--draws %s", draws)
	}
}

// Where neither the checkpoint nor the chain file has the times, the chain file
// says so, and keeps saying so after further resumes.
func TestFitResumeUntimedCaveatPersists(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "r")
	fitInto(t, tree, traits, out)
	stripSeconds(t, out)
	b, err := os.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	untimed := regexp.MustCompile(`(?s)# \n#  Elapsed Time:.*`).ReplaceAll(b, nil)
	require.NotEqual(t, b, untimed)
	require.NoError(t, os.WriteFile(chainFile(out, 0), untimed, 0o644))
	for _, draws := range []string{"30", "40"} {
		canopyOK(t, "fit", "--resume", out, "--draws", draws, "--quiet")
		f, err := cmdstan.ReadFile(chainFile(out, 0))
		require.NoError(t, err)
		require.Equal(t, 0.0, f.Timing.Warmup) // the resumed sessions ran no warmup
		s, ok := f.Setting("canopy_timing")
		require.True(t, ok, "--draws %s", draws)
		require.Contains(t, s.Value, "did not record its time")
	}
}

// A resume that adds draws to the chain files removes the earlier run's summary,
// ancestral states and plots: interrupted, it leaves none that describe fewer draws
// than the chain files hold. A user's file named like them stays, and a resume that
// fails before drawing keeps them.
func TestFitResumeRemovesStaleSummaries(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "proj")
	fitInto(t, tree, traits, out)
	plotsBefore, err := filepath.Glob(filepath.Join(out, "plots", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, plotsBefore)
	mine := filepath.Join(out, "plots", "my_figure.png")
	require.NoError(t, os.WriteFile(mine, []byte("not canopy's"), 0o644))

	cp := editCheckpoint(t, out, func(s string) string { return strings.Replace(s, `"step_size":`, `"step_size":-1,"x":`, 1) })
	_, stderr, code := canopy(t, "fit", "--resume", out, "--draws", "40", "--quiet")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "step size -1")
	for _, name := range append([]string{"summary.csv", "ancestral.csv"}, plotsBefore...) {
		_, err := os.Stat(filepath.Join(out, strings.TrimPrefix(name, out)))
		require.NoError(t, err, name)
	}
	require.NoError(t, os.WriteFile(filepath.Join(out, "checkpoint.json"), cp, 0o644))

	// On a loaded machine the first interrupt can come before any chain has drawn,
	// which leaves everything as it was; wait longer until one has.
	for wait := 500 * time.Millisecond; ; wait *= 2 {
		stderr = interruptResume(t, out, "50000000", wait)
		if strings.Contains(stderr, "removed the earlier") || wait > 10*time.Second {
			break
		}
	}
	require.Regexp(t, `removed the earlier run's summary.csv, ancestral.csv and \d+ plots from`, stderr)
	for _, name := range append([]string{"summary.csv", "ancestral.csv"}, plotsBefore...) {
		_, err := os.Stat(filepath.Join(out, strings.TrimPrefix(name, out)))
		require.ErrorIs(t, err, os.ErrNotExist, name)
	}
	_, err = os.Stat(mine)
	require.NoError(t, err)
	f, err := cmdstan.ReadFile(chainFile(out, 0))
	if err != nil {
		require.ErrorIs(t, err, cmdstan.ErrDrawCount)
	}
	require.Greater(t, f.Sample.Len(), 20) // the interrupted resume's draws are kept
}

// A resume refuses, before sampling, to write its summaries through a symbolic link
// or over a user's file, as a fresh run does.
func TestFitResumeDoesNotWriteThroughLinks(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, false)
	out := filepath.Join(dir, "proj")
	fitInto(t, tree, traits, out)
	outside := filepath.Join(dir, "figure.png")
	require.NoError(t, os.WriteFile(outside, []byte("the user's"), 0o644))
	plotted, err := filepath.Glob(filepath.Join(out, "plots", "*.png"))
	require.NoError(t, err)
	require.NotEmpty(t, plotted)
	require.NoError(t, os.Remove(plotted[0]))
	require.NoError(t, os.Symlink(outside, plotted[0]))
	before, err := os.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	_, stderr, code := canopy(t, "fit", "--resume", out, "--draws", "40", "--quiet")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, plotted[0]+" is not a regular file")
	b, err := os.ReadFile(outside)
	require.NoError(t, err)
	require.Equal(t, "the user's", string(b))
	after, err := os.ReadFile(chainFile(out, 0))
	require.NoError(t, err)
	require.Equal(t, before, after) // refused before sampling
	require.NoError(t, os.Remove(plotted[0]))

	require.NoError(t, os.WriteFile(filepath.Join(out, "summary.csv"), []byte("taxon,my_notes\n"), 0o644))
	_, stderr, code = canopy(t, "fit", "--resume", out, "--draws", "40", "--quiet")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "summary.csv is not an earlier canopy fit's output")
	require.NoError(t, os.Remove(filepath.Join(out, "summary.csv")))
	_, stderr = canopyOK(t, "fit", "--resume", out, "--draws", "40", "--quiet")
}
