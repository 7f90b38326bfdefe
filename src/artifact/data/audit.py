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

from artifact.data.samples import Sample
from artifact.inference.preprocess import PreprocessConfig, canonicalize

# A single property reaching this balanced accuracy is flagged as a shortcut.
SHORTCUT_THRESHOLD = 0.8
FORMAT_CODES = {"JPEG": 1, "PNG": 2, "WEBP": 3, "BMP": 4, "TIFF": 5, "GIF": 6, "MPO": 1}
FEATURES = ("width", "height", "pixels", "bytes_per_pixel", "jpeg_quality", "format")

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

    def features(self) -> list[float]:
        return [
            self.width,
            self.height,
            self.width * self.height,
            self.bytes / max(1, self.width * self.height),
            self.jpeg_quality if self.jpeg_quality is not None else -1,
            FORMAT_CODES.get(self.format, 0),
        ]


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
        pixels.shape[1], pixels.shape[0], "JPEG", "RGB", buffer.getbuffer().nbytes, estimated
    )


def audit(samples: list[Sample], groups: list[str], *, canonical: PreprocessConfig | None = None) -> dict:
    """Per-group file statistics and the depth-1 tree accuracy of each property.

    Args:
        samples: the images to audit.
        groups: the class of each sample (e.g. ``human``/``ai``).
        canonical: measure the images after this canonicalisation instead of as files.
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
    return {
        "canonicalised": canonical is not None,
        "images": len(rows),
        "unreadable": unreadable,
        "per_class": per_class,
        "shortcuts": shortcut_scores([g for g, _ in rows], [p.features() for _, p in rows]),
    }


def shortcut_scores(groups: list[str], features: list[list[float]]) -> dict[str, dict]:
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
    for column, name in enumerate(FEATURES):
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
