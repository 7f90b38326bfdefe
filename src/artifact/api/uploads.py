"""Upload size limits, enforced while the body streams in rather than after buffering it."""

from __future__ import annotations

from fastapi import UploadFile
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artifact.api.errors import ApiError, PayloadTooLarge, envelope

# Multipart framing (boundaries, headers, form fields) on top of the file bytes.
MULTIPART_OVERHEAD = 64 * 1024


class BodySizeLimit:
    """ASGI middleware: refuse a body over the route's limit with 413, as early as possible.

    A declared ``Content-Length`` over the limit is refused before any byte is read; a
    chunked or lying client is cut off as soon as the running count passes the limit.
    """

    def __init__(self, app: ASGIApp, limit_for):
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = envelope(413, PayloadTooLarge.code, f"request body over the limit of {limit} bytes")
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"request body over the limit of {limit} bytes")
            return message

        await self.app(scope, limited_receive, send)


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The file's bytes, refusing (413) any single file over ``max_bytes``."""
    data = upload.file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"file {upload.filename!r} is over the limit of {max_bytes} bytes")
    if not data:
        raise ApiError(f"file {upload.filename!r} is empty")
    return data
