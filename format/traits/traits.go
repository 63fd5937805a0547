// Package traits reads and writes tables of continuous trait values in CSV, one row
// per taxon.
//
// # Format
//
// The file is CSV as read by encoding/csv (RFC 4180: fields separated by commas,
// optionally in double quotes with "" for a quote). The first record is a header,
// which is required:
//
//	taxon,size,range
//	# comment lines start with '#' in the first column
//	Puma_concolor,37.01,36
//	Panthera_onca, 88.0 ,NA
//	Lynx_rufus,,4.3
//
// The first column holds the taxon name, whatever its header says; the other
// header fields name the traits. Blank lines are skipped, blanks around fields are
// trimmed and a UTF-8 byte order mark at the start is ignored. Values are decimal
// numbers (2, -0.5, 4.53E-7). A missing value is written NA or left empty and is
// read as NaN. Any other text is an error, including nan, NaN, inf and Inf: a
// missing value must be written as such, not as the result of a failed computation.
//
// These are errors, reported as *ParseError with the file, line and column:
// no header, an empty or duplicate trait name, an empty or duplicate taxon, a row
// with more or fewer fields than the header, and a value that is not a number.
// Names must be valid UTF-8 without control characters.
//
// [Reader.ReadAll] and [Read] report every problem in the data rows at once, as a
// format.ErrorList; a CSV syntax error (a stray quote) ends the reading.
//
// [Write] writes a Table that Read reads back to the same names and values, with
// NaN written as NA.
package traits

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
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
	ErrNoHeader       = errors.New("no header line")
	ErrFieldCount     = errors.New("wrong number of fields")
	ErrNumber         = errors.New("invalid number")
	ErrName           = errors.New("invalid name")
	ErrDuplicateTaxon = errors.New("duplicate taxon")
	ErrDuplicateTrait = errors.New("duplicate trait")
)

// Table holds trait values by taxon. Values[i][j] is trait Traits[j] of taxon
// Taxa[i], NaN where missing, and Lines[i] is the line of row i in its file (0
// for tables not read from a file).
type Table struct {
	Traits []string
	Taxa   []string
	Values [][]float64
	Lines  []int
}

// Row is one data row.
type Row struct {
	Taxon  string
	Values []float64 // NaN where missing
	Line   int       // 1-based line of the row's first field
}

// Reader reads a trait table row by row.
type Reader struct {
	// File names the input in errors; it may be set before the first call.
	File string

	csv        *csv.Reader
	header     []string
	headerLine int
	lines      map[string]int // line of each taxon seen, for duplicates
	err        error          // sticky error ending the reading
	// R's write.csv without row.names = FALSE adds a first column of row numbers under
	// an empty header cell; blankFirst and rows detect it to say so in errors.
	blankFirst bool
	rows       int
}

// NewReader returns a Reader that reads from r.
func NewReader(r io.Reader) *Reader {
	br := bufio.NewReader(r)
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte("\ufeff")) {
		br.Discard(3)
	}
	c := csv.NewReader(br)
	c.Comment = '#'
	c.FieldsPerRecord = -1
	c.TrimLeadingSpace = true
	c.ReuseRecord = true
	return &Reader{csv: c, lines: make(map[string]int)}
}

func (r *Reader) errorf(line, col int, kind error, format string, args ...any) *ParseError {
	return &ParseError{File: r.File, Line: line, Column: col, Err: text.Errorf(kind, format, args...)}
}

// record reads the next CSV record, converting syntax errors, which end reading.
func (r *Reader) record() ([]string, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.csv.Read()
	for err == nil && len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
		rec, err = r.csv.Read() // a line of blanks
	}
	if err != nil {
		var ce *csv.ParseError
		if errors.As(err, &ce) {
			err = &ParseError{File: r.File, Line: ce.Line, Column: ce.Column, Err: ce.Err}
		}
		r.err = err
		return nil, err
	}
	return rec, nil
}

