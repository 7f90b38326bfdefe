"""A job's files, from a multipart upload of many files and/or zip archives, within the limits.

Files are handed on one at a time (to the image store), so a job's memory is one file, not
the whole job. A zip is read from its spooled upload entry by entry, each size checked on the
bytes actually inflated (never on what the archive declares): a zip bomb stops at the limit.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import BinaryIO

from artifact.errors import ArtifactError
from artifact.inference.decode import DEFAULT_MAX_PIXELS, declared_pixels
from artifact.inference.formats import IMAGE_SUFFIXES, sniffed_format
from artifact.units import byte_size

ZIP_MAGIC = b"PK\x03\x04"
# A job's answer names at most this many skipped entries (then counts the rest).
MAX_LISTED_SKIPS = 100


class IntakeError(ArtifactError, ValueError):
    """The submission breaks a limit or cannot be read; ``code`` names which."""

    def __init__(self, message: str, code: str = "bad_request", status: int = 400):
        super().__init__(message, code=code, status=status)


@dataclass
class Intake:
    """Passes each file to ``accept(filename, data)`` and keeps what it returns, up to
    ``max_files`` files and ``max_total_bytes`` in all, each at most ``max_file_bytes``."""

    accept: Callable[[str, bytes], object]
    max_files: int
    max_file_bytes: int
    max_total_bytes: int
    max_pixels: int = DEFAULT_MAX_PIXELS
    accepted: list = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    skipped_count: int = 0
    total_bytes: int = 0
    entries_seen: int = 0

    def add_upload(self, filename: str, handle: BinaryIO) -> None:
        head = handle.read(4)
        handle.seek(0)
        if head == ZIP_MAGIC:
            self._add_zip(filename, handle)
        else:
            self._add(filename, handle.read(self._room() + 1))

    def _room(self) -> int:
        return min(self.max_file_bytes, self.max_total_bytes - self.total_bytes)

    def _count_entry(self) -> None:
        """Every file and archive entry counts against ``max_files``, images or not (a zip of a
        million non-images was listed whole)."""
        self.entries_seen += 1
        if self.entries_seen > self.max_files:
            raise IntakeError(f"at most {self.max_files} files per job", "too_many_files")

    def _skip(self, name: str, why: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_LISTED_SKIPS:
            self.skipped.append(f"{name[:255]} ({why})")

    def _add(self, filename: str, data: bytes) -> None:
        self._count_entry()
        if len(data) > self._room():
            raise IntakeError(
                f"{filename}: over the limit of {byte_size(self.max_file_bytes)} per file or "
                f"{byte_size(self.max_total_bytes)} per job",
                "payload_too_large",
                413,
            )
        # Sniffed before anything is stored: bytes no image decoder would take (a zip of
        # zero-filled "*.png" entries wrote 500 MB to the store) are skipped, not kept.
        if sniffed_format(data) is None:
            self._skip(filename, "not an image")
            return
        pixels = declared_pixels(data)
        if pixels > self.max_pixels:
            self._skip(filename, f"{pixels:,} pixels; the limit is {self.max_pixels:,}")
            return
        self.total_bytes += len(data)
        self.accepted.append(self.accept(filename[:255], data))

    def _add_zip(self, filename: str, handle: BinaryIO) -> None:
        try:
            archive = zipfile.ZipFile(handle)
            entries = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise IntakeError(f"{filename!r} is not a readable zip archive: {exc}", "bad_archive") from None
        for entry in entries:
            name = PurePosixPath(entry.filename)
            if entry.is_dir() or any(part.startswith((".", "__MACOSX")) for part in name.parts):
                continue
            if name.suffix.lower() not in IMAGE_SUFFIXES:
                self._count_entry()
                self._skip(entry.filename, "not an image name")
                continue
            try:
                with archive.open(entry) as member:
                    data = member.read(self._room() + 1)  # inflate at most one byte past the limit
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, RuntimeError) as exc:
                raise IntakeError(
                    f"cannot read {entry.filename!r} in {filename!r}: {exc}", "bad_archive"
                ) from None
            self._add(name.name, data)
