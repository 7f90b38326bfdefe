"""Where uploaded images live: one interface and a local content-addressed folder (the default);
S3-compatible object storage shared by every replica is ``storage/object_store.py``, and
``storage/stores.py`` opens the one the settings name.

Objects are named by their sha256 (``ab/cd/<sha256>``), so writing the same bytes twice is
harmless and a file never changes once written.
"""

from __future__ import annotations

import abc
import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


def check_digest(sha256: str) -> str:
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise ValueError("not a sha256 hex digest")
    return sha256


def digest_key(sha256: str) -> str:
    check_digest(sha256)
    return f"{sha256[:2]}/{sha256[2:4]}/{sha256}"


class ImageStore(abc.ABC):
    """What the service needs from an image store; every method is safe across processes."""

    @abc.abstractmethod
    def put(self, data: bytes) -> tuple[str, bool]:
        """Store ``data``; returns (sha256, created): False when it was already there."""

    @abc.abstractmethod
    def read(self, sha256: str) -> bytes:
        """The stored bytes; ``FileNotFoundError`` if absent."""

    @abc.abstractmethod
    def exists(self, sha256: str) -> bool: ...

    @abc.abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the object; nothing happens if it is already gone."""

    @abc.abstractmethod
    def digests_older_than(self, min_age_s: float) -> Iterator[str]:
        """Stream the stored digests written at least ``min_age_s`` ago (younger ones may
        belong to an upload another process is still committing)."""

    def remove_incomplete(self, min_age_s: float) -> int:
        """Remove half-written leftovers of a crash; stores with atomic puts have none."""
        return 0

    def describe(self) -> str:
        return type(self).__name__


class LocalImageStore(ImageStore):
    """Files under ``root``; each written to a temporary name, synced, then renamed."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def path(self, sha256: str) -> Path:
        return self.root / digest_key(sha256)

    def put(self, data: bytes) -> tuple[str, bool]:
        sha256 = hashlib.sha256(data).hexdigest()
        target = self.path(sha256)
        if target.exists():
            return sha256, False
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            # A link never replaces an existing name: readers see the whole file or none, and
            # of two processes putting the same bytes exactly one is told it created the file.
            os.link(tmp, target)
            created = True
        except FileExistsError:
            created = False
        finally:
            Path(tmp).unlink(missing_ok=True)
        return sha256, created

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        self.path(sha256).unlink(missing_ok=True)

    def digests_older_than(self, min_age_s: float) -> Iterator[str]:
        now = time.time()
        for path in self.root.glob("*/*/*"):
            if not path.name.startswith(".") and now - _mtime(path, now) >= min_age_s:
                yield path.name

    def remove_incomplete(self, min_age_s: float) -> int:
        now, removed = time.time(), 0
        for leftover in self.root.glob("*/*/.incoming-*"):
            if now - _mtime(leftover, now) >= min_age_s:
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed

    def describe(self) -> str:
        return f"folder {self.root}"


def _mtime(path: Path, default: float) -> float:
    """A file's mtime; ``default`` (too young to touch) if another process just removed it."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return default
