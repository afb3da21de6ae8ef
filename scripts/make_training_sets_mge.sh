#!/usr/bin/env bash
# Regenerate the training, test and validation sets of the general-photometry (MGE) emulator:
# the multi-component family of fastjam.family, two jampy calls per map (JAM's linear terms A, B).
# Resumable: rerun the same command after an interruption; a larger N_TRAIN extends the design.
# Sets live outside the repository.
#   usage: bash scripts/make_training_sets_mge.sh [DIR] [WORKERS]
# Order (what a network needs first, should a run stop early): a first 4,096 training maps, the
# 2,048-map test set, the 512-map validation set, a 2,048-map test set and a 512-map validation set of
# truncated MGEs (each fitted only out to R_max = 1.5-8 R_e, as mgefit fits an image of finite extent:
# what real MGEs look like),
# 8,192 training maps of truncated MGEs (the next network is the shipped one continued on them),
# the maps of the committee's design points in data/designs (where two networks disagree most:
# scripts/select_by_committee.py; the first round) and the 32,768 random training maps the shipped
# network saw, 4,096 extra training maps of nearly edge-on galaxies (inclination 60-90 deg:
# flattened, disk-dominated maps are the hardest and are rare at random orientations), 4,096 extra
# training maps of thin, disk-dominated galaxies near edge-on (where the worst 5% of the test maps
# are: bench/general_regimes.py), the second committee round (which moved no statistic: last),
# then the training design extended to N_TRAIN (default 32,768) for the learning curve.
set -euo pipefail
designs=$(cd "$(dirname "$0")/../data/designs" && pwd)
dir=${1:-${FASTJAM_CACHE:-$HOME/.cache/fastjam}}
workers=${2:-2}
mkdir -p "$dir"
# Line-of-sight quadrature: a fixed 128-node tanh-sinh rule giving both linear terms at once
# (fastjam.jampy_los: within ~1e-7 of the exact integral, several times faster than jampy's own).
sim() { fastjam simulate --family mge --los-nodes "${LOS_NODES:-128}" --workers "$workers" --resume --no-progress "$@"; }
# train: Sobol seed 11; test: seed 12; validation: seed 13; edge-on extra: seed 14; thin extra: seed 15;
# truncated test: seed 22; truncated training: seed 23; truncated validation: seed 24.
truncated=(--outer-radius 1.5 8)
sim --n 4096 --seed 11 --out "$dir/mge_train"
sim --n "${N_TEST:-2048}" --seed 12 --out "$dir/mge_test"
sim --n "${N_VAL:-512}" --seed 13 --out "$dir/mge_val"
sim --n "${N_TEST_TRUNCATED:-2048}" --seed 22 "${truncated[@]}" --out "$dir/mge_test_truncated"
sim --n "${N_VAL:-512}" --seed 24 "${truncated[@]}" --out "$dir/mge_val_truncated"
sim --n "${N_TRUNCATED:-8192}" --seed 23 "${truncated[@]}" --out "$dir/mge_train_truncated"
sim --design "$designs/committee_17.npy" --out "$dir/mge_train_committee_17"
sim --n 32768 --seed 11 --out "$dir/mge_train"
sim --n "${N_EDGE:-4096}" --seed 14 --inclination 60 90 --out "$dir/mge_train_edge"
sim --n "${N_THIN:-4096}" --seed 15 --inclination 60 90 --family-range single_q 0.06 0.2 \
    --family-range disk_q 0.06 0.2 --family-range bulge_fraction 0.05 0.5 --out "$dir/mge_train_thin"
sim --design "$designs/committee_17b.npy" --out "$dir/mge_train_committee_17b"
sim --n "${N_TRAIN:-32768}" --seed 11 --out "$dir/mge_train"
