package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A TPS landmark written as -1 -1 (tpsDig's mark) is read as missing, and fit says
// how many; a single -1 is a coordinate.
func TestFitTPSMissingMark(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "t.nwk")
	require.NoError(t, os.WriteFile(tree, []byte("((a:1,b:1):1,(c:1,d:1):1);"), 0o644))
	shapes := filepath.Join(dir, "s.tps")
	canopyOK(t, "simulate", "--tree", tree, "--model", "kunita", "--landmarks", "4", "--noise", "0.001", "--out", shapes)
	b, err := os.ReadFile(shapes)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")
	require.Equal(t, "LM=4", lines[0])
	lines[2], lines[3] = "-1 -1", "-1 0.5" // specimen a: landmark 2 missing, landmark 3 observed
	require.NoError(t, os.WriteFile(shapes, []byte(strings.Join(lines, "\n")), 0o644))
	_, stderr := canopyOK(t, "fit", "--tree", tree, "--landmarks", shapes, "--model", "kunita", "--steps", "2",
		"--chains", "1", "--warmup", "10", "--draws", "10", "--quiet", "--out", filepath.Join(dir, "out"))
	require.Contains(t, stderr, "s.tps: 1 landmark(s) with every coordinate -1, tpsDig's mark, are read as missing")
}

// fit says when one estimated τ² is shared by several traits, and not otherwise.
func TestFitSharedNoiseNote(t *testing.T) {
	dir := t.TempDir()
	tree, traits := auditData(t, dir, true)
	for _, noise := range []string{"estimate", "none"} {
		_, stderr, code := canopy(t, "fit", "--tree", tree, "--traits", traits, "--noise", noise,
			"--chains", "1", "--warmup", "10", "--draws", "10", "--quiet", "--out", filepath.Join(dir, noise))
		require.Equal(t, 0, code, stderr)
		if noise == "estimate" {
			require.Contains(t, stderr, "one leaf noise variance τ² shared by the 2 traits")
		} else {
			require.NotContains(t, stderr, "τ² shared")
		}
	}
}
