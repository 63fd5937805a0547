package bffg

import (
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

// With LocalAux the reverse pass equals central finite differences in z, θ and τ²:
// noisy and exactly observed tips, uniform and time-changed grids, discrete edges mixed
// in, missing landmarks with steps set by a step length, and a drift with and without
// an auxiliary drift (also into exact tips); and the same without the step cache, bit
// for bit.
func TestFlowLocalAuxGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(75, 76))
	for k, dims := range [][2]int{{3, 2}, {4, 1}, {3, 2}, {4, 2}, {3, 2}, {3, 2}, {4, 3}, {3, 2}} {
		c := newFlowCase(rng, 7, dims[0], dims[1], 4)
		c.ex, c.local = true, true
		c.tc = k == 1 || k == 5
		if k == 2 || k == 3 || k == 7 {
			c.tau2 = 0 // the conditioning step into exact tips
		}
		if k == 3 || k == 4 { // missing landmarks, steps set by a step length
			c.sl = 0.2
			c.missLandmarks()
		}
		if k == 1 || k == 4 {
			c.discreteEvery()
		}
		if k >= 5 {
			c.drift = 0.8
			c.aux = k >= 6
		}
		f, z, zbar, pbar, tb := checkFlowGradient(t, rng, c)
		checkCacheFree(t, f, z, zbar, pbar, tb)
	}
}

// For a linear flow (K constant) the local auxiliary is the anchors' one: the same
// log h_root, log-weights and states, to rounding.
func TestFlowLocalAuxLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(77, 78))
	tr, kk, root, y := linearFlowCase(rng)
	const n, d, tau2 = 3, 2, 0.05
	z := make([]float64, 0)
	var ref *FlowFilter
	for _, local := range []bool{false, true} {
		f := &FlowFilter{Steps: 6, TimeChange: true, ExactSteps: true, LocalAux: local}
		require.NoError(t, f.SetData(tr, n, d, root, y))
		require.NoError(t, f.Run(constFlow{n, d, kk}, tau2))
		if len(z) == 0 {
			z = make([]float64, f.NumNoise())
			for i := range z {
				z[i] = rng.NormFloat64()
			}
		}
		sum, err := f.Guide(z)
		require.NoError(t, err)
		require.InDelta(t, 0, sum, 1e-9)
		if ref == nil {
			ref = f
			continue
		}
		require.Equal(t, ref.LogLikelihood(), f.LogLikelihood())
		for v := 1; v < tr.Len(); v++ {
			require.InDelta(t, ref.LogWeights()[v], f.LogWeights()[v], 1e-10)
			for i, e := range f.State(v) {
				require.InDelta(t, ref.State(v)[i], e, 1e-10)
			}
		}
	}
	f := &FlowFilter{Steps: 6, LocalAux: true}
	require.NoError(t, f.SetData(tr, n, d, root, y))
	require.ErrorContains(t, f.Run(constFlow{n, d, kk}, tau2), "LocalAux needs ExactSteps")
}

// Clone keeps every exported setting of a FlowFilter (checked by reflection, so that
// a new setting cannot be left out: LocalAux once was), and the clone evaluates the
// same numbers.
func TestFlowFilterCloneSettings(t *testing.T) {
	rng := rand.New(rand.NewPCG(79, 80))
	c := newFlowCase(rng, 5, 3, 2, 4)
	f := &FlowFilter{Steps: 4, TimeChange: true, ExactSteps: true, LocalAux: true, ExponentialSteps: true, StepLength: 0.3, Workers: 2,
		Discrete: make([]bool, c.tr.Len())}
	f.Discrete[2] = true
	rv := reflect.ValueOf(f).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if fd := rv.Type().Field(i); fd.IsExported() && fd.Name != "SemiImplicit" { // excluded by ExactSteps
			require.False(t, rv.Field(i).IsZero(), "set %s in this test", fd.Name)
		}
	}
	require.NoError(t, f.SetData(c.tr, 3, 2, c.root, c.y))
	g := f.Clone()
	gv := reflect.ValueOf(g).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if rv.Type().Field(i).IsExported() {
			require.Equal(t, rv.Field(i).Interface(), gv.Field(i).Interface(), rv.Type().Field(i).Name)
		}
	}
	z := c.noise(rng, f, 1)
	for _, h := range []*FlowFilter{f, g} {
		require.NoError(t, h.Run(MeanReverting(KunitaFlow(c.k), 0.7, c.root), c.tau2))
		_, err := h.Guide(z)
		require.NoError(t, err)
	}
	require.Equal(t, f.LogWeights(), g.LogWeights())
}

// Flipping LocalAux between Run and Guide, or between Guide and Backward, is an error,
// not a reverse pass through other messages than the guided pass used.
func TestFlowLocalAuxModeChange(t *testing.T) {
	rng := rand.New(rand.NewPCG(91, 92))
	c := newFlowCase(rng, 5, 3, 2, 4)
	c.ex, c.local = true, true
	f := c.filter(t)
	z := c.noise(rng, f, 1)
	_, err := f.Guide(z)
	require.NoError(t, err)
	f.LocalAux = false
	_, err = f.Backward(z, make([]float64, len(z)), make([]float64, 2))
	require.ErrorContains(t, err, "changed since Guide")
	_, err = f.Guide(z)
	require.ErrorContains(t, err, "changed since Run")
}

// Sweeps over several workers give the same bits with LocalAux (each worker has its
// own K(x_j) buffer): noisy and exact tips, a discrete edge, step-length grids.
func TestFlowLocalAuxWorkersDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(93, 94))
	for k := 0; k < 3; k++ {
		c := newFlowCase(rng, 12, 3, 2, 5)
		c.ex, c.local = true, true
		c.disc = make([]bool, c.tr.Len())
		c.disc[3] = true
		if k == 1 {
			c.tau2 = 0
			c.missLandmarks()
		}
		if k == 2 {
			c.sl, c.tc = 0.2, true
		}
		f := c.filter(t)
		checkWorkersDeterministic(t, c, f, c.noise(rng, f, 1))
	}
}

// With one step per edge the message of grid point 1 is the child's own, whatever the
// auxiliary: LocalAux changes neither the value nor the gradient.
func TestFlowLocalAuxOneStep(t *testing.T) {
	rng := rand.New(rand.NewPCG(95, 96))
	for _, tau2 := range []float64{0.01, 0} {
		c := newFlowCase(rng, 7, 3, 2, 4)
		c.ex, c.sl, c.tau2 = true, 1e3, tau2
		c.drift, c.aux = 0.8, true
		var ref []float64
		for _, local := range []bool{false, true} {
			c.local = local
			f := c.filter(t)
			z := make([]float64, f.NumNoise())
			r := rand.New(rand.NewPCG(1, 2))
			for i := range z {
				z[i] = r.NormFloat64()
			}
			s, err := f.Guide(z)
			require.NoError(t, err)
			zb, pb := make([]float64, len(z)), make([]float64, 3)
			tb, err := f.Backward(z, zb, pb)
			require.NoError(t, err)
			got := append(append([]float64{s + f.LogLikelihood(), tb}, pb...), zb...)
			if ref == nil {
				ref = got
				continue
			}
			for i := range got {
				require.InDelta(t, ref[i], got[i], 1e-12*(1+math.Abs(ref[i])), "entry %d (τ² %v)", i, tau2)
			}
		}
	}
}
