package tps_test

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/canopy-bffg/canopy/format/tps"
)

func ExampleReader() {
	const file = `LM=3
10 20
-1 -1
30 40
IMAGE=sagrei_01.jpg
SCALE=0.01
LM=3
12 22
14 25
NA NA
ID=carolinensis
SCALE=0.02
`
	r := tps.NewReader(strings.NewReader(file))
	r.File = "anoles.tps"
	r.ApplyScale = true
	w := tps.NewWriter(os.Stdout)
	for {
		s, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s (line %d): %v\n", s.Name(), s.Line, s.Landmarks)
		s.Scale = 0 // the coordinates are in mm now
		w.Write(s)
	}
	w.Flush()
	// Output:
	// sagrei_01 (line 1): [[0.1 0.2] [NaN NaN] [0.3 0.4]]
	// carolinensis (line 7): [[0.24 0.44] [0.28 0.5] [NaN NaN]]
	// LM=3
	// 0.1 0.2
	// NA NA
	// 0.3 0.4
	// IMAGE=sagrei_01.jpg
	// LM=3
	// 0.24 0.44
	// 0.28 0.5
	// NA NA
	// ID=carolinensis
}
