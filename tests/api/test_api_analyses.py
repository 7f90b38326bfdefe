"""Analysis, gallery, history, probes and error handling, through HTTP with the real model."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from PIL import Image

from tests.support.api import (
    assert_error,
    card_cut_points,
    expected_verdict,
    image_bytes,
    png_bomb,
    register,
    upload,
)
from tests.support.art import encode, gradient

pytestmark = pytest.mark.slow


def stored_files(settings) -> list:
    return [p for p in settings.images_dir.rglob("*") if p.is_file()]


def test_probes_model_card_and_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["model"] and ready.json()["database"]
    headers = register(client, "ann")
    card = client.get("/v1/model", headers=headers).json()
    assert card["labels"] == ["human", "ai"] and len(card["sha256"]) == 64
    assert "/v1/analyze" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    icon = client.get("/favicon.ico")  # asked for whatever the page links: no 404 in the logs
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg+xml")


def test_readyz_is_503_until_the_model_is_loaded(service_settings, tmp_path):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    app = create_app(service_settings)
    client = TestClient(app)  # no lifespan: nothing loaded yet
    app.state.engine = __import__("sqlalchemy").create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert_error(client.get("/readyz"), 503, "not_ready")


def test_analyze_returns_the_verdict_and_stores_it(client, service_settings):
    headers = register(client, "ann")
    data = image_bytes("ai")
    response = upload(client, headers, data)
    assert response.status_code == 201
    body = response.json()
    cuts = card_cut_points(service_settings.model_dir)
    assert 0 <= body["prob_ai"] <= 1
    assert body["verdict"] == body["model_verdict"] == expected_verdict(body["prob_ai"], cuts)
    assert body["cut_points"] == {"human": cuts[0], "ai": cuts[1]}
    assert body["score"] == pytest.approx(1 - body["probabilities"]["human"], abs=2e-6)
    assert body["image_sha256"] == hashlib.sha256(data).hexdigest()
    assert set(body["probabilities"]) == {"human", "ai"}
    assert body["model"]["name"] == "artbench" and body["evidence"] == []
    assert body["processing_ms"] > 0
    history = client.get("/v1/analyses", headers=headers).json()
    assert history["count"] == 1 and history["data"][0]["id"] == body["id"]
    assert client.get(f"/v1/analyses/{body['id']}", headers=headers).json() == body
    image = client.get(body["image_url"], headers=headers)
    assert image.content == data and image.headers["content-type"] == "image/jpeg"
    assert len(stored_files(service_settings)) == 1


def test_same_image_twice_is_stored_once(client, service_settings):
    headers = register(client, "ann")
    data = image_bytes()
    first, second = upload(client, headers, data).json(), upload(client, headers, data).json()
    assert first["id"] != second["id"] and first["image_sha256"] == second["image_sha256"]
    assert len(stored_files(service_settings)) == 1


@pytest.mark.parametrize(
    "data, status, code",
    [
        (b"hello, I am text", 400, "not_an_image"),
        (image_bytes()[:400], 400, "corrupt_image"),
        (encode(gradient(), "PPM"), 415, "unsupported_format"),
    ],
)
def test_bad_uploads_get_a_4xx_and_store_nothing(client, service_settings, data, status, code):
    headers = register(client, "ann")
    assert_error(upload(client, headers, data), status, code)
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 0
    assert stored_files(service_settings) == []
    assert upload(client, headers).status_code == 201  # and the server keeps serving


def test_empty_file_and_missing_field(client):
    headers = register(client, "ann")
    assert_error(upload(client, headers, b""), 400)
    assert_error(client.post("/v1/analyze", headers=headers), 422, "validation_error")


def test_decompression_bomb_is_refused(client):
    bomb = png_bomb(60_000)
    assert_error(upload(client, register(client, "ann"), bomb, "bomb.png"), 413, "too_many_pixels")


def test_byte_limit_gives_413_and_stores_nothing(service_settings):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    settings = service_settings.model_copy(update={"max_upload_bytes": 20_000})
    big = encode(Image.effect_noise((200, 200), 80).convert("RGB"), "PNG")
    assert len(big) > 20_000 + 64 * 1024 or len(big) > 20_000
    with TestClient(create_app(settings)) as client:
        headers = register(client, "ann")
        # The code and the words the command line gives for the same file (README: file_too_large).
        error = assert_error(upload(client, headers, big, "big.png"), 413, "file_too_large")
        assert error["message"] == "the upload is over the limit of 19.5 KB per file"
        # Inside the body's allowance for form framing, the file itself is measured.
        over = encode(Image.effect_noise((100, 100), 80).convert("RGB"), "PNG")
        assert 20_000 < len(over) < 20_000 + 64 * 1024
        error = assert_error(upload(client, headers, over, "over.png"), 413, "file_too_large")
        assert error["message"] == "over.png: the file is over the limit of 19.5 KB per file"
        # A body far over the limit is refused from its Content-Length, before it is read,
        # and its message states the limit the same way (not the body limit with its overhead).
        huge = b"\0" * (settings.max_upload_bytes + 200_000)
        error = assert_error(upload(client, headers, huge, "huge.png"), 413, "file_too_large")
        assert error["message"] == "the upload is over the limit of 19.5 KB per file"
        error = assert_error(upload(client, headers, b"", "empty.png"), 400, "empty_file")
        assert error["message"] == "empty.png: the file is empty"
        assert client.get("/v1/analyses", headers=headers).json()["count"] == 0
        assert stored_files(settings) == []


def test_a_storage_quota_bounds_what_one_user_stores(service_settings):
    """Before, nothing bounded the bytes one account could keep in the store."""
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    settings = service_settings.model_copy(update={"storage_quota_mb": 1})
    rng = np.random.default_rng(7)
    noise = [encode(Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)), "PNG") for _ in range(3)]
    assert all(300_000 < len(data) < 500_000 for data in noise)  # incompressible: ~350 KB each
    with TestClient(create_app(settings)) as client:
        headers = register(client, "hoarder")
        assert upload(client, headers, noise[0], "a.png").status_code == 201
        assert upload(client, headers, noise[0], "again.png").status_code == 201  # stored once
        assert upload(client, headers, noise[1], "b.png").status_code == 201
        error = assert_error(upload(client, headers, noise[2], "c.png"), 403, "quota_exceeded")
        assert "quota of 1 MB" in error["message"] and "this upload is" in error["message"]
        art = upload(client, headers, noise[2], "c.png", path="/v1/artworks", title="T", artist="A")
        assert_error(art, 403, "quota_exceeded")
        assert client.get("/v1/analyses", headers=headers).json()["count"] == 3
        # The quota is per user: someone else still has room.
        assert upload(client, register(client, "frugal"), noise[2], "c.png").status_code == 201


def test_batch_gives_one_result_or_error_per_file(client):
    headers = register(client, "ann")
    files = [
        ("files", ("a.jpg", image_bytes(), "image/jpeg")),
        ("files", ("broken.jpg", b"\xff\xd8\xff garbage", "image/jpeg")),
        ("files", ("b.png", image_bytes(fmt="PNG"), "image/png")),
    ]
    body = client.post("/v1/analyze/batch", files=files, headers=headers).json()
    assert body["count"] == 3 and body["failed"] == 1
    assert [item["filename"] for item in body["data"]] == ["a.jpg", "broken.jpg", "b.png"]
    assert body["data"][1]["error"]["code"] in ("corrupt_image", "not_an_image")
    assert body["data"][0]["analysis"]["verdict"] and body["data"][2]["analysis"]["verdict"]
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 2


def test_batch_over_the_limit_is_refused(client, service_settings):
    headers = register(client, "ann")
    files = [
        ("files", (f"{i}.jpg", image_bytes(), "image/jpeg")) for i in range(service_settings.batch_limit + 1)
    ]
    assert_error(client.post("/v1/analyze/batch", files=files, headers=headers), 400)
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 0


def test_gallery_lifecycle_with_filters_and_pagination(client):
    headers = register(client, "ann")
    ids = []
    for i in range(5):
        response = upload(client, headers, path="/v1/artworks", title=f"Work {i}", artist="Ann")
        assert response.status_code == 201
        ids.append(response.json()["id"])
    page = client.get("/v1/artworks?limit=2&offset=0", headers=headers).json()
    assert page["count"] == 5 and [a["id"] for a in page["data"]] == ids[::-1][:2]  # newest first
    rest = client.get("/v1/artworks?limit=10&offset=2", headers=headers).json()
    assert [a["id"] for a in rest["data"]] == ids[::-1][2:]
    everything = client.get("/v1/artworks", headers=headers).json()["data"]
    for verdict in ("ai", "human", "uncertain"):
        filtered = client.get(f"/v1/artworks?verdict={verdict}", headers=headers).json()
        assert filtered["count"] == sum(1 for a in everything if a["analysis"]["verdict"] == verdict)
    assert_error(client.get("/v1/artworks?verdict=maybe", headers=headers), 422)
    one = client.get(f"/v1/artworks/{ids[0]}", headers=headers).json()
    assert one["title"] == "Work 0" and one["artist"] == "Ann"
    assert client.get(one["image_url"], headers=headers).status_code == 200
    assert client.delete(f"/v1/artworks/{ids[0]}", headers=headers).status_code == 204
    assert_error(client.get(f"/v1/artworks/{ids[0]}", headers=headers), 404)
    # The analysis stays in the history: nothing is lost.
    assert client.get(f"/v1/analyses/{one['analysis']['id']}", headers=headers).status_code == 200


def test_artwork_needs_title_and_artist(client):
    headers = register(client, "ann")
    assert_error(upload(client, headers, path="/v1/artworks", title="Only a title"), 422)
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 0


def test_a_commit_that_fails_leaves_no_row_and_no_file(service_settings):
    """The real commit fails (after the SQL ran), not an exception raised before any SQL."""
    from fastapi.testclient import TestClient
    from sqlalchemy import event

    from artifact.api.app import create_app
    from artifact.storage.tables import Analysis

    with TestClient(create_app(service_settings), raise_server_exceptions=False) as client:
        headers = register(client, "ann-commit")

        def refuse(session) -> None:
            if any(isinstance(row, Analysis) for row in session.identity_map.values()):
                raise RuntimeError("the disk filled up during COMMIT (simulated)")

        event.listen(client.app.state.writer_sessions, "before_commit", refuse)
        try:
            assert_error(upload(client, headers), 500, "internal_error")
        finally:
            event.remove(client.app.state.writer_sessions, "before_commit", refuse)
        assert stored_files(service_settings) == []
        assert client.get("/v1/analyses", headers=headers).json()["count"] == 0
        assert upload(client, headers).status_code == 201


def test_failed_database_write_leaves_no_orphan_file(service_settings, monkeypatch):
    from fastapi.testclient import TestClient

    from artifact import service
    from artifact.api.app import create_app

    client = TestClient(create_app(service_settings), raise_server_exceptions=False).__enter__()
    headers = register(client, "ann")

    def broken_row(*args, **kwargs):
        raise RuntimeError("disk full (simulated) with secret details")

    monkeypatch.setattr(service, "_analysis_row", broken_row)
    response = upload(client, headers)
    error = assert_error(response, 500, "internal_error")
    assert "secret" not in response.text and "simulated" not in error["message"]
    assert stored_files(service_settings) == []
    monkeypatch.undo()
    assert upload(client, headers).status_code == 201
    client.__exit__(None, None, None)


def test_orphans_from_a_crash_are_swept_at_start(service_settings):
    import os
    import time

    from fastapi.testclient import TestClient

    from artifact.api.app import create_app
    from artifact.service import sweep_orphans
    from artifact.storage.image_store import LocalImageStore

    store = LocalImageStore(service_settings.images_dir)
    old, _ = store.put(b"bytes written just before a crash, two minutes ago")
    stale = time.time() - 2 * service_settings.orphan_min_age_seconds
    os.utime(store.path(old), (stale, stale))
    fresh, _ = store.put(b"bytes written just before a crash, a moment ago")
    with TestClient(create_app(service_settings)) as client:
        # Start-up alone removed the old orphan; the fresh one could be an upload in flight.
        assert not store.exists(old) and store.exists(fresh)
        assert sweep_orphans(client.app.state.writer_sessions, store, min_age_s=0) == 1
    assert not store.exists(fresh)


def test_metrics_count_requests_and_verdicts(client):
    headers = register(client, "ann")
    verdict = upload(client, headers).json()["verdict"]
    client.get("/v1/analyses/999999", headers=headers)
    text = client.get("/metrics").text
    assert f'artifact_analyses_total{{verdict="{verdict}"}} 1.0' in text
    assert 'route="/v1/analyses/{analysis_id}",status="404"' in text
    assert "artifact_http_request_duration_seconds_bucket" in text


def test_unknown_route_and_method_use_the_envelope(client):
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.put("/healthz"), 405, "method_not_allowed")


def test_api_returns_evidence_and_lets_strong_evidence_decide(client):
    from tests.support.art import A1111, png

    headers = register(client, "ann")
    body = upload(client, headers, png(parameters=A1111), "marked.png").json()
    cuts = card_cut_points(client.app.state.settings.model_dir)
    # Strong evidence decides "ai"; the model's own verdict is still the rule's for its probability.
    assert body["verdict"] == "ai" and body["model_verdict"] == expected_verdict(body["prob_ai"], cuts)
    assert [e["kind"] for e in body["evidence"]] == ["generator_metadata"]
    assert "AI-generated" in body["verdict_reason"]
    plain = upload(client, headers).json()
    assert plain["evidence"] == [] and plain["verdict"] == plain["model_verdict"]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_an_upload_is_decoded_once(client, monkeypatch, fmt):
    """The model, the watermark check and the stored format share one decode of the pixels."""
    from PIL import ImageFile

    loads = []
    original = ImageFile.ImageFile.load

    def counting_load(self):
        # A real decode of the upload (the canonical JPEG round trip decodes a 224 px copy).
        if self._im is None and self.size == (300, 300):
            loads.append(self.format)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    headers = register(client, f"once{fmt.lower()}")
    data = image_bytes("ai", size=300, fmt=fmt)
    loads.clear()
    response = upload(client, headers, data, name=f"art.{fmt.lower()}")
    assert response.status_code == 201, response.text
    assert loads == [fmt]
    row = client.get(f"/v1/analyses/{response.json()['id']}", headers=headers).json()
    assert row["image_sha256"] == hashlib.sha256(data).hexdigest()


def test_a_sweep_tolerates_files_another_worker_removed_meanwhile(service_settings, monkeypatch):
    """Two workers sweeping at start: one removes a file the other has already listed."""
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app
    from artifact.service import sweep_orphans
    from artifact.storage.image_store import LocalImageStore

    store = LocalImageStore(service_settings.images_dir)
    kept, _ = store.put(b"an orphan this sweep removes")
    gone, _ = store.put(b"an orphan the other worker removes first")
    listed = list(store.digests_older_than(0))
    store.delete(gone)
    monkeypatch.setattr(LocalImageStore, "digests_older_than", lambda self, min_age_s: iter(listed))
    with TestClient(create_app(service_settings)) as client:  # its own start-up sweep runs too
        assert sweep_orphans(client.app.state.writer_sessions, store, min_age_s=0) == 2
    assert not store.exists(kept)


def test_a_failed_uploads_clean_up_never_removes_a_file_another_upload_references(
    client, service_settings, monkeypatch
):
    """The interleaving seen on PostgreSQL with two workers: upload B stores bytes that upload A
    created, A's failed transaction cleans up before B commits. B must still own its file."""
    from artifact.service import remove_if_unreferenced
    from artifact.storage.image_store import LocalImageStore

    headers = register(client, "victim")
    data = image_bytes("ai", seed=4242)
    real_put = LocalImageStore.put

    def put_then_a_cleans_up(self, payload):
        result = real_put(self, payload)
        monkeypatch.setattr(LocalImageStore, "put", real_put)  # B's re-put under the lock is plain
        remove_if_unreferenced(result[0], client.app.state.writer_sessions, self)  # A, in between
        return result

    monkeypatch.setattr(LocalImageStore, "put", put_then_a_cleans_up)
    response = upload(client, headers, data)
    assert response.status_code == 201, response.text
    image = client.get(response.json()["image_url"], headers=headers)
    assert image.status_code == 200 and image.content == data


