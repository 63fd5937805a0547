package sde

import (
	"errors"
	"fmt"

	"github.com/canopy-bffg/canopy/internal/dense"
)

// SDE is an Itô diffusion dX = b(t, X)dt + σ(t, X)dW on R^D driven by an M-dimensional
// Brownian motion W. Its parameters live in the implementing value.
//
// Implementations write only dst, never x, and must not retain x or dst.
type SDE interface {
	// Dims returns the state dimension D and the noise dimension M.
	Dims() (d, m int)
	// Drift writes b(t, x) (length D) into dst.
	Drift(t float64, x, dst []float64)
	// Diffusion writes σ(t, x) (D×M, row-major) into dst. It returns an error when σ
	// cannot be formed at x (for example a kernel matrix that is not positive definite).
	Diffusion(t float64, x, dst []float64) error
}

// Covariancer is implemented by SDEs that can form the diffusion covariance
// a(t, x) = σ(t, x)σ(t, x)' (D×D, row-major) more cheaply than through σ.
type Covariancer interface {
	Covariance(t float64, x, dst []float64) error
}

// CovarianceTo writes a = σσ' (D×D, symmetric) into dst for the row-major D×M matrix
// sigma (D = len(sigma)/m) and returns dst. It panics if the sizes disagree. dst must
// not alias sigma.
func CovarianceTo(dst, sigma []float64, m int) []float64 {
	if m <= 0 || len(sigma)%m != 0 {
		panic("sde: dimension mismatch")
	}
	d := len(sigma) / m
	if len(dst) != d*d {
		panic("sde: dimension mismatch")
	}
	if d == 0 {
		return dst
	}
	dense.Gemm(false, true, 1, sigma, d, m, sigma, d, m, 0, dst)
	symmetrize(dst, d)
	return dst
}

// ErrNonFinite is returned when a step produces an infinite or NaN state.
var ErrNonFinite = errors.New("sde: non-finite state")

// StepError locates a failure on a path: the step index k (the step from t_k to
// t_{k+1}), its start time and the underlying error.
type StepError struct {
	Step int
	Time float64
	Err  error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("sde: step %d (t = %g): %v", e.Step, e.Time, e.Err)
}

// Unwrap returns the underlying error.
func (e *StepError) Unwrap() error { return e.Err }
