"""Numbers and framing read from a peer's HTTP answer: ASCII digits only, and a chunk size is 1*HEXDIG (issue 18,
findings 6 and 7). Each case that used to raise, hang or lose the answer has a well-formed twin."""

from __future__ import annotations

import pytest

from origin_tls.tls_wire import MAX_BODY_BYTES, ChunkedDecoder, parse_content_length, read_http_answer


def _answer(raw: bytes) -> tuple[int, bytes, bool, tuple[str, ...]]:
    chunks = [raw]

    def recv(size: int) -> bytes:
        return chunks.pop(0) if chunks else b""

    answer = read_http_answer(recv)
    return answer.status, answer.body, answer.body_complete, answer.all("X-Kept")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3),
        (" 3\t", 3),
        ("007", 7),
        ("0", 0),
        ("9" * 40, 10**18),  # more than any body read: capped, never int() of thousands of digits
        ("9" * 5000, 10**18),
        # Failing twins: not 1*DIGIT.
        ("\u00b2", None),  # "²": str.isdigit() is true, int() refuses it
        ("\u0663", None),  # Arabic-Indic three
        ("\uff13", None),  # fullwidth three: int() would take it
        ("-1", None),
        ("+3", None),
        ("3_0", None),
        ("0x10", None),
        ("3, 3", None),
        ("", None),
    ],
)
def test_content_length_is_ascii_digits(value: str, expected: int | None) -> None:
    assert parse_content_length(value) == expected


def test_a_unicode_content_length_keeps_the_answer() -> None:
    # Given an answer whose Content-Length is "²" (latin-1 \xb2 on the wire)
    raw = b"HTTP/1.1 301 Moved\r\nContent-Length: \xb2\r\nX-Kept: yes\r\n\r\nab"

    # Then the status and headers stand; the body is read to the close, as without a length
    assert _answer(raw) == (301, b"ab", True, ("yes",))


def test_its_twin_with_an_ascii_length_reads_that_length() -> None:
    raw = b"HTTP/1.1 301 Moved\r\nContent-Length: 1\r\nX-Kept: yes\r\n\r\nab"

    assert _answer(raw) == (301, b"a", True, ("yes",))


HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kept: yes\r\n\r\n"


@pytest.mark.parametrize(
    "size_line",
    [
        b"-6",  # int(b"-6", 16) is -6: the old decoder went back to where it started, forever
        b"-3",
        b"+3",
        b"0x3",
        b"0_3",
        b"\xef\xbc\x93",  # fullwidth three, UTF-8
        b"3 3",
        b"",
        b"1" * 17,  # over 16 hex digits: more than any body
    ],
)
def test_a_chunk_size_that_is_not_hexdig_ends_the_body_with_what_was_decoded(size_line: bytes) -> None:
    raw = HEAD + b"2\r\nok\r\n" + size_line + b"\r\nabc\r\n0\r\n\r\n"

    assert _answer(raw) == (200, b"ok", True, ("yes",))


@pytest.mark.parametrize("size_line", [b"3", b"03", b"3;ext=1", b"3 ", b"3\t;x"])
def test_its_twins_with_hexdig_sizes_are_decoded(size_line: bytes) -> None:
    raw = HEAD + b"2\r\nok\r\n" + size_line + b"\r\nabc\r\n0\r\n\r\n"

    assert _answer(raw) == (200, b"okabc", True, ("yes",))


def test_a_huge_chunk_size_reads_to_the_body_bound() -> None:
    decoder = ChunkedDecoder()
    decoder.feed(b"ffffffffffffffff\r\n" + b"z" * (MAX_BODY_BYTES + 10))

    assert decoder.done
    assert decoder.body() == b"z" * MAX_BODY_BYTES


def test_a_size_line_cut_between_cr_and_lf_is_one_line() -> None:
    decoder = ChunkedDecoder()
    for piece in (b"3\r", b"\nab", b"c\r\n0\r", b"\n\r\n"):
        decoder.feed(piece)

    assert decoder.done
    assert decoder.body() == b"abc"
