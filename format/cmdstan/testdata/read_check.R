# read_check.R reads CmdStan CSV files the way R users do, with
# rstan::read_stan_csv and the posterior package, and prints what they found so
# that cmdstan's Go tests can compare it with what was written.
#
# Usage: Rscript read_check.R file.csv...
#
# For each file it prints lines of space-separated fields:
#   file <name>
#   args <key> <value>            settings rstan parsed from the comments
#   warmup2 <n>                   number of warmup draws rstan found
#   time <warmup> <sample>        elapsed times rstan parsed (NA NA without)
#   stepsize <x>                  from rstan's adaptation info (NA without)
#   metric <x>...                 inverse metric from the adaptation info
#   vars <name>...                variables of posterior::as_draws_df
#   draw <x>...                   one line per iteration, warmup included
#   spvars <name>...              columns of rstan::get_sampler_params
#   sp <x>...                     one line per iteration, warmup included
#   end
# Numbers are printed with 17 significant digits.

suppressPackageStartupMessages({
  library(rstan)
  library(posterior)
})

num <- function(x) paste(sprintf("%.17g", x), collapse = " ")

for (f in commandArgs(trailingOnly = TRUE)) {
  # A file without timing block (an interrupted run) makes rstan warn.
  fit <- suppressWarnings(rstan::read_stan_csv(f))
  cat("file", basename(f), "\n")

  a <- fit@stan_args[[1]]
  for (k in c("sampler_t", "chain_id", "iter", "warmup", "thin", "save_warmup",
              "seed", "max_depth", "metric", "stepsize", "delta", "model")) {
    v <- a[[k]]
    cat("args", k, if (is.null(v)) "NULL" else as.character(v), "\n")
  }
  cat("warmup2", fit@sim$warmup2[1], "\n")

  s <- fit@sim$samples[[1]]
  t <- attr(s, "elapsed_time")
  if (is.null(t)) t <- c(NA, NA)
  cat("time", num(t), "\n")

  info <- strsplit(attr(s, "adaptation_info"), "\n")[[1]]
  st <- grep("Step size = ", info, value = TRUE)
  cat("stepsize", if (length(st) == 1) num(as.numeric(sub(".*= ", "", st))) else "NA", "\n")
  m <- grep("inverse mass matrix", info)
  vals <- c()
  if (length(m) == 1) {
    for (l in info[-(1:m)]) {
      l <- trimws(sub("^#", "", l))
      if (l == "") break
      vals <- c(vals, as.numeric(strsplit(l, ",")[[1]]))
    }
  }
  cat("metric", num(vals), "\n")

  # extract and get_sampler_params warn when there is no warmup to include.
  arr <- suppressWarnings(rstan::extract(fit, permuted = FALSE, inc_warmup = TRUE))
  d <- posterior::as_draws_df(posterior::as_draws_array(arr))
  vars <- posterior::variables(d)
  cat("vars", vars, "\n")
  x <- as.matrix(as.data.frame(d)[, vars, drop = FALSE])
  for (i in seq_len(nrow(x))) cat("draw", num(x[i, ]), "\n")

  sp <- suppressWarnings(rstan::get_sampler_params(fit, inc_warmup = TRUE))[[1]]
  cat("spvars", colnames(sp), "\n")
  for (i in seq_len(nrow(sp))) cat("sp", num(sp[i, ]), "\n")
  cat("end\n")
}
