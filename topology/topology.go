// Package topology represents a rooted tree as flat arrays in breadth-first order.
//
// Node 0 is the root. Nodes are numbered level by level, so every level is one
// contiguous index range, and the children of a node are contiguous and keep their
// left-to-right order. Per-node data elsewhere in canopy (package tree, package bffg)
// is laid out in this order, which lets sweeps visit a level as one slice.
//
// # Invariants
//
// For a Topology t with n = t.Len() nodes:
//   - t.Parent(0) == -1 and 0 <= t.Parent(v) < v for v > 0;
//   - parents are non-decreasing in v, so the children of v are the range
//     t.Children(v) and the first child of v+1 follows the last child of v;
//   - t.Depth(v) == t.Depth(t.Parent(v)) + 1 and depths are non-decreasing in v;
//   - t.BranchLength(v) >= 0 is the length of the edge above v (0 for the root) and
//     t.Dist(v) is the sum of branch lengths from the root to v.
//
// A Topology is immutable once built and safe for concurrent use.
package topology

import (
	"errors"
	"fmt"
	"math"
)

// Topology is a rooted tree stored as flat arrays in breadth-first order.
type Topology struct {
	parent     []int32   // parent[0] == -1
	childStart []int32   // children of v are childStart[v] .. childStart[v+1]-1; len n+1
	depth      []int32   // edges from the root
	levelStart []int32   // level l is levelStart[l] .. levelStart[l+1]-1
	length     []float64 // branch length of the edge above each node; 0 at the root
	dist       []float64 // distance from the root
	names      []string  // nil when no node is named
	leaves     []int32   // leaf node indices, ascending
	leafIndex  []int32   // leafIndex[v] = position of v among the leaves, or -1
}

// Len returns the number of nodes.
func (t *Topology) Len() int { return len(t.parent) }

// Parent returns the parent of v, or -1 for the root.
func (t *Topology) Parent(v int) int { return int(t.parent[v]) }

// Children returns the half-open index range [lo, hi) of v's children.
func (t *Topology) Children(v int) (lo, hi int) {
	return int(t.childStart[v]), int(t.childStart[v+1])
}

// NumChildren returns the number of children of v.
func (t *Topology) NumChildren(v int) int { return int(t.childStart[v+1] - t.childStart[v]) }

// IsLeaf reports whether v has no children. The root of a one-node tree is a leaf.
func (t *Topology) IsLeaf(v int) bool { return t.childStart[v+1] == t.childStart[v] }

// Depth returns the number of edges between the root and v.
func (t *Topology) Depth(v int) int { return int(t.depth[v]) }

// BranchLength returns the length of the edge above v; it is 0 for the root.
func (t *Topology) BranchLength(v int) float64 { return t.length[v] }

// Dist returns the distance from the root to v: the sum of branch lengths on the path.
func (t *Topology) Dist(v int) float64 { return t.dist[v] }

// Name returns the label of v, or "" when v is unnamed.
func (t *Topology) Name(v int) string {
	if t.names == nil {
		return ""
	}
	return t.names[v]
}

// NumLevels returns the number of levels, which is the maximum depth plus one.
func (t *Topology) NumLevels() int { return len(t.levelStart) - 1 }

// Level returns the half-open index range [lo, hi) of the nodes at depth l.
func (t *Topology) Level(l int) (lo, hi int) {
	return int(t.levelStart[l]), int(t.levelStart[l+1])
}

// NumLeaves returns the number of leaves.
func (t *Topology) NumLeaves() int { return len(t.leaves) }

// Leaf returns the node index of the i-th leaf in breadth-first order.
func (t *Topology) Leaf(i int) int { return int(t.leaves[i]) }

// LeafIndex returns the position of node v among the leaves, or -1 if v is not a leaf.
func (t *Topology) LeafIndex(v int) int { return int(t.leafIndex[v]) }

// Parents returns a copy of the parent array, with -1 for the root.
func (t *Topology) Parents() []int {
	p := make([]int, len(t.parent))
	for i, v := range t.parent {
		p[i] = int(v)
	}
	return p
}

// BranchLengths returns a copy of the branch lengths.
func (t *Topology) BranchLengths() []float64 { return append([]float64(nil), t.length...) }

// Names returns a copy of the node labels, or nil when no node is named.
func (t *Topology) Names() []string {
	if t.names == nil {
		return nil
	}
	return append([]string(nil), t.names...)
}

