"""The shortcut audit: file properties per class, and which of them alone separate classes.

A detector that can tell the classes apart by pixel size, file format or JPEG quality
will learn that instead of generation traces. For each property a depth-1 decision tree
(one threshold) is cross-validated; a high balanced accuracy flags a shortcut. The same
audit on canonicalised images shows whether the canonicalisation chain removed it.
"""

from __future__ import annotations

import io
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from artifact.data.samples import Sample, source_of
from artifact.inference.preprocess import PreprocessConfig, canonicalize

# A single property reaching this balanced accuracy is flagged as a shortcut.
SHORTCUT_THRESHOLD = 0.8
FORMAT_CODES = {"JPEG": 1, "PNG": 2, "WEBP": 3, "BMP": 4, "TIFF": 5, "GIF": 6, "MPO": 1}
FEATURES = ("width", "height", "pixels", "bytes_per_pixel", "jpeg_quality", "format")
# Measured on canonical pixels: what survives canonicalisation and a CNN could still key on.
PIXEL_FEATURES = ("sharpness", "high_frequency", "brightness", "saturation", "colourfulness")

# The IJG (libjpeg) standard luminance table that quality scaling starts from.
_STD_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55,
    14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62,
    18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
])  # fmt: skip


@dataclass(frozen=True)
class FileProperties:
    width: int
    height: int
    format: str
    mode: str
    bytes: int
    jpeg_quality: int | None
    pixel_stats: tuple[float, ...] | None = None  # PIXEL_FEATURES, canonical images only

    def features(self) -> list[float]:
        return [
            self.width,
            self.height,
            self.width * self.height,
            self.bytes / max(1, self.width * self.height),
            self.jpeg_quality if self.jpeg_quality is not None else -1,
            FORMAT_CODES.get(self.format, 0),
            *(self.pixel_stats or ()),
        ]


def pixel_statistics(pixels: np.ndarray) -> tuple[float, ...]:
    """Sharpness, high-frequency energy and colour statistics of one uint8 RGB image.

    - sharpness: variance of the 4-neighbour Laplacian of the grey image (upscaled or
      blurred images score low);
    - high_frequency: share of spectral energy above half the Nyquist frequency;
    - brightness, saturation (HSV, 0..1) and Hasler-Suesstrunk colourfulness.
    """
    rgb = pixels.astype(np.float32)
    grey = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    laplacian = -4 * grey[1:-1, 1:-1] + grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:]
    spectrum = np.abs(np.fft.rfft2(grey - grey.mean())) ** 2
    fy = np.abs(np.fft.fftfreq(grey.shape[0]))[:, None]
    fx = np.fft.rfftfreq(grey.shape[1])[None, :]
    high = np.maximum(fy, fx) > 0.25
    total = float(spectrum.sum()) or 1.0
    high_share = float(spectrum[np.broadcast_to(high, spectrum.shape)].sum()) / total
    top, bottom = rgb.max(axis=2), rgb.min(axis=2)
    saturation = np.where(top > 0, (top - bottom) / np.maximum(top, 1e-6), 0.0)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colourfulness = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    return (
        float(laplacian.var()),
        high_share,
        float(top.mean() / 255),
        float(saturation.mean()),
        float(colourfulness),
    )


