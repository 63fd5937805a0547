// Package tps reads and writes landmark coordinates in TPS files, the format of
// F. James Rohlf's tpsDig and of geomorph's readland.tps, and reads them from CSV.
//
// # TPS format
//
// A TPS file is a sequence of specimens. Each starts with LM=n (2-D) or LM3=n
// (3-D), followed by n lines of 2 or 3 coordinates separated by blanks, and then
// KEY=value lines that describe it:
//
//	LM=3
//	10.5 20.25
//	-1 -1
//	30 40
//	CURVES=1
//	POINTS=2
//	12 21
//	14 22
//	IMAGE=Anolis_sagrei_01.jpg
//	ID=sagrei
//	SCALE=0.0125
//
// Keys are case-insensitive; blanks around keys and values, blank lines and CRLF
// line ends are ignored. ID= names the specimen (Specimen.Name falls back on the
// IMAGE= file name without its directory and image extension). SCALE= is the
// length of one coordinate unit, in mm per pixel for digitised images. CURVES=k is
// followed by k blocks of POINTS=m and m coordinate lines, the semilandmarks of
// tpsDig's curves, kept apart from the fixed landmarks in Specimen.Curves. Other
// keys (COMMENT=, VARIABLES=, ...) are kept in Specimen.Fields.
//
// # Missing landmarks
//
// tpsDig2 (from version 2.18) writes a missing landmark as -1 -1, and other tools
// write NA. By default a landmark is missing when any of its coordinates is NA or
// NaN (in any case) or all of them equal Reader.MissingValue, which is -1: a single
// -1, common in centred or aligned shapes, is a coordinate. Reader.NumMarkedMissing
// counts the landmarks that rule has marked, so that a caller can say so. Set
// MissingValue to NaN to turn the rule off, or set Reader.NegativeMissing to treat
// every negative coordinate as missing, as geomorph's negNA option does. All
// coordinates of a missing landmark are NaN in the result.
//
// # Scale
//
// Coordinates are returned as written, in the file's units, unless
// Reader.ApplyScale is set: then each specimen's coordinates are multiplied by its
// SCALE, and a specimen without SCALE= is an error rather than being silently left
// in other units (geomorph instead ignores all scales unless every specimen has
// one).
//
// # CSV
//
// ReadCSV reads landmarks stored one specimen per row, as in
//
//	taxon,x1,y1,x2,y2
//	Anolis_sagrei,0.12,-0.31,0.08,0.27
//
// with the rules of package traits: NA or an empty cell is a missing coordinate,
// and a landmark with any missing coordinate is missing.
//
// # Errors
//
// Errors are *ParseError values (an alias of format.ParseError) with the file,
// line and column, such as
//
//	wings.tps:14:7: invalid coordinate "1,5"
package tps

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/internal/text"
)

// ParseError is the error type of this package: the file, line and column of a
// problem and what it was.
type ParseError = format.ParseError

// Errors wrapped by the ParseError values this package returns.
var (
	ErrSyntax       = errors.New("syntax error")
	ErrCount        = errors.New("wrong number of coordinates")
	ErrNumber       = errors.New("invalid number")
	ErrDuplicateKey = errors.New("duplicate key")
	ErrNoScale      = errors.New("missing SCALE")
)

// Specimen is one specimen of a TPS file.
type Specimen struct {
	ID        string
	Image     string
	Scale     float64       // SCALE=, or 0 when there is none
	Dim       int           // 2 or 3
	Landmarks [][]float64   // n × Dim, NaN where missing
	Curves    [][][]float64 // semilandmarks: one n × Dim slice per curve
	Fields    []Field       // other KEY=value lines, in file order
	Line      int           // 1-based line of LM= (or of the row, for CSV)
}

// Field is a KEY=value line other than LM, LM3, ID, IMAGE, SCALE and CURVES.
type Field struct {
	Key   string // upper case
	Value string
}

