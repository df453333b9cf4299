"""Pure parsers for what a peer sends: TLS handshake records and HTTP/1.1 answers, every one of them bounded.

- :func:`parse_server_hello`: the protocol version a server selected, from the raw bytes of a handshake (the
  evidence that a version was accepted even when the handshake is then aborted for a missing client certificate);
- :func:`parse_handshake_certificate`: the server certificate of a cleartext (TLS 1.0-1.2) handshake;
- :func:`parse_certificate_request`: whether the server asked for a client certificate in such a handshake;
- :func:`read_http_answer`: status line, headers and the first bytes of the body, read through any ``recv``
  callable, refusing (:class:`BoundExceeded`) a head past :data:`MAX_HEAD_BYTES` or :data:`MAX_HEADERS` lines;
- the two ways a probe meets a bound: :class:`BoundExceeded` (bytes) and :class:`ProbeTimeout` (time).

What is read as it arrives keeps its place (:class:`HeadFinder`, :class:`ChunkedDecoder`, :class:`HandshakeReader`,
:class:`ServerHelloReader`): the work is linear in the bytes received however a peer cuts them, one byte per TLS
record included (issue 18). Numbers are ASCII digits only (:func:`parse_content_length`, chunk sizes).

No I/O here: :mod:`origin_tls.tls_client` feeds these from sockets under a deadline.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_HANDSHAKE_BYTES",
    "MAX_HEADERS",
    "MAX_HEAD_BYTES",
    "BoundExceeded",
    "ChunkedDecoder",
    "HandshakeReader",
    "HeadFinder",
    "HttpAnswer",
    "HttpAnswerReader",
    "NotHttp",
    "ProbeTimeout",
    "ServerHello",
    "ServerHelloReader",
    "parse_certificate_request",
    "parse_content_length",
    "parse_handshake_certificate",
    "parse_http_head",
    "parse_server_hello",
    "read_http_answer",
]

#: Status line + headers: nginx's own default (large_client_header_buffers 4 x 8k) is far below; 64 KiB covers any
#: real server and bounds a peer that never ends its headers.
MAX_HEAD_BYTES = 64 * 1024
#: Header lines: real answers carry a few dozen; nginx refuses requests past 100 headers too.
MAX_HEADERS = 100
#: Body bytes kept: the probes judge the status and headers, plus nginx's 400 page text (about 250 bytes). Reading
#: stops here, it is not an error: the rest of the body is not evidence of anything.
MAX_BODY_BYTES = 16 * 1024
#: Bytes a server may send during a handshake: a chain of ten 4 KiB RSA certificates is 40 KiB; OpenSSL's own limit on
#: a certificate list is 100 KiB (SSL_CTX_set_max_cert_list default).
MAX_HANDSHAKE_BYTES = 256 * 1024

_RECV = 16 * 1024


class BoundExceeded(Exception):
    """A peer sent more than a fixed bound allows; ``str()`` names the bound (for an ``inconclusive`` detail)."""


class ProbeTimeout(TimeoutError):
    """A probe's deadline passed; ``str()`` says which (its timeout, or the run's ``--deadline``)."""


class NotHttp(ValueError):
    """The answer does not start with an HTTP/1.x status line."""


class HttpAnswer:
    """An HTTP response as received: status, every header (name, value) in order, the first bytes of the body.

    ``body_complete`` is False when the body was cut short (closed, reset, out of time) before its end or before
    :data:`MAX_BODY_BYTES`: a judge that reads the body text must not take its absence as evidence.

    A plain class (so is :class:`ServerHello`): a dataclass costs ~0.6 ms of CPU to make, and this module is
    imported before a run's first connection (issue 17). Equal when every field is.
    """

    __slots__ = ("body", "body_complete", "headers", "status")

    def __init__(
        self, status: int, headers: tuple[tuple[str, str], ...], body: bytes, body_complete: bool = True
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.body_complete = body_complete

    def _fields(self) -> tuple[object, ...]:
        return (self.status, self.headers, self.body, self.body_complete)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HttpAnswer) and self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"HttpAnswer(status={self.status!r}, headers={self.headers!r}, body={self.body!r}, "
            f"body_complete={self.body_complete!r})"
        )

    def all(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (case-insensitive), in order."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)


# --------------------------------------------------------------------------------------------------------------
# HTTP/1.1 (RFC 9112 sections 4, 5, 6, 7.1)

_STATUS_LINE = re.compile(rb"HTTP/(\d)\.(\d) (\d{3})(?: [^\r\n]*)?")
# The header lines http.client (email.feedparser) takes as headers: a name of visible characters but ":" then ":".
# A line that is neither that nor a continuation ends the headers, as it does for http.client (whose parsing the
# earlier probes used: the verdicts on odd spellings must not change).
_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]*:")


def parse_http_head(head: bytes) -> tuple[int, tuple[tuple[str, str], ...]]:
    """Status and headers of an HTTP/1.x response head (the bytes before the blank line).

    Values are kept as sent, leading spaces dropped (obs-fold continuation lines joined with CRLF, as http.client
    does); :class:`NotHttp` when the first line is not an HTTP status line; :class:`BoundExceeded` past
    :data:`MAX_HEADERS`.
    """
    lines = head.split(b"\r\n")
    match = _STATUS_LINE.fullmatch(lines[0])
    if match is None:
        raise NotHttp(f"not an HTTP status line: {lines[0][:80]!r}")
    headers: list[list[str]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and headers:
            headers[-1][1] += "\r\n" + line.decode("latin-1")
            continue
        if not _HEADER_LINE.match(line):
            break
        name, _, value = line.partition(b":")
        headers.append([name.decode("latin-1"), value.lstrip(b" \t").decode("latin-1")])
        if len(headers) > MAX_HEADERS:
            raise BoundExceeded(f"more than {MAX_HEADERS} header lines in the answer")
    return int(match.group(3)), tuple((name, value) for name, value in headers)


def read_http_answer(recv: Callable[[int], bytes]) -> HttpAnswer:
    """Read one HTTP/1.x answer through ``recv(n)`` (bytes, ``b""`` at the end of the stream).

    The head must end within :data:`MAX_HEAD_BYTES` (else :class:`BoundExceeded`); informational 1xx answers are
    skipped; the body is read by its Content-Length, chunked coding or until the close, and at most
    :data:`MAX_BODY_BYTES` of it. Errors from ``recv`` while reading the head propagate (the caller's deadline, a
    reset); while reading the body they end the body (``body_complete=False``): status and headers are the evidence.
    The work is linear in the bytes received, however they are cut (:class:`HttpAnswerReader`).
    """
    return HttpAnswerReader().read(recv)


_CLOSED_IN_HEAD = "the server closed the connection before the end of the HTTP headers"


class HttpAnswerReader:
    """:func:`read_http_answer`, with :attr:`examined` (bytes looked at by its searches and decoders) kept for
    whoever wants to hold its work linear: a peer sending one byte per TLS record must not make every read rescan
    what came before (issue 18: a 64 KiB head took 3.4 s of CPU, a 24 KB chunked body 46 s)."""

    def __init__(self) -> None:
        self.examined = 0

    def read(self, recv: Callable[[int], bytes]) -> HttpAnswer:
        head = HeadFinder()
        try:
            while True:
                end = head.end
                if end is None:
                    chunk = recv(_RECV)
                    if not chunk:
                        raise ConnectionResetError(_CLOSED_IN_HEAD)
                    head.feed(chunk)
                    continue
                status, headers = parse_http_head(bytes(head.buffer[:end]))
                self.examined += end
                rest = bytes(head.buffer[end + 4 :])
                if 100 <= status < 200 and status != 101:
                    # RFC 9110 section 15.2: an interim answer; the final one follows.
                    self.examined += head.examined
                    head = HeadFinder()
                    head.feed(rest)
                    continue
                body, complete = self._read_body(recv, rest, headers, status)
                return HttpAnswer(status, headers, body, complete)
        finally:
            self.examined += head.examined

    def _read_body(
        self, recv: Callable[[int], bytes], start: bytes, headers: tuple[tuple[str, str], ...], status: int
    ) -> tuple[bytes, bool]:
        if status in (204, 304):
            return b"", True
        values = {name.lower(): value for name, value in headers}
        if "chunked" in values.get("transfer-encoding", "").lower():
            return self._read_chunked(recv, start)
        length = parse_content_length(values.get("content-length", ""))
        wanted = MAX_BODY_BYTES if length is None else min(length, MAX_BODY_BYTES)
        raw = bytearray(start)
        try:
            while len(raw) < wanted:
                chunk = recv(_RECV)
                if not chunk:
                    return bytes(raw[:wanted]), length is None
                raw.extend(chunk)
        except Exception:  # a torn body is reported as incomplete, the head stands
            return bytes(raw[:wanted]), False
        self.examined += len(raw)
        return bytes(raw[:wanted]), True

    def _read_chunked(self, recv: Callable[[int], bytes], start: bytes) -> tuple[bytes, bool]:
        decoder = ChunkedDecoder()
        try:
            decoder.feed(start)
            while not decoder.done:
                chunk = recv(_RECV)
                if not chunk:
                    return decoder.body(), False
                decoder.feed(chunk)
        except Exception:  # a torn body is reported as incomplete, the head stands
            return decoder.body(), False
        finally:
            self.examined += decoder.examined
        return decoder.body(), True


_CONTENT_LENGTH = re.compile(r"[0-9]+")
# More digits than this is more than any body we read (MAX_BODY_BYTES), and keeps int() away from its digit limit.
_LENGTH_DIGITS = 18


def parse_content_length(value: str) -> int | None:
    """RFC 9110 section 8.6 ``Content-Length = 1*DIGIT`` (ASCII digits: ``str.isdigit`` also takes ``²``, which
    ``int`` refuses), capped at 10^18; None when the value is not one. Never raises."""
    text = value.strip(" \t")
    if not _CONTENT_LENGTH.fullmatch(text):
        return None
    text = text.lstrip("0") or "0"
    return 10**_LENGTH_DIGITS if len(text) > _LENGTH_DIGITS else int(text)


class HeadFinder:
    """Where an HTTP head ends (its blank line), in bytes fed piecewise: each byte is searched a bounded number of
    times, so the work is linear in the bytes fed however they are cut.

    :attr:`end` is the offset of the ``CRLF CRLF`` in :attr:`buffer` once seen. Until then :meth:`feed` raises
    :class:`BoundExceeded` past :data:`MAX_HEAD_BYTES` or :data:`MAX_HEADERS` lines (the count bound comes first
    for endless short headers); a head that ends past :data:`MAX_HEAD_BYTES` is refused too.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.end: int | None = None
        self.examined = 0
        self._searched = 0  # every CRLF CRLF starting before this offset has been looked for
        self._counted = 0  # every CRLF starting before this offset has been counted
        self._lines = 0

    def feed(self, data: bytes) -> None:
        if self.end is not None:
            self.buffer.extend(data)
            return
        self.buffer.extend(data)
        size = len(self.buffer)
        found = self.buffer.find(b"\r\n\r\n", self._searched)
        self.examined += size - self._searched
        if found >= 0:
            if found > MAX_HEAD_BYTES:
                raise BoundExceeded(f"the answer's status line and headers exceed {MAX_HEAD_BYTES // 1024} KiB")
            self.end = found
            return
        self._searched = max(0, size - 3)
        if size > MAX_HEAD_BYTES:
            raise BoundExceeded(f"the answer's status line and headers exceed {MAX_HEAD_BYTES // 1024} KiB")
        self._lines += self.buffer.count(b"\r\n", self._counted)
        self.examined += size - self._counted
        self._counted = max(self._counted, size - 1)
        if self._lines > MAX_HEADERS + 1:
            raise BoundExceeded(f"more than {MAX_HEADERS} header lines in the answer")


