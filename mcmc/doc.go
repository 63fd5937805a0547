// Package mcmc samples from unnormalised log densities on R^n with Markov chain
// Monte Carlo. It knows nothing about trees: a model enters as a Density (log π) or
// a GradDensity (log π and ∇ log π), typically built from a bffg filter.
//
// # Kernels
//
// A Kernel is a value bound to one target, with explicit state, in the style of
// BlackJAX: Init(q) evaluates the target and returns a State; Step(r, dst, src, p)
// draws the next State from src into dst and returns an Info describing that one
// transition. The tunables p (Params: step size and inverse metric) are an argument,
// so that a warmup can change them between steps; the kernel keeps nothing between
// transitions except scratch space.
//
//   - NUTS: the No-U-Turn sampler as in Stan ≥ 2.26 (multinomial sampling, the
//     generalised U-turn criterion with the checks across subtrees, divergence at an
//     energy error above 1000, maximum depth 10), with a diagonal or dense Metric.
//   - RandomWalk: Gaussian random-walk Metropolis on a block of coordinates.
//   - PCN: preconditioned Crank–Nicolson on a block of coordinates with a N(0, I)
//     prior inside the density; the prior term is removed from the acceptance ratio.
//     Its step β is Params.Beta (0: the β it was built with).
//   - PCNRW: pCN on the latent block then a random walk on the parameters, the
//     Metropolis-within-Gibbs kernel of hyperiax notebook 05.
//
// # Warmup
//
// Adaptation wraps a kernel rather than living inside it. WindowAdaptation is
// Stan's: dual averaging of the step size (DualAveraging; δ = 0.8, γ = 0.05, t0 = 10,
// κ = 0.75, μ = log(10ε)), Stan's initial step-size heuristic (NUTS.FindStepSize),
// and a diagonal (default) or dense inverse metric re-estimated in the slow windows
// of BuildSchedule (75 / 25 doubling / 50; 15% / 75% / 10% for short warmups) as
// (c/(c+5))·Σ̂ + 1e-3·(5/(c+5))·I from the c draws of the window, after which the
// step size is re-initialised. Sampling uses the final averaged step size exp(x̄).
// MetropolisAdaptation tunes the Metropolis kernels instead: Robbins–Monro on the
// log of the random-walk multiplier (Params.StepSize) and of the pCN β
// (Params.Beta), towards acceptance 0.234 (0.44 for a one-coordinate random walk);
// a RandomWalk kernel on two or more coordinates also takes the covariance of its
// warmup draws, estimated in windows, as its proposal covariance (Params.Metric).
//
// # Chains
//
// Run builds one kernel per chain from a factory (targets hold buffers, so chains
// never share one), initialises each chain uniformly in [−2, 2]^n (retrying up to
// 100 times while the density or gradient is not finite) or at given points, runs
// warmup and sampling with the chains in parallel goroutines, and returns per chain
// the draws (row-major, Trace.Draw(i)), log densities, per-draw Info, the adapted
// Params and timings. Cancelling the context returns what was drawn so far.
//
// # Invariants
//
//   - Randomness comes only from the *rand.Rand passed to Step, FindStepSize and
//     InitUniform; there is no global state. Run derives chain c's generator from
//     (Config.Seed, c) alone, so draws do not depend on GOMAXPROCS, Config.Workers
//     or the order in which chains finish.
//   - Step never writes src or the target's input; dst must not alias src. Only
//     dst, the kernel's own scratch and (through WindowAdaptation) Params are
//     written.
//   - After its first Step, a kernel's Step does not allocate.
//   - A non-finite density or gradient never panics: Metropolis kernels reject the
//     proposal, NUTS marks the trajectory divergent, Init returns an error wrapping
//     ErrNotFinite. Misuse (mismatched dimensions, a non-positive step size)
//     panics with a message starting "mcmc: ".
//
// See the package Example for NUTS on a two-dimensional Gaussian.
package mcmc
