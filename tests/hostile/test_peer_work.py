"""Work, not wall time: the HTTP reader is linear in the bytes a peer sends, however the peer cuts them (issue 18,
finding 7).

A peer sending one byte per TLS record made the head reader rescan the whole head on every read (a 64 KiB head:
3.4 s of CPU with the GIL held) and the chunked decoder re-decode the whole body (24 KB: 46 s). The readers count
the bytes their searches and decoders look at (``examined``); these tests hold that count linear, and the yardstick
itself is shown to catch the old, rescanning reading. The CPU-time figures are ``bench/peer_parsers.py``'s.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from origin_tls.tls_wire import (
    MAX_HEAD_BYTES,
    ChunkedDecoder,
    HandshakeReader,
    HeadFinder,
    HttpAnswerReader,
    ServerHelloReader,
)

#: Bytes looked at per byte received, at most: the head finder searches each byte for CRLF CRLF (with 3 bytes of
#: overlap per read) and counts its CRLFs (1 byte of overlap), and the head is then parsed once.
PER_BYTE = 8


def one_byte_at_a_time(data: bytes) -> Callable[[int], bytes]:
    """A ``recv`` handing out one byte per call: the worst cut a peer can make (one byte per TLS record)."""
    position = 0

    def recv(size: int) -> bytes:
        nonlocal position
        chunk = data[position : position + 1]
        position += len(chunk)
        return chunk

    return recv


def head_of(size: int) -> bytes:
    """An answer whose head is ``size`` bytes (one long header), with an empty body."""
    start, end = b"HTTP/1.1 200 OK\r\nX-Long: ", b"\r\nContent-Length: 0\r\n\r\n"
    return start + b"a" * (size - len(start) - len(end)) + end


def chunked_of(chunks: int) -> bytes:
    """An answer with a chunked body of ``chunks`` one-byte chunks (6 bytes of coding each)."""
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * chunks + b"0\r\n\r\n"


def is_linear(work: Callable[[int], int], n: int) -> bool:
    """Whether ``work(size)`` grows like ``size``: at most :data:`PER_BYTE` per unit at ``n`` and ``4 n``, and four
    times the input costs at most about four times the work (a quadratic reading costs sixteen)."""
    small, large = work(n), work(4 * n)
    return small <= PER_BYTE * n and large <= PER_BYTE * 4 * n and large <= 4.5 * small


def _reader_work(raw: bytes) -> int:
    reader = HttpAnswerReader()
    answer = reader.read(one_byte_at_a_time(raw))
    assert answer.status == 200
    return reader.examined


def test_a_64_kib_head_fed_one_byte_at_a_time_costs_linear_work() -> None:
    assert is_linear(lambda size: _reader_work(head_of(size)), MAX_HEAD_BYTES // 4)


def test_a_chunked_body_fed_one_byte_at_a_time_costs_linear_work() -> None:
    # 2,700 chunks of one byte (16 KB of coding) and four times that (65 KB): both under the reading's bounds
    # (MAX_BODY_BYTES of body, MAX_BODY_BYTES + MAX_HEAD_BYTES of coding), so every byte is decoded.
    def work(chunks: int) -> int:
        raw = chunked_of(chunks)
        reader = HttpAnswerReader()
        answer = reader.read(one_byte_at_a_time(raw))
        assert answer.body == b"x" * chunks
        return reader.examined

    assert is_linear(work, 2_700)


def test_a_chunked_body_in_one_read_costs_linear_work() -> None:
    # Found by tests/fuzz/test_fuzz_peer_http.py: the first incremental decoder copied the rest of each read into
    # its size-line buffer at every chunk, so many small chunks in one read cost quadratic work.
    def work(chunks: int) -> int:
        decoder = ChunkedDecoder()
        decoder.feed(b"1\r\nx\r\n" * chunks + b"0\r\n\r\n")
        assert decoder.body() == b"x" * chunks
        return decoder.examined

    assert is_linear(work, 2_000)


def test_the_finders_keep_their_place_between_feeds() -> None:
    finder, decoder = HeadFinder(), ChunkedDecoder()
    head, body = head_of(4_000), b"3\r\nabc\r\n" * 500 + b"0\r\n\r\n"
    for i in range(len(head)):
        finder.feed(head[i : i + 1])
    for i in range(len(body)):
        decoder.feed(body[i : i + 1])

    assert finder.end == len(head) - 4
    assert decoder.done
    assert decoder.body() == b"abc" * 500
    assert finder.examined <= 6 * len(head)
    assert decoder.examined <= 3 * len(body)


def server_hello_in_tiny_records(padding: int) -> bytes:
    """A TLS 1.2 ServerHello whose body carries ``padding`` bytes of an unknown extension (OpenSSL reads up to
    20,000), cut into records of one handshake byte each (RFC 5246 section 6.2.1 allows it): the bytes a hostile
    origin sends to make a client parse many records."""
    extension = b"\xfe\xfe" + padding.to_bytes(2, "big") + b"\x00" * padding
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\xc0\x2f\x00" + len(extension).to_bytes(2, "big") + extension
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"".join(b"\x16\x03\x03\x00\x01" + message[i : i + 1] for i in range(len(message)))


def _hello_work(padding: int) -> int:
    """What the version probe's ServerHello watch costs: the growing buffer handed over after every read."""
    data, received, reader = server_hello_in_tiny_records(padding), bytearray(), ServerHelloReader()
    for i in range(len(data)):
        received += data[i : i + 1]
        reader.read(received)
    assert reader.hello is not None
    assert reader.hello.version == "TLSv1.2"
    return reader.examined


def test_a_server_hello_in_one_byte_records_costs_linear_work() -> None:
    assert is_linear(_hello_work, 300)


# --------------------------------------------------------------------------------------------------------------
# The failing twin: the yardstick catches the reading issue 18 found.


def _rescanning_head_work(size: int) -> int:
    """The head reading before issue 18, its work counted the same way: on every one-byte read, search the whole
    buffer for the blank line and count every CRLF in it (two passes over all that came before)."""
    return sum(2 * received for received in range(1, len(head_of(size)) + 1))


def _rescanning_chunked_work(chunks: int) -> int:
    """The chunked reading before issue 18: decode the whole body again on every read."""
    coding, work = b"1\r\nx\r\n" * chunks + b"0\r\n\r\n", 0
    for end in range(1, len(coding) + 1):
        work += end
    return work


def _reparsing_hello_work(padding: int) -> int:
    """The ServerHello watch before issue 18: parse every byte received so far again after each read (a fresh
    reader's work on each prefix is that prefix's length)."""
    data = server_hello_in_tiny_records(padding)
    assert HandshakeReader().feed(data)  # the model's bytes are a handshake message
    return sum(range(1, len(data) + 1))


@pytest.mark.parametrize(
    ("work", "n"),
    [(_rescanning_head_work, MAX_HEAD_BYTES // 4), (_rescanning_chunked_work, 2_700), (_reparsing_hello_work, 300)],
)
def test_the_yardstick_fails_a_reader_that_rescans(work: Callable[[int], int], n: int) -> None:
    assert not is_linear(work, n)
