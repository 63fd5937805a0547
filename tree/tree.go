// Package tree stores per-node fields in topology order and runs level-by-level sweeps.
//
// A field holds one value per node of a topology.Topology: a scalar, a D-vector or a
// D×D matrix, stored contiguously so node v's value is one slice of the backing array.
// An up-sweep visits the levels from the deepest to the root, so a node sees its
// children's values already written; a down-sweep visits them from the root to the
// deepest, so a node sees its parent's. Within a level the nodes are independent and
// may run in parallel.
//
// # Invariants
//
// A sweep's callback must write only to the nodes of the range it is given (and may read
// anything written at earlier levels). Under that rule the result of a sweep does not
// depend on how a level is split into chunks, so it does not depend on GOMAXPROCS.
package tree

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/canopy-bffg/canopy/topology"
)

// Scalars is a field with one float64 per node.
type Scalars []float64

// NewScalars returns a zero scalar field for n nodes.
func NewScalars(n int) Scalars { return make(Scalars, n) }

// Vectors is a field with one D-vector per node, node v at Data[v*D : (v+1)*D].
type Vectors struct {
	D    int
	Data []float64
}

// NewVectors returns a zero vector field of dimension d for n nodes.
func NewVectors(n, d int) Vectors { return Vectors{D: d, Data: make([]float64, n*d)} }

// At returns node v's vector; it aliases the field's storage.
func (f Vectors) At(v int) []float64 { return f.Data[v*f.D : (v+1)*f.D : (v+1)*f.D] }

// Len returns the number of nodes.
func (f Vectors) Len() int {
	if f.D == 0 {
		return 0
	}
	return len(f.Data) / f.D
}

// Matrices is a field with one row-major D×D matrix per node, node v at
// Data[v*D*D : (v+1)*D*D].
type Matrices struct {
	D    int
	Data []float64
}

// NewMatrices returns a zero matrix field of dimension d×d for n nodes.
func NewMatrices(n, d int) Matrices { return Matrices{D: d, Data: make([]float64, n*d*d)} }

// At returns node v's matrix in row-major order; it aliases the field's storage.
func (f Matrices) At(v int) []float64 {
	s := f.D * f.D
	return f.Data[v*s : (v+1)*s : (v+1)*s]
}

// Len returns the number of nodes.
func (f Matrices) Len() int {
	if f.D == 0 {
		return 0
	}
	return len(f.Data) / (f.D * f.D)
}

// Grow returns s resized to n elements, reusing its storage when it is large enough.
// The contents are not cleared.
func Grow(s []float64, n int) []float64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float64, n)
}

// DefaultGrain is the smallest number of nodes given to one goroutine by default.
// Below it the cost of starting a goroutine exceeds the work of a chunk.
const DefaultGrain = 2048

// Schedule says how a sweep splits a level between goroutines.
// The zero value runs up to GOMAXPROCS goroutines with chunks of at least DefaultGrain.
type Schedule struct {
	// Workers bounds the number of goroutines per level; 0 means runtime.GOMAXPROCS(0),
	// 1 runs everything on the calling goroutine.
	Workers int
	// Grain is the minimum number of nodes per goroutine; 0 means DefaultGrain.
	Grain int
}

// NumWorkers returns the largest worker index plus one that a sweep under s may pass to
// its callback, so callers can allocate one scratch space per worker.
func (s Schedule) NumWorkers() int {
	if s.Workers > 0 {
		return s.Workers
	}
	return runtime.GOMAXPROCS(0)
}

func (s Schedule) grain() int {
	if s.Grain > 0 {
		return s.Grain
	}
	return DefaultGrain
}

// Func processes the nodes lo..hi-1 of one level. worker is in [0, NumWorkers()) and no
// two concurrent calls share it, so it can index per-goroutine scratch space.
type Func func(worker, lo, hi int)

// Up runs fn over every level of t from the deepest to the root.
func (s Schedule) Up(t *topology.Topology, fn Func) {
	w, g := s.resolve(t)
	for l := t.NumLevels() - 1; l >= 0; l-- {
		lo, hi := t.Level(l)
		level(lo, hi, w, g, fn)
	}
}

// Down runs fn over every level of t from the root to the deepest.
func (s Schedule) Down(t *topology.Topology, fn Func) {
	w, g := s.resolve(t)
	for l := 0; l < t.NumLevels(); l++ {
		lo, hi := t.Level(l)
		level(lo, hi, w, g, fn)
	}
}

// resolve returns the worker bound and grain for a sweep over t, asking the runtime
// for GOMAXPROCS (which takes a lock) only when some level could be split.
func (s Schedule) resolve(t *topology.Topology) (workers, grain int) {
	g := s.grain()
	if t.Len() < 2*g || s.Workers == 1 {
		return 1, g
	}
	return s.NumWorkers(), g
}

// level runs fn over [lo, hi), in parallel chunks of at least g nodes when the level
// is large enough.
func level(lo, hi, w, g int, fn Func) {
	n := hi - lo
	if n/g < w {
		w = n / g
	}
	if w <= 1 {
		fn(0, lo, hi)
		return
	}
	var wg sync.WaitGroup
	wg.Add(w - 1)
	for k := 1; k < w; k++ {
		a, b := lo+k*n/w, lo+(k+1)*n/w
		go func(k, a, b int) {
			defer wg.Done()
			fn(k, a, b)
		}(k, a, b)
	}
	fn(0, lo, lo+n/w)
	wg.Wait()
}

// check panics with a tree-prefixed message when a field does not fit t.
func check(t *topology.Topology, n int, what string) {
	if n != t.Len() {
		panic(fmt.Sprintf("tree: %s has %d nodes, topology has %d", what, n, t.Len()))
	}
}

// CheckVectors panics if f does not have one vector per node of t.
func CheckVectors(t *topology.Topology, f Vectors) { check(t, f.Len(), "vector field") }

// CheckMatrices panics if f does not have one matrix per node of t.
func CheckMatrices(t *topology.Topology, f Matrices) { check(t, f.Len(), "matrix field") }
