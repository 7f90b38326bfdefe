"""Check credentials of upload requests before their body is read.

FastAPI parses a multipart form before it resolves the route's dependencies, so without this
an anonymous client could make the server read (and spool to disk) a whole batch body before
answering 401. The gate answers 401 from the headers alone, and counts the request against
the caller's rate limit there too (429 before the body, which an over-limit caller had read
for 9.6 s); the route's own dependency then authenticates again without counting twice.
"""

from __future__ import annotations

from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from artifact.api.deps import authenticate
from artifact.api.errors import TooManyRequests, Unauthorized, envelope
from artifact.storage.database import is_lock_timeout

# Set on a request whose rate limit the gate already counted.
RATE_COUNTED = "rate_limit_counted"
UPLOAD_ROUTES = {"/v1/analyze", "/v1/analyze/batch", "/v1/artworks", "/v1/jobs"}


class AuthenticateUploads:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in UPLOAD_ROUTES:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        authorization = headers.get(b"authorization", b"").decode("latin-1")
        scheme, _, token = authorization.partition(" ")
        api_key = headers.get(b"x-api-key", b"").decode("latin-1") or None
        state = scope["app"].state
        try:
            await run_in_threadpool(
                self._check, state, token if scheme.lower() == "bearer" else None, api_key
            )
        except (Unauthorized, TooManyRequests) as exc:
            await envelope(exc.status, exc.code, exc.message, exc.headers)(scope, receive, send)
            return
        except OperationalError as exc:
            if not is_lock_timeout(exc):
                raise
            # Counting the rate limit waited out the database's busy timeout: the same 503 the
            # routes answer (this runs before them, outside their error handlers).
            busy = "the database is busy; try again shortly"
            await envelope(503, "busy", busy, {"Retry-After": "5"})(scope, receive, send)
            return
        scope.setdefault("state", {})[RATE_COUNTED] = True
        await self.app(scope, receive, send)

    @staticmethod
    def _check(state, token: str | None, api_key: str | None) -> None:
        with state.sessions() as session:
            _user, principal = authenticate(session, state.settings, token, api_key)
        state.rate_limiter.hit(principal)
