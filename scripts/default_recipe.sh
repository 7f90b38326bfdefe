# The bundled model's training recipe, shared by bundle_default_model.sh and seed_spread.sh.
# shellcheck shell=bash
data=${DATA:-../shared/data}
wide=${WIDE:-$HOME/artifact-data/wide}
weights=${WEIGHTS:-../shared/weights/mobilenet_v2_1.0_224_no_top_from_coral_quant_tflite.weights.h5}
RECIPE=(--data "$data/art-dev" --data "$wide"
  --architecture mobilenet_v2_1.0 --backbone-weights "$weights"
  --balance source --max-per-source 1500 --source-weighting --augment wide --feature-views 2
  --canonical-size 320 --image-size 224 --crop-mode five
  --epochs 15 --fine-tune-epochs 3 --processing aligned --false-ai-scope worst_source)
