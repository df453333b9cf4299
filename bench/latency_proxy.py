"""A loopback TCP relay that holds every byte for a fixed one-way latency, to stand in for a real network.

On loopback a TLS probe is pure CPU, so running probes at once can only win by the number of cores. A real edge is
tens of milliseconds away, and there concurrency is what keeps a 50-hostname run close to one hostname's cost.

What it models, per connection (``d`` = ``one_way_ms``):

- every chunk is delivered ``d`` after it arrived, in each direction, independently of the chunks before it (a
  queue with due times, not "sleep then send": that would add ``d`` per chunk in a row, a bandwidth cap);
- the TCP handshake: the kernel completes the client's ``connect()`` at once on loopback, where a real network
  takes one round trip. So whatever the client sends before it has heard anything from the server is held one
  more round trip (``2d``): the client's first bytes reach the server ``3d`` after it sent them, as on a network
  where it could only send them ``2d`` after calling ``connect()``. ``tcp_handshake=False`` turns this off;
- end of stream (FIN) travels with the same delay, after the data before it.

It counts the connections it accepted (``accepted``), the most open at once (``peak_active``), when the first
one was accepted (``first_accept``, on ``time.perf_counter``'s clock: the bench's runner starts the child on the
same clock, so the difference is the child's time to its first connection) and, per connection, the bytes the
server sent back: a
connection where the server sent at least ``FULL_HANDSHAKE_BYTES`` carried a certificate (a full handshake), one
below that was refused at the ClientHello (an alert) or is plain HTTP.

One asyncio loop in one thread relays every connection (a thread per direction per connection would be thousands
of threads at 200 targets, competing for the CPUs with the process under test). Bounded: a connection is dropped
when either side resets; ``stop()`` closes everything.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import statistics
import sys
import threading
import time
from dataclasses import dataclass

from origin_tls.baseline import Endpoint

__all__ = ["FULL_HANDSHAKE_BYTES", "LatencyProxy", "ProxyCounts"]

#: Bytes from the server that mean a certificate came back (a full handshake); an alert is 7 bytes.
FULL_HANDSHAKE_BYTES = 500
_CHUNK = 65536
_UPSTREAM_CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ProxyCounts:
    accepted: int  # connections accepted from clients
    full: int  # closed connections whose server sent >= FULL_HANDSHAKE_BYTES
    short: int  # closed connections whose server sent less (an alert, a refusal, a small HTTP answer)
    upstream_failed: int  # accepted, but the upstream could not be reached
    active: int  # connections still open
    peak_active: int = 0  # the most open at once since the last reset
    first_accept: float | None = None  # time.perf_counter() when the first connection since the reset was accepted


class LatencyProxy:
    def __init__(self, upstream: Endpoint, *, one_way_ms: float, tcp_handshake: bool = True) -> None:
        self.upstream = upstream
        self.delay = one_way_ms / 1000
        self.tcp_handshake = tcp_handshake
        self._loop = asyncio.new_event_loop()
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        self._listener.setblocking(False)
        self.endpoint = Endpoint("127.0.0.1", self._listener.getsockname()[1])
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self._run, name=f"latency-proxy-{self.endpoint.port}", daemon=True)
        self._started = threading.Event()
        self._lock = threading.Lock()
        self._accepted = self._full = self._short = self._failed = self._active = self._peak = 0
        self._first_accept: float | None = None

    # -- counts

    @property
    def accepted(self) -> int:
        return self.counts().accepted

    def counts(self) -> ProxyCounts:
        with self._lock:
            return ProxyCounts(
                self._accepted, self._full, self._short, self._failed, self._active, self._peak, self._first_accept
            )

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every relayed connection has closed (their closes travel with the delay too)."""
        deadline = time.monotonic() + timeout
        while self.counts().active:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def reset(self) -> None:
        """Zero the counts, once the connections of before have closed (else their closes would count now)."""
        self.wait_idle()
        with self._lock:
            self._accepted = self._full = self._short = self._failed = self._peak = 0
            self._first_accept = None

    # -- lifecycle

    def __enter__(self) -> LatencyProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LatencyProxy:
        self._thread.start()
        if not self._started.wait(timeout=5):
            raise RuntimeError("latency proxy did not start")
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._shutdown)
            self._thread.join(timeout=5)
        self._listener.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._handle, sock=self._listener))
        self._started.set()
        try:
            self._loop.run_forever()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        finally:
            self._loop.close()

    def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        self._loop.stop()

    # -- relaying

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        accepted_at = time.perf_counter()
        with self._lock:
            self._accepted += 1
            self._active += 1
            self._peak = max(self._peak, self._active)
            if self._first_accept is None:
                self._first_accept = accepted_at
        try:
            server_reader, server_writer = await asyncio.wait_for(
                asyncio.open_connection(self.upstream.host, self.upstream.port), _UPSTREAM_CONNECT_TIMEOUT
            )
        except (OSError, asyncio.TimeoutError):
            with self._lock:
                self._failed += 1
                self._active -= 1
            client_writer.transport.abort()
            return
        self._writers |= {client_writer, server_writer}
        heard = asyncio.Event()  # the first server byte has reached the client
        extra = 2 * self.delay if self.tcp_handshake else 0.0
        upstream = asyncio.ensure_future(self._pump(client_reader, server_writer, hold=(heard, extra)))
        downstream = asyncio.ensure_future(self._pump(server_reader, client_writer, delivered=heard))
        try:
            _, sent_back = await asyncio.gather(upstream, downstream)
        except asyncio.CancelledError:  # stop(): the connection is aborted, nothing to count
            upstream.cancel()
            downstream.cancel()
            return
        finally:
            for writer in (client_writer, server_writer):
                self._writers.discard(writer)
                with contextlib.suppress(Exception):
                    writer.close()
        with self._lock:
            self._active -= 1
            if sent_back >= FULL_HANDSHAKE_BYTES:
                self._full += 1
            else:
                self._short += 1

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        hold: tuple[asyncio.Event, float] | None = None,
        delivered: asyncio.Event | None = None,
    ) -> int:
        """Relay one direction; every chunk is written ``delay`` after it was read (plus the TCP handshake's
        round trip while ``hold``'s event is unset). Returns the bytes relayed."""
        loop = self._loop
        last_due = 0.0
        total = 0
        done = loop.create_future()

        def deliver(data: bytes | None) -> None:
            if writer.transport.is_closing():
                pass
            elif data is None:
                with contextlib.suppress(OSError, RuntimeError):
                    if writer.can_write_eof():
                        writer.write_eof()
            else:
                writer.write(data)
                if delivered is not None:
                    delivered.set()
            if data is None and not done.done():
                done.set_result(None)

        while True:
            try:
                data = await reader.read(_CHUNK)
            except (OSError, asyncio.IncompleteReadError):
                data = b""
            now = loop.time()
            due = now + self.delay
            if hold is not None and not hold[0].is_set():
                due += hold[1]
            due = max(due, last_due)  # never reorder
            last_due = due
            loop.call_at(due, deliver, data or None)
            if not data:
                break
            total += len(data)
        await done
        return total