_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# After this many bytes of chunked coding the reading stops: the body kept plus framing as large as a head.
_MAX_CHUNKED_BYTES = MAX_BODY_BYTES + MAX_HEAD_BYTES


class ChunkedDecoder:
    """A chunked body (RFC 9112 section 7.1) decoded as it arrives: each byte fed is looked at a bounded number of
    times, and the decoder keeps its place between feeds.

    :attr:`done` once the last chunk is seen, :data:`MAX_BODY_BYTES` are decoded, :data:`_MAX_CHUNKED_BYTES` were
    fed, or a chunk-size line is not ``1*HEXDIG`` (ASCII only; no sign, prefix or underscore, which ``int(x, 16)``
    would take: a negative size could send a decoder back over its input): not chunked after all, what was
    decoded is kept. Trailers are not read. The two bytes after each chunk's data are skipped unread, as before.
    """

    def __init__(self) -> None:
        self.done = False
        self.examined = 0
        self._body = bytearray()
        self._line = bytearray()  # the chunk-size line so far
        self._left = 0  # data bytes of the current chunk still to come
        self._skip = 0  # bytes after the data still to skip (its CRLF)
        self._fed = 0

    def body(self) -> bytes:
        return bytes(self._body[:MAX_BODY_BYTES])

    def feed(self, data: bytes) -> None:
        self._fed += len(data)
        position, size = 0, len(data)
        while position < size and not self.done:
            if self._left:
                taken = min(self._left, size - position)
                self._body += data[position : position + taken]
                self._left -= taken
                self.examined += taken
                position += taken
                if not self._left:
                    self._skip = 2
            elif self._skip:
                skipped = min(self._skip, size - position)
                self._skip -= skipped
                position += skipped
            else:
                position = self._size_line(data, position)
            if len(self._body) >= MAX_BODY_BYTES:
                self.done = True
        if self._fed > _MAX_CHUNKED_BYTES:
            self.done = True  # chunk framing overhead itself is bounded

    def _size_line(self, data: bytes, position: int) -> int:
        """Read the chunk-size line from ``data[position:]`` (its start may have come in earlier feeds); at its end,
        start the chunk (or finish). Returns the position after what was taken."""
        if self._line.endswith(b"\r") and data[position : position + 1] == b"\n":
            line, after = bytes(self._line[:-1]), position + 1  # the CRLF was cut between two feeds
        else:
            end = data.find(b"\r\n", position)
            self.examined += (end + 2 if end >= 0 else len(data)) - position
            if end < 0:
                self._line += data[position:]
                return len(data)
            line, after = bytes(self._line) + data[position:end], end + 2
        self._line.clear()
        size_text = line.split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            self.done = True  # not chunked after all: keep what was decoded
            return len(data)
        size = int(size_text, 16)
        if size == 0:
            self.done = True
        self._left = size
        return after


# --------------------------------------------------------------------------------------------------------------
# TLS handshake records (RFC 5246 sections 6.2, 7.4; RFC 8446 sections 4, 5.1)

_VERSION_NAMES = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
_SUPPORTED_VERSIONS = 43  # RFC 8446 section 4.2.1


class ServerHello:
    """The version a server selected in its ServerHello, named as ``ssl.SSLSocket.version()`` names it."""

    __slots__ = ("legacy_version", "version")

    def __init__(self, version: str, legacy_version: int) -> None:
        self.version = version  # "TLSv1" .. "TLSv1.3", or "0x...." for a version this table does not know
        self.legacy_version = legacy_version

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ServerHello) and (self.version, self.legacy_version) == (
            other.version,
            other.legacy_version,
        )

    def __hash__(self) -> int:
        return hash((self.version, self.legacy_version))

    def __repr__(self) -> str:
        return f"ServerHello(version={self.version!r}, legacy_version={self.legacy_version!r})"


class HandshakeReader:
    """Cleartext handshake messages from the raw bytes a server sends, fed as they arrive: each byte is looked at a
    bounded number of times, and the reader keeps its place (records cut anywhere, one byte per read included).

    Records (RFC 5246 section 6.2: type, version, 16-bit length) of type handshake (22) give their fragment to the
    handshake stream, alerts (21) are passed over; the first record of any other type (change_cipher_spec: what
    follows is encrypted; application data; not TLS at all) ends the reading. The bytes of a record still arriving
    count as they come. :meth:`feed` returns the messages (type, body) completed by the bytes fed.
    """

    def __init__(self) -> None:
        self.examined = 0
        self.ended = False
        self._header = bytearray()  # the record header being read
        self._kind = 0
        self._left = 0  # fragment bytes of the current record still to come
        self._stream = bytearray()  # handshake bytes not yet made into messages

    def feed(self, data: bytes | bytearray | memoryview) -> list[tuple[int, bytes]]:
        view = memoryview(data)
        self.examined += len(view)
        while view and not self.ended:
            if self._left:
                fragment = view[: self._left]
                self._left -= len(fragment)
                view = view[len(fragment) :]
                if self._kind == 22:
                    self._stream.extend(fragment)
                continue
            wanted = 5 - len(self._header)
            self._header.extend(view[:wanted])
            view = view[wanted:]
            if len(self._header) == 5:
                self._kind, _version, self._left = struct.unpack("!BHH", self._header)
                self._header.clear()
                if self._kind not in (21, 22):
                    self.ended = True
        return self._messages()

    def _messages(self) -> list[tuple[int, bytes]]:
        found, position = [], 0
        while position + 4 <= len(self._stream):
            length = int.from_bytes(self._stream[position + 1 : position + 4], "big")
            if position + 4 + length > len(self._stream):
                break
            found.append((self._stream[position], bytes(self._stream[position + 4 : position + 4 + length])))
            position += 4 + length
        del self._stream[:position]
        return found


