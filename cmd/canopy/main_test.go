package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/format/cmdstan"
	"github.com/canopy-bffg/canopy/format/tps"
	"github.com/canopy-bffg/canopy/internal/dense"
	"github.com/canopy-bffg/canopy/internal/notebooks"
	"github.com/canopy-bffg/canopy/ml"
	"github.com/canopy-bffg/canopy/sde"
	"github.com/canopy-bffg/canopy/topology"
)

var binary string // the canopy binary built by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "canopy-test")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "canopy")
	args := []string{"build", "-o", binary}
	if dense.Backend == "openblas" { // the binary under test has the test's backend
		args = append(args, "-tags", "openblas")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// canopy runs the binary and returns stdout, stderr and the exit code.
func canopy(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

// canopyOK runs the binary like canopy and fails the test unless it exits with 0.
func canopyOK(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	stdout, stderr, code := canopy(t, args...)
	require.Equal(t, 0, code, stderr)
	return stdout, stderr
}

const data = "../../format/testdata"

var datasets = []string{"dinizfilho2002_carnivora", "garland1992_mammals", "mahler2010_anoles"}

// The embedded built-in data equal the regeneration from the notebooks' JAX seeds.
func TestBuiltinData(t *testing.T) {
	ds, err := builtinData()
	require.NoError(t, err)
	nb := notebooks.Notebook05()
	require.Equal(t, nb.Tree.Parents(), ds.tree.Parents())
	require.Equal(t, nb.Y, ds.y)
}

// The first tree of a file with several Newick trees is read by default.
func TestMultiTreeNewick(t *testing.T) {
	dir := t.TempDir()
	two := filepath.Join(dir, "two.nwk")
	require.NoError(t, os.WriteFile(two, []byte("((a:1,b:1):1,c:2);\n((a:2,c:2):1,b:3);\n"), 0o644))
	traits := filepath.Join(dir, "t.csv")
	require.NoError(t, os.WriteFile(traits, []byte("taxon,x\na,1\nb,2\nc,4\n"), 0o644))
	for _, idx := range []string{"0", "1"} {
		_, stderr, code := canopy(t, "ml", "--tree", two, "--traits", traits, "--tree-index", idx)
		require.Equal(t, 0, code, stderr)
	}
}

func TestFitBuiltin(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := canopy(t, "fit", "--warmup", "300", "--draws", "300", "--out", out, "--seed", "3")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "sigma2")
	require.Contains(t, stdout, "tau2")
	for _, f := range []string{"summary.csv", "ancestral.csv"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err)
		require.NotEmpty(t, b)
	}
	b, _ := os.ReadFile(filepath.Join(out, "ancestral.csv"))
	require.Contains(t, string(b), "mrca(t1,t8)")
	require.Equal(t, 16, strings.Count(string(b), "\n")) // header + 15 internal nodes
}

// fileWriter returns a function that writes a file in dir and returns its path.
func fileWriter(t *testing.T, dir string) func(name, s string) string {
	return func(name, s string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}
}

