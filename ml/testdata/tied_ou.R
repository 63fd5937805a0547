# Data and R reference numbers for the tied OU tests (θ = root = μ) in ../ou_test.go.
# Run from this directory: Rscript tied_ou.R (R 4, ape). It writes the trees and traits
# below and prints the exact tied maximum likelihood of each: with V the OU covariance of
# the tips, V_ij = σ²/(2α)·e^{−α(T_i+T_j−2C_ij)}(1 − e^{−2αC_ij}) (+ τ² on the diagonal),
# μ is profiled by GLS and (log σ², log α[, log τ²]) maximised by optim from several
# starts (BFGS, Nelder–Mead, BFGS, reltol 1e-15).
suppressMessages(library(ape))
coal30 <- function() { tr <- rcoal(30); tr$edge.length <- tr$edge.length/max(node.depth.edgelength(tr)); tr }
put <- function(tr, y, name) {
  write.tree(tr, file=paste0(name, ".nwk"))
  write.csv(data.frame(taxon=names(y), x=round(y, 4)), paste0(name, ".csv"), row.names=FALSE, quote=FALSE)
}
# OU with α = 40, σ 1, θ = root = 0.5 on a coalescent tree of height 1.
set.seed(22); tr <- coal30()
invisible(runif(30, 0, 0)) # as the script that first produced these data did
put(tr, rTraitCont(tr, model="OU", sigma=1, alpha=40, theta=0.5, root.value=0.5), "ou_alpha40")
# White noise (the limit α → ∞): i.i.d. N(0, 1) tips.
for (s in c(1, 4)) { set.seed(s); tr <- coal30(); put(tr, setNames(rnorm(30), tr$tip.label), sprintf("white_noise%d", s)) }
# The 8-tip tree of TestFitOUNearlyUltrametric (ape::rcoal(8) after set.seed(9), height
# 1) scaled to heights 1 and 0.25 and rounded to 3 decimals, with that test's data.
exact8 <- read.tree(text="(((a:0.2516396021,(b:0.1599767069,c:0.1599767069):0.09166289528):0.0455712215,(d:0.09441093526,e:0.09441093526):0.2027998884):0.7027891764,(f:0.2956779627,(g:0.0392449313,h:0.0392449313):0.2564330314):0.7043220373);")
y8 <- c(a=1.203, b=1.084, c=0.553, d=0.321, e=0.556, f=0.367, g=-0.101, h=-0.288)
for (h in c(1, 0.25)) { tr <- exact8; tr$edge.length <- round(tr$edge.length*h, 3); put(tr, y8, sprintf("rounded8_h%g", h)) }

fit <- function(name, noise=FALSE) {
  tr <- read.tree(paste0(name, ".nwk")); d <- read.csv(paste0(name, ".csv"))
  S <- vcv(tr); T <- diag(S); n <- nrow(S); yy <- setNames(d$x, d$taxon)[rownames(S)]
  ll <- function(p) { s2 <- exp(p[1]); al <- exp(p[2]); tau2 <- if (noise) exp(p[3]) else 0
    V <- s2/(2*al) * exp(-al*outer(T,T,"+") + 2*al*S) * (1-exp(-2*al*S)) + diag(tau2, n)
    Vi <- tryCatch(solve(V), error=function(e) NULL); if (is.null(Vi)) return(-1e10)
    th <- sum(Vi %*% yy)/sum(Vi); r <- yy - th
    as.numeric(-0.5*(n*log(2*pi) + determinant(V)$modulus + t(r)%*%Vi%*%r)) }
  best <- -Inf
  for (la in log(c(0.1, 1, 3, 10, 30, 100))) for (lt in if (noise) log(c(1e-6, 1e-3, 0.01, 0.1)) else 0) {
    p0 <- c(log(2*exp(la)*var(yy)), la); if (noise) p0 <- c(p0, lt)
    o <- optim(p0, function(p) -ll(p), method="BFGS", control=list(reltol=1e-15, maxit=5000))
    o <- optim(o$par, function(p) -ll(p), method="Nelder-Mead", control=list(reltol=1e-15, maxit=20000))
    o <- optim(o$par, function(p) -ll(p), method="BFGS", control=list(reltol=1e-15, maxit=5000))
    if (-o$value > best) { best <- -o$value; par <- o$par } }
  s2 <- exp(par[1]); al <- exp(par[2]); tau2 <- if (noise) exp(par[3]) else 0
  V <- s2/(2*al) * exp(-al*outer(T,T,"+") + 2*al*S) * (1-exp(-2*al*S)) + diag(tau2, n); Vi <- solve(V)
  v <- mean((yy - mean(yy))^2)
  cat(sprintf("%s%s: ll %.10f sigma2 %.10g alpha %.10g theta %.10g tau2 %.3g | white-noise limit: ll %.10f variance %.10g mean %.10g\n",
    name, if (noise) " (noise)" else "", best, s2, al, sum(Vi%*%yy)/sum(Vi), tau2, sum(dnorm(yy, mean(yy), sqrt(v), log=TRUE)), v, mean(yy)))
}
fit("ou_alpha40"); fit("white_noise1"); fit("white_noise4")
for (h in c(1, 0.25)) { fit(sprintf("rounded8_h%g", h)); fit(sprintf("rounded8_h%g", h), noise=TRUE) }
