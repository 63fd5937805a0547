package nexus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/internal/text"
	"github.com/canopy-bffg/canopy/topology"
)

// ParseError is the error type of this package: the file, line and column of a
// problem and what it was.
type ParseError = format.ParseError

// Errors wrapped by the ParseError values this package returns.
var (
	ErrNotNexus       = errors.New("not a Nexus file")
	ErrSyntax         = errors.New("syntax error")
	ErrUnexpectedEOF  = errors.New("unexpected end of file")
	ErrDuplicateKey   = errors.New("duplicate key")
	ErrDuplicateTaxon = errors.New("duplicate taxon")
	ErrTaxaCount      = errors.New("wrong number of taxa")
	ErrUnknownTip     = errors.New("unknown tip label")
	ErrNoTree         = errors.New("no such tree")
)

// Rooting says whether a tree was marked rooted ([&R]) or unrooted ([&U]).
type Rooting int

const (
	Unspecified Rooting = iota // no marker
	Rooted                     // [&R]
	Unrooted                   // [&U], or a UTREE command
)

func (r Rooting) String() string {
	switch r {
	case Rooted:
		return "rooted"
	case Unrooted:
		return "unrooted"
	}
	return "unspecified"
}

// Tree is one tree of a TREES block.
type Tree struct {
	Name     string             // the name after TREE, unquoted
	Default  bool               // marked with '*' as the default tree
	Rooting  Rooting            // from [&R] or [&U]
	Comments []string           // other comments before the Newick text, without brackets
	Topology *topology.Topology // leaf labels translated
	Line     int                // 1-based line of the TREE keyword
	Column   int                // 1-based byte column of the TREE keyword
}

// Reader reads the trees of a Nexus file one at a time.
type Reader struct {
	// File names the input in errors; it may be set before the first call.
	File string

	s         scanner
	started   bool   // #NEXUS seen
	block     string // current block, upper case; "" outside any block
	ntax      int    // NTAX of the TAXA block, 0 if none
	taxa      []string
	taxon     map[string]bool
	translate map[string]string // TRANSLATE table of the current TREES block
	values    map[string]bool   // the translated labels
	buf       []byte            // Newick text of the current tree
	err       error             // sticky error, io.EOF at the end
}

// NewReader returns a Reader that reads from r.
func NewReader(r io.Reader) *Reader {
	return &Reader{s: scanner{r: bufio.NewReaderSize(r, 64<<10), line: 1, col: 1}}
}

// Taxa returns the TAXLABELS of the last TAXA block read so far, or nil. The slice
// must not be modified.
func (r *Reader) Taxa() []string { return r.taxa }

// Next returns the next tree, or io.EOF when there are no more.
func (r *Reader) Next() (*Tree, error) { return r.next(true) }

// ReadTree returns the tree at the given position in the file read from r: 0 for
// the first tree. The trees before it are scanned but not parsed.
func ReadTree(r io.Reader, index int) (*Tree, error) { return readTree(NewReader(r), index) }

// ReadFile returns the index-th tree (0 for the first) of the named Nexus file.
func ReadFile(name string, index int) (*Tree, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd := NewReader(f)
	rd.File = name
	return readTree(rd, index)
}

func readTree(rd *Reader, index int) (*Tree, error) {
	if index < 0 {
		return nil, &ParseError{File: rd.File, Err: text.Errorf(ErrNoTree, "negative tree index %d", index)}
	}
	for i := 0; ; i++ {
		t, err := rd.next(i == index)
		if err == io.EOF {
			what := "no trees"
			switch i {
			case 0:
			case 1:
				what = "only 1 tree"
			default:
				what = fmt.Sprintf("only %d trees", i)
			}
			return nil, &ParseError{File: rd.File, Err: text.Errorf(ErrNoTree, "tree index %d requested (0 is the first), but the file has %s", index, what)}
		}
		if err != nil {
			return nil, err
		}
		if i == index {
			return t, nil
		}
	}
}

