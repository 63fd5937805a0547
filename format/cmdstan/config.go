package cmdstan

import (
	"errors"
	"math"
	"strings"
	"time"

	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/mcmc"

	"github.com/canopy-bffg/canopy/format/internal/text"
)

// ParseError is the error type of the Reader: the file, line and column of a
// problem and what it was.
type ParseError = format.ParseError

// Errors wrapped by the errors of this package. The Reader returns them inside a
// *ParseError; the Writer returns them directly.
var (
	ErrNoHeader   = errors.New("no column header")
	ErrColumn     = errors.New("invalid column name")
	ErrSetting    = errors.New("invalid setting")
	ErrNotSample  = errors.New("not the output of method = sample")
	ErrFieldCount = errors.New("wrong number of fields")
	ErrNumber     = errors.New("invalid number")
	ErrAdaptation = errors.New("invalid adaptation block")
	ErrTiming     = errors.New("invalid timing block")
	ErrDrawCount  = errors.New("wrong number of draws")
	ErrConfig     = errors.New("invalid configuration")
	ErrMetric     = errors.New("invalid inverse metric")
)

func errorf(kind error, format string, args ...any) error {
	return text.Errorf(kind, format, args...)
}

// The values of the metric setting: the kinds of inverse metric of Stan's HMC.
const (
	UnitMetric  = "unit_e"
	DiagMetric  = "diag_e"
	DenseMetric = "dense_e"
)

// stanVersion is the CmdStan release whose output format the Writer follows.
// CmdStan 2.35 started writing boolean settings as false/true, which rstan's
// reader and ArviZ 0.x cannot read, so canopy keeps the format of 2.33 with 0/1.
var stanVersion = [3]int{2, 33, 0}

// Config is the run configuration recorded in the comment lines before the column
// header: the settings of CmdStan's sample method that readers look at. The
// Writer writes every field; the Reader fills every field it finds a setting for
// and leaves the others zero (Thin 1).
type Config struct {
	// StanVersion is stan_version_major, _minor and _patch. DefaultConfig sets
	// 2.33.0, the CmdStan release whose format the Writer follows.
	StanVersion [3]int
	// Model is the model name (model). It is required, and it must be free of
	// white space, '=', ',' and '#'.
	Model string
	// StartTime is start_datetime, written in UTC to the second; the zero time
	// leaves it out.
	StartTime time.Time

	// NumSamples and NumWarmup are the numbers of sampling and warmup iterations
	// (num_samples, num_warmup). With Thin, they fix the number of rows:
	// ⌈NumSamples/Thin⌉ draws, preceded by ⌈NumWarmup/Thin⌉ warmup draws if
	// SaveWarmup is set.
	NumSamples, NumWarmup int
	// SaveWarmup is save_warmup, written 0 or 1.
	SaveWarmup bool
	// Thin is thin, at least 1.
	Thin int
	// Adapt are the settings of the adapt section.
	Adapt Adapt

	// Algorithm and Engine are algorithm and engine: "hmc" and "nuts" for every
	// file the Writer writes. The Reader also reports "fixed_param".
	Algorithm, Engine string
	// MaxDepth is max_depth, the NUTS tree depth limit.
	MaxDepth int
	// Metric is metric: UnitMetric, DiagMetric or DenseMetric.
	Metric string
	// StepSize and StepSizeJitter are the initial step size and its jitter
	// (stepsize, stepsize_jitter).
	StepSize, StepSizeJitter float64

	// ID is the chain id (id). CmdStan numbers chains from 1, and cmdstanr needs
	// a different id in every file of a run.
	ID int
	// DataFile is the file setting of the data section; "" leaves the section
	// out.
	DataFile string
	// Init is init, the initialisation (CmdStan's default is "2", uniform on
	// [−2, 2]); "" leaves it out.
	Init string
	// Seed is the seed setting of the random section.
	Seed uint64
	// OutputFile is the file setting of the output section; "" leaves the
	// section out.
	OutputFile string

	// Extra are further top-level settings, written after those above as
	// "# key = value" (with " (Default)" if Default is set; Line is not
	// written). When reading, Extra holds the top-level settings that no field
	// above takes, such as CmdStan's num_threads and stanc_version.
	Extra []Setting
}

// Adapt holds the settings of the adapt section: whether adaptation was on, the
// dual-averaging constants and the window schedule.
type Adapt struct {
	Engaged                        bool
	Gamma, Delta, Kappa, T0        float64
	InitBuffer, TermBuffer, Window int
}

// AdaptFrom returns the adapt settings that describe a: engaged, with a's
// constants and schedule.
func AdaptFrom(a mcmc.Adaptation) Adapt {
	return Adapt{Engaged: true, Gamma: a.Gamma, Delta: a.TargetAccept, Kappa: a.Kappa, T0: a.T0,
		InitBuffer: a.InitBuffer, TermBuffer: a.TermBuffer, Window: a.Window}
}

// DefaultConfig returns CmdStan's defaults for a model: 1000 warmup and 1000
// sampling iterations, warmup not saved, thin 1, adaptation engaged with
// mcmc.DefaultAdaptation's constants (Stan's), NUTS with max_depth 10, a diagonal
// metric, initial step size 1, chain id 1, init "2" and seed 0. The Stan version
// is 2.33.0, the release whose format the Writer follows.
func DefaultConfig(model string) Config {
	return Config{
		StanVersion: stanVersion,
		Model:       model,
		NumSamples:  1000, NumWarmup: 1000, Thin: 1,
		Adapt:     AdaptFrom(mcmc.DefaultAdaptation()),
		Algorithm: "hmc", Engine: "nuts", MaxDepth: 10, Metric: DiagMetric, StepSize: 1,
		ID: 1, Init: "2",
	}
}

