package topology

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ParseError reports malformed Newick input and where it was found.
type ParseError struct {
	Offset int    // byte offset into the input, 0-based
	Line   int    // 1-based line number
	Column int    // 1-based column, counted in bytes as in go/token
	Msg    string // what was expected and what was found
}

// Error returns a message such as
//
//	newick: line 1, column 17 (byte 16): expected ',' or ')' after branch length, found 'x'
func (e *ParseError) Error() string {
	return fmt.Sprintf("newick: line %d, column %d (byte %d): %s", e.Line, e.Column, e.Offset, e.Msg)
}

// ParseNewick parses a single rooted tree in Newick format, terminated by ';'.
// Only whitespace and [comments] may follow the ';'; use ReadNewick for input that
// holds several trees.
//
// The grammar accepted is the usual one:
//
//	tree     = node ";"
//	node     = [ "(" node { "," node } ")" ] [ label ] [ ":" length ]
//	label    = unquoted | "'" { any character, with '' for a quote } "'"
//
// Unquoted labels are runs of any bytes other than whitespace and ()[]':;, and are kept
// verbatim: underscores are not turned into blanks, so labels survive a round trip
// through tools (ape, hyperiax) that do the same. Comments in square brackets may appear
// between any two tokens, between ':' and the length, and inside an unquoted label,
// where they are removed; they are not nested. Bracketed metadata such as BEAST's
// [&rate=0.2] is skipped. Nodes may have any number of children, including one, and
// leaves may be unnamed, so "(,);" is a cherry and ";" a single unnamed node.
//
// Branch lengths are decimal numbers, optionally in scientific notation. The root's
// length, if any, is ignored. If no other node has a length the tree is a cladogram
// and every branch gets length 1; if only some nodes have one, ParseNewick reports
// the first node without, because guessing a default would silently distort
// distances. Negative, infinite and NaN lengths are errors.
//
// Nodes are numbered breadth-first with the children of each node in the order they
// appear in the text, as in FromParents. Labels become the topology's names; when no
// node is labelled Names returns nil.
//
// Every error is a *ParseError. The parser uses an explicit stack, so deeply nested
// input (a caterpillar of millions of leaves) needs no goroutine stack, and runs in
// time linear in the input.
func ParseNewick(s string) (*Topology, error) {
	p := newParser(s)
	p.skipBOM()
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.pos == len(s) {
		return nil, p.errorf(p.pos, "expected a tree, found end of input")
	}
	t, err := p.tree()
	if err != nil {
		return nil, err
	}
	if err := p.skip(); err != nil {
		return nil, err
	}
	if p.pos != len(s) {
		return nil, p.errorf(p.pos, "unexpected %s after ';' (ParseNewick reads one tree; use ReadNewick for several)", p.found())
	}
	return t, nil
}

// ReadNewick reads every tree in r: a sequence of ';'-terminated Newick trees
// separated by whitespace or [comments], as written by repeated calls to
// WriteNewick. Each tree is parsed as by ParseNewick. Errors are *ParseError values
// whose positions refer to the whole stream; input without any tree is an error.
func ReadNewick(r io.Reader) ([]*Topology, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	p := newParser(string(b))
	p.skipBOM()
	var trees []*Topology
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		if p.pos == len(p.s) {
			break
		}
		t, err := p.tree()
		if err != nil {
			return nil, err
		}
		trees = append(trees, t)
	}
	if len(trees) == 0 {
		return nil, p.errorf(p.pos, "expected a tree, found end of input")
	}
	return trees, nil
}

// parser holds the state of one Newick parse. Nodes are recorded in the order they
// open (pre-order), each with its parent, and renumbered breadth-first at the end.
type parser struct {
	s   string
	pos int

	parent []int32
	length []float64
	label  []span // label of each node, in text
	text   []byte // all labels, in the order they were parsed

	stack []int // open internal nodes, innermost last
	open  []int // byte offset of the '(' of each open node

	// First non-root node (in order of its label) with and without a length, to
	// reject trees in which only some lengths are given.
	withLenAt, withoutLenAt   int
	withLenName, withoutName  string
	withLenSeen, withoutFound bool
}

