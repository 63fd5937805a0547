package format_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/canopy-bffg/canopy/format"
	"github.com/canopy-bffg/canopy/format/traits"
	"github.com/canopy-bffg/canopy/topology"
)

func ExampleMatch() {
	tree, err := topology.ParseNewick("((Puma_concolor:3.1,Felis_catus:3.1):13.1,'Lynx rufus':16.2);")
	if err != nil {
		fmt.Println(err)
		return
	}
	const csv = `taxon,size
Puma_concolor,37.01
Canis_lupus,40.2
Lynx_rufus,9.4
`
	table, err := traits.Read(strings.NewReader(csv), "traits.csv")
	if err != nil {
		fmt.Println(err)
		return
	}

	// Every mismatch at once, sorted by file and line.
	_, err = format.Match(tree, table.Taxa, table.Lines, "traits.csv")
	format.PrintError(os.Stdout, err)
	fmt.Println()

	// The same, reading underscores as blanks.
	m := format.Matcher{TreeFile: "tree.nwk", Underscores: true}
	rows, notes, err := m.Match(tree, table.Taxa, table.Lines, "traits.csv")
	for _, n := range notes {
		fmt.Println("note:", n)
	}
	format.PrintError(os.Stdout, err)
	for i, r := range rows {
		fmt.Printf("leaf %d %q: row %d\n", i, tree.Name(tree.Leaf(i)), r)
	}
	// Output:
	// traits.csv:3: taxon 'Canis_lupus' has no tip in the tree
	// traits.csv:4: taxon 'Lynx_rufus' has no tip in the tree
	// tree: tip 'Felis_catus' has no row in traits.csv
	// tree: tip 'Lynx rufus' has no row in traits.csv
	//
	// note: traits.csv:4: taxon 'Lynx_rufus' matched tip 'Lynx rufus' (underscores read as blanks)
	// traits.csv:3: taxon 'Canis_lupus' has no tip in the tree
	// tree.nwk: tip 'Felis_catus' has no row in traits.csv
	// leaf 0 "Lynx rufus": row 2
	// leaf 1 "Puma_concolor": row 0
	// leaf 2 "Felis_catus": row -1
}
