#!/usr/bin/env bash
# Reproduce the bundled default model (src/artifact/models/default).
# Trains MobileNetV2-1.0 (ImageNet weights from ../shared/weights) on art-dev plus the wide set
# (built with ../shared/data/wide/build.py; WIDE=... if elsewhere), with a leave-one-source-out
# evaluation; measures false positives on human-paintings (never trained on); copies only the
# model, its card and its report into the package. No training image is ever copied.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/default_recipe.sh
run=${RUN:-runs/default}
dest=src/artifact/models/default
artifact train "${RECIPE[@]}" --leave-one-source-out --out "$run" "$@"
rm -rf "$dest"
mkdir -p "$dest/report"
cp "$run/model.tflite" "$run/model.json" "$dest/"
cp "$run"/report/{confusion_matrix.png,roc.png,training_curves.png,classification_report.txt,classification_report.json,metrics.json} "$dest/report/"
python scripts/describe_bundled_model.py "$run" "$dest" --art-dev "$data/art-dev" --wide "$wide" \
  --human-paintings "$data/human-paintings"
# The headline figures, as served (Predictor + the card's decision rule).
python scripts/served_figures.py "$dest" --art-dev "$data/art-dev" --human-paintings "$data/human-paintings"
echo "bundled: $(ls "$dest")"