// Bad input gives a clear error and a non-zero exit, never a panic.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	write := fileWriter(t, dir)
	good := write("good.nwk", "((a:1,b:1):1,c:2);")
	traits := write("t.csv", "taxon,x\na,1\nb,2\nc,3\n")
	cases := []struct {
		name string
		args []string
		want string
		code int
	}{
		{"malformed newick", []string{"ml", "--tree", write("bad.nwk", "((a:1,b:1):1,c:2;"), "--traits", traits}, "line 1", 1},
		{"unknown taxon", []string{"ml", "--tree", good, "--traits", write("u.csv", "taxon,x\na,1\nb,2\nzz,3\n")}, "zz", 1},
		{"missing tip row", []string{"ml", "--tree", good, "--traits", write("m.csv", "taxon,x\na,1\nb,2\n")}, "'c'", 1},
		{"non-numeric", []string{"ml", "--tree", good, "--traits", write("n.csv", "taxon,x\na,1\nb,two\nc,3\n")}, "n.csv:3", 1},
		{"negative length", []string{"ml", "--tree", write("neg.nwk", "((a:1,b:-1):1,c:2);"), "--traits", traits}, "-1", 1},
		{"single tip", []string{"ml", "--tree", write("one.nwk", "a;"), "--traits", write("o.csv", "taxon,x\na,1\n")}, "at least 2", 1},
		{"empty tree", []string{"ml", "--tree", write("empty.nwk", ""), "--traits", traits}, "newick", 1},
		{"bad noise", []string{"fit", "--noise", "-1"}, "--noise", 2},
		{"bad adapt delta", []string{"fit", "--adapt-delta", "1"}, "--adapt-delta", 2},
		{"bad max depth", []string{"fit", "--max-depth", "0"}, "--max-depth", 2},
		{"bad model", []string{"fit", "--model", "brownian"}, "brownian", 2},
		{"unknown command", []string{"frobnicate"}, "unknown command", 2},
		{"landmarks without kunita", []string{"fit", "--tree", good, "--landmarks", traits}, "--model kunita", 2},
		{"kunita without landmarks", []string{"fit", "--tree", good, "--model", "kunita"}, "--landmarks", 2},
		{"kunita negative step length", []string{"fit", "--tree", good, "--model", "kunita", "--landmarks", write("s.tps", "LM=2\n0 0\n1 1\nID=a\nLM=2\n0 1\n1 2\nID=b\nLM=2\n0 2\n1 0\nID=c\n"), "--step-length", "-1"}, "--step-length -1", 2},
		{"kunita landmark missing everywhere", []string{"fit", "--tree", good, "--model", "kunita", "--landmarks", write("m.tps", "LM=2\n0 0\n-1 -1\nID=a\nLM=2\n0 1\n-1 -1\nID=b\nLM=2\n0 2\n-1 -1\nID=c\n")}, "landmark 2 is missing in every tip", 1},
		{"only tree", []string{"fit", "--tree", good}, "both --tree and --traits", 1},
		{"no such file", []string{"ml", "--tree", filepath.Join(dir, "nope.nwk"), "--traits", traits}, "nope.nwk", 1},
		{"negative tree index", []string{"ml", "--tree", good, "--traits", traits, "--tree-index", "-1"}, "--tree-index", 1},
		{"tree index past the end", []string{"ml", "--tree", good, "--traits", traits, "--tree-index", "1"}, "has 1 tree", 1},
		{"no trait columns", []string{"ml", "--tree", good, "--traits", write("nt.csv", "taxon\na\nb\nc\n")}, "no trait columns", 1},
		{"zero branch to exact tip", []string{"fit", "--tree", write("z.nwk", "((a:0,b:1):1,c:2);"), "--traits", traits, "--noise", "none"}, "node", 1},
		{"tiny noise", []string{"ml", "--tree", good, "--traits", traits, "--noise", "1e-320"}, "too small", 2},
		{"simulate NaN root", []string{"simulate", "--tree", good, "--root", "NaN"}, "--root", 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := canopy(t, c.args...)
			require.Equal(t, c.code, code, stderr)
			require.Contains(t, stderr, c.want)
			require.NotContains(t, stderr, "panic")
			require.NotContains(t, stderr, "goroutine")
		})
	}
}

// gls is the closed-form Brownian-motion ML fit of one trait without noise.
func gls(t *testing.T, K []float64, y []float64) (sigma2, root, ll float64) {
	n := len(y)
	C := mat.NewSymDense(n, K)
	var ch mat.Cholesky
	require.True(t, ch.Factorize(C))
	ones := mat.NewVecDense(n, nil)
	for i := 0; i < n; i++ {
		ones.SetVec(i, 1)
	}
	yv := mat.NewVecDense(n, y)
	var a, b mat.VecDense
	require.NoError(t, ch.SolveVecTo(&a, ones))
	require.NoError(t, ch.SolveVecTo(&b, yv))
	root = mat.Dot(ones, &b) / mat.Dot(ones, &a)
	r := mat.NewVecDense(n, nil)
	r.AddScaledVec(yv, -root, ones)
	var c mat.VecDense
	require.NoError(t, ch.SolveVecTo(&c, r))
	sigma2 = mat.Dot(r, &c) / float64(n)
	ll = -0.5*float64(n)*(math.Log(2*math.Pi*sigma2)+1) - 0.5*ch.LogDet()
	return
}