var imageExt = map[string]bool{
	".jpg": true, ".jpeg": true, ".png": true, ".tif": true, ".tiff": true,
	".bmp": true, ".gif": true,
}

// Name returns the specimen's ID, or, when it has none, its IMAGE file name
// without directory and without an image extension (.jpg, .jpeg, .png, .tif,
// .tiff, .bmp or .gif, in any case).
func (s *Specimen) Name() string {
	if s.ID != "" {
		return s.ID
	}
	name := s.Image
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if ext := path.Ext(name); imageExt[strings.ToLower(ext)] {
		name = name[:len(name)-len(ext)]
	}
	return name
}

// Reader reads specimens from a TPS file.
type Reader struct {
	// File names the input in errors.
	File string

	// MissingValue marks a missing landmark: one whose coordinates all equal it.
	// NewReader sets it to -1; NaN turns the rule off (NA always marks one).
	MissingValue float64

	// NumMarkedMissing counts the landmarks read so far that MissingValue or
	// NegativeMissing has marked missing (not those written as NA).
	NumMarkedMissing int

	// NegativeMissing marks every landmark with a negative coordinate missing.
	NegativeMissing bool

	// ApplyScale multiplies coordinates by the specimen's SCALE; a specimen
	// without SCALE= is then an error.
	ApplyScale bool

	br      *bufio.Reader
	line    int    // number of the last line read
	pending bool   // the last line read is to be returned again
	text    string // the last line read, without its line end
	eof     bool
	err     error // sticky error
}

// NewReader returns a Reader from r with the default settings.
func NewReader(r io.Reader) *Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3)
	}
	return &Reader{br: br, MissingValue: -1}
}

// ReadFile reads every specimen of the named TPS file with the default settings.
func ReadFile(name string) ([]*Specimen, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := NewReader(f)
	r.File = name
	return r.ReadAll()
}

// ReadAll reads the remaining specimens.
func (r *Reader) ReadAll() ([]*Specimen, error) {
	var all []*Specimen
	for {
		s, err := r.Read()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		all = append(all, s)
	}
}

func (r *Reader) errorf(line, col int, kind error, format string, args ...any) *ParseError {
	return &ParseError{File: r.File, Line: line, Column: col, Err: text.Errorf(kind, format, args...)}
}

// nextLine returns the next non-blank line, or false at the end of input.
func (r *Reader) nextLine() (string, bool, error) {
	if r.pending {
		r.pending = false
		return r.text, true, nil
	}
	for !r.eof {
		s, err := r.br.ReadString('\n')
		if err != nil {
			if err != io.EOF {
				return "", false, err
			}
			r.eof = true
			if s == "" {
				break
			}
		}
		r.line++
		s = strings.TrimRight(s, "\r\n")
		if strings.TrimSpace(s) == "" {
			continue
		}
		r.text = s
		return s, true, nil
	}
	return "", false, nil
}

// keyValue splits a KEY=value line; ok is false if s is not one.
func keyValue(s string) (key, value string, ok bool) {
	i := strings.IndexByte(s, '=')
	if i < 0 {
		return "", "", false
	}
	key = strings.TrimSpace(s[:i])
	if key == "" {
		return "", "", false
	}
	for j := 0; j < len(key); j++ {
		c := key[j]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return "", "", false
		}
	}
	return strings.ToUpper(key), strings.TrimSpace(s[i+1:]), true
}

// valueCol returns the 1-based column of the value of the KEY=value line s.
func valueCol(s string) int {
	i := strings.IndexByte(s, '=') + 1
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i + 1
}

// Read returns the next specimen, or io.EOF after the last one.
func (r *Reader) Read() (*Specimen, error) {
	if r.err != nil {
		return nil, r.err
	}
	s, err := r.read()
	if err != nil {
		r.err = err
		return nil, err
	}
	return s, nil
}