// numWarmupDraws and numDraws return the numbers of warmup rows (if saved) and
// sampling rows of a complete file.
func (c *Config) numWarmupDraws() int {
	if !c.SaveWarmup {
		return 0
	}
	return ceilDiv(c.NumWarmup, c.Thin)
}

func (c *Config) numDraws() int { return ceilDiv(c.NumSamples, c.Thin) }

func ceilDiv(a, b int) int {
	if b < 1 {
		b = 1
	}
	return (a + b - 1) / b
}

// Setting is one "key = value" comment line of the header.
type Setting struct {
	// Path is the key preceded by the sections that enclose it, joined by dots,
	// as in "sample.adapt.delta", "data.file" or "model".
	Path string
	// Value is the text after '=', without a trailing "(Default)" and without
	// surrounding blanks.
	Value string
	// Default reports whether the line ended in "(Default)".
	Default bool
	// Line is the 1-based line of the setting, 0 if not read from a file.
	Line int
}

// Key returns the last element of the path.
func (s Setting) Key() string { return s.Path[strings.LastIndexByte(s.Path, '.')+1:] }

// topLevel are the top-level keys and sections that the fields of Config take.
var topLevel = map[string]bool{
	"stan_version_major": true, "stan_version_minor": true, "stan_version_patch": true,
	"model": true, "start_datetime": true, "method": true, "id": true, "init": true,
	"data": true, "random": true, "output": true, "sample": true,
}

const timeLayout = "2006-01-02 15:04:05 UTC"

// check reports the first field of c that the Writer cannot write faithfully.
func (c *Config) check() error {
	bad := func(format string, args ...any) error {
		return errorf(ErrConfig, "cmdstan: "+format, args...)
	}
	if err := checkValue(c.Model, false); err != nil || c.Model == "" {
		return bad("model name %q must be non-empty, without white space, '=', ',' or '#'", c.Model)
	}
	switch {
	case c.StanVersion[0] < 0 || c.StanVersion[1] < 0 || c.StanVersion[2] < 0:
		return bad("negative Stan version %v", c.StanVersion)
	case c.NumSamples < 0 || c.NumWarmup < 0:
		return bad("num_samples %d and num_warmup %d must be non-negative", c.NumSamples, c.NumWarmup)
	case c.Thin < 1:
		return bad("thin %d must be at least 1", c.Thin)
	case c.Algorithm != "hmc" || c.Engine != "nuts":
		return bad("algorithm %q and engine %q: the writer writes only hmc and nuts", c.Algorithm, c.Engine)
	case c.MaxDepth < 1:
		return bad("max_depth %d must be at least 1", c.MaxDepth)
	case c.Metric != UnitMetric && c.Metric != DiagMetric && c.Metric != DenseMetric:
		return bad("metric %q: want unit_e, diag_e or dense_e", c.Metric)
	case !(c.StepSize > 0) || math.IsInf(c.StepSize, 1):
		return bad("stepsize %v must be positive and finite", c.StepSize)
	case !(c.StepSizeJitter >= 0 && c.StepSizeJitter <= 1):
		return bad("stepsize_jitter %v must be in [0, 1]", c.StepSizeJitter)
	case c.ID < 0:
		return bad("id %d must be non-negative", c.ID)
	}
	a := c.Adapt
	for _, x := range []float64{a.Gamma, a.Delta, a.Kappa, a.T0} {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return bad("adapt constants must be finite, got %v", x)
		}
	}
	if a.InitBuffer < 0 || a.TermBuffer < 0 || a.Window < 0 {
		return bad("adapt windows must be non-negative")
	}
	for _, v := range []struct{ key, val string }{{"data file", c.DataFile}, {"init", c.Init}, {"output file", c.OutputFile}} {
		if err := checkValue(v.val, true); err != nil {
			return bad("%s %q: %v", v.key, v.val, err)
		}
	}
	seen := make(map[string]bool)
	for _, s := range c.Extra {
		if !isIdent(s.Path) || topLevel[s.Path] || seen[s.Path] {
			return bad("extra setting %q: want a new top-level key of letters, digits and '_'", s.Path)
		}
		seen[s.Path] = true
		if err := checkValue(s.Value, true); err != nil {
			return bad("extra setting %s = %q: %v", s.Path, s.Value, err)
		}
	}
	return nil
}

// checkValue reports whether s can be written after "key = " and read back
// unchanged by every reader: no control characters, no '=' (cmdstanpy drops such
// lines), no surrounding blanks and no trailing "(Default)". Inner blanks are
// allowed if spaces is set; ',' and '#' are allowed only then too.
func checkValue(s string, spaces bool) error {
	if strings.TrimSpace(s) != s {
		return errors.New("surrounding blanks")
	}
	if strings.HasSuffix(s, "(Default)") {
		return errors.New(`ends in "(Default)"`)
	}
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			return errors.New("control character")
		case r == '=':
			return errors.New("'=' character")
		case !spaces && (r == ' ' || r == ',' || r == '#'):
			return errors.New("white space, ',' or '#'")
		}
	}
	return nil
}

// isIdent reports whether s is a letter or '_' followed by letters, digits and
// '_'.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return false
	}
	return true
}
