package nexus_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/canopy-bffg/canopy/format/nexus"
)

func ExampleReader() {
	const file = `#NEXUS
begin trees;
	translate 1 Homo_sapiens, 2 'Pan troglodytes', 3 Gorilla;
	tree STATE_0 [&lnP=-1234.5] = [&R] ((1[&rate=0.1]:6.5,2:6.5):2,3:8.5);
	tree STATE_1000 [&lnP=-1230.1] = [&R] ((1:6,2:6):2.5,3:8.5);
end;
`
	r := nexus.NewReader(strings.NewReader(file))
	r.File = "primates.trees"
	for {
		t, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(t.Name, t.Rooting, t.Comments, t.Topology.Newick())
	}

	_, err := nexus.ReadTree(strings.NewReader("#NEXUS\nbegin trees;\n  translate 1 a, 1 b;\nend;\n"), 0)
	fmt.Println(err)
	// Output:
	// STATE_0 rooted [&lnP=-1234.5] ((Homo_sapiens:6.5,'Pan troglodytes':6.5):2,Gorilla:8.5);
	// STATE_1000 rooted [&lnP=-1230.1] ((Homo_sapiens:6,'Pan troglodytes':6):2.5,Gorilla:8.5);
	// 3:18: TRANSLATE: duplicate key 1
}
