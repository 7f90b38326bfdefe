"""A process-wide budget for the memory that decoding and analysing images takes.

A 1.9 KB WebP can declare 7000x7000 pixels: decoded it holds ~150 MB of RGB and its analysis
peaks near 16 bytes per pixel. Each analysis reserves its estimate (known from the header,
before any pixel is decoded) and waits while the reservations in flight would exceed the
budget, so concurrent giant uploads queue instead of adding up. One estimate above the whole
budget still runs, alone.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from artifact.errors import ArtifactError

# Measured peak growth per decoded pixel of the whole analysis (decode, canonicalise, model,
# provenance): PNG/TIFF ~8, JPEG ~9, lossy WebP ~16 (tests/test_memory_bounds.py).
BYTES_PER_PIXEL = 16
# Wider source modes cost more before they become 8-bit RGB: a 16-bit 7000² PNG grew +1,200 MB
# and an RGBA one +926 MB against 848 MB estimated at 16 bytes per pixel.
BYTES_PER_PIXEL_BY_MODE = {
    "I;16": 32, "I;16B": 32, "I;16L": 32, "I;16N": 32, "I": 32, "F": 32,
    "RGBA": 24, "LA": 24, "PA": 24, "RGBa": 24, "La": 24, "CMYK": 20,
}  # fmt: skip
# Interpreter buffers, the model's crops and the bounded watermark region.
FIXED_BYTES = 64 * 1024 * 1024


class MemoryBudgetTimeout(ArtifactError, RuntimeError):
    """No room in the budget within the wait limit (the service answers 503)."""

    code, status, headers = "busy", 503, {"Retry-After": "10"}


def estimate_analysis_bytes(pixels: int, mode: str = "RGB") -> int:
    """What one analysis of an image of ``pixels`` in Pillow ``mode`` may peak at."""
    return FIXED_BYTES + BYTES_PER_PIXEL_BY_MODE.get(mode, BYTES_PER_PIXEL) * max(0, pixels)


class MemoryBudget:
    """Reservations of bytes against a fixed total, waiting (bounded) for room."""

    def __init__(self, limit_bytes: int, wait_seconds: float = 60.0):
        self.limit = limit_bytes
        self.wait_seconds = wait_seconds
        self._used = 0
        self._room = threading.Condition()

    @property
    def in_use(self) -> int:
        return self._used

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        nbytes = min(nbytes, self.limit)
        with self._room:
            if not self._room.wait_for(lambda: self._used + nbytes <= self.limit, self.wait_seconds):
                raise MemoryBudgetTimeout("the server is busy analysing large images; retry in a moment")
            self._used += nbytes
        try:
            yield
        finally:
            with self._room:
                self._used -= nbytes
                self._room.notify_all()
