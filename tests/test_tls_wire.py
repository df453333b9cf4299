"""origin_tls.tls_wire: the bounded HTTP reader and the handshake parsers, on hand-made bytes (no network).

The real-peer side of the same code is in tests/test_probes.py.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import ssl
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from origin_tls.tls_wire import (
    MAX_BODY_BYTES,
    MAX_HEAD_BYTES,
    MAX_HEADERS,
    BoundExceeded,
    NotHttp,
    parse_certificate_request,
    parse_http_head,
    parse_server_hello,
    read_http_answer,
)
from tests.peers.pki import TestPki


def _feeder(*chunks: bytes, then: BaseException | None = None) -> Callable[[int], bytes]:
    """A ``recv`` that hands out ``chunks`` one by one (never more than asked), then b"" or raises ``then``."""
    pending: list[bytes] = list(chunks)

    def recv(size: int) -> bytes:
        while pending:
            chunk = pending.pop(0)
            if len(chunk) > size:
                pending.insert(0, chunk[size:])
                chunk = chunk[:size]
            if chunk:
                return chunk
        if then is not None:
            raise then
        return b""

    return recv


def _endless(unit: bytes, prefix: bytes = b"") -> Callable[[int], bytes]:
    sent = [False]

    def recv(size: int) -> bytes:
        if not sent[0]:
            sent[0] = True
            return prefix
        return unit * max(1, size // len(unit))

    return recv


# --------------------------------------------------------------------------------------------------------------
# HTTP


def test_a_plain_answer_is_read_whole() -> None:
    answer = read_http_answer(_feeder(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-A: 1\r\n\r\nabc"))

    assert (answer.status, answer.body, answer.body_complete) == (200, b"abc", True)
    assert answer.all("x-a") == ("1",)


def test_an_answer_trickled_one_byte_at_a_time_is_the_same_answer() -> None:
    raw = b"HTTP/1.1 301 Moved\r\nLocation: https://a.example/\r\nContent-Length: 0\r\n\r\n"

    answer = read_http_answer(_feeder(*(raw[i : i + 1] for i in range(len(raw)))))

    assert (answer.status, answer.all("Location")) == (301, ("https://a.example/",))


def test_headers_are_kept_as_http_client_keeps_them() -> None:
    # The probes used http.client before: the same raw head must give the same (name, value) pairs, or HSTS
    # verdicts on odd spellings would change.
    head = (
        b"HTTP/1.1 200 OK\r\nA: x  \r\nB:y\r\nC:   z\t\r\nD: one\r\n  two\r\nE:\r\n"
        b"strict-transport-security: max-age=1\r\nStrict-Transport-Security:max-age=2;;preload\r\n"
    )
    reference = http.client.HTTPResponse(_Sock(head + b"\r\n"))  # type: ignore[arg-type]
    reference.begin()

    status, headers = parse_http_head(head.rstrip(b"\r\n"))

    assert status == 200
    assert list(headers) == list(reference.msg.items())


def test_a_line_that_is_not_a_header_ends_the_headers_like_http_client() -> None:
    head = b"HTTP/1.1 200 OK\r\nA: 1\r\nNot a header\r\nB: 2\r\n"
    reference = http.client.HTTPResponse(_Sock(head + b"\r\n"))  # type: ignore[arg-type]
    reference.begin()

    assert list(parse_http_head(head.rstrip(b"\r\n"))[1]) == list(reference.msg.items()) == [("A", "1")]


class _Sock:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def makefile(self, mode: str) -> io.BytesIO:
        return io.BytesIO(self.data)


@pytest.mark.parametrize("first", [b"SSH-2.0-OpenSSH_9.2", b"HTTP/1.1 OK", b"\x15\x03\x03\x00\x02\x02\x28", b""])
def test_not_an_http_status_line(first: bytes) -> None:
    with pytest.raises(NotHttp):
        read_http_answer(_feeder(first + b"\r\n\r\n"))


def test_endless_headers_stop_at_the_header_count_bound() -> None:
    head = b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n"

    with pytest.raises(BoundExceeded, match=f"more than {MAX_HEADERS} header lines"):
        read_http_answer(_feeder(head))


def test_a_header_line_without_end_stops_at_the_byte_bound() -> None:
    recv = _endless(b"a", prefix=b"HTTP/1.1 200 OK\r\nX-Long: ")

    with pytest.raises(BoundExceeded, match="64 KiB"):
        read_http_answer(recv)


def test_the_head_bound_is_not_reached_by_a_large_but_bounded_head() -> None:
    value = b"v" * (MAX_HEAD_BYTES - 200)
    answer = read_http_answer(_feeder(b"HTTP/1.1 200 OK\r\nX-Big: " + value + b"\r\nContent-Length: 0\r\n\r\n"))

    assert answer.all("X-Big") == (value.decode(),)


def test_an_endless_body_is_cut_at_the_body_bound_and_is_not_an_error() -> None:
    answer = read_http_answer(_endless(b"x", prefix=b"HTTP/1.1 200 OK\r\n\r\n"))

    assert answer.status == 200
    assert len(answer.body) == MAX_BODY_BYTES
    assert answer.body_complete


def test_an_endless_chunked_body_is_cut_too() -> None:
    chunk = b"400\r\n" + b"y" * 0x400 + b"\r\n"
    answer = read_http_answer(_endless(chunk, prefix=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))

    assert answer.body == b"y" * MAX_BODY_BYTES


def test_a_chunked_body_is_decoded() -> None:
    raw = b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n"

    assert read_http_answer(_feeder(raw)).body == b"hello world"


def test_a_body_torn_before_its_length_is_incomplete_but_the_answer_stands() -> None:
    answer = read_http_answer(
        _feeder(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 100\r\n\r\npartial", then=TimeoutError("deadline"))
    )

    assert (answer.status, answer.body, answer.body_complete) == (400, b"partial", False)


def test_a_close_before_the_end_of_the_headers_is_an_error() -> None:
    with pytest.raises(ConnectionResetError):
        read_http_answer(_feeder(b"HTTP/1.1 200 OK\r\nX-A: 1\r\n"))


def test_a_timeout_while_reading_the_headers_propagates() -> None:
    with pytest.raises(TimeoutError):
        read_http_answer(_feeder(b"HTTP/1.1 200 OK\r\n", then=TimeoutError("deadline")))


def test_interim_answers_are_skipped() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nX: 1\r\n\r\n"

    answer = read_http_answer(_feeder(raw))

    assert (answer.status, answer.all("X")) == (204, ("1",))


# --------------------------------------------------------------------------------------------------------------
# ServerHello


def _record(content_type: int, payload: bytes) -> bytes:
    return bytes([content_type, 3, 3]) + len(payload).to_bytes(2, "big") + payload


def _server_hello(legacy: int, *, supported: int | None = None, session_id: bytes = b"\x11" * 32) -> bytes:
    extensions = b""
    if supported is not None:
        extensions = (43).to_bytes(2, "big") + (2).to_bytes(2, "big") + supported.to_bytes(2, "big")
    body = (
        legacy.to_bytes(2, "big")
        + b"\x00" * 32
        + bytes([len(session_id)])
        + session_id
        + b"\x13\x01\x00"
        + len(extensions).to_bytes(2, "big")
        + extensions
    )
    return bytes([2]) + len(body).to_bytes(3, "big") + body


@pytest.mark.parametrize(
    ("legacy", "supported", "version"),
    [
        (0x0301, None, "TLSv1"),
        (0x0302, None, "TLSv1.1"),
        (0x0303, None, "TLSv1.2"),
        (0x0303, 0x0304, "TLSv1.3"),  # RFC 8446 section 4.1.3: the version is in supported_versions
    ],
)
def test_server_hello_version(legacy: int, supported: int | None, version: str) -> None:
    hello = parse_server_hello(_record(22, _server_hello(legacy, supported=supported)))

    assert hello is not None
    assert hello.version == version


def test_server_hello_split_across_records_and_followed_by_an_alert() -> None:
    message = _server_hello(0x0303)
    data = _record(22, message[:10]) + _record(22, message[10:]) + _record(21, b"\x02\x28")

    hello = parse_server_hello(data)

    assert hello is not None
    assert hello.version == "TLSv1.2"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        _record(21, b"\x02\x46"),  # only a protocol_version alert: no version was selected
        _record(22, _server_hello(0x0303)[:30]),  # cut short
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
    ],
)
def test_no_server_hello(data: bytes) -> None:
    assert parse_server_hello(data) is None


def test_server_hello_of_a_real_handshake() -> None:
    # Given the bytes a real TLS 1.2 server sends (an OpenSSL server driven through memory buffers)
    server_bytes = _real_server_flight(ssl.TLSVersion.TLSv1_2)

    hello = parse_server_hello(server_bytes)

    assert hello is not None
    assert hello.version == "TLSv1.2"


@pytest.mark.parametrize(
    ("version", "request_certificate", "requested"),
    [
        (ssl.TLSVersion.TLSv1_2, True, True),
        (ssl.TLSVersion.TLSv1_2, False, False),  # the server's flight ended (ServerHelloDone) without one
        (ssl.TLSVersion.TLSv1_3, True, None),  # encrypted: cannot be seen
    ],
)
def test_certificate_request_of_a_real_handshake(
    version: ssl.TLSVersion, request_certificate: bool, requested: bool | None
) -> None:
    server_bytes = _real_server_flight(version, request_certificate=request_certificate)

    assert parse_certificate_request(server_bytes) is requested


def test_certificate_request_cannot_be_told_from_a_flight_cut_short() -> None:
    flight = _real_server_flight(ssl.TLSVersion.TLSv1_2, request_certificate=False)
    assert parse_certificate_request(_record(22, _server_hello(0x0303))) is None  # no ServerHelloDone yet
    done = flight.index(b"\x0e\x00\x00\x00") + 4  # the end of the ServerHelloDone (type 14, empty)
    assert parse_certificate_request(flight[:done]) is False
    assert parse_certificate_request(flight[: done - 1]) is None  # the ServerHelloDone torn
    assert parse_certificate_request(_record(21, b"\x02\x32")) is None  # decode_error before any ServerHello


def _real_server_flight(version: ssl.TLSVersion, *, request_certificate: bool = False) -> bytes:

    with tempfile.TemporaryDirectory() as directory:
        pki = TestPki(Path(directory))
        leaf = pki.good("a.example")
        server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server_context.load_cert_chain(leaf.chain_path, leaf.key_path)
        if request_certificate:
            server_context.load_verify_locations(pki.client_ca.cert_path)
            server_context.verify_mode = ssl.CERT_OPTIONAL
    server_context.minimum_version = server_context.maximum_version = version
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.check_hostname = False
    client_context.verify_mode = ssl.CERT_NONE
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = client_context.wrap_bio(c_in, c_out, server_hostname="a.example")
    server = server_context.wrap_bio(s_in, s_out, server_side=True)
    sent = bytearray()
    for _ in _rounds():
        for side in (client, server):
            with contextlib.suppress(ssl.SSLWantReadError):
                side.do_handshake()
        s_in.write(c_out.read())
        chunk = s_out.read()
        sent.extend(chunk)
        c_in.write(chunk)
        if client.version() and server.version():
            break
    return bytes(sent)


def _rounds() -> Iterator[int]:
    yield from range(10)
