"""The research data and weights beside the repository (../shared), and the S3 emulator's view."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared_weights(name: str) -> Path:
    """A pretrained weights file of ../shared/weights, or skip where it is absent."""
    path = SHARED_DATA.parent / "weights" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: the shared pretrained weights are not on this machine")
    return path


def shared_dataset(name: str) -> Path:
    path = SHARED_DATA / name
    if not (path / "labels.csv").is_file():
        pytest.skip(f"{path} is absent: the shared development data is not on this machine")
    return path


def _boto_credentials() -> dict:
    return {
        "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
        "region_name": os.environ["AWS_REGION"],
    }


def s3_keys(endpoint: str, bucket: str, prefix: str = "") -> list[str]:
    """Every key in the bucket, listed with boto3 (independently of the code under test)."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys
