"""Heatmaps cached on disk by (model, image): an occlusion map costs seconds, its PNG a few KB.

The key is the model file's sha256 and the image's sha256, so a new model never serves an
old model's heatmap and identical images share one. Written atomically (temp file + rename).
Concurrent requests for one key compute it once (single flight, per process); the cache is
bounded in bytes, least recently used first out.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class HeatmapCache:
    def __init__(self, root: Path, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = root
        self.max_bytes = max_bytes
        self._guard = threading.Lock()
        self._flights: dict[str, threading.Lock] = {}
        # The cache's size as this process last counted it (None: not counted yet); the folder
        # is listed only when it may have passed the bound, not on every write.
        self._bytes: int | None = None

    def path(self, model_sha256: str, image_sha256: str) -> Path:
        return self.root / model_sha256[:16] / f"{image_sha256}.png"

    def get_or_make(self, model_sha256: str, image_sha256: str, make: Callable[[], bytes]) -> bytes:
        """The cached PNG, or ``make()``'s, stored for next time; one ``make`` per key at once."""
        path = self.path(model_sha256, image_sha256)
        cached = self._read(path)
        if cached is not None:
            return cached
        with self._guard:
            flight = self._flights.setdefault(str(path), threading.Lock())
        try:
            with flight:
                cached = self._read(path)  # another request made it while we waited
                if cached is not None:
                    return cached
                png = make()
                self._write(path, png)
                return png
        finally:
            with self._guard:
                self._flights.pop(str(path), None)

    def _read(self, path: Path) -> bytes | None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        with contextlib.suppress(OSError):
            os.utime(path)  # recently used: evicted last
        return data

    def _write(self, path: Path, png: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, staging = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        with os.fdopen(handle, "wb") as out:
            out.write(png)
        os.replace(staging, path)
        with self._guard:
            self._bytes = self._evict() if self._bytes is None else self._bytes + len(png)
            if self._bytes > self.max_bytes:
                self._bytes = self._evict()

    def _evict(self) -> int:
        """Remove the least recently used heatmaps until the cache fits ``max_bytes``; the size
        left (counted from the folder, so other processes' heatmaps are included)."""
        entries = []
        for file in self.root.glob("*/*.png"):
            try:
                info = file.stat()
            except FileNotFoundError:
                continue
            entries.append((info.st_mtime, info.st_size, file))
        total = sum(size for _, size, _ in entries)
        for _, size, file in sorted(entries):
            if total <= self.max_bytes:
                break
            file.unlink(missing_ok=True)
            total -= size
        return total
