"""One local stand-in for a Cloudflare zone: the API emulator, the emulated edge and an nginx origin, together.

The sandbox only *starts* things; hardening is left to whoever drives it (the ``demo``, a user's Pulumi stack or
the official SDK pointed at ``api_url``), exactly as with a real zone. What it starts with:

- a fresh zone (the emulator's defaults: Flexible SSL, TLS 1.0 floor, no HSTS, Automatic SSL/TLS on);
- an origin that was set up the classic way before origin-tls came along: an Origin CA certificate issued through
  the API, and Authenticated Origin Pulls with the global origin-pull certificate (``tls_client_auth`` on), so the
  origin side of ``verify`` can pass and the story is about the zone.

With ``pq_origin`` (``sandbox --pq-origin``) a post-quantum-capable origin (:class:`~.pq_origin.PqOrigin`, pyOpenSSL on
``cryptography``'s bundled OpenSSL: X25519MLKEM768) runs beside nginx with the same certificate, key and pull CA, and
the edge pulls from it: it is :attr:`Sandbox.origin` and the ``origin`` of the ``--json`` line (whose keys do not
change); nginx stays up as :attr:`Sandbox.classic_origin`, the origin that cannot (Debian 12's OpenSSL 3.0).

With ``follow_zone_aop`` (the ``sandbox`` command), when the zone's active AOP client certificate changes to one whose
CA the zone knows (a certificate uploaded with its issuer), the origin is reconfigured to trust that CA and the
``client_cert_file``/``client_key_file`` are rewritten, as an operator would. The demo configures the origin itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..baseline import parse_hostname
from ..cloudflare import CloudflareClient
from ..harden import IssuedCertificate, issue_origin_certificate
from ..verify import Target, VerifyOptions
from .api import ApiServer
from .edge import Edge, build_edge_pki
from .lifeline import Lifeline
from .origin import NginxOrigin, OriginConfig, PythonOrigin, start_origin
from .pq_origin import PqOrigin
from .state import ZoneState

__all__ = ["DEFAULT_HOSTNAME", "Sandbox", "SandboxInfo"]

DEFAULT_HOSTNAME = "app.sandbox.test"


@dataclass(frozen=True)
class SandboxInfo:
    """Where everything is (the ``sandbox --json`` line, DESIGN.md "The sandbox contract")."""

    api_url: str
    token: str = field(repr=False)
    zone_id: str
    hostname: str
    edge: str
    edge_http: str
    origin: str
    edge_ca_file: str
    origin_ca_file: str
    client_cert_file: str
    client_key_file: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    def to_json(self) -> str:
        """One line of JSON with every field (the sandbox token is meant to be shared: it opens only this zone)."""
        return json.dumps(self.to_dict(), separators=(", ", ": "))


def _write(path: Path, text: str, *, private: bool = False) -> str:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(text)
    os.replace(tmp, path)
    return str(path)


class Sandbox:
    """``with Sandbox() as sandbox: sandbox.info ...`` — every thread and process it started is stopped on exit.

    ``use_nginx``: ``None`` nginx when installed (else the Python origin, announced through ``notice``), ``True``
    required, ``False`` never. ``pq_origin``: run the post-quantum origin beside it and pull from that one.
    """

    def __init__(
        self,
        hostname: str = DEFAULT_HOSTNAME,
        *,
        zone_id: str | None = None,
        token: str | None = None,
        use_nginx: bool | None = None,
        follow_zone_aop: bool = True,
        notice: Callable[[str], None] | None = None,
        pq_origin: bool = False,
    ) -> None:
        self.hostname = parse_hostname(hostname)
        self.zone_id = zone_id or secrets.token_hex(16)
        self._token = token or "sandbox-" + secrets.token_urlsafe(24)
        self._use_nginx = use_nginx
        self._follow = follow_zone_aop
        self._pq = pq_origin
        self._notice = notice
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._follower: threading.Thread | None = None
        self._workdir: Path | None = None
        #: Kills nginx and removes the private directory (keys!) if this process dies without stop(), even by SIGKILL.
        self._lifeline = Lifeline()
        self._info: SandboxInfo | None = None
        self.state: ZoneState | None = None
        self.api: ApiServer | None = None
        self.edge: Edge | None = None
        #: The origin the edge pulls from (the post-quantum one with ``pq_origin``).
        self.origin: NginxOrigin | PythonOrigin | PqOrigin | None = None
        #: nginx (or the Python origin) when the post-quantum origin runs beside it; ``None`` otherwise.
        self.classic_origin: NginxOrigin | PythonOrigin | None = None
        self.bootstrap_certificate: IssuedCertificate | None = None
        #: The pull CA the origin was last switched to by ``follow_zone_aop`` (set once the files are rewritten too).
        self.followed_ca_pem: str | None = None

    def __repr__(self) -> str:
        return f"Sandbox(hostname={self.hostname!r}, zone_id={self.zone_id!r})"

    # -- lifecycle

    def start(self) -> Sandbox:
        """Start the API, the origin and the edge. On any failure everything already started is stopped."""
        if self._info is not None:
            return self
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self._lifeline.start()
        workdir = Path(tempfile.mkdtemp(prefix="origin-tls-sandbox-"))
        os.chmod(workdir, 0o700)
        self._workdir = workdir
        self._lifeline.guard_directory(workdir)
        state = ZoneState(zone_id=self.zone_id, hostnames=[self.hostname], account_token=self._token)
        self.state = state
        self.api = ApiServer(state)
        self.api.start()
        # The origin's classic setup, done through the API like its operator once did.
        with self.client() as client:
            self.bootstrap_certificate = issue_origin_certificate(client, hostnames=[self.hostname])
            client.edit_setting(self.zone_id, "tls_client_auth", "on")
        config = OriginConfig(
            certificate_pem=self.bootstrap_certificate.certificate_pem,
            private_key_pem=self.bootstrap_certificate.private_key_pem,
            client_ca_pem=state.global_aop.ca_pem,
        )
        classic = start_origin(
            workdir / "origin",
            config,
            hostnames=[self.hostname],
            use_nginx=self._use_nginx,
            notice=self._notice,
            lifeline=self._lifeline,
        )
        self.origin = classic
        if self._pq:
            self.classic_origin = classic
            self.origin = PqOrigin(config, hostnames=[self.hostname]).start()
        self.edge = Edge(
            state,
            build_edge_pki([self.hostname]),
            origin_https=self.origin.https,
            origin_http=self.origin.http,
            origin_trust_pem=state.origin_ca.trust_pem,
        ).start()
        files = workdir / "files"
        files.mkdir(mode=0o700)
        edge_pki_ca = self.edge.ca_pem
        self._info = SandboxInfo(
            api_url=self.api.url,
            token=self._token,
            zone_id=self.zone_id,
            hostname=self.hostname,
            edge=str(self.edge.https),
            edge_http=str(self.edge.http),
            origin=str(self.origin.https),
            edge_ca_file=_write(files / "edge-ca.pem", edge_pki_ca),
            origin_ca_file=_write(files / "origin-ca.pem", state.origin_ca.trust_pem),
            client_cert_file=_write(files / "client.pem", state.global_aop.certificate_pem),
            client_key_file=_write(files / "client.key", state.global_aop.private_key_pem, private=True),
        )
        if self._follow:
            self._follower = threading.Thread(target=self._follow_zone_aop, name="sandbox-aop", daemon=True)
            self._follower.start()

    def stop(self) -> None:
        """Stop the edge, the origin (nginx included) and the API, and delete the private files. Idempotent."""
        self._stopping.set()
        with self._lock:
            edge, self.edge = self.edge, None
            origin, self.origin = self.origin, None
            classic, self.classic_origin = self.classic_origin, None
            api, self.api = self.api, None
            workdir, self._workdir = self._workdir, None
            follower, self._follower = self._follower, None
            self._info = None
        if follower is not None:
            follower.join(timeout=5)
        for item in (edge, origin, classic, api):
            if item is not None:
                with contextlib.suppress(Exception):
                    item.stop()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        self._lifeline.release()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what users of the sandbox need

    @property
    def info(self) -> SandboxInfo:
        if self._info is None:
            raise RuntimeError("the sandbox is not running")
        return self._info

    @property
    def token(self) -> str:
        return self._token

    def client(self, **kwargs: Any) -> CloudflareClient:
        """A :class:`CloudflareClient` for the emulator (keyword arguments passed on)."""
        if self.api is None:
            raise RuntimeError("the sandbox is not running")
        return CloudflareClient(self._token, base_url=self.api.url, **kwargs)

    def target(self) -> Target:
        """The ``verify`` target: the hostname, reached at the sandbox's edge and origin."""
        if self.edge is None or self.origin is None:
            raise RuntimeError("the sandbox is not running")
        return Target(self.hostname, edge=self.edge.https, edge_http=self.edge.http, origin=self.origin.https)

    def verify_options(self, **overrides: Any) -> VerifyOptions:
        """``VerifyOptions`` trusting the sandbox's edge CA and Origin CA, reading this zone through its API, with
        the client certificate of the ``client_cert_file``. ``overrides`` replace any field."""
        info = self.info
        options = VerifyOptions(
            origin_ca_pem=Path(info.origin_ca_file).read_text(encoding="ascii"),
            edge_ca_pem=Path(info.edge_ca_file).read_text(encoding="ascii"),
            client_cert_pem=Path(info.client_cert_file).read_text(encoding="ascii"),
            client_key_pem=Path(info.client_key_file).read_text(encoding="ascii"),
            zone_id=info.zone_id,
            api_url=info.api_url,
        )
        return replace(options, **overrides)

    # -- following the zone's AOP certificate

    def _follow_zone_aop(self) -> None:
        state = self.state
        if state is None:
            return
        version = -1
        while not self._stopping.is_set():
            version = state.wait_for_change(version, 0.5)
            identity = state.active_client_identity(self.hostname)
            with self._lock:
                origin, info = self.origin, self._info
                if origin is None or info is None or identity is None or not identity.ca_pem:
                    continue
                if identity.ca_pem == origin.config.client_ca_pem:
                    continue
                with contextlib.suppress(Exception):
                    for server in (origin, self.classic_origin):
                        if server is not None:
                            server.reconfigure(replace(server.config, client_ca_pem=identity.ca_pem))
                    _write(Path(info.client_cert_file), identity.certificate_pem)
                    _write(Path(info.client_key_file), identity.private_key_pem, private=True)
                    self.followed_ca_pem = identity.ca_pem
