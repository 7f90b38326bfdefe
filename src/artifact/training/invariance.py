"""The invariance audit: does a verdict follow the pixels' origin, or how the file was processed?

Validation images of both classes are re-processed the ways real files are (downscaled and
re-compressed, upscaled, WebP, palette, a phone photo) and scored again through the decision
rule. A detector that learned "lossless = AI, small q75 JPEG = human" moves a lot here; one that
learned generation traces does not. Target: no variant moves either class's share called ``ai``
by more than 5 points.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from artifact.data.processing import encode_decode
from artifact.data.samples import HUMAN, Sample
from artifact.inference.decision import DecisionRule
from artifact.inference.decode import ImageDecodeError, read_image_file

TARGET_SHIFT = 0.05
Variant = Callable[[Image.Image], Image.Image]


def _short_side(image: Image.Image, side: int) -> Image.Image:
    scale = side / min(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.BICUBIC)


def _png_round_trip(image: Image.Image) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _phone(image: Image.Image) -> Image.Image:
    """Slight blur, sensor-like noise and a JPEG q85: a photo of the work, roughly."""
    blurred = np.asarray(image.filter(ImageFilter.GaussianBlur(0.6)), dtype=np.float32)
    noise = np.random.default_rng(0).normal(0, 2.0, blurred.shape)
    noisy = Image.fromarray(np.clip(blurred + noise, 0, 255).astype(np.uint8))
    return encode_decode(noisy, "JPEG", 85)


VARIANTS: dict[str, Variant] = {
    "original": lambda image: image,
    "short_224_jpeg_q75": lambda image: encode_decode(_short_side(image, 224), "JPEG", 75),
    "jpeg_q95": lambda image: encode_decode(image, "JPEG", 95),
    "upscale_2x_png": lambda image: _png_round_trip(
        image.resize((image.width * 2, image.height * 2), Image.Resampling.BICUBIC)
    ),
    "webp_q80": lambda image: encode_decode(image, "WEBP", 80),
    "palette_256_png": lambda image: _png_round_trip(image.quantize(256).convert("RGB")),
    "phone_photo": _phone,
}


def invariance_audit(
    score_images: Callable[[list[Image.Image]], np.ndarray],
    samples: list[Sample],
    rule: DecisionRule,
    per_class: int = 150,
    seed: int = 0,
) -> dict:
    """Share called ``ai`` and mean |Δ prob_ai| per class under each variant.

    Args:
        score_images: decoded RGB images -> raw scores (the engine's, or the Keras model's
            through the same preprocessing).
        per_class: images drawn (seeded) from each class.
    """
    rng = np.random.default_rng(seed)
    chosen: list[Sample] = []
    for label in (HUMAN, "ai"):
        members = [s for s in samples if (s.label == HUMAN) == (label == HUMAN)]
        picks = rng.permutation(len(members))[:per_class]
        chosen.extend(members[i] for i in sorted(picks))
    images, is_ai = [], []
    for sample in chosen:
        try:
            images.append(read_image_file(sample.path))
        except ImageDecodeError:
            continue
        is_ai.append(sample.label != HUMAN)
    is_ai = np.array(is_ai, dtype=bool)
    prob = {
        name: rule.decide(_scores(score_images, [v(im) for im in images]))[0] for name, v in VARIANTS.items()
    }
    table: dict = {"images": {"human": int((~is_ai).sum()), "ai": int(is_ai.sum())}, "variants": {}}
    worst = 0.0
    for name, values in prob.items():
        verdicts = rule.verdicts(values)
        entry = {}
        for label, mask in (("human", ~is_ai), ("ai", is_ai)):
            if not mask.any():
                continue
            called = float(np.mean(verdicts[mask] == "ai"))
            base = float(np.mean(rule.verdicts(prob["original"][mask]) == "ai"))
            entry[label] = {
                "called_ai": round(called, 4),
                "shift": round(called - base, 4),
                "mean_abs_delta_prob": round(
                    float(np.mean(np.abs(values[mask] - prob["original"][mask]))), 4
                ),
            }
            worst = max(worst, abs(called - base))
        table["variants"][name] = entry
    table["worst_shift"] = round(worst, 4)
    table["target_shift"] = TARGET_SHIFT
    table["within_target"] = worst <= TARGET_SHIFT
    return table


def _scores(score_images, images: list[Image.Image], batch: int = 16) -> np.ndarray:
    return np.concatenate([score_images(images[i : i + batch]) for i in range(0, len(images), batch)])