def test_an_upload_waiting_on_a_lock_held_from_outside_gets_503_after_one_timeout(service_settings):
    """The write lock held by another program: the upload waits the configured time once, then
    answers 503 busy (not 500 after twice the time); the service serves again once it is free."""
    import sqlite3
    import time

    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    if service_settings.database_url:
        pytest.skip("SQLite only")
    settings = service_settings.model_copy(update={"database_busy_timeout_seconds": 1.0})
    with TestClient(create_app(settings)) as client:
        headers = register(client, "waiter")
        outsider = sqlite3.connect(settings.data_dir / "artifact.db", isolation_level=None)
        outsider.execute("BEGIN IMMEDIATE")
        try:
            started = time.monotonic()
            response = upload(client, headers, image_bytes(seed=99))
            waited = time.monotonic() - started
        finally:
            outsider.execute("ROLLBACK")
            outsider.close()
        assert_error(response, 503, "busy")
        assert response.headers["Retry-After"] and waited < 1.9
        assert upload(client, headers, image_bytes(seed=99)).status_code == 201


def test_a_sweep_never_deletes_an_orphan_that_an_upload_claims_meanwhile(client, service_settings):
    """A retry uploads bytes that sit in the store as an old orphan while another replica's
    sweep lists the store: the upload is acknowledged, so its image must survive the sweep."""
    import threading

    from artifact.service import sweep_orphans

    store = client.app.state.store
    headers = register(client, "retry")
    data = image_bytes("ai", seed=77)
    orphan, _ = store.put(data)  # left by an earlier attempt whose commit never happened
    listed, resume = threading.Event(), threading.Event()
    real_listing = store.digests_older_than

    def slow_listing(min_age_s):
        for digest in real_listing(min_age_s):
            listed.set()
            resume.wait(10)  # the listing of a big bucket takes seconds: an upload lands now
            yield digest

    store.digests_older_than = slow_listing
    removed = []
    sweeper = threading.Thread(
        target=lambda: removed.append(sweep_orphans(client.app.state.writer_sessions, store, 0))
    )
    sweeper.start()
    assert listed.wait(10)
    response = upload(client, headers, data)
    assert response.status_code == 201 and response.json()["image_sha256"] == orphan
    resume.set()
    sweeper.join(20)
    del store.digests_older_than
    assert removed == [0]
    image = client.get(f"/v1/analyses/{response.json()['id']}/image", headers=headers)
    assert image.status_code == 200 and image.content == data


