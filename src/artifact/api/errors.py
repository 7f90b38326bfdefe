"""One JSON error envelope for every error: ``{"error": {"code", "message"}}``.

The status travels with the exception class; a 5xx never shows its cause to the client.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from artifact.errors import ArtifactError
from artifact.storage.database import is_lock_timeout

log = logging.getLogger(__name__)


class ApiError(ArtifactError):
    """An error only the API raises (authentication, not found, limits of a request)."""


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class QuotaExceeded(ApiError):
    status, code = 403, "quota_exceeded"


class Conflict(ApiError):
    status, code = 409, "conflict"


class UnprocessableEntity(ApiError):
    status, code = 422, "validation_error"


class PayloadTooLarge(ApiError):  # a request over its limit (a batch, a job)
    status, code = 413, "payload_too_large"


class TooManyRequests(ApiError):
    status, code = 429, "rate_limited"


class ServiceUnavailable(ApiError):
    status, code = 503, "not_ready"


def envelope(status: int, code: str, message: str, headers=None, details=None) -> JSONResponse:
    body: dict = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ArtifactError)
    async def _ours(_request: Request, exc: ArtifactError) -> JSONResponse:
        # Every domain error: a bad image, a broken limit, a NUL, a full memory budget...
        return envelope(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(OperationalError)
    async def _database(request: Request, exc: OperationalError) -> JSONResponse:
        if is_lock_timeout(exc):
            return envelope(503, "busy", "the database is busy; retry in a moment", {"Retry-After": "5"})
        log.exception("database error on %s %s", request.method, request.url.path)
        return envelope(500, "internal_error", "internal server error")

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        words = "; ".join(dict.fromkeys(_in_words(e) for e in exc.errors()))
        return envelope(422, "validation_error", words or "the request is not valid", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            413: "payload_too_large",
        }
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        headers = dict(exc.headers or {})
        # The body-size limit names its own code (file_too_large or payload_too_large).
        code = headers.pop("X-Error-Code", None) or codes.get(exc.status_code, "http_error")
        return envelope(exc.status_code, code, message, headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return envelope(500, "internal_error", "internal server error")


# What a person reads for the fields whose raw validation text is a regular expression.
_FIELD_RULES = {
    "username": "a username is 3-64 letters, digits, '_', '.' or '-'",
    "email": "that is not an email address",
}


def _in_words(error: dict) -> str:
    """One validation error as a sentence of ours (no patterns, no 'Value error,')."""
    field = str(error.get("loc", ("",))[-1])
    kind = error.get("type", "")
    message = str(error.get("msg", ""))
    if kind == "value_error":
        return message.removeprefix("Value error, ")
    if field in _FIELD_RULES and kind in ("string_pattern_mismatch", "string_too_short", "string_too_long"):
        return _FIELD_RULES[field]
    if kind == "missing":
        return f"{field} is required"
    if kind == "string_too_short":
        return f"{field} needs at least {error.get('ctx', {}).get('min_length')} characters"
    if kind == "string_too_long":
        return f"{field} may have at most {error.get('ctx', {}).get('max_length')} characters"
    return f"{field}: {message}" if field else message
