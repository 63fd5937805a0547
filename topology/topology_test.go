package topology

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// checkInvariants asserts the package invariants on t.
func checkInvariants(t *testing.T, tp *Topology) {
	t.Helper()
	n := tp.Len()
	must.True(t, n > 0)
	must.Equal(t, -1, tp.Parent(0))
	check.Equal(t, 0.0, tp.BranchLength(0))
	check.Equal(t, 0.0, tp.Dist(0))
	next := 1 // the first child of the next node with children
	for v := 0; v < n; v++ {
		if v > 0 {
			p := tp.Parent(v)
			must.True(t, 0 <= p && p < v, "parent of %d is %d", v, p)
			must.GreaterOrEqual(t, p, tp.Parent(v-1), "parents must be non-decreasing at %d", v)
			must.Equal(t, tp.Depth(p)+1, tp.Depth(v))
			must.GreaterOrEqual(t, tp.Depth(v), tp.Depth(v-1))
			must.Equal(t, tp.Dist(p)+tp.BranchLength(v), tp.Dist(v))
		}
		lo, hi := tp.Children(v)
		must.Equal(t, next, lo, "children of %d", v)
		for c := lo; c < hi; c++ {
			must.Equal(t, v, tp.Parent(c))
		}
		next = hi
		must.Equal(t, hi-lo, tp.NumChildren(v))
		must.Equal(t, hi == lo, tp.IsLeaf(v))
	}
	must.Equal(t, n, next)
	for l := 0; l < tp.NumLevels(); l++ {
		lo, hi := tp.Level(l)
		must.Less(t, lo, hi)
		for v := lo; v < hi; v++ {
			must.Equal(t, l, tp.Depth(v))
		}
	}
	_, hi := tp.Level(tp.NumLevels() - 1)
	must.Equal(t, n, hi)
	k := 0
	for v := 0; v < n; v++ {
		if tp.IsLeaf(v) {
			must.Equal(t, v, tp.Leaf(k))
			must.Equal(t, k, tp.LeafIndex(v))
			k++
		} else {
			must.Equal(t, -1, tp.LeafIndex(v))
		}
	}
	must.Equal(t, k, tp.NumLeaves())
}

func TestSymmetric(t *testing.T) {
	tp, err := Symmetric(3, 2)
	must.NoError(t, err)
	checkInvariants(t, tp)
	check.Equal(t, []int{-1, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6}, tp.Parents())
	check.Equal(t, 4, tp.NumLevels())
	check.Equal(t, 8, tp.NumLeaves())
	check.Equal(t, 3.0, tp.Dist(14))
	check.Nil(t, tp.Names())
	check.Equal(t, "topology: 15 nodes, 8 leaves, 4 levels", tp.String())

	tp, err = Symmetric(4, 2)
	must.NoError(t, err)
	checkInvariants(t, tp)
	check.Equal(t, 31, tp.Len())
	check.Equal(t, 5, tp.NumLevels())
	check.Equal(t, 16, tp.NumLeaves())
	for i := 0; i < 16; i++ {
		check.Equal(t, 15+i, tp.Leaf(i))
	}
	lo, hi := tp.Level(4)
	check.Equal(t, [2]int{15, 31}, [2]int{lo, hi})

	tp, err = Symmetric(2, 3)
	must.NoError(t, err)
	checkInvariants(t, tp)
	check.Equal(t, 13, tp.Len())
	check.Equal(t, []int{-1, 0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3}, tp.Parents())
	for i := 0; i < 9; i++ {
		check.Equal(t, 4+i, tp.Leaf(i))
	}
	lo, hi = tp.Children(2)
	check.Equal(t, [2]int{7, 10}, [2]int{lo, hi})
}

func TestSymmetricChainAndSingle(t *testing.T) {
	tp, err := Symmetric(3, 1)
	must.NoError(t, err)
	checkInvariants(t, tp)
	check.Equal(t, []int{-1, 0, 1, 2}, tp.Parents())
	check.Equal(t, 4, tp.NumLevels())
	check.Equal(t, 1, tp.NumLeaves())
	check.Equal(t, 3, tp.Leaf(0))
	check.Equal(t, 3.0, tp.Dist(3))

	tp, err = Symmetric(0, 5)
	must.NoError(t, err)
	checkInvariants(t, tp)
	check.Equal(t, 1, tp.Len())
	check.True(t, tp.IsLeaf(0))
	check.Equal(t, 1, tp.NumLevels())

	for _, c := range [][2]int{{-1, 2}, {2, 0}, {3, -2}} {
		_, err := Symmetric(c[0], c[1])
		check.Error(t, err, "Symmetric(%d, %d)", c[0], c[1])
	}
	_, err = Symmetric(40, 2)
	check.ErrorIs(t, err, ErrTooLarge)
}