// span locates a label in parser.text. Keeping labels as offsets into one buffer,
// rather than as strings, spares the garbage collector millions of pointers.
type span struct{ at, n int }

func newParser(s string) *parser { return &parser{s: s} }

// name returns the label of node v.
func (p *parser) name(v int) string {
	l := p.label[v]
	return string(p.text[l.at : l.at+l.n])
}

// tail describes the last token of a node, to say what may follow it.
type tail struct {
	internal bool // the node was closed by ')'
	label    bool
	length   bool
}

func (p *parser) skipBOM() {
	if strings.HasPrefix(p.s, "\ufeff") {
		p.pos = len("\ufeff")
	}
}

// tree parses one tree starting at p.pos, which must not be at the end of input,
// and leaves p.pos just after its ';'.
func (p *parser) tree() (*Topology, error) {
	// Size the node arrays from the separators up to the next ';', an upper bound
	// on the node count outside quotes and comments, to avoid regrowing them.
	end := strings.IndexByte(p.s[p.pos:], ';')
	if end < 0 {
		end = len(p.s) - p.pos
	}
	seg := p.s[p.pos : p.pos+end]
	n := strings.Count(seg, "(") + strings.Count(seg, ",") + 1
	if n > math.MaxInt32 {
		return nil, p.errorf(p.pos, "tree too large: more than 2^31-1 nodes")
	}
	p.parent, p.length, p.label = make([]int32, 0, n), make([]float64, 0, n), make([]span, 0, n)
	p.text = nil
	p.stack, p.open = p.stack[:0], p.open[:0]
	p.withLenSeen, p.withoutFound = false, false
nodes:
	for {
		if err := p.skip(); err != nil {
			return nil, err
		}
		v := p.newNode()
		if p.pos < len(p.s) && p.s[p.pos] == '(' {
			p.stack = append(p.stack, v)
			p.open = append(p.open, p.pos)
			p.pos++
			continue
		}
		tl, err := p.tail(v, false)
		if err != nil {
			return nil, err
		}
		for {
			if err := p.skip(); err != nil {
				return nil, err
			}
			inside := len(p.stack) > 0
			c := byte(0)
			if p.pos < len(p.s) {
				c = p.s[p.pos]
			}
			switch {
			case p.pos == len(p.s):
				return nil, p.unexpected(tl)
			case c == ',' && inside:
				p.pos++
				continue nodes
			case c == ')' && inside:
				v = p.stack[len(p.stack)-1]
				p.stack, p.open = p.stack[:len(p.stack)-1], p.open[:len(p.open)-1]
				p.pos++
				if tl, err = p.tail(v, true); err != nil {
					return nil, err
				}
			case c == ';' && !inside:
				p.pos++
				return p.finish()
			default:
				return nil, p.unexpected(tl)
			}
		}
	}
}

func (p *parser) newNode() int {
	v := len(p.parent)
	par := int32(-1)
	if len(p.stack) > 0 {
		par = int32(p.stack[len(p.stack)-1])
	}
	p.parent = append(p.parent, par)
	p.length = append(p.length, 0)
	p.label = append(p.label, span{})
	return v
}

