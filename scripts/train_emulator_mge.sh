#!/usr/bin/env bash
# Train the shipped general-photometry (MGE) emulator from the sets of
# scripts/make_training_sets_mge.sh, as it was made (docs/general_emulator.md):
#   1. a network shipped earlier: 10,175 maps (mge_train below 6,100, edge-on and thin sets);
#   2. a network on 8,192 random maps of mge_train alone (the learning curve's largest);
#   3. the tenth of a 16,384-point Sobol pool (seed 16) where 1 and 2 disagree most (query by
#      committee) and 4. its JAM maps (mge_train_committee);
#   5. network 1 continued (warm start) on every map: mge_train below 11,727, edge-on, thin and
#      committee sets (shipped earlier);
#   6. network 5 continued on mge_train below 17,900, edge-on, thin and the second committee set
#      (data/designs/committee_17.npy), with the coherent term of the loss;
#   7. network 6 extended by the light beyond 3 R_e (hybrid-outer-anchors-k128, warm start) and
#      continued on mge_train below 24,983 and the same sets, with radial pixel weights;
#   8. network 7 continued the same way on mge_train below 29,171 and the same sets (shipped
#      before the current one);
#   9. network 8 continued the same way from a lower learning rate (6e-5) on all 32,768 design
#      points of mge_train and the same sets (shipped before the current one);
#  10. network 9 continued the same way with the thin set at 4,096 design points and the edge-on
#      set at 3,461 (N_THIN=4096 N_EDGE=4096 of scripts/make_training_sets_mge.sh; shipped before
#      the current one);
#  11. network 10 annealed on the same maps: lr 1e-5 halved every 5 epochs without progress down to
#      1e-7 (the steps before stop where the learning rate reaches 1e-5);
#  12. network 11 continued on the 32,768 random maps, the committee set and the 8,192 truncated
#      training maps (mge_train_truncated: MGEs fitted only out to 1.5-8 R_e, as real MGEs are),
#      validated on untruncated and truncated maps (lr 2e-5 halved every 5 epochs without progress
#      down to 1e-7);
#  13. network 12 continued the same way with the edge-on set at its 4,096 design points too
#      (from lr 1e-5);
#  14. its card, written to OUT, its novelty bands' error models calibrated on the untruncated and
#      truncated test maps together (bench/general_novelty.py), and its accuracy on truncated MGEs
#      (bench/general_truncated.py).
# Steps 1-9 read the edge-on and thin sets as their first 2,048 design points (a larger N_EDGE or
# N_THIN of scripts/make_training_sets_mge.sh extends them for later networks).
# Resumable: rerun the same command after an interruption; finished steps are kept.
#   usage: bash scripts/train_emulator_mge.sh [SETS_DIR] [RUNS_DIR] [OUT]
set -euo pipefail
sets=${1:-${FASTJAM_CACHE:-$HOME/.cache/fastjam}}
runs=${2:-$sets/runs_mge}
out=${3:-data/emulator_mge}
design=hybrid-anchors-k128
bench=bench/general_emulator.py
mkdir -p "$runs"
held_out=(--val "$sets/mge_val" --test "$sets/mge_test")
train=(--designs "$design" --batch 16 --minutes 0 --no-progress)
targeted=("$sets/mge_train_edge:2048" "$sets/mge_train_thin:2048")

python "$bench" curve --data "$sets/mge_train" --first 6100 --extra "${targeted[@]}" "${held_out[@]}" "${train[@]}" \
    --sizes 100000 --patience 150 --lr-patience 50 --epochs 1331 --work "$runs/all10k" --json "$runs/all10k.json"
python "$bench" curve --data "$sets/mge_train" --first 8300 "${held_out[@]}" "${train[@]}" --sizes 8192 \
    --patience 150 --lr-patience 50 --epochs 1500 --work "$runs/random" --json "$runs/random.json"
first="$runs/all10k/curve_${design}_100000"
if [ ! -f "$sets/committee_16.npy" ]; then
    python scripts/select_by_committee.py --models "$first" "$runs/random/curve_${design}_8192" \
        --pool 16384 --seed 16 --keep 0.1 --cache "$sets/pool_16.npz" --out "$sets/committee_16.npy" --no-progress
fi
fastjam simulate --family mge --los-nodes "${LOS_NODES:-128}" --design "$sets/committee_16.npy" --workers 2 --resume --no-progress \
    --out "$sets/mge_train_committee"
