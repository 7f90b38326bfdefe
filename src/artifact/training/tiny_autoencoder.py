"""TAEF2, the tiny autoencoder that imitates FLUX.2's, in Keras, with its weights read from the
PyTorch files it ships as (``madebyollin/taesd``, MIT: ``taef2_encoder.pth``, ``taef2_decoder.pth``).

A human artwork passed through it keeps its content and gains the traces an autoencoder-based
generator leaves when it decodes latents into pixels: an "aligned fake" (:mod:`aligned_fakes`).
The network is Ollin Boer Bohan's ``taesd.py`` with the FLUX.2 variant's mid-block pooling:
3x3 convolutions (PyTorch's symmetric padding of 1, also for the stride-2 ones, hence explicit
zero padding), residual blocks, nearest upsampling, and the decoder's ``tanh(x / 3) * 3`` clamp.
Layer names are the PyTorch state dict's keys with ``.`` as ``__``, so loading needs no table.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from keras import layers

from artifact.errors import UserFacingError
from artifact.training.torch_weights import read_state_dict

WIDTH, LATENT_CHANNELS = 64, 32
GROUP_NORM_EPSILON = 1e-5  # PyTorch's default (Keras' is 1e-3)
ENCODER_FILE, DECODER_FILE = "taef2_encoder.pth", "taef2_decoder.pth"
# Spatial down- and upscaling of the latents: image sides must be a multiple of this.
SCALE = 8


class AutoencoderWeightsError(UserFacingError, ValueError):
    """The autoencoder's weights are missing or do not fit the network."""


def _name(prefix: str, *parts: object) -> str:
    return "__".join((prefix, *map(str, parts)))


def _conv(x, filters: int, name: str, *, stride: int = 1, kernel: int = 3, bias: bool = True):
    if kernel == 3:
        x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    return layers.Conv2D(filters, kernel, strides=stride, use_bias=bias, name=name)(x)


def _block(x, width: int, name: str, *, pooled: bool):
    if pooled:
        # FLUX.2's variant: a global-statistics branch (1x1 conv, GroupNorm, 1x1 conv) added first.
        pool = _conv(x, width * 4, _name(name, "pool", 0), kernel=1, bias=False)
        pool = layers.GroupNormalization(4, epsilon=GROUP_NORM_EPSILON, name=_name(name, "pool", 1))(pool)
        pool = layers.ReLU()(pool)
        x = layers.Add()([x, _conv(pool, width, _name(name, "pool", 3), kernel=1, bias=False)])
    y = layers.ReLU()(_conv(x, width, _name(name, "conv", 0)))
    y = layers.ReLU()(_conv(y, width, _name(name, "conv", 2)))
    y = _conv(y, width, _name(name, "conv", 4))
    return layers.ReLU()(layers.Add()([y, x]))


def encoder(width: int = WIDTH, latent_channels: int = LATENT_CHANNELS) -> keras.Model:
    """Image in [0, 1] -> latents at 1/8 of its size."""
    image = keras.Input((None, None, 3))
    x = _conv(image, width, "encoder__0")
    x = _block(x, width, "encoder__1", pooled=False)
    index = 2
    for stage in range(3):
        x = _conv(x, width, f"encoder__{index}", stride=2, bias=False)
        for _ in range(3):
            index += 1
            x = _block(x, width, f"encoder__{index}", pooled=stage == 2)
        index += 1
    return keras.Model(image, _conv(x, latent_channels, f"encoder__{index}"), name="taef2_encoder")


def decoder(width: int = WIDTH, latent_channels: int = LATENT_CHANNELS) -> keras.Model:
    """Latents -> image in [0, 1] at 8 times their size."""
    latents = keras.Input((None, None, latent_channels))
    x = layers.Lambda(lambda z: keras.ops.tanh(z / 3.0) * 3.0, name="clamp")(latents)
    x = layers.ReLU()(_conv(x, width, "decoder__1"))
    index = 3
    for stage in range(3):
        for _ in range(3):
            x = _block(x, width, f"decoder__{index}", pooled=stage == 0)
            index += 1
        x = layers.UpSampling2D(2, interpolation="nearest")(x)
        x = _conv(x, width, f"decoder__{index + 1}", bias=False)
        index += 2
    x = _block(x, width, f"decoder__{index}", pooled=False)
    x = _conv(x, 3, f"decoder__{index + 1}")
    return keras.Model(latents, keras.ops.clip(x, 0.0, 1.0), name="taef2_decoder")


def torch_keys(model: keras.Model) -> dict[str, keras.Variable]:
    """The model's weights under their PyTorch state-dict keys (``encoder.`` prefix dropped)."""
    keys = {}
    for layer in model.layers:
        if "__" not in layer.name:
            continue
        base = ".".join(layer.name.split("__")[1:])
        for variable in layer.weights:
            kind = {"kernel": "weight", "gamma": "weight", "bias": "bias", "beta": "bias"}[variable.name]
            keys[f"{base}.{kind}"] = variable
    return keys


def load_state_dict(model: keras.Model, state: dict[str, np.ndarray], source: str) -> None:
    """Set ``model``'s weights from a PyTorch state dict; refuses one of another network."""
    keys = torch_keys(model)
    if set(keys) != set(state):
        missing, extra = sorted(set(keys) - set(state)), sorted(set(state) - set(keys))
        raise AutoencoderWeightsError(
            f"{source} is not a TAEF2 {model.name.split('_')[1]} "
            f"(missing {missing[:3]}, unexpected {extra[:3]})"
        )
    for key, variable in keys.items():
        value = state[key].astype(np.float32)
        if value.ndim == 4:  # PyTorch (out, in, h, w) -> Keras (h, w, in, out)
            value = value.transpose(2, 3, 1, 0)
        if tuple(value.shape) != tuple(variable.shape):
            raise AutoencoderWeightsError(f"{source}: {key} has shape {value.shape}, not {variable.shape}")
        variable.assign(value)


def weight_files(weights_dir: str | Path) -> tuple[Path, Path]:
    """The encoder's and the decoder's file in ``weights_dir``; refuses a folder lacking one."""
    folder = Path(weights_dir).expanduser()
    for path in (folder / ENCODER_FILE, folder / DECODER_FILE):
        if not path.is_file():
            raise AutoencoderWeightsError(
                f"{path} is missing: --autoencoder-weights names a folder with {ENCODER_FILE} "
                f"and {DECODER_FILE} (from github.com/madebyollin/taesd)"
            )
    return folder / ENCODER_FILE, folder / DECODER_FILE


class TinyAutoencoder:
    """TAEF2's encoder and decoder, loaded from a folder holding both of its files."""

    def __init__(self, weights_dir: str | Path):
        self.encoder, self.decoder = encoder(), decoder()
        for model, path in zip((self.encoder, self.decoder), weight_files(weights_dir), strict=True):
            load_state_dict(model, read_state_dict(path), str(path))

    def round_trip(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (h, w, 3) with sides a multiple of 8 -> the same image encoded and decoded."""
        if pixels.shape[0] % SCALE or pixels.shape[1] % SCALE:
            raise ValueError(f"image sides must be a multiple of {SCALE}, not {pixels.shape[:2]}")
        image = pixels[None].astype(np.float32) / 255.0
        decoded = self.decoder(self.encoder(image, training=False), training=False)
        return np.rint(keras.ops.convert_to_numpy(decoded)[0] * 255.0).astype(np.uint8)