// tail parses the optional label and ":length" of node v.
func (p *parser) tail(v int, internal bool) (tail, error) {
	tl := tail{internal: internal}
	if err := p.skip(); err != nil {
		return tl, err
	}
	at := p.pos
	if p.pos < len(p.s) && (p.s[p.pos] == '\'' || isLabelByte(p.s[p.pos])) {
		name, err := p.parseLabel()
		if err != nil {
			return tl, err
		}
		tl.label = true
		p.label[v] = span{len(p.text), len(name)}
		p.text = append(p.text, name...)
		if err := p.skip(); err != nil {
			return tl, err
		}
	}
	root := p.parent[v] < 0
	if p.pos < len(p.s) && p.s[p.pos] == ':' {
		p.pos++
		if err := p.skip(); err != nil {
			return tl, err
		}
		start := p.pos
		for p.pos < len(p.s) && isLabelByte(p.s[p.pos]) {
			p.pos++
		}
		tok := p.s[start:p.pos]
		if tok == "" {
			return tl, p.errorf(start, "expected branch length after ':', found %s", p.found())
		}
		x, ok := parseLength(tok)
		if !ok {
			return tl, p.errorf(start, "invalid branch length %q for %s: want a decimal number such as 0.5 or 2.5e-3", tok, p.nodeName(v, at))
		}
		tl.length = true
		if !root {
			switch {
			case math.IsNaN(x):
				return tl, p.errorf(start, "%s has branch length NaN", p.nodeName(v, at))
			case math.IsInf(x, 0):
				return tl, p.errorf(start, "%s has infinite branch length %s", p.nodeName(v, at), tok)
			case x < 0:
				return tl, p.errorf(start, "%s has negative branch length %s", p.nodeName(v, at), tok)
			}
			p.length[v] = x
		}
	}
	if !root {
		if tl.length && !p.withLenSeen {
			p.withLenSeen, p.withLenAt, p.withLenName = true, at, p.name(v)
		}
		if !tl.length && !p.withoutFound {
			p.withoutFound, p.withoutLenAt, p.withoutName = true, p.pos, p.name(v)
		}
	}
	return tl, nil
}

// parseLabel parses a quoted or unquoted label at p.pos.
func (p *parser) parseLabel() (string, error) {
	s := p.s
	if s[p.pos] == '\'' {
		open := p.pos
		p.pos++
		var b strings.Builder
		for {
			i := strings.IndexByte(s[p.pos:], '\'')
			if i < 0 {
				return "", p.errorf(open, "unterminated quoted label: no closing quote for the one at byte %d", open)
			}
			seg := s[p.pos : p.pos+i]
			p.pos += i + 1
			if p.pos < len(s) && s[p.pos] == '\'' { // '' stands for one quote
				b.WriteString(seg)
				b.WriteByte('\'')
				p.pos++
				continue
			}
			if b.Len() == 0 {
				return seg, nil
			}
			b.WriteString(seg)
			return b.String(), nil
		}
	}
	// Unquoted: label bytes, possibly interrupted by comments that are dropped.
	start := p.pos
	for p.pos < len(s) && isLabelByte(s[p.pos]) {
		p.pos++
	}
	if p.pos == len(s) || s[p.pos] != '[' {
		return s[start:p.pos], nil
	}
	var b strings.Builder
	b.WriteString(s[start:p.pos])
	for p.pos < len(s) && s[p.pos] == '[' {
		if err := p.comment(); err != nil {
			return "", err
		}
		seg := p.pos
		for p.pos < len(s) && isLabelByte(s[p.pos]) {
			p.pos++
		}
		b.WriteString(s[seg:p.pos])
	}
	return b.String(), nil
}

// skip advances past whitespace and comments.
func (p *parser) skip() error {
	for p.pos < len(p.s) {
		switch c := p.s[p.pos]; {
		case isSpace(c):
			p.pos++
		case c == '[':
			if err := p.comment(); err != nil {
				return err
			}
		default:
			return nil
		}
	}
	return nil
}

// comment skips the comment that starts at p.pos.
func (p *parser) comment() error {
	i := strings.IndexByte(p.s[p.pos:], ']')
	if i < 0 {
		return p.errorf(p.pos, "unterminated comment: no ']' closes the '[' at byte %d", p.pos)
	}
	p.pos += i + 1
	return nil
}

// finish checks the branch lengths and builds the topology.
func (p *parser) finish() (*Topology, error) {
	lengths := p.length
	switch {
	case !p.withLenSeen:
		lengths = nil // a cladogram: every edge gets length 1
	case p.withoutFound:
		return nil, p.errorf(p.withoutLenAt, "%s has no branch length, but %s has one; give all lengths or none",
			p.nodeNameStr(p.withoutName, p.withoutLenAt), p.nodeNameStr(p.withLenName, p.withLenAt))
	}
	t, perm := fromPreorder(p.parent, lengths)
	if len(p.text) > 0 {
		// One string for all labels, not the input, so that the topology does not
		// keep the whole input alive.
		all := string(p.text)
		t.names = make([]string, len(perm))
		for nw, old := range perm {
			l := p.label[old]
			t.names[nw] = all[l.at : l.at+l.n]
		}
	}
	return t, nil
}

