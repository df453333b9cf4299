"""The sandbox's origin server: nginx (the Debian package) running the configuration origin-tls generates.

The TLS server block is exactly :func:`origin_tls.origin_config.build_nginx_config`'s output, so the sandbox proves
what the Pulumi component hands its users. A second, plain-HTTP server block serves Flexible-mode pulls.
Everything lives in a private prefix directory, on loopback ports; ``reconfigure`` rewrites the files and reloads
nginx (SIGHUP), returning only once every worker of the old configuration has exited.

When nginx is not installed, :func:`start_origin` says so and runs :class:`PythonOrigin`, a Python ``ssl`` server
with the same behaviour (TLS 1.2+, ``400 No required SSL certificate was sent`` to a pull without a client
certificate when AOP is on).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from ..baseline import Endpoint, TlsVersion
from ..origin_config import build_nginx_config, build_nginx_main_config
from .lifeline import Lifeline
from .servers import ListenerPair, LoopbackHandler, LoopbackServer, LoopbackService

__all__ = [
    "NGINX_MISSING",
    "InProcessOrigin",
    "NginxOrigin",
    "Origin",
    "OriginConfig",
    "OriginError",
    "PythonOrigin",
    "find_nginx",
    "start_origin",
]

NGINX_BINARY = "/usr/sbin/nginx"
NGINX_MISSING = "nginx not found: using the built-in Python origin; install nginx for the real thing"
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0
_PORT_ATTEMPTS = 4
_BODY = b"origin ok\n"
ContextT = TypeVar("ContextT")


class OriginError(RuntimeError):
    """The origin did not start or did not take its new configuration; the message carries nginx's log."""


@dataclass(frozen=True)
class OriginConfig:
    """What the origin serves: its certificate (PEM, chain allowed) and key, the AOP pull CA (``None``: AOP not
    enforced), and the protocol floor."""

    certificate_pem: str
    private_key_pem: str = field(repr=False)
    client_ca_pem: str | None = None
    min_tls: TlsVersion = TlsVersion.TLS_1_2


class Origin(Protocol):
    """An origin server on loopback (nginx or the Python fallback)."""

    kind: str

    @property
    def https(self) -> Endpoint: ...

    @property
    def http(self) -> Endpoint: ...

    @property
    def config(self) -> OriginConfig: ...

    def reconfigure(self, config: OriginConfig) -> None: ...

    def stop(self) -> None: ...


