"""Upload size limits, enforced while the body streams in rather than after buffering it."""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from fastapi import UploadFile
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from artifact.api.errors import QuotaExceeded, envelope
from artifact.inference.decode import EmptyImageError, ImageTooLargeError
from artifact.storage.quota import room_left
from artifact.units import byte_size

# A client silent this long while we drain is waiting for the answer: stop draining.
DRAIN_IDLE_SECONDS = 1.0
# Multipart framing (boundaries, headers, form fields) on top of the file bytes.
MULTIPART_OVERHEAD = 64 * 1024


class BodySizeLimit:
    """ASGI middleware: refuse a body over the route's limit with 413, as early as possible.

    A declared ``Content-Length`` over the limit is refused before any byte is processed; a
    chunked or lying client is cut off as soon as the running count passes the limit. Before
    the 413 goes out, the rest of the body is read and discarded (up to ``drain_bytes`` and
    ``drain_seconds``), as common servers do: a client that sends its whole body before
    reading (``requests``, ``urllib``) then receives the 413 and its JSON body instead of a
    connection reset (the ASGI server closes a connection whose body was left unread, and
    cannot read it once the response is complete). A client that asked ``Expect:
    100-continue`` has sent nothing yet and gets the 413 at once.
    """

    def __init__(
        self, app: ASGIApp, limit_for, drain_bytes: int = 128 * 1024**2, drain_seconds: float = 30.0
    ):
        self.app = app
        self.limit_for = limit_for
        self.drain_bytes = drain_bytes
        self.drain_seconds = drain_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        chunked = b"chunked" in headers.get(b"transfer-encoding", b"").lower()
        # A client that asked "Expect: 100-continue" sends nothing until told to: no drain.
        waits_for_continue = headers.get(b"expect", b"").lower() == b"100-continue"
        body_left = not waits_for_continue and (
            chunked or (declared is not None and declared not in (b"", b"0"))
        )
        received = 0

        async def counted_receive() -> Message:
            nonlocal received, body_left
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                body_left = message.get("more_body", False)
                if received > limit.max_bytes:
                    # An HTTPException, which FastAPI's body parsing re-raises as is (anything
                    # else it turns into a 400); the envelope handler renders its code and 413.
                    raise HTTPException(413, _over(limit), headers={"X-Error-Code": limit.code})
            else:
                body_left = False
            return message

        async def draining_send(message: Message) -> None:
            nonlocal body_left
            # Any early answer (413 here, 401 before the form is parsed...) waits for the
            # unread body to be drained, or the client would see a reset instead of it.
            if message["type"] == "http.response.start" and body_left:
                body_left = False
                await self._drain(receive)
            await send(message)

        if declared is not None and declared.isdigit() and int(declared) > limit.max_bytes:
            response = envelope(413, limit.code, _over(limit))
            await response(scope, receive, draining_send)
            return
        await self.app(scope, counted_receive, draining_send)

    async def _drain(self, receive: Receive) -> None:
        """Read and drop the rest of the body, within the byte and time bounds.

        Stops early once the client pauses for :data:`DRAIN_IDLE_SECONDS`: a client that is
        waiting for the answer (not sending) gets it at once.
        """
        drained, more_body = 0, True
        with anyio.move_on_after(self.drain_seconds):
            while more_body and drained <= self.drain_bytes:
                message = None
                with anyio.move_on_after(DRAIN_IDLE_SECONDS):
                    message = await receive()
                if message is None or message["type"] != "http.request":
                    return  # the client paused (it waits for us) or went away
                drained += len(message.get("body", b""))
                more_body = message.get("more_body", False)


def _over(limit: BodyLimit) -> str:
    return f"the upload is over the limit of {limit.words}"


def read_upload(upload: UploadFile, max_bytes: int) -> bytes:
    """The file's bytes, refusing any single file over ``max_bytes`` (413 ``file_too_large``)
    or empty (400 ``empty_file``): the codes and words the command line gives for a file."""
    data = upload.file.read(max_bytes + 1)
    name = upload.filename or "the upload"
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{name}: the file is over the limit of {byte_size(max_bytes)} per file")
    if not data:
        raise EmptyImageError(f"{name}: the file is empty")
    return data


@dataclass(frozen=True)
class BodyLimit:
    """A route's request-body limit, and how its 413 names it."""

    max_bytes: int
    code: str
    words: str  # "25 MB per file", "16 files of 25 MB each", ...


def ensure_storage_room(session, user, incoming: int, quota_mb: int) -> None:
    """Refuse (403 ``quota_exceeded``) an upload that would take the user past their quota."""
    left = room_left(session, user.id, quota_mb * 1024 * 1024)
    session.commit()  # end the read snapshot before the long analysis
    if left is not None and incoming > left:
        raise QuotaExceeded(
            f"your stored images would pass your quota of {byte_size(quota_mb * 1024 * 1024)} "
            f"({byte_size(max(left, 0))} left, this upload is {byte_size(incoming)}); "
            "an administrator can raise STORAGE_QUOTA_MB, or delete batch jobs you no longer need"
        )
