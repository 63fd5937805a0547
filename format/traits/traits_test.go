package traits_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/internal/texttest"
	"github.com/canopy-bffg/canopy/format/traits"
)

var nan = math.NaN()

// equalValues compares value tables, with NaN equal to NaN.
func equalValues(t *testing.T, want, got [][]float64) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		require.Len(t, got[i], len(want[i]), "row %d", i)
		for j := range want[i] {
			if math.IsNaN(want[i][j]) {
				assert.True(t, math.IsNaN(got[i][j]), "row %d, column %d: got %v, want NaN", i, j, got[i][j])
			} else {
				assert.Equal(t, want[i][j], got[i][j], "row %d, column %d", i, j)
			}
		}
	}
}

func TestRead(t *testing.T) {
	const src = "\ufefftaxon , size,range,\"log mass\"\n" +
		"# a comment line\n" +
		"Puma_concolor,37.01,36,1.5e-3\n" +
		"\n" +
		"  Panthera_onca , 88.0 ,NA, -2\r\n" +
		"\"Lynx rufus, the bobcat\",,4.3,+.5\n" +
		"   \n" +
		"Vulpes_vulpes,NA,NA,NA\n"
	tb, err := traits.Read(strings.NewReader(src), "t.csv")
	require.NoError(t, err)
	assert.Equal(t, []string{"size", "range", "log mass"}, tb.Traits)
	assert.Equal(t, []string{"Puma_concolor", "Panthera_onca", "Lynx rufus, the bobcat", "Vulpes_vulpes"}, tb.Taxa)
	assert.Equal(t, []int{3, 5, 6, 8}, tb.Lines)
	equalValues(t, [][]float64{
		{37.01, 36, 0.0015},
		{88, nan, -2},
		{nan, 4.3, 0.5},
		{nan, nan, nan},
	}, tb.Values)
	assert.Equal(t, 1, tb.Index("range"))
	assert.Equal(t, -1, tb.Index("mass"))
}

func TestReaderStreams(t *testing.T) {
	r := traits.NewReader(strings.NewReader("# header follows\nsp,a,b\nx,1,2\ny,1\nz,3,4\n"))
	h, err := r.Header()
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b"}, h)
	assert.Equal(t, 2, r.HeaderLine())
	row, err := r.Read()
	require.NoError(t, err)
	assert.Equal(t, &traits.Row{Taxon: "x", Values: []float64{1, 2}, Line: 3}, row)
	_, err = r.Read()
	assert.ErrorIs(t, err, traits.ErrFieldCount, "a bad row")
	row, err = r.Read()
	require.NoError(t, err, "reading goes on after a bad row")
	assert.Equal(t, "z", row.Taxon)
	_, err = r.Read()
	assert.Equal(t, io.EOF, err)
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, msg string
		kind           error
	}{
		{"word", "taxon,a,b\nx,1,∑abc\n", `trait 'b' of 'x': invalid number "abc"`, traits.ErrNumber},
		{"nan", "taxon,a\nx,∑nan\n", `trait 'a' of 'x': invalid number "nan"; write NA or leave the cell empty for a missing value`, traits.ErrNumber},
		{"NaN", "taxon,a\nx, ∑NaN\n", `trait 'a' of 'x': invalid number "NaN"; write NA or leave the cell empty for a missing value`, traits.ErrNumber},
		{"inf", "taxon,a\nx,∑-Inf\n", `trait 'a' of 'x': invalid number "-Inf": infinite values are not allowed`, traits.ErrNumber},
		{"overflow", "taxon,a\nx,∑1e999\n", `trait 'a' of 'x': invalid number "1e999": out of the float64 range`, traits.ErrNumber},
		{"hex", "taxon,a\nx,∑0x1p-2\n", `trait 'a' of 'x': invalid number "0x1p-2"`, traits.ErrNumber},
		{"decimal comma", "taxon,a\nx,∑\"1,5\"\n", `trait 'a' of 'x': invalid number "1,5"`, traits.ErrNumber},
		{"lower-case na", "taxon,a\nx,∑na\n", `trait 'a' of 'x': invalid number "na"`, traits.ErrNumber},
		{"duplicate taxon", "taxon,a\nx,1\ny,2\n∑x,3\n", "duplicate taxon 'x' (first at line 2)", traits.ErrDuplicateTaxon},
		{"duplicate trait", "taxon,a,b,∑a\n", "duplicate trait 'a' (first at column 7)", traits.ErrDuplicateTrait},
		{"empty trait", "taxon,a,∑,b\n", "empty trait name in header field 3", traits.ErrName},
		{"too many fields", "taxon,a,b\nx,1,2,∑3\n", "row has 4 fields, the header has 3", traits.ErrFieldCount},
		{"too few fields", "taxon,a,b\nx,∑1\n", "row has 2 fields, the header has 3", traits.ErrFieldCount},
		{"empty taxon", "taxon,a\n∑,1\n", "empty taxon name", traits.ErrName},
		{"control character", "taxon,a\n∑x\by,1\n", `invalid taxon name "x\by": control character`, traits.ErrName},
		{"bare quote", "taxon,a\nx∑\"y,1\n", `bare " in non-quoted-field`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, line, col := texttest.Mark(tc.src)
			_, err := traits.Read(strings.NewReader(src), "traits.csv")
			var pe *traits.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "traits.csv", pe.File)
			assert.Equal(t, line, pe.Line, "line")
			assert.Equal(t, col, pe.Column, "column")
			assert.Equal(t, tc.msg, pe.Err.Error())
			assert.Equal(t, fmt.Sprintf("traits.csv:%d:%d: %s", line, col, tc.msg), err.Error())
			if tc.kind != nil {
				assert.ErrorIs(t, err, tc.kind)
			}
		})
	}
}

