package cmdstan

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/canopy-bffg/canopy/format/internal/text"
	"github.com/canopy-bffg/canopy/mcmc"
)

// Header is what precedes the draws: the configuration and the columns.
type Header struct {
	// Config holds the settings the Reader knows, parsed.
	Config Config
	// Settings holds every "key = value" comment line before the column header,
	// in file order.
	Settings []Setting
	// Columns holds every column name in file order.
	Columns []string
	// Names holds the parameter columns: those whose names do not end in "__".
	// Draw.Values and the rows of a Trace follow this order.
	Names []string
	// Line is the line of the column header.
	Line int
}

// Setting returns the last setting whose path is path or ends in "." + path, so
// that "seed", "random.seed" and "adapt.delta" all find theirs.
func (h *Header) Setting(path string) (Setting, bool) {
	for i := len(h.Settings) - 1; i >= 0; i-- {
		s := h.Settings[i]
		if s.Path == path || strings.HasSuffix(s.Path, "."+path) {
			return s, true
		}
	}
	return Setting{}, false
}

// Draw is one row of draws.
type Draw struct {
	// Warmup reports whether the row is a saved warmup iteration.
	Warmup bool
	// LogDensity is lp__.
	LogDensity float64
	// Info holds the sampler columns, zero where the file has none. Accepted is
	// always false: it has no column.
	Info mcmc.Info
	// Values holds the parameter columns, in the order of Header.Names.
	Values []float64
	// Line is the line of the row.
	Line int
}

// Adaptation is the block CmdStan writes after warmup: the step size and the
// inverse metric used for sampling.
type Adaptation struct {
	// StepSize is the adapted step size.
	StepSize float64
	// Metric is the kind of inverse metric the block holds: DiagMetric or
	// DenseMetric if it lists one, UnitMetric if it does not.
	Metric string
	// InvMetric is the inverse metric: the diagonal, or the n×n matrix
	// row-major; nil for UnitMetric.
	InvMetric []float64
	// Line is the line of "# Adaptation terminated".
	Line int
}

// Dim returns the dimension of the inverse metric, 0 for UnitMetric.
func (a *Adaptation) Dim() int {
	if a.Metric == DenseMetric {
		return int(math.Round(math.Sqrt(float64(len(a.InvMetric)))))
	}
	return len(a.InvMetric)
}

// Params returns the step size and inverse metric as mcmc.Params, with a nil
// Metric (the identity) for UnitMetric. It returns an error wrapping ErrMetric
// and mcmc.ErrNotPositiveDefinite if the inverse metric is not symmetric positive
// definite.
func (a *Adaptation) Params() (mcmc.Params, error) {
	p := mcmc.Params{StepSize: a.StepSize}
	var err error
	switch a.Metric {
	case DiagMetric:
		p.Metric, err = mcmc.NewDiagMetric(a.InvMetric)
	case DenseMetric:
		n := a.Dim()
		for i := range n {
			for j := range i {
				if a.InvMetric[i*n+j] != a.InvMetric[j*n+i] {
					return p, fmt.Errorf("%w: entries (%d, %d) and (%d, %d) differ: %w",
						ErrMetric, i+1, j+1, j+1, i+1, mcmc.ErrNotPositiveDefinite)
				}
			}
		}
		p.Metric, err = mcmc.NewDenseMetric(mat.NewSymDense(n, append([]float64(nil), a.InvMetric...)))
	}
	if err != nil {
		return mcmc.Params{StepSize: a.StepSize}, fmt.Errorf("%w: %w", ErrMetric, err)
	}
	return p, nil
}

// Timing is the timing block at the end of a finished run, in seconds.
type Timing struct {
	Warmup, Sampling, Total float64
	// Line is the line of "Elapsed Time".
	Line int
}

