package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/format/cmdstan"
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
			ds, err := loadData(tree, traits, 0)
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
