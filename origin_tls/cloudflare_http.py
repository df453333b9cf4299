"""The error boundary of the Cloudflare API client: one request with its retries, bounds and rate budget, and the
mapping of HTTP, transport and API-envelope failures onto :mod:`origin_tls.errors`.

:class:`ApiSession` is the base of :class:`origin_tls.cloudflare.CloudflareClient`, which adds one method per
endpoint; the contract (retry safety, bounds, trust, secrecy) is told in :mod:`origin_tls.cloudflare`.
"""

from __future__ import annotations

import json as jsonlib
import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, NoReturn, TypeVar

import httpx

from .baseline import DEFAULT_API_URL, parse_timeout
from .cloudflare_limits import (
    DEFAULT_MAX_ANSWER_BYTES,
    MAX_ANSWER_DEPTH,
    AnswerCompressed,
    AnswerTooLarge,
    CallDeadline,
    DeadlineReached,
    RateBudget,
    is_nested_deeper,
    read_bounded,
)
from .cloudflare_shapes import (
    REDACTED,
    describe_api_errors,
    parse_api_errors,
    parse_base_url,
    parse_retry_after,
    parse_token,
)
from .errors import (
    AuthenticationError,
    InvalidInput,
    NotFoundError,
    RateLimitedError,
    ResponseError,
    ServerError,
    TransportError,
)

__all__ = [
    "CALL_BUDGET_FACTOR",
    "DEFAULT_API_TIMEOUT",
    "DEFAULT_API_URL",
    "DEFAULT_MAX_BACKOFF",
    "DEFAULT_MAX_RETRIES",
    "ApiSession",
]

#: Seconds per HTTP request (connect, write, read each). The API answers in well under a second when healthy.
DEFAULT_API_TIMEOUT = 10.0
#: Retries after the first try. Four tries ride out a short 5xx burst without stalling a deploy for minutes.
DEFAULT_MAX_RETRIES = 3
#: Longest single wait between tries, whatever ``Retry-After`` asks for: a preview must not sleep for an hour.
DEFAULT_MAX_BACKOFF = 30.0
#: A call's whole budget is this many timeouts unless ``call_budget`` says otherwise: one slow try and the retries of
#: a short outage fit, and a preview still ends within a known time (issue 8).
CALL_BUDGET_FACTOR = 3.0
_BACKOFF_BASE = 0.5
_MAX_RETRIES_LIMIT = 10

_NO_PICKLE = "{} holds an API token and cannot be pickled or copied; build one where it is used"

_log = logging.getLogger("origin_tls.cloudflare")
_S = TypeVar("_S", bound="ApiSession")


