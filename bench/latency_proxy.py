"""A loopback TCP relay that delays every chunk by a fixed one-way latency, to stand in for a real network.

On loopback a TLS probe is pure CPU, so running probes at once can only win by the number of cores. A real edge is
tens of milliseconds away, and there concurrency is what keeps a 50-hostname run close to one hostname's cost.
Bounded: each connection's relay threads end when either side closes; ``stop()`` closes everything.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time

from origin_tls.baseline import Endpoint

__all__ = ["LatencyProxy"]


class LatencyProxy:
    def __init__(self, upstream: Endpoint, *, one_way_ms: float) -> None:
        self.upstream = upstream
        self.delay = one_way_ms / 1000
        self._listener = socket.create_server(("127.0.0.1", 0), backlog=512)
        self._listener.settimeout(0.2)
        self.endpoint = Endpoint("127.0.0.1", self._listener.getsockname()[1])
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> LatencyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection((self.upstream.host, self.upstream.port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        src.settimeout(10)
        try:
            while not self._stop.is_set():
                data = src.recv(65536)
                if not data:
                    break
                time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
