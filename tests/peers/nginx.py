"""A real nginx (the Debian package) as a test peer: many server blocks, one process, everything in a tmp dir.

Usage::

    server = NginxServer(tmp_path / "nginx")
    strict = server.add_tls_site("app.example.com", cert=pki.good("app.example.com"),
                                 sts=["max-age=31536000; includeSubDomains"], verify_client="on",
                                 client_ca=pki.client_ca.cert_path)
    plain = server.add_http_site(redirect=True)
    with server:                       # start(): waits until every port accepts connections
        probe_https(strict.endpoint, "app.example.com", ca_pem=pki.ca.cert_pem, timeout=5)

Each site gets its own loopback port, so per-server settings (``ssl_protocols``, ``ssl_verify_client``) are the
ones the handshake sees: nginx negotiates the protocol with the *default* server of a listening socket
(nginx docs, "ssl_protocols"), so variants sharing a port would all behave like the first one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal

from origin_tls.baseline import Endpoint

from .pki import IssuedCert, TestPki
from .server_process import pick_ports

__all__ = [
    "LEGACY_CIPHERS",
    "MODERN_PROTOCOLS",
    "NGINX_BINARY",
    "CommonSites",
    "HttpSite",
    "NginxError",
    "NginxServer",
    "TlsSite",
    "add_common_sites",
    "find_nginx",
    "free_port",
]

NGINX_BINARY = "/usr/sbin/nginx"
MODERN_PROTOCOLS: tuple[str, ...] = ("TLSv1.2", "TLSv1.3")
#: OpenSSL 3 refuses TLS 1.0/1.1 (SHA-1 handshake signatures) above security level 0, whatever ssl_protocols says.
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"
_LEGACY_PROTOCOLS = frozenset({"TLSv1", "TLSv1.1"})
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0
_PORT_ATTEMPTS = 4

VerifyClient = Literal["on", "optional", "optional_no_ca", "off"]


class NginxError(RuntimeError):
    """nginx is missing, refused its configuration, or did not come up; the message includes its error log."""


def find_nginx() -> str | None:
    """The nginx binary: ``$ORIGIN_TLS_NGINX``, then /usr/sbin/nginx, then ``PATH``."""
    candidate = os.environ.get("ORIGIN_TLS_NGINX") or NGINX_BINARY
    if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    return shutil.which("nginx")


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now (bind port 0, read it, release it). Racy by nature: callers retry."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _quote(value: str) -> str:
    """An nginx quoted string (escapes as ngx_conf_file.c reads them). ``$`` would start a variable and nginx has
    no escape for it: refused."""
    if "$" in value:
        raise ValueError(f"nginx string may not contain '$': {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return '"' + escaped + '"'


@dataclass
class TlsSite:
    """One HTTPS server block on its own port. ``headers`` are ``add_header NAME VALUE always`` lines, in order."""

    server_name: str
    cert_path: Path
    key_path: Path
    protocols: tuple[str, ...] = MODERN_PROTOCOLS
    ciphers: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    verify_client: VerifyClient = "off"
    client_ca: Path | None = None
    status: int = 200
    body: str = "origin ok\n"
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.host, self.port)

    def render(self) -> str:
        lines = [
            f"listen {_listen(self.host, self.port)} ssl;",
            f"server_name {self.server_name};",
            f"ssl_certificate {self.cert_path};",
            f"ssl_certificate_key {self.key_path};",
            f"ssl_protocols {' '.join(self.protocols)};",
        ]
        ciphers = self.ciphers
        if ciphers is None and _LEGACY_PROTOCOLS & set(self.protocols):
            ciphers = LEGACY_CIPHERS
        if ciphers is not None:
            lines.append(f"ssl_ciphers {_quote(ciphers)};")
        lines.append(f"ssl_verify_client {self.verify_client};")
        if self.client_ca is not None:
            lines.append(f"ssl_client_certificate {self.client_ca};")
        lines.extend(f"add_header {_quote(name)} {_quote(value)} always;" for name, value in self.headers)
        lines.append(f"location / {{ return {self.status} {_quote(self.body)}; }}")
        return _server_block(lines)


@dataclass
class HttpSite:
    """One plain-HTTP server block: ``return 301 https://$host$request_uri`` when ``redirect``, else 200."""

    redirect: bool = True
    body: str = "plain http\n"
    host: str = "127.0.0.1"
    port: int = 0

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint(self.host, self.port)

    def render(self) -> str:
        action = "return 301 https://$host$request_uri;" if self.redirect else f"return 200 {_quote(self.body)};"
        return _server_block(
            [f"listen {_listen(self.host, self.port)};", "server_name _;", f"location / {{ {action} }}"]
        )


