package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/require"
)

// The printed tables equal the notebook's (hyperiax-reference.md §3 NB04).
func TestOutput(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, run(&buf))
	out := buf.String()
	for _, line := range []string{
		"Human          -0.754   -0.901",
		"Gibbon          0.678    0.783",
		"root posterior (flat prior): mean 0.094, sd 0.567",
		"Primates              0.162      0.068      0.565",
		"GreatApes             1.402      0.953      0.672",
		"OldWorldMonkeys      -0.115     -0.036      0.637",
		"AsianApes             0.467      0.643      0.631",
	} {
		require.Contains(t, out, line)
	}
}
