package nexus

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// scanner splits Nexus input into tokens and tracks the line and column.
type scanner struct {
	r         *bufio.Reader
	line, col int   // position of the next byte, 1-based
	eof       bool  // the input is exhausted
	ioErr     error // a read error other than io.EOF
	word      []byte
}

// scanError is a lexical error at a position.
type scanError struct {
	line, col int
	msg       string
}

func (e *scanError) Error() string { return fmt.Sprintf("%d:%d: %s", e.line, e.col, e.msg) }

type tokKind int

const (
	tEOF    tokKind = iota
	tWord           // an unquoted word
	tQuoted         // a quoted word, text unquoted
	tPunct          // one of ; = , *
)

type token struct {
	kind      tokKind
	text      string
	line, col int
}

// describe names the token for error messages.
func (t token) describe() string {
	switch t.kind {
	case tEOF:
		return "end of file"
	case tPunct:
		return "'" + t.text + "'"
	case tQuoted:
		return "quoted word " + strconv.Quote(t.text)
	}
	if len(t.text) > 40 {
		return strconv.Quote(t.text[:37] + "...")
	}
	return strconv.Quote(t.text)
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isPunct(c byte) bool { return c == ';' || c == '=' || c == ',' || c == '*' }

// skipBOM skips a UTF-8 byte order mark, which does not count as a column.
func (s *scanner) skipBOM() {
	if b, err := s.r.Peek(3); err == nil && bytes.Equal(b, []byte("\ufeff")) {
		s.r.Discard(3)
	}
}

// next returns the next byte and advances, or reports false at the end of input.
func (s *scanner) next() (byte, bool) {
	c, err := s.r.ReadByte()
	if err != nil {
		s.eof = true
		if err != io.EOF {
			s.ioErr = err
		}
		return 0, false
	}
	if c == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
	return c, true
}

// peek returns the next byte without advancing.
func (s *scanner) peek() (byte, bool) {
	b, err := s.r.Peek(1)
	if err != nil {
		if err != io.EOF {
			s.ioErr = err
		}
		return 0, false
	}
	return b[0], true
}

// comment skips a comment whose '[' at line, col was just read; nested brackets
// nest. If keep is not nil the content is appended to it.
func (s *scanner) comment(line, col int, keep *[]byte) error {
	depth := 1
	for {
		c, ok := s.next()
		if !ok {
			if s.ioErr != nil {
				return s.ioErr
			}
			return &scanError{line, col, "unterminated comment: no ']' closes this '['"}
		}
		switch c {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				return nil
			}
		}
		if keep != nil {
			*keep = append(*keep, c)
		}
	}
}

// quoted reads a quoted word whose opening quote at line, col was just read.
func (s *scanner) quoted(line, col int, dst []byte) ([]byte, error) {
	for {
		c, ok := s.next()
		if !ok {
			if s.ioErr != nil {
				return dst, s.ioErr
			}
			return dst, &scanError{line, col, "unterminated quoted word: no closing quote for this one"}
		}
		if c == '\'' {
			if d, ok := s.peek(); ok && d == '\'' {
				s.next()
			} else {
				return dst, nil
			}
		}
		if dst != nil {
			dst = append(dst, c)
		}
	}
}

// token returns the next token. Comments are skipped, and appended to comments if
// it is not nil.
func (s *scanner) token(comments *[]string) (token, error) {
	for {
		c, ok := s.peek()
		if !ok {
			if s.ioErr != nil {
				return token{}, s.ioErr
			}
			s.eof = true
			return token{kind: tEOF, line: s.line, col: s.col}, nil
		}
		line, col := s.line, s.col
		switch {
		case isSpace(c):
			s.next()
		case c == '[':
			s.next()
			var keep *[]byte
			var buf []byte
			if comments != nil {
				keep = &buf
			}
			if err := s.comment(line, col, keep); err != nil {
				return token{}, err
			}
			if comments != nil {
				*comments = append(*comments, string(buf))
			}
		case c == '\'':
			s.next()
			w, err := s.quoted(line, col, make([]byte, 0, 32))
			if err != nil {
				return token{}, err
			}
			return token{kind: tQuoted, text: string(w), line: line, col: col}, nil
		case isPunct(c):
			s.next()
			return token{kind: tPunct, text: string(c), line: line, col: col}, nil
		default:
			w := s.word[:0]
			for {
				c, ok := s.peek()
				if !ok || isSpace(c) || isPunct(c) || c == '[' || c == '\'' {
					break
				}
				s.next()
				w = append(w, c)
			}
			s.word = w
			return token{kind: tWord, text: string(w), line: line, col: col}, nil
		}
	}
}

// skipTo skips input up to and including the next ';' outside quotes and comments.
// At the end of input it sets s.eof and returns nil.
func (s *scanner) skipTo() error {
	for {
		c, ok := s.next()
		if !ok {
			return s.ioErr
		}
		line, col := s.line, s.col-1
		switch c {
		case ';':
			return nil
		case '[':
			if err := s.comment(line, col, nil); err != nil {
				return err
			}
		case '\'':
			if _, err := s.quoted(line, col, nil); err != nil {
				return err
			}
		}
	}
}

// rawTree reads the text of a tree up to and including its ';', outside quotes and
// comments, appending it to *dst if keep. Brackets nested inside a comment are
// replaced by blanks, so that the Newick parser, which does not nest comments,
// sees one comment of the same length. At the end of input it sets s.eof.
func (s *scanner) rawTree(dst *[]byte, keep bool) error {
	depth := 0
	quote := false
	qline, qcol, cline, ccol := 0, 0, 0, 0
	for {
		c, ok := s.next()
		if !ok {
			switch {
			case s.ioErr != nil:
				return s.ioErr
			case quote:
				return &scanError{qline, qcol, "unterminated quoted label: no closing quote for this one"}
			case depth > 0:
				return &scanError{cline, ccol, "unterminated comment: no ']' closes this '['"}
			}
			return nil
		}
		switch {
		case quote:
			if c == '\'' {
				if d, ok := s.peek(); ok && d == '\'' {
					s.next()
					if keep {
						*dst = append(*dst, c)
					}
				} else {
					quote = false
				}
			}
		case depth > 0:
			switch c {
			case '[':
				depth++
				c = ' '
			case ']':
				depth--
				if depth > 0 {
					c = ' '
				}
			}
		case c == '\'':
			quote, qline, qcol = true, s.line, s.col-1
		case c == '[':
			depth, cline, ccol = 1, s.line, s.col-1
		}
		if keep {
			*dst = append(*dst, c)
		}
		if c == ';' && !quote && depth == 0 {
			return nil
		}
	}
}
