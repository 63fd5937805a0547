package bffg

import (
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
	f := &FlowFilter{Steps: 4, TimeChange: true, ExactSteps: true, LocalAux: true, StepLength: 0.3, Workers: 2,
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
		require.NoError(t, h.Run(KunitaFlow(c.k), c.tau2))
		_, err := h.Guide(z)
		require.NoError(t, err)
	}
	require.Equal(t, f.LogWeights(), g.LogWeights())
}
