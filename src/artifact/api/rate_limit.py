"""Per-user request limits, counted in the database so that every worker and replica shares them.

A sliding one-minute window, approximated from two fixed ones: the current minute's count plus
the previous minute's weighted by how much of it still lies within the last 60 s (a fixed
window alone let twice the limit through across a minute boundary). One upsert per request
(``INSERT .. ON CONFLICT DO UPDATE .. RETURNING``, atomic on both SQLite and PostgreSQL) and one
read of the previous minute. Windows older than the previous minute are deleted now and then
by whichever request starts a new window.
"""

from __future__ import annotations

import time

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from artifact.api.errors import TooManyRequests
from artifact.storage.tables import RateLimitWindow


class RateLimiter:
    def __init__(
        self, per_minute: int, sessions: sessionmaker[Session] | None = None, what: str = "requests"
    ):
        self.per_minute = per_minute
        self.sessions = sessions
        self.what = what
        self._last_pruned_window = 0

    def hit(self, principal: str) -> None:
        """Count one request; raises ``TooManyRequests`` past the limit."""
        if self.per_minute <= 0 or self.sessions is None:
            return
        now = time.time()
        window = int(now // 60)
        current, previous = self._count(principal, window)
        still_inside = 1.0 - (now % 60) / 60  # the share of the previous minute within 60 s
        if current + previous * still_inside > self.per_minute:
            raise TooManyRequests(
                f"{self.what}: the limit is {self.per_minute} per minute"
                if self.what != "requests"
                else f"rate limit of {self.per_minute} requests per minute exceeded",
                headers={"Retry-After": str(int(60 - now % 60) + 1)},
            )

    def _count(self, principal: str, window: int) -> tuple[int, int]:
        """(hits in this minute's window, counting this one; hits in the previous window)."""
        with self.sessions.begin() as session:
            dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
            statement = (
                dialect.insert(RateLimitWindow)
                .values(principal=principal[:64], window=window, hits=1)
                .on_conflict_do_update(
                    index_elements=["principal", "window"], set_={"hits": RateLimitWindow.hits + 1}
                )
                .returning(RateLimitWindow.hits)
            )
            count = session.execute(statement).scalar_one()
            previous = session.scalar(
                select(RateLimitWindow.hits).where(
                    RateLimitWindow.principal == principal[:64], RateLimitWindow.window == window - 1
                )
            )
            if window != self._last_pruned_window:
                self._last_pruned_window = window
                session.execute(delete(RateLimitWindow).where(RateLimitWindow.window < window - 1))
        return count, previous or 0