// errorf returns a ParseError at the given position.
func (r *Reader) errorf(line, col int, kind error, format string, args ...any) *ParseError {
	return &ParseError{File: r.File, Line: line, Column: col, Err: text.Errorf(kind, format, args...)}
}

// fail records a sticky error and returns it.
func (r *Reader) fail(err error) error {
	r.err = err
	return err
}

// next reads up to the next TREE command and returns the tree, parsed if parse is
// set, or only named if not.
func (r *Reader) next(parse bool) (*Tree, error) {
	if r.err != nil {
		return nil, r.err
	}
	if !r.started {
		if err := r.header(); err != nil {
			return nil, r.fail(err)
		}
		r.started = true
	}
	for {
		tok, err := r.token(nil)
		if err != nil {
			return nil, r.fail(err)
		}
		if tok.kind == tEOF {
			if err := r.s.ioErr; err != nil {
				return nil, r.fail(err)
			}
			return nil, r.fail(io.EOF)
		}
		if r.block == "" {
			if err := r.begin(tok); err != nil {
				return nil, r.fail(err)
			}
			continue
		}
		if tok.kind == tPunct && tok.text == ";" {
			continue // an empty command
		}
		cmd := ""
		if tok.kind == tWord {
			cmd = strings.ToUpper(tok.text)
		}
		switch {
		case cmd == "END" || cmd == "ENDBLOCK":
			if err := r.expect(";", cmd); err != nil {
				return nil, r.fail(err)
			}
			r.block = ""
			continue
		case cmd == "BEGIN":
			return nil, r.fail(r.errorf(tok.line, tok.col, ErrSyntax, "BEGIN inside the %s block (missing END;?)", r.block))
		case r.block == "TAXA" && cmd == "DIMENSIONS":
			err = r.dimensions(tok)
		case r.block == "TAXA" && cmd == "TAXLABELS":
			err = r.taxlabels(tok)
		case r.block == "TREES" && cmd == "TRANSLATE":
			err = r.translateCmd(tok)
		case r.block == "TREES" && (cmd == "TREE" || cmd == "UTREE"):
			t, err := r.tree(tok, parse)
			if err != nil {
				var pe *ParseError
				if errors.As(err, &pe) && errors.Is(err, errTreeContent) {
					return nil, err // the reader stands at the next command
				}
				return nil, r.fail(err)
			}
			return t, nil
		default:
			err = r.skipCommand(tok)
		}
		if err != nil {
			return nil, r.fail(err)
		}
	}
}

// header reads "#NEXUS".
func (r *Reader) header() error {
	r.s.skipBOM()
	tok, err := r.token(nil)
	if err != nil {
		return err
	}
	if tok.kind == tWord && strings.EqualFold(tok.text, "#NEXUS") {
		return nil
	}
	hint := ""
	if tok.kind == tWord && strings.HasPrefix(tok.text, "(") {
		hint = " (this looks like a Newick file: read it with topology.ParseNewick)"
	}
	return r.errorf(tok.line, tok.col, ErrNotNexus, "expected #NEXUS at the start of the file, found %s%s", tok.describe(), hint)
}

// begin handles a token outside any block, which must start "BEGIN name;".
func (r *Reader) begin(tok token) error {
	if tok.kind != tWord || !strings.EqualFold(tok.text, "BEGIN") {
		return r.errorf(tok.line, tok.col, ErrSyntax, "expected BEGIN, found %s", tok.describe())
	}
	name, err := r.token(nil)
	if err != nil {
		return err
	}
	if name.kind != tWord && name.kind != tQuoted {
		return r.unexpected(name, "a block name after BEGIN", "BEGIN")
	}
	if err := r.expect(";", "BEGIN "+name.text); err != nil {
		return err
	}
	r.block = strings.ToUpper(name.text)
	if r.block == "TREES" {
		r.translate, r.values = nil, nil
	}
	return nil
}

