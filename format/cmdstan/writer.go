package cmdstan

import (
	"fmt"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/mcmc"
)

// samplerColumns are the columns CmdStan's NUTS writes before the parameters.
var samplerColumns = []string{"lp__", "accept_stat__", "stepsize__", "treedepth__", "n_leapfrog__", "divergent__", "energy__"}

// flushSize is the size of buffered output above which a Writer writes it out
// after a draw.
const flushSize = 64 << 10

// Writer writes the CSV file of one chain. NewWriter writes the comment header
// and the column header; then come the warmup draws if Config.SaveWarmup is set,
// EndWarmup (the adaptation block), the sampling draws, and Finish (the timing
// block). A file that stops anywhere along the way is still a valid file, as a
// run that CmdStan did not finish leaves it.
//
// A Writer buffers its output and hands it to the underlying io.Writer in whole
// lines only, so the destination never holds part of a row: at every moment it
// holds a valid file, up to the last draw handed over. NewWriter, EndWarmup,
// Flush and Finish hand everything over; Write does when more than 64 KiB are
// buffered. Call Flush to bound what an interrupted run loses.
//
// Errors of the underlying writer are sticky: once one occurs, every later call
// returns it. Calling Write, EndWarmup or Finish after Finish panics, as does
// calling EndWarmup twice or Write with a draw of the wrong length.
type Writer struct {
	w        io.Writer
	cfg      Config
	dim      int
	buf      []byte
	warmup   int // warmup draws written
	draws    int // sampling draws written
	adapted  bool
	finished bool
	err      error
}

// NewWriter checks cfg and the parameter names, writes the comment header and the
// column header to w, and returns a Writer for the draws. The columns are lp__,
// the six NUTS sampler columns and then names, which must pass CheckNames (build
// them with Names). It returns an error wrapping ErrConfig or ErrColumn if cfg or
// names cannot be written in a form every reader reads back, or the error of w.
func NewWriter(w io.Writer, cfg Config, names []string) (*Writer, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, errorf(ErrColumn, "cmdstan: no parameter columns")
	}
	if err := CheckNames(names); err != nil {
		return nil, err
	}
	cfg.Extra = append([]Setting(nil), cfg.Extra...)
	wr := &Writer{w: w, cfg: cfg, dim: len(names)}
	wr.header(names)
	return wr, wr.Flush()
}

func (w *Writer) setting(indent int, key, value string) {
	w.buf = append(w.buf, '#', ' ')
	for range indent {
		w.buf = append(w.buf, ' ', ' ')
	}
	w.buf = append(w.buf, key...)
	w.buf = append(w.buf, " = "...)
	w.buf = append(w.buf, value...)
	w.buf = append(w.buf, '\n')
}

func (w *Writer) section(indent int, name string) {
	w.buf = append(w.buf, '#', ' ')
	for range indent {
		w.buf = append(w.buf, ' ', ' ')
	}
	w.buf = append(w.buf, name...)
	w.buf = append(w.buf, '\n')
}

func itoa(i int) string { return strconv.Itoa(i) }

func ftoa(x float64) string { return string(appendFloat(nil, x)) }

