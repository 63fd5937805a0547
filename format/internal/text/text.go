// Package text holds the small lexical helpers shared by canopy's file readers:
// strict decimal numbers and the quoting of names in messages.
package text

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Errors returned by ParseDecimal. The messages are meant to follow a quoted token,
// as in `invalid number "1,5"`.
var (
	ErrSyntax   = errors.New("not a decimal number")
	ErrNaN      = errors.New("NaN is not a value")
	ErrInfinite = errors.New("infinite values are not allowed")
	ErrRange    = errors.New("number out of the float64 range")
)

// ParseDecimal parses a decimal number with optional sign, fraction and exponent,
// such as 2, -0.5, .5, 5. or 4.53E-7. Unlike strconv.ParseFloat it rejects
// hexadecimal, underscores, and the words inf, infinity and nan (with ErrNaN or
// ErrInfinite so that callers can say why); numbers beyond the float64 range are
// ErrRange, while numbers too small to represent round to zero or a subnormal.
func ParseDecimal(s string) (float64, error) {
	t := s
	if t != "" && (t[0] == '+' || t[0] == '-') {
		t = t[1:]
	}
	switch strings.ToLower(t) {
	case "nan":
		return 0, ErrNaN
	case "inf", "infinity":
		return 0, ErrInfinite
	}
	i, digits := 0, 0
	for i < len(t) && '0' <= t[i] && t[i] <= '9' {
		i++
		digits++
	}
	if i < len(t) && t[i] == '.' {
		i++
		for i < len(t) && '0' <= t[i] && t[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, ErrSyntax
	}
	if i < len(t) && (t[i] == 'e' || t[i] == 'E') {
		i++
		if i < len(t) && (t[i] == '+' || t[i] == '-') {
			i++
		}
		exp := i
		for i < len(t) && '0' <= t[i] && t[i] <= '9' {
			i++
		}
		if i == exp {
			return 0, ErrSyntax
		}
	}
	if i != len(t) {
		return 0, ErrSyntax
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(x, 0) {
		// Only overflow can fail here; underflow returns a finite value.
		return 0, ErrRange
	}
	return x, nil
}

// Quote returns name in single quotes for messages, as in 'Canis lupus', or in Go
// double-quoted form when it holds a quote, a control character or invalid UTF-8.
func Quote(name string) string {
	if strings.ContainsRune(name, '\'') || !utf8.ValidString(name) || strings.IndexFunc(name, isControl) >= 0 {
		return strconv.Quote(name)
	}
	return "'" + name + "'"
}

// CheckName reports why name is unfit as a taxon, trait or specimen name, or
// returns nil: names must be valid UTF-8 without control characters.
func CheckName(name string) error {
	if !utf8.ValidString(name) {
		return errors.New("invalid UTF-8")
	}
	if strings.IndexFunc(name, isControl) >= 0 {
		return errors.New("control character")
	}
	return nil
}

func isControl(r rune) bool { return unicode.IsControl(r) }

// kindError is an error with its own message that unwraps to a sentinel, so that
// callers can test errors.Is(err, ErrX) while the message says what went wrong where.
type kindError struct {
	kind error
	msg  string
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.kind }

// Errorf returns an error whose message is fmt.Sprintf(format, args...) and which
// unwraps to kind.
func Errorf(kind error, format string, args ...any) error {
	return &kindError{kind: kind, msg: fmt.Sprintf(format, args...)}
}
