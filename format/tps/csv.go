package tps

import (
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/canopy-bffg/canopy/format/traits"

	"github.com/canopy-bffg/canopy/format/internal/text"
)

// ReadCSV reads landmarks stored one specimen per row: a header
// "taxon,x1,y1,x2,y2,..." (2-D) or "taxon,x1,y1,z1,x2,y2,z2,..." (3-D), then one
// row per specimen with its name and coordinates. The file follows the rules of
// package traits (comments, NA or empty cells for missing values, errors with
// positions). dim is 2 or 3, or 0 to tell from the header: the coordinate columns
// must then be named by x, y and z in turn, each followed by anything (x1, Y_1,
// z12), case-insensitively. A landmark with any missing coordinate is missing.
// Each specimen has ID set to the row's taxon and Line to the row's line.
func ReadCSV(r io.Reader, file string, dim int) ([]*Specimen, error) {
	rd := traits.NewReader(r)
	rd.File = file
	header, err := rd.Header()
	if err != nil {
		return nil, err
	}
	hline := rd.HeaderLine()
	fail := func(format string, args ...any) error {
		return &ParseError{File: file, Line: hline, Err: text.Errorf(ErrCount, format, args...)}
	}
	axis := func(j int) byte {
		if header[j] == "" {
			return 0
		}
		return header[j][0] | 0x20 // lower case for letters
	}
	switch dim {
	case 0:
		if len(header) >= 3 && axis(0) == 'x' && axis(1) == 'y' && axis(2) == 'z' {
			dim = 3
		} else if len(header) >= 2 && axis(0) == 'x' && axis(1) == 'y' {
			dim = 2
		} else {
			return nil, fail("cannot tell 2-D from 3-D landmarks: want coordinate columns named x1,y1,... or x1,y1,z1,..., found %s", strings.Join(header, ","))
		}
		for j := range header {
			if axis(j) != "xyz"[j%dim] {
				return nil, fail("column %d is %q, want a name starting with %c for %d-D landmarks", j+2, header[j], "xyz"[j%dim], dim)
			}
		}
	case 2, 3:
	default:
		panic(fmt.Sprintf("tps: ReadCSV: dimension %d, want 0, 2 or 3", dim))
	}
	if len(header)%dim != 0 {
		return nil, fail("%d coordinate columns is not a multiple of %d", len(header), dim)
	}
	t, err := rd.ReadAll()
	if err != nil {
		return nil, err
	}
	out := make([]*Specimen, len(t.Taxa))
	for i, name := range t.Taxa {
		s := &Specimen{ID: name, Dim: dim, Line: t.Lines[i], Landmarks: make([][]float64, len(header)/dim)}
		for k := range s.Landmarks {
			p := t.Values[i][k*dim : (k+1)*dim : (k+1)*dim]
			for _, x := range p {
				if math.IsNaN(x) {
					for c := range p {
						p[c] = math.NaN()
					}
					break
				}
			}
			s.Landmarks[k] = p
		}
		out[i] = s
	}
	return out, nil
}
