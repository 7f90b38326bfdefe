"""The image store's two backends keep the same contract; the S3 one runs against the emulator."""

from __future__ import annotations

import hashlib

import pytest

from tests.support.api import image_bytes, register, upload
from tests.support.shared import s3_keys


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    from artifact.storage.image_store import LocalImageStore

    if request.param == "local":
        return LocalImageStore(tmp_path / "images")
    from artifact.storage.object_store import S3ImageStore

    endpoint = request.getfixturevalue("s3_endpoint")
    bucket = request.getfixturevalue("s3_bucket")
    return S3ImageStore.from_url(f"s3://{bucket}/service/images", endpoint=endpoint)


def test_put_read_exists_delete(store):
    data = b"the same bytes twice"
    sha256, created = store.put(data)
    assert sha256 == hashlib.sha256(data).hexdigest() and created
    assert store.put(data) == (sha256, False)  # content-addressed: stored once
    assert store.exists(sha256) and store.read(sha256) == data
    store.delete(sha256)
    store.delete(sha256)  # already gone: nothing happens
    assert not store.exists(sha256)
    with pytest.raises(FileNotFoundError):
        store.read(sha256)
    with pytest.raises(ValueError):
        store.read("../../etc/passwd")


def test_of_racing_puts_of_the_same_bytes_exactly_one_created_it(store):
    """HEAD-then-PUT told every racer it created the object; a conditional put asks the store."""
    import threading

    data = b"the bytes eight uploads send at once"
    barrier, answers = threading.Barrier(8), []

    def put() -> None:
        barrier.wait()
        answers.append(store.put(data)[1])

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 7 + [True]
    assert store.read(hashlib.sha256(data).hexdigest()) == data


def test_listing_leaves_young_objects_to_their_uploads(store):
    digests = {store.put(f"object {i}".encode())[0] for i in range(5)}
    assert set(store.digests_older_than(0)) == digests
    assert set(store.digests_older_than(3600)) == set()  # all written just now


def test_an_s3_listing_streams_page_by_page(s3_endpoint, s3_bucket, monkeypatch):
    from artifact.storage import object_store

    store = object_store.S3ImageStore.from_url(f"s3://{s3_bucket}/p", endpoint=s3_endpoint)
    digests = {store.put(f"object {i}".encode())[0] for i in range(23)}
    monkeypatch.setattr(object_store, "LIST_PAGE", 5)
    pages = []
    real_list = object_store.obstore.list

    def counting_list(*args, **kwargs):
        for page in real_list(*args, **kwargs):
            pages.append(len(page))
            yield page

    monkeypatch.setattr(object_store.obstore, "list", counting_list)
    stream = store.digests_older_than(0)
    first = next(stream)
    assert pages == [5]  # only the first page was fetched to give the first digest
    assert {first, *stream} == digests and max(pages) == 5 and sum(pages) == 23


@pytest.fixture
def s3_settings(service_settings, s3_endpoint, s3_bucket):
    return service_settings.model_copy(
        update={"storage_url": f"s3://{s3_bucket}/artifact", "storage_endpoint": s3_endpoint}
    )


def test_the_service_keeps_uploads_in_the_object_store(s3_settings, s3_endpoint, s3_bucket):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    with TestClient(create_app(s3_settings)) as client:
        headers = register(client, "olga")
        data = image_bytes("ai", seed=77)
        response = upload(client, headers, data)
        assert response.status_code == 201, response.text
        digest = hashlib.sha256(data).hexdigest()
        assert s3_keys(s3_endpoint, s3_bucket) == [f"artifact/{digest[:2]}/{digest[2:4]}/{digest}"]
        image = client.get(response.json()["image_url"], headers=headers)
        assert image.status_code == 200 and image.content == data
        assert not [p for p in s3_settings.images_dir.rglob("*") if p.is_file()]  # nothing on local disk


def test_a_failed_commit_removes_the_object_it_created(s3_settings, s3_endpoint, s3_bucket, monkeypatch):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app
    from artifact.storage import crud

    with TestClient(create_app(s3_settings), raise_server_exceptions=False) as client:
        headers = register(client, "pia")

        def broken(*args, **kwargs):
            raise RuntimeError("the database went away mid-transaction")

        monkeypatch.setattr(crud, "record_image", broken)
        assert upload(client, headers, image_bytes("human", seed=78)).status_code == 500
    assert s3_keys(s3_endpoint, s3_bucket) == []


def test_the_start_up_sweep_removes_old_orphans_and_keeps_young_ones(s3_settings, s3_endpoint, s3_bucket):
    import time

    from fastapi.testclient import TestClient

    from artifact.api.app import create_app
    from artifact.storage.stores import open_image_store

    store = open_image_store(s3_settings)
    old, _ = store.put(b"left by a replica that died before its commit")
    time.sleep(2.1)  # S3 times have one-second resolution
    young, _ = store.put(b"an upload another replica is committing right now")
    settings = s3_settings.model_copy(update={"orphan_min_age_seconds": 2.0})
    with TestClient(create_app(settings)):
        pass
    assert not store.exists(old) and store.exists(young)
