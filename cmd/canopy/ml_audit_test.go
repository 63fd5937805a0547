package main

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// With n = k + 1 observations AICc is undefined (its correction divides by n − k − 1 = 0):
// --json still writes the whole report with "aicc": null, and the text output says NA.
func TestMLAICcUndefined(t *testing.T) {
	write := fileWriter(t, t.TempDir())
	tree := write("three.nwk", "(a:1,b:1,c:1);")
	tr := write("three.csv", "taxon,x\na,1\nb,2\nc,3\n")
	stdout, stderr, code := canopy(t, "ml", "--tree", tree, "--traits", tr, "--json")
	require.Equal(t, 0, code, stderr)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Contains(t, rep, "aicc")
	require.Nil(t, rep["aicc"])
	// σ̂² = r'C⁻¹r/n = 2/3 and the root is the mean 2 on a star tree with unit edges.
	require.InEpsilon(t, 2.0/3, rep["params"].(map[string]any)["sigma2"], 1e-9)
	require.InEpsilon(t, 2.0, rep["root"].([]any)[0], 1e-9)
	require.NotEmpty(t, rep["ancestral"])

	stdout, stderr, code = canopy(t, "ml", "--tree", tree, "--traits", tr)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "AICc NA")
	require.NotContains(t, stdout, "Inf")
}
