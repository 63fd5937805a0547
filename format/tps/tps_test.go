package tps_test

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

	"github.com/canopy-bffg/canopy/format/internal/texttest"
	"github.com/canopy-bffg/canopy/format/tps"
)

var nan = math.NaN()

// equalPoints compares point lists, with NaN equal to NaN.
func equalPoints(t *testing.T, want, got [][]float64, msg string) {
	t.Helper()
	require.Len(t, got, len(want), msg)
	for i := range want {
		require.Len(t, got[i], len(want[i]), "%s: point %d", msg, i)
		for k := range want[i] {
			if math.IsNaN(want[i][k]) {
				assert.True(t, math.IsNaN(got[i][k]), "%s: point %d coordinate %d is %v, want NaN", msg, i, k, got[i][k])
			} else {
				assert.Equal(t, want[i][k], got[i][k], "%s: point %d coordinate %d", msg, i, k)
			}
		}
	}
}

const wings = "LM=4\r\n" +
	"10.5 20.25\r\n" +
	"-1 -1\r\n" +
	"30\t40\r\n" +
	"NA NA\r\n" +
	"CURVES=2\r\n" +
	"POINTS=2\r\n" +
	"12 21\r\n" +
	"14 22\r\n" +
	"points=1\r\n" +
	"  5e-1   -2.5  \r\n" +
	"IMAGE=scans/Anolis_sagrei_01.JPG\r\n" +
	"ID=sagrei\r\n" +
	"SCALE=0.0125\r\n" +
	"COMMENT= left side \r\n" +
	"\r\n" +
	"lm3=2\r\n" +
	"1 2 3\r\n" +
	"4 -5 nan\r\n" +
	"IMAGE=C:\\scans\\carolinensis.tif\r\n" +
	"LM=0\r\n" +
	"ID=empty\r\n"

func TestRead(t *testing.T) {
	r := tps.NewReader(strings.NewReader(wings))
	r.File = "wings.tps"
	all, err := r.ReadAll()
	require.NoError(t, err)
	require.Len(t, all, 3)

	s := all[0]
	assert.Equal(t, "sagrei", s.ID)
	assert.Equal(t, "sagrei", s.Name())
	assert.Equal(t, "scans/Anolis_sagrei_01.JPG", s.Image)
	assert.Equal(t, 0.0125, s.Scale)
	assert.Equal(t, 2, s.Dim)
	assert.Equal(t, 1, s.Line)
	equalPoints(t, [][]float64{{10.5, 20.25}, {nan, nan}, {30, 40}, {nan, nan}}, s.Landmarks, "landmarks")
	require.Len(t, s.Curves, 2)
	equalPoints(t, [][]float64{{12, 21}, {14, 22}}, s.Curves[0], "curve 1")
	equalPoints(t, [][]float64{{0.5, -2.5}}, s.Curves[1], "curve 2")
	assert.Equal(t, []tps.Field{{Key: "COMMENT", Value: "left side"}}, s.Fields)

	s = all[1]
	assert.Equal(t, "", s.ID)
	assert.Equal(t, "carolinensis", s.Name(), "IMAGE without directory and extension")
	assert.Equal(t, 3, s.Dim)
	assert.Equal(t, 17, s.Line)
	assert.Equal(t, 0.0, s.Scale)
	equalPoints(t, [][]float64{{1, 2, 3}, {nan, nan, nan}}, s.Landmarks, "3-D landmarks")
	assert.Nil(t, s.Curves)

	s = all[2]
	assert.Equal(t, "empty", s.Name())
	assert.Empty(t, s.Landmarks)
	assert.Equal(t, 21, s.Line)
}

func TestName(t *testing.T) {
	for image, want := range map[string]string{
		"U._maritimus":         "U._maritimus", // not an image extension
		"dir/Canis_lupus.jpeg": "Canis_lupus",
		"x.Png":                "x",
		"a.b.tiff":             "a.b",
		"":                     "",
	} {
		s := tps.Specimen{Image: image}
		assert.Equal(t, want, s.Name(), image)
	}
}

