package tps_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/canopy-bffg/canopy/format/tps"
)

// FuzzTPS checks that reading never panics and that the specimens read are
// written and read back unchanged.
func FuzzTPS(f *testing.F) {
	f.Add(wings)
	f.Add("LM=2\n1 2\n3 4\nID=a\nLM3=1\n1 2 3\nIMAGE=b.jpg\nSCALE=2\n")
	f.Add("lm=1\n-1 5\ncurves=1\npoints=2\n1 1\nna NaN\nvariables=x y\n")
	f.Fuzz(func(t *testing.T, src string) {
		all, err := tps.NewReader(strings.NewReader(src)).ReadAll()
		var buf bytes.Buffer
		w := tps.NewWriter(&buf)
		for _, s := range all {
			if err := w.Write(s); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		got, err := tps.NewReader(bytes.NewReader(buf.Bytes())).ReadAll()
		if err != nil {
			t.Fatalf("reading back: %v\n%s", err, buf.String())
		}
		if len(got) != len(all) {
			t.Fatalf("%d specimens became %d", len(all), len(got))
		}
		for i, a := range all {
			b := got[i]
			if a.ID != b.ID || a.Image != b.Image || a.Scale != b.Scale || a.Dim != b.Dim {
				t.Fatalf("specimen %d: %+v became %+v", i, a, b)
			}
			samePoints(t, a.Landmarks, b.Landmarks)
			if len(a.Curves) != len(b.Curves) {
				t.Fatalf("specimen %d: %d curves became %d", i, len(a.Curves), len(b.Curves))
			}
			for c := range a.Curves {
				samePoints(t, a.Curves[c], b.Curves[c])
			}
			if len(a.Fields) != len(b.Fields) {
				t.Fatalf("specimen %d: fields %q became %q", i, a.Fields, b.Fields)
			}
			for k := range a.Fields {
				if a.Fields[k] != b.Fields[k] {
					t.Fatalf("specimen %d: fields %q became %q", i, a.Fields, b.Fields)
				}
			}
		}
	})
}

func samePoints(t *testing.T, a, b [][]float64) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d points became %d", len(a), len(b))
	}
	for i := range a {
		for k := range a[i] {
			x, y := a[i][k], b[i][k]
			if math.Float64bits(x) != math.Float64bits(y) && !(math.IsNaN(x) && math.IsNaN(y)) {
				t.Fatalf("point %d: %v became %v", i, a[i], b[i])
			}
		}
	}
}
