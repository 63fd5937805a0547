// Package cmdstan writes and reads MCMC draws in CmdStan's CSV format ("Stan CSV"),
// one file per chain, so that cmdstanpy (and ArviZ through it), rstan's
// read_stan_csv, cmdstanr and the R posterior package read canopy's output as if
// CmdStan had written it, and so that canopy can resume a run from its files.
//
// # Format
//
// A file written by Writer follows the output of CmdStan 2.33's sample method:
//
//	# stan_version_major = 2          comment header: the settings of the run,
//	# model = bm                      nested as CmdStan nests them
//	# method = sample (Default)
//	#   sample
//	#     num_samples = 1000
//	#     ...
//	#         metric = diag_e
//	# id = 1
//	# random
//	#   seed = 42
//	lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,mu,theta.1,theta.2
//	...                               warmup draws, if save_warmup = 1
//	# Adaptation terminated           adaptation block
//	# Step size = 0.41
//	# Diagonal elements of inverse mass matrix:
//	# 0.59, 0.31, 1.2
//	-12.3,0.93,0.41,3,7,0,14.1,-0.52,0.11,0.2
//	...                               sampling draws
//	#
//	#  Elapsed Time: 1.2 seconds (Warm-up)
//	#                1.4 seconds (Sampling)
//	#                2.6 seconds (Total)
//	#
//
// The choices that matter to the readers, checked against their source code
// (cmdstanpy 1.2 utils/stancsv.py and stanfit, rstan 2.21 read_stan_csv, the
// Stan CSV appendix of the CmdStan guide) and, for rstan and posterior, by a test
// that runs them:
//
//   - The settings cmdstanpy requires (model, method, num_samples, num_warmup,
//     save_warmup, thin, metric, max_depth, stan_version_*) and those rstan
//     parses (algorithm, engine and metric, from which it names the sampler, and
//     id, num_samples, num_warmup, thin, save_warmup, stepsize, the adapt
//     constants) are always written. Booleans are 0 and 1, as before CmdStan
//     2.35: rstan and ArviZ 0.x cannot read false and true.
//   - Floating-point values are written in the shortest form that parses back
//     to the same float64 (strconv's 'g' with precision −1, as 0.1, 1e-05 or
//     -1.2345678901234567e+300) instead of CmdStan's default 6 significant
//     digits, so that a file reads back bit for bit; Python's float and R's
//     read.csv parse this form. NaN and ±Inf are written nan, inf and -inf.
//     treedepth__, n_leapfrog__ and divergent__ are integers, as cmdstanpy
//     parses them with int().
//   - The adaptation block is written even when adaptation is off, as
//     cmdstanpy refuses a NUTS file without one; it records the step size and
//     inverse metric sampling used, which is what a resumed run needs.
//   - The times of the timing block are in plain decimal notation: rstan reads
//     them by deleting every character other than digits and '.'.
//   - Parameter columns are named as Stan names the elements of containers:
//     theta.1, Sigma.2.1, column-major (see Names and CheckNames).
//
// # Metropolis chains
//
// CmdStan has no random-walk or pCN sampler, and the readers handle NUTS output
// best: rstan names the sampler only for algorithm = hmc with engine and metric
// settings, and cmdstanpy 1.2.5's from_csv looks up the metric setting of every
// sample file (so it fails on CmdStan's own algorithm = fixed_param files, which
// have none) and, in its mode for files without the NUTS columns, takes saved
// warmup draws for sampling draws. So a chain of mcmc.RandomWalk, PCN or PCNRW
// is written as a NUTS chain with Config.Metric = UnitMetric and Adapt.Engaged =
// false: accept_stat__ is the Metropolis acceptance probability (of the
// random-walk block for PCNRW) and stepsize__ the step size the kernel reports,
// while treedepth__, n_leapfrog__, divergent__ and energy__ hold the kernel's
// zeros. Diagnostics computed from energy__ (E-BFMI) and tree depths mean
// nothing for such files; record the kernel in Config.Extra (for example
// canopy_kernel = pcnrw) so that readers of the file can tell.
//
// Readers also need, from the run: num_warmup > 0 (cmdstanpy's from_csv refuses
// files with num_warmup = 0) and a different id per chain (cmdstanr). An
// interrupted run leaves a file without timing block and with fewer draws than
// num_samples announces; rstan reads it with a warning, while cmdstanpy refuses
// it because it checks the number of draws.
//
// # Reading
//
// Reader reads the files of Writer and of CmdStan: the settings into Config
// (and all of them into Header.Settings), the columns, the draws (the saved
// warmup ones apart), the adaptation block and the timing block, failing with a
// *ParseError that gives the line, and the column in data rows, of the first
// problem. File.Chain turns a file back into an mcmc.Chain.
//
// # Invariants
//
// Writing a chain and reading it back gives the same draws, log densities,
// sampler columns, step size, inverse metric and times, bit for bit, except that
// NaN payloads are not kept and mcmc.Info.Accepted, which has no column, reads
// back false. The Writer hands whole lines to the underlying io.Writer, so a run
// interrupted between writes leaves a file that ends after a complete draw.
// Functions do not modify their arguments. Data errors are returned; the Writer panics only on
// misuse (a draw of the wrong length, calls in the wrong order), with messages
// beginning "cmdstan: ". The Reader never panics.
package cmdstan
