"""S3-compatible object storage through obstore (Rust's ``object_store``): the image store
of replicas, and the inputs and outputs of distributed scans.

obstore over fsspec/s3fs: it streams listings in pages instead of building one list, it is
several times faster on many small objects, and it has no Python dependencies (s3fs brings
aiobotocore and botocore). Credentials and region come from the standard ``AWS_*`` variables;
``endpoint`` points it at MinIO, Ceph, R2 or an emulator.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlparse

import obstore
from obstore.exceptions import AlreadyExistsError
from obstore.store import S3Store

from artifact.storage.image_store import ImageStore, check_digest, digest_key

LIST_PAGE = 1000


def split_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValueError(f"not an s3://bucket/prefix URL: {url!r}")
    return parsed.netloc, parsed.path.strip("/")


def open_bucket(url: str, endpoint: str | None = None) -> tuple[S3Store, str]:
    """A store for the URL's bucket (prefix applied) and the prefix it was given."""
    bucket, prefix = split_s3_url(url)
    options = {}
    if endpoint:
        options["endpoint"] = endpoint
        options["client_options"] = {"allow_http": endpoint.startswith("http://")}
        # Emulators and self-hosted stores answer on path-style URLs.
        options["virtual_hosted_style_request"] = False
    return S3Store(bucket, prefix=prefix or None, **options), prefix


def iter_objects(store: S3Store, prefix: str | None = None) -> Iterator[dict]:
    """Every object under ``prefix``, a page at a time (never the whole listing at once)."""
    for page in obstore.list(store, prefix or None, chunk_size=LIST_PAGE):
        yield from page


class S3ImageStore(ImageStore):
    def __init__(self, store: S3Store, label: str):
        self.store = store
        self.label = label

    @classmethod
    def from_url(cls, url: str, endpoint: str | None = None) -> S3ImageStore:
        store, _prefix = open_bucket(url, endpoint)
        return cls(store, url)

    def put(self, data: bytes) -> tuple[str, bool]:
        """A conditional PUT (``If-None-Match: *``): the store itself says whether this call
        created the object, so of two replicas racing with the same bytes exactly one did."""
        sha256 = hashlib.sha256(data).hexdigest()
        try:
            obstore.put(self.store, digest_key(sha256), data, mode="create")
        except AlreadyExistsError:
            return sha256, False
        return sha256, True

    def read(self, sha256: str) -> bytes:
        return bytes(obstore.get(self.store, digest_key(sha256)).bytes())

    def exists(self, sha256: str) -> bool:
        try:
            obstore.head(self.store, digest_key(sha256))
        except FileNotFoundError:
            return False
        return True

    def delete(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            obstore.delete(self.store, digest_key(sha256))

    def digests_older_than(self, min_age_s: float) -> Iterator[str]:
        now = datetime.now(UTC)
        for meta in iter_objects(self.store):
            name = meta["path"].rsplit("/", 1)[-1]
            try:
                check_digest(name)
            except ValueError:
                continue  # not ours
            if (now - meta["last_modified"]).total_seconds() >= min_age_s:
                yield name

    def describe(self) -> str:
        return f"object store {self.label}"
