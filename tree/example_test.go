package tree_test

import (
	"fmt"

	"github.com/canopy-bffg/canopy/topology"
	"github.com/canopy-bffg/canopy/tree"
)

// An up-sweep sums the leaves below every node; a down-sweep accumulates distances from
// the root. Each level is one contiguous index range, so a callback handles a slice of
// nodes at a time.
func ExampleSchedule_Up() {
	t, err := topology.Symmetric(2, 2) // 7 nodes, leaves 3..6
	if err != nil {
		panic(err)
	}
	leaves := tree.NewScalars(t.Len())
	var s tree.Schedule
	s.Up(t, func(_, lo, hi int) {
		for v := lo; v < hi; v++ {
			if t.IsLeaf(v) {
				leaves[v] = 1
				continue
			}
			a, b := t.Children(v)
			for c := a; c < b; c++ {
				leaves[v] += leaves[c]
			}
		}
	})
	fmt.Println(leaves)
	// Output:
	// [4 2 2 1 1 1 1]
}