// A landmark is missing when a coordinate is NA, or all are -1 (tpsDig's mark, which
// NumMarkedMissing counts); a single -1 is a coordinate. NegativeMissing marks every
// landmark with a negative coordinate.
func TestMissingOptions(t *testing.T) {
	const src = "LM=4\n-1 -1\n-2 3\n1 -1\nNA 2\nSCALE=2\n"
	read := func(set func(r *tps.Reader)) ([][]float64, int) {
		r := tps.NewReader(strings.NewReader(src))
		set(r)
		s, err := r.Read()
		require.NoError(t, err)
		return s.Landmarks, r.NumMarkedMissing
	}
	for _, tc := range []struct {
		name   string
		set    func(*tps.Reader)
		want   [][]float64
		marked int
	}{
		{"default: -1 -1 is missing", func(*tps.Reader) {}, [][]float64{{nan, nan}, {-2, 3}, {1, -1}, {nan, nan}}, 1},
		{"rule off", func(r *tps.Reader) { r.MissingValue = math.NaN() }, [][]float64{{-1, -1}, {-2, 3}, {1, -1}, {nan, nan}}, 0},
		{"negatives", func(r *tps.Reader) { r.NegativeMissing = true }, [][]float64{{nan, nan}, {nan, nan}, {nan, nan}, {nan, nan}}, 3},
		{"scaled", func(r *tps.Reader) { r.ApplyScale = true }, [][]float64{{nan, nan}, {-4, 6}, {2, -2}, {nan, nan}}, 1},
	} {
		got, marked := read(tc.set)
		equalPoints(t, tc.want, got, tc.name)
		assert.Equal(t, tc.marked, marked, tc.name)
	}
}

func TestApplyScaleNeedsScale(t *testing.T) {
	r := tps.NewReader(strings.NewReader("LM=1\n1 2\nSCALE=0.5\nLM=1\n3 4\nID=b\n"))
	r.File = "x.tps"
	r.ApplyScale = true
	s, err := r.Read()
	require.NoError(t, err)
	assert.Equal(t, [][]float64{{0.5, 1}}, s.Landmarks)
	_, err = r.Read()
	assert.EqualError(t, err, "x.tps:4:1: specimen 'b' has no SCALE= line, and scales are to be applied")
	assert.ErrorIs(t, err, tps.ErrNoScale)
	_, err2 := r.Read()
	assert.Equal(t, err, err2, "errors stick")
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, msg string
		kind           error
	}{
		{"key before LM", "∑ID=a\nLM=1\n1 2\n", `expected LM= or LM3= to start a specimen, found "ID=a"`, tps.ErrSyntax},
		{"bad count", "LM=∑-3\n", `LM= must be a count, found "-3"`, tps.ErrSyntax},
		{"too few landmarks", "LM=3\n1 2\n3 4\n∑ID=x\n", `LM=3 at line 1 announces 3 points, but "ID=x" follows 2`, tps.ErrCount},
		{"file ends", "LM=3\n1 2\n\n3 4\n∑", "LM=3 at line 1 announces 3 points, but the file ends after 2", tps.ErrCount},
		{"too many landmarks", "LM=1\n1 2\n∑3 4\nID=x\n", `expected KEY=value or LM=, found "3 4" (more coordinate lines than the 1 announced by LM= at line 1?)`, tps.ErrSyntax},
		{"one coordinate", "LM=1\n∑1\n", "1 coordinates on a line, want 2", tps.ErrCount},
		{"three coordinates in 2-D", "LM=1\n1 2 ∑3\n", "3 coordinates on a line, want 2", tps.ErrCount},
		{"two coordinates in 3-D", "LM3=1\n∑1 2\n", "2 coordinates on a line, want 3", tps.ErrCount},
		{"decimal comma", "LM=1\n1 ∑2,5\n", `invalid coordinate "2,5"`, tps.ErrNumber},
		{"infinite", "LM=1\n∑Inf 2\n", `invalid coordinate "Inf": infinite values are not allowed`, tps.ErrNumber},
		{"duplicate ID", "LM=1\n1 2\nID=a\nIMAGE=a.jpg\n∑ID=b\n", "duplicate ID= (first at line 3)", tps.ErrDuplicateKey},
		{"bad scale", "LM=1\n1 2\nSCALE= ∑0\n", `SCALE must be a positive number, found "0"`, tps.ErrNumber},
		{"missing POINTS", "LM=1\n1 2\nCURVES=2\nPOINTS=1\n3 4\n∑ID=a\n", `expected POINTS= for curve 2 of the 2 announced by CURVES= at line 3, found "ID=a"`, tps.ErrSyntax},
		{"curves at the end", "LM=1\n1 2\nCURVES=1\n∑", `expected POINTS= for curve 1 of the 1 announced by CURVES= at line 3, found end of file`, tps.ErrSyntax},
		{"stray POINTS", "LM=1\n1 2\n∑POINTS=3\n", "POINTS= outside a CURVES= block", tps.ErrSyntax},
		{"control character", "LM=1\n1 2\nCOMMENT=a\x00b\n", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.msg == "" {
				_, err := tps.NewReader(strings.NewReader(tc.src)).ReadAll()
				assert.EqualError(t, err, `3:9: COMMENT= value: control character`)
				return
			}
			src, line, col := texttest.Mark(tc.src)
			r := tps.NewReader(strings.NewReader(src))
			r.File = "lm.tps"
			_, err := r.ReadAll()
			var pe *tps.ParseError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, "lm.tps", pe.File)
			assert.Equal(t, line, pe.Line, "line")
			assert.Equal(t, col, pe.Column, "column")
			assert.Equal(t, tc.msg, pe.Err.Error())
			assert.Equal(t, fmt.Sprintf("lm.tps:%d:%d: %s", line, col, tc.msg), err.Error())
			assert.ErrorIs(t, err, tc.kind)
		})
	}
}

