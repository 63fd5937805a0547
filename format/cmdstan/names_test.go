package cmdstan_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/canopy-bffg/canopy/format/cmdstan"
)

func TestNames(t *testing.T) {
	assert.Equal(t, []string{"sigma"}, cmdstan.Names("sigma"))
	assert.Equal(t, []string{"theta.1", "theta.2", "theta.3"}, cmdstan.Names("theta", 3))
	assert.Equal(t, []string{"Sigma.1.1", "Sigma.2.1", "Sigma.1.2", "Sigma.2.2"}, cmdstan.Names("Sigma", 2, 2))
	assert.Equal(t, []string{"a.1.1.1", "a.2.1.1", "a.1.2.1", "a.2.2.1", "a.1.3.1", "a.2.3.1"}, cmdstan.Names("a", 2, 3, 1))
	assert.Empty(t, cmdstan.Names("e", 0))
	assert.Empty(t, cmdstan.Names("e", 3, 0))
	assert.Equal(t, []string{"lp", "x.1", "x.2"}, cmdstan.AppendNames([]string{"lp"}, "x", 2))
	assert.Panics(t, func() { cmdstan.Names("x", -1) })
}

func TestSplitName(t *testing.T) {
	for col, want := range map[string][]int{"x": nil, "x.1": {1}, "Sigma.10.2": {10, 2}} {
		name, idx, ok := cmdstan.SplitName(col)
		assert.True(t, ok, col)
		assert.Equal(t, want, idx, col)
		assert.NotContains(t, name, ".")
	}
	for _, col := range []string{"x.", "x.0", "x.01", "x.a", "x.1.", "x.-1", "x.+1"} {
		_, _, ok := cmdstan.SplitName(col)
		assert.False(t, ok, col)
	}
}

func TestCheckNames(t *testing.T) {
	var good []string
	good = append(good, cmdstan.Names("mu")...)
	good = cmdstan.AppendNames(good, "Sigma", 3, 2)
	good = cmdstan.AppendNames(good, "log_sigma2")
	good = cmdstan.AppendNames(good, "z_1", 4)
	assert.NoError(t, cmdstan.CheckNames(good))
	assert.NoError(t, cmdstan.CheckNames(nil))
	for _, bad := range [][]string{
		{"1x"}, {"_x"}, {"x y"}, {"x,y"}, {"x__"}, {"theta__"}, {""},
		{"x", "x"},                           // duplicate scalar
		{"x.1", "x.1"},                       // duplicate element
		{"x.1", "y", "x.2"},                  // not contiguous
		{"x.2", "x.1"},                       // wrong order
		{"x.1", "x.3"},                       // incomplete
		{"S.1.1", "S.1.2", "S.2.1", "S.2.2"}, // row-major
		{"S.1.1", "S.2.2"},                   // lower triangle only
		{"x", "x.1"},                         // scalar and container
		{"x.1", "x.2.1"},                     // ragged
		{"x.0"}, {"x.a"},
	} {
		assert.ErrorIs(t, cmdstan.CheckNames(bad), cmdstan.ErrColumn, "%q", bad)
	}
}
