"""Accounts, tokens, API keys, roles and ownership, through HTTP."""

from __future__ import annotations

import pytest

from artifact.cli import main
from tests.support.api import assert_error, image_bytes, login, register, upload

pytestmark = pytest.mark.slow


def test_register_login_me(client):
    headers = register(client, "ann")
    me = client.get("/v1/auth/me", headers=headers).json()
    assert me["username"] == "ann" and me["role"] == "juror" and "password" not in str(me)


def test_oauth2_password_form_login(client):
    register(client, "bob")
    response = client.post("/v1/auth/token", data={"username": "bob", "password": "correct horse"})
    assert response.status_code == 200 and response.json()["token_type"] == "bearer"


def test_duplicate_and_invalid_registrations(client):
    register(client, "ann")
    again = client.post(
        "/v1/auth/register",
        json={"username": "ann", "email": "x@example.org", "password": "longenough"},
    )
    assert_error(again, 409, "conflict")
    short = client.post(
        "/v1/auth/register", json={"username": "zed", "email": "z@example.org", "password": "short"}
    )
    assert_error(short, 422, "validation_error")
    bad_email = client.post(
        "/v1/auth/register", json={"username": "zed", "email": "nope", "password": "longenough"}
    )
    assert_error(bad_email, 422)


def test_wrong_password_and_missing_or_bad_credentials(client):
    register(client, "ann")
    wrong = client.post("/v1/auth/login", json={"username": "ann", "password": "wrong password"})
    assert_error(wrong, 401, "unauthorized")
    for path in ("/v1/analyses", "/v1/artworks", "/v1/model", "/v1/auth/me", "/v1/api-keys"):
        assert_error(client.get(path), 401, "unauthorized")
    assert_error(client.get("/v1/analyses", headers={"Authorization": "Bearer not.a.token"}), 401)
    assert_error(client.get("/v1/analyses", headers={"X-API-Key": "afk_made_up"}), 401)


def test_api_key_is_shown_once_works_and_can_be_revoked(client):
    headers = register(client, "ann")
    created = client.post("/v1/api-keys", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201
    key = created.json()["key"]
    listed = client.get("/v1/api-keys", headers=headers).json()
    assert listed["count"] == 1 and "key" not in listed["data"][0]
    assert listed["data"][0]["prefix"] == key[:10]
    assert upload(client, {"X-API-Key": key}).status_code == 201
    assert client.delete(f"/v1/api-keys/{created.json()['id']}", headers=headers).status_code == 204
    assert_error(client.get("/v1/analyses", headers={"X-API-Key": key}), 401)
    assert_error(client.delete(f"/v1/api-keys/{created.json()['id']}", headers=headers), 404)


def test_users_see_only_their_own_rows_and_admins_see_all(client, service_settings, monkeypatch):
    ann, bob = register(client, "ann"), register(client, "bob")
    ann_analysis = upload(client, ann).json()["id"]
    ann_artwork = upload(client, ann, path="/v1/artworks", title="Dawn", artist="Ann").json()["id"]
    upload(client, bob)
    assert_error(client.get(f"/v1/analyses/{ann_analysis}", headers=bob), 404, "not_found")
    assert_error(client.get(f"/v1/analyses/{ann_analysis}/image", headers=bob), 404)
    assert_error(client.get(f"/v1/artworks/{ann_artwork}", headers=bob), 404)
    assert_error(client.delete(f"/v1/artworks/{ann_artwork}", headers=bob), 404)
    assert client.get("/v1/analyses", headers=bob).json()["count"] == 1
    assert client.get("/v1/artworks", headers=bob).json()["count"] == 0

    # The first admin comes from the command line, on the same data directory.
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("admin password\n"))
    args = ["users", "create", "root", "--email", "root@example.org", "--admin", "--password-stdin",
            "--data-dir", str(service_settings.data_dir)]  # fmt: skip
    monkeypatch.setenv("ARTIFACT_SECRET_KEY", service_settings.secret_key)
    if service_settings.database_url:
        monkeypatch.setenv("ARTIFACT_DATABASE_URL", service_settings.database_url)
    assert main(args) == 0
    admin = login(client, "root", "admin password")
    assert client.get("/v1/auth/me", headers=admin).json()["role"] == "admin"
    assert client.get("/v1/analyses", headers=admin).json()["count"] == 3
    assert client.get(f"/v1/artworks/{ann_artwork}", headers=admin).status_code == 200


