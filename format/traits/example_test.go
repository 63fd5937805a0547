package traits_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/canopy-bffg/canopy/format/traits"
)

func ExampleRead() {
	const file = `taxon,size,range
# body size in kg, range in km
Puma_concolor,37.01,36
Panthera_onca,88.0,NA
Lynx_rufus,,4.3
`
	t, err := traits.Read(strings.NewReader(file), "carnivores.csv")
	if err != nil {
		fmt.Println(err)
		return
	}
	for i, name := range t.Taxa {
		fmt.Printf("line %d: %-14s %v\n", t.Lines[i], name, t.Values[i])
	}
	if err := traits.Write(os.Stdout, t); err != nil {
		fmt.Println(err)
	}

	_, err = traits.Read(strings.NewReader("taxon,size\nPuma_concolor,nan\nLynx_rufus,1,2\n"), "bad.csv")
	fmt.Println(err)
	// Output:
	// line 3: Puma_concolor  [37.01 36]
	// line 4: Panthera_onca  [88 NaN]
	// line 5: Lynx_rufus     [NaN 4.3]
	// taxon,size,range
	// Puma_concolor,37.01,36
	// Panthera_onca,88,NA
	// Lynx_rufus,NA,4.3
	// bad.csv:2:15: trait 'size' of 'Puma_concolor': invalid number "nan"; write NA or leave the cell empty for a missing value (and 1 more error)
}
