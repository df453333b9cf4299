"""The post-quantum probe's pure TLS pieces on hostile bytes: nothing but :class:`WireError` ever escapes them.

The happy path is proven against real servers (tests/test_pq_probe.py: OpenSSL 4 and Go); here, what a hostile
peer can send: any bytes as records, as a ServerHello, as a key share.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from origin_tls.pq_wire import (
    SERVER_SHARE_BYTES,
    HandshakeBuffer,
    HandshakeKeys,
    RecordReader,
    WireError,
    build_client_hello,
    parse_server_hello,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_as_a_server_hello_give_facts_or_wire_error(body: bytes) -> None:
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    try:
        facts = parse_server_hello(message)
    except WireError:
        return
    assert facts.cipher_suite >= 0


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_any_byte_stream_gives_records_or_wire_error(chunks: list[bytes]) -> None:
    reader = RecordReader()
    try:
        for chunk in chunks:
            reader.feed(chunk)
            while (record := reader.next()) is not None:
                content_type, header, fragment = record
                assert content_type in (20, 21, 22, 23)
                assert len(header) == 5
                assert len(fragment) <= 2**14 + 256
    except WireError:
        pass


def test_a_record_longer_than_tls_allows_is_refused_before_it_is_read() -> None:
    reader = RecordReader()
    reader.feed(b"\x16\x03\x03\xff\xff")  # 65535 bytes announced: more than 2^14 + 256
    with pytest.raises(WireError, match="a TLS record of 65535 bytes"):
        reader.next()
    # The twin: the largest record TLS allows is waited for.
    fine = RecordReader()
    fine.feed(b"\x17\x03\x03\x41\x00")
    assert fine.next() is None


def test_handshake_messages_are_reassembled_across_fragments() -> None:
    buffer = HandshakeBuffer()
    message = b"\x08\x00\x00\x04abcd"
    buffer.feed(message[:3])
    assert buffer.next() is None
    buffer.feed(message[3:])
    assert buffer.next() == (8, message)
    assert buffer.empty


def test_an_all_zero_x25519_share_is_refused() -> None:
    # RFC 8446 section 7.4.2: an X25519 share that gives the all-zero secret must be refused.
    hello = build_client_hello("app.example.com")
    with pytest.raises(WireError, match="not valid"):
        hello.shared_secret(os.urandom(SERVER_SHARE_BYTES - 32) + bytes(32))
    # The twin: a valid X25519 point (the base point, 9) with any ML-KEM ciphertext gives a secret (implicit
    # rejection: FIPS 203 decapsulation never fails; the server's Finished is what proves the agreement).
    assert len(hello.shared_secret(os.urandom(SERVER_SHARE_BYTES - 32) + b"\x09" + bytes(31))) == 64


def test_a_cipher_suite_not_offered_is_refused() -> None:
    with pytest.raises(WireError, match="0x1304"):
        HandshakeKeys(0x1304, bytes(64), b"")
    assert repr(HandshakeKeys(0x1301, bytes(64), b"")) == "HandshakeKeys(<secret>)"