func btoa(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// header writes the comment lines and the column header, nested as CmdStan 2.33
// nests them.
func (w *Writer) header(names []string) {
	c := &w.cfg
	w.setting(0, "stan_version_major", itoa(c.StanVersion[0]))
	w.setting(0, "stan_version_minor", itoa(c.StanVersion[1]))
	w.setting(0, "stan_version_patch", itoa(c.StanVersion[2]))
	w.setting(0, "model", c.Model)
	if !c.StartTime.IsZero() {
		w.setting(0, "start_datetime", c.StartTime.UTC().Format(timeLayout))
	}
	w.setting(0, "method", "sample (Default)")
	w.section(1, "sample")
	w.setting(2, "num_samples", itoa(c.NumSamples))
	w.setting(2, "num_warmup", itoa(c.NumWarmup))
	w.setting(2, "save_warmup", btoa(c.SaveWarmup))
	w.setting(2, "thin", itoa(c.Thin))
	w.section(2, "adapt")
	a := c.Adapt
	w.setting(3, "engaged", btoa(a.Engaged))
	w.setting(3, "gamma", ftoa(a.Gamma))
	w.setting(3, "delta", ftoa(a.Delta))
	w.setting(3, "kappa", ftoa(a.Kappa))
	w.setting(3, "t0", ftoa(a.T0))
	w.setting(3, "init_buffer", itoa(a.InitBuffer))
	w.setting(3, "term_buffer", itoa(a.TermBuffer))
	w.setting(3, "window", itoa(a.Window))
	w.setting(2, "algorithm", "hmc (Default)")
	w.section(3, "hmc")
	w.setting(4, "engine", "nuts (Default)")
	w.section(5, "nuts")
	w.setting(6, "max_depth", itoa(c.MaxDepth))
	w.setting(4, "metric", c.Metric)
	w.setting(4, "stepsize", ftoa(c.StepSize))
	w.setting(4, "stepsize_jitter", ftoa(c.StepSizeJitter))
	w.setting(0, "id", itoa(c.ID))
	if c.DataFile != "" {
		w.section(0, "data")
		w.setting(1, "file", c.DataFile)
	}
	if c.Init != "" {
		w.setting(0, "init", c.Init)
	}
	w.section(0, "random")
	w.setting(1, "seed", strconv.FormatUint(c.Seed, 10))
	if c.OutputFile != "" {
		w.section(0, "output")
		w.setting(1, "file", c.OutputFile)
	}
	for _, s := range c.Extra {
		v := s.Value
		if s.Default {
			v += " (Default)"
		}
		w.setting(0, s.Path, v)
	}
	for _, s := range samplerColumns {
		w.buf = append(w.buf, s...)
		w.buf = append(w.buf, ',')
	}
	for i, s := range names {
		if i > 0 {
			w.buf = append(w.buf, ',')
		}
		w.buf = append(w.buf, s...)
	}
	w.buf = append(w.buf, '\n')
}

// appendFloat appends x in the shortest decimal form that parses back to x
// (strconv's 'g' format with precision −1), and inf, -inf or nan for the values
// that have none, as CmdStan writes them.
func appendFloat(b []byte, x float64) []byte {
	switch {
	case math.IsNaN(x):
		return append(b, "nan"...)
	case math.IsInf(x, 1):
		return append(b, "inf"...)
	case math.IsInf(x, -1):
		return append(b, "-inf"...)
	}
	return strconv.AppendFloat(b, x, 'g', -1, 64)
}

// Write writes one draw: lp__ = lp, the sampler columns from info and the
// parameter values q. Draws written before EndWarmup are warmup draws, which
// need Config.SaveWarmup. Write returns an error wrapping ErrDrawCount, and
// writes nothing, if the draw is one more than the configuration announces, and
// one wrapping ErrNumber if info has a negative tree depth or number of steps.
// info.Accepted has no column and is not written. Write panics if len(q) differs
// from the number of names given to NewWriter.
func (w *Writer) Write(lp float64, info mcmc.Info, q []float64) error {
	if w.finished {
		panic("cmdstan: Write after Finish")
	}
	if len(q) != w.dim {
		panic(fmt.Sprintf("cmdstan: Write of %d values for %d columns", len(q), w.dim))
	}
	if w.err != nil {
		return w.err
	}
	switch {
	case !w.adapted && !w.cfg.SaveWarmup:
		return errorf(ErrDrawCount, "cmdstan: warmup draw with save_warmup = 0")
	case !w.adapted && w.warmup == w.cfg.numWarmupDraws():
		return errorf(ErrDrawCount, "cmdstan: more than the %d warmup draws of num_warmup = %d, thin = %d",
			w.warmup, w.cfg.NumWarmup, w.cfg.Thin)
	case w.adapted && w.draws == w.cfg.numDraws():
		return errorf(ErrDrawCount, "cmdstan: more than the %d draws of num_samples = %d, thin = %d",
			w.draws, w.cfg.NumSamples, w.cfg.Thin)
	case info.TreeDepth < 0 || info.NumSteps < 0:
		return errorf(ErrNumber, "cmdstan: negative tree depth %d or number of steps %d", info.TreeDepth, info.NumSteps)
	}
	b := appendFloat(w.buf, lp)
	b = append(b, ',')
	b = appendFloat(b, info.AcceptStat)
	b = append(b, ',')
	b = appendFloat(b, info.StepSize)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(info.TreeDepth), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(info.NumSteps), 10)
	b = append(b, ',')
	if info.Divergent {
		b = append(b, '1')
	} else {
		b = append(b, '0')
	}
	b = append(b, ',')
	b = appendFloat(b, info.Energy)
	for _, x := range q {
		b = append(b, ',')
		b = appendFloat(b, x)
	}
	w.buf = append(b, '\n')
	if w.adapted {
		w.draws++
	} else {
		w.warmup++
	}
	if len(w.buf) > flushSize {
		return w.Flush()
	}
	return nil
}

