"""Helpers for the API tests: accounts, headers and image bytes."""

from __future__ import annotations

import io
import itertools

import numpy as np

from tests.support.art import make_art

_counter = itertools.count()


def image_bytes(kind: str = "ai", size: int = 64, fmt: str = "JPEG", seed: int | None = None) -> bytes:
    rng = np.random.default_rng(next(_counter) if seed is None else seed)
    buffer = io.BytesIO()
    make_art(kind, size, rng).save(buffer, format=fmt)
    return buffer.getvalue()


def register(client, username: str, password: str = "correct horse") -> dict[str, str]:
    """Register and log in; returns the bearer header."""
    response = client.post(
        "/v1/auth/register",
        json={"username": username, "email": f"{username}@example.org", "password": password},
    )
    assert response.status_code == 201, response.text
    return login(client, username, password)


def login(client, username: str, password: str = "correct horse") -> dict[str, str]:
    response = client.post("/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def upload(
    client,
    headers,
    data: bytes | None = None,
    name: str = "art.jpg",
    path: str = "/v1/analyze",
    **form,
):
    files = {"file": (name, data if data is not None else image_bytes(), "application/octet-stream")}
    return client.post(path, files=files, data=form or None, headers=headers)


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) >= {"error"} and {"code", "message"} <= set(body["error"]), body
    if code:
        assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    return body["error"]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    """One PNG chunk: length, type, body, CRC."""
    import zlib

    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def png_bomb(side: int) -> bytes:
    """A valid PNG header claiming side x side RGB pixels, with almost no data behind it."""
    import zlib

    header = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    idat = zlib.compress(b"\0" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")
    )


def card_cut_points(model_dir) -> tuple[float, float]:
    """(human cut, AI cut) as a model's card states them (card_format 2)."""
    import json
    from pathlib import Path

    decision = json.loads((Path(model_dir) / "model.json").read_text())["decision"]
    return decision["human_cut"], decision["ai_cut"]


def expected_verdict(prob_ai: float, cuts: tuple[float, float]) -> str:
    """The documented rule, written out independently of the code under test."""
    human_cut, ai_cut = cuts
    return "ai" if prob_ai >= ai_cut else "human" if prob_ai <= human_cut else "uncertain"