class ApiSession:
    """The token, the httpx client and the bounded, retried request (:meth:`_call`). Not picklable: it holds the
    token. The constructor's arguments are :class:`~origin_tls.cloudflare.CloudflareClient`'s."""

    def __init__(
        self,
        token: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_API_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_backoff: float = DEFAULT_MAX_BACKOFF,
        rate_budget: RateBudget | None = None,
        call_budget: float | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
    ) -> None:
        self._token = parse_token(token)
        self._base_url = parse_base_url(base_url)
        timeout = parse_timeout(timeout)
        budget = CALL_BUDGET_FACTOR * timeout if call_budget is None else call_budget
        if not _positive_seconds(budget):
            raise InvalidInput("call_budget", call_budget, "a number of seconds greater than 0")
        if rate_budget is not None and not isinstance(rate_budget, RateBudget):
            raise InvalidInput("rate_budget", rate_budget, "a RateBudget or None")
        if isinstance(max_answer_bytes, bool) or not isinstance(max_answer_bytes, int) or max_answer_bytes < 1:
            raise InvalidInput("max_answer_bytes", max_answer_bytes, "a whole number of bytes of at least 1")
        self._timeout = timeout
        self._call_budget = float(budget)
        self._rate = rate_budget if rate_budget is not None else RateBudget()
        self._max_answer_bytes = max_answer_bytes
        if isinstance(max_retries, bool) or not isinstance(max_retries, int):
            raise InvalidInput("max_retries", max_retries, f"a whole number from 0 to {_MAX_RETRIES_LIMIT}")
        if not 0 <= max_retries <= _MAX_RETRIES_LIMIT:
            raise InvalidInput("max_retries", max_retries, f"a whole number from 0 to {_MAX_RETRIES_LIMIT}")
        if (
            isinstance(max_backoff, bool)
            or not isinstance(max_backoff, (int, float))
            or not (math.isfinite(max_backoff) and 0 <= max_backoff <= 300)
        ):
            raise InvalidInput("max_backoff", max_backoff, "a number of seconds from 0 to 300")
        if not callable(sleep):
            raise InvalidInput("sleep", sleep, "a callable taking a number of seconds")
        self._max_retries = max_retries
        self._max_backoff = float(max_backoff)
        self._sleep = sleep
        self._random = random.Random()
        plain = self._base_url.startswith("http://")
        self._http = httpx.Client(
            base_url=self._base_url,
            transport=transport,
            timeout=timeout,
            follow_redirects=False,
            # No kept-alive connections: each try has its own connection, whose socket the call's deadline can end.
            limits=httpx.Limits(max_keepalive_connections=0),
            # Plain HTTP is loopback only; an HTTP_PROXY from the environment would carry the token off the machine.
            trust_env=not plain,
            headers={
                "Authorization": f"Bearer {self._token}",
                "Accept": "application/json",
                # Bytes are bounded as they arrive: a compressed answer would be bounded only after inflating it.
                "Accept-Encoding": "identity",
                "User-Agent": "origin-tls",
            },
        )

    # ----------------------------------------------------------------------------------------------------------
    # Lifecycle and secrecy

    def close(self) -> None:
        self._http.close()

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._base_url!r}, token={REDACTED})"

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(_NO_PICKLE.format(type(self).__name__))

    def __reduce__(self) -> NoReturn:
        raise TypeError(_NO_PICKLE.format(type(self).__name__))

    def __getstate__(self) -> NoReturn:
        raise TypeError(_NO_PICKLE.format(type(self).__name__))

    # ----------------------------------------------------------------------------------------------------------
    # The error boundary

    def _call(
        self,
        method: str,
        path: str,
        *,
        permission: str,
        zone: str | None = None,
        what: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        envelope: bool = False,
    ) -> Any:
        """One call with the retry policy and bounds of :mod:`origin_tls.cloudflare`; ``result`` (or the envelope)."""
        label = f"{method} {path}"
        deadline = CallDeadline(self._call_budget, self._rate.clock)
        attempts = self._max_retries + 1
        previous = ""  # what went wrong with the try before, told when the budget ends the next one
        for attempt in range(attempts):
            last = attempt == attempts - 1
            backoff = self._backoff(attempt)
            self._admit(deadline, label)
            try:
                status, headers, raw = self._send(method, path, json, params, deadline)
            except DeadlineReached:
                raise TransportError(
                    f"{label}: no complete answer from the Cloudflare API within the call budget of "
                    f"{self._call_budget:g} s{previous}"
                ) from None
            except AnswerCompressed:
                raise ResponseError(f"{label}: the answer is compressed although identity was asked for") from None
            except AnswerTooLarge:
                raise ResponseError(
                    f"{label}: the answer is larger than {self._max_answer_bytes} bytes (the bound on API answers)"
                ) from None
            except httpx.RequestError as exc:
                # A failure to connect means the request was never sent, so even a POST may be repeated.
                never_sent = isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))
                retry = not last and (method != "POST" or never_sent) and backoff < deadline.remaining()
                if retry:
                    previous = self._redact(f" (the try before: {type(exc).__name__}: {exc})")
                    self._wait(backoff, label, type(exc).__name__, attempt, attempts)
                    continue
                tries = f" after {attempt + 1} tries" if attempt else ""
                raise TransportError(
                    self._redact(f"{label}: no answer from the Cloudflare API{tries} ({type(exc).__name__}: {exc})")
                ) from exc
            if status == 429:
                retry_after = parse_retry_after(headers.get("Retry-After"))
                delay = backoff if retry_after is None else min(retry_after, self._max_backoff)
                # Cloudflare limits the token, not the request: everyone sharing the budget waits (issue 10).
                self._rate.pause(delay)
                if not last:
                    _log.info("%s: HTTP 429; the run pauses %.1f s (try %d of %d)", label, delay, attempt + 2, attempts)
                    previous = " (the try before: HTTP 429)"
                    continue
            if status >= 500 and not last and method != "POST" and backoff < deadline.remaining():
                previous = f" (the try before: HTTP {status})"
                self._wait(backoff, label, f"HTTP {status}", attempt, attempts)
                continue
            return self._parse(
                status, headers, raw, label, permission=permission, zone=zone, what=what, envelope=envelope
            )
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self, method: str, path: str, body: Any, params: Mapping[str, Any] | None, deadline: CallDeadline
    ) -> tuple[int, httpx.Headers, bytes]:
        """One try: status, headers and the bounded raw body. The deadline ends it whatever the peer does."""
        remaining = deadline.remaining()
        if remaining <= 0:
            raise DeadlineReached
        request = self._http.build_request(
            method,
            path,
            json=body,
            params=params,
            timeout=min(self._timeout, remaining),
            extensions={"trace": deadline.trace},
        )
        deadline.arm()
        try:
            response = self._http.send(request, stream=True)
            try:
                raw = read_bounded(response, deadline, self._max_answer_bytes)
            finally:
                response.close()
        except httpx.HTTPError:
            if deadline.fired or deadline.remaining() <= 0:
                raise DeadlineReached from None
            raise
        finally:
            deadline.disarm()
        return response.status_code, response.headers, raw

    def _admit(self, deadline: CallDeadline, label: str) -> None:
        """Wait until the run's rate budget admits one request, or fail if that is after this call's deadline."""
        while (wait := self._rate.try_acquire()) > 0:
            if wait > deadline.remaining():
                raise RateLimitedError(
                    f"{label}: the run's API rate budget (Cloudflare allows {self._rate.requests} requests per "
                    f"{self._rate.period:g} s, and pauses after a 429) admits no request for {wait:.1f} s, more than "
                    f"is left of this call's budget of {self._call_budget:g} s",
                    status=None,
                )
            self._sleep(wait)

    def _parse(
        self,
        status: int,
        headers: httpx.Headers,
        raw: bytes,
        label: str,
        *,
        permission: str,
        zone: str | None,
        what: str | None,
        envelope: bool,
    ) -> Any:
        try:
            body: Any = jsonlib.loads(raw) if raw else None
        except (ValueError, RecursionError):  # also UnicodeDecodeError; RecursionError: "[[[[..." nested too deep
            body = None
        too_deep = is_nested_deeper(body, MAX_ANSWER_DEPTH)
        if too_deep:  # valid JSON, but nothing downstream should have to walk it (issue 18)
            body = None
        errors = parse_api_errors(body)
        codes = tuple(code for code, _ in errors)
        said = self._redact(describe_api_errors(errors))
        suffix = f" (Cloudflare: {said})" if said else ""
        if status in (401, 403):
            scope = f" on zone {zone}" if zone else ""
            raise AuthenticationError(
                f"{label}: Cloudflare refused the API token (HTTP {status}); the token needs the "
                f"'{permission}' permission{scope}{suffix}",
                status=status,
                codes=codes,
            )
        if status == 404:
            if what and zone:
                subject = f"{what} or zone {zone} is unknown to this token's account"
            elif what:
                subject = f"{what} is unknown to this token's account"
            elif zone:
                subject = f"zone {zone} is unknown to this token's account"
            else:
                subject = "not found"
            raise NotFoundError(f"{label}: {subject}{suffix}", status=status, codes=codes)
        if status == 429:
            raise RateLimitedError(
                f"{label}: rate limited by Cloudflare (HTTP 429) on every try{suffix}", status=status, codes=codes
            )
        if status >= 500:
            raise ServerError(f"{label}: Cloudflare answered HTTP {status}{suffix}", status=status, codes=codes)
        if 300 <= status < 400:
            location = self._redact(headers.get("Location", "")[:200])
            raise ResponseError(
                f"{label}: the API answered a redirect (HTTP {status}{' to ' + location if location else ''}); "
                f"redirects are not followed: the API token is sent to {self._base_url} only",
                status=status,
            )
        if not 200 <= status < 300:
            raise ResponseError(f"{label}: Cloudflare answered HTTP {status}{suffix}", status=status, codes=codes)
        if too_deep:
            raise ResponseError(
                f"{label}: the answer's JSON nests deeper than {MAX_ANSWER_DEPTH} levels (the bound on API answers)",
                status=status,
            )
        if not isinstance(body, dict) or not isinstance(body.get("success"), bool):
            raise ResponseError(
                f"{label}: the answer is not a Cloudflare API envelope (JSON with 'success')", status=status
            )
        if body["success"] is not True:
            raise ResponseError(f"{label}: Cloudflare answered success=false{suffix}", status=status, codes=codes)
        if "result" not in body:
            raise ResponseError(f"{label}: the answer has no 'result'", status=status)
        return body if envelope else body["result"]

    def _backoff(self, attempt: int) -> float:
        """Capped exponential backoff with jitter: half to all of ``0.5 * 2**attempt`` seconds."""
        ceiling = min(self._max_backoff, _BACKOFF_BASE * 2.0**attempt)
        return ceiling * (0.5 + 0.5 * self._random.random())

    def _wait(self, delay: float, label: str, reason: str, attempt: int, attempts: int) -> None:
        _log.info("%s: %s; try %d of %d in %.1f s", label, reason, attempt + 2, attempts, delay)
        self._sleep(delay)

    def _redact(self, text: str) -> str:
        return text.replace(self._token, REDACTED)


def _positive_seconds(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and value > 0
