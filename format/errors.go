package format

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
)

var (
	_ error          = (*ParseError)(nil)
	_ error          = ErrorList(nil)
	_ sort.Interface = ErrorList(nil)
)

// ParseError is an error at a place in a file. Line and Column are 1-based, and
// Column counts bytes as go/token does; a zero Line or Column means the position is
// not known to that precision.
type ParseError struct {
	File   string // file name as given by the caller, or ""
	Line   int    // 1-based line, or 0
	Column int    // 1-based byte column, or 0
	Err    error  // what went wrong
}

// Error returns "file:line:column: message", leaving out the parts that are empty
// or zero, as in "trees.nex:12:5: TRANSLATE: duplicate key 3".
func (e *ParseError) Error() string {
	pos := e.Pos()
	if pos == "" {
		return e.Err.Error()
	}
	return pos + ": " + e.Err.Error()
}

// Pos returns the position as "file:line:column", leaving out empty or zero parts.
func (e *ParseError) Pos() string {
	b := []byte(e.File)
	if e.Line > 0 {
		if len(b) > 0 {
			b = append(b, ':')
		}
		b = strconv.AppendInt(b, int64(e.Line), 10)
		if e.Column > 0 {
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(e.Column), 10)
		}
	}
	return string(b)
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// ErrorList is a list of errors at positions, as go/scanner.ErrorList. The zero
// value is an empty list ready to use.
type ErrorList []*ParseError

// Add appends an error at the given position.
func (l *ErrorList) Add(file string, line, column int, err error) {
	*l = append(*l, &ParseError{File: file, Line: line, Column: column, Err: err})
}

// Len, Less and Swap implement sort.Interface: errors are ordered by file, line,
// column and then message.
func (l ErrorList) Len() int      { return len(l) }
func (l ErrorList) Swap(i, j int) { l[i], l[j] = l[j], l[i] }
func (l ErrorList) Less(i, j int) bool {
	a, b := l[i], l[j]
	switch {
	case a.File != b.File:
		return a.File < b.File
	case a.Line != b.Line:
		return a.Line < b.Line
	case a.Column != b.Column:
		return a.Column < b.Column
	}
	return a.Err.Error() < b.Err.Error()
}

// Sort sorts the list in place, keeping the original order of equal entries.
func (l ErrorList) Sort() { sort.Stable(l) }

// Error returns the first error followed by "(and N more errors)" when there are
// more. It returns "no errors" for an empty list.
func (l ErrorList) Error() string {
	switch len(l) {
	case 0:
		return "no errors"
	case 1:
		return l[0].Error()
	case 2:
		return fmt.Sprintf("%s (and 1 more error)", l[0])
	}
	return fmt.Sprintf("%s (and %d more errors)", l[0], len(l)-1)
}

// Err returns l as an error, or nil if l is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Unwrap returns the entries, so that errors.Is and errors.As look at each of them.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// PrintError writes err to w, one entry per line if err is or wraps an ErrorList.
func PrintError(w io.Writer, err error) {
	var list ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e)
		}
		return
	}
	if err != nil {
		fmt.Fprintln(w, err)
	}
}
