package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// With n = k + 1 observations AICc is undefined (its correction divides by n − k − 1 = 0):
// --json still writes the whole report with "aicc": null, and the text output says NA.
func TestMLAICcUndefined(t *testing.T) {
	write := fileWriter(t, t.TempDir())
	tree := write("three.nwk", "(a:1,b:1,c:1);")
	tr := write("three.csv", "taxon,x\na,1\nb,2\nc,3\n")
	stdout, _ := canopyOK(t, "ml", "--tree", tree, "--traits", tr, "--json")
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Contains(t, rep, "aicc")
	require.Nil(t, rep["aicc"])
	// σ̂² = r'C⁻¹r/n = 2/3 and the root is the mean 2 on a star tree with unit edges.
	require.InEpsilon(t, 2.0/3, rep["params"].(map[string]any)["sigma2"], 1e-9)
	require.InEpsilon(t, 2.0, rep["root"].([]any)[0], 1e-9)
	require.NotEmpty(t, rep["ancestral"])

	stdout, _ = canopyOK(t, "ml", "--tree", tree, "--traits", tr)
	require.Contains(t, stdout, "AICc NA")
	require.NotContains(t, stdout, "Inf")
}

// ml --model ou on an ultrametric tree says why θ equals the root, counts one intercept
// per trait and reports standard errors (ln home range of the mammals; R's numbers are
// in ml.TestFitOUUltrametric).
func TestMLOUUltrametric(t *testing.T) {
	write := fileWriter(t, t.TempDir())
	tree := write("t.nwk", "(((a:1,b:1):1,(c:0.5,d:0.5):1.5):1,((e:1.5,f:1.5):0.5,(g:0.5,h:0.5):1.5):1);")
	tr := write("x.csv", "taxon,x\na,1.2\nb,0.8\nc,2.1\nd,1.9\ne,-0.3\nf,0.1\ng,0.7\nh,1.0\n")
	stdout, stderr := canopyOK(t, "ml", "--tree", tree, "--traits", tr, "--model", "ou", "--json")
	require.Contains(t, stderr, "ultrametric")
	var rep mlReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	require.Equal(t, rep.Params["theta"], float64(rep.Root[0]))
	require.Contains(t, rep.SE, "theta")
	require.InDelta(t, 2*3-2*rep.LogLik, rep.AIC, 1e-9) // σ², α, θ = root
}

// Degenerate input: a tree without branch lengths is fitted with lengths 1 and a note
// saying so; a tree of total length 0 and a trait with one value at every tip are
// refused, by ml and by fit, naming the file and the trait.
func TestDegenerateInput(t *testing.T) {
	write := fileWriter(t, t.TempDir())
	four := write("four.csv", "taxon,x\na,1\nb,2\nc,3\nd,4\n")
	clado := write("clado.nwk", "((a,b),(c,d));")
	_, stderr := canopyOK(t, "ml", "--tree", clado, "--traits", four)
	require.Contains(t, stderr, "clado.nwk has no branch lengths")
	// Lengths given as 1 are the user's: no note.
	_, stderr = canopyOK(t, "ml", "--tree", write("ones.nwk", "((a:1,b:1):1,(c:1,d:1):1);"), "--traits", four)
	require.NotContains(t, stderr, "no branch lengths")

	zero := write("zero.nwk", "((a:0,b:0):0,(c:0,d:0):0);")
	constant := write("const.csv", "taxon,x,y\na,1,5\nb,2,5\nc,3,NA\nd,4,5\n")
	for _, cmd := range [][]string{
		{"ml", "--noise", "estimate"},
		{"fit", "--draws", "10", "--warmup", "10", "--chains", "1", "--out", filepath.Join(t.TempDir(), "out")},
	} {
		_, stderr, code := canopy(t, append(cmd, "--tree", zero, "--traits", four)...)
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, "zero.nwk: total tree length is 0")
		_, stderr, code = canopy(t, append(cmd, "--tree", clado, "--traits", constant)...)
		require.Equal(t, 1, code, stderr)
		require.Contains(t, stderr, `const.csv: trait "y" has the same value 5 at every tip`)
	}
}

