# The bundled model's training command, shared by bundle_default_model.sh and seed_spread.sh.
# The settings are the recipe file src/artifact/training/recipes/default.toml; here only what is
# this machine's: the data and the weights file.
# shellcheck shell=bash
data=${DATA:-../shared/data}
wide=${WIDE:-$HOME/artifact-data/wide}
weights=${WEIGHTS:-../shared/weights/mobilenet_v2_1.0_224_no_top_from_coral_quant_tflite.weights.h5}
RECIPE=(--recipe default --data "$data/art-dev" --data "$wide" --backbone-weights "$weights")