def test_nul_characters_are_refused_with_422_everywhere(client, service_settings):
    """PostgreSQL cannot store NUL: it answered 500 in nine places, three of them anonymous."""
    headers = register(client, "nul")
    cases = [
        client.post("/v1/auth/login", json={"username": "nu\x00l", "password": "correct horse"}),
        client.post("/v1/auth/token", data={"username": "nu\x00l", "password": "x"}),
        upload(client, headers, path="/v1/artworks", title="Ti\x00tle", artist="Ann"),
        client.post("/v1/api-keys", json={"name": "key\x00"}, headers=headers),
    ]
    for response in cases:
        error = assert_error(response, 422, "nul_character")
        assert "NUL" in error["message"]
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 0  # nothing half-written
    assert stored_files(service_settings) == []
    assert upload(client, headers).status_code == 201  # and the server keeps serving


def test_a_blank_title_or_artist_is_refused(client):
    headers = register(client, "blank")
    for title, artist in (("   ", "Ann"), ("Sunrise", " \t ")):
        response = upload(client, headers, path="/v1/artworks", title=title, artist=artist)
        assert (
            assert_error(response, 422, "validation_error")["message"]
            == "the title and the artist may not be blank"
        )
    assert client.get("/v1/artworks", headers=headers).json()["count"] == 0
    work = upload(client, headers, path="/v1/artworks", title="  Sunrise ", artist="Ann").json()
    assert work["title"] == "Sunrise"


