package cmdstan_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/canopy-bffg/canopy/format/cmdstan"
)

// FuzzReader checks that reading never panics, that every data error carries a
// line, and that a file read without error whose configuration and names the
// Writer accepts is written and read back to the same draws.
func FuzzReader(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.csv"))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(valid)
	f.Add(edit(6, "#     save_warmup = 0"))
	f.Add("lp__,x\n1,2\n")
	f.Fuzz(func(t *testing.T, src string) {
		file, err := cmdstan.NewReader(strings.NewReader(src)).ReadAll()
		if err != nil {
			var pe *cmdstan.ParseError
			if !errors.As(err, &pe) || pe.Line < 1 {
				t.Fatalf("error without a line: %v", err)
			}
			return
		}
		cfg := file.Config
		if _, ok := file.Setting("num_samples"); !ok {
			return // the Writer needs the numbers of draws
		}
		if _, ok := file.Setting("num_warmup"); !ok && cfg.SaveWarmup {
			return
		}
		var buf bytes.Buffer
		w, err := cmdstan.NewWriter(&buf, cfg, file.Names)
		if err != nil {
			return // not every file read can be written, e.g. fixed_param ones
		}
		for i := range file.Warmup.Len() {
			if err := w.Write(file.Warmup.LogDensity[i], file.Warmup.Info[i], file.Warmup.Draw(i)); err != nil {
				t.Fatalf("writing warmup draw %d: %v", i, err)
			}
		}
		if a := file.Adaptation; a != nil {
			p, err := a.Params()
			if err != nil {
				return
			}
			if cfg.Metric == cmdstan.UnitMetric {
				p.Metric = nil
			}
			if err := w.EndWarmup(p); err != nil {
				if errors.Is(err, cmdstan.ErrMetric) {
					return // for example a unit_e file whose metric is not the identity
				}
				t.Fatalf("EndWarmup: %v", err)
			}
		} else if file.Sample.Len() > 0 || file.Timing != nil {
			return
		}
		for i := range file.Sample.Len() {
			if err := w.Write(file.Sample.LogDensity[i], file.Sample.Info[i], file.Sample.Draw(i)); err != nil {
				t.Fatalf("writing draw %d: %v", i, err)
			}
		}
		if tm := file.Timing; tm != nil {
			if err := w.Finish(tm.Warmup, tm.Sampling); err != nil {
				t.Fatalf("Finish: %v", err)
			}
		} else if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		again, err := cmdstan.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("reading back: %v\n%s", err, buf.String())
		}
		checkTrace(t, "warmup", &file.Warmup, &again.Warmup)
		checkTrace(t, "sample", &file.Sample, &again.Sample)
		if (file.Adaptation == nil) != (again.Adaptation == nil) || (file.Timing == nil) != (again.Timing == nil) {
			t.Fatalf("blocks: adaptation %v → %v, timing %v → %v", file.Adaptation, again.Adaptation, file.Timing, again.Timing)
		}
	})
}
