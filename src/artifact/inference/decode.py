"""Decode untrusted image bytes into an RGB Pillow image, or raise a typed error.

Every caller (training data loading, the CLI, the API) goes through here, so a bad
file is refused the same way everywhere and never crashes a batch.
"""

from __future__ import annotations

import io
import re
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, PngImagePlugin, UnidentifiedImageError

from artifact.errors import ArtifactError
from artifact.units import byte_size

# Formats we accept; MPO is the multi-picture JPEG that many cameras write.
ACCEPTED_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF")
# Pillow keeps up to 64 MB of PNG text chunks (before the pixels) per open by default; our own
# metadata reader caps its reading at 4 MB (provenance.png_text), Pillow at twice that.
PngImagePlugin.MAX_TEXT_MEMORY = 8 * 1024 * 1024
DEFAULT_MAX_BYTES = 25 * 1024 * 1024
DEFAULT_MAX_PIXELS = 50_000_000
MIN_SIDE = 1  # tiny images are upscaled by canonicalisation, not refused
# A progressive JPEG needs about 10 scans; each extra scan re-walks every coefficient, so a
# file repeating one tiny scan thousands of times costs minutes of CPU (libjpeg's tools offer a
# scan limit for the same reason).
DEFAULT_MAX_JPEG_SCANS = 100


class ImageDecodeError(ArtifactError, ValueError):
    """An input that is not a usable image. ``code`` is stable and machine-readable."""

    code = "invalid_image"
    status = 400


class EmptyImageError(ImageDecodeError):
    code = "empty_file"


class ImageTooLargeError(ImageDecodeError):
    code = "file_too_large"
    status = 413


class TooManyPixelsError(ImageDecodeError):
    code = "too_many_pixels"
    status = 413


class UnsupportedFormatError(ImageDecodeError):
    code = "unsupported_format"
    status = 415


class CorruptImageError(ImageDecodeError):
    code = "corrupt_image"


class NotAnImageError(ImageDecodeError):
    """Bytes that no image decoder recognises (e.g. text with a .jpg name)."""

    code = "not_an_image"


class ImageTooSmallError(ImageDecodeError):
    code = "image_too_small"


class TooManyScansError(ImageDecodeError):
    code = "too_many_scans"
    status = 422


