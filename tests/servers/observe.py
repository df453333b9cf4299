"""Record what a server sends when a pull comes without a client certificate (or with an untrusted one).

The evidence the AOP judge rests on: which TLS alert (or HTTP answer), and when, on TLS 1.2 and on TLS 1.3. Read
through the package's own probes (``probes.probe_origin_pull``, ``probes.probe_tls_version``, whose details come
from ``tls_client.classify_error``), so the table shows what the judge is given, and how it reads it.

``python -m tests.servers.observe`` starts the four servers (and nginx, for comparison) with a required client
certificate on TLS 1.2-only, TLS 1.3-only, 1.2+1.3 and legacy listeners and prints the tables kept in
tests/README.md.
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from origin_tls.baseline import Endpoint, TlsVersion
from origin_tls.probes import AopOutcome, TlsOutcome, probe_origin_pull, probe_tls_version
from tests.peers import HOSTNAME
from tests.peers.listeners import ClientAuth, TlsListener, Unsupported
from tests.peers.nginx import NginxServer, find_nginx
from tests.peers.pki import IssuedCert, TestPki
from tests.servers.world import SERVERS

__all__ = ["Observation", "observe_pull", "observe_version", "render_table"]

#: RFC 8446 section 6 / RFC 5246 section 7.2 alert codes, for the table.
_ALERT_CODES = {"handshake_failure": 40, "bad_certificate": 42, "unsupported_certificate": 43,
                "certificate_revoked": 44, "certificate_expired": 45, "certificate_unknown": 46,
                "unknown_ca": 48, "access_denied": 49, "decrypt_error": 51, "protocol_version": 70,
                "internal_error": 80, "certificate_required": 116}  # fmt: skip
#: classify_error's wording for an alert: "the server sent TLS alert handshake_failure (SSLV3_ALERT_...)".
_ALERT = re.compile(r"TLS alert (\w+) \((\w+)\)")


@dataclass(frozen=True)
class Observation:
    """One pull as the probe saw it: what the server sent, when, and how the probe judged it."""

    version: TlsVersion  # the one version the listener speaks
    negotiated: str | None
    when: str  # "during the handshake", "on the first read after the handshake", "HTTP answer"
    wire: str  # "alert handshake_failure (40)", "HTTP 400 No required SSL certificate was sent", ...
    judged: AopOutcome
    how: str  # probe_origin_pull's evidence label
    detail: str

    @property
    def cell(self) -> str:
        return f"{self.wire}, {self.when}"


def _alert(detail: str) -> str | None:
    match = _ALERT.search(detail)
    if match is None:
        return None
    name = match.group(1)
    code = _ALERT_CODES.get(name)
    return f"alert {name}" + (f" ({code})" if code is not None else f" [{match.group(2)}]")


def observe_pull(
    endpoint: Endpoint, hostname: str, version: TlsVersion, *, client: IssuedCert | None = None, timeout: float = 5.0
) -> Observation:
    """``probe_origin_pull`` to a listener that speaks only ``version``, with ``client`` as the client certificate
    (None: none), described for the table."""
    result = probe_origin_pull(
        endpoint,
        hostname,
        client_cert_pem=client.cert_pem if client else None,
        client_key_pem=client.key_pem if client else None,
        timeout=timeout,
    )
    if result.status is not None:
        when, wire = "HTTP answer", result.detail
    else:
        after = result.how == "tls-alert-after-handshake" or "after the handshake" in result.detail
        when = "on the first read after the handshake" if after else "during the handshake"
        wire = _alert(result.detail) or result.detail
    return Observation(version, result.negotiated, when, wire, result.outcome, result.how, result.detail)


def observe_version(endpoint: Endpoint, hostname: str, version: TlsVersion, *, timeout: float = 5.0) -> str:
    """``probe_tls_version`` (no client certificate), described for the table."""
    result = probe_tls_version(endpoint, hostname, version, timeout=timeout)
    if result.outcome is TlsOutcome.ACCEPTED:
        return f"handshake completed ({result.negotiated})"
    return f"{_alert(result.detail) or result.detail} (probe: {result.outcome})"


def render_table(rows: Mapping[str, Mapping[str, str]]) -> str:
    """Markdown: one row per server, one column per case."""
    columns = list(dict.fromkeys(column for row in rows.values() for column in row))
    lines = ["| server | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for server, row in rows.items():
        lines.append(f"| {server} | " + " | ".join(row.get(column, "n/a") for column in columns) + " |")
    return "\n".join(lines)


_V10, _V11, _V12, _V13 = TlsVersion.TLS_1_0, TlsVersion.TLS_1_1, TlsVersion.TLS_1_2, TlsVersion.TLS_1_3


def _pull_cells(endpoints: Mapping[TlsVersion, Endpoint], rogue: IssuedCert, good: IssuedCert) -> dict[str, str]:
    row = {}
    for label, client in (("no certificate", None), ("untrusted certificate", rogue), ("authorised certificate", good)):
        for version, endpoint in endpoints.items():
            seen = observe_pull(endpoint, HOSTNAME, version, client=client)
            row[f"{label}, TLS {version}"] = f"{seen.cell} (judge: {seen.judged})"
    return row


def _version_cells(modern: Endpoint, legacy: Endpoint | None) -> dict[str, str]:
    """What a version probe without a client certificate meets at a server that requires one."""
    row = {}
    for version in (_V10, _V11, _V12, _V13):
        row[f"TLS {version} offered, floor 1.2"] = observe_version(modern, HOSTNAME, version)
    if legacy is not None:
        row["TLS 1.0 offered, floor 1.0"] = observe_version(legacy, HOSTNAME, _V10)
    return row


def observe_all(directory: Path) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(missing/untrusted client certificate table, version-probe table), one row per installed server."""
    pki = TestPki(directory / "pki")
    origin = pki.origin(HOSTNAME)
    rogue, good = pki.rogue_client(), pki.client()
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
            for per_request in (False, True):
                listener = TlsListener(
                    name + ("_per_request" if per_request else ""), origin, versions=pair,
                    client_auth=ClientAuth.REQUIRE, client_ca=ca, per_request=per_request,
                )  # fmt: skip
                with contextlib.suppress(Unsupported):
                    server_class.check_supported(listener)
                    listeners.append(listener)
        with server_class(directory / kind, HOSTNAME, listeners) as server:
            names = set(server.listeners)
            row_name = f"{server_class.label} ({kind})"
            for suffix, label in (("", row_name), ("_per_request", f"{server_class.label}, per request")):
                if f"only_12{suffix}" in names:
                    endpoints = {_V12: server.listener(f"only_12{suffix}").endpoint,
                                 _V13: server.listener(f"only_13{suffix}").endpoint}  # fmt: skip
                    pulls[label] = _pull_cells(endpoints, rogue, good)
            legacy = server.listener("legacy").endpoint if "legacy" in names else None
            versions[row_name] = _version_cells(server.listener("modern").endpoint, legacy)
    nginx = _observe_nginx(directory / "nginx", pki, origin, (rogue, good))
    if nginx is not None:
        pulls["nginx (ssl_verify_client on)"] = nginx
    return pulls, versions


def _observe_nginx(
    directory: Path, pki: TestPki, origin: IssuedCert, clients: tuple[IssuedCert, IssuedCert]
) -> dict[str, str] | None:
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
        return _pull_cells({version: site.endpoint for version, site in sites.items()}, *clients)


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
