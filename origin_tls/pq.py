"""Post-quantum key agreement on the second hop: does the origin select X25519MLKEM768 when offered only it?

:func:`probe_pq_key_agreement` makes the handshake Cloudflare makes to an origin under the ``pqh`` compliance mode
(``reference/cloudflare.md`` section 6): TLS 1.3 only, hybrid post-quantum groups only, a real X25519MLKEM768 key
share in the first ClientHello. It judges by the group the server selects, and passes only when the server also
proves it agreed the same hybrid secret: its encrypted flight decrypts under the handshake key derived from it
and its Finished verifies (RFC 8446 sections 4.4.4, 7.1). A network error is ERROR (inconclusive); a classical
group (ServerHello, or a HelloRetryRequest naming one), an alert, or a TLS 1.2 answer is a refusal.

Why a hand-built ClientHello (:mod:`origin_tls.pq_wire`) rather than pyOpenSSL on ``cryptography``'s bundled
OpenSSL (``python -m bench.pq_probe``, bench/README.md: both take the same one round trip and send about 1.4 KB,
1,393 bytes here and 1,419 for OpenSSL 4's hello; on loopback this probe took 1.4 ms to a server that negotiates,
a pyOpenSSL client's full handshake 2-3 ms):

- it needs only ``cryptography``'s public API (ML-KEM-768, X25519, AES-GCM, ChaCha20-Poly1305): pyOpenSSL has no
  public way to restrict the offered groups (only ``cryptography``'s private cffi binding
  ``SSL_CTX_set1_curves_list``), and would pin a second, tightly coupled dependency into every user's stack;
- the probe reads exactly what it judges: the selected group and version from the ServerHello, a
  HelloRetryRequest's group, the alert's code; OpenSSL aborts a HelloRetryRequest for a group never offered with
  its own ``illegal_parameter``, so reading the server's choice there would mean parsing the raw bytes anyway;
- every byte is under the probe's one deadline and :data:`~origin_tls.tls_wire.MAX_HANDSHAKE_BYTES`, like the other
  probes, with no C library deciding how long to wait;
- the tests' post-quantum peers are then two implementations independent of this client (OpenSSL 4 through
  pyOpenSSL, Go's crypto/tls), not the same OpenSSL on both sides.

What it does not do: the probe stops at the server's Finished and does not send its own flight, so
``client_cert_pem``/``client_key_pem`` are accepted for the shared interface but not presented. In TLS 1.3 the
server selects the group and sends its Finished before it sees any client certificate (RFC 8446 section 2, 4.4.2),
so the certificate cannot change this verdict; whether the origin accepts it is ``origin.aop_client``'s evidence.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .addresses import Endpoint
from .pq_wire import (
    CONTENT_ALERT,
    CONTENT_APPDATA,
    CONTENT_CCS,
    CONTENT_HANDSHAKE,
    X25519MLKEM768,
    ClientHello,
    HandshakeBuffer,
    HandshakeKeys,
    NoMlKem,
    RecordReader,
    ServerHelloFacts,
    WireError,
    alert_description,
    build_client_hello,
    group_name,
    parse_server_hello,
)
from .tls_client import classify_error
from .tls_io import Deadline, PlainStream, connect
from .tls_wire import MAX_HANDSHAKE_BYTES, BoundExceeded

__all__ = ["NO_MLKEM", "X25519MLKEM768", "PqOutcome", "PqResult", "probe_pq_key_agreement"]

_TLS13 = 0x0304
_SERVER_HELLO, _FINISHED = 2, 20
# Alerts that say "nothing in common with this offer" (RFC 8446 section 4.1.1).
_NO_COMMON_GROUP = frozenset({"handshake_failure", "insufficient_security"})
# What the words for a platform engineer say about a server without the group.
NO_MLKEM = (
    "its TLS library has no ML-KEM (OpenSSL 3.5+, BoringSSL, AWS-LC, Go 1.24+ or Caddy 2.10+ needed; "
    "Debian 12's OpenSSL 3.0 has none); under the zone's pqh mode Cloudflare would answer 525"
)


class PqOutcome(str, enum.Enum):
    """What an origin did when offered only X25519MLKEM768 over TLS 1.3."""

    NEGOTIATED = "negotiated"  # TLS 1.3, the server selected X25519MLKEM768 (0x11EC) and its Finished verified
    CLASSICAL = "classical"  # TLS 1.3 with a classical group (ServerHello or HelloRetryRequest): refused
    REFUSED = "refused"  # an alert (handshake_failure, insufficient_security, protocol_version, ...) or a broken
    #                      hybrid key agreement: refused
    TLS12_ONLY = "tls12_only"  # the server answered with TLS 1.2 or lower
    ERROR = "error"  # no evidence (connect refused, timeout, reset, garbage): inconclusive

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class PqResult:
    """The probe's finding: the outcome, the group the server selected (IANA name) and words to act on."""

    outcome: PqOutcome
    group: str | None
    detail: str
    bytes_sent: int = 0
    bytes_received: int = 0
    alert: str | None = None  # the TLS alert the server sent (RFC 8446 section 6 name), if that was its answer