// EndWarmup ends the warmup and writes the adaptation block as CmdStan does:
//
//	# Adaptation terminated
//	# Step size = 0.41
//	# Diagonal elements of inverse mass matrix:
//	# 0.59, 0.31, 1.2
//
// For Config.Metric = DenseMetric the values follow "# Elements of inverse mass
// matrix:", one row per line; for UnitMetric only the step size is written. The
// block records p, the step size and inverse metric used for sampling. CmdStan
// leaves the block out when adaptation is off, but cmdstanpy then refuses the
// file, so EndWarmup writes it whatever Config.Adapt says.
//
// A nil p.Metric is the identity of the dimension of the draws. EndWarmup returns
// an error wrapping ErrMetric if the step size is not positive and finite, if
// p.Metric is dense for a diag_e file, or if it is not the identity for a unit_e
// file, and one wrapping ErrDrawCount if fewer warmup draws were written than
// Config announces with SaveWarmup. In both cases it writes nothing.
func (w *Writer) EndWarmup(p mcmc.Params) error {
	if w.finished || w.adapted {
		panic("cmdstan: EndWarmup after EndWarmup or Finish")
	}
	if w.err != nil {
		return w.err
	}
	if n := w.cfg.numWarmupDraws(); w.warmup != n {
		return errorf(ErrDrawCount, "cmdstan: %d warmup draws written, num_warmup = %d and thin = %d need %d",
			w.warmup, w.cfg.NumWarmup, w.cfg.Thin, n)
	}
	if !(p.StepSize > 0) || math.IsInf(p.StepSize, 1) {
		return errorf(ErrMetric, "cmdstan: step size %v must be positive and finite", p.StepSize)
	}
	m := p.Metric
	if m == nil {
		m = mcmc.IdentityMetric(w.dim, false)
	}
	n := m.Dim()
	var inv mat.SymDense
	m.DenseTo(&inv)
	switch w.cfg.Metric {
	case UnitMetric:
		for i := range n {
			for j := range n {
				if v := inv.At(i, j); i == j && v != 1 || i != j && v != 0 {
					return errorf(ErrMetric, "cmdstan: metric = unit_e but the inverse metric is not the identity")
				}
			}
		}
	case DiagMetric:
		if m.IsDense() {
			return errorf(ErrMetric, "cmdstan: metric = diag_e but the inverse metric is dense")
		}
	}
	b := append(w.buf, "# Adaptation terminated\n# Step size = "...)
	b = appendFloat(b, p.StepSize)
	b = append(b, '\n')
	switch w.cfg.Metric {
	case DiagMetric:
		b = append(b, "# Diagonal elements of inverse mass matrix:\n"...)
		b = appendRow(b, m.DiagTo(nil))
	case DenseMetric:
		b = append(b, "# Elements of inverse mass matrix:\n"...)
		row := make([]float64, n)
		for i := range n {
			for j := range row {
				row[j] = inv.At(i, j)
			}
			b = appendRow(b, row)
		}
	}
	w.buf = b
	w.adapted = true
	return w.Flush()
}

// appendRow appends a comment line of comma-separated values.
func appendRow(b []byte, xs []float64) []byte {
	b = append(b, '#', ' ')
	for i, x := range xs {
		if i > 0 {
			b = append(b, ',', ' ')
		}
		b = appendFloat(b, x)
	}
	return append(b, '\n')
}

