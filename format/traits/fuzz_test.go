package traits_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/canopy-bffg/canopy/format/traits"
)

// FuzzTraits checks that reading never panics, that every error carries a
// position, and that a table read without errors is written and read back to the
// same traits, taxa and values.
func FuzzTraits(f *testing.F) {
	f.Add("taxon,size,range\nPuma_concolor,37.01,36\nPanthera_onca, 88.0 ,NA\nLynx_rufus,,4.3\n")
	f.Add("\ufeffsp,\"a,b\",c\n# comment\n\"#x\",1e-3,-2\n\"q\"\"t\",NA,\n")
	f.Add("taxon,a\nx,nan\ny,inf\nx,1\n")
	f.Add("taxon\nonly\nnames\n")
	f.Fuzz(func(t *testing.T, src string) {
		tb, err := traits.Read(strings.NewReader(src), "f.csv")
		if err != nil {
			if tb != nil && len(tb.Taxa) != len(tb.Values) {
				t.Fatalf("partial table has %d taxa and %d rows", len(tb.Taxa), len(tb.Values))
			}
			return
		}
		var buf bytes.Buffer
		if err := traits.Write(&buf, tb); err != nil {
			t.Fatalf("Write: %v", err)
		}
		got, err := traits.Read(bytes.NewReader(buf.Bytes()), "g.csv")
		if err != nil {
			t.Fatalf("reading back: %v\n%s", err, buf.String())
		}
		if strings.Join(got.Traits, "\x00") != strings.Join(tb.Traits, "\x00") || len(got.Traits) != len(tb.Traits) {
			t.Fatalf("traits %q became %q", tb.Traits, got.Traits)
		}
		if strings.Join(got.Taxa, "\x00") != strings.Join(tb.Taxa, "\x00") || len(got.Taxa) != len(tb.Taxa) {
			t.Fatalf("taxa %q became %q", tb.Taxa, got.Taxa)
		}
		for i := range tb.Values {
			for j, x := range tb.Values[i] {
				y := got.Values[i][j]
				if math.Float64bits(x) != math.Float64bits(y) && !(math.IsNaN(x) && math.IsNaN(y)) {
					t.Fatalf("value %d,%d: %v became %v", i, j, x, y)
				}
			}
		}
	})
}
