#!/usr/bin/env bash
# The experiments behind the default training settings (results in README.md).
# Usage: scripts/experiments_art_dev.sh [OUT_DIR]   (needs ../shared/data/art-dev)
set -euo pipefail
data=${DATA:-../shared/data/art-dev}
out=${1:-runs/experiments}
mkdir -p "$out"
run() {
  name=$1; shift
  echo "== $name: $*"
  artifact train --data "$data" --out "$out/$name" --robustness-limit 200 "$@" >"$out/$name.log" 2>&1 \
    && python - "$out/$name" <<'PY'
import json, sys
m = json.load(open(sys.argv[1] + "/report/metrics.json"))
print(sys.argv[1], "acc", m["accuracy"], "auc", m.get("roc_auc"), "robust", m["robustness"])
PY
}
run e1_crop128_five --image-size 128 --canonical-size 256 --crop-mode five
run e2_full224 --image-size 224 --canonical-size 256
run e3_full128 --image-size 128 --canonical-size 128
run e4_crop128_five_flips --image-size 128 --canonical-size 256 --crop-mode five --augment flips
run e5_residual_crop128_five --image-size 128 --canonical-size 256 --crop-mode five --architecture residual_cnn
