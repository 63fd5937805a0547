package tree

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/canopy-bffg/canopy/topology"
)

func randomTopology(t *testing.T, n int) *topology.Topology {
	rng := rand.New(rand.NewPCG(1, uint64(n)))
	parents := make([]int, n)
	parents[0] = -1
	for v := 1; v < n; v++ {
		parents[v] = rng.IntN(v)
	}
	tp, _, err := topology.FromParents(parents, nil, nil)
	require.NoError(t, err)
	return tp
}

// An up-sweep computing subtree sizes and a down-sweep computing depths give the same
// answers as a serial computation, for every schedule, and every node is visited once.
func TestSweeps(t *testing.T) {
	tp := randomTopology(t, 50000)
	n := tp.Len()
	want := make([]float64, n)
	for v := n - 1; v >= 0; v-- {
		want[v]++
		if v > 0 {
			want[tp.Parent(v)] += want[v]
		}
	}
	for _, s := range []Schedule{{Workers: 1}, {Workers: 2, Grain: 1}, {Workers: 7, Grain: 100}, {}} {
		size := NewScalars(n)
		var visits atomic.Int64
		s.Up(tp, func(w, lo, hi int) {
			require.Less(t, w, s.NumWorkers())
			visits.Add(int64(hi - lo))
			for v := lo; v < hi; v++ {
				size[v] = 1
				a, b := tp.Children(v)
				for c := a; c < b; c++ {
					size[v] += size[c]
				}
			}
		})
		require.Equal(t, int64(n), visits.Load())
		require.Equal(t, want, []float64(size))

		depth := NewVectors(n, 2)
		s.Down(tp, func(_, lo, hi int) {
			for v := lo; v < hi; v++ {
				if v == 0 {
					continue
				}
				p := depth.At(tp.Parent(v))
				depth.At(v)[0] = p[0] + 1
				depth.At(v)[1] = p[1] + tp.BranchLength(v)
			}
		})
		for v := 0; v < n; v++ {
			require.Equal(t, float64(tp.Depth(v)), depth.At(v)[0])
			require.InDelta(t, tp.Dist(v), depth.At(v)[1], 1e-9)
		}
	}
}

func TestFields(t *testing.T) {
	m := NewMatrices(3, 2)
	m.At(1)[3] = 5
	require.Equal(t, 5.0, m.Data[7])
	require.Equal(t, 3, m.Len())
	v := NewVectors(4, 3)
	v.At(3)[2] = 1
	require.Equal(t, 1.0, v.Data[11])
	require.Equal(t, 4, v.Len())
	require.Len(t, Grow(make([]float64, 2, 10), 8), 8)
	tp := randomTopology(t, 10)
	require.Panics(t, func() { CheckVectors(tp, v) })
}
