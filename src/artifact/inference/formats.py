"""Which files are images: the one listing rule of the scanners, the job intake and the
dataset readers (suffixes here; what the bytes really are is the decoder's call)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
# The media type a stored image is served back with, by its decoded format's stored name.
MEDIA_TYPES = {"jpeg": "image/jpeg", "mpo": "image/jpeg", "png": "image/png", "webp": "image/webp",
               "bmp": "image/bmp", "tiff": "image/tiff", "gif": "image/gif"}  # fmt: skip


def has_image_name(name: str | Path) -> bool:
    """An image suffix on a name that is not hidden (``.`` files are skipped)."""
    path = Path(name)
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def is_image_path(path: str | Path) -> bool:
    """A regular file (after symlinks) with an image name: never a FIFO, socket or device,
    which would hang a reader or stream without end (a FIFO or a link to /dev/zero named
    ``*.png``)."""
    if not has_image_name(path):
        return False
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


# What the first bytes of each accepted format are (checked before anything is stored).
MAGIC = (
    (b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"),
)  # fmt: skip


def sniffed_format(data: bytes) -> str | None:
    """The image format the bytes declare by their signature, or None (not an image we take)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return next((name for magic, name in MAGIC if data.startswith(magic)), None)
