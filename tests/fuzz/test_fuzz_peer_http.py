"""Fuzzing the HTTP reader with what a peer can send (issue 18): heads, chunked bodies, cut anywhere.

Contract of :class:`~origin_tls.tls_wire.HttpAnswerReader` (``read_http_answer``): it returns an answer or raises
:class:`NotHttp`, :class:`BoundExceeded` or ``ConnectionResetError`` (the close before the blank line), nothing
else; how the bytes are cut never changes the outcome; the body kept is at most ``MAX_BODY_BYTES``; the work
(bytes its searches and decoders look at) is at most 8 per byte received, plus a constant; memory at most a few
times the input. The chunked decoder and the head finder agree with a plain, whole-input reading of the same
grammar (RFC 9112 sections 2.1, 7.1).
"""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from origin_tls.tls_wire import (
    MAX_BODY_BYTES,
    BoundExceeded,
    ChunkedDecoder,
    HeadFinder,
    HttpAnswer,
    HttpAnswerReader,
    NotHttp,
)
from tests.test_tls_wire import _feeder

from .peer_strategies import budget, chunked_bodies, cuts, http_answers

ALLOWED = (NotHttp, BoundExceeded, ConnectionResetError)
WORK_PER_BYTE = 8


def _read(recv: Callable[[int], bytes]) -> tuple[HttpAnswer | type[BaseException], int]:
    reader = HttpAnswerReader()
    try:
        return reader.read(recv), reader.examined
    except ALLOWED as exc:
        return type(exc), reader.examined


def _answer_and_cut() -> st.SearchStrategy[tuple[bytes, list[bytes]]]:
    return http_answers().flatmap(lambda raw: st.tuples(st.just(raw), cuts(raw)))


@budget(250)
@given(_answer_and_cut())
def test_the_http_reader_keeps_its_contract(case: tuple[bytes, list[bytes]]) -> None:
    raw, pieces = case
    recv = _feeder(*pieces)  # before counting: the feeder's list of pieces is the test's memory, not the reader's
    tracemalloc.start()
    try:
        outcome, work = _read(recv)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole, _ = _read(_feeder(raw))

    assert outcome == whole  # however the peer cuts it
    assert work <= WORK_PER_BYTE * len(raw) + 64
    assert peak <= 256 * 1024 + 8 * len(raw)
    if isinstance(outcome, HttpAnswer):
        assert 100 <= outcome.status <= 999
        assert len(outcome.body) <= MAX_BODY_BYTES


_HEXDIG = re.compile(rb"[0-9A-Fa-f]{1,16}")


def reference_dechunk(data: bytes) -> tuple[bytes, bool]:
    """RFC 9112 section 7.1 read from the whole input at once (as the decoder did before issue 18, with the
    chunk size held to 1*HEXDIG): the decoded prefix and whether the reading ended."""
    out, position = bytearray(), 0
    while True:
        line_end = data.find(b"\r\n", position)
        if line_end < 0:
            return bytes(out), False
        size_text = data[position:line_end].split(b";", 1)[0].strip(b" \t")
        if not _HEXDIG.fullmatch(size_text):
            return bytes(out), True
        size = int(size_text, 16)
        if size == 0:
            return bytes(out), True
        start = line_end + 2
        out += data[start : start + size]
        if len(data) < start + size + 2:
            return bytes(out), False
        position = start + size + 2


@budget(300)
@given(chunked_bodies().flatmap(lambda body: st.tuples(st.just(body), cuts(body))))
def test_the_chunked_decoder_agrees_with_a_whole_reading(case: tuple[bytes, list[bytes]]) -> None:
    body, pieces = case
    decoder = ChunkedDecoder()
    for piece in pieces:
        decoder.feed(piece)
        if decoder.done:
            break
    expected, ended = reference_dechunk(body)

    assert (decoder.body(), decoder.done) == (expected[:MAX_BODY_BYTES], ended)
    assert decoder.examined <= 2 * len(body) + 2 * len(pieces)


@budget(200)
@given(st.binary(max_size=300).flatmap(lambda data: st.tuples(st.just(data), cuts(data))))
def test_the_head_finder_finds_the_first_blank_line(case: tuple[bytes, list[bytes]]) -> None:
    data, pieces = case
    finder = HeadFinder()
    try:
        for piece in pieces:
            finder.feed(piece)
    except BoundExceeded:
        assert data.count(b"\r\n") > 100  # the only bound such short input can reach
        return

    found = data.find(b"\r\n\r\n")
    assert finder.end == (found if found >= 0 else None)
