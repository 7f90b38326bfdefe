"""One error family: every domain error is an ArtifactError with a code, status and message,
rendered by one API handler (the JSON envelope) and one CLI handler (one line, exit 2)."""

from __future__ import annotations

import pytest

from artifact.api.errors import ApiError, NotFound
from artifact.errors import ArtifactError, UserFacingError
from artifact.inference.decode import ImageDecodeError, TooManyScansError
from artifact.inference.memory_budget import MemoryBudgetTimeout
from artifact.jobs.intake import IntakeError
from artifact.storage.database import NulCharacterError


@pytest.mark.parametrize(
    "error, code, status",
    [
        (ImageDecodeError("x"), "invalid_image", 400),
        (TooManyScansError("x"), "too_many_scans", 422),
        (IntakeError("x", "too_many_files"), "too_many_files", 400),
        (NulCharacterError("x"), "nul_character", 422),
        (MemoryBudgetTimeout("x"), "busy", 503),
        (NotFound("x"), "not_found", 404),
        (UserFacingError("x"), "bad_input", 400),
    ],
)
def test_every_domain_error_is_one_of_ours(error, code, status):
    assert isinstance(error, ArtifactError) and (error.code, error.status, error.message) == (code, status, "x")


def test_one_api_handler_renders_any_of_them():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from artifact.api.errors import install_error_handlers

    app = FastAPI()
    install_error_handlers(app)
    raised = {"busy": MemoryBudgetTimeout("the server is busy"), "scans": TooManyScansError("too many scans"),
              "api": ApiError("plain")}  # fmt: skip

    @app.get("/{name}")
    def fail(name: str):
        raise raised[name]

    client = TestClient(app)
    busy = client.get("/busy")
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "10"
    assert busy.json() == {"error": {"code": "busy", "message": "the server is busy"}}
    assert client.get("/scans").json()["error"]["code"] == "too_many_scans"
    assert client.get("/api").status_code == 400


def test_one_cli_handler_prints_one_line(monkeypatch, capsys):
    from artifact import cli

    def refuse(_args):
        raise NulCharacterError("text may not contain NUL characters")

    parser = cli.build_parser
    monkeypatch.setattr(cli, "build_parser", lambda: _with_handler(parser(), refuse))
    assert cli.main(["inspect", "x.png"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "NUL characters" in err and "Traceback" not in err


def _with_handler(parser, handler):
    parser._subparsers._group_actions[0].choices["inspect"].set_defaults(handler=handler)
    return parser
