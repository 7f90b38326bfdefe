"""One family of errors in our own words.

Every domain error subclasses :class:`ArtifactError`: a stable machine-readable ``code`` (the
ones the README documents), the HTTP ``status`` the API answers with, and a ``message`` for a
person. The API renders any of them as its JSON envelope with one handler; the command line
prints the message as one line (no traceback) with one handler.
"""

from __future__ import annotations


class ArtifactError(Exception):
    code = "bad_request"
    status = 400
    headers: dict[str, str] | None = None

    def __init__(
        self, message: str, *, code: str | None = None, status: int | None = None,
        headers: dict[str, str] | None = None,
    ):  # fmt: skip
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if headers is not None:
            self.headers = headers


class UserFacingError(ArtifactError):
    """Caused by the user's input to a command: bad paths, bad datasets, bad options."""

    code = "bad_input"