// String returns a short description such as "topology: 31 nodes, 16 leaves, 5 levels".
func (t *Topology) String() string {
	return fmt.Sprintf("topology: %d nodes, %d leaves, %d levels", t.Len(), t.NumLeaves(), t.NumLevels())
}

// Errors returned by the builders.
var (
	ErrEmpty        = errors.New("topology: empty tree")
	ErrRoot         = errors.New("topology: tree must have exactly one root")
	ErrCycle        = errors.New("topology: parent array has a cycle or a node unreachable from the root")
	ErrBranchLength = errors.New("topology: branch length must be finite and non-negative")
	ErrTooLarge     = errors.New("topology: tree has more than 2^31-1 nodes")
)

// NodeError reports a problem at a node of the input given to a builder.
type NodeError struct {
	Node  int     // index in the caller's numbering
	Name  string  // label, if any
	Value float64 // offending value, if any
	Err   error
}

func (e *NodeError) Error() string {
	name := ""
	if e.Name != "" {
		name = fmt.Sprintf(" (%q)", e.Name)
	}
	if errors.Is(e.Err, ErrBranchLength) {
		return fmt.Sprintf("%v: node %d%s has length %v", e.Err, e.Node, name, e.Value)
	}
	return fmt.Sprintf("%v: node %d%s", e.Err, e.Node, name)
}

func (e *NodeError) Unwrap() error { return e.Err }

// Symmetric returns the complete tree in which every internal node has degree children
// and every leaf is at the given depth, with unit branch lengths. Symmetric(0, k) is a
// single node; degree 1 gives a chain of depth+1 nodes.
func Symmetric(depth, degree int) (*Topology, error) {
	if depth < 0 || degree < 1 {
		return nil, fmt.Errorf("topology: Symmetric(%d, %d): need depth >= 0 and degree >= 1", depth, degree)
	}
	n, width := 1, 1
	for l := 0; l < depth; l++ {
		width *= degree
		n += width
		if n > math.MaxInt32 {
			return nil, ErrTooLarge
		}
	}
	parent := make([]int32, n)
	length := make([]float64, n)
	parent[0] = -1
	start, prev, width := 1, 0, 1
	for l := 1; l <= depth; l++ {
		width *= degree
		for k := 0; k < width; k++ {
			parent[start+k] = int32(prev + k/degree)
			length[start+k] = 1
		}
		prev = start
		start += width
	}
	return build(parent, length, nil), nil
}

// FromParents builds a topology from a parent array in any order. parents[i] is the
// parent of node i and exactly one node is the root, marked by a negative parent or by
// being its own parent. lengths (optional, else all 1) gives the branch length above
// each node, names (optional) the labels. Siblings keep their relative input order.
//
// The nodes are renumbered into breadth-first order: perm[new] = old, so node new of the
// result is node perm[new] of the input.
func FromParents(parents []int, lengths []float64, names []string) (t *Topology, perm []int, err error) {
	n := len(parents)
	if n == 0 {
		return nil, nil, ErrEmpty
	}
	if n > math.MaxInt32 {
		return nil, nil, ErrTooLarge
	}
	if lengths != nil && len(lengths) != n {
		return nil, nil, fmt.Errorf("topology: %d branch lengths for %d nodes", len(lengths), n)
	}
	if names != nil && len(names) != n {
		return nil, nil, fmt.Errorf("topology: %d names for %d nodes", len(names), n)
	}
	nameOf := func(i int) string {
		if names == nil {
			return ""
		}
		return names[i]
	}
	root := -1
	count := make([]int32, n+1) // children per node, then prefix offsets
	for i, p := range parents {
		if p < 0 || p == i {
			if root >= 0 {
				return nil, nil, &NodeError{Node: i, Name: nameOf(i), Err: ErrRoot}
			}
			root = i
			continue
		}
		if p >= n {
			return nil, nil, &NodeError{Node: i, Name: nameOf(i), Err: fmt.Errorf("topology: parent %d out of range [0, %d)", p, n)}
		}
		count[p+1]++
	}
	if root < 0 {
		return nil, nil, ErrRoot
	}
	if lengths != nil {
		for i, l := range lengths {
			if i != root && (l < 0 || math.IsNaN(l) || math.IsInf(l, 0)) {
				return nil, nil, &NodeError{Node: i, Name: nameOf(i), Value: l, Err: ErrBranchLength}
			}
		}
	}
	for i := 1; i <= n; i++ {
		count[i] += count[i-1]
	}
	// Children lists in input order (counting sort by parent keeps ascending i).
	kids := make([]int32, n)
	fill := append([]int32(nil), count[:n]...)
	for i, p := range parents {
		if p < 0 || p == i {
			continue
		}
		kids[fill[p]] = int32(i)
		fill[p]++
	}
	// Breadth-first renumbering: a FIFO over the input nodes.
	perm = make([]int, 0, n)
	perm = append(perm, root)
	for head := 0; head < len(perm); head++ {
		u := perm[head]
		for _, c := range kids[count[u]:count[u+1]] {
			perm = append(perm, int(c))
		}
	}
	if len(perm) != n {
		// Some node was never reached: it lies on a cycle.
		seen := make([]bool, n)
		for _, v := range perm {
			seen[v] = true
		}
		for i := range seen {
			if !seen[i] {
				return nil, nil, &NodeError{Node: i, Name: nameOf(i), Err: ErrCycle}
			}
		}
	}
	inv := make([]int32, n)
	for nw, old := range perm {
		inv[old] = int32(nw)
	}
	parent := make([]int32, n)
	length := make([]float64, n)
	var nm []string
	if names != nil {
		nm = make([]string, n)
	}
	for nw, old := range perm {
		if nw == 0 {
			parent[0] = -1
		} else {
			parent[nw] = inv[parents[old]]
			if lengths == nil {
				length[nw] = 1
			} else {
				length[nw] = lengths[old]
			}
		}
		if nm != nil {
			nm[nw] = names[old]
		}
	}
	return build(parent, length, nm), perm, nil
}