func TestNoHeader(t *testing.T) {
	for _, src := range []string{"", "\ufeff", "# only a comment\n", "\n  \n"} {
		_, err := traits.Read(strings.NewReader(src), "traits.csv")
		assert.EqualError(t, err, "traits.csv: no header line: the file has no records; want a header such as taxon,trait1,trait2", "%q", src)
		assert.ErrorIs(t, err, traits.ErrNoHeader)
	}
}

func TestReadAllReportsEveryRow(t *testing.T) {
	const src = "taxon,a,b\nx,1,oops\ny,2,3\nz,NaN\nx,4,5\nw,6,7\n"
	tb, err := traits.Read(strings.NewReader(src), "t.csv")
	require.Error(t, err)
	var list format.ErrorList
	require.ErrorAs(t, err, &list)
	var lines []string
	for _, e := range list {
		lines = append(lines, e.Error())
	}
	assert.Equal(t, []string{
		`t.csv:2:5: trait 'b' of 'x': invalid number "oops"`,
		`t.csv:4:3: row has 2 fields, the header has 3`,
		`t.csv:5:1: duplicate taxon 'x' (first at line 2)`,
	}, lines, "a row with a bad value still claims its taxon")
	assert.Equal(t, `t.csv:2:5: trait 'b' of 'x': invalid number "oops" (and 2 more errors)`, err.Error())
	assert.ErrorIs(t, err, traits.ErrDuplicateTaxon)
	assert.Equal(t, []string{"y", "w"}, tb.Taxa, "the good rows")
}