// fromPreorder builds a topology from nodes numbered so that the root is 0 and
// parent[v] < v, with siblings in ascending index order, as a pre-order walk or a
// branching process numbers them. lengths (nil for all 1) is indexed like parent.
// It renumbers the nodes breadth-first with a FIFO queue, which keeps sibling order,
// and returns perm, with perm[new] = old. It does what FromParents does with less
// memory, which matters for trees of millions of nodes.
func fromPreorder(parent []int32, lengths []float64) (*Topology, []int32) {
	n := len(parent)
	// Counting sort of the nodes by parent. Filling advances end[u] from the
	// start of u's children to their end, which is where u+1's children start.
	end := make([]int32, n)
	for v := 1; v < n; v++ {
		end[parent[v]]++
	}
	sum := int32(0)
	for u := range end {
		end[u], sum = sum, sum+end[u]
	}
	kids := make([]int32, n)
	for v := 1; v < n; v++ {
		kids[end[parent[v]]] = int32(v)
		end[parent[v]]++
	}
	perm := make([]int32, 1, n)
	newParent := make([]int32, n)
	newLength := make([]float64, n)
	newParent[0] = -1
	for h := 0; h < len(perm); h++ {
		u := perm[h]
		lo := int32(0)
		if u > 0 {
			lo = end[u-1]
		}
		for _, c := range kids[lo:end[u]] {
			newParent[len(perm)] = int32(h)
			if lengths == nil {
				newLength[len(perm)] = 1
			} else {
				newLength[len(perm)] = lengths[c]
			}
			perm = append(perm, c)
		}
	}
	return build(newParent, newLength, nil), perm
}

// unexpected reports the token at p.pos, which cannot follow a node ending in tl.
func (p *parser) unexpected(tl tail) error {
	if tl.length && p.pos < len(p.s) && p.s[p.pos] == ':' {
		return p.errorf(p.pos, "duplicate ':': the node already has a branch length")
	}
	var items []string
	if !tl.label && !tl.length {
		items = append(items, "label")
	}
	if !tl.length {
		items = append(items, "':'")
	}
	inside := len(p.stack) > 0
	if inside {
		items = append(items, "','", "')'")
	} else {
		items = append(items, "';'")
	}
	list := items[len(items)-1]
	if len(items) > 1 {
		list = strings.Join(items[:len(items)-1], ", ") + " or " + list
	}
	after := ""
	switch {
	case tl.length:
		after = " after branch length"
	case tl.label:
		after = " after label"
	case tl.internal:
		after = " after ')'"
	}
	msg := fmt.Sprintf("expected %s%s, found %s", list, after, p.found())
	if inside && (p.pos == len(p.s) || p.s[p.pos] == ';') {
		msg += fmt.Sprintf(" (the '(' at byte %d is not closed)", p.open[len(p.open)-1])
	}
	return p.errorf(p.pos, "%s", msg)
}

// found describes the input at p.pos for error messages.
func (p *parser) found() string {
	if p.pos >= len(p.s) {
		return "end of input"
	}
	r, size := utf8.DecodeRuneInString(p.s[p.pos:])
	if r == utf8.RuneError && size <= 1 {
		return fmt.Sprintf("byte %#02x", p.s[p.pos])
	}
	return fmt.Sprintf("%q", r)
}

func (p *parser) nodeName(v, at int) string { return p.nodeNameStr(p.name(v), at) }

func (p *parser) nodeNameStr(name string, at int) string {
	if name != "" {
		return fmt.Sprintf("node %q", name)
	}
	return fmt.Sprintf("the unnamed node at byte %d", at)
}

