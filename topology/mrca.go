package topology

import "fmt"

// MRCA returns the most recent common ancestor of nodes u and v.
// It walks up from the deeper node, so it costs O(depth).
func (t *Topology) MRCA(u, v int) int {
	for t.depth[u] > t.depth[v] {
		u = int(t.parent[u])
	}
	for t.depth[v] > t.depth[u] {
		v = int(t.parent[v])
	}
	for u != v {
		u, v = int(t.parent[u]), int(t.parent[v])
	}
	return u
}

// MRCAKernel writes into dst, a row-major NumLeaves×NumLeaves matrix, the kernel
// K[i,j] = Dist(MRCA(Leaf(i), Leaf(j))): the length of the path the root shares with
// leaves i and j. Under Brownian motion with unit rate and the root fixed, K is the
// covariance of the leaf values. With unit branch lengths K[i,j] is the depth of the
// MRCA. If dst is nil a new slice is allocated. It costs O(NumLeaves² + Len·depth).
func (t *Topology) MRCAKernel(dst []float64) []float64 {
	m := len(t.leaves)
	if dst == nil {
		dst = make([]float64, m*m)
	}
	if len(dst) != m*m {
		panic(fmt.Sprintf("topology: MRCAKernel dst has length %d, want %d", len(dst), m*m))
	}
	// Leaves below each node form one contiguous run of a list built bottom-up:
	// process nodes from the last to the first, so every child's run exists when its
	// parent is reached, and pair leaves from different children at the parent.
	n := t.Len()
	first := make([]int32, n) // start of v's run in order
	size := make([]int32, n)
	order := make([]int32, 0, m)
	// Runs are created by concatenation; to keep them contiguous, lay leaves out in
	// depth-first order, which a reverse pre-order walk produces.
	stack := []int32{0}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		first[v] = int32(len(order))
		if t.IsLeaf(int(v)) {
			order = append(order, t.leafIndex[v])
		}
		lo, hi := t.Children(int(v))
		for c := hi - 1; c >= lo; c-- {
			stack = append(stack, int32(c))
		}
	}
	for v := n - 1; v >= 0; v-- {
		if t.IsLeaf(v) {
			size[v] = 1
			i := int(t.leafIndex[v])
			dst[i*m+i] = t.dist[v]
			continue
		}
		lo, hi := t.Children(v)
		d := t.dist[v]
		for a := lo; a < hi; a++ {
			ra := order[first[a] : first[a]+size[a]]
			for b := a + 1; b < hi; b++ {
				for _, i := range ra {
					for _, j := range order[first[b] : first[b]+size[b]] {
						dst[int(i)*m+int(j)] = d
						dst[int(j)*m+int(i)] = d
					}
				}
			}
			size[v] += size[a]
		}
	}
	return dst
}
