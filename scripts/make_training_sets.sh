#!/usr/bin/env bash
# Regenerate the training, test and validation sets of the shipped emulator.
# Resumable: rerun the same command after an interruption. Sets live outside the repository.
#   usage: bash scripts/make_training_sets.sh [DIR] [WORKERS]
# The shipped emulator was trained on the first 5,624 maps of the seed-1 Sobol design
# (N_TRAIN=5624); a larger N_TRAIN (e.g. 16384) extends the same design for a next emulator.
set -euo pipefail
dir=${1:-${FASTJAM_CACHE:-$HOME/.cache/fastjam}}
workers=${2:-2}
mkdir -p "$dir"
# train: Sobol seed 1; test: seed 2; validation: seed 3 (disjoint designs).
fastjam simulate --n "${N_TRAIN:-5624}" --seed 1 --out "$dir/train" --workers "$workers" --resume
fastjam simulate --n "${N_TEST:-2048}" --seed 2 --out "$dir/test" --workers "$workers" --resume
fastjam simulate --n "${N_VAL:-512}" --seed 3 --out "$dir/val" --workers "$workers" --resume