def estimate_jpeg_quality(image: Image.Image) -> int | None:
    """The IJG quality whose scaled luminance table best matches the file's (None if not JPEG)."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    table = np.array(tables[0], dtype=np.float64)
    # Pillow gives tables in zigzag order; compare sorted values, which is order-free.
    target = np.sort(table)
    best_quality, best_error = 0, np.inf
    for quality in range(1, 101):
        scale = 5000 / quality if quality < 50 else 200 - 2 * quality
        scaled = np.clip(np.floor((_STD_LUMA * scale + 50) / 100), 1, 255)
        error = np.abs(np.sort(scaled) - target).sum()
        if error < best_error:
            best_quality, best_error = quality, error
    return best_quality


def probe_file(path: str) -> FileProperties | None:
    """Header-level properties of one file, or None if Pillow cannot open it."""
    try:
        with Image.open(path) as image:
            return FileProperties(
                width=image.width,
                height=image.height,
                format=image.format or "?",
                mode=image.mode,
                bytes=os.path.getsize(path),
                jpeg_quality=estimate_jpeg_quality(image),
            )
    except (OSError, ValueError, SyntaxError):
        return None


def probe_canonical(path: str, config: PreprocessConfig) -> FileProperties | None:
    """The same properties measured on the canonicalised image, as the model receives it."""
    try:
        with Image.open(path) as image:
            pixels = canonicalize(image.convert("RGB"), config)
    except (OSError, ValueError, SyntaxError):
        return None
    buffer = io.BytesIO()
    quality = config.jpeg_quality or 95
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=quality, subsampling=0)
    buffer.seek(0)
    with Image.open(buffer) as encoded:
        estimated = estimate_jpeg_quality(encoded)
    return FileProperties(
        pixels.shape[1],
        pixels.shape[0],
        "JPEG",
        "RGB",
        buffer.getbuffer().nbytes,
        estimated,
        pixel_statistics(pixels),
    )


def audit(samples: list[Sample], groups: list[str], *, canonical: PreprocessConfig | None = None) -> dict:
    """Per-group file statistics and the depth-1 tree accuracy of each property.

    Args:
        samples: the images to audit.
        groups: the class of each sample (e.g. ``human``/``ai``).
        canonical: measure the images after this canonicalisation instead of as files; this
            adds the pixel statistics (sharpness, high-frequency energy, colour).

    Per source (where the samples come from more than one), the report also gives each
    source's statistics and how well each property tells that source from the other
    classes: a source-level shortcut that the class totals can hide.
    """
    probe = (lambda p: probe_canonical(p, canonical)) if canonical else probe_file
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        props = list(pool.map(probe, [s.path for s in samples]))
    unreadable = [s.path for s, p in zip(samples, props, strict=True) if p is None]
    rows = [(g, p) for g, p in zip(groups, props, strict=True) if p is not None]
    per_class: dict[str, dict] = {}
    by_group: dict[str, list[FileProperties]] = defaultdict(list)
    for group, prop in rows:
        by_group[group].append(prop)
    for group, items in sorted(by_group.items()):
        widths = np.array([p.width for p in items])
        heights = np.array([p.height for p in items])
        qualities = [p.jpeg_quality for p in items if p.jpeg_quality is not None]
        per_class[group] = {
            "images": len(items),
            "width": _summary(widths),
            "height": _summary(heights),
            "sizes": dict(Counter(f"{p.width}x{p.height}" for p in items).most_common(5)),
            "formats": dict(Counter(p.format for p in items).most_common()),
            "modes": dict(Counter(p.mode for p in items).most_common()),
            "jpeg_quality": _summary(np.array(qualities)) if qualities else None,
            "bytes_per_pixel": _summary(np.array([p.bytes / (p.width * p.height) for p in items])),
        }
    kept = [(s, g, p) for s, g, p in zip(samples, groups, props, strict=True) if p is not None]
    names = FEATURES + (PIXEL_FEATURES if canonical else ())
    for group in per_class:
        if canonical:
            stats = np.array([p.pixel_stats for _, g, p in kept if g == group])
            per_class[group]["pixels"] = {n: _summary(stats[:, i]) for i, n in enumerate(PIXEL_FEATURES)}
    return {
        "canonicalised": canonical is not None,
        "images": len(rows),
        "unreadable": unreadable,
        "per_class": per_class,
        "shortcuts": shortcut_scores([g for g, _ in rows], [p.features() for _, p in rows], names),
        "per_source": _per_source(kept, names, canonical is not None),
    }


def _per_source(kept: list[tuple[Sample, str, FileProperties]], names: tuple[str, ...], pixels: bool) -> dict:
    sources = sorted({source_of(s) for s, _, _ in kept})
    if len(sources) < 2:
        return {}
    report = {}
    for source in sources:
        mine = [(g, p) for s, g, p in kept if source_of(s) == source]
        group = Counter(g for g, _ in mine).most_common(1)[0][0]
        others = [(g, p) for s, g, p in kept if g != group]
        width, height = (np.median([getattr(p, side) for _, p in mine]) for side in ("width", "height"))
        entry: dict = {
            "class": group,
            "images": len(mine),
            "size_median": f"{width:.0f}x{height:.0f}",
            "formats": dict(Counter(p.format for _, p in mine).most_common()),
        }
        if pixels:
            stats = np.array([p.pixel_stats for _, p in mine])
            entry["pixels_median"] = {
                n: round(float(np.median(stats[:, i])), 4) for i, n in enumerate(PIXEL_FEATURES)
            }
        if others:
            entry["vs_other_classes"] = shortcut_scores(
                [source] * len(mine) + ["other"] * len(others),
                [p.features() for _, p in mine + others],
                names,
            )
        report[source] = entry
    return report


def shortcut_scores(
    groups: list[str], features: list[list[float]], names: tuple[str, ...] = FEATURES
) -> dict[str, dict]:
    """Cross-validated balanced accuracy of a one-split decision tree on each property."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.tree import DecisionTreeClassifier

    labels = np.array(groups)
    counts = Counter(groups)
    if len(counts) < 2:
        return {}
    folds = max(2, min(5, min(counts.values())))
    matrix = np.array(features, dtype=np.float64)
    scores = {}
    for column, name in enumerate(names):
        values = matrix[:, column : column + 1]
        if np.ptp(values) == 0:
            accuracy = 1.0 / len(counts)  # a constant property separates nothing
        else:
            tree = DecisionTreeClassifier(max_depth=1, random_state=0)
            cv = StratifiedKFold(folds, shuffle=True, random_state=0)
            accuracy = float(
                np.mean(cross_val_score(tree, values, labels, cv=cv, scoring="balanced_accuracy"))
            )
        scores[name] = {
            "balanced_accuracy": round(accuracy, 4),
            "shortcut": accuracy >= SHORTCUT_THRESHOLD,
        }
    return scores


def _summary(values: np.ndarray) -> dict[str, float]:
    return {
        "min": float(values.min()),
        "median": float(np.median(values)),
        "max": float(values.max()),
    }
