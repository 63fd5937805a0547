// Package sde provides the continuous-time (SDE) edges of Backward Filtering Forward
// Guiding: diffusions, Euler–Maruyama paths, time grids, linear auxiliary processes with
// their exact transitions and backward filters, and the Kunita-flow landmark model with
// the derivatives its adjoint needs (bffg-math §3, §4.2, §4.5).
//
// # Model
//
// A true edge is an Itô diffusion dX = b(t, X)dt + σ(t, X)dW on [0, T] (SDE), with
// a = σσ'. Euler–Maruyama (EM) maps standard normal noise z to a path on a Grid,
//
//	X_{k+1} = X_k + b(t_k, X_k)Δ_k + σ(t_k, X_k)√Δ_k z_k,
//
// on a Uniform grid or the TimeChanged grid t_k = s_k(2 − s_k/T), s_k = kT/n.
//
// An auxiliary edge is a linear SDE dX̃ = (B(t)X̃ + β(t))dt + σ̃(t)dW, ã = σ̃σ̃'
// (Auxiliary). Its message h̃(t, x) = exp(c(t) − ½x'H(t)x + F(t)'x) solves the backward
// equations
//
//	dH/dt = −B'H − HB + HãH,   dF/dt = −B'F + HãF + Hβ,   dc/dt = −β'F − ½F'ãF + ½tr(ãH),
//
// from the terminal (fused) message at t = T. Exactly, h̃(t, ·) is the Gaussian pullback of
// h̃(T, ·) through the transition X̃_T | X̃_t = x ~ N(Φx + b, Q) (Transitioner):
// Backward.ExactTo applies it at every grid point, Backward.RK4To integrates the ODEs as
// a reference. Linear has constant coefficients (Φ = e^{B(T−t)}; b and Q by Van Loan's
// block exponential); Interpolated is hyperiax's driftless auxiliary with ã interpolated
// linearly between two endpoint covariances (Φ = I, b = 0,
// Q = Ã(t) = ((T² − t²)/(2T))ã_T + ((T − t)²/(2T))ã_0).
//
// Kunita is the landmark model of hyperiax notebook 07: b = 0, a = K_ε(q) ⊗ I_d and
// σ = chol(K_ε(q)) ⊗ I_d for a Matérn-9/2 kernel matrix K plus jitter. Its N×N forms
// (KernelTo, FactorTo) serve Kronecker-structured messages H = H_N ⊗ I_d, and its VJPs
// (KernelVJPTo, FactorVJPTo, DiffusionVJPTo, CovarianceVJPTo, with CholeskyVJPTo and
// KronVJPTo) carry adjoints to the landmarks q and to (k_α, k_σ).
//
// BM and OU are Brownian motion and the Ornstein–Uhlenbeck process, with closed forms
// for tests and exact linear auxiliaries (Linear methods).
//
// # Conventions
//
//   - Vectors and matrices are []float64; matrices are row-major (a D×M matrix has
//     a[i*M+j] at row i, column j). Paths and backward trajectories are stored
//     grid-point-major: entry k belongs to t_k, k = 0..n.
//   - Landmarks are flattened interleaved, (x_0, y_0, x_1, y_1, …): coordinate c of
//     landmark i has index i·d + c, so (A ⊗ I_d)_{(i,c),(j,e)} = A_ij δ_ce.
//   - Messages use the + convention for c (bffg-math §0, hyperiax's log_norm).
//   - Adjoints follow bffg-math §0: X̄ means δJ = Σ_ij X̄_ij δX_ij.
//
// # Invariants
//
//   - Inputs are never modified. Only a dst argument (functions and methods ending in To,
//     and the dst of SDE methods) or a receiver's workspace is written. Unless a doc
//     comment says otherwise, dst must not overlap an input; EM.StepTo allows dst = x,
//     Backward.PullbackTo allows dstH = H and dstF = F, CholeskyTo allows dst = a.
//   - Workspaces (EM, Backward, KunitaWork) are ready as zero values, size themselves on
//     first use and are then reused: EM.StepTo, EM.PathTo, Backward.RK4To,
//     Backward.PullbackTo, Backward.ExactTo with Interpolated, and every Kunita method
//     and VJP do not allocate once warm (converting a struct to an interface argument
//     may itself allocate; convert once, outside loops). Linear.TransitionTo with B ≠ 0 allocates (the
//     matrix exponential); it is called once per grid point, not per EM step. A workspace
//     must not be shared between goroutines; model values (BM, OU, Kunita, Linear,
//     Interpolated) hold only parameters and are safe to share.
//   - Paths are deterministic functions of (x0, z): randomness enters only through z.
//   - Misuse (wrong buffer sizes, a negative step, a grid without steps) panics with an
//     "sde: " message. Data problems are returned as errors: *PivotError for a matrix that
//     is not positive definite (naming the failing, hence smallest, pivot), ErrNonFinite
//     for a path that overflows, wrapped in *StepError with the step index and time.
//   - The Kunita jitter ε = 1e−6·max(1, max_i K_ii) depends on k_α only (all K_ii are
//     equal); its derivative is taken at the active argument of the max.
//
// See ExampleKunita and ExampleBackward.
package sde