// expect reads the punctuation p.
func (r *Reader) expect(p, cmd string) error {
	tok, err := r.token(nil)
	if err != nil {
		return err
	}
	if tok.kind != tPunct || tok.text != p {
		return r.unexpected(tok, fmt.Sprintf("'%s'", p), cmd)
	}
	return nil
}

// unexpected reports tok where want was expected in command cmd.
func (r *Reader) unexpected(tok token, want, cmd string) error {
	if tok.kind == tEOF {
		return r.errorf(tok.line, tok.col, ErrUnexpectedEOF, "%s: unexpected end of file, expected %s", cmd, want)
	}
	return r.errorf(tok.line, tok.col, ErrSyntax, "%s: expected %s, found %s", cmd, want, tok.describe())
}

// skipCommand skips the rest of the command started by tok, up to its ';'.
func (r *Reader) skipCommand(tok token) error {
	if err := r.s.skipTo(); err != nil {
		return r.scanError(err)
	}
	if r.s.eof {
		return r.errorf(tok.line, tok.col, ErrUnexpectedEOF, "unexpected end of file in the %s command that starts here (missing ';'?)", tok.text)
	}
	return nil
}

// dimensions reads "DIMENSIONS NTAX=n ...;" of a TAXA block.
func (r *Reader) dimensions(cmd token) error {
	for {
		tok, err := r.token(nil)
		if err != nil {
			return err
		}
		switch {
		case tok.kind == tEOF:
			return r.unexpected(tok, "';'", "DIMENSIONS")
		case tok.kind == tPunct && tok.text == ";":
			return nil
		case tok.kind == tWord && strings.EqualFold(tok.text, "NTAX"):
			if err := r.expect("=", "DIMENSIONS"); err != nil {
				return err
			}
			v, err := r.token(nil)
			if err != nil {
				return err
			}
			n, perr := strconv.Atoi(v.text)
			if v.kind != tWord || perr != nil || n <= 0 {
				return r.errorf(v.line, v.col, ErrSyntax, "DIMENSIONS: NTAX must be a positive integer, found %s", v.describe())
			}
			r.ntax = n
		}
	}
}

// taxlabels reads "TAXLABELS a b 'c d' ...;".
func (r *Reader) taxlabels(cmd token) error {
	var taxa []string
	seen := make(map[string]bool)
	for {
		tok, err := r.token(nil)
		if err != nil {
			return err
		}
		switch tok.kind {
		case tEOF:
			return r.unexpected(tok, "';'", "TAXLABELS")
		case tPunct:
			if tok.text != ";" {
				return r.unexpected(tok, "a taxon label or ';'", "TAXLABELS")
			}
			if r.ntax > 0 && len(taxa) != r.ntax {
				return r.errorf(cmd.line, cmd.col, ErrTaxaCount, "TAXLABELS: %d labels, but DIMENSIONS says NTAX=%d", len(taxa), r.ntax)
			}
			r.taxa, r.taxon = taxa, seen
			return nil
		}
		if seen[tok.text] {
			return r.errorf(tok.line, tok.col, ErrDuplicateTaxon, "TAXLABELS: duplicate taxon %s", text.Quote(tok.text))
		}
		seen[tok.text] = true
		taxa = append(taxa, tok.text)
	}
}