class _Closed(ConnectionError):
    """The server ended the stream before the verdict; ``str()`` says when."""


class _Answer(Exception):
    """The verdict, raised from inside the read loop."""

    def __init__(self, outcome: PqOutcome, group: str | None, detail: str, alert: str | None = None) -> None:
        super().__init__(detail)
        self.outcome, self.group, self.detail, self.alert = outcome, group, detail, alert


def probe_pq_key_agreement(
    endpoint: Endpoint,
    hostname: str,
    *,
    timeout: float,
    client_cert_pem: str | None = None,
    client_key_pem: str | None = None,
    deadline: Deadline | None = None,
) -> PqResult:
    """Offer only X25519MLKEM768 over TLS 1.3 to ``endpoint`` (SNI ``hostname``); report what the server selected.

    Ends within ``timeout`` as a whole (or the run's ``deadline``), and reads at most
    :data:`~origin_tls.tls_wire.MAX_HANDSHAKE_BYTES`. ``client_cert_pem``/``client_key_pem``: see the module
    docstring (the verdict comes before a client certificate would be sent). Never raises for a network condition.
    """
    del client_cert_pem, client_key_pem  # the verdict is reached before TLS 1.3 sends a client certificate
    bound = Deadline.within(timeout, deadline)
    try:
        hello = build_client_hello(hostname)
    except NoMlKem as exc:  # nothing was offered: no evidence either way
        return PqResult(PqOutcome.ERROR, None, f"{endpoint}: not probed: {exc}")
    exchange = _Exchange(endpoint, hello)
    try:
        sock = connect(endpoint, bound)
    except Exception as exc:
        _, why = classify_error(exc)
        return PqResult(PqOutcome.ERROR, None, f"{endpoint}: {why}")
    stream = PlainStream(sock, bound)
    try:
        stream.send(hello.record)
        exchange.sent = len(hello.record)
        exchange.run(stream)
    except _Answer as answer:
        return exchange.result(answer.outcome, answer.group, answer.detail, answer.alert)
    except WireError as exc:
        return exchange.result(PqOutcome.ERROR, exchange.group, f"{endpoint}: not a TLS 1.3 answer: {exc}")
    except _Closed as exc:
        return exchange.result(PqOutcome.ERROR, exchange.group, f"{endpoint}: {exc}")
    except Exception as exc:
        _, why = classify_error(exc)
        after = f" after selecting {exchange.group}" if exchange.group else ""
        return exchange.result(PqOutcome.ERROR, exchange.group, f"{endpoint}: {why}{after}")
    finally:
        stream.close()
    raise AssertionError("unreachable: the exchange ends with an answer or an error")  # pragma: no cover


