"""uvicorn's h11 protocol with the read deadlines and the per-address cap it lacks.

uvicorn bounds idle keep-alive connections but not a request in progress: 300 sockets holding
an incomplete request head made every other request answer 503 until they closed, and a body
trickled at 200 B/s kept its connection for as long as the client liked. Here, per connection:
- the request head must be complete within ``head_timeout_seconds`` (answered 408, closed);
- a request body must keep arriving at ``body_min_bytes_per_second`` on average over each
  ``BODY_CHECK_SECONDS`` window (closed otherwise), so a slow but real upload still passes;
- one client address holds at most ``max_connections_per_address`` connections (more: 503).
The settings are read from the environment (``ARTIFACT_*``) once per worker process.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

from uvicorn.protocols.http.h11_impl import H11Protocol

BODY_CHECK_SECONDS = 5.0
_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
_BUSY = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


@cache
def _limits() -> tuple[float, float, int]:
    from artifact.config import Settings

    settings = Settings()
    return (settings.head_timeout_seconds, settings.body_min_bytes_per_second,
            settings.max_connections_per_address)  # fmt: skip


class GuardedH11Protocol(H11Protocol):
    """H11Protocol plus head and body deadlines and a connection cap per client address."""

    open_by_address: Counter = Counter()  # per worker process: every connection shares it

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        head_timeout, self._min_rate, cap = _limits()
        self._address = self.client[0] if self.client else "-"
        self._deadline = None
        self._seen_cycle = None
        self._body_bytes = 0
        self.open_by_address[self._address] += 1
        if self.open_by_address[self._address] > cap:
            transport.write(_BUSY)
            transport.close()
            return
        self._arm(head_timeout, self._head_too_slow)

    def data_received(self, data: bytes) -> None:
        self._body_bytes += len(data)
        super().data_received(data)
        cycle = self.cycle
        if cycle is None or cycle is self._seen_cycle:
            if cycle is not None and not cycle.more_body:
                self._disarm()  # the whole request is in: the app's own time is not ours
            return
        # A new request's head just completed: from now on its body has to keep coming.
        self._seen_cycle = cycle
        if cycle.more_body:
            self._body_bytes = 0
            self._arm(BODY_CHECK_SECONDS, self._check_body_rate)
        else:
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            # The next request's head: the keep-alive wait, then the head deadline.
            self._arm(self.timeout_keep_alive + _limits()[0], self._head_too_slow)

    def connection_lost(self, exc) -> None:
        self._disarm()
        self.open_by_address[self._address] -= 1
        if self.open_by_address[self._address] <= 0:
            del self.open_by_address[self._address]
        super().connection_lost(exc)

    def _arm(self, seconds: float, callback) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, callback)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_too_slow(self) -> None:
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: not idle
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT)
            self.transport.close()

    def _check_body_rate(self) -> None:
        cycle = self.cycle
        if cycle is None or not cycle.more_body or self.transport.is_closing():
            return
        if self.flow.read_paused:  # we stopped reading (the app is behind): not the client's fault
            self._body_bytes = 0
            self._arm(BODY_CHECK_SECONDS, self._check_body_rate)
            return
        if self._body_bytes < self._min_rate * BODY_CHECK_SECONDS:
            self.transport.close()  # the app sees a disconnect; nothing is recorded
            return
        self._body_bytes = 0
        self._arm(BODY_CHECK_SECONDS, self._check_body_rate)