// File is the content of one chain's file.
type File struct {
	Header
	// Warmup holds the saved warmup draws and Sample the sampling draws; their
	// Dim is len(Names).
	Warmup, Sample mcmc.Trace
	// Adaptation is the adaptation block, nil if the file has none (CmdStan
	// writes none when adaptation is off, nor does an interrupted warmup).
	Adaptation *Adaptation
	// Timing is the timing block, nil if the run did not finish.
	Timing *Timing
}

// Chain returns the file as a chain: Index is Config.ID−1 (0 if the ID is
// below 1), Params come from the adaptation block (zero without one) and the
// times from the timing block (zero without one). It returns an error from
// Adaptation.Params, together with the chain without its Metric.
func (f *File) Chain() (mcmc.Chain, error) {
	c := mcmc.Chain{Index: max(f.Config.ID-1, 0), Warmup: f.Warmup, Sample: f.Sample}
	var err error
	if f.Adaptation != nil {
		c.Params, err = f.Adaptation.Params()
	}
	if f.Timing != nil {
		c.WarmupSeconds, c.SampleSeconds = f.Timing.Warmup, f.Timing.Sampling
	}
	return c, err
}

// block is where the Reader is inside a comment block after the header.
type block int

const (
	inNone       block = iota
	inStepSize         // after "Adaptation terminated", "Step size = " is next
	inMetricKind       // after the step size: a metric heading may follow
	inDiag             // the line of diagonal elements is next
	inDense            // rows of the dense matrix are next
	inSampling         // the "(Sampling)" time is next
	inTotal            // the "(Total)" time is next
)

// Reader reads a CmdStan sampler CSV file: Header, then Read draw by draw until
// io.EOF, with Adaptation and Timing available once their blocks are read. It
// reads CmdStan's files as well as the Writer's: nested or flat settings,
// "(Default)" markers, save_warmup as 0/1 or false/true, thin, any sampler
// columns (fixed_param files have only lp__ and accept_stat__), and nan, inf and
// -inf in any case.
//
// Errors are *ParseError values with the line, and the column in data rows, of
// the problem. These are errors: a file without column header or lp__ column,
// empty or duplicate column names, a setting that does not parse as its type
// (num_samples = ten), a method other than sample, a row with the wrong number
// of fields or a field that is not a number (nor an integer in treedepth__ and
// n_leapfrog__, nor 0 or 1 in divergent__), an adaptation block that is
// incomplete, repeated, not where the warmup ends, or of another metric than
// the header says, a timing block that does not parse or is followed by draws,
// and more draws than num_samples and thin announce, or fewer in a file with a
// timing block. The first error ends the reading.
type Reader struct {
	// File names the input in errors; set it before the first call.
	File string

	br   *bufio.Reader
	buf  []byte
	line int
	err  error // sticky

	hdr    *Header
	cfg    *Config
	roles  []int // role of each column
	nWarm  int   // warmup rows of a complete file, −1 if unknown
	nDraw  int   // sampling rows of a complete file, −1 if unknown
	warm   int   // warmup rows read
	draws  int   // sampling rows read
	state  block
	denseN int // row length of a dense inverse metric
	adapt  *Adaptation
	timing *Timing
}

// Column roles.
const (
	roleParam = iota
	roleLP
	roleAccept
	roleStepSize
	roleTreeDepth
	roleLeapfrog
	roleDivergent
	roleEnergy
	roleOther // a sampler column we do not know
)

var roleOf = map[string]int{
	"lp__": roleLP, "accept_stat__": roleAccept, "stepsize__": roleStepSize,
	"treedepth__": roleTreeDepth, "n_leapfrog__": roleLeapfrog,
	"divergent__": roleDivergent, "energy__": roleEnergy,
}

// NewReader returns a Reader that reads from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{br: bufio.NewReader(r), nWarm: -1, nDraw: -1}
}

// ReadFile reads the named file.
func ReadFile(name string) (*File, error) {
	fd, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer fd.Close()
	r := NewReader(fd)
	r.File = name
	return r.ReadAll()
}

func (r *Reader) errorAt(line, col int, kind error, format string, args ...any) *ParseError {
	return &ParseError{File: r.File, Line: line, Column: col, Err: errorf(kind, format, args...)}
}