def test_rate_limit_per_key_answers_429(service_settings, monkeypatch):
    import time
    from types import SimpleNamespace

    from fastapi.testclient import TestClient

    from artifact.api import rate_limit
    from artifact.api.app import create_app

    # The clock frozen in the middle of a minute: no window boundary can reset the count.
    frozen = (int(time.time()) // 60) * 60 + 30.0
    monkeypatch.setattr(rate_limit, "time", SimpleNamespace(time=lambda: frozen))  # its clock only
    settings = service_settings.model_copy(update={"rate_limit_per_minute": 3})
    with TestClient(create_app(settings)) as client:
        headers = register(client, "ann")
        statuses = [client.get("/v1/analyses", headers=headers).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        limited = client.get("/v1/analyses", headers=headers)
        assert_error(limited, 429, "rate_limited")
        assert int(limited.headers["Retry-After"]) > 0
        # Another principal has its own budget.
        assert client.get("/v1/analyses", headers=register(client, "bob")).status_code == 200


def test_replicas_on_one_database_share_the_rate_limit(service_settings, monkeypatch):
    """Two app instances (as two replicas would be) over one database count one budget."""
    import time

    from fastapi.testclient import TestClient

    from artifact.api import rate_limit
    from artifact.api.app import create_app

    now = time.time()
    monkeypatch.setattr(rate_limit.time, "time", lambda: now - now % 60 + 1)  # one minute only
    settings = service_settings.model_copy(update={"rate_limit_per_minute": 4})
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        headers = register(one, "shared")
        statuses = [(one, two)[i % 2].get("/v1/analyses", headers=headers).status_code for i in range(6)]
    # register does not count; four reads pass whichever replica served them, then 429.
    assert statuses == [200, 200, 200, 200, 429, 429]


def test_closed_registration_is_403(service_settings):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    settings = service_settings.model_copy(update={"public_registration": False})
    with TestClient(create_app(settings)) as client:
        body = {"username": "ann", "email": "ann@example.org", "password": "correct horse"}
        assert_error(client.post("/v1/auth/register", json=body), 403, "forbidden")


def test_more_api_keys_do_not_multiply_the_rate_limit(service_settings):
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    settings = service_settings.model_copy(update={"rate_limit_per_minute": 6})
    with TestClient(create_app(settings)) as client:
        headers = register(client, "minter")
        keys = [
            client.post("/v1/api-keys", json={"name": f"k{i}"}, headers=headers).json()["key"]
            for i in range(3)
        ]
        statuses = [
            client.get("/v1/analyses", headers={"X-API-Key": keys[i % 3]}).status_code for i in range(15)
        ]
        # 3 key creations + 3 reads use up the user's 6. Counted per key (5 reads each) it
        # would never be reached; 18 requests exceed 6 even if a minute boundary splits them.
        assert statuses[:3] == [200] * 3 and 429 in statuses


def test_usernames_and_emails_are_unique_in_any_case_and_weak_passwords_are_refused(client):
    register(client, "alice")
    for username, email in (
        ("Alice", "other@example.org"),
        ("ALICE", "x@example.org"),
        ("bob", "ALICE@example.org"),
    ):
        body = {"username": username, "email": email, "password": "correct horse"}
        assert_error(client.post("/v1/auth/register", json=body), 409, "conflict")
    assert "Authorization" in login(client, "ALICE")  # logging in is case-insensitive too
    for weak in ("12345678", "password", "aaaaaaaaaa", "1234512345", "carol-secret-x"):
        body = {"username": "carol", "email": "carol@example.org", "password": weak}
        assert_error(client.post("/v1/auth/register", json=body), 422, "validation_error")


def test_responses_carry_browser_hardening_headers(client):
    for path in ("/", "/healthz", "/v1/model"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    csp = client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    # The API docs need their inline start-up script, but still nothing from outside.
    docs = client.get("/docs").headers["Content-Security-Policy"]
    assert "script-src 'self' 'unsafe-inline'" in docs and "http" not in docs


def test_the_database_file_is_readable_by_its_owner_only(client, service_settings):
    import stat

    if service_settings.database_url:
        pytest.skip("PostgreSQL: no database file")
    headers = register(client, "dave")
    assert client.post("/v1/analyze", files={"file": ("a.jpg", image_bytes())}, headers=headers).status_code == 201
    images = [p for p in service_settings.images_dir.rglob("*") if p.is_file()]
    key = service_settings.data_dir / "secret.key"
    database = service_settings.data_dir / "artifact.db"
    # Each one must exist (a check that skips missing files passes when nothing is written).
    owned = [database, *images] + ([key] if not service_settings.secret_key else [])
    assert database.is_file() and len(images) == 1
    wal = service_settings.data_dir / "artifact.db-wal"
    for path in owned + ([wal] if wal.exists() else []):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_logout_revokes_every_token_and_a_reused_id_inherits_nothing(client, service_settings):
    from sqlalchemy import create_engine, text

    first = register(client, "erin")
    second = login(client, "erin")
    assert client.post("/v1/auth/logout", headers=first).status_code == 204
    for headers in (first, second):  # every session of that user, not only the caller's
        assert_error(client.get("/v1/auth/me", headers=headers), 401)
    fresh = login(client, "erin")
    assert client.get("/v1/auth/me", headers=fresh).json()["username"] == "erin"

    # A user deleted behind the service's back; the next user may get the same id (SQLite).
    doomed = register(client, "frank")
    frank_id = client.get("/v1/auth/me", headers=doomed).json()["id"]
    engine = create_engine(service_settings.resolved_database_url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM users WHERE id = :id"), {"id": frank_id})
    engine.dispose()
    register(client, "grace")
    assert_error(client.get("/v1/auth/me", headers=doomed), 401)


def test_login_is_throttled_per_username_and_unknown_names_cost_the_same(service_settings):
    """60 wrong passwords in a row all answered 401; an unknown username answered 6x faster."""
    import time

    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    settings = service_settings.model_copy(update={"login_attempts_per_minute": 5})
    with TestClient(create_app(settings)) as client:
        register_only = client.post(
            "/v1/auth/register",
            json={"username": "jody", "email": "jody@example.org", "password": "correct horse"},
        )
        assert register_only.status_code == 201
        statuses = [
            client.post("/v1/auth/login", json={"username": "jody", "password": f"wrong {i}"}).status_code
            for i in range(7)
        ]
        assert statuses == [401] * 5 + [429] * 2
        # The OAuth2 form shares the per-username count.
        assert client.post("/v1/auth/token", data={"username": "JODY", "password": "x"}).status_code == 429
        # Another username is not locked out by those attempts (the address limit is 3x).
        assert client.post("/v1/auth/login", json={"username": "ann", "password": "x"}).status_code == 401

    def timed(username: str) -> float:
        started = time.perf_counter()
        from artifact.security import verify_password

        verify_password("wrong", None if username == "unknown" else hash_of_known)
        return time.perf_counter() - started

    from artifact.security import hash_password

    hash_of_known = hash_password("correct horse")
    known = sorted(timed("jo") for _ in range(5))[2]
    unknown = sorted(timed("unknown") for _ in range(5))[2]
    assert unknown > 0.5 * known  # the dummy hash makes an unknown name cost a real check


@pytest.mark.parametrize(
    ("username", "email", "password", "accepted"),
    [("joe", "jo@example.org", "Major-Velvet-93", True), ("ted", "t@example.org", "Tiger-Stripe-88", True),
     ("jody", "jody@example.org", "jody-rocks-2026", False), ("ann", "annabel@example.org", "xAnnabel-77", False)],
)  # fmt: skip
def test_the_password_rule_refuses_personal_parts_not_single_letters(
    client, username, email, password, accepted
):
    response = client.post(
        "/v1/auth/register", json={"username": username, "email": email, "password": password}
    )
    if accepted:
        assert response.status_code == 201, response.text
    else:
        error = assert_error(response, 422, "validation_error")
        assert error["message"] == "the password is too weak: it contains your username or email"


def test_validation_messages_are_ours_in_words(client):
    response = client.post(
        "/v1/auth/register", json={"username": "a b", "email": "not-an-email", "password": "short"}
    )
    message = assert_error(response, 422, "validation_error")["message"]
    assert "a username is 3-64 letters" in message and "that is not an email address" in message
    assert "password needs at least 8 characters" in message
    assert "pattern" not in message and "Value error" not in message and "^" not in message


def test_users_create_applies_the_same_password_rule(tmp_path, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("jody-rocks-2026\n"))
    args = [
        "users",
        "create",
        "jody",
        "--email",
        "jody@example.org",
        "--password-stdin",
        "--data-dir",
        str(tmp_path),
    ]
    assert main(args) == 2
    assert "contains your username or email" in " ".join(capsys.readouterr().err.split())


def test_racing_processes_share_one_private_secret_key(tmp_path):
    """Eight processes creating secret.key at once: one key, mode 0600, never half written."""
    import stat
    import subprocess
    import sys

    code = (
        "import sys; from artifact.config import Settings; "
        f"print(Settings(data_dir={str(tmp_path)!r}).signing_key())"
    )
    processes = [
        subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(8)
    ]
    keys = {p.communicate()[0].strip() for p in processes}
    path = tmp_path / "secret.key"
    assert len(keys) == 1 and len(keys.pop()) >= 60
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(tmp_path.glob(".secret-*"))  # no temporary files left


def test_users_list_set_password_and_set_role(tmp_path, monkeypatch, capsys):
    import io
    import json

    from fastapi.testclient import TestClient

    from artifact.api.app import create_app
    from artifact.config import Settings

    data = ["--data-dir", str(tmp_path)]
    monkeypatch.setattr("sys.stdin", io.StringIO("Velvet-Harbor-4417\n"))
    assert main(["users", "create", "mara", "--email", "mara@example.org", "--password-stdin", *data]) == 0
    capsys.readouterr()
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40)
    with TestClient(create_app(settings)) as client:
        old = login(client, "mara", "Velvet-Harbor-4417")
        assert client.get("/v1/auth/me", headers=old).json()["role"] == "juror"
        assert main(["users", "set-role", "mara", "admin", *data]) == 0
        assert client.get("/v1/auth/me", headers=old).json()["role"] == "admin"
        monkeypatch.setattr("sys.stdin", io.StringIO("Copper-Lantern-5521\n"))
        assert main(["users", "set-password", "mara", "--password-stdin", *data]) == 0
        assert client.get("/v1/auth/me", headers=old).status_code == 401  # old tokens revoked
        assert (
            client.post(
                "/v1/auth/login", json={"username": "mara", "password": "Velvet-Harbor-4417"}
            ).status_code
            == 401
        )
        login(client, "mara", "Copper-Lantern-5521")
    capsys.readouterr()
    assert main(["users", "list", "--json", *data]) == 0
    assert [(u["username"], u["role"]) for u in json.loads(capsys.readouterr().out)] == [("mara", "admin")]
    assert main(["users", "set-role", "nobody", "admin", *data]) == 2
    assert "no account named 'nobody'" in capsys.readouterr().err


def test_an_api_key_of_a_deleted_user_answers_401_not_500(client, service_settings):
    if service_settings.database_url:
        pytest.skip("PostgreSQL always cascades the delete: no orphaned key can exist there")
    headers = register(client, "leaver")
    key = client.post("/v1/api-keys", json={"name": "ci"}, headers=headers).json()["key"]
    raw = client.app.state.engine.raw_connection()
    try:  # the orphan an older database without the cascade left behind
        raw.execute("PRAGMA foreign_keys=OFF")
        raw.execute("DELETE FROM users WHERE username = 'leaver'")
        raw.commit()
    finally:
        raw.close()
    response = client.get("/v1/analyses", headers={"X-API-Key": key})
    assert_error(response, 401, "unauthorized")


def test_an_over_limit_upload_is_refused_before_its_body_is_read(service_settings, monkeypatch):
    """An over-limit caller had a 300 MB body read for 9.6 s before its 429."""
    from fastapi.testclient import TestClient
    from starlette.formparsers import MultiPartParser

    from artifact.api.app import create_app

    parsed = []
    real_parse = MultiPartParser.parse

    async def counting_parse(self):
        parsed.append(1)
        return await real_parse(self)

    monkeypatch.setattr(MultiPartParser, "parse", counting_parse)
    settings = service_settings.model_copy(update={"rate_limit_per_minute": 2})
    with TestClient(create_app(settings)) as client:
        headers = register(client, "uploader")
        assert [upload(client, headers).status_code for _ in range(2)] == [201, 201]  # counted once each
        assert len(parsed) == 2
        limited = upload(client, headers)
        assert_error(limited, 429, "rate_limited")
        assert len(parsed) == 2  # the third body was never parsed


def test_the_rate_limit_window_slides_across_the_minute_boundary(service_settings, monkeypatch):
    """A fixed one-minute window let twice the limit through around a minute boundary."""
    from fastapi.testclient import TestClient

    from artifact.api import rate_limit
    from artifact.api.app import create_app

    settings = service_settings.model_copy(update={"rate_limit_per_minute": 4})
    minute = (int(rate_limit.time.time()) // 60 + 10) * 60
    clock = {"now": minute - 2.0}  # two seconds before a minute boundary
    monkeypatch.setattr(rate_limit.time, "time", lambda: clock["now"])
    with TestClient(create_app(settings)) as client:
        headers = register(client, "burst")  # register and login are not counted
        before = [client.get("/v1/analyses", headers=headers).status_code for _ in range(4)]
        clock["now"] = minute + 1.0  # just after the boundary: a fixed window starts afresh
        after = [client.get("/v1/analyses", headers=headers).status_code for _ in range(4)]
        assert before == [200] * 4 and after == [429] * 4
        # Refused attempts count too (hammering keeps a client limited); half a minute into the
        # next window the previous one weighs half: 5 x 0.5 + 1 <= 4.
        clock["now"] = minute + 90.0
        assert client.get("/v1/analyses", headers=headers).status_code == 200


def test_a_token_is_refused_once_its_lifetime_has_passed(service_settings, monkeypatch):
    """TOKEN_TTL_MINUTES: a login token works until then and is 401 from then on (the clock the
    token check reads is moved, nothing else)."""
    import datetime as real

    import jwt.api_jwt
    from fastapi.testclient import TestClient

    from artifact.api.app import create_app

    settings = service_settings.model_copy(update={"token_ttl_minutes": 30})
    with TestClient(create_app(settings)) as client:
        headers = register(client, "tess")
        assert client.get("/v1/analyses", headers=headers).status_code == 200
        shift = real.timedelta(minutes=0)

        class Clock(real.datetime):
            @classmethod
            def now(cls, tz=None):
                return real.datetime.now(tz) + shift

        monkeypatch.setattr(jwt.api_jwt, "datetime", Clock)
        shift = real.timedelta(minutes=29)
        assert client.get("/v1/analyses", headers=headers).status_code == 200
        shift = real.timedelta(minutes=31)
        expired = client.get("/v1/analyses", headers=headers)
    assert expired.status_code == 401
    assert expired.json()["error"]["message"] == "invalid or expired token"