// translateCmd reads "TRANSLATE key label, key label, ...;".
func (r *Reader) translateCmd(cmd token) error {
	table := make(map[string]string)
	keyOf := make(map[string]string)
	for {
		key, err := r.token(nil)
		if err != nil {
			return err
		}
		if key.kind == tPunct && key.text == ";" && len(table) > 0 {
			break // a trailing comma
		}
		if key.kind != tWord && key.kind != tQuoted {
			return r.unexpected(key, "a key", "TRANSLATE")
		}
		if key.text == "" {
			return r.errorf(key.line, key.col, ErrSyntax, "TRANSLATE: empty key")
		}
		if _, dup := table[key.text]; dup {
			return r.errorf(key.line, key.col, ErrDuplicateKey, "TRANSLATE: duplicate key %s", key.text)
		}
		val, err := r.token(nil)
		if err != nil {
			return err
		}
		if val.kind != tWord && val.kind != tQuoted {
			return r.unexpected(val, "a taxon label after key "+key.text, "TRANSLATE")
		}
		if prev, dup := keyOf[val.text]; dup {
			return r.errorf(val.line, val.col, ErrDuplicateTaxon, "TRANSLATE: taxon %s has two keys, %s and %s", text.Quote(val.text), prev, key.text)
		}
		table[key.text] = val.text
		keyOf[val.text] = key.text
		sep, err := r.token(nil)
		if err != nil {
			return err
		}
		if sep.kind == tPunct && sep.text == ";" {
			break
		}
		if sep.kind != tPunct || sep.text != "," {
			return r.unexpected(sep, "',' or ';' after the entry for key "+key.text, "TRANSLATE")
		}
	}
	r.translate = table
	r.values = make(map[string]bool, len(keyOf))
	for v := range keyOf {
		r.values[v] = true
	}
	return nil
}

// errTreeContent marks errors inside the Newick text of one TREE command, after
// which reading can go on.
var errTreeContent = errors.New("error in tree")

// treeError is an error in the content of one tree.
type treeError struct {
	err error // a *topology.ParseError or a text.Errorf error
	msg string
}

func (e *treeError) Error() string { return e.msg }
func (e *treeError) Unwrap() []error {
	return []error{e.err, errTreeContent}
}

// tree reads "TREE [*] name = newick;" and returns the tree, parsed if parse.
func (r *Reader) tree(cmd token, parse bool) (*Tree, error) {
	t := &Tree{Line: cmd.line, Column: cmd.col}
	if strings.EqualFold(cmd.text, "UTREE") {
		t.Rooting = Unrooted
	}
	word := strings.ToUpper(cmd.text)
	name, err := r.token(&t.Comments)
	if err != nil {
		return nil, err
	}
	if name.kind == tPunct && name.text == "*" {
		t.Default = true
		if name, err = r.token(&t.Comments); err != nil {
			return nil, err
		}
	}
	if name.kind != tWord && name.kind != tQuoted {
		return nil, r.unexpected(name, "a tree name", word)
	}
	t.Name = name.text
	label := word + " " + t.Name
	if name.kind == tQuoted {
		label = word + " " + text.Quote(t.Name)
	}
	eq, err := r.token(&t.Comments)
	if err != nil {
		return nil, err
	}
	if eq.kind != tPunct || eq.text != "=" {
		return nil, r.unexpected(eq, "'='", label)
	}
	line, col := r.s.line, r.s.col
	r.buf = r.buf[:0]
	if err := r.s.rawTree(&r.buf, parse); err != nil {
		return nil, r.scanError(err)
	}
	if r.s.eof {
		return nil, r.errorf(cmd.line, cmd.col, ErrUnexpectedEOF, "%s: unexpected end of file before the ';' that ends the tree (truncated file?)", label)
	}
	if !parse {
		return t, nil
	}
	src := string(r.buf)
	leadingComments(src, t)
	rooting(t)
	tp, err := topology.ParseNewick(src)
	if err != nil {
		var pe *topology.ParseError
		if !errors.As(err, &pe) {
			return nil, err
		}
		l, c := position(src, pe.Offset, line, col)
		msg := label + ": " + fixOffsets(pe.Msg, src, line, col)
		return nil, &ParseError{File: r.File, Line: l, Column: c, Err: &treeError{err: pe, msg: msg}}
	}
	if tp, err = r.translateTips(tp, label); err != nil {
		return nil, &ParseError{File: r.File, Line: cmd.line, Column: cmd.col, Err: &treeError{err: err, msg: err.Error()}}
	}
	t.Topology = tp
	return t, nil
}

