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
# The card states its limits, and the test split is listed (paths relative to art-dev) so
# tests can re-measure the bundled model on exactly the images it never saw.
python - "$run" "$data/art-dev" <<'PY'
import csv, json, sys
from pathlib import Path
run, root = Path(sys.argv[1]), Path(sys.argv[2]).resolve()
card_path = Path("models/default/model.json")
card = json.loads(card_path.read_text())
card["name"] = "artifact-default"
card["training"]["dataset"]["root"] = "../shared/data/art-dev (research-only, not distributed)"
card["limitations"] = [
    "Trained from scratch on 672 images of ../shared/data/art-dev (336 human, 336 AI after undersampling).",
    "Generators seen: DALL-E, DreamStudio, Midjourney, latent diffusion (AI-ArtBench LD), Stable Diffusion (AI-ArtBench SD), StarryAI. Others are unknown to it.",
    "Test accuracy and AUC are modest (see metrics): treat the verdict as one opinion beside provenance evidence, never as proof.",
    "Measured false-positive rate on 2,000 real paintings is in report/on-human-paintings/metrics.json.",
]
card_path.write_text(json.dumps(card, indent=2) + "\n")
with open(run / "splits" / "test.csv") as src, open("models/default/report/test_split.csv", "w", newline="") as dst:
    writer = csv.writer(dst)
    writer.writerow(["path", "label", "generator"])
    for row in csv.DictReader(src):
        writer.writerow([Path(row["path"]).resolve().relative_to(root).as_posix(), row["label"], row["generator"]])
PY
echo "bundled: $(ls models/default)"