def test_a_jurors_decision_is_kept_beside_the_verdict_filtered_and_exported(client):
    import csv as csv_module
    import io

    headers = register(client, "juror7")
    works = [upload(client, headers, path="/v1/artworks", title=t, artist="Ann").json()
             for t in ("Dawn", "=Dusk")]  # fmt: skip
    before = client.get(f"/v1/analyses/{works[0]['analysis']['id']}", headers=headers).json()
    first = client.post(f"/v1/artworks/{works[0]['id']}/decision", headers=headers,
                        json={"decision": "needs_proof", "note": "ask for sketches"})  # fmt: skip
    assert first.status_code == 201
    second = client.post(f"/v1/artworks/{works[0]['id']}/decision", headers=headers,
                         json={"decision": "accepted", "note": " sketches received "}).json()  # fmt: skip
    assert second["decision"]["decision"] == "accepted" and second["decision"]["note"] == "sketches received"
    assert second["decision"]["decided_by"] == "juror7" and second["decision"]["decided_at"]
    # The recorded analysis never changes.
    assert client.get(f"/v1/analyses/{works[0]['analysis']['id']}", headers=headers).json() == before
    assert_error(client.post(f"/v1/artworks/{works[0]['id']}/decision", headers=headers,
                             json={"decision": "maybe"}), 422)  # fmt: skip

    def titles(query: str) -> list[str]:
        return [w["title"] for w in client.get(f"/v1/artworks?{query}", headers=headers).json()["data"]]

    assert titles("decision=accepted") == ["Dawn"]
    assert titles("decision=needs_proof") == []  # the newest decision counts
    assert titles("decision=undecided") == ["=Dusk"]
    # Another user can neither see nor decide it.
    other = register(client, "stranger")
    assert_error(client.post(f"/v1/artworks/{works[0]['id']}/decision", headers=other,
                             json={"decision": "rejected"}), 404)  # fmt: skip
    exported = client.get("/v1/artworks/export.csv", headers=headers)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv_module.DictReader(io.StringIO(exported.text)))
    assert [r["title"] for r in rows] == ["'=Dusk", "Dawn"]  # newest first; the formula neutralised
    dawn = rows[1]
    assert dawn["decision"] == "accepted" and dawn["decided_by"] == "juror7"
    assert (
        dawn["verdict"] == works[0]["analysis"]["verdict"]
        and float(dawn["prob_ai"]) == works[0]["analysis"]["prob_ai"]
    )
    assert dawn["model"] == works[0]["analysis"]["model"]["name"]
    assert client.get("/v1/artworks/export.csv", headers=other).text.count("\n") == 1  # header only