def find_nginx() -> str | None:
    """The nginx binary: ``$ORIGIN_TLS_NGINX``, then /usr/sbin/nginx, then ``PATH``."""
    candidate = os.environ.get("ORIGIN_TLS_NGINX") or NGINX_BINARY
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("nginx")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _write_private(path: Path, text: str) -> None:
    """Write atomically (nginx may be reading the old file) and readable by this user only."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _children(pid: int) -> set[int]:
    """Live child pids of ``pid`` (from /proc)."""
    found: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # Fields after the ")" that closes the command name: state, ppid, ...
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid) and fields[0] != "Z":
            found.add(int(entry))
    return found


class NginxOrigin:
    """nginx serving the origin-tls server block (TLS) and a plain-HTTP block, in ``directory``."""

    kind = "nginx"

    def __init__(
        self,
        directory: Path,
        config: OriginConfig,
        *,
        hostnames: Sequence[str],
        binary: str,
        host: str = "127.0.0.1",
        lifeline: Lifeline | None = None,
    ) -> None:
        """``lifeline``: the watchdog that kills nginx's process group if this process dies (SIGKILL included);
        without one, the origin starts its own and releases it in :meth:`stop`."""
        self.directory = Path(directory)
        self._own_lifeline = lifeline is None
        self._lifeline = lifeline or Lifeline()
        self.binary = binary
        self.hostnames = tuple(hostnames)
        self.host = host
        self._config = config
        self._https_port = 0
        self._http_port = 0
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def https(self) -> Endpoint:
        return Endpoint(self.host, self._https_port)

    @property
    def http(self) -> Endpoint:
        return Endpoint(self.host, self._http_port)

    @property
    def config(self) -> OriginConfig:
        return self._config

    @property
    def pid(self) -> int | None:
        """The nginx master's pid while it runs."""
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    @property
    def conf_path(self) -> Path:
        return self.directory / "nginx.conf"

    def _render(self) -> str:
        d = self.directory
        _write_private(d / "origin.pem", self._config.certificate_pem)
        _write_private(d / "origin.key", self._config.private_key_pem)
        if self._config.client_ca_pem is not None:
            _write_private(d / "pull-ca.pem", self._config.client_ca_pem)
        tls_block = build_nginx_config(
            hostnames=self.hostnames,
            certificate_path=d / "origin.pem",
            key_path=d / "origin.key",
            client_ca_path=d / "pull-ca.pem" if self._config.client_ca_pem is not None else None,
            min_tls=self._config.min_tls,
            listen_address=self.host,
            listen_port=self._https_port,
        )
        # Flexible mode pulls over plain HTTP: a separate block, not part of what users are told to install.
        http_block = (
            "server {\n"
            f"    listen {Endpoint(self.host, self._http_port)};\n"
            f"    server_name {' '.join(self.hostnames)};\n"
            "    default_type text/plain;\n"
            '    location / { return 200 "origin ok\\n"; }\n'
            "}\n"
        )
        # As root, nginx would switch workers to "nobody", who cannot read the 0600 key in our private directory.
        user = "root" if os.geteuid() == 0 else None
        return build_nginx_main_config([tls_block, http_block], prefix=d, user=user)

    def start(self) -> NginxOrigin:
        """Start nginx and wait until both ports accept connections. Raises :class:`OriginError`."""
        (self.directory / "temp").mkdir(parents=True, exist_ok=True)
        for attempt in range(_PORT_ATTEMPTS):
            self._lifeline.start()  # again after a failed attempt's stop() released it
            self._https_port, self._http_port = _free_port(self.host), _free_port(self.host)
            self.conf_path.write_text(self._render(), encoding="utf-8")
            log = self.directory / "error.log"
            log.write_text("", encoding="utf-8")
            self._process = subprocess.Popen(
                [self.binary, "-p", f"{self.directory}/", "-c", str(self.conf_path), "-e", str(log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # own process group: stop() kills master and workers together
            )
            # If this process dies, the lifeline kills the group: nginx's workers outlive a SIGKILLed master.
            self._lifeline.guard_group(self._process.pid)
            if self._wait_ready():
                return self
            text = log.read_text(encoding="utf-8", errors="replace")
            self.stop()
            if "Address already in use" in text and attempt + 1 < _PORT_ATTEMPTS:
                continue
            raise OriginError(f"nginx did not start ({self.conf_path}):\n{text.strip()}")
        raise AssertionError("unreachable")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        pending = [self.https, self.http]
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            if not pending:
                # The master binds the ports before it forks its workers: ready means a worker is there too.
                if _children(self._process.pid):
                    return True
                time.sleep(0.02)
                continue
            try:
                with socket.create_connection((pending[0].host, pending[0].port), timeout=0.5):
                    pending.pop(0)
            except OSError:
                time.sleep(0.02)
        return False

    def reconfigure(self, config: OriginConfig) -> None:
        """Serve ``config`` from now on: rewrite the files, ``nginx -t``, SIGHUP, and wait until the workers of the
        old configuration are gone, so the next connection sees the new one."""
        pid = self.pid
        if pid is None:
            raise OriginError("nginx is not running")
        previous, self._config = self._config, config
        self.conf_path.write_text(self._render(), encoding="utf-8")
        test = subprocess.run(
            [self.binary, "-t", "-q", "-p", f"{self.directory}/", "-c", str(self.conf_path)],
            capture_output=True,
            timeout=_START_TIMEOUT,
            check=False,
        )
        if test.returncode != 0:
            self._config = previous
            self.conf_path.write_text(self._render(), encoding="utf-8")
            raise OriginError("nginx refused the new configuration:\n" + test.stderr.decode("utf-8", "replace"))
        old_workers = _children(pid)
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            workers = _children(pid)
            if workers and not workers & old_workers:
                return
            time.sleep(0.02)
        raise OriginError("nginx did not reload within 15 s")

    def stop(self) -> None:
        """SIGQUIT (graceful), then SIGKILL to the whole process group. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            if self._own_lifeline:
                self._lifeline.release()
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=_STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_TIMEOUT)
        self._lifeline.forget_group(process.pid)
        if self._own_lifeline:
            self._lifeline.release()


# --------------------------------------------------------------------------------------------------------------
# The fallback: same behaviour in pure Python.


class _PyServer(LoopbackServer):
    def __init__(self, address: tuple[str, int], origin: PythonOrigin, *, tls: bool) -> None:
        self.origin = origin
        super().__init__(address, _PyHandler, tls=tls)

    def socket_timeout(self) -> float:
        return 5.0

    def tls_context(self) -> ssl.SSLContext:
        return self.origin.context()


class _PyHandler(LoopbackHandler):
    server: _PyServer
    server_version = "nginx"

    def do_GET(self) -> None:
        status, body = 200, _BODY
        aop = self.server.tls and self.server.origin.config.client_ca_pem is not None
        if aop and not self.connection.getpeercert():
            # nginx's answer to ssl_verify_client on without a certificate (ngx_http_request.c).
            status, body = 400, b"400 No required SSL certificate was sent\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.end_closing(body)

    do_HEAD = do_GET
    do_POST = do_GET


class InProcessOrigin(LoopbackService, Generic[ContextT]):
    """What the in-process origins share: the configuration and the server context built from it, swapped together
    under a lock by :meth:`reconfigure` so that the next connection sees the new ones."""

    def __init__(self, config: OriginConfig, *, hostnames: Sequence[str], host: str, name: str) -> None:
        self.hostnames = tuple(hostnames)
        self._host = host
        self._lock = threading.Lock()
        self._config = config
        self._context = self._context_for(config)
        self._listeners = ListenerPair(name)

    def _context_for(self, config: OriginConfig) -> ContextT:
        raise NotImplementedError

    def context(self) -> ContextT:
        with self._lock:
            return self._context

    @property
    def config(self) -> OriginConfig:
        with self._lock:
            return self._config

    def reconfigure(self, config: OriginConfig) -> None:
        context = self._context_for(config)
        with self._lock:
            self._config, self._context = config, context


class PythonOrigin(InProcessOrigin[ssl.SSLContext]):
    """A Python ``ssl`` origin behaving like the nginx one (used only when nginx is not installed)."""

    kind = "python"
    server_class = _PyServer

    def __init__(self, directory: Path, config: OriginConfig, *, hostnames: Sequence[str], host: str = "127.0.0.1"):
        self.directory = Path(directory)  # before the context: its key files are written there
        super().__init__(config, hostnames=hostnames, host=host, name="origin")

    def _context_for(self, config: OriginConfig) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory(dir=self.directory) as tmp:
            cert, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
            _write_private(cert, config.certificate_pem)
            _write_private(key, config.private_key_pem)
            context.load_cert_chain(cert, key)
        context.minimum_version = max(ssl.TLSVersion.TLSv1_2, _SSL_VERSION[config.min_tls])
        if config.client_ca_pem is not None:
            # CERT_OPTIONAL, like nginx: a pull without a certificate gets HTTP 400, an untrusted one an alert.
            context.verify_mode = ssl.CERT_OPTIONAL
            context.load_verify_locations(cadata=config.client_ca_pem)
        return context


_SSL_VERSION = {
    TlsVersion.TLS_1_0: ssl.TLSVersion.TLSv1,
    TlsVersion.TLS_1_1: ssl.TLSVersion.TLSv1_1,
    TlsVersion.TLS_1_2: ssl.TLSVersion.TLSv1_2,
    TlsVersion.TLS_1_3: ssl.TLSVersion.TLSv1_3,
}


def start_origin(
    directory: Path,
    config: OriginConfig,
    *,
    hostnames: Sequence[str],
    use_nginx: bool | None = None,
    notice: Callable[[str], None] | None = None,
    lifeline: Lifeline | None = None,
) -> NginxOrigin | PythonOrigin:
    """Start the origin: nginx when installed (``use_nginx=None``), required (``True``) or never (``False``).

    Without nginx, ``notice`` is told :data:`NGINX_MISSING`. ``lifeline`` guards nginx (see :class:`NginxOrigin`).
    Raises :class:`OriginError` when ``use_nginx=True`` and nginx is missing or will not start.
    """
    directory.mkdir(parents=True, exist_ok=True)
    binary = find_nginx() if use_nginx is not False else None
    if binary is not None:
        return NginxOrigin(directory, config, hostnames=hostnames, binary=binary, lifeline=lifeline).start()
    if use_nginx:
        raise OriginError("nginx not found (install the Debian package nginx, or set ORIGIN_TLS_NGINX)")
    if use_nginx is None and notice is not None:
        notice(NGINX_MISSING)
    return PythonOrigin(directory, config, hostnames=hostnames).start()
