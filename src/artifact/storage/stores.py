"""Open the image store the settings name; the one place that knows both kinds."""

from __future__ import annotations

from artifact.storage.image_store import ImageStore, LocalImageStore


def open_image_store(settings) -> ImageStore:
    """``ARTIFACT_STORAGE_URL=s3://bucket/prefix`` (the ``cluster`` extra), else the data folder."""
    if settings.storage_url:
        from artifact.storage.object_store import S3ImageStore

        return S3ImageStore.from_url(settings.storage_url, endpoint=settings.storage_endpoint)
    return LocalImageStore(settings.images_dir)
