#!/usr/bin/env bash
# Train the shipped emulator (MLP-only, (n, q_obs) inputs, 4 x 512) and the photometry-branch
# model (CNN + MLP, 4 x 512), and evaluate both on the held-out test set.
# Resumable: rerun after an interruption. Both trainings run at once, one torch thread each.
#   usage: bash scripts/train_emulator.sh [SETS_DIR] [RUNS_DIR]
set -euo pipefail
sets=${1:-${FASTJAM_CACHE:-$HOME/.cache/fastjam}}
runs=${2:-$sets/runs}
mkdir -p "$runs"
common=(--data "$sets/train" --val "$sets/val" --threads 1 --seed 0 --hidden 512 512 512 512 --resume --no-progress)
fastjam train "${common[@]}" --out "$runs/mlp512" --mlp-only > "$runs/mlp512.log" 2>&1 &
fastjam train "${common[@]}" --out "$runs/cnn512" > "$runs/cnn512.log" 2>&1 &
wait
for kind in mlp512 cnn512; do
  fastjam evaluate --model "$runs/$kind" --data "$sets/test" --json "$runs/$kind/metrics.json" \
    --plots "$runs/$kind/plots" --update-card --no-progress
done
