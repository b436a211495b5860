"""What keeps ``digitgan serve`` answering when clients are slow, idle, greedy or malformed.

    digitgan serve RUN --limit-concurrency 64 --max-connections 256

Two caps, each on its own resource:

- **work** (``--limit-concurrency``): requests in flight, counted by :class:`RequestLimit`
  from the moment a request head has arrived until its answer is sent. One more is
  answered 503 at once; refusals are logged once per ``LOG_EVERY`` seconds, not per request.
- **connections** (``--max-connections``): open sockets, counted by :class:`GuardedH11`. A
  connection that sends no complete request head within ``HEAD_TIMEOUT`` seconds (from
  opening, or from its last answer) is closed, with 408 if it had sent part of one; a new
  connection over the cap closes the oldest one that is waiting for a request head, and
  only when every connection has a request in flight is the newcomer answered 503.

Idle sockets therefore never hold work places, and a slow-loris client holds at most
``--max-connections`` sockets for at most ``HEAD_TIMEOUT`` seconds each. A request line
over ``MAX_HEAD_BYTES`` gets 414, headers over it 431, and the connection reads and drops
what the client still sends (up to ``DRAIN_BYTES`` or ``DRAIN_SECONDS``) before closing, so
that the client reads the answer rather than a reset. :class:`RequestBounds` refuses a
request body (413) and a parameter given twice (422).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from http import HTTPStatus
from urllib.parse import parse_qsl

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from digitgan.serving.limits import (
    DEFAULT_CONNECTIONS,
    DRAIN_BYTES,
    DRAIN_SECONDS,
    HEAD_TIMEOUT,
    LOG_EVERY,
    MAX_HEAD_BYTES,
)

logger = logging.getLogger("uvicorn.error")


def problem(status: int, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and JSON body of an answer whose ``detail`` says what to change."""
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    if status == 503:
        headers.append((b"retry-after", b"1"))
    return headers, body


async def refuse(send, status: int, detail: str) -> None:
    """Answer an ASGI request with ``status`` and a one-line ``detail``."""
    headers, body = problem(status, detail)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def raw_answer(status: int, detail: str) -> bytes:
    """The same answer as bytes on the wire, for a connection that no request reached."""
    headers, body = problem(status, detail)
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}".encode()] + [k + b": " + v for k, v in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class RequestBounds:
    """ASGI middleware: refuse a request whose headers pass MAX_HEAD_BYTES (431), that
    carries a body (413) or that gives a query parameter twice (422), before the route
    reads anything. The API takes its parameters from bounded query strings, so no body
    needs a size limit, and a repeated parameter would silently take its last value."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            refusal = self.refusal(scope)
            if refusal is not None:
                return await refuse(send, *refusal)
        await self.app(scope, receive, send)

    @staticmethod
    def refusal(scope) -> tuple[int, str] | None:
        headers = dict(scope["headers"])
        if sum(len(k) + len(v) for k, v in scope["headers"]) > MAX_HEAD_BYTES:
            return 431, f"request headers over {MAX_HEAD_BYTES // 1024} KiB"
        length = headers.get(b"content-length", b"0").strip()
        if b"transfer-encoding" in headers or length not in (b"", b"0"):
            return 413, "this API takes no request body; pass the parameters in the query string"
        seen: set[str] = set()
        for name, _ in parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True):
            if name in seen:
                return 422, f"{name}: given more than once; give each parameter once"
            seen.add(name)
        return None


class RequestLimit:
    """ASGI middleware: at most ``limit`` requests in flight; one more is answered 503 at
    once. Refusals are counted and logged at most once per LOG_EVERY seconds."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit
        self.in_flight = 0
        self.refused = 0  # since the last warning
        self.last_warning = -float("inf")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.in_flight >= self.limit:
            self._count_refusal()
            return await refuse(
                send, 503, f"the server is busy with {self.limit} requests (--limit-concurrency); try again"
            )
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1

    def _count_refusal(self) -> None:
        self.refused += 1
        now = time.monotonic()
        if now - self.last_warning >= LOG_EVERY:
            logger.warning(
                "digitgan: answered 503 to %d request%s over the limit of %d in flight "
                "(--limit-concurrency; this warning comes at most every %g s)",
                self.refused,
                "" if self.refused == 1 else "s",
                self.limit,
                LOG_EVERY,
            )
            self.refused, self.last_warning = 0, now


class GuardedH11(H11Protocol):
    """uvicorn's h11 connection with a request-head timeout, a cap on open connections
    that evicts idle ones first, and answers (414, 431, 408) instead of resets. Made per
    server by :func:`guarded_protocol`, which sets the class attributes."""

    max_connections = DEFAULT_CONNECTIONS
    head_timeout = HEAD_TIMEOUT
    open: dict  # every open connection of this server, oldest first (an ordered set)

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._head_timer: asyncio.TimerHandle | None = None
        self._drained: int | None = None  # bytes dropped since a 414/431, or None
        self.open[self] = None
        if len(self.open) > self.max_connections and not self._evict_an_idle_one():
            self._answer_and_close(503, "the server has too many open connections; try again")
            return
        self._arm_head_timer()

    def connection_lost(self, exc) -> None:
        self.open.pop(self, None)
        self._cancel_head_timer()
        super().connection_lost(exc)

    def waiting_for_head(self) -> bool:
        """Is this connection between requests, or part-way through a request head?"""
        return self.conn.their_state is h11.IDLE and not self.transport.is_closing()

    def _evict_an_idle_one(self) -> bool:
        for other in self.open:
            if other is not self and other.waiting_for_head():
                other._close_waiting()
                return True
        return False

    def data_received(self, data: bytes) -> None:
        if self._drained is not None:  # after a 414/431: read and drop until the client stops
            self._drained += len(data)
            if self._drained > DRAIN_BYTES:
                self.transport.close()
            return
        super().data_received(data)
        if not self.waiting_for_head():
            self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.waiting_for_head():  # keep-alive: the next head has HEAD_TIMEOUT to arrive
            self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.waiting_for_head():
            self._close_waiting()

    def _close_waiting(self) -> None:
        """Close a connection that waits for a request head: 408 if part of one came."""
        if self.conn.trailing_data[0]:
            self._answer_and_close(408, f"no complete request head within {self.head_timeout:g} s")
        else:
            self.transport.close()

    def _answer_and_close(self, status: int, detail: str) -> None:
        self._cancel_head_timer()
        self.transport.write(raw_answer(status, detail))
        self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """h11 refused the request head: 414 for a request line over MAX_HEAD_BYTES, 431 for
        headers over it (then drain), else uvicorn's 400."""
        buffered = self.conn.trailing_data[0]
        if len(buffered) <= MAX_HEAD_BYTES:
            return super().send_400_response(msg)
        if b"\r\n" in buffered[: MAX_HEAD_BYTES + 2]:
            status, detail = 431, f"request headers over {MAX_HEAD_BYTES // 1024} KiB"
        else:
            status, detail = 414, f"request line over {MAX_HEAD_BYTES // 1024} KiB; shorten the query"
        self._cancel_head_timer()
        self.transport.write(raw_answer(status, detail))
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the answer, then our end closed; we go on reading
        self._drained = 0
        self.loop.call_later(DRAIN_SECONDS, self.transport.close)


def guarded_protocol(max_connections: int, head_timeout: float = HEAD_TIMEOUT) -> type[GuardedH11]:
    """A :class:`GuardedH11` for one server: its cap and its own register of connections."""
    return type(
        "GuardedH11",
        (GuardedH11,),
        {"max_connections": max_connections, "head_timeout": head_timeout, "open": {}},
    )
