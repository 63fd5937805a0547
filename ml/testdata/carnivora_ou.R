# R reference numbers for the tied OU fit (θ = root = μ) on the carnivora data in raw
# units (../../format/testdata/dinizfilho2002_carnivora, two traits sharing σ², α and
# τ²), for TestFitOUCarnivoraRaw in ../ou_test.go. Run from this directory: Rscript
# carnivora_ou.R (R 4, ape). With V the OU covariance of the tips,
# V_ij = σ²/(2α)·e^{−α(T_i+T_j−2C_ij)}(1 − e^{−2αC_ij}) (+ τ² on the diagonal), each
# trait's μ is profiled by GLS and (log σ², log α[, log τ²]) maximised by optim from
# several starts (BFGS, Nelder–Mead, BFGS, reltol 1e-15); then the profile in α, and
# Brownian motion (the limit α → 0) in closed form.
suppressMessages(library(ape))
dir <- "../../format/testdata/dinizfilho2002_carnivora/"
tr <- read.tree(paste0(dir, "tree.nwk")); d <- read.csv(paste0(dir, "traits.csv"))
S <- vcv(tr); T <- diag(S); n <- nrow(S)
Y <- as.matrix(d[match(rownames(S), d$taxon), -1])
cat(sprintf("%d tips, %d traits, tip depths %.10g to %.10g\n", n, ncol(Y), min(T), max(T)))
gll <- function(V) { Vi <- tryCatch(solve(V), error=function(e) NULL); if (is.null(Vi)) return(-1e10)
  tot <- 0; for (j in 1:ncol(Y)) { yy <- Y[,j]; th <- sum(Vi %*% yy)/sum(Vi); r <- yy - th
  tot <- tot + as.numeric(-0.5*(n*log(2*pi) + determinant(V)$modulus + t(r)%*%Vi%*%r)) }; tot }
ouV <- function(s2, al) s2/(2*al) * exp(-al*outer(T,T,"+") + 2*al*S) * (1-exp(-2*al*S))
fit <- function(noise) {
  ll <- function(p) gll(ouV(exp(p[1]), exp(p[2])) + diag(if (noise) exp(p[3]) else 0, n))
  best <- -Inf
  for (la in log(c(1e-4, 1e-3, 0.01, 0.03, 0.1, 1))) for (lt in if (noise) log(c(1e-6, 1e-2, 1)) else 0) {
    p0 <- c(log(2*exp(la)*var(Y[,1])), la); if (noise) p0 <- c(p0, lt)
    o <- optim(p0, function(p) -ll(p), method="BFGS", control=list(reltol=1e-15, maxit=5000))
    o <- optim(o$par, function(p) -ll(p), method="Nelder-Mead", control=list(reltol=1e-15, maxit=20000))
    o <- optim(o$par, function(p) -ll(p), method="BFGS", control=list(reltol=1e-15, maxit=5000))
    if (-o$value > best) { best <- -o$value; par <- o$par } }
  cat(sprintf("OU%s: ll %.10f sigma2 %.10g alpha %.10g%s\n", if (noise) " (noise)" else "", best,
    exp(par[1]), exp(par[2]), if (noise) sprintf(" tau2 %.3g", exp(par[3])) else ""))
}
fit(FALSE); fit(TRUE)
for (a in c(1e-8, 1e-3, 0.002067313, 0.01)) {
  o <- optimize(function(l) -gll(ouV(exp(l), a)), c(-20, 30), tol=1e-12)
  cat(sprintf("alpha %g: profile ll %.10f\n", a, -o$objective)) }
# BM: σ̂² = Σ_j r_j'S⁻¹r_j/(n·d) in closed form.
Si <- solve(S); q <- 0; for (j in 1:ncol(Y)) { yy <- Y[,j]; r <- yy - sum(Si %*% yy)/sum(Si); q <- q + t(r) %*% Si %*% r }
s2 <- as.numeric(q)/(n*ncol(Y)); cat(sprintf("BM: ll %.10f sigma2 %.10g\n", gll(s2*S), s2))

# Output (R 4, ape; about 100 s):
# 70 tips, 2 traits, tip depths 53.8 to 53.8
# OU: ll -611.7881492819 sigma2 44.67033796 alpha 0.002067313381
# OU (noise): ll -611.7881492819 sigma2 44.67033435 alpha 0.002067308081 tau2 2e-13
# alpha 1e-08: profile ll -611.8174086741
# alpha 0.001: profile ll -611.7959470646
# alpha 0.00206731: profile ll -611.7881492819
# alpha 0.01: profile ll -612.2144047792
# BM: ll -611.8174089526 sigma2 43.62429412