// Header returns the trait names, reading the header if no row has been read yet.
// The returned slice must not be modified.
func (r *Reader) Header() ([]string, error) {
	if r.header != nil {
		return r.header, nil
	}
	rec, err := r.record()
	if err == io.EOF {
		r.err = &ParseError{File: r.File, Err: fmt.Errorf("%w: the file has no records; want a header such as taxon,trait1,trait2", ErrNoHeader)}
		return nil, r.err
	}
	if err != nil {
		return nil, err
	}
	header := make([]string, 0, len(rec)-1)
	col := make(map[string]int, len(rec))
	for j := range rec {
		name := strings.TrimSpace(rec[j])
		line, c := r.csv.FieldPos(j)
		if err := text.CheckName(name); err != nil {
			r.err = r.errorf(line, c, ErrName, "invalid header field %s: %v", text.Quote(name), err)
			return nil, r.err
		}
		if j == 0 {
			r.blankFirst = name == ""
			continue
		}
		if name == "" {
			r.err = r.errorf(line, c, ErrName, "empty trait name in header field %d", j+1)
			return nil, r.err
		}
		if prev, dup := col[name]; dup {
			r.err = r.errorf(line, c, ErrDuplicateTrait, "duplicate trait %s (first at column %d)", text.Quote(name), prev)
			return nil, r.err
		}
		col[name] = c
		header = append(header, name)
	}
	r.header = header
	r.headerLine, _ = r.csv.FieldPos(0)
	return header, nil
}

// HeaderLine returns the line of the header, or 0 before it has been read.
func (r *Reader) HeaderLine() int { return r.headerLine }

// Read reads the next data row, or returns io.EOF at the end of the input. An error
// in a row's content (a bad number, a duplicate taxon, a wrong field count) is a
// *ParseError for the first problem of that row, and reading may continue with the
// next row; other errors end the reading.
func (r *Reader) Read() (*Row, error) {
	if _, err := r.Header(); err != nil {
		return nil, err
	}
	rec, err := r.record()
	if err != nil {
		return nil, err
	}
	return r.parse(rec)
}

func (r *Reader) parse(rec []string) (*Row, error) {
	line, _ := r.csv.FieldPos(0)
	want := len(r.header) + 1
	if len(rec) != want {
		j := len(rec) - 1
		if len(rec) > want {
			j = want
		}
		l, c := r.csv.FieldPos(j)
		return nil, r.errorf(l, c, ErrFieldCount, "row has %d fields, the header has %d", len(rec), want)
	}
	name := strings.TrimSpace(rec[0])
	_, c := r.csv.FieldPos(0)
	r.rows++
	if name == "" {
		return nil, r.errorf(line, c, ErrName, "empty taxon name")
	}
	if err := text.CheckName(name); err != nil {
		return nil, r.errorf(line, c, ErrName, "invalid taxon name %s: %v", text.Quote(name), err)
	}
	if prev, dup := r.lines[name]; dup {
		return nil, r.errorf(line, c, ErrDuplicateTaxon, "duplicate taxon %s (first at line %d)", text.Quote(name), prev)
	}
	r.lines[name] = line // even if a value is bad, so that a second row is reported
	row := &Row{Taxon: name, Values: make([]float64, len(r.header)), Line: line}
	for j, f := range rec[1:] {
		f = strings.TrimSpace(f)
		if f == "" || f == "NA" {
			row.Values[j] = math.NaN()
			continue
		}
		x, err := text.ParseDecimal(f)
		if err != nil {
			l, c := r.csv.FieldPos(j + 1)
			msg := fmt.Sprintf("trait %s of %s: invalid number %s", text.Quote(r.header[j]), text.Quote(name), strconv.Quote(f))
			switch {
			case errors.Is(err, text.ErrNaN):
				msg += "; write NA or leave the cell empty for a missing value"
			case errors.Is(err, text.ErrInfinite):
				msg += ": infinite values are not allowed"
			case errors.Is(err, text.ErrRange):
				msg += ": out of the float64 range"
			}
			if r.rows == 1 && r.blankFirst && name == "1" {
				msg += "; the first column looks like R's row numbers (an empty header cell over 1, 2, …): write the file with write.csv(..., row.names = FALSE)"
			}
			return nil, r.errorf(l, c, ErrNumber, "%s", msg)
		}
		row.Values[j] = x
	}
	return row, nil
}