func TestWriteRoundTrip(t *testing.T) {
	in := []*tps.Specimen{
		{ID: "sagrei", Image: "sagrei.jpg", Scale: 0.0125, Dim: 2,
			Landmarks: [][]float64{{10.5, 20.25}, {nan, 3}, {-0.5, 1e-9}},
			Curves:    [][][]float64{{{1, 2}, {3, 4}}, {}},
			Fields:    []tps.Field{{Key: "COMMENT", Value: "left = side"}, {Key: "VARIABLES", Value: "svl"}}},
		{ID: "carolinensis", Dim: 3, Landmarks: [][]float64{{1, 2, 3}}},
	}
	var buf bytes.Buffer
	w := tps.NewWriter(&buf)
	for _, s := range in {
		require.NoError(t, w.Write(s))
	}
	require.NoError(t, w.Flush())
	assert.Equal(t, `LM=3
10.5 20.25
NA NA
-0.5 1e-09
CURVES=2
POINTS=2
1 2
3 4
POINTS=0
IMAGE=sagrei.jpg
ID=sagrei
SCALE=0.0125
COMMENT=left = side
VARIABLES=svl
LM3=1
1 2 3
ID=carolinensis
`, buf.String())
	out, err := tps.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, out, 2)
	equalPoints(t, [][]float64{{10.5, 20.25}, {nan, nan}, {-0.5, 1e-9}}, out[0].Landmarks, "landmarks")
	assert.Equal(t, [][][]float64{{{1, 2}, {3, 4}}, {}}, out[0].Curves)
	assert.Equal(t, in[0].Fields, out[0].Fields)
	assert.Equal(t, "sagrei.jpg", out[0].Image)
	assert.Equal(t, 0.0125, out[0].Scale)
	assert.Equal(t, 15, out[1].Line)
	assert.Equal(t, in[1].Landmarks, out[1].Landmarks)
}

func TestWriteErrors(t *testing.T) {
	for _, tc := range []struct {
		s   tps.Specimen
		msg string
	}{
		{tps.Specimen{ID: "a", Dim: 4}, "tps: specimen 'a' has dimension 4, want 2 or 3"},
		{tps.Specimen{ID: "a", Dim: 2, Landmarks: [][]float64{{1, 2, 3}}}, "tps: specimen 'a': point 0 has 3 coordinates, want 2"},
		{tps.Specimen{ID: "a", Dim: 2, Landmarks: [][]float64{{1, math.Inf(-1)}}}, "tps: specimen 'a': point 0 is infinite"},
		{tps.Specimen{ID: "a", Dim: 2, Scale: -1}, "tps: specimen 'a': invalid scale -1"},
		{tps.Specimen{ID: "a\nLM=3", Dim: 2}, `tps: ID "a\nLM=3": control character`},
		{tps.Specimen{ID: " a", Dim: 2}, "tps: ID ' a' has leading or trailing blanks"},
		{tps.Specimen{Dim: 2, Fields: []tps.Field{{Key: "ID", Value: "x"}}}, "tps: field ID= is reserved"},
		{tps.Specimen{Dim: 2, Fields: []tps.Field{{Key: "comment", Value: "x"}}}, `tps: invalid key "comment": want upper-case letters, digits and _`},
	} {
		var buf bytes.Buffer
		w := tps.NewWriter(&buf)
		assert.EqualError(t, w.Write(&tc.s), tc.msg)
		require.NoError(t, w.Flush())
		assert.Zero(t, buf.Len(), "nothing written")
	}
}