func TestFromParentsHand(t *testing.T) {
	// Root is input node 1 with children 2, 3 (in input order); 2 has child 4 and 3
	// has children 0, 5. Breadth-first: 1, 2, 3, 4, 0, 5.
	parents := []int{3, -1, 1, 1, 2, 3}
	lengths := []float64{0.5, 7, 1, 2, 3, 0.25}
	names := []string{"a", "r", "b", "c", "d", "e"}
	tp, perm, err := FromParents(parents, lengths, names)
	must.NoError(t, err)
	checkInvariants(t, tp)
	check.Equal(t, []int{1, 2, 3, 4, 0, 5}, perm)
	check.Equal(t, []int{-1, 0, 0, 1, 2, 2}, tp.Parents())
	check.Equal(t, []float64{0, 1, 2, 3, 0.5, 0.25}, tp.BranchLengths())
	check.Equal(t, []string{"r", "b", "c", "d", "a", "e"}, tp.Names())
	check.Equal(t, 4.0, tp.Dist(3))
	check.Equal(t, 2.25, tp.Dist(5))
	check.Equal(t, 3, tp.NumLevels())

	// Hyperiax style: the root is its own parent; lengths default to 1.
	tp, perm, err = FromParents([]int{0, 0, 0, 1}, nil, nil)
	must.NoError(t, err)
	check.Equal(t, []int{0, 1, 2, 3}, perm)
	check.Equal(t, []int{-1, 0, 0, 1}, tp.Parents())
	check.Equal(t, []float64{0, 1, 1, 1}, tp.BranchLengths())
	check.Equal(t, 2.0, tp.Dist(3))
}

func TestFromParentsShuffled(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 20; trial++ {
		n := 1 + rng.IntN(200)
		ref, err := RandomTree(n, 1+rng.IntN(5), rng)
		must.NoError(t, err)
		// Shuffle: input node q holds reference node order[q].
		order := rng.Perm(n)
		pos := make([]int, n)
		for q, v := range order {
			pos[v] = q
		}
		parents := make([]int, n)
		lengths := make([]float64, n)
		names := make([]string, n)
		for q, v := range order {
			parents[q] = -1
			if v > 0 {
				parents[q] = pos[ref.Parent(v)]
			}
			lengths[q] = ref.BranchLength(v)
			names[q] = string(rune('A' + q%26))
		}
		tp, perm, err := FromParents(parents, lengths, names)
		must.NoError(t, err)
		checkInvariants(t, tp)
		must.Len(t, perm, n)
		seen := make([]bool, n)
		for v, q := range perm {
			must.False(t, seen[q])
			seen[q] = true
			if v > 0 {
				check.Equal(t, lengths[q], tp.BranchLength(v))
			}
			check.Equal(t, names[q], tp.Name(v))
			if v > 0 {
				check.Equal(t, parents[q], perm[tp.Parent(v)])
			}
			// Distance by walking up in the input numbering.
			d := 0.0
			for u := q; parents[u] >= 0; u = parents[u] {
				d += lengths[u]
			}
			check.InDelta(t, d, tp.Dist(v), 1e-12)
			// Siblings keep their input order.
			lo, hi := tp.Children(v)
			for c := lo + 1; c < hi; c++ {
				check.Less(t, perm[c-1], perm[c])
			}
		}
		check.Equal(t, ref.NumLevels(), tp.NumLevels())
		check.Equal(t, ref.NumLeaves(), tp.NumLeaves())
	}
}

func TestFromParentsErrors(t *testing.T) {
	_, _, err := FromParents(nil, nil, nil)
	check.ErrorIs(t, err, ErrEmpty)

	_, _, err = FromParents([]int{-1, 0, -1}, nil, nil)
	check.ErrorIs(t, err, ErrRoot)
	var ne *NodeError
	must.ErrorAs(t, err, &ne)
	check.Equal(t, 2, ne.Node)

	_, _, err = FromParents([]int{1, 0}, nil, nil) // no root
	check.ErrorIs(t, err, ErrRoot)

	_, _, err = FromParents([]int{-1, 0, 3, 2}, nil, []string{"r", "a", "b", "c"})
	check.ErrorIs(t, err, ErrCycle)
	must.ErrorAs(t, err, &ne)
	check.Equal(t, 2, ne.Node)
	check.Equal(t, "b", ne.Name)

	_, _, err = FromParents([]int{-1, 5}, nil, nil)
	must.ErrorAs(t, err, &ne)
	check.Equal(t, 1, ne.Node)
	check.Contains(t, err.Error(), "out of range")

	for _, bad := range []float64{-1, math.NaN(), math.Inf(1)} {
		_, _, err = FromParents([]int{-1, 0, 0}, []float64{0, 1, bad}, []string{"", "", "x"})
		check.ErrorIs(t, err, ErrBranchLength)
		must.ErrorAs(t, err, &ne)
		check.Equal(t, 2, ne.Node)
		check.Contains(t, err.Error(), `node 2 ("x") has length`)
	}
	// The root's length is ignored, whatever it is.
	tp, _, err := FromParents([]int{-1, 0}, []float64{math.NaN(), 2}, nil)
	must.NoError(t, err)
	check.Equal(t, []float64{0, 2}, tp.BranchLengths())

	_, _, err = FromParents([]int{-1, 0}, []float64{1}, nil)
	check.Error(t, err)
	_, _, err = FromParents([]int{-1, 0}, nil, []string{"a"})
	check.Error(t, err)
}

