"""Fuzzing the handshake parsers with what a server can send before anything is encrypted (issue 18): records of
any size and type, handshake messages with true or lying lengths, ServerHello and Certificate bodies broken inside.

Contract: :func:`parse_server_hello` and :func:`parse_handshake_certificate` never raise, each within 2 s of wall
time (generous: microseconds) and 64 KiB plus four times the input of allocation at the peak; the streaming
:class:`HandshakeReader` gives the same messages however the bytes are cut, looks at each byte once, and agrees with
the whole-input reading the parsers had before issue 18 (kept below as the reference); :class:`ServerHelloReader`
fed a growing buffer finds what :func:`parse_server_hello` finds in the whole; a certificate found is a slice of
the input.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from origin_tls.tls_wire import (
    HandshakeReader,
    ServerHelloReader,
    parse_handshake_certificate,
    parse_server_hello,
)

from .peer_strategies import bounded, budget, cuts, handshake_bytes


def reference_messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """The whole-input reading of handshake messages before issue 18 (``tls_wire._handshake_messages``)."""
    handshake = bytearray()
    offset = 0
    while offset + 5 <= len(data):
        content_type, _version, length = struct.unpack("!BHH", data[offset : offset + 5])
        fragment = data[offset + 5 : offset + 5 + length]
        offset += 5 + length
        if content_type == 22:
            handshake.extend(fragment)
        elif content_type != 21:
            break
    position = 0
    while position + 4 <= len(handshake):
        message_type = handshake[position]
        length = int.from_bytes(handshake[position + 1 : position + 4], "big")
        body = bytes(handshake[position + 4 : position + 4 + length])
        if len(body) < length:
            return
        position += 4 + length
        yield message_type, body


@budget(300)
@given(handshake_bytes().flatmap(lambda data: st.tuples(st.just(data), cuts(data))))
def test_the_handshake_readers_keep_their_contract(case: tuple[bytes, list[bytes]]) -> None:
    data, pieces = case
    streamed: list[tuple[int, bytes]] = []
    reader = HandshakeReader()
    for piece in pieces:
        streamed += reader.feed(piece)
    growing, watcher = bytearray(), ServerHelloReader()
    for piece in pieces:
        growing += piece
        watcher.read(growing)

    assert streamed == list(reference_messages(data))
    assert reader.examined == len(data)
    hello = bounded(lambda: parse_server_hello(data), seconds=2.0, peak_bytes=64 * 1024 + 4 * len(data))
    assert watcher.hello == hello
    if hello is not None:
        assert hello.version.startswith(("TLSv1", "0x"))
    certificate = bounded(lambda: parse_handshake_certificate(data), seconds=2.0, peak_bytes=64 * 1024 + 4 * len(data))
    if certificate is not None:
        assert certificate
        assert certificate in data or any(certificate in body for _, body in streamed)


@budget(100)
@given(st.binary(max_size=400))
def test_any_bytes_at_all(data: bytes) -> None:
    assert list(HandshakeReader().feed(data)) == list(reference_messages(data))
    parse_server_hello(data)
    parse_handshake_certificate(data)
