package format

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/canopy-bffg/canopy/format/internal/text"
	"github.com/canopy-bffg/canopy/topology"
)

// Kinds of mismatch found by Match. Every entry of the ErrorList that Match returns
// wraps one of them, so errors.Is(err, ErrNoTip) tells whether some row lacks a tip.
var (
	ErrNoTip          = errors.New("taxon has no tip in the tree")
	ErrNoRow          = errors.New("tip has no data row")
	ErrDuplicateTaxon = errors.New("duplicate taxon")
	ErrDuplicateTip   = errors.New("duplicate tip")
	ErrUnnamedTip     = errors.New("unnamed tip")
)

func errorf(kind error, format string, args ...any) error {
	return text.Errorf(kind, format, args...)
}

// Match pairs the leaves of t with the rows of a data table by exact name. names[r]
// is the taxon of row r and lines[r] the line it came from in file (lines may be
// nil); file names the table in messages.
//
// rows[i] is the row of the i-th leaf, t.Leaf(i), or -1 if it has none. When any
// name does not match, Match still returns rows and an ErrorList with one entry per
// problem, sorted by file and line:
//
//	traits.csv:7: taxon 'Canis_lupus' has no tip in the tree
//	traits.csv:9: duplicate taxon 'Vulpes' (first at line 4)
//	tree: tip 'Felis' has no row in traits.csv
//	tree: duplicate tip 'Lynx': 2 leaves have this name
//	tree: leaf 3 (node 7) has no name
//
// Match is Matcher{}.Match without the notes; use a Matcher to name the tree file
// or to let underscores match blanks.
func Match(t *topology.Topology, names []string, lines []int, file string) (rows []int, err error) {
	rows, _, err = Matcher{}.Match(t, names, lines, file)
	return rows, err
}

// A Matcher matches tree tips to data rows; the zero value matches names exactly.
type Matcher struct {
	// TreeFile names the tree in messages about tips; "" means "tree".
	TreeFile string

	// Underscores lets a tip and a row whose names differ only in '_' versus ' '
	// match, when neither has an exact match and the pairing is unambiguous. This
	// is the Newick rule that an unquoted underscore stands for a blank.
	Underscores bool
}

// Match is as the function Match. In addition, when m.Underscores is set, notes
// has one line for each pair that matched only by reading underscores as blanks,
// such as
//
//	traits.csv:7: taxon 'Canis lupus' matched tip 'Canis_lupus' (underscores read as blanks)
//
// in the order of the rows.
func (m Matcher) Match(t *topology.Topology, names []string, lines []int, file string) (rows []int, notes []string, err error) {
	if lines != nil && len(lines) != len(names) {
		panic(fmt.Sprintf("format: Match: %d lines for %d names", len(lines), len(names)))
	}
	treeFile := m.TreeFile
	if treeFile == "" {
		treeFile = "tree"
	}
	dataName := file
	if dataName == "" {
		dataName = "the data"
	}
	line := func(r int) int {
		if lines == nil {
			return 0
		}
		return lines[r]
	}
	// where says where row r is in messages that have no position for it.
	where := func(r int) string {
		if lines == nil {
			return fmt.Sprintf("row %d", r+1)
		}
		return fmt.Sprintf("line %d", lines[r])
	}
	taxon := func(r int) string {
		if lines == nil {
			return fmt.Sprintf("taxon %s (row %d)", text.Quote(names[r]), r+1)
		}
		return "taxon " + text.Quote(names[r])
	}

	var errs ErrorList
	rowOf := make(map[string]int, len(names))
	dupRow := make([]bool, len(names))
	for r, name := range names {
		if prev, dup := rowOf[name]; dup {
			dupRow[r] = true
			errs.Add(file, line(r), 0, errorf(ErrDuplicateTaxon, "duplicate %s (first at %s)", taxon(r), where(prev)))
			continue
		}
		rowOf[name] = r
	}

	n := t.NumLeaves()
	rows = make([]int, n)
	tipCount := make(map[string]int, n)
	for i := range rows {
		rows[i] = -1
		if name := t.Name(t.Leaf(i)); name != "" {
			tipCount[name]++
		}
	}
	used := make([]bool, len(names))
	reported := make(map[string]bool)
	var open []int // leaves with a unique name and no exact match
	for i := range rows {
		v := t.Leaf(i)
		name := t.Name(v)
		switch {
		case name == "":
			errs.Add(treeFile, 0, 0, errorf(ErrUnnamedTip, "leaf %d (node %d) has no name", i, v))
			continue
		case tipCount[name] > 1:
			if r, ok := rowOf[name]; ok {
				used[r] = true // the row has tips; the duplicates are the problem
			}
			if !reported[name] {
				reported[name] = true
				errs.Add(treeFile, 0, 0, errorf(ErrDuplicateTip, "duplicate tip %s: %d leaves have this name", text.Quote(name), tipCount[name]))
			}
			continue
		}
		if r, ok := rowOf[name]; ok {
			rows[i] = r
			used[r] = true
			continue
		}
		open = append(open, i)
	}

	if m.Underscores && len(open) > 0 {
		blank := func(s string) string { return strings.ReplaceAll(s, "_", " ") }
		// Candidates on both sides, keyed by the name with underscores as blanks;
		// -2 marks a key that more than one candidate shares.
		tipBy := make(map[string]int, len(open))
		for _, i := range open {
			k := blank(t.Name(t.Leaf(i)))
			if _, seen := tipBy[k]; seen {
				tipBy[k] = -2
			} else {
				tipBy[k] = i
			}
		}
		rowBy := make(map[string]int)
		for r, name := range names {
			if used[r] || dupRow[r] {
				continue
			}
			k := blank(name)
			if _, ok := tipBy[k]; !ok {
				continue
			}
			if _, seen := rowBy[k]; seen {
				rowBy[k] = -2
			} else {
				rowBy[k] = r
			}
		}
		type note struct {
			r   int
			msg string
		}
		var found []note
		kept := open[:0]
		for _, i := range open {
			k := blank(t.Name(t.Leaf(i)))
			r, ok := rowBy[k]
			if !ok || r < 0 || tipBy[k] < 0 {
				kept = append(kept, i)
				continue
			}
			rows[i] = r
			used[r] = true
			pe := &ParseError{File: file, Line: line(r), Err: fmt.Errorf("%s matched tip %s (underscores read as blanks)",
				taxon(r), text.Quote(t.Name(t.Leaf(i))))}
			found = append(found, note{r, pe.Error()})
		}
		open = kept
		sort.Slice(found, func(a, b int) bool { return found[a].r < found[b].r })
		for _, nt := range found {
			notes = append(notes, nt.msg)
		}
	}

	for r := range names {
		if !used[r] && !dupRow[r] {
			errs.Add(file, line(r), 0, errorf(ErrNoTip, "%s has no tip in the tree", taxon(r)))
		}
	}
	for _, i := range open {
		errs.Add(treeFile, 0, 0, errorf(ErrNoRow, "tip %s has no row in %s", text.Quote(t.Name(t.Leaf(i))), dataName))
	}
	errs.Sort()
	return rows, notes, errs.Err()
}