func (r *Reader) read() (*Specimen, error) {
	line, ok, err := r.nextLine()
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, io.EOF
	}
	key, val, isKey := keyValue(line)
	if !isKey || (key != "LM" && key != "LM3") {
		return nil, r.errorf(r.line, 1, ErrSyntax, "expected LM= or LM3= to start a specimen, found %s", describe(line))
	}
	sp := &Specimen{Dim: 2, Line: r.line}
	if key == "LM3" {
		sp.Dim = 3
	}
	n, err := r.count(key, val, line)
	if err != nil {
		return nil, err
	}
	if sp.Landmarks, err = r.points(n, sp.Dim, key, sp.Line); err != nil {
		return nil, err
	}
	seen := make(map[string]int) // line of each of ID, IMAGE, SCALE, CURVES
	for {
		line, ok, err := r.nextLine()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		key, val, isKey := keyValue(line)
		if !isKey {
			msg := fmt.Sprintf("expected KEY=value or LM=, found %s", describe(line))
			if _, err := r.coords(line, sp.Dim); err == nil {
				msg += fmt.Sprintf(" (more coordinate lines than the %d announced by %s= at line %d?)", len(sp.Landmarks), lmKey(sp.Dim), sp.Line)
			}
			return nil, r.errorf(r.line, 1, ErrSyntax, "%s", msg)
		}
		if key == "LM" || key == "LM3" {
			r.pending = true
			break
		}
		switch key {
		case "ID", "IMAGE", "SCALE", "CURVES":
			if prev, dup := seen[key]; dup {
				return nil, r.errorf(r.line, 1, ErrDuplicateKey, "duplicate %s= (first at line %d)", key, prev)
			}
			seen[key] = r.line
		}
		switch key {
		case "ID":
			sp.ID = val
		case "IMAGE":
			sp.Image = val
		case "SCALE":
			x, err := text.ParseDecimal(val)
			if err != nil || x <= 0 {
				return nil, r.errorf(r.line, valueCol(line), ErrNumber, "SCALE must be a positive number, found %s", strconv.Quote(val))
			}
			sp.Scale = x
		case "CURVES":
			k, err := r.count(key, val, line)
			if err != nil {
				return nil, err
			}
			at := r.line
			for c := 0; c < k; c++ {
				line, ok, err := r.nextLine()
				if err != nil {
					return nil, err
				}
				key, val, isKey := keyValue(line)
				if !ok || !isKey || key != "POINTS" {
					l := r.line
					if !ok {
						l++
					}
					return nil, r.errorf(l, 1, ErrSyntax, "expected POINTS= for curve %d of the %d announced by CURVES= at line %d, found %s",
						c+1, k, at, describe(line))
				}
				m, err := r.count(key, val, line)
				if err != nil {
					return nil, err
				}
				pts, err := r.points(m, sp.Dim, key, r.line)
				if err != nil {
					return nil, err
				}
				sp.Curves = append(sp.Curves, pts)
			}
		case "POINTS":
			return nil, r.errorf(r.line, 1, ErrSyntax, "POINTS= outside a CURVES= block")
		default:
			if err := text.CheckName(val); err != nil {
				return nil, r.errorf(r.line, valueCol(line), ErrSyntax, "%s= value: %v", key, err)
			}
			sp.Fields = append(sp.Fields, Field{Key: key, Value: val})
		}
	}
	for _, s := range []string{sp.ID, sp.Image} {
		if err := text.CheckName(s); err != nil {
			return nil, r.errorf(sp.Line, 1, ErrSyntax, "specimen name %s: %v", text.Quote(s), err)
		}
	}
	if r.ApplyScale {
		if sp.Scale == 0 {
			return nil, r.errorf(sp.Line, 1, ErrNoScale, "specimen %s has no SCALE= line, and scales are to be applied", text.Quote(sp.Name()))
		}
		scale(sp.Landmarks, sp.Scale)
		for _, c := range sp.Curves {
			scale(c, sp.Scale)
		}
	}
	return sp, nil
}

