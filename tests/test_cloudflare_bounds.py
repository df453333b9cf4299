"""The API client against a faulty API on loopback (real sockets): every call ends within its budget with an honest
error, the token never goes anywhere a redirect points, and the run's rate budget is shared (issues 8 and 10).

Time bounds are correctness bounds (a hang fails them, a slow machine does not): elapsed < 3 x timeout + 1 s.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from origin_tls.baseline import parse_api_url
from origin_tls.cloudflare import CloudflareClient, RateBudget
from origin_tls.errors import InvalidInput, RateLimitedError, ResponseError, TransportError
from tests.test_cloudflare import FakeClock

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-bounds-token-4pQ7wV2xZ9"
TIMEOUT = 1.0
BOUND = 3 * TIMEOUT + 1.0
OK_BODY = b'{"success": true, "errors": [], "messages": [], "result": {"id": "ssl", "value": "strict"}}'

Behaviour = Callable[[socket.socket, "FaultyApi"], None]


@dataclass
class FaultyApi:
    """A loopback TCP server that runs ``behaviour`` on each connection and records what it received."""

    behaviour: Behaviour
    stop: threading.Event = field(default_factory=threading.Event)
    received: list[bytes] = field(default_factory=list)
    connections: int = 0
    server: Any = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/client/v4"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


@pytest.fixture
def faulty() -> Iterator[Callable[[Behaviour], FaultyApi]]:
    apis: list[FaultyApi] = []

    def start(behaviour: Behaviour) -> FaultyApi:
        api = FaultyApi(behaviour)

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                api.connections += 1
                with contextlib.suppress(OSError):
                    api.behaviour(self.request, api)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        api.server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        apis.append(api)
        return api

    yield start
    for api in apis:
        api.stop.set()
        api.server.shutdown()
        api.server.server_close()


def read_request(sock: socket.socket, api: FaultyApi) -> bytes:
    sock.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    api.received.append(data)
    return data


def trickle(sock: socket.socket, api: FaultyApi, data: bytes, pause: float) -> None:
    for byte in data:
        if api.stop.is_set():
            return
        sock.sendall(bytes([byte]))
        time.sleep(pause)


def client(api: FaultyApi, **options: Any) -> CloudflareClient:
    return CloudflareClient(TOKEN, base_url=api.url, timeout=TIMEOUT, **options)


def timed(call: Callable[[], Any]) -> tuple[BaseException | None, float]:
    started = time.monotonic()
    try:
        call()
    except Exception as exc:
        return exc, time.monotonic() - started
    return None, time.monotonic() - started


# -- each fault ends within the budget, with an honest error ------------------------------------------------------


def never_answers(sock: socket.socket, api: FaultyApi) -> None:
    read_request(sock, api)
    api.stop.wait(30)


def trickles_the_status_line(sock: socket.socket, api: FaultyApi) -> None:
    read_request(sock, api)
    trickle(sock, api, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + b"X-Pad: a\r\n" * 1000, 0.05)


def trickles_the_body(sock: socket.socket, api: FaultyApi) -> None:
    read_request(sock, api)
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(OK_BODY))
    trickle(sock, api, OK_BODY, 0.2)


def endless_body(sock: socket.socket, api: FaultyApi) -> None:
    read_request(sock, api)
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
    chunk = b"[" * 65536
    while not api.stop.is_set():
        sock.sendall(chunk)


def announces_a_huge_body(sock: socket.socket, api: FaultyApi) -> None:
    read_request(sock, api)
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 10737418240\r\n\r\n" + b"{" * 1024)
    api.stop.wait(30)


def answers_not_json(sock: socket.socket, api: FaultyApi) -> None:
    read_request(sock, api)
    body = b"<html>502 from a proxy</html>"
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


def answers_deeply_nested_json(sock: socket.socket, api: FaultyApi) -> None:
    read_request(sock, api)
    body = b"[" * 200_000
    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))


def answers_garbage(sock: socket.socket, api: FaultyApi) -> None:
    read_request(sock, api)
    sock.sendall(b"\x16\x03\x01\x00\x05hello not http at all\r\n\r\n")


@pytest.mark.parametrize(
    ("behaviour", "error", "says"),
    [
        (never_answers, TransportError, "ReadTimeout"),
        (trickles_the_status_line, TransportError, "call budget"),
        (trickles_the_body, TransportError, "call budget"),
        (endless_body, ResponseError, "larger than 1048576 bytes"),
        (announces_a_huge_body, ResponseError, "larger than 1048576 bytes"),
        (answers_not_json, ResponseError, "not a Cloudflare API envelope"),
        (answers_deeply_nested_json, ResponseError, "not a Cloudflare API envelope"),
        (answers_garbage, TransportError, "RemoteProtocolError"),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
def test_a_faulty_api_ends_the_call_within_its_budget_with_an_honest_error(
    faulty: Callable[[Behaviour], FaultyApi], behaviour: Behaviour, error: type[Exception], says: str
) -> None:
    api = faulty(behaviour)
    with client(api) as cf:
        caught, elapsed = timed(lambda: cf.get_setting(ZONE, "ssl"))
    assert isinstance(caught, error), repr(caught)
    assert says in str(caught)
    assert TOKEN not in str(caught)
    assert elapsed < BOUND, f"{behaviour.__name__}: {elapsed:.2f} s"


def test_a_healthy_answer_on_the_same_server_passes(faulty: Callable[[Behaviour], FaultyApi]) -> None:
    # Twin of the faults above: the same loopback plumbing with a good answer gives the setting.
    def healthy(sock: socket.socket, api: FaultyApi) -> None:
        read_request(sock, api)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(OK_BODY), OK_BODY))

    api = faulty(healthy)
    with client(api) as cf:
        assert cf.get_setting(ZONE, "ssl") == "strict"


def test_a_shorter_call_budget_is_kept(faulty: Callable[[Behaviour], FaultyApi]) -> None:
    api = faulty(trickles_the_body)
    with client(api, call_budget=1.0) as cf:
        caught, elapsed = timed(lambda: cf.get_setting(ZONE, "ssl"))
    assert isinstance(caught, TransportError)
    assert "call budget of 1 s" in str(caught)
    assert elapsed < 1.0 + 1.0


def test_an_absurd_retry_after_ends_the_call_at_once(faulty: Callable[[Behaviour], FaultyApi]) -> None:
    def too_many(sock: socket.socket, api: FaultyApi) -> None:
        read_request(sock, api)
        body = b'{"success": false, "errors": [{"code": 971, "message": "slow down"}], "messages": []}'
        sock.sendall(
            b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 999999999\r\nContent-Length: %d\r\n\r\n" % len(body) + body
        )

    api = faulty(too_many)
    with client(api) as cf:
        caught, elapsed = timed(lambda: cf.get_setting(ZONE, "ssl"))
    assert isinstance(caught, RateLimitedError), repr(caught)
    assert "rate budget" in str(caught)
    assert elapsed < BOUND
    assert api.connections == 1  # Retry-After is capped and does not fit the budget: no pointless second try


# -- redirects are never followed; the token stays with the host and port named ----------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_port_is_an_error_and_that_port_never_sees_the_token(
    faulty: Callable[[Behaviour], FaultyApi], status: int
) -> None:
    elsewhere = faulty(never_answers)

    def redirects(sock: socket.socket, api: FaultyApi) -> None:
        read_request(sock, api)
        location = f"http://127.0.0.1:{elsewhere.port}/client/v4/zones/{ZONE}/settings/ssl".encode()
        sock.sendall(b"HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % (status, location))

    api = faulty(redirects)
    with client(api) as cf:
        caught, elapsed = timed(lambda: cf.get_setting(ZONE, "ssl"))
    assert isinstance(caught, ResponseError), repr(caught)
    assert "redirects are not followed" in str(caught)
    assert elapsed < BOUND
    time.sleep(0.2)  # a connection the client might have opened would have been accepted by now
    assert elsewhere.connections == 0
    assert elsewhere.received == []
    # Twin: the API that was named did get the token.
    assert f"authorization: bearer {TOKEN}".lower() in api.received[0].decode("latin-1").lower()


# -- --api-url / base_url: https, or http on loopback only ----------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "https://api.cloudflare.com/client/v4",
        "https://api.cloudflare.com/client/v4/",
        "http://127.0.0.1:8080/client/v4",
        "http://127.200.3.4/client/v4",
        "http://[::1]:9000/client/v4",
        "http://localhost:1/",
        "HTTPS://API.CLOUDFLARE.COM/client/v4",
    ],
)
def test_api_urls_over_tls_or_on_loopback_are_accepted(value: str) -> None:
    assert parse_api_url(value, field_name="--api-url") == value.strip().rstrip("/")


@pytest.mark.parametrize(
    "value",
    [
        "http://api.cloudflare.com/client/v4",  # the twin of the first accepted one: clear text over a network
        "http://10.0.0.1/client/v4",
        "http://0.0.0.0:8080/",
        "http://127.0.0.1.example.com/",
        "http://localhost.example.com/",
        "http://[::ffff:10.0.0.1]/",
        "ftp://127.0.0.1/",
        "file:///etc/passwd",
        "https://user:secret@api.cloudflare.com/client/v4",
        "http://127.0.0.1\\@evil.example/",
        "https://api.cloudflare.com/client/v4?via=proxy",
        "https://api.cloudflare.com/client/v4#x",
        "https://",
        "https://api.cloudflare.com:99999/",
        "api.cloudflare.com/client/v4",
        "",
    ],
)
def test_other_api_urls_are_bad_input_naming_the_field_and_what_is_allowed(value: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_api_url(value, field_name="--api-url")
    message = str(caught.value)
    assert message.startswith("--api-url must be an https:// URL, or http:// only with a loopback host")
    assert "secret" not in message
    # The client refuses the same URLs (defence in depth), before anything is sent.
    with pytest.raises(InvalidInput):
        CloudflareClient(TOKEN, base_url=value, transport=httpx.MockTransport(lambda r: httpx.Response(500)))


def test_the_cli_refuses_a_clear_text_api_url_before_probing(capsys: pytest.CaptureFixture[str]) -> None:
    from origin_tls.cli import main

    code = main(["verify", "app.example.com", "--zone-id", ZONE, "--api-url", "http://api.example.com/client/v4"])
    assert code == 2
    assert "--api-url must be an https:// URL" in capsys.readouterr().err


# -- the run's rate budget: shared by every client and thread of the run ---------------------------------------------


def ok_api(log: list[float], clock: Callable[[], float]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        log.append(clock())
        return httpx.Response(200, content=OK_BODY)

    return httpx.MockTransport(answer)


def test_the_budget_admits_at_most_its_requests_per_period_across_clients() -> None:
    # Given one budget of 3 requests per 10 s shared by two clients on one (fake) clock
    clock = FakeClock(now=0.0)
    budget = RateBudget(3, 10.0, clock=clock)
    sent: list[float] = []
    clients = [
        CloudflareClient(TOKEN, transport=ok_api(sent, clock), sleep=clock.sleep, rate_budget=budget, call_budget=60)
        for _ in range(2)
    ]
    # When they make 7 calls between them
    for index in range(7):
        assert clients[index % 2].get_setting(ZONE, "ssl") == "strict"
    # Then no 10 s window held more than 3 requests, and the waits were exactly what the window asked for
    assert sent == [0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 20.0]
    assert all(sum(1 for t in sent if start <= t < start + 10.0) <= 3 for start in sent)
    assert clock.sleeps == [10.0, 10.0]
    assert budget.sent == 7


def test_a_private_budget_does_not_hold_back_another_client() -> None:
    # Twin of the test above: clients with budgets of their own do not wait for each other.
    clock = FakeClock(now=0.0)
    sent: list[float] = []
    clients = [
        CloudflareClient(
            TOKEN, transport=ok_api(sent, clock), sleep=clock.sleep, rate_budget=RateBudget(3, 10.0, clock=clock)
        )
        for _ in range(2)
    ]
    for index in range(6):
        clients[index % 2].get_setting(ZONE, "ssl")
    assert sent == [0.0] * 6
    assert clock.sleeps == []


def test_a_429_pauses_every_client_of_the_budget_not_only_the_one_that_got_it() -> None:
    clock = FakeClock(now=0.0)
    budget = RateBudget(clock=clock)
    sent: list[tuple[str, float]] = []
    limited = iter([True])

    def answer(name: str) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            sent.append((name, clock()))
            if name == "a" and next(limited, False):
                return httpx.Response(429, headers={"Retry-After": "5"}, content=b"{}")
            return httpx.Response(200, content=OK_BODY)

        return httpx.MockTransport(handler)

    a = CloudflareClient(TOKEN, transport=answer("a"), sleep=clock.sleep, rate_budget=budget, max_retries=0)
    b = CloudflareClient(TOKEN, transport=answer("b"), sleep=clock.sleep, rate_budget=budget)
    # a gets the 429 and (with no retries left) gives up; b, asking next, waits out the run's pause
    with pytest.raises(RateLimitedError):
        a.get_setting(ZONE, "ssl")
    assert b.get_setting(ZONE, "ssl") == "strict"
    assert sent == [("a", 0.0), ("b", 5.0)]
    assert clock.sleeps == [5.0]


def test_threads_sharing_a_budget_stay_within_it_on_a_real_clock() -> None:
    # 12 calls from 4 threads (a client each) through a budget of 4 per 0.5 s: 3 windows, so at least 1 s.
    budget = RateBudget(4, 0.5)
    sent: list[float] = []
    lock = threading.Lock()

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            sent.append(time.monotonic())
        return httpx.Response(200, content=OK_BODY)

    def work() -> None:
        with CloudflareClient(TOKEN, transport=httpx.MockTransport(handler), rate_budget=budget) as cf:
            for _ in range(3):
                cf.get_setting(ZONE, "ssl")

    started = time.monotonic()
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(sent) == 12
    assert budget.sent == 12
    assert time.monotonic() - started >= 1.0  # a lower bound: a slow machine only makes it longer
    assert sorted(sent)[8] - started >= 1.0 - 1e-3  # the 9th request waited for the third window


def test_a_retry_after_shared_by_threads_holds_back_requests_sent_after_it(
    faulty: Callable[[Behaviour], FaultyApi],
) -> None:
    # Given a real API stand-in that answers its first request with 429 Retry-After: 1
    seen: list[float] = []
    limited = threading.Event()

    def behaviour(sock: socket.socket, api: FaultyApi) -> None:
        read_request(sock, api)
        seen.append(time.monotonic())
        if not limited.is_set():
            limited.set()
            head = b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 2\r\n\r\n{}"
            sock.sendall(head)
            return
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(OK_BODY), OK_BODY))

    api = faulty(behaviour)
    budget = RateBudget()
    results: list[object] = []
    first = threading.Thread(target=lambda: results.append(client(api, rate_budget=budget).get_setting(ZONE, "ssl")))
    first.start()
    assert limited.wait(10)
    # When another client of the run asks after the 429 was answered
    second = client(api, rate_budget=budget).get_setting(ZONE, "ssl")
    first.join(timeout=10)
    # Then both succeed, and nothing reached the API within the second after the 429
    assert results == ["strict"]
    assert second == "strict"
    assert len(seen) == 3
    assert all(t - seen[0] >= 1.0 for t in seen[1:])


# -- the options of the bounds ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("call_budget", 0),
        ("call_budget", -1.0),
        ("call_budget", float("inf")),
        ("call_budget", True),
        ("rate_budget", "1200/300"),
        ("max_answer_bytes", 0),
        ("max_answer_bytes", 1.5),
    ],
)
def test_bad_bound_options_are_refused(option: str, value: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        CloudflareClient(TOKEN, transport=httpx.MockTransport(lambda r: httpx.Response(500)), **{option: value})
    assert option in str(caught.value)


@pytest.mark.parametrize(("requests", "period"), [(0, 300.0), (True, 300.0), (1200, 0), (1200, float("nan"))])
def test_a_rate_budget_needs_a_positive_size_and_period(requests: Any, period: Any) -> None:
    with pytest.raises(ValueError):
        RateBudget(requests, period)


def test_the_answer_bound_is_the_clients(faulty: Callable[[Behaviour], FaultyApi]) -> None:
    # The same good answer passes under the default bound and is refused, naming the bound, under a smaller one.
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=OK_BODY))
    with CloudflareClient(TOKEN, transport=transport) as roomy:
        assert roomy.get_setting(ZONE, "ssl") == "strict"
    with (
        CloudflareClient(TOKEN, transport=transport, max_answer_bytes=len(OK_BODY) - 1) as tight,
        pytest.raises(ResponseError) as caught,
    ):
        tight.get_setting(ZONE, "ssl")
    assert f"larger than {len(OK_BODY) - 1} bytes" in str(caught.value)


def test_a_compressed_answer_is_refused_because_identity_was_asked(faulty: Callable[[Behaviour], FaultyApi]) -> None:
    seen: list[str] = []

    def gzipped(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("accept-encoding", ""))
        return httpx.Response(200, content=gzip.compress(OK_BODY), headers={"Content-Encoding": "gzip"})

    with (
        CloudflareClient(TOKEN, transport=httpx.MockTransport(gzipped)) as cf,
        pytest.raises(ResponseError, match="compressed"),
    ):
        cf.get_setting(ZONE, "ssl")
    assert seen == ["identity"]
