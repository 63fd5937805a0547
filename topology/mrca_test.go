package topology

import (
	"math/rand/v2"
	"testing"
)

// mrcaWalk finds the MRCA by marking every ancestor of u and walking up from v.
func mrcaWalk(tp *Topology, u, v int) int {
	anc := map[int]bool{}
	for w := u; w >= 0; w = tp.Parent(w) {
		anc[w] = true
	}
	for w := v; ; w = tp.Parent(w) {
		if anc[w] {
			return w
		}
	}
}

func TestMRCASmall(t *testing.T) {
	// The primate tree: 0 root, 1 inner, 2 Gibbon, 3 inner, 4 Orangutan, 5 inner,
	// 6 Gorilla, 7 Human, 8 Chimp.
	tp, err := ParseNewick("((((Human:6.5,Chimp:6.5):2,Gorilla:8.5):6,Orangutan:14.5):5.5,Gibbon:20);")
	must.NoError(t, err)
	for _, c := range [][3]int{
		{7, 8, 5}, {8, 7, 5}, {7, 6, 3}, {6, 4, 1}, {7, 4, 1}, {7, 2, 0},
		{4, 2, 0}, {7, 7, 7}, {0, 0, 0}, {5, 7, 5}, {7, 3, 3}, {1, 2, 0},
	} {
		check.Equal(t, c[2], tp.MRCA(c[0], c[1]), "MRCA(%d, %d)", c[0], c[1])
	}

	// A chain: the MRCA is the shallower node.
	chain, err := Symmetric(5, 1)
	must.NoError(t, err)
	check.Equal(t, 2, chain.MRCA(2, 5))
	check.Equal(t, 2, chain.MRCA(5, 2))

	one, err := Symmetric(0, 2)
	must.NoError(t, err)
	check.Equal(t, 0, one.MRCA(0, 0))
	check.Equal(t, []float64{0}, one.MRCAKernel(nil))
}

func TestMRCAKernelSymmetric(t *testing.T) {
	tp, err := Symmetric(4, 2)
	must.NoError(t, err)
	k := tp.MRCAKernel(nil)
	m := tp.NumLeaves()
	must.Equal(t, 16, m)
	must.Equal(t, 256, len(k))
	// Leaves i and j (0-based, left to right) share 4 - bits(i xor j) edges, where
	// bits is the bit length: siblings share 3, cousins 2, ...
	want := func(i, j int) float64 {
		d := 4.0
		for x := i ^ j; x > 0; x >>= 1 {
			d--
		}
		return d
	}
	for i := 0; i < m; i++ {
		for j := 0; j < m; j++ {
			check.Equal(t, want(i, j), k[i*m+j], "K[%d,%d]", i, j)
		}
	}
	check.Equal(t, 4.0, k[0])
	check.Equal(t, 3.0, k[1])
	check.Equal(t, 2.0, k[2])
	check.Equal(t, 1.0, k[4])
	check.Equal(t, 0.0, k[8])
	check.Equal(t, 0.0, k[15*m])

	// dst is reused and fully overwritten.
	dst := make([]float64, 256)
	for i := range dst {
		dst[i] = -7
	}
	check.Equal(t, k, tp.MRCAKernel(dst))

	defer func() { check.True(t, recover() != nil, "short dst must panic") }()
	tp.MRCAKernel(make([]float64, 3))
}

func TestMRCAKernelPrimates(t *testing.T) {
	tp, err := ParseNewick("((((Human:6.5,Chimp:6.5):2,Gorilla:8.5):6,Orangutan:14.5):5.5,Gibbon:20);")
	must.NoError(t, err)
	// Leaves in breadth-first order: Gibbon, Orangutan, Gorilla, Human, Chimp.
	want := []float64{
		20, 0, 0, 0, 0,
		0, 20, 5.5, 5.5, 5.5,
		0, 5.5, 20, 11.5, 11.5,
		0, 5.5, 11.5, 20, 13.5,
		0, 5.5, 11.5, 13.5, 20,
	}
	check.Equal(t, want, tp.MRCAKernel(nil))
}

func TestMRCARandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	var trees []*Topology
	for trial := 0; trial < 10; trial++ {
		tp, err := RandomTree(2+rng.IntN(120), rng.IntN(5), rng)
		must.NoError(t, err)
		trees = append(trees, tp)
		tp, err = Yule(2+rng.IntN(60), rng)
		must.NoError(t, err)
		trees = append(trees, tp)
	}
	cat, err := Caterpillar(30)
	must.NoError(t, err)
	trees = append(trees, cat)
	for _, tp := range trees {
		for r := 0; r < 200; r++ {
			u, v := rng.IntN(tp.Len()), rng.IntN(tp.Len())
			check.Equal(t, mrcaWalk(tp, u, v), tp.MRCA(u, v), "MRCA(%d, %d) in %v", u, v, tp)
		}
		m := tp.NumLeaves()
		k := tp.MRCAKernel(nil)
		for i := 0; i < m; i++ {
			for j := 0; j < m; j++ {
				w := tp.Dist(mrcaWalk(tp, tp.Leaf(i), tp.Leaf(j)))
				if k[i*m+j] != w {
					t.Fatalf("%v: K[%d,%d] = %v, want %v", tp, i, j, k[i*m+j], w)
				}
			}
		}
	}
}
