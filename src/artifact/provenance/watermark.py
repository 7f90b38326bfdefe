"""Invisible DWT-DCT watermarks of Stable Diffusion pipelines, decoded in numpy.

The reference decoder (``invisible-watermark``'s ``EmbedMaxDct``) pulls in PyTorch and
OpenCV; this is the same algorithm: the U chroma channel (OpenCV's 8-bit fixed-point
BGR->YUV), a Haar DWT, 4x4 blocks of the approximation band, the largest non-DC magnitude
of each block modulo 36 gives one vote for bit ``block_index % length``; a bit is 1 where
its votes average above 127/255. Tests check it bit for bit against the reference.

Pipelines differ in how they embedded (FACTS.md): SDXL embeds into float images, where the
colour conversion centres chroma at 0.5 instead of 128, and older diffusers swapped RGB and
BGR. So each payload is decoded four ways (8-bit or float chroma, either channel order) and
the best agreement is scored by its binomial tail probability under "no watermark". A float
embedding read back as 8-bit comes out inverted on warm images, so the complement counts too.
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pywt
from PIL import Image

from artifact.provenance.evidence import Evidence

SCALE = 36
BLOCK = 4
MIN_PIXELS = 256 * 256  # the reference refuses smaller images; so do we
# The check's float arrays cost ~50 bytes per pixel: a 49 Mpx image would need GBs. Above this
# many pixels only a top strip of the full width is read; it keeps the blocks' raster order,
# so the votes are the first rows of the whole image's and decode the same payload.
MAX_CHECK_PIXELS = 4_000_000


def _bits_of(payload: bytes) -> np.ndarray:
    return np.unpackbits(np.frombuffer(payload, dtype=np.uint8)).astype(bool)


PAYLOADS: dict[str, np.ndarray] = {
    "Stable Diffusion 1.x (StableDiffusionV1)": _bits_of(b"StableDiffusionV1"),
    "Stable Diffusion 2.x (SDV2)": _bits_of(b"SDV2"),
    "SDXL (0xB3EC907BB19E)": _bits_of((0xB3EC907BB19E).to_bytes(6, "big")),
    "InvokeAI": _bits_of(b"InvokeAI"),
}
VARIANTS = (("8-bit", False), ("8-bit", True), ("float", False), ("float", True))
# Thresholds on the Bonferroni-corrected chance of the agreement (see README for the measured
# detection and false-positive rates that chose them).
STRONG_P = 1e-6
MODERATE_P = 1e-3


@dataclass(frozen=True)
class WatermarkMatch:
    payload: str
    agreement: float  # share of bits equal to the payload's
    correlation: float  # 2 * agreement - 1
    p_value: float  # corrected for every payload and variant tried
    variant: str


def chroma_u(rgb: np.ndarray, convention: str, swap: bool) -> np.ndarray:
    """The U channel as ``cv2.cvtColor(..., COLOR_BGR2YUV)`` computes it for the reference.

    The reference is handed BGR arrays; ``swap`` models a pipeline that handed it RGB.
    """
    blue, green, red = (
        (rgb[..., 0], rgb[..., 1], rgb[..., 2]) if swap else (rgb[..., 2], rgb[..., 1], rgb[..., 0])
    )
    if convention == "8-bit":
        # int32 is enough (at most 255 * 16384 + rounding) and twice as fast as int64.
        blue, green, red = (c.astype(np.int32) for c in (blue, green, red))
        # OpenCV's 14-bit fixed point, rounded, chroma centred at 128.
        luma = (blue * 1868 + green * 9617 + red * 4899 + (1 << 13)) >> 14
        return np.clip(((blue - luma) * 8061 + (128 << 14) + (1 << 13)) >> 14, 0, 255).astype(np.float64)
    blue, green, red = (c.astype(np.float64) for c in (blue, green, red))
    luma = 0.299 * red + 0.587 * green + 0.114 * blue
    return (blue - luma) * 0.492 + 0.5  # OpenCV's float path centres chroma at 0.5


def block_votes(channel: np.ndarray) -> np.ndarray:
    """One 0/1 vote per 4x4 block of the Haar approximation band, in the reference's order."""
    rows, cols = channel.shape
    approx, _ = pywt.dwt2(channel[: rows // 4 * 4, : cols // 4 * 4], "haar")
    h, w = approx.shape[0] // BLOCK, approx.shape[1] // BLOCK
    blocks = (
        approx[: h * BLOCK, : w * BLOCK].reshape(h, BLOCK, w, BLOCK).swapaxes(1, 2).reshape(-1, BLOCK * BLOCK)
    )
    position = np.argmax(np.abs(blocks[:, 1:]), axis=1) + 1
    value = np.abs(blocks[np.arange(len(blocks)), position])
    return (value % SCALE) > 0.5 * SCALE


def decode_bits(votes: np.ndarray, length: int) -> np.ndarray:
    """Average the votes of every ``length``-th block, as the reference does."""
    index = np.arange(len(votes)) % length
    sums = np.bincount(index, weights=votes, minlength=length)
    counts = np.bincount(index, minlength=length)
    return (sums / np.maximum(counts, 1)) * 255 > 127


def best_match(rgb: np.ndarray) -> WatermarkMatch | None:
    """The payload and decoding variant that agree best, with their corrected chance."""
    if rgb.shape[0] * rgb.shape[1] < MIN_PIXELS:
        return None
    tries = len(PAYLOADS) * len(VARIANTS) * 2  # each variant read straight and inverted
    best: WatermarkMatch | None = None
    for convention, swap in VARIANTS:
        votes = block_votes(chroma_u(rgb, convention, swap))
        for name, expected in PAYLOADS.items():
            straight = int(np.sum(decode_bits(votes, len(expected)) == expected))
            for agree, inverted in ((straight, False), (len(expected) - straight, True)):
                p_value = min(1.0, tries * _binomial_tail(agree, len(expected)))
                if best is None or p_value < best.p_value:
                    agreement = agree / len(expected)
                    variant = f"{convention} chroma, {'RGB/BGR swapped' if swap else 'BGR'}" + (
                        ", inverted" if inverted else ""
                    )
                    best = WatermarkMatch(name, agreement, 2 * agreement - 1, p_value, variant)
    return best


def watermark_evidence(data: bytes, image: Image.Image | None = None) -> list[Evidence]:
    """Evidence of a known invisible watermark (never raises on bad input).

    Args:
        data: the file, decoded here only when ``image`` (its decoded RGB pixels) is not given.
    """
    try:
        if image is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                image = Image.open(io.BytesIO(data))
                if image.width * image.height > 50_000_000:
                    return []
        rgb, rows_read = checked_region(image)
    except Exception:  # noqa: BLE001 - the decoder judges the file; no watermark evidence then
        return []
    match = best_match(rgb)
    if match is None or match.p_value >= MODERATE_P:
        return []
    strength = "strong" if match.p_value < STRONG_P else "moderate"
    summary = (
        f"invisible watermark of {match.payload}: {match.agreement:.0%} of its bits match "
        f"(chance {match.p_value:.1e})"
    )
    details = {
        "payload": match.payload,
        "agreement": round(match.agreement, 4),
        "correlation": round(match.correlation, 4),
        "p_value": match.p_value,
        "variant": match.variant,
    }
    if rows_read < image.height:
        details["region"] = f"top {rows_read} of {image.height} rows (check bounded to {MAX_CHECK_PIXELS} px)"
    return [Evidence("invisible_watermark", strength, "ai", summary, details)]


def checked_region(image: Image.Image) -> tuple[np.ndarray, int]:
    """The uint8 RGB pixels the check reads: all, or a full-width top strip of bounded size."""
    width, height = image.size
    rows = height
    if width * height > MAX_CHECK_PIXELS:
        # A multiple of 8 rows: whole 4x4 blocks of the half-resolution DWT band.
        rows = max(8, MAX_CHECK_PIXELS // max(width, 1) // 8 * 8)
        image = image.crop((0, 0, width, min(rows, height)))
    return np.asarray(image.convert("RGB")), min(rows, height)


def _binomial_tail(successes: int, trials: int) -> float:
    """P(X >= successes) for X ~ Binomial(trials, 1/2)."""
    return sum(math.comb(trials, k) for k in range(successes, trials + 1)) / 2**trials
