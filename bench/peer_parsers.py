"""Issue 18, finding 7: the CPU time of reading what a hostile peer trickles, one byte per read.

    python -m bench.peer_parsers                  # this checkout's origin_tls
    python -m bench.peer_parsers --tree /work/main   # another checkout's (e.g. before the fix): the "before" column

Three inputs, each handed over one byte per ``recv`` (a peer sending one byte per TLS record, or per TCP segment):

- a 64 KiB response head (status line, one long header, the blank line) through ``read_http_answer``;
- a 24 KB chunked body (4,000 chunks of one byte, 6 bytes of coding each) through ``read_http_answer``;
- a ServerHello of about 20,000 bytes (OpenSSL's limit) in records of one handshake byte (120 KB), watched the way
  the version probe of that checkout watches it after every read (``ServerHelloReader``, or before it
  ``parse_server_hello`` of everything received so far).

Each is measured in a child process running the file itself against the tree's ``origin_tls`` (``PYTHONPATH``), by
``time.process_time()`` around the reading alone (the GIL is held all along: this is the time every other probe of
the run waits). Figures are printed, never asserted; ``--limit`` stops a case that takes longer (the old readers
are quadratic: minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAD_BYTES = 64 * 1024 - 64  # under MAX_HEAD_BYTES, which refuses a longer head
CHUNKS = 4_000
HELLO_PADDING = 19_900


def _one_byte_at_a_time(data: bytes) -> Callable[[int], bytes]:
    position = 0

    def recv(size: int) -> bytes:
        nonlocal position
        chunk = data[position : position + 1]
        position += len(chunk)
        return chunk

    return recv


def _head() -> bytes:
    start, end = b"HTTP/1.1 200 OK\r\nX-Long: ", b"\r\nContent-Length: 0\r\n\r\n"
    return start + b"a" * (HEAD_BYTES - len(start) - len(end)) + end


def _chunked() -> bytes:
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1\r\nx\r\n" * CHUNKS + b"0\r\n\r\n"


def _hello() -> bytes:
    extension = b"\xfe\xfe" + HELLO_PADDING.to_bytes(2, "big") + b"\x00" * HELLO_PADDING
    body = b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\xc0\x2f\x00" + len(extension).to_bytes(2, "big") + extension
    message = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"".join(b"\x16\x03\x03\x00\x01" + message[i : i + 1] for i in range(len(message)))


def _child() -> dict[str, float]:
    """Run in the child: the CPU seconds of each case, against whichever origin_tls PYTHONPATH names."""
    from origin_tls import tls_wire

    figures: dict[str, float] = {}
    for name, raw in (("64 KiB head", _head()), ("24 KB chunked body", _chunked())):
        started = time.process_time()
        answer = tls_wire.read_http_answer(_one_byte_at_a_time(raw))
        figures[name] = time.process_time() - started
        assert answer.status == 200
    data = _hello()
    started = time.process_time()
    received = bytearray()
    reader = tls_wire.ServerHelloReader() if hasattr(tls_wire, "ServerHelloReader") else None
    for i in range(len(data)):
        received += data[i : i + 1]
        hello = reader.read(received) if reader is not None else tls_wire.parse_server_hello(bytes(received))
        if hello is not None:
            break
    figures[f"ServerHello in {len(data) // 1000} KB of 1-byte records"] = time.process_time() - started
    assert hello is not None
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout whose origin_tls is measured")
    parser.add_argument("--limit", type=float, default=600.0, help="seconds before the child is stopped")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child()))
        return 0
    env = dict(os.environ, PYTHONPATH=str(args.tree.resolve()))
    try:
        done = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--child"],
            env=env,
            cwd=args.tree,
            capture_output=True,
            text=True,
            timeout=args.limit,
            check=True,
        )
    except subprocess.TimeoutExpired:
        print(f"{args.tree}: not done within {args.limit:.0f} s of wall time")
        return 1
    figures = json.loads(done.stdout)
    print(f"origin_tls from {args.tree}: CPU seconds, input fed one byte per read")
    for name, seconds in figures.items():
        print(f"  {seconds:9.3f} s  {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