def _handshake_messages(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of each cleartext handshake message in raw records (:class:`HandshakeReader`)."""
    yield from HandshakeReader().feed(data)


def _server_hello(body: bytes) -> ServerHello | None:
    """RFC 5246 section 7.4.1.3 / RFC 8446 section 4.1.3: the version a ServerHello (or HelloRetryRequest) body
    selects; None when it is cut short."""
    if len(body) < 38:
        return None
    legacy = int.from_bytes(body[0:2], "big")
    session_id_length = body[34]
    position = 35 + session_id_length + 3  # session id, cipher suite (2), compression method (1)
    selected = legacy
    if position + 2 <= len(body):
        extensions_end = min(len(body), position + 2 + int.from_bytes(body[position : position + 2], "big"))
        position += 2
        while position + 4 <= extensions_end:
            kind = int.from_bytes(body[position : position + 2], "big")
            size = int.from_bytes(body[position + 2 : position + 4], "big")
            if kind == _SUPPORTED_VERSIONS and size == 2:
                selected = int.from_bytes(body[position + 4 : position + 6], "big")
            position += 4 + size
    return ServerHello(_VERSION_NAMES.get(selected, f"0x{selected:04x}"), legacy)


class ServerHelloReader:
    """:func:`parse_server_hello` for a buffer that grows as a handshake goes on: :meth:`read` is given everything
    received so far each time and reads only what is new (the buffer must only ever grow at its end)."""

    def __init__(self) -> None:
        self.hello: ServerHello | None = None
        self.done = False  # the first ServerHello has been seen (whether it could be read or not)
        self._reader = HandshakeReader()
        self._fed = 0

    @property
    def examined(self) -> int:
        return self._reader.examined

    def read(self, received: bytes | bytearray) -> ServerHello | None:
        if not self.done and len(received) > self._fed:
            messages = self._reader.feed(memoryview(received)[self._fed :])
            self._fed = len(received)
            for message_type, body in messages:
                if message_type == 2:
                    self.hello, self.done = _server_hello(body), True
                    break
        return self.hello


def parse_server_hello(data: bytes) -> ServerHello | None:
    """The ServerHello in the raw bytes a server sent (None when there is none, or it is cut short).

    RFC 5246 section 7.4.1.3: ``server_version`` is the version the server selected. RFC 8446 section 4.1.3: a TLS
    1.3 server sets legacy_version 0x0303 and selects its version in the ``supported_versions`` extension (4.2.1).
    A HelloRetryRequest has the same shape and selects the version the same way.
    """
    return ServerHelloReader().read(data)


def parse_handshake_certificate(data: bytes) -> bytes | None:
    """The first certificate of a cleartext (TLS 1.0-1.2) Certificate handshake message in raw records.

    RFC 5246 section 6.2 (records: type, version, length) and 7.4.2 (Certificate: 24-bit list length, then 24-bit
    length + DER for each certificate). Handshake records after ChangeCipherSpec are encrypted and ignored.
    """
    for message_type, body in _handshake_messages(data):
        if message_type == 11 and len(body) >= 6:
            first = int.from_bytes(body[3:6], "big")
            der = body[6 : 6 + first]
            return der if len(der) == first and first > 0 else None
    return None


_CERTIFICATE_REQUEST = 13  # RFC 5246 section 7.4.4
_SERVER_HELLO_DONE = 14  # RFC 5246 section 7.4.5: the end of the server's first flight
_CLEARTEXT_HANDSHAKES = frozenset({"TLSv1", "TLSv1.1", "TLSv1.2"})


def parse_certificate_request(data: bytes) -> bool | None:
    """Whether the server asked for a client certificate in the cleartext handshake in the raw bytes it sent.

    True: a CertificateRequest (RFC 5246 section 7.4.4). False: the server's first flight ended (ServerHelloDone,
    7.4.5) without one. None when it cannot be told: no ServerHello, a TLS 1.3 handshake (its CertificateRequest
    is encrypted, RFC 8446 section 4.3.2) or a flight cut short.
    """
    hello = parse_server_hello(data)
    if hello is None or hello.version not in _CLEARTEXT_HANDSHAKES:
        return None
    for message_type, _body in _handshake_messages(data):
        if message_type == _CERTIFICATE_REQUEST:
            return True
        if message_type == _SERVER_HELLO_DONE:
            return False
    return None
