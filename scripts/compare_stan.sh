#!/usr/bin/env bash
# compare_stan.sh — run Stan's notebook-06 anchors and canopy's notebook06 in one go
# and print bulk ESS per second of both and their ratio (issue: NUTS at least 20× Stan
# on the collapsed model, 100× on the latent model).
#
# Usage (from the repository root, with ../shared beside it and rstan installed, see
# ../shared/anchors/README.md):
#   scripts/compare_stan.sh [reps=3] [mode=par]
set -euo pipefail
reps=${1:-3}
mode=${2:-par}
out=${ANCHORS_OUT:-anchors-results}
mkdir -p "$out"
go build -o "$out/notebook06" ./examples/notebook06
ANCHORS_OUT="$out" Rscript ../shared/anchors/nb06_stan_run.R "$reps" nb06,nb06_latent "$mode" 0.8
"$out/notebook06" -stan "$out/stan_runs.csv" | tail -n "$((2 * reps + 2))"
