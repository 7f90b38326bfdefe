#!/usr/bin/env bash
# Reproduce the bundled default model (models/default) from ../shared/data.
# Trains on art-dev (stratified 20% test split held out), measures false positives on
# human-paintings, and copies only the model, its card and its report into models/default.
# The training images are never copied.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data}
run=${RUN:-runs/default}
artifact train --data "$data/art-dev" --out "$run" "$@"
artifact evaluate --model "$run" --data "$data/human-paintings" --robustness-limit 0
rm -rf models/default
mkdir -p models/default/report
cp "$run/model.tflite" "$run/model.json" models/default/
cp "$run"/report/{confusion_matrix.png,roc.png,training_curves.png,classification_report.txt,classification_report.json,metrics.json} models/default/report/
mkdir -p models/default/report/on-human-paintings
cp "$run"/report/on-human-paintings/{metrics.json,classification_report.txt,confusion_matrix.png} models/default/report/on-human-paintings/
echo "bundled: $(ls models/default)"