def test_an_idempotency_key_makes_a_retried_upload_count_once(client):
    """An upload committed while its client got no answer was duplicated by the retry."""
    headers = register(client, "retrier")
    data = image_bytes("ai", seed=501)
    keyed = {**headers, "Idempotency-Key": "upload-7f3a"}
    first = upload(client, keyed, data)
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    again = upload(client, keyed, data)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 1
    other_bytes = upload(client, keyed, image_bytes("human", seed=502))
    assert (
        assert_error(other_bytes, 422)["message"] == "this Idempotency-Key was already used for another image"
    )
    # Keys belong to their user; without a key every upload is its own.
    assert (
        upload(client, {**register(client, "someone"), "Idempotency-Key": "upload-7f3a"}, data).status_code
        == 201
    )
    assert upload(client, headers, data).status_code == 201
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 2


def test_an_idempotency_key_makes_a_retried_artwork_count_once(client):
    headers = {**register(client, "gallery-retrier"), "Idempotency-Key": "artwork-91"}
    data = image_bytes("human", seed=503)
    first = upload(client, headers, data, path="/v1/artworks", title="Dawn", artist="Ann")
    assert first.status_code == 201
    again = upload(client, headers, data, path="/v1/artworks", title="Dawn", artist="Ann")
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert client.get("/v1/artworks", headers=headers).json()["count"] == 1
    renamed = upload(client, headers, data, path="/v1/artworks", title="Dusk", artist="Ann")
    assert assert_error(renamed, 422)["message"] == "this Idempotency-Key was already used for another request"
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 1