class _Exchange:
    """One probe's reading of the server's first flight."""

    def __init__(self, endpoint: Endpoint, hello: ClientHello) -> None:
        self.endpoint = endpoint
        self.hello = hello
        self.sent = 0
        self.received = 0
        self.group: str | None = None

    def result(self, outcome: PqOutcome, group: str | None, detail: str, alert: str | None = None) -> PqResult:
        return PqResult(outcome, group, detail, self.sent, self.received, alert)

    def _records(self, stream: PlainStream, reader: RecordReader) -> tuple[int, bytes, bytes]:
        """The next whole record; ERROR-worthy exceptions at the end of the stream or past the byte bound."""
        while True:
            record = reader.next()
            if record is not None:
                return record
            data = stream.recv(16 * 1024)
            if not data:
                raise _Closed(self._closed_text())
            self.received += len(data)
            if self.received > MAX_HANDSHAKE_BYTES:
                raise BoundExceeded(f"the server sent more than {MAX_HANDSHAKE_BYTES // 1024} KiB during the handshake")
            reader.feed(data)

    def _closed_text(self) -> str:
        if self.group is None:
            return (
                "the server closed the connection without a TLS answer (an origin or middlebox that cannot read a "
                "ClientHello spanning two TCP segments does this: tldr.fail)"
            )
        return "the server closed the connection before its Finished"

    def _alert(self, fragment: bytes) -> _Answer:
        code = fragment[1] if len(fragment) >= 2 else -1
        name = alert_description(code)
        where = f"{self.endpoint}: offered only X25519MLKEM768 over TLS 1.3, the server sent TLS alert {name}"
        if self.group is not None:
            return _Answer(PqOutcome.REFUSED, self.group, f"{where} after selecting {self.group}", name)
        if name in _NO_COMMON_GROUP:
            return _Answer(PqOutcome.REFUSED, None, f"{where}: no group in common, {NO_MLKEM}", name)
        if name == "protocol_version":
            return _Answer(
                PqOutcome.REFUSED,
                None,
                f"{where}: it does not speak TLS 1.3, which post-quantum key agreement needs "
                "(Cloudflare's pqh mode connects over TLS 1.3 only)",
                name,
            )
        return _Answer(PqOutcome.REFUSED, None, where, name)

    def run(self, stream: PlainStream) -> None:
        """Read until the verdict (raised as :class:`_Answer`); network and framing errors propagate."""
        reader, plain = RecordReader(), HandshakeBuffer()
        while True:  # until the ServerHello
            content_type, _, fragment = self._records(stream, reader)
            if content_type == CONTENT_ALERT:
                raise self._alert(fragment)
            if content_type != CONTENT_HANDSHAKE:
                raise WireError(f"record type {content_type} before the ServerHello")
            plain.feed(fragment)
            message = plain.next()
            if message is None:
                continue
            kind, server_hello = message
            if kind != _SERVER_HELLO:
                raise WireError(f"handshake message {kind} where a ServerHello was expected")
            break
        facts = parse_server_hello(server_hello)
        self._judge_hello(facts)
        # The server selected X25519MLKEM768 with a share: prove the agreement with its encrypted flight.
        try:
            keys = HandshakeKeys(
                facts.cipher_suite, self.hello.shared_secret(facts.key_exchange), self.hello.message + server_hello
            )
        except WireError as exc:
            raise _Answer(PqOutcome.REFUSED, self.group, f"{self.endpoint}: selected {self.group}, but {exc}") from None
        transcript = self.hello.message + server_hello
        protected = HandshakeBuffer()
        while True:
            content_type, header, fragment = self._records(stream, reader)
            if content_type == CONTENT_CCS:
                continue  # RFC 8446 appendix D.4: middlebox compatibility, ignored
            if content_type == CONTENT_ALERT:
                raise self._alert(fragment)
            if content_type != CONTENT_APPDATA:
                raise WireError(f"record type {content_type} after the ServerHello")
            try:
                inner_type, content = keys.open(header, fragment)
            except WireError as exc:
                raise _Answer(
                    PqOutcome.REFUSED,
                    self.group,
                    f"{self.endpoint}: selected {self.group}, but {exc}: its hybrid key agreement is broken",
                ) from None
            if inner_type == CONTENT_ALERT:
                raise self._alert(content)
            if inner_type != CONTENT_HANDSHAKE:
                raise WireError(f"protected record type {inner_type} before the server's Finished")
            protected.feed(content)
            while (message := protected.next()) is not None:
                kind, whole = message
                if kind == _FINISHED:
                    if not keys.finished_ok(transcript, whole):
                        raise _Answer(
                            PqOutcome.REFUSED,
                            self.group,
                            f"{self.endpoint}: selected {self.group}, but its Finished does not verify: "
                            "its hybrid key agreement is broken",
                        )
                    raise _Answer(
                        PqOutcome.NEGOTIATED,
                        self.group,
                        f"{self.endpoint}: selected X25519MLKEM768 over TLS 1.3 when offered only it (its "
                        "Finished verified under the hybrid key)",
                    )
                transcript += whole

    def _judge_hello(self, facts: ServerHelloFacts) -> None:
        """Raise the verdict for any ServerHello but TLS 1.3 with an X25519MLKEM768 share; note the group."""
        where = f"{self.endpoint}: offered only X25519MLKEM768 over TLS 1.3"
        if facts.version != _TLS13:
            raise _Answer(
                PqOutcome.TLS12_ONLY,
                None,
                f"{where}, the server answered with {facts.version_name}: post-quantum key agreement needs TLS 1.3 "
                "(Cloudflare's pqh mode connects over TLS 1.3 only)",
            )
        if facts.group is None:
            raise WireError("a TLS 1.3 ServerHello without a key_share")
        name = group_name(facts.group)
        self.group = name
        if facts.retry:
            if facts.group == X25519MLKEM768:
                raise _Answer(
                    PqOutcome.REFUSED,
                    name,
                    f"{where}, the server asked again for the share it was sent (a HelloRetryRequest for "
                    "X25519MLKEM768: RFC 8446 section 4.1.4 forbids it)",
                )
            raise _Answer(
                PqOutcome.CLASSICAL,
                name,
                f"{where}, the server asked for {name} instead (HelloRetryRequest): {NO_MLKEM}",
            )
        if facts.group != X25519MLKEM768:
            raise _Answer(PqOutcome.CLASSICAL, name, f"{where}, the server selected {name}: {NO_MLKEM}")
