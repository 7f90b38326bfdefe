"""The upload decoder: every format and mode we promise, and a typed error for the rest."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from artifact.inference.decode import (
    CorruptImageError,
    DecodeLimits,
    EmptyImageError,
    ImageDecodeError,
    ImageTooLargeError,
    NotAnImageError,
    TooManyPixelsError,
    UnsupportedFormatError,
    decode_image,
)
from tests.support.api import png_bomb
from tests.support.art import encode, gradient


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_every_accepted_format_decodes_to_rgb(fmt):
    image = decode_image(encode(gradient(), fmt))
    assert image.mode == "RGB" and image.size == (40, 30)


@pytest.mark.parametrize("mode", ["L", "P", "CMYK", "1", "I", "LA", "RGBA"])
def test_every_mode_becomes_rgb(mode):
    fmt = "TIFF" if mode in ("CMYK", "I") else "PNG"
    assert decode_image(encode(gradient(mode=mode), fmt)).mode == "RGB"


def test_alpha_is_composited_on_white():
    rgba = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 8, 16))
    pixels = np.asarray(decode_image(encode(rgba, "PNG")))
    assert tuple(pixels[0, 0]) == (0, 0, 255)
    assert tuple(pixels[0, 15]) == (255, 255, 255)


def test_palette_transparency_is_composited_on_white():
    image = Image.new("P", (8, 8), 0)
    image.putpalette([0, 0, 0] * 256)
    pixels = np.asarray(decode_image(encode(image, "PNG", transparency=0)))
    assert (pixels == 255).all()


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    values = np.full((10, 10), 40000, dtype=np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    pixels = np.asarray(decode_image(data))
    assert abs(int(pixels[0, 0, 0]) - round(40000 * 255 / 65535)) <= 1


def test_exif_orientation_is_applied():
    image = gradient((40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    assert decode_image(encode(image, "JPEG", exif=exif)).size == (20, 40)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP", "PNG"])  # PNG with save_all: an APNG
def test_an_animated_image_gives_its_first_frame(fmt):
    frames = [Image.new("RGB", (10, 10), colour) for colour in ((255, 0, 0), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(buffer.getvalue())) as check:
        assert getattr(check, "n_frames", 1) == 2  # really animated
    pixels = np.asarray(decode_image(buffer.getvalue()))
    assert pixels[0, 0, 0] > 200 and pixels[0, 0, 1] < 50


def test_tiny_images_are_accepted():
    assert decode_image(encode(Image.new("RGB", (1, 2), "red"), "PNG")).size == (1, 2)


@pytest.mark.parametrize(
    "data, error",
    [
        (b"", EmptyImageError),
        (b"just some text pretending to be a jpeg", NotAnImageError),
        (b"%PDF-1.4 not an image", NotAnImageError),
    ],
)
def test_refusals_are_typed(data, error):
    with pytest.raises(error):
        decode_image(data)


def test_truncated_and_corrupt_files_are_refused():
    jpeg = encode(gradient((200, 200)), "JPEG")
    with pytest.raises(CorruptImageError):
        decode_image(jpeg[: len(jpeg) // 2])
    png = bytearray(encode(gradient((64, 64)), "PNG"))
    png[60:80] = b"\x00" * 20  # smash the compressed pixel data
    with pytest.raises(ImageDecodeError):
        decode_image(bytes(png))


def test_unsupported_but_real_format_is_415():
    data = encode(gradient(), "PPM")
    with pytest.raises(UnsupportedFormatError) as info:
        decode_image(data)
    assert info.value.status == 415


@pytest.fixture
def pixel_loads(monkeypatch) -> list:
    """Every pixel decode Pillow starts (ImageFile.load), recorded."""
    from PIL import ImageFile

    calls, load = [], ImageFile.ImageFile.load

    def recorded(self):
        calls.append(self.size)
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recorded)
    return calls


def test_byte_limit_is_checked_before_decoding(pixel_loads):
    data = encode(gradient(), "PNG")
    with pytest.raises(ImageTooLargeError) as info:
        decode_image(data, DecodeLimits(max_bytes=len(data) - 1))
    assert info.value.status == 413
    assert pixel_loads == []  # refused before a single pixel was decoded
    decode_image(data)
    assert pixel_loads  # the probe sees a decode when there is one


def test_decompression_bomb_is_refused_before_allocation(pixel_loads):
    import tracemalloc

    bomb = png_bomb(100_000)  # declares 100,000 x 100,000 RGB: 30 GB decoded
    tracemalloc.start()
    try:
        with pytest.raises(TooManyPixelsError, match="pixels"):
            decode_image(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pixel_loads == [] and peak < 2 * 1024 * 1024


VALID = [encode(gradient((24, 24)), fmt) for fmt in ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_only_decode_or_raise_our_error(data):
    _decode_or_our_error(data)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(VALID),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=12),
    st.integers(0, 10_000),
)
def test_fuzz_mutated_images_only_decode_or_raise_our_error(original, flips, cut):
    data = bytearray(original)
    for position, value in flips:
        data[position % len(data)] = value
    _decode_or_our_error(bytes(data[: max(1, len(data) - cut % len(data))]))


def _decode_or_our_error(data: bytes) -> None:
    try:
        image = decode_image(data, DecodeLimits(max_pixels=4_000_000))
    except ImageDecodeError as exc:
        assert exc.code and exc.message
    else:
        assert image.mode == "RGB" and min(image.size) >= 1


def _progressive_jpeg(side: int = 64) -> bytes:
    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(
        buffer, "JPEG", progressive=True, quality=90
    )
    return buffer.getvalue()


def test_jpeg_scans_are_counted_from_the_markers():
    from artifact.inference.decode import count_jpeg_scans

    assert count_jpeg_scans(encode(Image.new("RGB", (32, 32), "red"), "JPEG")) == 1
    assert count_jpeg_scans(_progressive_jpeg()) == 10


def test_a_jpeg_repeating_one_scan_is_refused_before_decoding(monkeypatch):
    """A progressive JPEG repeating a tiny scan passed every limit and cost minutes of CPU."""
    from PIL import ImageFile

    from artifact.inference.decode import decode_upload

    data = _progressive_jpeg()
    last = data.rfind(b"\xff\xda")
    hostile = data[:-2] + data[last:-2] * 200 + b"\xff\xd9"
    decoded = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: decoded.append(1) or real_load(self))
    with pytest.raises(ImageDecodeError) as caught:
        decode_upload(hostile)
    assert caught.value.code == "too_many_scans" and caught.value.status == 422
    assert "more than 100 scans" in caught.value.message
    assert decoded == []
    assert decode_upload(_progressive_jpeg()).image.size == (64, 64)  # a normal one still decodes


def test_a_huge_declared_png_gets_our_limit_in_our_words():
    import struct
    import zlib

    from artifact.inference.decode import decode_upload

    buffer = io.BytesIO()
    Image.new("L", (1, 1)).save(buffer, "PNG")
    png = bytearray(buffer.getvalue())
    png[16:24] = struct.pack(">II", 60000, 60000)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    with pytest.raises(ImageDecodeError) as caught:
        decode_upload(bytes(png))
    assert caught.value.code == "too_many_pixels"
    assert caught.value.message == "image is 3,600,000,000 pixels; the limit is 50,000,000"
