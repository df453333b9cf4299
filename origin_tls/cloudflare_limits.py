"""The bounds of the Cloudflare API client: the run's shared rate budget, each call's time budget, answer bytes.

Contract (issue 8 "Bounds", issue 10 "Zone reads"; DESIGN.md "Bounds and trust"):

- :class:`RateBudget`: one per run, shared by every :class:`~origin_tls.cloudflare.CloudflareClient` of the run and
  safe to share between threads. It admits at most ``requests`` requests in any ``period`` seconds (Cloudflare's
  API limit is 1,200 requests per five minutes per token: developers.cloudflare.com/fundamentals/api/reference/limits)
  and a 429's ``Retry-After`` pauses every caller of the budget, not only the request that got it.
- :class:`CallDeadline`: one monotonic deadline for a whole call (every try, every wait). httpx's timeouts bound
  each socket operation, so a peer that trickles one byte per operation never trips them; the deadline shuts the
  connection's socket down when it passes (through httpx's documented ``trace`` request extension, which hands over
  the network stream on ``connect_tcp``/``start_tls``), which ends any blocking read or write at once.
- :func:`read_bounded`: an answer body is read up to ``max_bytes`` and no further, and not past the deadline.
- :func:`is_nested_deeper`: an answer whose JSON nests deeper than :data:`MAX_ANSWER_DEPTH` is refused where it is
  parsed, so no code that walks a result (showing a zone setting, comparing one) meets a ``RecursionError``
  (issue 18: a setting nested hundreds of levels deep is valid JSON).

Not bounded here: name resolution (``getaddrinfo`` takes no timeout); the API host is one name, resolved once per
connection.
"""

from __future__ import annotations

import collections
import contextlib
import math
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx

__all__ = [
    "CLOUDFLARE_RATE_PERIOD",
    "CLOUDFLARE_RATE_REQUESTS",
    "DEFAULT_MAX_ANSWER_BYTES",
    "MAX_ANSWER_DEPTH",
    "AnswerCompressed",
    "AnswerTooLarge",
    "CallDeadline",
    "DeadlineReached",
    "RateBudget",
    "is_nested_deeper",
    "read_bounded",
]

#: Cloudflare's global API rate limit: 1,200 requests per five minutes per user/token (Cloudflare docs, "Rate limits").
CLOUDFLARE_RATE_REQUESTS = 1200
CLOUDFLARE_RATE_PERIOD = 300.0
#: Largest API answer read. The biggest answer we ask for is a page of 50 Origin CA certificates (~3 KiB each).
DEFAULT_MAX_ANSWER_BYTES = 1 << 20
#: Deepest JSON nesting read. Cloudflare's answers nest five levels at most (envelope, result, value,
#: ``strict_transport_security``, its fields); 32 leaves room for new settings and is far from Python's recursion limit.
MAX_ANSWER_DEPTH = 32


class DeadlineReached(Exception):
    """The call's time budget ran out (raised inside the client, turned into a ``TransportError`` there)."""


class AnswerTooLarge(Exception):
    """The answer is longer than the byte bound (turned into a ``ResponseError`` by the client)."""


class AnswerCompressed(Exception):
    """The answer is compressed although ``identity`` was asked for: its size after inflating is unbounded."""