// fail records err as the sticky error and returns it.
func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// readLine returns the next line without its line ending; the slice is valid
// until the next call.
func (r *Reader) readLine() ([]byte, error) {
	r.buf = r.buf[:0]
	for {
		b, err := r.br.ReadSlice('\n')
		r.buf = append(r.buf, b...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err == io.EOF && len(r.buf) > 0 {
			err = nil
		}
		if err != nil {
			return nil, err
		}
		break
	}
	r.line++
	b := bytes.TrimSuffix(r.buf, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	if r.line == 1 {
		b = bytes.TrimPrefix(b, []byte("\ufeff"))
	}
	return b, nil
}

// Header returns the configuration and columns, reading them if no draw has been
// read yet.
func (r *Reader) Header() (*Header, error) {
	if r.hdr != nil {
		return r.hdr, nil
	}
	if r.err != nil {
		return nil, r.err
	}
	h := &Header{}
	var sections []section
	for {
		line, err := r.readLine()
		if err == io.EOF {
			return nil, r.fail(r.errorAt(r.line+1, 0, ErrNoHeader, "end of file before the column header"))
		}
		if err != nil {
			return nil, r.fail(err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if line[0] == '#' {
			if s, ok := parseSetting(string(line[1:]), &sections); ok {
				s.Line = r.line
				h.Settings = append(h.Settings, s)
			}
			continue
		}
		h.Line = r.line
		if err := r.columns(h, string(line)); err != nil {
			return nil, r.fail(err)
		}
		break
	}
	cfg, err := r.config(h)
	if err != nil {
		return nil, r.fail(err)
	}
	h.Config = cfg
	r.hdr, r.cfg = h, &h.Config
	if _, ok := h.Setting("num_samples"); ok {
		r.nDraw = cfg.numDraws()
	}
	if !cfg.SaveWarmup {
		r.nWarm = 0
	} else if _, ok := h.Setting("num_warmup"); ok {
		r.nWarm = cfg.numWarmupDraws()
	}
	return h, nil
}

// section is an enclosing section of the settings: its name and indentation.
type section struct {
	indent int
	name   string
}

// parseSetting parses the text of a header comment line after '#'. It reports a
// "key = value" line as a Setting and records a line holding one word as a
// section enclosing the lines indented further; other lines are free text.
func parseSetting(s string, sections *[]section) (Setting, bool) {
	content := strings.TrimLeft(s, " \t")
	indent := len(s) - len(content)
	content = strings.TrimSpace(content)
	if content == "" {
		return Setting{}, false
	}
	pop := func() {
		for len(*sections) > 0 && (*sections)[len(*sections)-1].indent >= indent {
			*sections = (*sections)[:len(*sections)-1]
		}
	}
	key, value, ok := strings.Cut(content, "=")
	key = strings.TrimSpace(key)
	if !ok {
		if isIdent(content) {
			pop()
			*sections = append(*sections, section{indent, content})
		}
		return Setting{}, false
	}
	if key == "" || strings.ContainsAny(key, " \t") {
		return Setting{}, false
	}
	pop()
	var path strings.Builder
	for _, sec := range *sections {
		path.WriteString(sec.name)
		path.WriteByte('.')
	}
	path.WriteString(key)
	value = strings.TrimSpace(value)
	st := Setting{Path: path.String(), Value: value}
	if v, found := strings.CutSuffix(value, "(Default)"); found {
		st.Value, st.Default = strings.TrimSpace(v), true
	}
	return st, true
}

// columns parses the column header into h.
func (r *Reader) columns(h *Header, line string) error {
	seen := make(map[string]bool)
	col := 1
	hasLP := false
	for _, name := range strings.Split(line, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			return r.errorAt(r.line, col, ErrColumn, "empty column name")
		case seen[name]:
			return r.errorAt(r.line, col, ErrColumn, "duplicate column %s", name)
		}
		seen[name] = true
		role, ok := roleOf[name]
		switch {
		case ok:
			hasLP = hasLP || role == roleLP
		case strings.HasSuffix(name, "__"):
			role = roleOther
		default:
			role = roleParam
			h.Names = append(h.Names, name)
		}
		h.Columns = append(h.Columns, name)
		r.roles = append(r.roles, role)
		col += len(name) + 1
	}
	if !hasLP {
		return r.errorAt(r.line, 1, ErrColumn, "no lp__ column")
	}
	return nil
}

// config parses the settings the Config fields take.
func (r *Reader) config(h *Header) (Config, error) {
	c := Config{Thin: 1}
	var err error
	str := func(path string, dst *string) {
		if s, ok := h.Setting(path); ok {
			*dst = s.Value
		}
	}
	bad := func(s Setting, want string) {
		if err == nil {
			err = r.errorAt(s.Line, 0, ErrSetting, "%s = %q: want %s", s.Path, s.Value, want)
		}
	}
	integer := func(path string, dst *int, min int) {
		if s, ok := h.Setting(path); ok {
			v, e := strconv.Atoi(s.Value)
			if e != nil || v < min {
				bad(s, fmt.Sprintf("an integer ≥ %d", min))
			}
			*dst = v
		}
	}
	float := func(path string, dst *float64) {
		if s, ok := h.Setting(path); ok {
			v, e := strconv.ParseFloat(s.Value, 64)
			if e != nil {
				bad(s, "a number")
			}
			*dst = v
		}
	}
	boolean := func(path string, dst *bool) {
		if s, ok := h.Setting(path); ok {
			switch s.Value {
			case "0", "false":
				*dst = false
			case "1", "true":
				*dst = true
			default:
				bad(s, "0, 1, false or true")
			}
		}
	}
	integer("stan_version_major", &c.StanVersion[0], 0)
	integer("stan_version_minor", &c.StanVersion[1], 0)
	integer("stan_version_patch", &c.StanVersion[2], 0)
	str("model", &c.Model)
	if s, ok := h.Setting("start_datetime"); ok {
		if t, e := time.Parse(timeLayout, s.Value); e == nil {
			c.StartTime = t
		}
	}
	if s, ok := h.Setting("method"); ok && s.Value != "sample" {
		return c, r.errorAt(s.Line, 0, ErrNotSample, "method = %s, want sample", s.Value)
	}
	integer("num_samples", &c.NumSamples, 0)
	integer("num_warmup", &c.NumWarmup, 0)
	boolean("save_warmup", &c.SaveWarmup)
	integer("thin", &c.Thin, 1)
	boolean("adapt.engaged", &c.Adapt.Engaged)
	float("adapt.gamma", &c.Adapt.Gamma)
	float("adapt.delta", &c.Adapt.Delta)
	float("adapt.kappa", &c.Adapt.Kappa)
	float("adapt.t0", &c.Adapt.T0)
	integer("adapt.init_buffer", &c.Adapt.InitBuffer, 0)
	integer("adapt.term_buffer", &c.Adapt.TermBuffer, 0)
	integer("adapt.window", &c.Adapt.Window, 0)
	str("algorithm", &c.Algorithm)
	str("engine", &c.Engine)
	integer("max_depth", &c.MaxDepth, 0)
	if s, ok := h.Setting("metric"); ok {
		switch s.Value {
		case UnitMetric, DiagMetric, DenseMetric:
			c.Metric = s.Value
		default:
			bad(s, "unit_e, diag_e or dense_e")
		}
	}
	float("stepsize", &c.StepSize)
	float("stepsize_jitter", &c.StepSizeJitter)
	integer("id", &c.ID, 0)
	str("data.file", &c.DataFile)
	str("init", &c.Init)
	if s, ok := h.Setting("seed"); ok {
		v, e := strconv.ParseUint(s.Value, 10, 64)
		if e != nil {
			bad(s, "a non-negative integer")
		}
		c.Seed = v
	}
	str("output.file", &c.OutputFile)
	for _, s := range h.Settings {
		if !strings.Contains(s.Path, ".") && !topLevel[s.Path] {
			c.Extra = append(c.Extra, s)
		}
	}
	return c, err
}

// Read returns the next draw, reading the header first if needed and the
// adaptation and timing blocks on the way. At the end of the input it returns
// io.EOF, or a *ParseError if the file ends inside a block or has a timing block
// but not the draws the header announces.
func (r *Reader) Read() (Draw, error) {
	if _, err := r.Header(); err != nil {
		return Draw{}, err
	}
	if r.err != nil {
		return Draw{}, r.err
	}
	for {
		line, err := r.readLine()
		if err == io.EOF {
			return Draw{}, r.fail(r.end())
		}
		if err != nil {
			return Draw{}, r.fail(err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if line[0] == '#' {
			if err := r.comment(strings.TrimSpace(string(line[1:]))); err != nil {
				return Draw{}, r.fail(err)
			}
			continue
		}
		d, err := r.row(line)
		if err != nil {
			return Draw{}, r.fail(err)
		}
		return d, nil
	}
}

// ReadAll reads the rest of the file. On error it returns what it read before
// the error together with the error (nil if the header could not be read), so
// that the draws of a file with a damaged last line can still be used.
func (r *Reader) ReadAll() (*File, error) {
	h, err := r.Header()
	if err != nil {
		return nil, err
	}
	f := &File{Header: *h}
	f.Warmup.Dim, f.Sample.Dim = len(h.Names), len(h.Names)
	for {
		d, err := r.Read()
		if err != nil {
			f.Adaptation, f.Timing = r.adapt, r.timing
			if err == io.EOF {
				err = nil
			}
			return f, err
		}
		t := &f.Sample
		if d.Warmup {
			t = &f.Warmup
		}
		t.Draws = append(t.Draws, d.Values...)
		t.LogDensity = append(t.LogDensity, d.LogDensity)
		t.Info = append(t.Info, d.Info)
	}
}

// Adaptation returns the adaptation block, or nil if none has been read.
func (r *Reader) Adaptation() *Adaptation { return r.adapt }

// Timing returns the timing block, or nil if none has been read.
func (r *Reader) Timing() *Timing { return r.timing }

// comment handles a comment line after the column header; s is its text after
// '#', trimmed.
func (r *Reader) comment(s string) error {
	switch r.state {
	case inStepSize:
		label, v, ok := strings.Cut(s, "=")
		x, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if !ok || strings.TrimSpace(label) != "Step size" || err != nil || !(x > 0) || math.IsInf(x, 1) {
			return r.errorAt(r.line, 0, ErrAdaptation, "want \"# Step size = <positive number>\" after \"# Adaptation terminated\", got %q", s)
		}
		r.adapt.StepSize = x
		r.state = inMetricKind
		return nil
	case inDiag, inDense:
		xs, err := r.values(s)
		if err != nil {
			return err
		}
		if r.state == inDiag {
			r.adapt.InvMetric = xs
			r.state = inNone
			return r.checkMetric()
		}
		if r.adapt.InvMetric == nil {
			r.denseN = len(xs)
		}
		if n := r.denseN; len(xs) != n {
			return r.errorAt(r.line, 0, ErrAdaptation, "row of %d values in an inverse metric with rows of %d", len(xs), n)
		}
		r.adapt.InvMetric = append(r.adapt.InvMetric, xs...)
		if n := r.denseN; len(r.adapt.InvMetric) == n*n {
			r.state = inNone
			return r.checkMetric()
		}
		return nil
	case inSampling, inTotal:
		want := "(Sampling)"
		dst := &r.timing.Sampling
		if r.state == inTotal {
			want, dst = "(Total)", &r.timing.Total
		}
		x, ok := parseTime(s, want)
		if !ok {
			return r.errorAt(r.line, 0, ErrTiming, "want \"# <seconds> seconds %s\", got %q", want, s)
		}
		*dst = x
		r.state++
		if r.state > inTotal {
			r.state = inNone
		}
		return nil
	}
	switch {
	case s == "Adaptation terminated":
		switch {
		case r.adapt != nil:
			return r.errorAt(r.line, 0, ErrAdaptation, "second adaptation block (the first is at line %d)", r.adapt.Line)
		case r.draws > 0 || r.timing != nil:
			return r.errorAt(r.line, 0, ErrAdaptation, "adaptation block after the post-warmup draws began")
		case r.nWarm >= 0 && r.warm != r.nWarm:
			return r.errorAt(r.line, 0, ErrDrawCount, "adaptation block after %d warmup draws; num_warmup = %d and thin = %d need %d",
				r.warm, r.cfg.NumWarmup, r.cfg.Thin, r.nWarm)
		}
		r.adapt = &Adaptation{Metric: UnitMetric, Line: r.line}
		r.state = inStepSize
	case r.state == inMetricKind && s == "Diagonal elements of inverse mass matrix:":
		r.adapt.Metric, r.state = DiagMetric, inDiag
	case r.state == inMetricKind && s == "Elements of inverse mass matrix:":
		r.adapt.Metric, r.state = DenseMetric, inDense
	case strings.HasPrefix(s, "Elapsed Time:"):
		if err := r.endBlock(); err != nil {
			return err
		}
		if r.timing != nil {
			return r.errorAt(r.line, 0, ErrTiming, "second timing block (the first is at line %d)", r.timing.Line)
		}
		x, ok := parseTime(strings.TrimPrefix(s, "Elapsed Time:"), "(Warm-up)")
		if !ok {
			return r.errorAt(r.line, 0, ErrTiming, "want \"# Elapsed Time: <seconds> seconds (Warm-up)\", got %q", s)
		}
		r.timing = &Timing{Warmup: x, Line: r.line}
		r.state = inSampling
	}
	// Other comments, such as the blank ones around the timing block, are
	// skipped.
	return nil
}

// parseTime parses "<seconds> seconds <label>".
func parseTime(s, label string) (float64, bool) {
	f := strings.Fields(s)
	if len(f) != 3 || f[1] != "seconds" || f[2] != label {
		return 0, false
	}
	x, err := strconv.ParseFloat(f[0], 64)
	return x, err == nil && x >= 0 && !math.IsInf(x, 1)
}

// values parses a comment line of comma-separated inverse metric entries.
func (r *Reader) values(s string) ([]float64, error) {
	fields := strings.Split(s, ",")
	xs := make([]float64, len(fields))
	for i, f := range fields {
		x, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, r.errorAt(r.line, 0, ErrAdaptation, "inverse metric entry %d is %q, want a finite number", i+1, strings.TrimSpace(f))
		}
		xs[i] = x
	}
	return xs, nil
}

// checkMetric checks that the adaptation block holds the metric the header
// announces.
func (r *Reader) checkMetric() error {
	if m := r.cfg.Metric; m != "" && m != r.adapt.Metric {
		return r.errorAt(r.adapt.Line, 0, ErrAdaptation, "metric = %s but the adaptation block holds %s", m, r.adapt.Metric)
	}
	return nil
}

// endBlock is called where a block must be complete: before a draw, a timing
// block and at the end of the file.
func (r *Reader) endBlock() error {
	switch r.state {
	case inNone:
		return nil
	case inMetricKind:
		r.state = inNone
		return r.checkMetric()
	case inSampling, inTotal:
		return r.errorAt(r.line, 0, ErrTiming, "timing block without its (Sampling) and (Total) lines")
	}
	return r.errorAt(r.adapt.Line, 0, ErrAdaptation, "incomplete adaptation block")
}

// end checks the file at its end and returns io.EOF if it is complete or ends
// where an interrupted run leaves it.
func (r *Reader) end() error {
	if err := r.endBlock(); err != nil {
		return err
	}
	if t := r.timing; t != nil {
		if r.nWarm >= 0 && r.warm != r.nWarm {
			return r.errorAt(t.Line, 0, ErrDrawCount, "finished run with %d warmup draws; num_warmup = %d and thin = %d need %d",
				r.warm, r.cfg.NumWarmup, r.cfg.Thin, r.nWarm)
		}
		if r.nDraw >= 0 && r.draws != r.nDraw {
			return r.errorAt(t.Line, 0, ErrDrawCount, "finished run with %d draws; num_samples = %d and thin = %d need %d",
				r.draws, r.cfg.NumSamples, r.cfg.Thin, r.nDraw)
		}
	}
	return io.EOF
}

// row parses a line of draws.
func (r *Reader) row(line []byte) (Draw, error) {
	if err := r.endBlock(); err != nil {
		return Draw{}, err
	}
	if r.timing != nil {
		return Draw{}, r.errorAt(r.line, 1, ErrDrawCount, "draw after the timing block at line %d", r.timing.Line)
	}
	d := Draw{Line: r.line, Values: make([]float64, 0, len(r.hdr.Names))}
	col, k := 1, 0
	for rest, more := line, true; more; k++ {
		var f []byte
		f, rest, more = bytes.Cut(rest, []byte{','})
		if k == len(r.roles) {
			return Draw{}, r.errorAt(r.line, col-1, ErrFieldCount, "more than the %d fields of the header", len(r.roles))
		}
		if err := r.field(&d, k, string(f), col); err != nil {
			return Draw{}, err
		}
		col += len(f) + 1
	}
	if k != len(r.roles) {
		return Draw{}, r.errorAt(r.line, col-1, ErrFieldCount, "%d fields, the header has %d", k, len(r.roles))
	}
	d.Warmup = r.adapt == nil && r.cfg.SaveWarmup && (r.nWarm < 0 || r.warm < r.nWarm)
	if d.Warmup {
		r.warm++
		return d, nil
	}
	r.draws++
	if r.nDraw >= 0 && r.draws > r.nDraw {
		return Draw{}, r.errorAt(r.line, 1, ErrDrawCount, "more than the %d draws of num_samples = %d and thin = %d",
			r.nDraw, r.cfg.NumSamples, r.cfg.Thin)
	}
	return d, nil
}

// field parses field k of a row into d.
func (r *Reader) field(d *Draw, k int, f string, col int) error {
	x, err := parseValue(f)
	if err != nil {
		return r.errorAt(r.line, col, ErrNumber, "%s: invalid number %q", r.hdr.Columns[k], f)
	}
	integer := func(max float64) (int, error) {
		if x != math.Trunc(x) || x < 0 || x > max {
			return 0, r.errorAt(r.line, col, ErrNumber, "%s: %q is not an integer in [0, %g]", r.hdr.Columns[k], f, max)
		}
		return int(x), nil
	}
	switch r.roles[k] {
	case roleParam:
		d.Values = append(d.Values, x)
	case roleLP:
		d.LogDensity = x
	case roleAccept:
		d.Info.AcceptStat = x
	case roleStepSize:
		d.Info.StepSize = x
	case roleTreeDepth:
		d.Info.TreeDepth, err = integer(math.MaxInt32)
	case roleLeapfrog:
		d.Info.NumSteps, err = integer(math.MaxInt32)
	case roleDivergent:
		var v int
		v, err = integer(1)
		d.Info.Divergent = v == 1
	case roleEnergy:
		d.Info.Energy = x
	}
	return err
}

var errNotNumber = errors.New("not a number")

// parseValue parses a field: a decimal number, or nan, inf or -inf with an
// optional sign, in any case, as C++ streams, Python and R write them.
func parseValue(s string) (float64, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "nan", "-nan", "+nan":
		return math.NaN(), nil
	case "inf", "+inf", "infinity", "+infinity":
		return math.Inf(1), nil
	case "-inf", "-infinity":
		return math.Inf(-1), nil
	}
	x, err := text.ParseDecimal(s)
	if err != nil {
		return 0, errNotNumber
	}
	return x, nil
}