func (p *parser) errorf(off int, format string, args ...any) *ParseError {
	line := 1 + strings.Count(p.s[:off], "\n")
	col := off - strings.LastIndexByte(p.s[:off], '\n') // LastIndexByte is -1 on line 1
	return &ParseError{Offset: off, Line: line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isLabelByte reports whether c may appear in an unquoted label.
func isLabelByte(c byte) bool {
	switch c {
	case '(', ')', '[', ']', '\'', ':', ';', ',':
		return false
	}
	return !isSpace(c)
}

// parseLength parses a branch length: a decimal number with optional sign, fraction
// and exponent, or inf/infinity/nan so that those can be reported as such. Go-only
// forms that strconv accepts (hexadecimal, underscores) are rejected.
func parseLength(tok string) (float64, bool) {
	s := tok
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s != "" && (s[0]|0x20 == 'i' || s[0]|0x20 == 'n') {
		switch strings.ToLower(s) {
		case "inf", "infinity", "nan":
			x, err := strconv.ParseFloat(tok, 64)
			return x, err == nil
		}
		return 0, false
	}
	i, digits := 0, 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
		digits++
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
			digits++
		}
	}
	if digits == 0 {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		exp := i
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
		if i == exp {
			return 0, false
		}
	}
	if i != len(s) {
		return 0, false
	}
	x, err := strconv.ParseFloat(tok, 64)
	if err != nil {
		// Only overflow is possible here: report it as an infinite length.
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return x, true
		}
		return 0, false
	}
	return x, true
}

// Newick returns t in Newick format, terminated by ';' and without a newline.
// See WriteNewick for the format.
func (t *Topology) Newick() string {
	b, _ := t.appendNewick(make([]byte, 0, 16*t.Len()), nil)
	return string(b)
}

// WriteNewick writes t to w in Newick format followed by a newline. Children are
// written in order, so ParseNewick gives back the same topology. The root has its
// label but no length; every other node has its label, if any, and ":length" with
// the length in the shortest form that parses back to the same float64. Labels
// containing blanks or any of ()[]':;, are quoted, with ' doubled.
func (t *Topology) WriteNewick(w io.Writer) error {
	b, err := t.appendNewick(make([]byte, 0, 64<<10), w)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// appendNewick appends t to b, flushing to w (if not nil) whenever b grows large.
// It walks the tree depth-first with an explicit stack.
func (t *Topology) appendNewick(b []byte, w io.Writer) ([]byte, error) {
	const flushAt = 64 << 10
	type frame struct{ v, next int }
	tailOf := func(b []byte, v int) []byte {
		b = appendLabel(b, t.Name(v))
		if v != 0 {
			b = append(b, ':')
			b = strconv.AppendFloat(b, t.length[v], 'g', -1, 64)
		}
		return b
	}
	lo, _ := t.Children(0)
	stack := []frame{{0, lo}}
	if !t.IsLeaf(0) {
		b = append(b, '(')
	}
	for len(stack) > 0 {
		if w != nil && len(b) >= flushAt {
			if _, err := w.Write(b); err != nil {
				return b, err
			}
			b = b[:0]
		}
		f := &stack[len(stack)-1]
		lo, hi := t.Children(f.v)
		if f.next < hi {
			c := f.next
			f.next++
			if c > lo {
				b = append(b, ',')
			}
			if t.IsLeaf(c) {
				b = tailOf(b, c)
			} else {
				b = append(b, '(')
				clo, _ := t.Children(c)
				stack = append(stack, frame{c, clo})
			}
			continue
		}
		if lo < hi {
			b = append(b, ')')
		}
		b = tailOf(b, f.v)
		stack = stack[:len(stack)-1]
	}
	return append(b, ';'), nil
}

// appendLabel appends name, quoted if ParseNewick would not read it back verbatim.
func appendLabel(b []byte, name string) []byte {
	if !needsQuote(name) {
		return append(b, name...)
	}
	b = append(b, '\'')
	for i := 0; i < len(name); i++ {
		if name[i] == '\'' {
			b = append(b, '\'')
		}
		b = append(b, name[i])
	}
	return append(b, '\'')
}

func needsQuote(name string) bool {
	if strings.HasPrefix(name, "\ufeff") {
		return true // a leading byte order mark would be skipped
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLabelByte(c) {
			return true
		} else if c >= utf8.RuneSelf {
			// Quote Unicode blanks too, for the benefit of other readers.
			r, _ := utf8.DecodeRuneInString(name[i:])
			if unicode.IsSpace(r) {
				return true
			}
		}
	}
	return false
}
