package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// The -json report has the keys the issue specifies, the gradient check agrees with
// the notebook's printed jax.grad values, and the run meets notebook 06's bar.
func TestReportJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs NUTS and RW/pCN")
	}
	var buf bytes.Buffer
	require.NoError(t, run(&buf, true, 7, ""))
	var r map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &r))
	for _, k := range []string{"sampler", "chains", "draws_per_chain", "seconds", "ess_bulk", "ess_tail",
		"rhat", "divergences", "accept", "posterior", "analytic", "grad_check", "rwpcn"} {
		require.Contains(t, r, k)
	}
	require.Equal(t, "nuts", r["sampler"])
	gc := r["grad_check"].(map[string]any)
	adj, fd := gc["adjoint"].([]any), gc["finite_difference"].([]any)
	require.InEpsilon(t, 0.3344605, adj[0].(float64), 1e-5)
	require.InEpsilon(t, 0.90956414, adj[1].(float64), 1e-5)
	require.InEpsilon(t, adj[0].(float64), fd[0].(float64), 1e-7)
	require.InEpsilon(t, adj[1].(float64), fd[1].(float64), 1e-7)
	rw := r["rwpcn"].(map[string]any)
	require.Equal(t, "rw_pcn", rw["sampler"])
	require.Contains(t, rw["posterior"], "sigma_sq")
}
