#!/usr/bin/env bash
# Train the bundled model's recipe with other seeds (splits, views and head all change) and
# print the spread of its figures: scripts/seed_spread.sh 1 2  (RUNS=runs by default).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/default_recipe.sh
runs=${RUNS:-runs}
for seed in "$@"; do
  artifact train "${RECIPE[@]}" --seed "$seed" --out "$runs/seed-$seed"
  artifact evaluate --model "$runs/seed-$seed" --data "$data/human-paintings" --robustness-limit 0
done
python scripts/run_summary.py "${@/#/$runs/seed-}" --art-dev "$data/art-dev"