func TestWithBranchLengthsAndNames(t *testing.T) {
	tp, err := Symmetric(1, 2)
	must.NoError(t, err)
	u, err := tp.WithBranchLengths([]float64{9, 2, 3})
	must.NoError(t, err)
	check.Equal(t, []float64{0, 2, 3}, u.BranchLengths())
	check.Equal(t, 3.0, u.Dist(2))
	check.Equal(t, []float64{0, 1, 1}, tp.BranchLengths(), "original unchanged")
	_, err = tp.WithBranchLengths([]float64{0, -2, 3})
	check.ErrorIs(t, err, ErrBranchLength)

	v, err := tp.WithNames([]string{"r", "a", "b"})
	must.NoError(t, err)
	check.Equal(t, "a", v.Name(1))
	check.Equal(t, "", tp.Name(1))
	w, err := v.WithNames(nil)
	must.NoError(t, err)
	check.Nil(t, w.Names())
	_, err = tp.WithNames([]string{"x"})
	check.Error(t, err)
}

// checker is a minimal assertion helper, so that the tests need nothing beyond the
// standard library. check reports and continues; must stops the test.
type checker struct{ fatal bool }

var (
	check = checker{fatal: false}
	must  = checker{fatal: true}
)

func (c checker) fail(t testing.TB, msg []any, format string, args ...any) bool {
	t.Helper()
	s := fmt.Sprintf(format, args...)
	if len(msg) > 0 {
		if f, ok := msg[0].(string); ok {
			s = fmt.Sprintf(f, msg[1:]...) + ": " + s
		}
	}
	if c.fatal {
		t.Fatal(s)
	}
	t.Error(s)
	return false
}

func (c checker) Equal(t testing.TB, want, got any, msg ...any) bool {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		return c.fail(t, msg, "got %#v, want %#v", got, want)
	}
	return true
}

func (c checker) True(t testing.TB, ok bool, msg ...any) bool {
	t.Helper()
	if !ok {
		return c.fail(t, msg, "condition is false")
	}
	return true
}

func (c checker) False(t testing.TB, ok bool, msg ...any) bool {
	t.Helper()
	if ok {
		return c.fail(t, msg, "condition is true")
	}
	return true
}

func (c checker) NoError(t testing.TB, err error, msg ...any) bool {
	t.Helper()
	if err != nil {
		return c.fail(t, msg, "unexpected error: %v", err)
	}
	return true
}

func (c checker) Error(t testing.TB, err error, msg ...any) bool {
	t.Helper()
	if err == nil {
		return c.fail(t, msg, "expected an error")
	}
	return true
}

func (c checker) ErrorIs(t testing.TB, err, target error, msg ...any) bool {
	t.Helper()
	if !errors.Is(err, target) {
		return c.fail(t, msg, "error %v is not %v", err, target)
	}
	return true
}

func (c checker) ErrorAs(t testing.TB, err error, target any, msg ...any) bool {
	t.Helper()
	if !errors.As(err, target) {
		return c.fail(t, msg, "error %v (%T) is not a %T", err, err, target)
	}
	return true
}

func (c checker) Contains(t testing.TB, s, sub string, msg ...any) bool {
	t.Helper()
	if !strings.Contains(s, sub) {
		return c.fail(t, msg, "%q does not contain %q", s, sub)
	}
	return true
}

func (c checker) InDelta(t testing.TB, want, got, delta float64, msg ...any) bool {
	t.Helper()
	if !(math.Abs(want-got) <= delta) {
		return c.fail(t, msg, "got %v, want %v ± %v", got, want, delta)
	}
	return true
}

func (c checker) Less(t testing.TB, a, b int, msg ...any) bool {
	t.Helper()
	if a >= b {
		return c.fail(t, msg, "%d is not less than %d", a, b)
	}
	return true
}

func (c checker) LessOrEqual(t testing.TB, a, b int, msg ...any) bool {
	t.Helper()
	if a > b {
		return c.fail(t, msg, "%d is greater than %d", a, b)
	}
	return true
}

func (c checker) GreaterOrEqual(t testing.TB, a, b int, msg ...any) bool {
	t.Helper()
	if a < b {
		return c.fail(t, msg, "%d is less than %d", a, b)
	}
	return true
}

func (c checker) Positive(t testing.TB, x float64, msg ...any) bool {
	t.Helper()
	if !(x > 0) {
		return c.fail(t, msg, "%v is not positive", x)
	}
	return true
}

func (c checker) Nil(t testing.TB, x any, msg ...any) bool {
	t.Helper()
	if x != nil {
		v := reflect.ValueOf(x)
		switch v.Kind() {
		case reflect.Slice, reflect.Map, reflect.Pointer, reflect.Interface, reflect.Func, reflect.Chan:
			if v.IsNil() {
				return true
			}
		}
		return c.fail(t, msg, "got %#v, want nil", x)
	}
	return true
}

func (c checker) Len(t testing.TB, x any, n int, msg ...any) bool {
	t.Helper()
	if l := reflect.ValueOf(x).Len(); l != n {
		return c.fail(t, msg, "length %d, want %d", l, n)
	}
	return true
}
