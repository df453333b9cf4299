"""Issue 18, finding 7: the CPU time of reading what a hostile peer trickles, one byte per read.

    python -m bench.peer_parsers                  # this checkout's origin_tls
    python -m bench.peer_parsers --tree /work/main   # another checkout's (e.g. before the fix): the "before" column

Three inputs, each handed over one byte per ``recv`` (a peer sending one byte per TLS record, or per TCP segment):

- a 64 KiB response head (status line, one long header, the blank line) through ``read_http_answer``;
- a 24 KB chunked answer (4,000 chunks of one byte, 6 bytes of coding each) through ``read_http_answer``;
- a ServerHello of about 20,000 bytes (OpenSSL's limit) in records of one handshake byte (120 KB), watched the way
  the version probe of that checkout watches it after every read (``ServerHelloReader``, or before it
  ``parse_server_hello`` of everything received so far).

Each case is measured in its own child process running this file against the tree's ``origin_tls``
(``PYTHONPATH``), by ``time.process_time()`` around the reading alone (the GIL is held all along: this is the time
every other probe of the run waits). Figures are printed, never asserted; ``--limit`` stops a case that takes longer
in wall time (the readers before issue 18 are quadratic: the ServerHello watch takes many minutes).
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


def _read_head() -> None:
    from origin_tls import tls_wire

    assert tls_wire.read_http_answer(_one_byte_at_a_time(_head())).status == 200


def _read_chunked() -> None:
    from origin_tls import tls_wire

    assert tls_wire.read_http_answer(_one_byte_at_a_time(_chunked())).body == b"x" * CHUNKS


def _watch_server_hello() -> None:
    from origin_tls import tls_wire

    data, received = _hello(), bytearray()
    reader = tls_wire.ServerHelloReader() if hasattr(tls_wire, "ServerHelloReader") else None
    for i in range(len(data)):
        received += data[i : i + 1]
        hello = reader.read(received) if reader is not None else tls_wire.parse_server_hello(bytes(received))
        if hello is not None:
            return
    raise AssertionError("no ServerHello found")


CASES: dict[str, Callable[[], None]] = {
    "64 KiB head": _read_head,
    f"{len(_chunked()) // 1000} KB chunked answer ({CHUNKS} chunks)": _read_chunked,
    f"ServerHello in {len(_hello()) // 1000} KB of 1-byte records": _watch_server_hello,
}


def _child(case: str) -> float:
    """Run in the child: the CPU seconds of one case, against whichever origin_tls PYTHONPATH names."""
    started = time.process_time()
    CASES[case]()
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout whose origin_tls is measured")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds of wall time before a case is stopped")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child)))
        return 0
    env = dict(os.environ, PYTHONPATH=str(args.tree.resolve()))
    print(f"origin_tls from {args.tree}: CPU seconds, input fed one byte per read", flush=True)
    for case in CASES:
        try:
            done = subprocess.run(
                [sys.executable, str(Path(__file__).resolve()), "--child", case],
                env=env,
                cwd=args.tree,
                capture_output=True,
                text=True,
                timeout=args.limit,
                check=True,
            )
        except subprocess.TimeoutExpired:
            print(f"  (not done within {args.limit:.0f} s of wall time)  {case}", flush=True)
            continue
        print(f"  {json.loads(done.stdout):9.3f} s  {case}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