// build derives every field from a breadth-first parent array. It assumes the
// invariants hold: parent[0] = -1, parents non-decreasing and parent[v] < v.
func build(parent []int32, length []float64, names []string) *Topology {
	n := len(parent)
	t := &Topology{parent: parent, length: length, names: names}
	t.childStart = make([]int32, n+1)
	for v := 1; v < n; v++ {
		t.childStart[parent[v]+1]++
	}
	// Children of u start right after those of u-1; nodes without children get an
	// empty range at the position where their children would be.
	t.childStart[0] = 1
	for u := 0; u < n; u++ {
		t.childStart[u+1] += t.childStart[u]
	}
	t.depth = make([]int32, n)
	t.dist = make([]float64, n)
	t.levelStart = []int32{0}
	for v := 1; v < n; v++ {
		p := parent[v]
		t.depth[v] = t.depth[p] + 1
		t.dist[v] = t.dist[p] + length[v]
		if t.depth[v] != t.depth[v-1] {
			t.levelStart = append(t.levelStart, int32(v))
		}
	}
	t.levelStart = append(t.levelStart, int32(n))
	t.leafIndex = make([]int32, n)
	for v := 0; v < n; v++ {
		if t.childStart[v+1] == t.childStart[v] {
			t.leafIndex[v] = int32(len(t.leaves))
			t.leaves = append(t.leaves, int32(v))
		} else {
			t.leafIndex[v] = -1
		}
	}
	return t
}

// WithBranchLengths returns a copy of t whose branch lengths are replaced by lengths
// (one per node; the root's entry is ignored and stored as 0).
func (t *Topology) WithBranchLengths(lengths []float64) (*Topology, error) {
	if len(lengths) != t.Len() {
		return nil, fmt.Errorf("topology: %d branch lengths for %d nodes", len(lengths), t.Len())
	}
	for v := 1; v < t.Len(); v++ {
		if l := lengths[v]; l < 0 || math.IsNaN(l) || math.IsInf(l, 0) {
			return nil, &NodeError{Node: v, Name: t.Name(v), Value: l, Err: ErrBranchLength}
		}
	}
	l := append([]float64(nil), lengths...)
	l[0] = 0
	return build(t.parent, l, t.names), nil
}

// WithNames returns a copy of t with the given node labels (one per node, or nil).
func (t *Topology) WithNames(names []string) (*Topology, error) {
	if names != nil && len(names) != t.Len() {
		return nil, fmt.Errorf("topology: %d names for %d nodes", len(names), t.Len())
	}
	u := *t
	u.names = append([]string(nil), names...)
	if names == nil {
		u.names = nil
	}
	return &u, nil
}