func TestReadCSV(t *testing.T) {
	const two = "taxon,x1,y1,x2,y2\n# aligned\nsagrei,0.1,-0.3,0.08,0.27\ncarolinensis,0.2,NA,,0.5\n"
	sp, err := tps.ReadCSV(strings.NewReader(two), "lm.csv", 0)
	require.NoError(t, err)
	require.Len(t, sp, 2)
	assert.Equal(t, "sagrei", sp[0].ID)
	assert.Equal(t, 2, sp[0].Dim)
	assert.Equal(t, 3, sp[0].Line)
	assert.Equal(t, [][]float64{{0.1, -0.3}, {0.08, 0.27}}, sp[0].Landmarks)
	equalPoints(t, [][]float64{{nan, nan}, {nan, nan}}, sp[1].Landmarks, "missing")

	const three = "taxon,X_1,Y_1,Z_1\na,1,2,3\n"
	sp, err = tps.ReadCSV(strings.NewReader(three), "lm.csv", 0)
	require.NoError(t, err)
	assert.Equal(t, 3, sp[0].Dim)
	assert.Equal(t, [][]float64{{1, 2, 3}}, sp[0].Landmarks)

	const plain = "taxon,a,b,c,d,e,f\nsp,1,2,3,4,5,6\n"
	sp, err = tps.ReadCSV(strings.NewReader(plain), "lm.csv", 3)
	require.NoError(t, err)
	assert.Equal(t, [][]float64{{1, 2, 3}, {4, 5, 6}}, sp[0].Landmarks)
	sp, err = tps.ReadCSV(strings.NewReader(plain), "lm.csv", 2)
	require.NoError(t, err)
	assert.Len(t, sp[0].Landmarks, 3)

	_, err = tps.ReadCSV(strings.NewReader(plain), "lm.csv", 0)
	assert.EqualError(t, err, "lm.csv:1: cannot tell 2-D from 3-D landmarks: want coordinate columns named x1,y1,... or x1,y1,z1,..., found a,b,c,d,e,f")
	_, err = tps.ReadCSV(strings.NewReader("# c\ntaxon,x1,y1,x2\n"), "lm.csv", 0)
	assert.EqualError(t, err, "lm.csv:2: 3 coordinate columns is not a multiple of 2")
	_, err = tps.ReadCSV(strings.NewReader("taxon,x1,y1,x2,z2\n"), "lm.csv", 0)
	assert.EqualError(t, err, `lm.csv:1: column 5 is "z2", want a name starting with y for 2-D landmarks`)
	_, err = tps.ReadCSV(strings.NewReader("taxon,x1,y1\na,1,b\n"), "lm.csv", 0)
	assert.EqualError(t, err, `lm.csv:2:5: trait 'y1' of 'a': invalid number "b"`)
	assert.Panics(t, func() { tps.ReadCSV(strings.NewReader(plain), "", 4) })
}

func TestReadFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "a.tps")
	require.NoError(t, os.WriteFile(name, []byte("LM=1\n1 2\nID=a\nLM=1\n3\n"), 0o644))
	all, err := tps.ReadFile(name)
	assert.EqualError(t, err, name+":5:1: 1 coordinates on a line, want 2")
	require.Len(t, all, 1, "the specimens before the error")
	assert.Equal(t, "a", all[0].ID)
	_, err = tps.ReadFile(filepath.Join(t.TempDir(), "none.tps"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = tps.NewReader(strings.NewReader("")).Read()
	assert.Equal(t, io.EOF, err)
}