// A per-trait fit that fails names the trait, not its column number.
func TestMLPerTraitErrorNamesTrait(t *testing.T) {
	write := fileWriter(t, t.TempDir())
	tree := write("t.nwk", "((a:1,b:1):1,(c:1,d:1):1);")
	tr := write("pt.csv", "taxon,size,range\na,1,1\nb,2,NA\nc,3,2\nd,4,5\n")
	_, stderr, code := canopy(t, "ml", "--tree", tree, "--traits", tr, "--per-trait", "--model", "ou")
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, `pt.csv: trait "range": `)
	require.Contains(t, stderr, "3 observed values for 3 parameters")
}

// A traits CSV from R's write.csv with its default row names (an empty first header
// cell over 1, 2, …) gets a hint to write it with row.names = FALSE; an empty first
// header cell over taxon names is read as usual.
func TestRRowNamesHint(t *testing.T) {
	write := fileWriter(t, t.TempDir())
	tree := write("t.nwk", "((a:1,b:1):1,(c:1,d:2):1);")
	_, stderr, code := canopy(t, "ml", "--tree", tree, "--traits",
		write("r.csv", "\"\",\"taxon\",\"x\"\n\"1\",\"a\",1\n\"2\",\"b\",2\n\"3\",\"c\",0.5\n\"4\",\"d\",1.5\n"))
	require.Equal(t, 1, code, stderr)
	require.Contains(t, stderr, "r.csv:2:")
	require.Contains(t, stderr, "row.names = FALSE")
	_, stderr, code = canopy(t, "ml", "--tree", tree, "--traits",
		write("ok.csv", "\"\",\"x\"\n\"a\",1\n\"b\",2\n\"c\",0.5\n\"d\",1.5\n"))
	require.Equal(t, 0, code, stderr)
}

// An ultrametric tree with branch lengths rounded to 3 decimals (tip depths 0.999 to
// 1.001) gets the tied OU model, as the exact tree does, and the note states the spread
// (numbers in ml.TestFitOUNearlyUltrametric).
func TestMLOUNearlyUltrametric(t *testing.T) {
	write := fileWriter(t, t.TempDir())
	tree := write("t.nwk", "(((a:0.252,(b:0.16,c:0.16):0.092):0.046,(d:0.094,e:0.094):0.203):0.703,(f:0.296,(g:0.039,h:0.039):0.256):0.704);")
	tr := write("x.csv", "taxon,x\na,1.203\nb,1.084\nc,0.553\nd,0.321\ne,0.556\nf,0.367\ng,-0.101\nh,-0.288\n")
	stdout, stderr := canopyOK(t, "ml", "--tree", tree, "--traits", tr, "--model", "ou")
	require.Contains(t, stderr, "the tree is ultrametric (root-to-tip distances 0.999 to 1.001, relative spread 0.002, within ml's 0.01)")
	require.Contains(t, stdout, "(3 parameters)")
	require.NotContains(t, stdout, " NA")
}

// Data simulated under BM take OU's α to 0: ml prints se NA for α with a note that it is
// at its boundary, the Brownian-motion limit, and gives σ² and θ = root BM's standard
// errors (tree and numbers in ml.TestFitOUAtBoundary). --per-trait names the trait.
func TestMLOUAlphaAtBoundary(t *testing.T) {
	write := fileWriter(t, t.TempDir())
	tree := write("t.nwk", "(((a:0.0001792198161,b:0.0001792198161):0.2188596483,((c:0.01488167098,d:0.01488167098):0.01682422876,e:0.03170589974):0.1873329683):0.7809611319,(f:0.09750580983,(g:0.08455150805,h:0.08455150805):0.01295430178):0.9024941902);")
	tr := write("x.csv", "taxon,x,y\na,-3.555,-7.11\nb,-3.551,-7.102\nc,-4.252,-8.504\nd,-4.626,-9.252\ne,-4.210,-8.42\nf,-1.007,-2.014\ng,-1.637,-3.274\nh,-1.609,-3.218\n")
	stdout, stderr := canopyOK(t, "ml", "--tree", tree, "--traits", tr, "--model", "ou", "--per-trait")
	for _, k := range []string{"x", "y"} {
		require.Regexp(t, `alpha\[`+k+`\] +[0-9.e-]+ +se NA\n`, stdout)
		require.Contains(t, stderr, "canopy: note: alpha["+k+"] is at the boundary of its range (α·T = ")
	}
	require.Contains(t, stderr, "the Brownian-motion limit α → 0), so its Wald se is undefined (NA)")
	require.Contains(t, stdout, "sigma2[x]  1.65571      se 0.828\n")
	require.Contains(t, stdout, "theta[x]   -2.7182      se 0.868\n")

	stdout, stderr = canopyOK(t, "ml", "--tree", tree, "--traits", tr, "--model", "ou", "--json")
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.Contains(t, rep["at_boundary"], "alpha")
	require.Nil(t, rep["se"].(map[string]any)["alpha"])
}

