#!/usr/bin/env bash
# The round-1 experiments (from-scratch CNN on art-dev; results in README.md). --max-false-ai -1
# keeps round 1's balanced-accuracy threshold.
# Usage: scripts/experiments_art_dev.sh [OUT_DIR]   (needs ../shared/data/art-dev)
set -euo pipefail
data=${DATA:-../shared/data/art-dev}
out=${1:-runs/experiments}
mkdir -p "$out"
run() {
  name=$1; shift
  echo "== $name: $*"
  artifact train --data "$data" --out "$out/$name" --architecture small_cnn --max-false-ai -1 --robustness-limit 200 "$@" >"$out/$name.log" 2>&1 \
    && python - "$out/$name" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/report/metrics.json"))
print(sys.argv[1], "acc", m["accuracy"], "auc", m.get("roc_auc"), "robust", m["robustness"])
PY
}
# Flags are explicit so the runs stay reproducible when defaults change.
base=(--image-size 128 --canonical-size 256 --crop-mode five)
run e1_crop128_five "${base[@]}" --stem rgb --augment realistic
run e6_native512_crop128_five --image-size 128 --canonical-size 512 --crop-mode five --stem rgb
run e7_highpass_crop128_five "${base[@]}" --stem highpass --augment realistic
run e9_flips_long "${base[@]}" --stem rgb --augment flips --epochs 30 --patience 8
run e10_residual "${base[@]}" --stem rgb --architecture residual_cnn
run e13_full128 --image-size 128 --canonical-size 128 --stem highpass --augment flips
run e16_extra_human "${base[@]}" --stem highpass --balance class_weights --extra-train "${DATA_EXTRA:-../shared/data/human-paintings}"
run e17_full128_long --image-size 128 --canonical-size 128 --stem highpass --augment flips --epochs 40 --patience 8