func scale(pts [][]float64, s float64) {
	for _, p := range pts {
		for k := range p {
			p[k] *= s
		}
	}
}

func lmKey(dim int) string {
	if dim == 3 {
		return "LM3"
	}
	return "LM"
}

// describe quotes a line for error messages, shortened if long.
func describe(s string) string {
	if s == "" {
		return "end of file"
	}
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}

// count parses the value of LM=, LM3=, CURVES= or POINTS=.
func (r *Reader) count(key, val, line string) (int, error) {
	n, err := strconv.Atoi(val)
	if err != nil || n < 0 || strings.HasPrefix(val, "+") {
		return 0, r.errorf(r.line, valueCol(line), ErrSyntax, "%s= must be a count, found %s", key, strconv.Quote(val))
	}
	return n, nil
}

// points reads n coordinate lines announced by key= at line at.
func (r *Reader) points(n, dim int, key string, at int) ([][]float64, error) {
	pts := make([][]float64, 0, min(n, 1024))
	for len(pts) < n {
		line, ok, err := r.nextLine()
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, r.errorf(r.line+1, 1, ErrCount, "%s=%d at line %d announces %d points, but the file ends after %d", key, n, at, n, len(pts))
		}
		if _, _, isKey := keyValue(line); isKey {
			return nil, r.errorf(r.line, 1, ErrCount, "%s=%d at line %d announces %d points, but %s follows %d", key, n, at, n, describe(line), len(pts))
		}
		p, err := r.coords(line, dim)
		if err != nil {
			return nil, err
		}
		pts = append(pts, p)
	}
	return pts, nil
}

// coords parses a line of dim coordinates, applying the missing-value rules.
func (r *Reader) coords(line string, dim int) ([]float64, error) {
	p := make([]float64, 0, dim)
	// na: a coordinate is NA; marked: all equal MissingValue; neg: one is negative.
	na, marked, neg := false, true, false
	i := 0
	for {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			break
		}
		start := i
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		f := line[start:i]
		if len(p) == dim {
			return nil, r.errorf(r.line, start+1, ErrCount, "%d coordinates on a line, want %d", len(strings.Fields(line)), dim)
		}
		if strings.EqualFold(f, "NA") || strings.EqualFold(f, "NaN") {
			p = append(p, math.NaN())
			na = true
			continue
		}
		x, err := text.ParseDecimal(f)
		if err != nil {
			msg := ""
			if errors.Is(err, text.ErrInfinite) || errors.Is(err, text.ErrRange) {
				msg = ": " + err.Error()
			}
			return nil, r.errorf(r.line, start+1, ErrNumber, "invalid coordinate %s%s", strconv.Quote(f), msg)
		}
		marked = marked && x == r.MissingValue
		neg = neg || x < 0
		p = append(p, x)
	}
	if len(p) < dim {
		return nil, r.errorf(r.line, 1, ErrCount, "%d coordinates on a line, want %d", len(p), dim)
	}
	if !na && (marked || r.NegativeMissing && neg) {
		r.NumMarkedMissing++
	}
	if na || marked || r.NegativeMissing && neg {
		for k := range p {
			p[k] = math.NaN()
		}
	}
	return p, nil
}

// Writer writes specimens in TPS format.
type Writer struct {
	w   *bufio.Writer
	num []byte
}

// NewWriter returns a Writer to w. Call Flush when done.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriter(w)} }

// Flush writes any buffered data to the underlying writer.
func (w *Writer) Flush() error { return w.w.Flush() }