def test_the_history_filters_by_day_and_owner_names_artworks_and_exports(client):
    """Before: a plain list with no owner, no dates, gallery uploads under their file names."""
    import csv as csv_module
    import io
    from datetime import UTC, datetime

    from artifact.storage.tables import Analysis, User

    ann, bob = register(client, "ann-h"), register(client, "bob-h")
    old = upload(client, ann, image_bytes("ai", seed=601), "old.jpg").json()
    work = upload(client, ann, image_bytes("human", seed=602), "scan.jpg", path="/v1/artworks",
                  title="=Harbour", artist="Ann").json()  # fmt: skip
    upload(client, bob, image_bytes("ai", seed=603), "bobs.jpg")
    with client.app.state.writer_sessions.begin() as session:
        session.get(Analysis, old["id"]).created_at = datetime(2026, 3, 14, 23, 30, tzinfo=UTC)
        session.scalars(__import__("sqlalchemy").select(User).where(User.username == "bob-h")).one().role = "admin"

    def names(headers, query: str = "") -> list[str]:
        return [a["filename"] for a in client.get(f"/v1/analyses?{query}", headers=headers).json()["data"]]

    assert names(ann) == ["scan.jpg", "old.jpg"]
    assert names(ann, "since=2026-03-14&until=2026-03-14") == ["old.jpg"]  # the whole day, inclusive
    assert names(ann, "until=2026-03-13") == [] and names(ann, "since=2026-03-15") == ["scan.jpg"]
    assert_error(client.get("/v1/analyses?since=2026-03-15&until=2026-03-14", headers=ann), 422)
    assert names(ann, "owner=bob-h") == []  # a juror only ever sees their own
    listed = client.get("/v1/analyses?owner=ann-h", headers=bob).json()["data"]  # bob is admin now
    assert [(a["filename"], a["owner"]) for a in listed] == [("scan.jpg", "ann-h"), ("old.jpg", "ann-h")]
    assert listed[0]["artwork"] == {"id": work["id"], "title": "=Harbour", "artist": "Ann"}
    assert listed[1]["artwork"] is None

    exported = client.get("/v1/analyses/export.csv?since=2026-03-15", headers=ann)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv_module.DictReader(io.StringIO(exported.text)))
    assert [(r["filename"], r["title"], r["owner"]) for r in rows] == [("scan.jpg", "'=Harbour", "ann-h")]
    assert float(rows[0]["prob_ai"]) == work["analysis"]["prob_ai"]
    assert rows[0]["verdict"] == work["analysis"]["verdict"]


