"""Record what a server sends when a pull comes without a client certificate (or with an untrusted one).

The evidence the AOP judge rests on: which TLS alert (or HTTP answer), and when, on TLS 1.2 and on TLS 1.3. The
wire is read with the package's own client (``tls_client.tls_connection``/``http_get``/``classify_error``) and the
verdict with its own probe (``probes.probe_origin_pull``), so a disagreement between them shows up here.

``python -m tests.servers.observe`` starts the four servers (and nginx, for comparison) with a required client
certificate on a TLS 1.2-only and a TLS 1.3-only listener and prints the Markdown table kept in tests/README.md.
"""

from __future__ import annotations

import contextlib
import re
import ssl
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from origin_tls.baseline import Endpoint, TlsVersion
from origin_tls.probes import AopOutcome, probe_origin_pull
from origin_tls.tls_client import ErrorKind, alert_name, classify_error, http_get, tls_connection, version_context
from tests.peers import HOSTNAME
from tests.peers.listeners import ClientAuth, TlsListener, Unsupported
from tests.peers.nginx import NginxServer, find_nginx
from tests.peers.pki import IssuedCert, TestPki
from tests.servers.world import SERVERS

__all__ = ["Observation", "observe_pull", "observe_wire", "render_table"]

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


def observe_wire(
    endpoint: Endpoint, hostname: str, version: TlsVersion, *, client: IssuedCert | None = None, timeout: float = 5.0
) -> tuple[str | None, str, str]:
    """A ``GET /`` offering exactly ``version`` (legacy ones at security level 0, as the probes do), with
    ``client`` as the client certificate (None: none): (negotiated, when, what the server sent)."""
    context = version_context(version)
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
        return negotiated, when, _describe_failure(exc)
    text = " ".join(re.sub(r"<[^>]*>", " ", answer.body.decode("utf-8", "replace")).split())
    return negotiated, "HTTP answer", f"HTTP {answer.status}" + (f' "{text[:60]}"' if text else "")


def observe_pull(
    endpoint: Endpoint, hostname: str, version: TlsVersion, *, client: IssuedCert | None = None, timeout: float = 5.0
) -> Observation:
    """:func:`observe_wire`, and how ``probe_origin_pull`` judges the same pull (on a listener that speaks only
    ``version``, the probe negotiates it too)."""
    negotiated, when, wire = observe_wire(endpoint, hostname, version, client=client, timeout=timeout)
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


def render_table(rows: Mapping[str, Mapping[str, str]]) -> str:
    """Markdown: one row per server, one column per case."""
    columns = list(dict.fromkeys(column for row in rows.values() for column in row))
    lines = ["| server | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for server, row in rows.items():
        lines.append(f"| {server} | " + " | ".join(row.get(column, "n/a") for column in columns) + " |")
    return "\n".join(lines)


_V10, _V11, _V12, _V13 = TlsVersion.TLS_1_0, TlsVersion.TLS_1_1, TlsVersion.TLS_1_2, TlsVersion.TLS_1_3


def _pull_cells(endpoints: Mapping[TlsVersion, Endpoint], rogue: IssuedCert) -> dict[str, str]:
    row = {}
    for label, client in (("no certificate", None), ("untrusted certificate", rogue)):
        for version, endpoint in endpoints.items():
            seen = observe_pull(endpoint, HOSTNAME, version, client=client)
            row[f"{label}, TLS {version}"] = f"{seen.cell} (judge: {seen.judged})"
    return row


def _version_cells(modern: Endpoint, legacy: Endpoint | None) -> dict[str, str]:
    """What a version probe without a client certificate meets at a server that requires one."""
    row = {}
    for version in (_V10, _V11, _V12):
        _, when, wire = observe_wire(modern, HOSTNAME, version)
        row[f"TLS {version} offered, floor 1.2"] = f"{wire}, {when}"
    if legacy is not None:
        _, when, wire = observe_wire(legacy, HOSTNAME, _V10)
        row["TLS 1.0 offered, floor 1.0"] = f"{wire}, {when}"
    return row


def observe_all(directory: Path) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(missing/untrusted client certificate table, version-probe table), one row per installed server."""
    pki = TestPki(directory / "pki")
    origin = pki.origin(HOSTNAME)
    rogue = pki.rogue_client()
    ca = pki.client_ca.cert_path
    pulls: dict[str, dict[str, str]] = {}
    versions: dict[str, dict[str, str]] = {}
    ranges = {"only_12": (_V12, _V12), "only_13": (_V13, _V13), "modern": (_V12, _V13), "legacy": (_V10, _V13)}
    for kind, server_class in SERVERS.items():
        why = server_class.unavailable()
        if why is not None:
            print(f"skipped: {why}", file=sys.stderr)
            continue
        listeners = []
        for name, pair in ranges.items():
            listener = TlsListener(name, origin, versions=pair, client_auth=ClientAuth.REQUIRE, client_ca=ca)
            with contextlib.suppress(Unsupported):
                server_class(directory / kind, HOSTNAME, []).check_supported(listener)
                listeners.append(listener)
        with server_class(directory / kind, HOSTNAME, listeners) as server:
            names = set(server.listeners)
            row_name = f"{server_class.label} ({kind})"
            pulls[row_name] = _pull_cells(
                {_V12: server.listener("only_12").endpoint, _V13: server.listener("only_13").endpoint}, rogue
            )
            legacy = server.listener("legacy").endpoint if "legacy" in names else None
            versions[row_name] = _version_cells(server.listener("modern").endpoint, legacy)
    nginx = _observe_nginx(directory / "nginx", pki, origin, rogue)
    if nginx is not None:
        pulls["nginx (ssl_verify_client on)"] = nginx
    return pulls, versions


def _observe_nginx(directory: Path, pki: TestPki, origin: IssuedCert, rogue: IssuedCert) -> dict[str, str] | None:
    """nginx, for comparison: it completes the handshake and answers HTTP 400 (DESIGN.md, honesty rules)."""
    if find_nginx() is None:
        return None
    server = NginxServer(directory)
    sites = {
        version: server.add_tls_site(HOSTNAME, cert=origin, protocols=(f"TLSv{version.value}",), verify_client="on",
                                     client_ca=pki.client_ca.cert_path)
        for version in (_V12, _V13)
    }  # fmt: skip
    with server:
        return _pull_cells({version: site.endpoint for version, site in sites.items()}, rogue)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="origin-tls-observe-") as directory:
        pulls, versions = observe_all(Path(directory))
    if not pulls:
        print("no server installed", file=sys.stderr)
        return 1
    print("A pull to a listener that requires a client certificate:\n")
    print(render_table(pulls))
    print("\nA version probe without a client certificate, to a listener that requires one:\n")
    print(render_table(versions))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