// Write writes one specimen: LM= or LM3=, the landmarks, CURVES= if there are
// curves, then IMAGE=, ID=, SCALE= (when not 0) and the other fields. A landmark
// with a NaN coordinate is written as NA in every coordinate. Coordinates are
// written in the shortest form that reads back to the same float64; note that a
// default Reader reads a landmark with a coordinate of -1 back as missing. Write
// returns an error, writing nothing, for a specimen that would not read back as it
// is: a Dim other than 2 or 3, points of the wrong length, infinite values, a
// negative or non-finite Scale, or names with line breaks or other control
// characters or with leading or trailing blanks.
func (w *Writer) Write(s *Specimen) error {
	if s.Dim != 2 && s.Dim != 3 {
		return fmt.Errorf("tps: specimen %s has dimension %d, want 2 or 3", text.Quote(s.Name()), s.Dim)
	}
	check := func(pts [][]float64) error {
		for i, p := range pts {
			if len(p) != s.Dim {
				return fmt.Errorf("tps: specimen %s: point %d has %d coordinates, want %d", text.Quote(s.Name()), i, len(p), s.Dim)
			}
			for _, x := range p {
				if math.IsInf(x, 0) {
					return fmt.Errorf("tps: specimen %s: point %d is infinite", text.Quote(s.Name()), i)
				}
			}
		}
		return nil
	}
	if err := check(s.Landmarks); err != nil {
		return err
	}
	for _, c := range s.Curves {
		if err := check(c); err != nil {
			return err
		}
	}
	if s.Scale < 0 || math.IsNaN(s.Scale) || math.IsInf(s.Scale, 0) {
		return fmt.Errorf("tps: specimen %s: invalid scale %v", text.Quote(s.Name()), s.Scale)
	}
	value := func(what, v string) error {
		if v != strings.TrimSpace(v) {
			return fmt.Errorf("tps: %s %s has leading or trailing blanks", what, text.Quote(v))
		}
		if err := text.CheckName(v); err != nil {
			return fmt.Errorf("tps: %s %s: %v", what, text.Quote(v), err)
		}
		return nil
	}
	if err := value("ID", s.ID); err != nil {
		return err
	}
	if err := value("IMAGE", s.Image); err != nil {
		return err
	}
	for _, f := range s.Fields {
		k, _, ok := keyValue(f.Key + "=")
		switch {
		case !ok || k != f.Key:
			return fmt.Errorf("tps: invalid key %q: want upper-case letters, digits and _", f.Key)
		case k == "LM" || k == "LM3" || k == "ID" || k == "IMAGE" || k == "SCALE" || k == "CURVES" || k == "POINTS":
			return fmt.Errorf("tps: field %s= is reserved", k)
		}
		if err := value(f.Key, f.Value); err != nil {
			return err
		}
	}
	fmt.Fprintf(w.w, "%s=%d\n", lmKey(s.Dim), len(s.Landmarks))
	w.points(s.Landmarks)
	if len(s.Curves) > 0 {
		fmt.Fprintf(w.w, "CURVES=%d\n", len(s.Curves))
		for _, c := range s.Curves {
			fmt.Fprintf(w.w, "POINTS=%d\n", len(c))
			w.points(c)
		}
	}
	if s.Image != "" {
		fmt.Fprintf(w.w, "IMAGE=%s\n", s.Image)
	}
	if s.ID != "" {
		fmt.Fprintf(w.w, "ID=%s\n", s.ID)
	}
	if s.Scale != 0 {
		w.num = strconv.AppendFloat(w.num[:0], s.Scale, 'g', -1, 64)
		fmt.Fprintf(w.w, "SCALE=%s\n", w.num)
	}
	for _, f := range s.Fields {
		fmt.Fprintf(w.w, "%s=%s\n", f.Key, f.Value)
	}
	return nil
}

func (w *Writer) points(pts [][]float64) {
	for _, p := range pts {
		missing := false
		for _, x := range p {
			missing = missing || math.IsNaN(x)
		}
		for k, x := range p {
			if k > 0 {
				w.w.WriteByte(' ')
			}
			if missing {
				w.w.WriteString("NA")
				continue
			}
			w.num = strconv.AppendFloat(w.num[:0], x, 'g', -1, 64)
			w.w.Write(w.num)
		}
		w.w.WriteByte('\n')
	}
}