# ---------------------------------------------------------------------------------------------------------------
# Self-check: python -m bench.latency_proxy --check


def _echo_server() -> tuple[socket.socket, threading.Thread]:
    """A line echo server on loopback: answers every line at once, closes at end of stream."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=128)

    def serve(conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as lines:
            for line in lines:
                conn.sendall(line)

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    return listener, thread


@dataclass(frozen=True)
class Timings:
    connect: float  # connect() returned
    first_answer: float  # from connect() to the answer to the first line (the client's first bytes)
    second_answer: float  # one more round trip on the open connection
    eof: float  # from shutdown(SHUT_WR) to the end of stream coming back


def measure(endpoint: Endpoint, *, burst: int = 1) -> Timings:
    """One connection: connect, ask twice, half-close; ``burst`` lines sent at once the first time."""
    started = time.perf_counter()
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as sock:
        connected = time.perf_counter()
        sock.sendall(b"x\n" * burst)
        got = b""
        while got.count(b"\n") < burst:
            got += sock.recv(_CHUNK)
        first = time.perf_counter()
        sock.sendall(b"y\n")
        got = b""
        while b"\n" not in got:
            got += sock.recv(_CHUNK)
        second = time.perf_counter()
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(_CHUNK):
            pass
        eof = time.perf_counter()
    return Timings(connected - started, first - started, second - first, eof - second)


def check(one_way_ms: float = 25.0, *, connections: int = 20) -> int:
    """Measure the relay against a local echo server and print what it adds; 1 when it adds too little."""
    listener, _ = _echo_server()
    upstream = Endpoint("127.0.0.1", listener.getsockname()[1])
    d = one_way_ms / 1000
    failures = 0
    try:
        with LatencyProxy(upstream, one_way_ms=one_way_ms) as proxy:
            samples = [measure(proxy.endpoint, burst=1 + i % 3) for i in range(5)]
            rows = {
                "connect() returns": (statistics.median(s.connect for s in samples), 0.0),
                "first answer (TCP handshake + 1 RTT)": (statistics.median(s.first_answer for s in samples), 4 * d),
                "second answer (1 RTT)": (statistics.median(s.second_answer for s in samples), 2 * d),
                "end of stream back (1 RTT)": (statistics.median(s.eof for s in samples), 2 * d),
            }
            print(f"one-way latency {one_way_ms:g} ms (round trip {2 * one_way_ms:g} ms); medians of 5 connections")
            for name, (value, want) in rows.items():
                ok = want - 0.002 <= value <= want + max(0.015, want * 0.5)
                failures += not ok
                print(f"  {name:<38} {value * 1000:7.1f} ms  expected {want * 1000:6.1f} ms  {'ok' if ok else 'OFF'}")
            # Concurrency: chunks in flight at once are not serialised (n connections cost about one).
            proxy.reset()
            threads = [threading.Thread(target=measure, args=(proxy.endpoint,)) for _ in range(connections)]
            started = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - started
            ok = wall < 6 * d + 0.5
            failures += not ok
            print(f"  {connections} connections at once: {wall * 1000:.1f} ms ({'ok' if ok else 'OFF'})")
            proxy.wait_idle()
            counts = proxy.counts()
            ok = counts.accepted == connections and counts.short == connections and not counts.active
            failures += not ok
            print(f"  counted {counts} for {connections} connections ({'ok' if ok else 'OFF'})")
    finally:
        listener.close()
    return 1 if failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description="check the relay's added latency against a local echo server")
    parser.add_argument("--check", action="store_true", help="measure and compare with the model (default)")
    parser.add_argument("--one-way-ms", type=float, default=25.0)
    args = parser.parse_args()
    return check(args.one_way_ms)


if __name__ == "__main__":
    sys.exit(main())
