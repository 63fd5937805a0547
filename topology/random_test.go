package topology

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestYule(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	for _, n := range []int{1, 2, 3, 10, 1000} {
		tp, err := Yule(n, rng)
		must.NoError(t, err)
		checkInvariants(t, tp)
		check.Equal(t, n, tp.NumLeaves())
		check.Equal(t, 2*n-1, tp.Len())
		for v := 0; v < tp.Len(); v++ {
			if !tp.IsLeaf(v) {
				check.Equal(t, 2, tp.NumChildren(v))
			}
			if v > 0 {
				check.Positive(t, tp.BranchLength(v))
			}
		}
		// Ultrametric: all leaves at the same distance from the root.
		d0 := tp.Dist(tp.Leaf(0))
		for i := 0; i < n; i++ {
			check.InDelta(t, d0, tp.Dist(tp.Leaf(i)), 1e-9*math.Max(1, d0))
			check.Equal(t, "t"+strconv.Itoa(i+1), tp.Name(tp.Leaf(i)))
		}
	}
	_, err := Yule(0, rng)
	check.Error(t, err)

	// Same seed, same tree.
	a, _ := Yule(50, rand.New(rand.NewPCG(3, 4)))
	b, _ := Yule(50, rand.New(rand.NewPCG(3, 4)))
	check.Equal(t, a.Newick(), b.Newick())
}

// TestYuleHeight checks the process against theory: the height is the sum of
// independent Exp(k) waiting times for k = 2 … n (the last one being the final
// interval), so its mean is sum_{k=2}^{n} 1/k.
func TestYuleHeight(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	const n, reps = 20, 4000
	want := 0.0
	for k := 2; k <= n; k++ {
		want += 1 / float64(k)
	}
	sum := 0.0
	for r := 0; r < reps; r++ {
		tp, err := Yule(n, rng)
		must.NoError(t, err)
		sum += tp.Dist(tp.Leaf(0))
	}
	// The height's variance is sum 1/k² < 0.65, so the standard error is < 0.013.
	check.InDelta(t, want, sum/reps, 0.05)
}

func TestCaterpillar(t *testing.T) {
	tp, err := Caterpillar(4)
	must.NoError(t, err)
	checkInvariants(t, tp)
	check.Equal(t, []int{-1, 0, 0, 2, 2, 4, 4}, tp.Parents())
	check.Equal(t, "(t1:1,(t2:1,(t3:1,t4:1):1):1);", tp.Newick())
	check.Equal(t, 4, tp.NumLevels())

	tp, err = Caterpillar(1)
	must.NoError(t, err)
	check.Equal(t, 1, tp.Len())
	check.Equal(t, "t1;", tp.Newick())

	_, err = Caterpillar(0)
	check.Error(t, err)

	tp, err = Caterpillar(1_000_000)
	must.NoError(t, err)
	check.Equal(t, 1_999_999, tp.Len())
	check.Equal(t, 1_000_000, tp.NumLevels())
	check.Equal(t, 999_999.0, tp.Dist(tp.Len()-1))
	check.Equal(t, "t1000000", tp.Name(tp.Len()-1))
}

func TestRandomTree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, maxDeg := range []int{0, 1, 2, 3} {
		tp, err := RandomTree(300, maxDeg, rng)
		must.NoError(t, err)
		checkInvariants(t, tp)
		check.Equal(t, 300, tp.Len())
		for v := 0; v < tp.Len(); v++ {
			if maxDeg > 0 {
				check.LessOrEqual(t, tp.NumChildren(v), maxDeg)
			}
		}
		if maxDeg == 1 {
			check.Equal(t, 300, tp.NumLevels())
		}
	}
	_, err := RandomTree(0, 2, rng)
	check.Error(t, err)
}

func BenchmarkYule(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			for i := 0; i < b.N; i++ {
				if _, err := Yule(n, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCaterpillar(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := Caterpillar(1_000_000); err != nil {
			b.Fatal(err)
		}
	}
}
