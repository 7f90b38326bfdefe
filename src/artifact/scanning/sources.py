"""Where a scan's files come from: a local folder or an ``s3://`` prefix, listed the same way."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from artifact.inference.formats import has_image_name, is_image_path

_buckets: dict = {}  # (bucket, endpoint) -> store: one client per bucket per process


def is_s3(url: str) -> bool:
    return str(url).startswith("s3://")


def iter_input_keys(source: str, endpoint: str | None = None) -> Iterator[str]:
    """Image files under ``source`` in a stable order, yielded as they are listed.

    A folder is walked with hidden folders skipped and only regular image files kept (a FIFO
    would hang a worker); a prefix lists its objects with an image name.
    """
    if is_s3(source):
        from artifact.storage.object_store import iter_objects, open_bucket

        store, prefix = open_bucket(source, endpoint)
        bucket = source[5:].split("/", 1)[0]
        base = f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"
        for meta in iter_objects(store):
            name = meta["path"]
            if has_image_name(name):
                yield base + name
        return
    root = Path(source)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {source}")
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if is_image_path(Path(folder) / name):
                yield str(Path(folder) / name)


def read_key(key: str, endpoint: str | None = None) -> bytes:
    """A file's or an object's bytes, refused past the upload size limit before reading."""
    from artifact.inference.decode import (
        DEFAULT_LIMITS,
        ImageTooLargeError,
        read_limited_bytes,
        too_large_message,
    )

    if not is_s3(key):
        return read_limited_bytes(key)
    import obstore

    from artifact.storage.object_store import open_bucket

    bucket, _, name = key[5:].partition("/")
    if (bucket, endpoint) not in _buckets:
        _buckets[bucket, endpoint] = open_bucket(f"s3://{bucket}", endpoint)[0]
    store = _buckets[bucket, endpoint]
    size = obstore.head(store, name)["size"]
    if size > DEFAULT_LIMITS.max_bytes:
        raise ImageTooLargeError(too_large_message(size, DEFAULT_LIMITS.max_bytes))
    return bytes(obstore.get(store, name).bytes())