class RateBudget:
    """At most ``requests`` requests in any ``period`` seconds, and a shared pause after a 429.

    Thread-safe; one per run, shared by every client of the run (DESIGN.md "Fleets"). ``clock`` is a monotonic
    clock in seconds (a seam for tests); clients sharing a budget measure their deadlines on it too.
    """

    def __init__(
        self,
        requests: int = CLOUDFLARE_RATE_REQUESTS,
        period: float = CLOUDFLARE_RATE_PERIOD,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
            raise ValueError("requests must be a whole number of at least 1")
        if (
            isinstance(period, bool)
            or not isinstance(period, (int, float))
            or not (math.isfinite(period) and period > 0)
        ):
            raise ValueError("period must be a positive number of seconds")
        self.requests = requests
        self.period = float(period)
        self.clock = clock
        self._lock = threading.Lock()
        self._sent: collections.deque[float] = collections.deque()
        self._paused_until = -math.inf
        self._total = 0

    def __repr__(self) -> str:
        return f"RateBudget(requests={self.requests}, period={self.period:g})"

    @property
    def sent(self) -> int:
        """Requests admitted so far (every try counts: Cloudflare counts them too)."""
        with self._lock:
            return self._total

    def try_acquire(self) -> float:
        """Admit one request now and return 0.0, or admit nothing and return the seconds to wait before asking again
        (the end of a 429 pause, or when the oldest request of a full window leaves it)."""
        with self._lock:
            now = self.clock()
            if now < self._paused_until:
                return self._paused_until - now
            while self._sent and self._sent[0] <= now - self.period:
                self._sent.popleft()
            if len(self._sent) >= self.requests:
                return max(self._sent[0] + self.period - now, 1e-3)
            self._sent.append(now)
            self._total += 1
            return 0.0

    def pause(self, seconds: float) -> None:
        """Nobody sharing this budget sends before ``seconds`` from now (a 429's ``Retry-After``); pauses only grow."""
        with self._lock:
            self._paused_until = max(self._paused_until, self.clock() + max(0.0, seconds))


class CallDeadline:
    """The monotonic deadline of one call, and the watchdog that enforces it on blocking socket operations.

    ``trace`` is passed as httpx's ``trace`` request extension: it remembers the connection's network stream.
    :meth:`arm` starts a timer that shuts that stream's socket down at the deadline; :meth:`disarm` stops it.
    """

    def __init__(self, budget: float, clock: Callable[[], float]) -> None:
        self.budget = budget
        self.clock = clock
        self.at = clock() + budget
        self.fired = False
        self._lock = threading.Lock()
        self._stream: Any = None
        self._timer: threading.Timer | None = None

    def remaining(self) -> float:
        return self.at - self.clock()

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            with self._lock:
                self._stream = info.get("return_value")
                fired = self.fired
            if fired:
                self._shutdown()

    def arm(self) -> None:
        self.disarm()
        timer = threading.Timer(max(0.0, self.remaining()), self._fire)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        with self._lock:
            self._stream = None

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
        self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            stream = self._stream
        if stream is None:
            return
        sock = stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            # shutdown, not close: the socket is still httpcore's to close; shutdown wakes its blocked recv/send.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def read_bounded(response: httpx.Response, deadline: CallDeadline, max_bytes: int) -> bytes:
    """The raw body of a streamed ``response``: :class:`AnswerTooLarge` past ``max_bytes`` (announced or read),
    :class:`AnswerCompressed` for a ``Content-Encoding`` other than identity, :class:`DeadlineReached` once the
    deadline passes between chunks."""
    if response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity"):
        raise AnswerCompressed
    announced = response.headers.get("Content-Length", "").strip()
    # ASCII digits only ("²" passes isdigit() and fails int()); any length: more digits than the bound is too large.
    if announced.isascii() and announced.isdigit() and (len(announced) > 18 or int(announced) > max_bytes):
        raise AnswerTooLarge(announced)
    try:
        content = response.content  # already in memory: a transport that built the answer whole (MockTransport)
    except httpx.ResponseNotRead:
        pass
    else:
        if len(content) > max_bytes:
            raise AnswerTooLarge(len(content))
        return content
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise AnswerTooLarge(size)
        chunks.append(chunk)
        if deadline.remaining() <= 0:
            raise DeadlineReached
    return b"".join(chunks)


def is_nested_deeper(value: object, limit: int) -> bool:
    """Whether parsed JSON ``value`` has containers nested more than ``limit`` deep (a scalar is depth 0, ``[]`` 1).
    Iterative, so any depth is measured without recursion."""
    stack: list[tuple[object, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
