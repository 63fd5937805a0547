package nexus

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/canopy-bffg/canopy/format/internal/text"
)

// Writer writes trees to a Nexus file: a TAXA block, then a TREES block with a
// TRANSLATE table that numbers the taxa from 1, then one TREE command per tree.
type Writer struct {
	w       *bufio.Writer
	taxa    []string
	key     map[string]string // taxon label → key
	started bool
	closed  bool
	err     error
}

// NewWriter returns a Writer to w for trees whose leaves are labelled with taxa.
// With no taxa it writes neither a TAXA block nor a TRANSLATE table, and leaf
// labels are written as they are. The header is written by the first Write or by
// Close.
func NewWriter(w io.Writer, taxa []string) *Writer {
	return &Writer{w: bufio.NewWriter(w), taxa: taxa}
}

// word returns s as a Nexus word, quoted unless it is made only of letters,
// digits and _ . - characters.
func word(s string) string {
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-'
	}
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func (w *Writer) start() error {
	w.started = true
	w.key = make(map[string]string, len(w.taxa))
	for i, s := range w.taxa {
		if s == "" {
			return fmt.Errorf("nexus: taxon %d has an empty label", i+1)
		}
		if _, dup := w.key[s]; dup {
			return fmt.Errorf("nexus: %w %s", ErrDuplicateTaxon, text.Quote(s))
		}
		w.key[s] = strconv.Itoa(i + 1)
	}
	b := w.w
	b.WriteString("#NEXUS\n")
	if len(w.taxa) > 0 {
		fmt.Fprintf(b, "BEGIN TAXA;\n\tDIMENSIONS NTAX=%d;\n\tTAXLABELS\n", len(w.taxa))
		for _, s := range w.taxa {
			fmt.Fprintf(b, "\t\t%s\n", word(s))
		}
		b.WriteString("\t;\nEND;\n")
	}
	b.WriteString("BEGIN TREES;\n")
	if len(w.taxa) > 0 {
		b.WriteString("\tTRANSLATE\n")
		for i, s := range w.taxa {
			sep := ","
			if i == len(w.taxa)-1 {
				sep = ""
			}
			fmt.Fprintf(b, "\t\t%d %s%s\n", i+1, word(s), sep)
		}
		b.WriteString("\t;\n")
	}
	return nil
}

// Write writes one tree. Its leaves must be labelled with taxa given to NewWriter,
// or be unlabelled; a comment must not contain a bracket. Rooting is written as
// [&R] or [&U] and t.Default as '*'.
func (w *Writer) Write(t *Tree) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("nexus: Write after Close")
	}
	if !w.started {
		if w.err = w.start(); w.err != nil {
			return w.err
		}
	}
	tp := t.Topology
	if tp == nil {
		return errors.New("nexus: tree has no topology")
	}
	for _, c := range t.Comments {
		if strings.ContainsAny(c, "[]") {
			return fmt.Errorf("nexus: tree %s: comment %q contains a bracket", text.Quote(t.Name), c)
		}
	}
	if names := tp.Names(); len(w.taxa) > 0 && names != nil {
		for i := 0; i < tp.NumLeaves(); i++ {
			v := tp.Leaf(i)
			if names[v] == "" {
				continue
			}
			k, ok := w.key[names[v]]
			if !ok {
				return fmt.Errorf("nexus: tree %s: tip %s is not one of the taxa", text.Quote(t.Name), text.Quote(names[v]))
			}
			names[v] = k
		}
		var err error
		if tp, err = tp.WithNames(names); err != nil {
			return err
		}
	}
	b := w.w
	b.WriteString("\tTREE ")
	if t.Default {
		b.WriteString("* ")
	}
	b.WriteString(word(t.Name))
	for _, c := range t.Comments {
		b.WriteString(" [")
		b.WriteString(c)
		b.WriteByte(']')
	}
	b.WriteString(" = ")
	switch t.Rooting {
	case Rooted:
		b.WriteString("[&R] ")
	case Unrooted:
		b.WriteString("[&U] ")
	}
	if err := tp.WriteNewick(b); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Close ends the TREES block and flushes the output; it does not close the
// underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	if !w.started {
		if w.err = w.start(); w.err != nil {
			return w.err
		}
	}
	w.closed = true
	w.w.WriteString("END;\n")
	w.err = w.w.Flush()
	return w.err
}