// canopy ml on every trait of every real dataset agrees with dense generalised least
// squares to 1e-9 relative (σ², root, log-likelihood), and --json has the keys.
func TestMLDatasets(t *testing.T) {
	for _, name := range datasets {
		ds, err := loadData(io.Discard, filepath.Join(data, name, "tree.nwk"), filepath.Join(data, name, "traits.csv"), 0)
		require.NoError(t, err, name)
		K := ds.tree.MRCAKernel(nil)
		d := ds.d()
		for k := 0; k < d; k++ {
			y := make([]float64, ds.tree.NumLeaves())
			for i := range y {
				y[i] = ds.y[i*d+k]
			}
			r, err := ml.Fit(ds.tree, y, ml.Config{Model: ml.BM})
			require.NoError(t, err)
			s2, root, ll := gls(t, K, y)
			require.InEpsilon(t, s2, r.Params["sigma2"], 1e-9, "%s %s", name, ds.traits[k])
			require.InEpsilon(t, root, r.Root[0], 1e-9, "%s %s", name, ds.traits[k])
			require.InEpsilon(t, ll, r.LogLik, 1e-9, "%s %s", name, ds.traits[k])
		}
	}
	stdout, stderr, code := canopy(t, "ml", "--json", "--tree", filepath.Join(data, datasets[1], "tree.nwk"),
		"--traits", filepath.Join(data, datasets[1], "traits.csv"))
	require.Equal(t, 0, code, stderr)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	for _, key := range []string{"params", "loglik", "aic", "aicc", "root", "ancestral"} {
		require.Contains(t, rep, key)
	}
	anc := rep["ancestral"].([]any)[0].(map[string]any)
	for _, key := range []string{"node", "mean", "se"} {
		require.Contains(t, anc, key)
	}
}

// canopy fit converges on each real dataset (first trait; R̂ < 1.01, no divergences) and
// the posterior median of σ² is consistent with the ML estimate (within a factor 2 of it,
// given the weak prior and the small trees).
func TestFitDatasets(t *testing.T) {
	if testing.Short() {
		t.Skip("MCMC on three datasets")
	}
	for _, name := range datasets {
		ds, err := loadData(io.Discard, filepath.Join(data, name, "tree.nwk"), filepath.Join(data, name, "traits.csv"), 0)
		require.NoError(t, err)
		d := ds.d()
		ds.traits = ds.traits[:1]
		y := make([]float64, ds.tree.NumLeaves())
		for i := range y {
			y[i] = ds.y[i*d]
		}
		ds.y = y
		pr, err := newProblem(ds, "bm", "none")
		require.NoError(t, err)
		c := fitConfig{chains: 4, warmup: 500, draws: 500, seed: 11, sampler: "nuts", quiet: true}
		chains, err := sample(context.Background(), pr, c, nil, &bytes.Buffer{})
		require.NoError(t, err)
		var draws [][]float64
		div := 0
		for _, ch := range chains {
			var s []float64
			for k := 0; k < ch.Sample.Len(); k++ {
				s = append(s, math.Exp(ch.Sample.Draw(k)[0]))
				if ch.Sample.Info[k].Divergent {
					div++
				}
			}
			draws = append(draws, s)
		}
		require.Zero(t, div, name)
		mle, err := ml.Fit(ds.tree, y, ml.Config{Model: ml.BM})
		require.NoError(t, err)
		s, err := summarize(draws)
		require.NoError(t, err)
		require.Less(t, s.Rhat, 1.01, name)
		ratio := s.Q50 / mle.Params["sigma2"]
		require.True(t, ratio > 0.5 && ratio < 2, "%s: posterior median %g, MLE %g", name, s.Q50, mle.Params["sigma2"])
	}
}