// ReadAll reads the remaining rows into a Table. Problems in data rows do not stop
// it: they are all returned, sorted, in a format.ErrorList, together with a Table
// of the rows that had none. The header and CSV syntax errors end the reading and
// are returned alone.
func (r *Reader) ReadAll() (*Table, error) {
	header, err := r.Header()
	if err != nil {
		return nil, err
	}
	t := &Table{Traits: append([]string(nil), header...)}
	var errs format.ErrorList
	for {
		rec, err := r.record()
		if err == io.EOF {
			break
		}
		if err != nil {
			if len(errs) == 0 {
				return nil, err
			}
			var pe *ParseError
			if errors.As(err, &pe) {
				errs = append(errs, pe)
				break
			}
			return nil, err
		}
		row, err := r.parse(rec)
		if err != nil {
			errs = append(errs, err.(*ParseError))
			continue
		}
		t.Taxa = append(t.Taxa, row.Taxon)
		t.Values = append(t.Values, row.Values)
		t.Lines = append(t.Lines, row.Line)
	}
	errs.Sort()
	return t, errs.Err()
}

// Read reads a whole trait table from r; file names it in errors. See
// Reader.ReadAll.
func Read(r io.Reader, file string) (*Table, error) {
	rd := NewReader(r)
	rd.File = file
	return rd.ReadAll()
}

// ReadFile reads the trait table in the named file.
func ReadFile(name string) (*Table, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f, name)
}

// Index returns the position of trait name in t.Traits, or -1.
func (t *Table) Index(name string) int {
	for j, s := range t.Traits {
		if s == name {
			return j
		}
	}
	return -1
}

// Write writes t to w as CSV with the header "taxon,<traits>", one row per taxon,
// values in the shortest form that reads back to the same float64 and NaN as NA.
// Fields are quoted when needed. It returns an error, writing nothing, if t could
// not be read back as it is: rows of the wrong length, empty, duplicate or invalid
// names, names with leading or trailing blanks, or infinite values.
func Write(w io.Writer, t *Table) error {
	if len(t.Values) != len(t.Taxa) {
		return fmt.Errorf("traits: %d rows of values for %d taxa", len(t.Values), len(t.Taxa))
	}
	check := func(what, name string) error {
		if name == "" {
			return fmt.Errorf("traits: empty %s name", what)
		}
		if name != strings.TrimSpace(name) {
			return fmt.Errorf("traits: %s name %s has leading or trailing blanks", what, text.Quote(name))
		}
		if err := text.CheckName(name); err != nil {
			return fmt.Errorf("traits: %s name %s: %v", what, text.Quote(name), err)
		}
		return nil
	}
	seen := make(map[string]bool)
	for _, s := range t.Traits {
		if err := check("trait", s); err != nil {
			return err
		}
		if seen[s] {
			return fmt.Errorf("traits: %w %s", ErrDuplicateTrait, text.Quote(s))
		}
		seen[s] = true
	}
	clear(seen)
	for i, s := range t.Taxa {
		if err := check("taxon", s); err != nil {
			return err
		}
		if seen[s] {
			return fmt.Errorf("traits: %w %s", ErrDuplicateTaxon, text.Quote(s))
		}
		seen[s] = true
		if len(t.Values[i]) != len(t.Traits) {
			return fmt.Errorf("traits: taxon %s has %d values for %d traits", text.Quote(s), len(t.Values[i]), len(t.Traits))
		}
		for j, x := range t.Values[i] {
			if math.IsInf(x, 0) {
				return fmt.Errorf("traits: trait %s of %s is infinite", text.Quote(t.Traits[j]), text.Quote(s))
			}
		}
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("taxon")
	for _, s := range t.Traits {
		bw.WriteByte(',')
		writeField(bw, s)
	}
	bw.WriteByte('\n')
	var num []byte
	for i, s := range t.Taxa {
		writeField(bw, s)
		for _, x := range t.Values[i] {
			bw.WriteByte(',')
			if math.IsNaN(x) {
				bw.WriteString("NA")
				continue
			}
			num = strconv.AppendFloat(num[:0], x, 'g', -1, 64)
			bw.Write(num)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// writeField writes s, quoted if the reader would not read it back verbatim: when
// it holds a comma, quote or line break, or starts with '#' (a comment line).
func writeField(w *bufio.Writer, s string) {
	if !strings.ContainsAny(s, ",\"\r\n") && !strings.HasPrefix(s, "#") {
		w.WriteString(s)
		return
	}
	w.WriteByte('"')
	w.WriteString(strings.ReplaceAll(s, `"`, `""`))
	w.WriteByte('"')
}
