"""The providers' calls end within their budget against a hostile peer: one that accepts and never answers (tarpit),
and one that trickles a byte at a time without ever finishing a TLS record.

Bound (a correctness bound, generous on a slow machine): ``3 x timeout + settle_seconds + 1 s`` per call, for
``check`` (the preview's observation), ``diff``, ``read``, ``create``/``update`` (settling) of the verification, and
``create`` of the proof pull. These rest on the verifier's own bounds (issue 8: per-probe deadlines against
tricklers, a run-level ``deadline``).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from origin_tls.providers import verification
from origin_tls.providers.pull_proof import OriginPullProofProvider, PullRefused
from origin_tls.providers.verification import HandshakeVerificationProvider, VerificationFailed

TIMEOUT = 1.0
SETTLE = 1.0
BOUND = 3 * TIMEOUT + SETTLE + 1.0
CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@contextmanager
def hostile_peer(behaviour: str) -> Iterator[str]:
    """A loopback listener that accepts every connection and then never answers (``tarpit``) or sends one byte
    every 0.2 s forever (``trickle``); ``HOST:PORT``."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve(conn: socket.socket) -> None:
        while not stop.is_set():
            if behaviour == "trickle":
                try:
                    conn.sendall(b"\x16")
                except OSError:
                    return
            stop.wait(0.2)

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
        for conn in held:
            conn.close()


def _props(peer: str, **overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "hostnames": ["app.example.com"],
        "zone_id": None,
        "edge": peer,
        "edge_http": peer,
        "origin": peer,
        "min_tls": "1.2",
        "aop": "global",
        "timeout": TIMEOUT,
        "settle_seconds": SETTLE,
        "strict": False,
    }
    props.update(overrides)
    return props


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    """Run ``call`` in a thread, waiting at most twice the bound: a call that hangs fails the test instead of hanging
    it (the peer's sockets are closed on leaving ``hostile_peer``, which ends the call)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except (VerificationFailed, PullRefused) as exc:
            box["result"] = exc

    start = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(2 * BOUND)
    return time.monotonic() - start, box.get("result")


@pytest.fixture(autouse=True)
def _fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verification, "RETRY_INTERVAL", 0.2)
    monkeypatch.setattr(verification, "PREVIEW_TIMEOUT", TIMEOUT)


@pytest.mark.parametrize("behaviour", ["tarpit", "trickle"])
def test_verification_calls_end_within_their_budget(behaviour: str) -> None:
    provider = HandshakeVerificationProvider()
    with hostile_peer(behaviour) as peer:
        props = _props(peer)
        olds = {**props, "ok": False, "drift": []}
        calls: dict[str, Callable[[], Any]] = {
            "check": lambda: provider.check(props, props),
            "diff": lambda: provider.diff("id", {**olds, "ok": True}, props),
            "read": lambda: provider.read("id", olds),
            "create": lambda: provider.create(props),
            "update": lambda: provider.update("id", olds, props),
        }
        for name, call in calls.items():
            elapsed, result = _timed(call)
            assert elapsed < BOUND, f"{name} took {elapsed:.1f}s against a {behaviour} peer (bound {BOUND:g}s)"
            if name in ("create", "update"):
                assert isinstance(result, VerificationFailed), "a peer that never answers is never a pass"


@pytest.mark.parametrize("behaviour", ["tarpit", "trickle"])
def test_proof_pull_ends_within_its_budget_and_refuses(behaviour: str) -> None:
    from origin_tls import certs

    ca = certs.build_client_ca("t CA")
    cert_pem, key_pem = certs.issue_client_certificate(ca, common_name="t")
    provider = OriginPullProofProvider()
    with hostile_peer(behaviour) as peer:
        props = {
            "hostnames": ["app.example.com"],
            "origin": peer,
            "client_cert_pem": cert_pem,
            "client_key_pem": key_pem,
            "timeout": TIMEOUT,
            "settle_seconds": SETTLE,
        }
        elapsed, result = _timed(lambda: provider.create(props))
    assert elapsed < BOUND, f"the proof took {elapsed:.1f}s against a {behaviour} peer (bound {BOUND:g}s)"
    assert isinstance(result, PullRefused)
    assert key_pem not in str(result)