@dataclass(frozen=True)
class DecodeLimits:
    """Limits applied before any pixel is decoded."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    min_side: int = MIN_SIDE
    max_jpeg_scans: int = DEFAULT_MAX_JPEG_SCANS


DEFAULT_LIMITS = DecodeLimits()


def declared_pixels(data: bytes) -> int:
    """Width x height from the header alone (0 if unreadable: decoding will say why)."""
    return declared_image(data)[0]


def declared_image(data: bytes) -> tuple[int, str]:
    """(width x height, Pillow mode) from the header alone ((0, "RGB") if unreadable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as image:
                mode = "RGBA" if image.mode == "P" and "transparency" in image.info else image.mode
                return image.width * image.height, mode
    except Exception:  # noqa: BLE001 - only an estimate; the decoder judges the file
        return 0, "RGB"


def too_large_message(size: int, limit: int) -> str:
    if byte_size(size) == byte_size(limit):  # just over: "25 MB; the limit is 25 MB" reads wrong
        return f"the file is over the limit of {byte_size(limit)} per file"
    return f"the file is {byte_size(size)}; the limit is {byte_size(limit)} per file"


def read_limited_bytes(path: str | Path, limits: DecodeLimits = DEFAULT_LIMITS) -> bytes:
    """A regular file's bytes, refusing one over the byte limit: checked on ``st_size`` before
    reading, and again while reading (a file that grows, or lies about its size, stops at the
    limit)."""
    path = Path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise CorruptImageError("not a regular file (a pipe, socket or device is never read)")
        if info.st_size > limits.max_bytes:
            raise ImageTooLargeError(too_large_message(info.st_size, limits.max_bytes))
        with path.open("rb") as handle:
            data = handle.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            raise ImageTooLargeError(f"the file is over the limit of {byte_size(limits.max_bytes)} per file")
        return data
    except OSError as exc:
        raise CorruptImageError(f"cannot read file: {exc.strerror or exc}") from exc


def read_image_file(path: str | Path, limits: DecodeLimits = DEFAULT_LIMITS) -> Image.Image:
    """Read and decode a file, checking its size before reading it whole."""
    return decode_image(read_limited_bytes(path, limits), limits)


@dataclass(frozen=True)
class DecodedImage:
    """One decode of an upload, shared by the model, the watermark check and the record."""

    image: Image.Image  # 8-bit RGB, EXIF orientation applied
    format: str  # Pillow's format name, lower case ("jpeg", "png", ...)


def decode_image(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> Image.Image:
    """Decode bytes to an 8-bit RGB image (see :func:`decode_upload`)."""
    return decode_upload(data, limits).image


def decode_upload(data: bytes, limits: DecodeLimits = DEFAULT_LIMITS) -> DecodedImage:
    """Decode bytes to an 8-bit RGB image, keeping the file's format.

    Animated images (GIF, WebP, APNG) contribute their first frame only. EXIF orientation
    is applied; alpha is composited on white; 16-bit, greyscale, palette and CMYK
    images are converted to 8-bit RGB.

    Raises:
        ImageDecodeError: a subclass naming what is wrong with the input.
    """
    if not data:
        raise EmptyImageError("the file is empty")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(too_large_message(len(data), limits.max_bytes))
    try:
        with warnings.catch_warnings():
            # We check the pixel count ourselves, below, with our own limit.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # Pillow warns about malformed metadata it skips; the error path is ours.
            warnings.simplefilter("ignore", UserWarning)
            image = Image.open(io.BytesIO(data), formats=None)
            image_format = image.format
            if image_format not in ACCEPTED_FORMATS:
                raise UnsupportedFormatError(
                    f"{image_format} images are not supported; use one of "
                    + ", ".join(f for f in ACCEPTED_FORMATS if f != "MPO")
                )
            if image_format in ("JPEG", "MPO"):
                scans = count_jpeg_scans(data, stop_after=limits.max_jpeg_scans)
                if scans > limits.max_jpeg_scans:
                    raise TooManyScansError(
                        f"the JPEG has more than {limits.max_jpeg_scans} scans (a normal progressive "
                        "JPEG has about 10); refused because decoding it would take minutes"
                    )
            width, height = image.size
            if width * height > limits.max_pixels:
                raise TooManyPixelsError(
                    f"image is {width}x{height} = {width * height} pixels; the limit is {limits.max_pixels}"
                )
            if min(width, height) < limits.min_side:
                raise ImageTooSmallError(
                    f"image is {width}x{height}; each side needs at least {limits.min_side} px"
                )
            image.seek(0)
            image.load()
            image = ImageOps.exif_transpose(image) or image
            return DecodedImage(to_rgb(image), image_format.lower())
    except ImageDecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise NotAnImageError("the file is not an image") from exc
    except Image.DecompressionBombError as exc:
        # Pillow refuses before we can look at the size: say it with our limit, in our words.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        pixels = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow allows"
        raise TooManyPixelsError(f"image is {pixels}; the limit is {limits.max_pixels:,}") from exc
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        IndexError,
        KeyError,
        TypeError,
        struct.error,
        MemoryError,
        ZeroDivisionError,
        RuntimeError,
    ) as exc:
        # Pillow's plugins raise a wide range of exceptions on hostile input.
        raise CorruptImageError(f"the image data is corrupt or truncated ({exc})") from exc


def count_jpeg_scans(data: bytes, stop_after: int = DEFAULT_MAX_JPEG_SCANS) -> int:
    """The number of scans (SOS segments) in a JPEG, counted from its markers without decoding;
    stops counting once past ``stop_after``."""
    scans, i, n = 0, 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            i += 1  # tolerate junk between segments, as decoders do
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0xD9:  # end of image
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            i += 2
            continue
        length = struct.unpack(">H", data[i + 2 : i + 4])[0]
        i += 2 + length
        if marker != 0xDA:
            continue
        scans += 1
        if scans > stop_after:
            break
        # Entropy-coded data runs to the next marker that is not a stuffed 0x00 or a restart.
        while i + 1 < n:
            j = data.find(b"\xff", i)
            if j < 0 or j + 1 >= n:
                return scans
            following = data[j + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                i = j + 1
                continue
            i = j
            break
    return scans


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, compositing transparency on white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() if array.size else 0.0
        # 16-bit data is scaled down; 8-bit data stored in a wide mode is kept as is.
        scale = 255.0 / 65535.0 if peak > 255 else 1.0
        grey = np.clip(np.rint(array * scale), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, "L").convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")
