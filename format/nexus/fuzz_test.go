package nexus_test

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/canopy-bffg/canopy/format/nexus"
)

// FuzzNexus checks that reading never panics and that every tree read is written
// and read back unchanged: name, rooting, comments and topology with its labels.
func FuzzNexus(f *testing.F) {
	f.Add(beastFile)
	f.Add(mrbayesFile)
	f.Add("#nexus\nbegin taxa; dimensions ntax=2; taxlabels a 'b c'; end;\nbegin trees; tree t = (1,2); end;")
	f.Add("#NEXUS\nBEGIN TREES;\nTREE * 'x''y' [c1] = [&U] [c2] ((a:1,b:2)90:3,'c;[d]':0);\n")
	if b, err := os.ReadFile("../testdata/garland1992_mammals/tree.nwk"); err == nil {
		f.Add("#NEXUS\nbegin trees; tree t = " + string(b) + "end;\n")
	}
	f.Fuzz(func(t *testing.T, src string) {
		r := nexus.NewReader(strings.NewReader(src))
		for range 100 {
			tr, err := r.Next()
			if err == io.EOF {
				return
			}
			if err != nil {
				if _, err2 := r.Next(); err2 == nil {
					continue // an error in one tree; the next may be fine
				}
				return
			}
			roundTrip(t, tr)
		}
	})
}

func roundTrip(t *testing.T, tr *nexus.Tree) {
	t.Helper()
	seen := make(map[string]bool)
	var taxa []string
	for _, s := range leafNames(tr.Topology) {
		if s != "" && !seen[s] {
			seen[s] = true
			taxa = append(taxa, s)
		}
	}
	var buf bytes.Buffer
	w := nexus.NewWriter(&buf, taxa)
	if err := w.Write(tr); err != nil {
		if strings.Contains(err.Error(), "contains a bracket") {
			return
		}
		t.Fatalf("Write: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	got, err := nexus.ReadTree(bytes.NewReader(buf.Bytes()), 0)
	if err != nil {
		t.Fatalf("reading back: %v\n%s", err, buf.String())
	}
	if got.Name != tr.Name || got.Rooting != tr.Rooting || got.Default != tr.Default {
		t.Fatalf("header changed: %+v became %+v", tr, got)
	}
	if strings.Join(got.Comments, "]") != strings.Join(tr.Comments, "]") || len(got.Comments) != len(tr.Comments) {
		t.Fatalf("comments changed: %q became %q", tr.Comments, got.Comments)
	}
	if a, b := tr.Topology.Newick(), got.Topology.Newick(); a != b {
		t.Fatalf("tree changed:\n%s\n%s\nfile:\n%s", a, b, buf.String())
	}
}
