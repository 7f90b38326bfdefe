"""CNN builders. Each model starts with its own ``Rescaling``, so it takes raw 0..255 pixels."""

from __future__ import annotations

import typing
from typing import Literal

import keras
import numpy as np
from keras import layers

from artifact.training.architectures import SCRATCH_NAMES, Stem

Architecture = Literal[SCRATCH_NAMES]  # type: ignore[valid-type]
STEMS: tuple[str, ...] = typing.get_args(Stem)
ARCHITECTURES: tuple[str, ...] = SCRATCH_NAMES
# The default 0.99 made a small CNN on ~2k images predict one class at test time (FACTS.md).
BN_MOMENTUM = 0.9


def create_model(
    architecture: Architecture,
    *,
    input_size: int,
    num_classes: int,
    width: int = 32,
    depth: int = 4,
    dropout: float = 0.3,
    stem: Stem = "rgb",
) -> keras.Model:
    """Build an uncompiled classifier ending in a softmax over ``num_classes``.

    Args:
        architecture: ``small_cnn`` (plain conv blocks, as the recipe) or ``residual_cnn``.
        input_size: side of the square RGB input.
        width: filters of the first block; each block doubles it.
        depth: number of downsampling blocks.
        stem: ``highpass`` adds fixed high-pass residuals of each colour channel to the
            input, steering the network towards texture rather than content.
    """
    inputs = keras.Input((input_size, input_size, 3), name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    if stem == "highpass":
        x = layers.Concatenate(name="rgb_and_residuals")([x, _highpass(x)])
    elif stem != "rgb":
        raise ValueError(f"unknown stem {stem!r}; choose one of {STEMS}")
    if architecture == "small_cnn":
        x = _small_cnn(x, width, depth)
    elif architecture == "residual_cnn":
        x = _residual_cnn(x, width, depth)
    else:
        raise ValueError(f"unknown architecture {architecture!r}; choose one of {ARCHITECTURES}")
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=architecture)


def _highpass(x):
    """A fixed (untrained) second-order high-pass filter per channel, the 3x3 'square'
    filter of steganalysis' SRM set: it removes smooth content and keeps the residual noise
    where generators leave their traces."""
    kernel = np.array([[-1, 2, -1], [2, -4, 2], [-1, 2, -1]], dtype=np.float32) / 4.0
    weights = np.repeat(kernel[:, :, None, None], 3, axis=2)
    residual = layers.DepthwiseConv2D(
        3,
        padding="same",
        use_bias=False,
        trainable=False,
        name="highpass",
        depthwise_initializer=keras.initializers.Constant(weights),
    )(x)
    # Residuals are small; scale them to the range of the colour channels.
    return layers.Rescaling(4.0, name="highpass_gain")(residual)


def _conv_bn(x, filters: int, stride: int = 1):
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return layers.Activation("relu")(x)


def _small_cnn(x, width: int, depth: int):
    # The first block keeps full resolution: generation traces live in fine texture.
    for block in range(depth):
        filters = width * 2**block
        x = _conv_bn(x, filters)
        x = _conv_bn(x, filters)
        x = layers.MaxPooling2D()(x)
    return x


def _residual_cnn(x, width: int, depth: int):
    x = _conv_bn(x, width)
    for block in range(depth):
        filters = width * 2**block
        shortcut = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM)(shortcut)
        y = _conv_bn(x, filters)
        y = layers.SeparableConv2D(filters, 3, padding="same", use_bias=False)(y)
        y = layers.BatchNormalization(momentum=BN_MOMENTUM)(y)
        y = layers.MaxPooling2D(3, strides=2, padding="same")(y)
        x = layers.Activation("relu")(layers.add([y, shortcut]))
    return x
