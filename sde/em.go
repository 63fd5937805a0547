package sde

import "math"

// EM is an Euler–Maruyama integrator for an SDE with a reusable workspace. The zero
// value with SDE set is ready to use; the workspace is sized on the first call and
// reused afterwards, so StepTo and PathTo do not allocate once warm.
//
// An EM value must not be used by several goroutines at once.
type EM struct {
	SDE SDE

	b, sigma []float64
}

func (e *EM) resize() (d, m int) {
	d, m = e.SDE.Dims()
	e.b = grow(e.b, d)
	e.sigma = grow(e.sigma, d*m)
	return d, m
}

// StepTo writes one Euler–Maruyama step into dst:
//
//	dst = x + b(t, x)·dt + σ(t, x)·√dt·z,
//
// with z of length M. dst may be x itself (any other overlap is undefined). It returns
// the error of SDE.Diffusion, or ErrNonFinite if dst is not finite. It panics if the
// lengths of dst, x or z do not match the SDE's dimensions or dt < 0.
func (e *EM) StepTo(dst []float64, t float64, x []float64, dt float64, z []float64) error {
	d, m := e.resize()
	if len(dst) != d || len(x) != d || len(z) != m {
		panic("sde: dimension mismatch")
	}
	if !(dt >= 0) {
		panic("sde: negative or NaN step")
	}
	e.SDE.Drift(t, x, e.b)
	if err := e.SDE.Diffusion(t, x, e.sigma); err != nil {
		return err
	}
	sq := math.Sqrt(dt)
	bad := false
	for i := 0; i < d; i++ {
		row := e.sigma[i*m : i*m+m]
		s := 0.0
		for j, zj := range z {
			s += row[j] * zj
		}
		v := x[i] + e.b[i]*dt + sq*s
		dst[i] = v
		if math.IsNaN(v) || math.IsInf(v, 0) {
			bad = true
		}
	}
	if bad {
		return ErrNonFinite
	}
	return nil
}

// PathTo writes the Euler–Maruyama path started at x0 on grid g into dst: dst holds
// n+1 states row-major (dst[k*D:(k+1)*D] = X_{t_k}, dst[0:D] = x0), and step k uses the
// noise z[k*M:(k+1)*M], so the path is a deterministic function of z. A failing step
// is returned as a *StepError; the states after it are unspecified. It panics if
// len(dst) != (n+1)·D, len(x0) != D or len(z) != n·M.
func (e *EM) PathTo(dst []float64, g Grid, x0, z []float64) error {
	d, m := e.resize()
	n := g.Len()
	if len(dst) != (n+1)*d || len(x0) != d || len(z) != n*m {
		panic("sde: dimension mismatch")
	}
	copy(dst[:d], x0)
	for k := 0; k < n; k++ {
		x := dst[k*d : k*d+d]
		if err := e.StepTo(dst[k*d+d:k*d+2*d], g.Times[k], x, g.Steps[k], z[k*m:k*m+m]); err != nil {
			return &StepError{Step: k, Time: g.Times[k], Err: err}
		}
	}
	return nil
}
