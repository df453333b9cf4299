"""The test harness itself (tests/peers): certificates have the shapes their names promise, nginx starts,
reports its own errors, survives a taken port and leaves no process behind."""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from origin_tls.baseline import TlsVersion
from origin_tls.probes import TlsOutcome, probe_tls_version
from tests.peers import HOSTNAME
from tests.peers.nginx import NginxError, NginxServer
from tests.peers.pki import CLOUDFLARE_ORGANIZATION, CLOUDFLARE_ORIGIN_CA_UNIT, TestPki, utc_now


def _sans(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def test_pki_shapes(pki: TestPki) -> None:
    now = utc_now()

    assert _sans(pki.good(HOSTNAME).certificate) == [HOSTNAME]
    assert _sans(pki.wrong_host(HOSTNAME).certificate) == [f"other.{HOSTNAME}"]
    self_signed = pki.self_signed(HOSTNAME).certificate
    assert self_signed.issuer == self_signed.subject
    assert pki.expiring(HOSTNAME).certificate.not_valid_after_utc < now + dt.timedelta(days=6)
    assert pki.expired(HOSTNAME).certificate.not_valid_after_utc < now
    assert pki.origin(HOSTNAME, expired=True).certificate.not_valid_after_utc < now
    assert pki.not_yet_valid(HOSTNAME).certificate.not_valid_before_utc > now
    assert (
        pki.good(HOSTNAME).certificate.not_valid_before_utc < now < pki.good(HOSTNAME).certificate.not_valid_after_utc
    )


def test_origin_ca_like_names(pki: TestPki) -> None:
    root = pki.origin_ca.certificate
    leaf = pki.origin(HOSTNAME).certificate

    assert root.subject.get_attributes_for_oid(NameOID.COMMON_NAME) == []
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == CLOUDFLARE_ORGANIZATION
    assert root.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value == CLOUDFLARE_ORIGIN_CA_UNIT
    assert leaf.issuer == root.subject
    assert _sans(leaf) == [HOSTNAME, f"*.{HOSTNAME}"]


def test_client_certificates_are_for_client_auth_and_keys_are_private(pki: TestPki) -> None:
    client = pki.client()
    usage = client.certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value

    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert client.certificate.issuer == pki.client_ca.subject
    assert pki.rogue_client().certificate.issuer != pki.client_ca.subject
    assert os.stat(client.key_path).st_mode & 0o077 == 0
    assert "PRIVATE KEY" not in repr(client)


def test_nginx_rejects_unquotable_values(make_nginx: Callable[[], NginxServer], pki: TestPki) -> None:
    server = make_nginx()

    with pytest.raises(ValueError, match=r"\$"):
        server.add_tls_site(HOSTNAME, cert=pki.good(HOSTNAME), sts=["max-age=$bad"])


def test_nginx_configuration_error_is_reported_with_its_log(
    make_nginx: Callable[[], NginxServer], tmp_path: Path
) -> None:
    server = make_nginx()
    server.add_tls_site(HOSTNAME, cert_path=tmp_path / "missing.pem", key_path=tmp_path / "missing.key")

    with pytest.raises(NginxError, match=r"missing\.pem"):
        server.start()
    assert not server.running


def test_nginx_picks_another_port_when_its_port_is_taken(make_nginx: Callable[[], NginxServer], pki: TestPki) -> None:
    server = make_nginx()
    site = server.add_tls_site(HOSTNAME, cert=pki.good(HOSTNAME))
    with socket.socket() as squatter:
        squatter.bind((site.host, site.port))
        squatter.listen(1)
        taken = site.port

        server.start()

    assert site.port != taken
    assert probe_tls_version(site.endpoint, HOSTNAME, TlsVersion.TLS_1_3, timeout=5).outcome is TlsOutcome.ACCEPTED


def test_nginx_stop_leaves_no_process(make_nginx: Callable[[], NginxServer], pki: TestPki) -> None:
    server = make_nginx()
    site = server.add_tls_site(HOSTNAME, cert=pki.good(HOSTNAME))
    server.start()
    master = int(server.pid_file.read_text())

    server.stop()
    server.stop()  # idempotent

    with pytest.raises(ProcessLookupError):
        os.killpg(master, 0)
    assert probe_tls_version(site.endpoint, HOSTNAME, TlsVersion.TLS_1_3, timeout=2).outcome is TlsOutcome.UNREACHABLE
