// Package diag computes convergence diagnostics for Markov chain Monte Carlo
// output: the rank-normalised split R̂, effective sample sizes (ESS), Monte
// Carlo standard errors (MCSE) and the energy Bayesian fraction of missing
// information (E-BFMI).
//
// The definitions are those of Vehtari, Gelman, Simpson, Carpenter and Bürkner
// (2021), "Rank-normalization, folding, and localization: an improved R̂ for
// assessing convergence of MCMC", Bayesian Analysis 16(2), as implemented by
// the R package posterior, version 1.4.0. The tests check every function
// against numbers computed by posterior 1.4.0 (see testdata/make_reference.R).
//
// # Draws
//
// The draws of one scalar quantity are given as chains: chains[j][i] is draw i
// of chain j. All chains must have the same length; the statistics panic if
// they do not, and [Validate] reports the problem as an error instead.
// Rank-normalised statistics pool the draws of all chains; all statistics split
// every chain into two halves, as posterior does: with an odd number of draws
// per chain the middle draw is left out of the halves.
//
// # Undefined values
//
// Where posterior returns NA, the functions here return NaN. That happens when
//
//   - the draws contain a NaN;
//   - the draws contain ±Inf, except for the rank-based Rhat and ESSBulk, which
//     only use the ordering of the draws and stay finite, as in posterior;
//   - the draws are constant (max − min < 2⁻⁵², posterior's tolerance), or the
//     transformed draws a statistic is computed from are constant, as for
//     ESSTail when a whole tail of the distribution is one repeated value;
//   - there are too few draws: ESS needs at least three draws in each half
//     chain, R̂ at least two.
//
// Posterior's split of a draws matrix with two or three draws per chain
// collapses a dimension (R's drop = TRUE) and so returns numbers for such
// inputs; this package returns NaN there instead.
//
// # Effective sample size
//
// The ESS follows Geyer's initial positive and initial monotone sequence
// estimators on the autocovariances of the split chains pooled across chains,
// with posterior's refinements: the last positive even-lag autocorrelation is
// added to the truncated sum (which helps antithetic chains), and the
// integrated autocorrelation time is bounded below by 1/log₁₀(N), so that the
// ESS never exceeds N·log₁₀(N) for N pooled draws. Posterior warns when that
// bound applies; this package does not.
package diag
