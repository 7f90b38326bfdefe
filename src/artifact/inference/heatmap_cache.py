"""Heatmaps cached on disk by (model, image): an occlusion map costs seconds, its PNG a few KB.

The key is the model file's sha256 and the image's sha256, so a new model never serves an
old model's heatmap and identical images share one. Written atomically (temp file + rename).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


class HeatmapCache:
    def __init__(self, root: Path):
        self.root = root

    def path(self, model_sha256: str, image_sha256: str) -> Path:
        return self.root / model_sha256[:16] / f"{image_sha256}.png"

    def get_or_make(self, model_sha256: str, image_sha256: str, make: Callable[[], bytes]) -> bytes:
        """The cached PNG, or ``make()``'s, stored for next time."""
        path = self.path(model_sha256, image_sha256)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        png = make()
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        with os.fdopen(handle, "wb") as out:
            out.write(png)
        os.replace(staging, path)
        return png