func TestWriteRoundTrip(t *testing.T) {
	in := &traits.Table{
		Traits: []string{"size", "log,mass", `say "hi"`, "#4"},
		Taxa:   []string{"Puma_concolor", "#hash", "Lynx rufus", "a,b"},
		Values: [][]float64{
			{37.01, math.Copysign(0, -1), 1e-300, math.MaxFloat64},
			{nan, 2, 3, 4},
			{0.1, nan, nan, nan},
			{5e-324, -1, 1, 123456789.125},
		},
	}
	var buf bytes.Buffer
	require.NoError(t, traits.Write(&buf, in))
	assert.Equal(t, "taxon,size,\"log,mass\",\"say \"\"hi\"\"\",\"#4\"\n"+
		"Puma_concolor,37.01,-0,1e-300,1.7976931348623157e+308\n"+
		"\"#hash\",NA,2,3,4\n"+
		"Lynx rufus,0.1,NA,NA,NA\n"+
		"\"a,b\",5e-324,-1,1,1.23456789125e+08\n", buf.String())
	out, err := traits.Read(&buf, "")
	require.NoError(t, err)
	assert.Equal(t, in.Traits, out.Traits)
	assert.Equal(t, in.Taxa, out.Taxa)
	assert.Equal(t, []int{2, 3, 4, 5}, out.Lines)
	equalValues(t, in.Values, out.Values)
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		tb  traits.Table
		msg string
	}{
		{traits.Table{Traits: []string{"a"}, Taxa: []string{"x"}, Values: [][]float64{{math.Inf(1)}}}, "traits: trait 'a' of 'x' is infinite"},
		{traits.Table{Traits: []string{"a"}, Taxa: []string{"x", "x"}, Values: [][]float64{{1}, {2}}}, "traits: duplicate taxon 'x'"},
		{traits.Table{Traits: []string{"a", "a"}}, "traits: duplicate trait 'a'"},
		{traits.Table{Traits: []string{"a"}, Taxa: []string{"x"}, Values: [][]float64{{1, 2}}}, "traits: taxon 'x' has 2 values for 1 traits"},
		{traits.Table{Traits: []string{"a"}, Taxa: []string{"x"}}, "traits: 0 rows of values for 1 taxa"},
		{traits.Table{Traits: []string{" a"}}, "traits: trait name ' a' has leading or trailing blanks"},
		{traits.Table{Taxa: []string{""}, Values: [][]float64{{}}}, "traits: empty taxon name"},
		{traits.Table{Taxa: []string{"a\nb"}, Values: [][]float64{{}}}, `traits: taxon name "a\nb": control character`},
	} {
		var buf bytes.Buffer
		assert.EqualError(t, traits.Write(&buf, &tc.tb), tc.msg)
		assert.Zero(t, buf.Len(), "nothing written")
	}
}

func TestDatasets(t *testing.T) {
	for _, tc := range []struct {
		dir    string
		traits []string
		rows   int
		first  []float64
	}{
		{"dinizfilho2002_carnivora", []string{"size", "range"}, 70, []float64{37.01, 36}},
		{"garland1992_mammals", []string{"bodyMass", "homeRange"}, 49, []float64{265, 115.6}},
		{"mahler2010_anoles", []string{"SVL", "HL", "HLL", "FLL", "LAM", "TL"}, 82, []float64{4.03913, 2.88266, 3.96202, 3.34498, 2.8662, 4.504}},
	} {
		tb, err := traits.ReadFile(filepath.Join("..", "testdata", tc.dir, "traits.csv"))
		require.NoError(t, err, tc.dir)
		assert.Equal(t, tc.traits, tb.Traits, tc.dir)
		assert.Len(t, tb.Taxa, tc.rows, tc.dir)
		assert.Equal(t, tc.first, tb.Values[0], tc.dir)
		assert.Equal(t, 2, tb.Lines[0])
		assert.Equal(t, tc.rows+1, tb.Lines[tc.rows-1])
	}
	// The ecomorph table is categorical: every row is reported.
	_, err := traits.ReadFile(filepath.Join("..", "testdata", "mahler2010_anoles", "tip_states.csv"))
	var list format.ErrorList
	require.ErrorAs(t, err, &list)
	assert.Len(t, list, 82)
	assert.Equal(t, filepath.Join("..", "testdata", "mahler2010_anoles", "tip_states.csv")+`:2:6: trait 'ecomorph' of 'ahli': invalid number "TG"`, list[0].Error())
	_, err = traits.ReadFile("no-such-file.csv")
	assert.ErrorIs(t, err, os.ErrNotExist)
}
