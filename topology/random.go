package topology

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
)

// Yule returns a random binary tree with nLeaves leaves drawn from the Yule
// (pure-birth) process with birth rate 1, and leaves named "t1" … "tn" in
// breadth-first order.
//
// The process starts with the root splitting into two lineages at time 0. While
// there are k < nLeaves lineages, the time to the next split is exponential with
// rate k and the lineage that splits is chosen uniformly. After the last split one
// more exponential waiting time, with rate nLeaves, is added to every lineage, so
// that no leaf has a zero-length branch. All leaves end at the same time: the tree
// is ultrametric. Yule(1, rng) is a single node.
//
// It runs in O(nLeaves) time.
func Yule(nLeaves int, rng *rand.Rand) (*Topology, error) {
	if nLeaves < 1 {
		return nil, fmt.Errorf("topology: Yule(%d): need at least one leaf", nLeaves)
	}
	if nLeaves > (math.MaxInt32+1)/2 {
		return nil, ErrTooLarge
	}
	n := 2*nLeaves - 1
	// Run the process with nodes numbered in birth order, recording for each node
	// its first child (the second is the next node) and when it split. Keeping times
	// rather than adding every waiting time to every lineage makes this linear.
	type split struct {
		first int32   // first child, or 0 for a leaf
		time  float64 // when the node split
	}
	type lineage struct {
		node  int32
		birth float64
	}
	nodes := make([]split, n)
	active := make([]lineage, 1, nLeaves) // current leaves
	next := int32(1)
	now := 0.0
	for k := 1; k < nLeaves; k++ {
		if k > 1 {
			now += rng.ExpFloat64() / float64(k)
		}
		i := rng.IntN(k)
		nodes[active[i].node] = split{next, now}
		active[i] = lineage{next, now}
		active = append(active, lineage{next + 1, now})
		next += 2
	}
	end := now
	if nLeaves > 1 {
		end += rng.ExpFloat64() / float64(nLeaves)
	}
	// Breadth-first renumbering; the queue carries birth times so that each branch
	// length is found when its node is dequeued.
	queue := make([]lineage, 1, n)
	parent := make([]int32, n)
	length := make([]float64, n)
	parent[0] = -1
	for h := 0; h < n; h++ {
		q := queue[h]
		s := nodes[q.node]
		if s.first == 0 {
			length[h] = end - q.birth
			continue
		}
		length[h] = s.time - q.birth
		parent[len(queue)], parent[len(queue)+1] = int32(h), int32(h)
		queue = append(queue, lineage{s.first, s.time}, lineage{s.first + 1, s.time})
	}
	length[0] = 0
	t := build(parent, length, nil)
	t.names = leafNames(t)
	return t, nil
}

// Caterpillar returns the tree with nLeaves leaves in which every internal node has
// a leaf as its first child and, except the deepest one, an internal node as its
// second: (t1,(t2,(t3,…(tn-1,tn)))). It has unit branch lengths and depth
// nLeaves-1, the worst case for anything that recurses on depth. Leaves are named
// "t1" … "tn" in breadth-first order, which here is also the order from the root.
func Caterpillar(nLeaves int) (*Topology, error) {
	if nLeaves < 1 {
		return nil, fmt.Errorf("topology: Caterpillar(%d): need at least one leaf", nLeaves)
	}
	if nLeaves > (math.MaxInt32+1)/2 {
		return nil, ErrTooLarge
	}
	n := 2*nLeaves - 1
	parent := make([]int32, n)
	length := make([]float64, n)
	parent[0] = -1
	// Level l >= 1 holds a leaf 2l-1 and the node 2l, both children of node 2(l-1).
	for v := 1; v < n; v++ {
		parent[v] = int32(2 * ((v - 1) / 2))
		length[v] = 1
	}
	t := build(parent, length, nil)
	t.names = leafNames(t)
	return t, nil
}

// RandomTree returns a random recursive tree with nNodes nodes: node i > 0 is
// attached to a node chosen uniformly among nodes 0 … i-1 that have fewer than
// maxDegree children (any node, if maxDegree <= 0). The tree is ragged and may have
// unary nodes, which makes it a useful test case. Branch lengths are independent
// Exp(1) draws and nodes are unnamed.
func RandomTree(nNodes, maxDegree int, rng *rand.Rand) (*Topology, error) {
	if nNodes < 1 {
		return nil, fmt.Errorf("topology: RandomTree(%d, %d): need at least one node", nNodes, maxDegree)
	}
	if nNodes > math.MaxInt32 {
		return nil, ErrTooLarge
	}
	parents := make([]int, nNodes)
	lengths := make([]float64, nNodes)
	degree := make([]int32, nNodes)
	open := make([]int32, 1, nNodes) // nodes that can take another child
	parents[0] = -1
	for i := 1; i < nNodes; i++ {
		j := rng.IntN(len(open))
		u := open[j]
		parents[i] = int(u)
		lengths[i] = rng.ExpFloat64()
		degree[u]++
		if maxDegree > 0 && int(degree[u]) >= maxDegree {
			open[j] = open[len(open)-1]
			open = open[:len(open)-1]
		}
		open = append(open, int32(i))
	}
	t, _, err := FromParents(parents, lengths, nil)
	return t, err
}

// leafNames names the leaves of t "t1" … "tn" in breadth-first order, with all the
// labels in one string so that a million leaves cost a few allocations.
func leafNames(t *Topology) []string {
	buf := make([]byte, 0, t.NumLeaves()*8)
	ends := make([]int, t.NumLeaves())
	for i := range ends {
		buf = append(buf, 't')
		buf = strconv.AppendInt(buf, int64(i+1), 10)
		ends[i] = len(buf)
	}
	all := string(buf)
	names := make([]string, t.Len())
	start := 0
	for i, v := range t.leaves {
		names[v] = all[start:ends[i]]
		start = ends[i]
	}
	return names
}
