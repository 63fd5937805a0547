package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
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

// A plots directory that is a symbolic link is not descended into: the files it
// points at lie outside --out.
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
	// bm writes sigma2 and tau2 through the link (writePlots follows it), never theta.
	_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--chains", "1",
		"--warmup", "20", "--draws", "20", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "removed the earlier run's")
	require.NotContains(t, stderr, "theta.png")
	b, err := os.ReadFile(theta)
	require.NoError(t, err)
	require.Equal(t, "my figure", string(b))
}