def _listen(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _server_block(lines: Iterable[str]) -> str:
    return "    server {\n" + "".join(f"        {line}\n" for line in lines) + "    }\n"


@dataclass
class NginxServer:
    """An nginx master process serving every added site. Add sites, then ``start()`` (or ``with server:``)."""

    directory: Path
    binary: str | None = None
    sites: list[TlsSite | HttpSite] = field(default_factory=list)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)

    # -- building

    def add_tls_site(
        self,
        server_name: str,
        *,
        cert: IssuedCert | None = None,
        cert_path: Path | None = None,
        key_path: Path | None = None,
        protocols: Sequence[str] = MODERN_PROTOCOLS,
        ciphers: str | None = None,
        sts: Sequence[str] = (),
        headers: Sequence[tuple[str, str]] = (),
        verify_client: VerifyClient = "off",
        client_ca: Path | None = None,
        status: int = 200,
        body: str = "origin ok\n",
    ) -> TlsSite:
        """Add an HTTPS site. ``cert`` (an :class:`IssuedCert`, its chain is served) or ``cert_path``+``key_path``.
        ``sts``: raw Strict-Transport-Security values, one header each; ``headers``: any other (name, value)."""
        if cert is not None:
            cert_path, key_path = cert.chain_path, cert.key_path
        if cert_path is None or key_path is None:
            raise ValueError("add_tls_site needs cert= or cert_path= and key_path=")
        if verify_client != "off" and client_ca is None and verify_client != "optional_no_ca":
            raise ValueError("ssl_verify_client on/optional needs client_ca")
        site = TlsSite(
            server_name=server_name,
            cert_path=Path(cert_path),
            key_path=Path(key_path),
            protocols=tuple(protocols),
            ciphers=ciphers,
            headers=tuple(("Strict-Transport-Security", value) for value in sts) + tuple(headers),
            verify_client=verify_client,
            client_ca=client_ca,
            status=status,
            body=body,
            port=free_port(),
        )
        site.render()  # refuse unquotable values now, not at start
        self.sites.append(site)
        return site

    def add_http_site(self, *, redirect: bool = True, body: str = "plain http\n") -> HttpSite:
        site = HttpSite(redirect=redirect, body=body, port=free_port())
        site.render()
        self.sites.append(site)
        return site

    # -- configuration

    @property
    def conf_path(self) -> Path:
        return self.directory / "nginx.conf"

    @property
    def error_log(self) -> Path:
        return self.directory / "error.log"

    def render(self) -> str:
        prefix = self.directory
        temp = prefix / "temp"
        # As root, nginx switches workers to "nobody", who could not read our 0600 keys in a root-owned tmp dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        return (
            f"{user}"
            "daemon off;\n"
            "master_process on;\n"
            "worker_processes 1;\n"
            f"pid {self.pid_file};\n"
            f"error_log {self.error_log} info;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"    access_log {prefix / 'access.log'};\n"
            f"    client_body_temp_path {temp / 'body'};\n"
            f"    proxy_temp_path {temp / 'proxy'};\n"
            f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
            f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
            f"    scgi_temp_path {temp / 'scgi'};\n"
            "    default_type text/plain;\n"
            "    server_tokens off;\n" + "".join(site.render() for site in self.sites) + "}\n"
        )

    # -- lifecycle

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> NginxServer:
        """Write the configuration, start nginx, wait until every site's port accepts connections.

        A port taken between ``free_port()`` and nginx's bind is picked again (up to a few times).
        Raises :class:`NginxError` with nginx's error log when it will not come up.
        """
        if self.running:
            raise NginxError("nginx is already running; stop() it before adding sites")
        binary = self.binary or find_nginx()
        if binary is None:
            raise NginxError(
                "nginx not found (install the Debian package: apt-get install nginx, or set ORIGIN_TLS_NGINX); "
                "set ORIGIN_TLS_SKIP_NGINX=1 to skip the nginx tests on a developer machine"
            )
        (self.directory / "temp").mkdir(parents=True, exist_ok=True)
        if len({(site.host, site.port) for site in self.sites}) < len(self.sites):
            # free_port() released one by one can hand the same port out twice, and nginx would silently serve
            # two sites on one port as virtual hosts: pick them all again, held together.
            self._pick_ports()
        for attempt in range(_PORT_ATTEMPTS):
            self.conf_path.write_text(self.render(), encoding="utf-8")
            self.pid_file.unlink(missing_ok=True)
            self.error_log.write_text("", encoding="utf-8")
            self._process = subprocess.Popen(
                [binary, "-p", f"{self.directory}/", "-c", str(self.conf_path), "-e", str(self.error_log)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, so stop() can kill master and workers together
            )
            if self._wait_ready():
                return self
            log = self._log_text()
            self.stop()
            if "Address already in use" in log and attempt + 1 < _PORT_ATTEMPTS:
                self._pick_ports()
                continue
            raise NginxError(f"nginx did not start; configuration {self.conf_path}:\n{log}")
        raise AssertionError("unreachable")

    def _pick_ports(self) -> None:
        for site, port in zip(self.sites, pick_ports([site.host for site in self.sites]), strict=True):
            site.port = port

    @property
    def pid_file(self) -> Path:
        return self.directory / "nginx.pid"

    def _wait_ready(self) -> bool:
        # nginx writes its pid file only after every listening socket is bound (ngx_init_cycle, then
        # ngx_create_pidfile): a port that merely accepts could be someone else's.
        deadline = time.monotonic() + _START_TIMEOUT
        pending = [site.endpoint for site in self.sites]
        expected_pid = str(self._process.pid) if self._process is not None else ""
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            with contextlib.suppress(OSError):
                if self.pid_file.read_text(encoding="ascii").strip() == expected_pid:
                    break
            time.sleep(0.05)
        else:
            return False
        while pending and time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            endpoint = pending[0]
            try:
                with socket.create_connection((endpoint.host, endpoint.port), timeout=0.5):
                    pending.pop(0)
            except OSError:
                time.sleep(0.05)
        return not pending and self.running

    def _log_text(self) -> str:
        stderr = b""
        if self._process is not None and self._process.poll() is not None and self._process.stderr is not None:
            stderr = self._process.stderr.read()
        log = self.error_log.read_text(encoding="utf-8", errors="replace") if self.error_log.exists() else ""
        return (stderr.decode("utf-8", "replace") + log).strip()

    def stop(self) -> None:
        """Graceful shutdown (SIGQUIT), then SIGKILL to the whole process group. Safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGQUIT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=_STOP_TIMEOUT)
        # Workers may outlive a master that died: the group id is the master's pid (start_new_session=True).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_TIMEOUT)
        if process.stderr is not None:
            process.stderr.close()

    def __enter__(self) -> NginxServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


@dataclass(frozen=True)
class CommonSites:
    """The nginx variants most tests need, all in one process (see :func:`add_common_sites`)."""

    hostname: str
    sts_value: str
    modern: TlsSite  # TLS 1.2 + 1.3, trusted certificate, one STS header, no client authentication
    legacy: TlsSite  # TLS 1.0 to 1.3 (security level 0): really accepts TLS 1.0 and 1.1
    tls12_only: TlsSite  # no TLS 1.3
    no_sts: TlsSite
    two_sts: TlsSite  # two Strict-Transport-Security headers
    upper_sts: TlsSite  # header name in upper case: STRICT-TRANSPORT-SECURITY
    quoted_sts: TlsSite  # max-age="31536000" (valid per RFC 6797, not preload-eligible)
    wrong_host: TlsSite  # trusted CA, certificate for other.<hostname>
    origin: TlsSite  # Origin-CA-like certificate, no client authentication
    aop_on: TlsSite  # ssl_verify_client on, client_ca = pki.client_ca
    aop_optional: TlsSite  # ssl_verify_client optional: serves without a certificate
    redirect: HttpSite  # 301 to https://$host$request_uri
    no_redirect: HttpSite  # 200


def add_common_sites(server: NginxServer, pki: TestPki, hostname: str) -> CommonSites:
    """Add the usual variants for ``hostname`` to ``server`` (not started)."""
    sts = "max-age=31536000; includeSubDomains"
    good = pki.good(hostname)
    origin = pki.origin(hostname)
    return CommonSites(
        hostname=hostname,
        sts_value=sts,
        modern=server.add_tls_site(hostname, cert=good, sts=[sts]),
        legacy=server.add_tls_site(
            hostname, cert=good, sts=[sts], protocols=("TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
        ),
        tls12_only=server.add_tls_site(hostname, cert=good, sts=[sts], protocols=("TLSv1.2",)),
        no_sts=server.add_tls_site(hostname, cert=good),
        two_sts=server.add_tls_site(hostname, cert=good, sts=[sts, "max-age=0"]),
        upper_sts=server.add_tls_site(hostname, cert=good, headers=[("STRICT-TRANSPORT-SECURITY", sts)]),
        quoted_sts=server.add_tls_site(hostname, cert=good, sts=['max-age="31536000"; includeSubDomains']),
        wrong_host=server.add_tls_site(hostname, cert=pki.wrong_host(hostname), sts=[sts]),
        origin=server.add_tls_site(hostname, cert=origin),
        aop_on=server.add_tls_site(hostname, cert=origin, verify_client="on", client_ca=pki.client_ca.cert_path),
        aop_optional=server.add_tls_site(
            hostname, cert=origin, verify_client="optional", client_ca=pki.client_ca.cert_path
        ),
        redirect=server.add_http_site(redirect=True),
        no_redirect=server.add_http_site(redirect=False),
    )
