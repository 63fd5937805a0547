package main

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

// The -json report carries the notebook's data and both posterior tables; the numbers
// are the published ones (hyperiax-reference.md §3) and the exact grid of issue 2.
func TestReportJSON(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, run(&buf, true))
	var r map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &r))
	obs := r["leaf_obs"].([]any)
	require.Len(t, obs, 16)
	require.Equal(t, float32(-3.2318456), float32(obs[0].(float64)))
	require.InDelta(t, -24.4213, r["loglik_true"].(float64), 5e-5)
	get := func(table, param, stat string) float64 {
		return r[table].(map[string]any)[param].(map[string]any)[stat].(float64)
	}
	r4 := func(x float64) float64 { return math.Round(x*1e4) / 1e4 }
	require.Equal(t, 0.4669, r4(get("analytic_notebook_box", "sigma_sq", "mean")))
	require.Equal(t, 1.3592, r4(get("analytic_notebook_box", "tau_sq", "q975")))
	require.Equal(t, 0.4674, r4(get("analytic", "sigma_sq", "mean")))
	require.Equal(t, 0.4197, r4(get("analytic", "sigma_sq", "median")))
	require.Equal(t, 0.0129, r4(get("analytic", "tau_sq", "q025")))
	require.Equal(t, 1.4289, r4(get("analytic", "tau_sq", "q975")))
}

func TestReportText(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, run(&buf, false))
	require.Contains(t, buf.String(), " -3.2318456 -1.7759498 -3.1058660 -1.8258889")
	require.Contains(t, buf.String(), "σ² notebook box (200×200)            0.4669   0.4136   0.1364   1.0678")
}