all=(--data "$sets/mge_train" --first 11727 --extra "${targeted[@]}" "$sets/mge_train_committee" "${held_out[@]}")
python "$bench" curve "${all[@]}" "${train[@]}" --sizes 100000 --init "$first" --lr 2.5e-4 --patience 100 \
    --lr-patience 30 --epochs 561 --work "$runs/warm" --json "$runs/warm.json"
second=(--extra "${targeted[@]}" "$sets/mge_train_committee_17" "${held_out[@]}")
python "$bench" curve --data "$sets/mge_train" --first 17900 "${second[@]}" "${train[@]}" --sizes 100000 \
    --init "$runs/warm/curve_${design}_100000" --lr 2.5e-4 --patience 100 --lr-patience 30 --bias-weight 3 \
    --epochs 293 --work "$runs/warm_17900" --json "$runs/warm_17900.json"
outer=hybrid-outer-anchors-k128
# steps 7-11: the outer design, continued with the coherent term and radial pixel weights
continued=(--designs "$outer" --batch 16 --minutes 0 --no-progress --sizes 100000 --bias-weight 3 --radial-weight 1)
last=(--data "$sets/mge_train" --first 24983 "${second[@]}")
python "$bench" curve "${last[@]}" "${continued[@]}" --init "$runs/warm_17900/curve_${design}_100000" --lr 2.5e-4 \
    --patience 100 --lr-patience 30 --epochs 163 --work "$runs/outer_radial" --json "$runs/outer_radial.json"
grown=(--data "$sets/mge_train" --first 29171 "${second[@]}")
python "$bench" curve "${grown[@]}" "${continued[@]}" --init "$runs/outer_radial/curve_${outer}_100000" --lr 2.5e-4 \
    --patience 100 --lr-patience 30 --epochs 273 --work "$runs/cont_29k" --json "$runs/cont_29k.json"
full=(--data "$sets/mge_train" --first 32768 "${second[@]}")
python "$bench" curve "${full[@]}" "${continued[@]}" --init "$runs/cont_29k/curve_${outer}_100000" --lr 6e-5 \
    --patience 100 --lr-patience 20 --epochs 179 --work "$runs/cont_32k" --json "$runs/cont_32k.json"
thin=(--data "$sets/mge_train" --first 32768 --extra "$sets/mge_train_edge:3461" "$sets/mge_train_thin:4096" \
    "$sets/mge_train_committee_17" "${held_out[@]}")
python "$bench" curve "${thin[@]}" "${continued[@]}" --init "$runs/cont_32k/curve_${outer}_100000" --lr 6e-5 \
    --patience 100 --lr-patience 20 --epochs 146 --work "$runs/thin4k" --json "$runs/thin4k.json"
python "$bench" curve "${thin[@]}" "${continued[@]}" --init "$runs/thin4k/curve_${outer}_100000" --lr 1e-5 \
    --min-lr 1e-7 --patience 30 --lr-patience 5 --epochs 44 --work "$runs/anneal" --json "$runs/anneal.json"
both=(--val "$sets/mge_val" "$sets/mge_val_truncated" --test "$sets/mge_test")
annealed=(--min-lr 1e-7 --patience 30 --lr-patience 5 --epochs 400)
python "$bench" curve --data "$sets/mge_train" --first 32768 --extra "$sets/mge_train_committee_17" \
    "$sets/mge_train_truncated" "${both[@]}" "${continued[@]}" "${annealed[@]}" \
    --init "$runs/anneal/curve_${outer}_100000" --lr 2e-5 --work "$runs/mix32k" --json "$runs/mix32k.json"
shipped=(--data "$sets/mge_train" --first 32768 --extra "$sets/mge_train_edge" "$sets/mge_train_committee_17" \
    "$sets/mge_train_truncated" "${both[@]}")
python "$bench" curve "${shipped[@]}" "${continued[@]}" "${annealed[@]}" --init "$runs/mix32k/curve_${outer}_100000" \
    --lr 1e-5 --work "$runs/edge36k" --json "$runs/edge36k.json"
python "$bench" card "${shipped[@]}" --model "$runs/edge36k/curve_${outer}_100000" --out "$out"
python bench/general_novelty.py --model "$out" --test "$sets/mge_test" "$sets/mge_test_truncated" \
    --check "$sets/mge_val" "$sets/mge_val_truncated"
python bench/general_truncated.py --test "$sets/mge_test_truncated" --model "$out"
python scripts/model_card.py --model "$out"