// Ctrl-C leaves valid chain files and a checkpoint; --resume finishes the run, and its
// draws equal those of an uninterrupted run with the same seed, bit for bit.
func TestInterruptResume(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the sampler three times")
	}
	args := []string{"fit", "--warmup", "200", "--draws", "12000", "--seed", "9", "--quiet"}
	full := t.TempDir()
	_, stderr, code := canopy(t, append(args, "--out", full)...)
	require.Equal(t, 0, code, stderr)

	part := t.TempDir()
	cmd := exec.Command(binary, append(args, "--out", part)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	time.Sleep(300 * time.Millisecond)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, errb.String())
	require.Equal(t, 130, ee.ExitCode(), errb.String())
	require.Contains(t, errb.String(), "--resume")
	partial := 0
	for c := 0; c < 4; c++ {
		f, err := cmdstan.ReadFile(chainFile(part, c))
		require.NotNil(t, f, "chain %d", c)
		if err != nil {
			require.ErrorIs(t, err, cmdstan.ErrDrawCount) // a short file, valid line by line
		}
		partial += f.Sample.Len()
	}
	require.Less(t, partial, 4*12000, "the run was not interrupted")

	_, stderr, code = canopy(t, "fit", "--resume", part, "--quiet")
	require.Equal(t, 0, code, stderr)
	for c := 0; c < 4; c++ {
		want, err := cmdstan.ReadFile(chainFile(full, c))
		require.NoError(t, err)
		got, err := cmdstan.ReadFile(chainFile(part, c))
		require.NoError(t, err)
		require.Equal(t, want.Sample.Draws, got.Sample.Draws, "chain %d", c)
	}
}

// Same seed, same draws whatever GOMAXPROCS: the chain files and the ancestral states
// of two runs with GOMAXPROCS 1 and 2 are identical.
func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	var dirs []string
	for _, procs := range []string{"1", "2"} {
		dir := t.TempDir()
		cmd := exec.Command(binary, "fit", "--quiet", "--warmup", "200", "--draws", "300", "--seed", "4", "--out", dir)
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		dirs = append(dirs, dir)
	}
	for _, f := range []string{"chain-1.csv", "chain-2.csv", "chain-3.csv", "chain-4.csv", "ancestral.csv", "summary.csv"} {
		a, err := os.ReadFile(filepath.Join(dirs[0], f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(dirs[1], f))
		require.NoError(t, err)
		strip := func(s []byte) string { // timings differ; everything else must not
			var keep []string
			for _, line := range strings.Split(string(s), "\n") {
				if !strings.Contains(line, "Elapsed") && !strings.Contains(line, "seconds") && !strings.Contains(line, "start_datetime") {
					keep = append(keep, line)
				}
			}
			return strings.Join(keep, "\n")
		}
		require.Equal(t, strip(a), strip(b), f)
	}
}

// Kunita simulation: every landmark coordinate is a martingale with quadratic variation
// rate a_ii = K_ii + ε = k_α·f(10⁻⁴) + ε whatever the other landmarks do, so on a star tree
// each tip coordinate has variance (K_ii + ε)·T + τ² about the root shape. The TPS output
// reads back with the TPS reader.
func TestSimulateKunita(t *testing.T) {
	parents := make([]int, 401)
	lengths := make([]float64, 401)
	parents[0] = -1
	for v := 1; v < len(parents); v++ {
		lengths[v] = 1.5
	}
	star, _, err := topology.FromParents(parents, lengths, nil)
	require.NoError(t, err)
	var buf bytes.Buffer
	const n, tau2 = 8, 0.01
	require.NoError(t, simulateKunita(&buf, "", star, n, 0.1, 0.25, 0, 50, tau2, 7))
	specs, err := tps.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, specs, 400)
	k := sde.Kunita{N: n, Dim: 2, KAlpha: 0.1, KSigma: 0.25}
	K := k.KernelTo(make([]float64, n*n), make([]float64, 2*n))
	want := (K[0]+k.Jitter())*1.5 + tau2
	s2, m := 0.0, 0
	for _, s := range specs {
		require.Len(t, s.Landmarks, n)
		for l, p := range s.Landmarks {
			phi := 2 * math.Pi * float64(l) / n
			e0, e1 := p[0]-math.Cos(phi), p[1]-math.Sin(phi)
			s2 += e0*e0 + e1*e1
			m += 2
		}
	}
	got := s2 / float64(m)
	// 6400 coordinates, correlated within a shape: a 10% band is several standard errors.
	require.InEpsilon(t, want, got, 0.1, "variance %.4f, want %.4f", got, want)
}

