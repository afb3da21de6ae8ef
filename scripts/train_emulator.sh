#!/usr/bin/env bash
# Train the shipped emulator (CNN + MLP) and the MLP-only baseline, and evaluate both on the
# held-out test set. Resumable: rerun after an interruption.
#   usage: bash scripts/train_emulator.sh [SETS_DIR] [RUNS_DIR]
set -euo pipefail
sets=${1:-${FASTJAM_CACHE:-$HOME/.cache/fastjam}}
runs=${2:-$sets/runs}
mkdir -p "$runs"
fastjam train --data "$sets/train" --out "$runs/cnn" --threads 1 --seed 0 --resume --no-progress
fastjam train --data "$sets/train" --out "$runs/mlp" --threads 1 --seed 0 --mlp-only --resume --no-progress
for kind in cnn mlp; do
  fastjam evaluate --model "$runs/$kind" --data "$sets/test" --json "$runs/$kind/metrics.json" \
    --plots "$runs/$kind/plots" --update-card --no-progress
done
