#!/usr/bin/env bash
# kunita_ou_replicates.sh — simulate landmark shapes under the mean-reverting Kunita
# flow (α = 2, k_α = 0.1, k_σ = 0.25) on a 16-tip symmetric tree of height 2, fit each
# data set with exponential and with Euler steps (--step-length 0.25 by default, so
# α·dt reaches 0.75 on the time-changed grid), and print, per discretisation, the mean and standard
# error over data sets of log(posterior median / truth) of α and of the stationary
# variance k_α/(2α), and how often the 90% intervals cover the truth.
#
# Usage (from the repository root; needs Rscript):
#   scripts/kunita_ou_replicates.sh [reps=10] [step-length=0.25]
set -euo pipefail
reps=${1:-10}
sl=${2:-0.25}
out=${KOU_OUT:-kunita-ou-replicates}
mkdir -p "$out"
go build -o "$out/canopy" ./cmd/canopy
tree="$out/t16.nwk"
echo '((((t1:0.5,t2:0.5):0.5,(t3:0.5,t4:0.5):0.5):0.5,((t5:0.5,t6:0.5):0.5,(t7:0.5,t8:0.5):0.5):0.5):0.5,(((t9:0.5,t10:0.5):0.5,(t11:0.5,t12:0.5):0.5):0.5,((t13:0.5,t14:0.5):0.5,(t15:0.5,t16:0.5):0.5):0.5):0.5);' > "$tree"
for s in $(seq 1 "$reps"); do
  "$out/canopy" simulate --tree "$tree" --model kunita-ou --alpha 2 --kalpha 0.1 --ksigma 0.25 \
    --landmarks 6 --noise 0.001 --seed "$s" --out "$out/s$s.tps" > /dev/null
  for kind in exponential euler; do
    flag=()
    [ "$kind" = euler ] && flag=(--euler-steps)
    "$out/canopy" fit --tree "$tree" --landmarks "$out/s$s.tps" --model kunita-ou --step-length "$sl" \
      --noise 0.001 --chains 2 --warmup 200 --draws 200 --seed 1 --quiet ${flag[@]+"${flag[@]}"} \
      --out "$out/$kind$s" > "$out/$kind$s.log" 2>&1
  done
  echo "data set $s done" >&2
done
Rscript - "$out" "$reps" <<'R'
args <- commandArgs(TRUE); out <- args[1]; reps <- as.integer(args[2])
for (kind in c("exponential", "euler")) {
  res <- t(sapply(seq_len(reps), function(s) {
    d <- do.call(rbind, lapply(1:2, function(c)
      read.csv(file.path(out, paste0(kind, s), paste0("chain-", c, ".csv")), comment.char = "#")))
    v <- d$k_alpha / (2 * d$alpha)
    qa <- quantile(d$alpha, c(0.05, 0.5, 0.95)); qv <- quantile(v, c(0.05, 0.5, 0.95))
    c(log(qa[2] / 2), qa[1] <= 2 && 2 <= qa[3], log(qv[2] / 0.025), qv[1] <= 0.025 && 0.025 <= qv[3])
  }))
  se <- function(x) sd(x) / sqrt(length(x))
  cat(sprintf("%-11s alpha: log(median/truth) %.3f ± %.3f, 90%% covers %d/%d; k_alpha/(2 alpha): %.3f ± %.3f, covers %d/%d\n",
              kind, mean(res[, 1]), se(res[, 1]), sum(res[, 2]), reps, mean(res[, 3]), se(res[, 3]), sum(res[, 4]), reps))
}
R