// fit --model kunita on simulated shapes: runs, writes the chain files and the summary
// with k_alpha and k_sigma, and resumes.
func TestFitKunita(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "t.nwk")
	require.NoError(t, os.WriteFile(tree, []byte("((A:1,B:1,C:1):1,(D:1,E:1):1);"), 0o644))
	shapes := filepath.Join(dir, "s.tps")
	_, stderr, code := canopy(t, "simulate", "--tree", tree, "--model", "kunita", "--landmarks", "5", "--noise", "0.001", "--seed", "2", "--out", shapes)
	require.Equal(t, 0, code, stderr)
	out := filepath.Join(dir, "out")
	stdout, stderr, code := canopy(t, "fit", "--tree", tree, "--landmarks", shapes, "--model", "kunita", "--steps", "10",
		"--noise", "0.001", "--chains", "2", "--warmup", "100", "--draws", "100", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "k_alpha")
	require.Contains(t, stdout, "k_sigma")
	require.NotContains(t, stdout, "tau2")
	for _, f := range []string{"chain-1.csv", "chain-2.csv", "summary.csv", "checkpoint.json"} {
		_, err := os.Stat(filepath.Join(out, f))
		require.NoError(t, err, f)
	}
	b, err := os.ReadFile(filepath.Join(out, "chain-1.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), "engine = nuts") // the default
	require.Contains(t, string(b), "canopy_blas = "+dense.Backend)
	require.Contains(t, string(b), "canopy_local_aux = true") // NUTS guides with the local auxiliary
	rw := filepath.Join(dir, "rw")
	stdout, stderr, code = canopy(t, "fit", "--tree", tree, "--landmarks", shapes, "--model", "kunita", "--step-length", "0.15",
		"--sampler", "rwpcn", "--chains", "2", "--warmup", "100", "--draws", "100", "--out", rw, "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "tau2")                                             // estimated by default
	_, stderr, code = canopy(t, "fit", "--resume", rw, "--draws", "150", "--quiet") // keeps the step length
	require.Equal(t, 0, code, stderr)
	b, err = os.ReadFile(filepath.Join(rw, "chain-1.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), "pcnrw")
	require.Contains(t, string(b), "canopy_local_aux = false")
	// Warmup tuned β (from hyperiax's 0.1) and the resumed run kept it.
	require.Regexp(t, `canopy_pcn_beta = (0\.\d+|1)\n`, string(b))
	require.NotContains(t, string(b), "canopy_pcn_beta = 0.1\n")
	cp, err := os.ReadFile(filepath.Join(rw, "checkpoint.json"))
	require.NoError(t, err)
	require.Contains(t, string(cp), `"beta":`)
	// A damaged β is reported, not a panic.
	bad := regexp.MustCompile(`"beta":[^,}]*`).ReplaceAllString(string(cp), `"beta":1.5`)
	require.NoError(t, os.WriteFile(filepath.Join(rw, "checkpoint.json"), []byte(bad), 0o644))
	_, stderr, code = canopy(t, "fit", "--resume", rw, "--draws", "200", "--quiet")
	require.NotEqual(t, 0, code)
	require.Contains(t, stderr, "β = 1.5")
	require.NotContains(t, stderr, "panic")
	checkCladeMeans(t, filepath.Join(out, "ancestral.csv"), shapes)
	_, stderr, code = canopy(t, "fit", "--resume", out, "--draws", "150", "--quiet")
	require.Equal(t, 0, code, stderr)
	// The resumed run keeps the local auxiliary, which the checkpoint records; one
	// from before that record resumes without it, as it was made.
	cp, err = os.ReadFile(filepath.Join(out, "checkpoint.json"))
	require.NoError(t, err)
	require.Contains(t, string(cp), `"local_aux":true`)
	b, err = os.ReadFile(filepath.Join(out, "chain-1.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), "canopy_local_aux = true")
	require.Contains(t, resumeEdited(t, out, `"local_aux":true,`, "", "160"), "canopy_local_aux = false")
	// Exact tips: the last step into each tip is conditioned on it.
	exact := filepath.Join(dir, "exact")
	stdout, stderr, code = canopy(t, "fit", "--tree", tree, "--landmarks", shapes, "--model", "kunita", "--steps", "5",
		"--noise", "none", "--chains", "2", "--warmup", "100", "--draws", "100", "--out", exact, "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stdout, "k_sigma")
	require.NotContains(t, stdout, "tau2")
	checkCladeMeans(t, filepath.Join(exact, "ancestral.csv"), shapes)
}

// fit --model kunita-ou on shapes simulated with a pull towards the root shape: runs,
// reports the rate alpha next to k_alpha and k_sigma, and resumes; the simulator's
// pull shrinks the tips' spread.
func TestFitKunitaOU(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "t.nwk")
	require.NoError(t, os.WriteFile(tree, []byte("((A:2,B:2,C:2):2,(D:2,E:2):2);"), 0o644))
	spread := func(file string) float64 {
		specs, err := tps.ReadFile(file)
		require.NoError(t, err)
		s := 0.0
		for _, sp := range specs {
			for l, p := range sp.Landmarks {
				phi := 2 * math.Pi * float64(l) / float64(len(sp.Landmarks))
				s += (p[0]-math.Cos(phi))*(p[0]-math.Cos(phi)) + (p[1]-math.Sin(phi))*(p[1]-math.Sin(phi))
			}
		}
		return s
	}
	var spreads []float64
	for _, model := range []string{"kunita", "kunita-ou"} {
		shapes := filepath.Join(dir, model+".tps")
		_, stderr, code := canopy(t, "simulate", "--tree", tree, "--model", model, "--alpha", "5", "--landmarks", "5", "--noise", "0.001", "--seed", "3", "--out", shapes)
		require.Equal(t, 0, code, stderr)
		spreads = append(spreads, spread(shapes))
	}
	require.Less(t, spreads[1], spreads[0]/3, "the pull towards the root shape")
	shapes := filepath.Join(dir, "kunita-ou.tps")
	out := filepath.Join(dir, "out")
	stdout, stderr, code := canopy(t, "fit", "--tree", tree, "--landmarks", shapes, "--model", "kunita-ou", "--steps", "8",
		"--noise", "0.001", "--chains", "2", "--warmup", "100", "--draws", "100", "--out", out, "--quiet")
	require.Equal(t, 0, code, stderr)
	for _, name := range []string{"k_alpha", "k_sigma", "\nalpha "} {
		require.Regexp(t, name, stdout)
	}
	b, err := os.ReadFile(filepath.Join(out, "chain-1.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), "log_alpha")
	require.Contains(t, string(b), "canopy_exponential_steps = true") // the pull is integrated exactly
	_, stderr, code = canopy(t, "fit", "--resume", out, "--draws", "120", "--quiet")
	require.Equal(t, 0, code, stderr)
	// The checkpoint records the exponential steps; one from before that record
	// resumes with the Euler steps it was made with.
	require.Contains(t, resumeEdited(t, out, `"exponential_steps":true`, `"exponential_steps":false`, "130"),
		"canopy_exponential_steps = false")
	// --euler-steps chooses the Euler steps for a new run, and only for kunita-ou.
	euler := filepath.Join(dir, "euler")
	_, stderr, code = canopy(t, "fit", "--tree", tree, "--landmarks", shapes, "--model", "kunita-ou", "--steps", "4", "--euler-steps",
		"--noise", "0.001", "--chains", "1", "--warmup", "20", "--draws", "20", "--out", euler, "--quiet")
	require.Equal(t, 0, code, stderr)
	b, err = os.ReadFile(filepath.Join(euler, "chain-1.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), "canopy_exponential_steps = false")
	_, stderr, code = canopy(t, "fit", "--tree", tree, "--landmarks", shapes, "--model", "kunita", "--euler-steps", "--out", euler)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--euler-steps goes with --model kunita-ou")
}

// resumeEdited replaces from, which must occur, with to in the checkpoint in out (as
// a checkpoint from before a setting was recorded lacks it), resumes the run to draws
// per chain, and returns chain 1's file.
func resumeEdited(t *testing.T, out, from, to, draws string) string {
	t.Helper()
	name := filepath.Join(out, "checkpoint.json")
	cp, err := os.ReadFile(name)
	require.NoError(t, err)
	edited := strings.Replace(string(cp), from, to, 1)
	require.NotEqual(t, string(cp), edited)
	require.NoError(t, os.WriteFile(name, []byte(edited), 0o644))
	_, stderr, code := canopy(t, "fit", "--resume", out, "--draws", draws, "--quiet")
	require.Equal(t, 0, code, stderr)
	b, err := os.ReadFile(filepath.Join(out, "chain-1.csv"))
	require.NoError(t, err)
	return string(b)
}

// checkCladeMeans checks the ancestral shapes of TestFitKunita's tree (2 internal nodes
// × 5 landmarks × 2 coordinates) against the linear-flow answer. Every branch has
// length 1 and the root is fixed at the tips' mean shape, so for a linear flow
// (Brownian motion with covariance K ⊗ I, whatever K) a node's posterior mean is
// (root + Σ clade tips)/(1 + clade size), with tip noise or without; this flow is
// nearly linear at these scales.
func checkCladeMeans(t *testing.T, ancestral, shapes string) {
	t.Helper()
	b, err := os.ReadFile(ancestral)
	require.NoError(t, err)
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 1+2*5*2)
	specs, err := tps.ReadFile(shapes)
	require.NoError(t, err)
	clade := map[string][]string{"mrca(A,C)": {"A", "B", "C"}, "mrca(D,E)": {"D", "E"}}
	for _, r := range rows[1:] {
		tips, ok := clade[r[0]]
		require.True(t, ok, r[0])
		l, _ := strconv.Atoi(r[1][1:])
		a := strings.IndexByte("xy", r[1][0])
		root, sum := 0.0, 0.0
		for _, s := range specs {
			root += s.Landmarks[l-1][a] / float64(len(specs))
			if slices.Contains(tips, s.Name()) {
				sum += s.Landmarks[l-1][a]
			}
		}
		want := (root + sum) / float64(1+len(tips))
		mu, err := strconv.ParseFloat(r[2], 64)
		require.NoError(t, err)
		require.InDelta(t, want, mu, 0.1, "%s: %s %s", ancestral, r[0], r[1])
	}
}

// stepLengthHint counts the steps of both grids: zero-length edges have none, and every
// other edge at least one.
func TestStepLengthHint(t *testing.T) {
	uniform, ell, fewer := stepLengthHint([]float64{0, 1, 0.5, 0.01, 0, 0.25}, 10)
	require.Equal(t, 40, uniform)
	require.InDelta(t, 0.1, ell, 1e-15)
	require.Equal(t, 10+5+1+3, fewer)
	// ℓ = 0.7/3 = 0.2333… is printed, and used, as 0.233.
	_, ell, fewer = stepLengthHint([]float64{0, 0.7, 0.3}, 3)
	require.InDelta(t, 0.233, ell, 1e-12)
	require.Equal(t, 4+2, fewer)
}

// ml --per-trait reports a rate per trait, named by trait, equal to fitting each
// trait's column alone; without it a note points to the option.
func TestMLPerTrait(t *testing.T) {
	dir := t.TempDir()
	write := fileWriter(t, dir)
	tree := write("t.nwk", "(((a:1,b:1):1,(c:0.5,d:0.5):1.5):1,((e:2,f:2):0.5,(g:1,h:1):1.5):1);")
	both := write("both.csv", "taxon,size,range\na,1.2,36\nb,0.8,24\nc,2.1,61\nd,1.9,12\ne,-0.3,5\nf,0.1,40\ng,0.7,18\nh,1.0,30\n")
	size := write("size.csv", "taxon,size\na,1.2\nb,0.8\nc,2.1\nd,1.9\ne,-0.3\nf,0.1\ng,0.7\nh,1.0\n")
	rng := write("range.csv", "taxon,range\na,36\nb,24\nc,61\nd,12\ne,5\nf,40\ng,18\nh,30\n")
	fit := func(args ...string) mlReport {
		stdout, stderr, code := canopy(t, append([]string{"ml", "--tree", tree, "--json"}, args...)...)
		require.Equal(t, 0, code, stderr)
		var r mlReport
		require.NoError(t, json.Unmarshal([]byte(stdout), &r))
		return r
	}
	per := fit("--traits", both, "--per-trait")
	alone := []mlReport{fit("--traits", size), fit("--traits", rng)}
	require.Len(t, per.Params, 2)
	require.InEpsilon(t, alone[0].Params["sigma2"], per.Params["sigma2[size]"], 1e-12)
	require.InEpsilon(t, alone[1].Params["sigma2"], per.Params["sigma2[range]"], 1e-12)
	require.InEpsilon(t, alone[0].LogLik+alone[1].LogLik, per.LogLik, 1e-12)
	shared := fit("--traits", both)
	require.Less(t, shared.LogLik, per.LogLik)
	_, stderr, _ := canopy(t, "ml", "--tree", tree, "--traits", both)
	require.Contains(t, stderr, "--per-trait")
}

// --adapt-delta and --max-depth reach NUTS and its chain files: a higher target
// acceptance adapts a smaller step size, no transition goes deeper than the limit
// (also after --resume, which keeps both), and the files record both settings.
func TestFitNUTSSettings(t *testing.T) {
	dir := t.TempDir()
	stepSize := func(out string) float64 {
		b, err := os.ReadFile(filepath.Join(out, "chain-1.csv"))
		require.NoError(t, err)
		m := regexp.MustCompile(`# Step size = (\S+)`).FindStringSubmatch(string(b))
		require.NotNil(t, m)
		v, err := strconv.ParseFloat(m[1], 64)
		require.NoError(t, err)
		return v
	}
	run := func(name string, args ...string) string {
		out := filepath.Join(dir, name)
		_, stderr, code := canopy(t, append([]string{"fit", "--chains", "2", "--warmup", "300", "--draws", "200", "--out", out, "--quiet"}, args...)...)
		require.Equal(t, 0, code, stderr)
		return out
	}
	def := run("default")
	tight := run("tight", "--adapt-delta", "0.97", "--max-depth", "3")
	require.Less(t, stepSize(tight), 0.8*stepSize(def))
	b, err := os.ReadFile(filepath.Join(tight, "chain-1.csv"))
	require.NoError(t, err)
	require.Contains(t, string(b), "delta = 0.97")
	require.Contains(t, string(b), "max_depth = 3")
	_, stderr, code := canopy(t, "fit", "--resume", tight, "--draws", "300", "--quiet")
	require.Equal(t, 0, code, stderr)
	require.Contains(t, stderr, "maximum tree depth 3") // the hint
	for c := 1; c <= 2; c++ {
		b, err := os.ReadFile(filepath.Join(tight, fmt.Sprintf("chain-%d.csv", c)))
		require.NoError(t, err)
		rows, err := csv.NewReader(strings.NewReader(stripComments(string(b)))).ReadAll()
		require.NoError(t, err)
		require.Len(t, rows, 1+300)
		col := slices.Index(rows[0], "treedepth__")
		for _, r := range rows[1:] {
			d, err := strconv.Atoi(r[col])
			require.NoError(t, err)
			require.LessOrEqual(t, d, 3)
		}
	}
}

// stripComments drops the '#' lines of a CmdStan CSV file.
func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}