// leadingComments adds the comments at the start of the Newick text src to t.
func leadingComments(src string, t *Tree) {
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i == len(src) || src[i] != '[' {
			return
		}
		j := strings.IndexByte(src[i:], ']')
		if j < 0 {
			return
		}
		t.Comments = append(t.Comments, src[i+1:i+j])
		i += j + 1
	}
}

// rooting removes the rooting markers [&R] and [&U] from t.Comments, setting
// t.Rooting from the last one.
func rooting(t *Tree) {
	kept := t.Comments[:0]
	for _, c := range t.Comments {
		switch strings.ToUpper(strings.TrimSpace(c)) {
		case "&R":
			t.Rooting = Rooted
		case "&U":
			t.Rooting = Unrooted
		default:
			kept = append(kept, c)
		}
	}
	t.Comments = kept
	if len(kept) == 0 {
		t.Comments = nil
	}
}

// translateTips applies the TRANSLATE table, or the TAXLABELS numbers, to the leaf
// labels of tp.
func (r *Reader) translateTips(tp *topology.Topology, label string) (*topology.Topology, error) {
	var names []string
	if r.translate == nil && r.taxa == nil {
		return tp, nil
	}
	for i := 0; i < tp.NumLeaves(); i++ {
		v := tp.Leaf(i)
		name := tp.Name(v)
		if name == "" {
			continue
		}
		to, ok := "", false
		if r.translate != nil {
			to, ok = r.translate[name]
			if !ok && !r.values[name] && !r.taxon[name] {
				return nil, text.Errorf(ErrUnknownTip, "%s: tip %s is not a TRANSLATE key or a taxon label", label, text.Quote(name))
			}
		} else if !r.taxon[name] {
			if k, err := strconv.Atoi(name); err == nil && k >= 1 && k <= len(r.taxa) && name[0] != '+' && name[0] != '0' {
				to, ok = r.taxa[k-1], true
			}
		}
		if !ok {
			continue
		}
		if names == nil {
			names = tp.Names()
		}
		names[v] = to
	}
	if names == nil {
		return tp, nil
	}
	return tp.WithNames(names)
}

// position maps byte offset off of src, which starts at line, col of the file, to
// a line and column of the file.
func position(src string, off, line, col int) (int, int) {
	if off > len(src) {
		off = len(src)
	}
	before := src[:off]
	n := strings.Count(before, "\n")
	if n == 0 {
		return line, col + off
	}
	return line + n, off - strings.LastIndexByte(before, '\n')
}

// fixOffsets rewrites the "at byte N" offsets of a Newick error message, which are
// relative to the tree text, as "at line:column" of the file.
func fixOffsets(msg, src string, line, col int) string {
	const key = "at byte "
	var b strings.Builder
	for {
		i := strings.Index(msg, key)
		if i < 0 {
			b.WriteString(msg)
			return b.String()
		}
		j := i + len(key)
		k := j
		for k < len(msg) && '0' <= msg[k] && msg[k] <= '9' {
			k++
		}
		off, err := strconv.Atoi(msg[j:k])
		if k == j || err != nil {
			b.WriteString(msg[:k])
			msg = msg[k:]
			continue
		}
		l, c := position(src, off, line, col)
		fmt.Fprintf(&b, "%sat %d:%d", msg[:i], l, c)
		msg = msg[k:]
	}
}

// scanError converts an error of the scanner to a ParseError.
func (r *Reader) scanError(err error) error {
	var se *scanError
	if errors.As(err, &se) {
		return r.errorf(se.line, se.col, ErrSyntax, "%s", se.msg)
	}
	return err
}

// token returns the next token, skipping comments; if comments is not nil, their
// contents are appended to it.
func (r *Reader) token(comments *[]string) (token, error) {
	tok, err := r.s.token(comments)
	if err != nil {
		return tok, r.scanError(err)
	}
	return tok, nil
}
