"""A request id in every log line of a request, and on its response (``X-Request-ID``).

The id is the client's ``X-Request-ID`` when it is a short token (a proxy's, so one id follows
the request through every hop), else a fresh one. It lives in a context variable, which the
thread pool running the routes copies, so logging from the analysis code carries it too.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_TOKEN = re.compile(rb"^[A-Za-z0-9._\-]{1,64}$")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"")
        request_id = given.decode() if _TOKEN.match(given) else uuid.uuid4().hex[:16]
        token = REQUEST_ID.set(request_id)

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        finally:
            REQUEST_ID.reset(token)


def install_request_logging() -> None:
    """Give every log record a ``request_id`` ("-" outside a request)."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "adds_request_id", False):

        def with_request_id(*args, **kwargs) -> logging.LogRecord:
            record = factory(*args, **kwargs)
            record.request_id = REQUEST_ID.get()
            return record

        with_request_id.adds_request_id = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(with_request_id)
    # Logging itself stays the application's to configure (the command line shows the id
    # with LOG_FORMAT); a library user's root logger is not touched beyond this filter.
    for handler in logging.getLogger().handlers:
        # Records made without the factory (logging.makeLogRecord, other processes' records)
        # still format.
        if not any(isinstance(f, _DefaultRequestId) for f in handler.filters):
            handler.addFilter(_DefaultRequestId())


class _DefaultRequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = "-"
        return True
