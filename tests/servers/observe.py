"""Record what a server sends when a pull comes without a client certificate (or with an untrusted one).

The evidence the AOP judge rests on: which TLS alert (or HTTP answer), and when, on TLS 1.2 and on TLS 1.3. The
wire is read with the package's own client (``tls_client.tls_connection``/``http_get``/``classify_error``) and the
verdict with its own probe (``probes.probe_origin_pull``), so a disagreement between them shows up here.

``python -m tests.servers.observe`` starts the four servers with a required client certificate on a TLS 1.2-only
and a TLS 1.3-only listener and prints the Markdown table kept in tests/README.md.
"""

from __future__ import annotations

import ssl
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from origin_tls.baseline import Endpoint, TlsVersion
from origin_tls.probes import AopOutcome, probe_origin_pull
from origin_tls.tls_client import ErrorKind, alert_name, classify_error, http_get, tls_connection, unverified_context
from tests.peers import HOSTNAME
from tests.peers.listeners import ClientAuth, TlsListener
from tests.peers.pki import IssuedCert, TestPki
from tests.servers.world import SERVERS

__all__ = ["Observation", "observe_pull", "render_table"]

_SSL_VERSION = {TlsVersion.TLS_1_2: ssl.TLSVersion.TLSv1_2, TlsVersion.TLS_1_3: ssl.TLSVersion.TLSv1_3}
#: RFC 8446 section 6 / RFC 5246 section 7.2 alert codes, for the table.
_ALERT_CODES = {"handshake_failure": 40, "bad_certificate": 42, "unsupported_certificate": 43,
                "certificate_revoked": 44, "certificate_expired": 45, "certificate_unknown": 46,
                "unknown_ca": 48, "access_denied": 49, "decrypt_error": 51, "protocol_version": 70,
                "internal_error": 80, "certificate_required": 116}  # fmt: skip


@dataclass(frozen=True)
class Observation:
    """One pull as it went on the wire, and how ``probe_origin_pull`` judged the same pull."""

    version: TlsVersion
    negotiated: str | None
    when: str  # "during the handshake", "on the first read after the handshake", "HTTP answer"
    wire: str  # "alert handshake_failure (40)", "HTTP 400: <first line of the body>", "close without alert"...
    judged: AopOutcome
    how: str  # probe_origin_pull's evidence label

    @property
    def cell(self) -> str:
        return f"{self.wire}, {self.when}"


def observe_pull(
    endpoint: Endpoint, hostname: str, version: TlsVersion, *, client: IssuedCert | None = None, timeout: float = 5.0
) -> Observation:
    """A ``GET /`` offering exactly ``version``, with ``client`` as the client certificate (None: none)."""
    context = unverified_context(minimum=_SSL_VERSION[version], maximum=_SSL_VERSION[version])
    if client is not None:
        context.load_cert_chain(client.cert_path, client.key_path)
    when = "during the handshake"
    negotiated: str | None = None
    try:
        with tls_connection(endpoint, hostname, context, timeout) as tls:
            when = "on the first read after the handshake"
            negotiated = tls.version()
            answer = http_get(tls, hostname, timeout)
    except Exception as exc:
        wire = _describe_failure(exc)
    else:
        when = "HTTP answer"
        first_line = answer.body.decode("utf-8", "replace").strip().splitlines()[:1]
        wire = f"HTTP {answer.status}" + (f": {first_line[0][:60]}" if first_line else "")
    judged = probe_origin_pull(
        endpoint,
        hostname,
        client_cert_pem=client.cert_pem if client else None,
        client_key_pem=client.key_pem if client else None,
        timeout=timeout,
    )
    return Observation(version, negotiated, when, wire, judged.outcome, judged.how)


def _describe_failure(exc: BaseException) -> str:
    kind, detail = classify_error(exc)
    if kind in (ErrorKind.ALERT, ErrorKind.OTHER_VERSION) and isinstance(exc, ssl.SSLError):
        name = alert_name(exc.reason or "")
        code = _ALERT_CODES.get(name)
        return f"alert {name}" + (f" ({code})" if code is not None else "")
    if kind is ErrorKind.CLOSED:
        return "connection closed without an alert"
    return detail


def render_table(rows: dict[str, dict[str, Observation]]) -> str:
    """Markdown: one row per server, a column per (case, version)."""
    columns = list(next(iter(rows.values())))
    lines = ["| server | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for server, observations in rows.items():
        cells = [f"{o.cell} (judge: {o.judged})" for o in observations.values()]
        lines.append(f"| {server} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def observe_all(directory: Path) -> dict[str, dict[str, Observation]]:
    pki = TestPki(directory / "pki")
    origin = pki.origin(HOSTNAME)
    rogue = pki.rogue_client()
    rows: dict[str, dict[str, Observation]] = {}
    versions = {"12": (TlsVersion.TLS_1_2, TlsVersion.TLS_1_2), "13": (TlsVersion.TLS_1_3, TlsVersion.TLS_1_3)}
    for kind, server_class in SERVERS.items():
        if server_class.find() is None:
            print(f"{server_class.label}: not installed, skipped", file=sys.stderr)
            continue
        listeners = [
            TlsListener(f"require_{tag}", origin, versions=pair, client_auth=ClientAuth.REQUIRE,
                        client_ca=pki.client_ca.cert_path)
            for tag, pair in versions.items()
        ]  # fmt: skip
        with server_class(directory / kind, HOSTNAME, listeners) as server:
            row: dict[str, Observation] = {}
            for tag, (version, _) in versions.items():
                endpoint = server.listener(f"require_{tag}").endpoint
                row[f"no certificate, TLS {version}"] = observe_pull(endpoint, HOSTNAME, version)
            for tag, (version, _) in versions.items():
                endpoint = server.listener(f"require_{tag}").endpoint
                row[f"untrusted certificate, TLS {version}"] = observe_pull(endpoint, HOSTNAME, version, client=rogue)
            rows[f"{server_class.label} ({kind})"] = row
    return rows


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="origin-tls-observe-") as directory:
        rows = observe_all(Path(directory))
    if not rows:
        print("no server installed", file=sys.stderr)
        return 1
    print(render_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