def test_a_gallery_report_is_one_html_page_with_escaped_fields(client):
    headers = register(client, "reporter")
    works = [upload(client, headers, image_bytes("human", seed=610 + i), path="/v1/artworks",
                    title=title, artist="Ann").json() for i, title in enumerate(("Dawn", "<script>x</script>"))]  # fmt: skip
    client.post(f"/v1/artworks/{works[0]['id']}/decision", headers=headers,
                json={"decision": "needs_proof", "note": "ask for sketches"})  # fmt: skip
    page = client.get("/v1/artworks/report.html", headers=headers)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "attachment" in page.headers["content-disposition"]
    assert page.text.count("<figure") == 2 and page.text.count("data:image/jpeg;base64,") == 2
    assert "<script>x</script>" not in page.text and "&lt;script&gt;x&lt;/script&gt; — Ann" in page.text
    assert "juror: needs proof (reporter," in page.text and "ask for sketches" in page.text
    verdict = works[0]["analysis"]["verdict"]
    assert f'<figure class="{verdict}"' in page.text
    one = client.get(f"/v1/artworks/{works[0]['id']}/report.html", headers=headers)
    assert one.text.count("<figure") == 1 and "ArtiFact record: Dawn" in one.text
    assert_error(client.get(f"/v1/artworks/{works[0]['id']}/report.html", headers=register(client, "x-r")), 404)


def test_each_analysis_stage_is_timed_and_every_log_line_has_the_request_id(client, caplog):
    import logging
    import re

    headers = register(client, "observer")
    with caplog.at_level(logging.INFO, logger="artifact.service"):
        response = upload(client, {**headers, "X-Request-ID": "jury-upload-42"}, image_bytes("ai", seed=700))
    assert response.status_code == 201 and response.headers["x-request-id"] == "jury-upload-42"
    analysed = [r for r in caplog.records if r.name == "artifact.service" and "analysed" in r.getMessage()]
    assert [r.request_id for r in analysed] == ["jury-upload-42"]  # logged in the route's thread
    # A token that is not one (spaces, too long) is replaced by a fresh id.
    fresh = upload(client, {**headers, "X-Request-ID": "no way " * 20}).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{16}", fresh)
    metrics = client.get("/metrics").text
    for stage in ("decode", "model", "provenance", "store", "commit"):
        count = re.search(rf'artifact_analysis_stage_seconds_count{{stage="{stage}"}} (\S+)', metrics)
        assert count and float(count.group(1)) == 2.0, stage


def test_uploads_wait_inside_the_memory_budget(client):
    """README: every upload reserves its estimate from MEMORY_BUDGET_MB before decoding. With the
    whole budget held elsewhere, uploads of every route answer 503 busy after the bounded wait."""
    from artifact.inference.memory_budget import MemoryBudget

    headers = register(client, "squeezed")
    budget = MemoryBudget(256 * 1024 * 1024, wait_seconds=0.2)
    client.app.state.memory_budget = budget
    with budget.reserve(budget.limit):  # someone else's huge image is being analysed
        assert_error(upload(client, headers), 503, "busy")
        assert_error(upload(client, headers, path="/v1/artworks", title="T", artist="A"), 503, "busy")
        batch = client.post("/v1/analyze/batch", files=[("files", ("a.jpg", image_bytes()))], headers=headers)
        assert batch.json()["data"][0]["error"]["code"] == "busy"
    assert budget.in_use == 0
    assert upload(client, headers).status_code == 201
    assert client.get("/v1/analyses", headers=headers).json()["count"] == 1
