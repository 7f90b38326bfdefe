"""Quantities as a person reads them in a message: one limit is stated one way everywhere."""

from __future__ import annotations

# Binary units, as the settings are written (MAX_UPLOAD_BYTES = 25 * 1024 * 1024 is "25 MB").
_UNITS = (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024))


def byte_size(count: int) -> str:
    """``26214400`` -> ``"25 MB"``, ``1536`` -> ``"1.5 KB"``, ``900`` -> ``"900 bytes"``."""
    for unit, size in _UNITS:
        if count >= size:
            value = count / size
            text = f"{value:.0f}" if value >= 100 or value == int(value) else f"{value:.1f}".rstrip("0")
            return f"{text.removesuffix('.')} {unit}"
    return f"{count} byte" + ("" if count == 1 else "s")
