package mcmc

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
)

// Density is a log density on R^n (unnormalised). A NaN or -Inf value means zero density.
//
// A Density may hold scratch buffers, so it need not be safe for concurrent use; Run
// asks for one per chain.
type Density interface {
	// Dim returns n, the length of every q passed to LogDensity.
	Dim() int
	// LogDensity returns log π(q) up to an additive constant. It must not modify q.
	LogDensity(q []float64) float64
}

// GradDensity also returns the gradient, written into grad (len Dim()).
type GradDensity interface {
	Density
	// LogDensityGrad returns log π(q) and writes ∇ log π(q) into grad. It must not
	// modify q. Non-finite entries in grad are treated like a zero density.
	LogDensityGrad(q, grad []float64) float64
}

// ErrNotFinite is wrapped by errors about a log density or gradient that is NaN or
// infinite where a finite value is needed (at an initial point).
var ErrNotFinite = errors.New("mcmc: log density or gradient is not finite")

// InitAttempts is how many uniform draws InitUniform tries before giving up; 100 is
// Stan's default.
const InitAttempts = 100

// InitUniform draws initial points uniformly from [−radius, radius]^n, as Stan does on
// the unconstrained scale with radius 2, and returns the first one at which k.Init
// succeeds. It gives up after InitAttempts draws, returning the last error.
func InitUniform(r *rand.Rand, k Kernel, radius float64) (State, error) {
	if !(radius >= 0) || math.IsInf(radius, 0) {
		panic("mcmc: InitUniform radius must be finite and non-negative")
	}
	q := make([]float64, k.Dim())
	var err error
	for range InitAttempts {
		for i := range q {
			q[i] = radius * (2*r.Float64() - 1)
		}
		var s State
		if s, err = k.Init(q); err == nil {
			return s, nil
		}
	}
	return State{}, fmt.Errorf("mcmc: no valid initial point in %d uniform draws on [−%g, %g]: %w",
		InitAttempts, radius, radius, err)
}

// finite reports whether x is neither NaN nor ±Inf.
func finite(x float64) bool { return x-x == 0 }

func allFinite(x []float64) bool {
	for _, v := range x {
		if !finite(v) {
			return false
		}
	}
	return true
}