// Near OU's white-noise limit (i.i.d. tips; numbers in ml.TestFitOUWhiteNoise) α is
// poorly identified and σ² confounded with it: both get se NA with notes saying so and
// that the other se are conditional on α, and θ keeps its se. --per-trait names the
// traits in the notes and in the JSON fields. Before, α was said to be "at the
// boundary of its range" and σ² got se 2.3e4.
func TestMLOUWhiteNoise(t *testing.T) {
	const testdata = "../../ml/testdata/white_noise4"
	stdout, stderr := canopyOK(t, "ml", "--tree", testdata+".nwk", "--traits", testdata+".csv", "--model", "ou")
	require.Contains(t, stderr, "canopy: note: alpha is poorly identified (the se of its log is ")
	require.Contains(t, stderr, "near the white-noise limit α → ∞ where the tips are independent and only σ²/2α = 0.788404 is identified), so its se is NA; the other se are conditional on it\n")
	require.Contains(t, stderr, "canopy: note: sigma2 is confounded with a poorly identified parameter (its log has correlation 1 with that of alpha), so its se is NA as well\n")
	require.NotContains(t, stderr, "boundary")
	require.Regexp(t, `alpha +[0-9.e+]+ +se NA\n`, stdout)
	require.Regexp(t, `sigma2 +[0-9.e+]+ +se NA\n`, stdout)
	require.Contains(t, stdout, "theta      0.03773      se 0.162\n")

	// Two traits, the second the first doubled, fitted one at a time.
	b, err := os.ReadFile(testdata + ".csv")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	two := "taxon,x,y\n"
	for _, l := range lines[1:] {
		taxon, x, _ := strings.Cut(l, ",")
		v, err := strconv.ParseFloat(x, 64)
		require.NoError(t, err)
		two += fmt.Sprintf("%s,%s,%g\n", taxon, x, 2*v)
	}
	traits := fileWriter(t, t.TempDir())("two.csv", two)
	stdout, stderr = canopyOK(t, "ml", "--tree", testdata+".nwk", "--traits", traits, "--model", "ou", "--per-trait", "--json")
	require.Contains(t, stderr, "canopy: note: alpha[y] is poorly identified (")
	require.Contains(t, stderr, "canopy: note: sigma2[y] is confounded with a poorly identified parameter (")
	var rep mlReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	require.ElementsMatch(t, []string{"alpha[x]", "alpha[y]"}, slices.Collect(maps.Keys(rep.PoorlyIdentified)))
	require.ElementsMatch(t, []string{"sigma2[x]", "sigma2[y]"}, slices.Collect(maps.Keys(rep.Confounded)))
	require.Empty(t, rep.AtBoundary)
	var raw struct{ SE map[string]any }
	require.NoError(t, json.Unmarshal([]byte(stdout), &raw))
	for _, name := range []string{"alpha[x]", "alpha[y]", "sigma2[x]", "sigma2[y]"} {
		require.Contains(t, raw.SE, name)
		require.Nil(t, raw.SE[name], name)
	}
	require.InEpsilon(t, 2*0.162111510, raw.SE["theta[y]"], 1e-6)
}
