package topology_test

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/canopy-bffg/canopy/topology"
)

func ExampleParseNewick() {
	t, err := topology.ParseNewick("((Human:6.5,Chimp:6.5)Hominini:2,'Gorilla gorilla':8.5)Homininae;")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t)
	for v := 0; v < t.Len(); v++ {
		fmt.Printf("%d %-16q parent %2d length %3g dist %4g\n",
			v, t.Name(v), t.Parent(v), t.BranchLength(v), t.Dist(v))
	}
	fmt.Println(t.Newick())

	_, err = topology.ParseNewick("(A:1,B:2")
	fmt.Println(err)
	// Output:
	// topology: 5 nodes, 3 leaves, 3 levels
	// 0 "Homininae"      parent -1 length   0 dist    0
	// 1 "Hominini"       parent  0 length   2 dist    2
	// 2 "Gorilla gorilla" parent  0 length 8.5 dist  8.5
	// 3 "Human"          parent  1 length 6.5 dist  8.5
	// 4 "Chimp"          parent  1 length 6.5 dist  8.5
	// ((Human:6.5,Chimp:6.5)Hominini:2,'Gorilla gorilla':8.5)Homininae;
	// newick: line 1, column 9 (byte 8): expected ',' or ')' after branch length, found end of input (the '(' at byte 0 is not closed)
}

func ExampleSymmetric() {
	t, err := topology.Symmetric(3, 2)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t)
	fmt.Println(t.Parents())
	lo, hi := t.Level(3)
	fmt.Println("leaves:", lo, "to", hi-1)
	lo, hi = t.Children(2)
	fmt.Println("children of 2:", lo, hi-1)
	// Output:
	// topology: 15 nodes, 8 leaves, 4 levels
	// [-1 0 0 1 1 2 2 3 3 4 4 5 5 6 6]
	// leaves: 7 to 14
	// children of 2: 5 6
}

func ExampleCaterpillar() {
	t, err := topology.Caterpillar(4)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(t.Newick())
	// Output:
	// (t1:1,(t2:1,(t3:1,t4:1):1):1);
}

func ExampleYule() {
	t, err := topology.Yule(1000, rand.New(rand.NewPCG(1, 2)))
	if err != nil {
		fmt.Println(err)
		return
	}
	// The tree is binary and ultrametric; its shape depends on the seed.
	height := t.Dist(t.Leaf(0))
	ultrametric := true
	for i := 0; i < t.NumLeaves(); i++ {
		ultrametric = ultrametric && math.Abs(t.Dist(t.Leaf(i))-height) < 1e-9
	}
	fmt.Println(t.Len(), "nodes,", t.NumLeaves(), "leaves, ultrametric:", ultrametric)
	// Output:
	// 1999 nodes, 1000 leaves, ultrametric: true
}