// Flush hands all buffered lines to the underlying writer.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.w.Write(w.buf)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
		return err
	}
	w.buf = w.buf[:0]
	return nil
}

// Finish writes the timing block, the seconds spent in warmup and sampling and
// their sum, and flushes:
//
//	#
//	#  Elapsed Time: 1.2 seconds (Warm-up)
//	#                1.4 seconds (Sampling)
//	#                2.6 seconds (Total)
//	#
//
// The times are written in plain decimal notation, never with an exponent,
// because rstan reads them by deleting every character other than digits and
// '.'. Finish returns an error wrapping ErrDrawCount, and writes nothing, unless
// EndWarmup was called and all the draws Config announces were written; a run
// that stops early ends with Flush instead, and its file has no timing block. It
// returns an error wrapping ErrNumber if a time is negative or not finite.
// Finish does not close the underlying writer.
func (w *Writer) Finish(warmupSeconds, samplingSeconds float64) error {
	if w.finished {
		panic("cmdstan: Finish after Finish")
	}
	if w.err != nil {
		return w.err
	}
	if !w.adapted || w.draws != w.cfg.numDraws() {
		return errorf(ErrDrawCount, "cmdstan: Finish after %d of %d draws", w.draws, w.cfg.numDraws())
	}
	total := warmupSeconds + samplingSeconds
	if !(warmupSeconds >= 0 && samplingSeconds >= 0) || math.IsInf(total, 1) {
		return errorf(ErrNumber, "cmdstan: times %v and %v must be non-negative and finite", warmupSeconds, samplingSeconds)
	}
	b := append(w.buf, "# \n#  Elapsed Time: "...)
	b = strconv.AppendFloat(b, warmupSeconds, 'f', -1, 64)
	b = append(b, " seconds (Warm-up)\n#                "...)
	b = strconv.AppendFloat(b, samplingSeconds, 'f', -1, 64)
	b = append(b, " seconds (Sampling)\n#                "...)
	b = strconv.AppendFloat(b, total, 'f', -1, 64)
	b = append(b, " seconds (Total)\n# \n"...)
	w.buf = b
	w.finished = true
	return w.Flush()
}

// WriteChain writes a chain returned by mcmc.Run as one file: ch.Warmup if
// cfg.SaveWarmup is set, the adaptation block with ch.Params, ch.Sample and the
// timing block with ch.WarmupSeconds and ch.SampleSeconds. A chain with fewer
// sampling draws than cfg announces, as an interrupted Run returns, is written
// without the timing block, and also without the adaptation block if it has no
// sampling draw (its warmup may not have finished). cfg.ID is usually
// ch.Index+1. The errors are those of NewWriter, Write, EndWarmup and Finish;
// WriteChain returns an error wrapping ErrColumn if the draws do not have
// len(names) values.
func WriteChain(w io.Writer, cfg Config, names []string, ch *mcmc.Chain) error {
	for _, t := range []*mcmc.Trace{&ch.Warmup, &ch.Sample} {
		if t.Len() > 0 && t.Dim != len(names) {
			return errorf(ErrColumn, "cmdstan: draws of dimension %d for %d names", t.Dim, len(names))
		}
	}
	wr, err := NewWriter(w, cfg, names)
	if err != nil {
		return err
	}
	writeTrace := func(t *mcmc.Trace) error {
		for i := range t.Len() {
			if err := wr.Write(t.LogDensity[i], t.Info[i], t.Draw(i)); err != nil {
				return err
			}
		}
		return nil
	}
	if cfg.SaveWarmup {
		if err := writeTrace(&ch.Warmup); err != nil {
			return err
		}
	}
	complete := ch.Sample.Len() == cfg.numDraws()
	if ch.Sample.Len() == 0 && !complete {
		return wr.Flush()
	}
	if err := wr.EndWarmup(ch.Params); err != nil {
		return err
	}
	if err := writeTrace(&ch.Sample); err != nil {
		return err
	}
	if !complete {
		return wr.Flush()
	}
	return wr.Finish(ch.WarmupSeconds, ch.SampleSeconds)
}
