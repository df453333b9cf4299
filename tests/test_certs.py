"""Certificates: the pinned Origin CA keys, trust by signature, hostname coverage, dates, files, keys and CSRs."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import re
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from origin_tls import certs
from origin_tls.baseline import KeyType
from origin_tls.certs import (
    GLOBAL_AOP_CA_SPKI_SHA256,
    ORIGIN_CA_ROOTS,
    ClientCa,
    PinnedRoot,
    build_ca,
    build_client_ca,
    build_csr,
    csr_hostnames,
    find_issuer,
    generate_private_key,
    inspect_certificate,
    is_hostname_covered,
    is_signed_by,
    issue_certificate,
    issue_client_certificate,
    judge_origin_certificate,
    load_certificate_der,
    load_pem_certificates,
    load_private_key_pem,
    private_key_to_pem,
    read_ca_file,
)
from origin_tls.errors import InvalidInput

PEMS = Path(__file__).resolve().parents[2] / "shared/reference/pems"
ECC_ROOT = PEMS / "cloudflare_origin_ca_ecc_root_2019-2029.pem"
RSA_ROOT = PEMS / "cloudflare_origin_ca_rsa_root_2019-2029.pem"
AOP_CA = PEMS / "cloudflare_aop_origin_pull_ca_2019-2029.pem"
HOST = "app.example.com"
UTC = dt.timezone.utc
LOOKALIKE_OU = "CloudFlare Origin SSL ECC Certificate Authority"

needs_pems = pytest.mark.skipif(not PEMS.is_dir(), reason="reference PEMs not present")


def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def lookalike_ca() -> ClientCa:
    """A CA with the Origin CA's names and its own key."""
    return build_ca(organization="CloudFlare, Inc.", organizational_unit=LOOKALIKE_OU)


@pytest.fixture(scope="module")
def leaf(lookalike_ca: ClientCa) -> x509.Certificate:
    pem, _ = issue_certificate(
        lookalike_ca,
        hostnames=[HOST, "*.example.com"],
        common_name="CloudFlare Origin Certificate",
        organization="CloudFlare, Inc.",
        organizational_unit="CloudFlare Origin CA",
    )
    return _cert(pem)


# --------------------------------------------------------------------------------------------------------------
# The pins


def _readme_pins() -> dict[str, str]:
    table = (PEMS / "README.md").read_text()
    return dict(re.findall(r"^\| (\S+\.pem) \|.*\| ([0-9a-f]{64}) \|", table, flags=re.MULTILINE))


@needs_pems
@pytest.mark.parametrize(("root", "path"), [(ORIGIN_CA_ROOTS[0], ECC_ROOT), (ORIGIN_CA_ROOTS[1], RSA_ROOT)])
def test_pinned_roots_match_cloudflares_published_certificates(root: PinnedRoot, path: Path) -> None:
    published = read_ca_file(str(path), field_name="pem")[0]
    assert root.spki_der == _spki(published)
    assert root.spki_sha256 == hashlib.sha256(root.spki_der).hexdigest() == _readme_pins()[path.name]
    assert root.not_after == published.not_valid_after_utc
    assert [a.value for a in published.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)] == [
        root.organizational_unit
    ]
    # The published roots are self-signed: a real ECDSA and a real RSA signature verify with the pinned key...
    assert find_issuer(published).trusted
    assert find_issuer(published).root_not_after == root.not_after
    # ...and not with the other one.
    other = ORIGIN_CA_ROOTS[1] if root is ORIGIN_CA_ROOTS[0] else ORIGIN_CA_ROOTS[0]
    assert not is_signed_by(published, serialization.load_der_public_key(other.spki_der))


@needs_pems
def test_global_aop_ca_pin() -> None:
    published = read_ca_file(str(AOP_CA), field_name="pem")[0]
    assert hashlib.sha256(_spki(published)).hexdigest() == GLOBAL_AOP_CA_SPKI_SHA256
    assert _readme_pins()[AOP_CA.name] == GLOBAL_AOP_CA_SPKI_SHA256
    # The AOP CA is a Cloudflare CA, but not an Origin CA: it must not be trusted for origin certificates.
    assert not find_issuer(published).trusted


@needs_pems
def test_inspect_published_root() -> None:
    info = inspect_certificate(read_ca_file(str(ECC_ROOT), field_name="pem")[0])
    assert info.key_type == "ecdsa-p256"
    assert info.spki_sha256 == ORIGIN_CA_ROOTS[0].spki_sha256
    assert info.sans == ()
    assert info.not_before == dt.datetime(2019, 8, 23, 21, 8, tzinfo=UTC)
    assert info.not_after.tzinfo is not None
    assert "OU=CloudFlare Origin SSL ECC Certificate Authority" in info.subject
    assert re.fullmatch(r"[0-9a-f]{64}", info.fingerprint_sha256)


# --------------------------------------------------------------------------------------------------------------
# Trust


def test_leaf_from_trusted_ca_is_trusted(lookalike_ca: ClientCa, leaf: x509.Certificate) -> None:
    match = find_issuer(leaf, trusted_cas=[lookalike_ca.certificate])
    assert match.trusted
    assert match.issuer == LOOKALIKE_OU
    assert match.root_not_after == lookalike_ca.certificate.not_valid_after_utc
    judgement = judge_origin_certificate(leaf, hostname=HOST, trusted_cas=[lookalike_ca.certificate])
    assert judgement.ok, judgement.problems


def test_lookalike_origin_ca_is_not_trusted_by_the_pinned_keys(leaf: x509.Certificate) -> None:
    # Same names as Cloudflare's ECC root, different key: the failing twin of the test above.
    match = find_issuer(leaf)
    assert not match.trusted
    assert match.root_not_after is None
    assert "does not verify" in match.detail
    judgement = judge_origin_certificate(leaf, hostname=HOST)
    assert not judgement.ok
    assert any(p.startswith("untrusted issuer") for p in judgement.problems)


def test_other_ca_with_same_name_is_not_trusted(leaf: x509.Certificate) -> None:
    impostor = build_ca(organization="CloudFlare, Inc.", organizational_unit=LOOKALIKE_OU)
    match = find_issuer(leaf, trusted_cas=[impostor.certificate])
    assert not match.trusted
    assert "none of them signed" in match.detail


def test_unrelated_ca_is_not_trusted(leaf: x509.Certificate) -> None:
    match = find_issuer(leaf, trusted_cas=[build_client_ca("Someone Else").certificate])
    assert not match.trusted
    assert "not among" in match.detail


def test_pinned_key_needs_no_issuer_certificate_and_ignores_root_dates(
    monkeypatch: pytest.MonkeyPatch, lookalike_ca: ClientCa
) -> None:
    # Given a pin (key only) whose root expired in 2029 and a leaf valid until 2041, as Origin CA leaves are
    root = PinnedRoot(
        name="Test Origin CA",
        organizational_unit=LOOKALIKE_OU,
        spki_der=_spki(lookalike_ca.certificate),
        spki_sha256=hashlib.sha256(_spki(lookalike_ca.certificate)).hexdigest(),
        not_after=dt.datetime(2029, 8, 15, 17, tzinfo=UTC),
    )
    monkeypatch.setattr(certs, "ORIGIN_CA_ROOTS", (root,))
    pem, _ = issue_certificate(
        lookalike_ca,
        hostnames=[HOST],
        not_before=dt.datetime(2026, 1, 1, tzinfo=UTC),
        not_after=dt.datetime(2041, 1, 1, tzinfo=UTC),
    )
    # When judged in 2035, after the root's expiry
    judgement = judge_origin_certificate(_cert(pem), hostname=HOST, now=dt.datetime(2035, 1, 1, tzinfo=UTC))
    # Then it is trusted by signature, and the root's expiry is a note, not a problem
    assert judgement.ok, judgement.problems
    assert judgement.issuer.issuer == "Test Origin CA"
    assert judgement.notes == ("issuing root expired 2029-08-15",)
    assert judge_origin_certificate(_cert(pem), hostname=HOST, now=dt.datetime(2028, 1, 1, tzinfo=UTC)).notes == (
        "issuing root expires 2029-08-15",
    )


@pytest.mark.parametrize("key_type", list(KeyType))
def test_is_signed_by(key_type: KeyType) -> None:
    ca = build_client_ca("Signer", key_type=key_type)
    pem, _ = issue_client_certificate(ca, common_name="client")
    assert is_signed_by(_cert(pem), ca.certificate.public_key())
    assert not is_signed_by(_cert(pem), generate_private_key(key_type).public_key())
    # Failing twin across algorithms: an ECDSA signature never verifies with an RSA key, nor the reverse.
    mismatched = KeyType.RSA_2048 if key_type is KeyType.ECDSA_P256 else KeyType.ECDSA_P256
    assert not is_signed_by(_cert(pem), generate_private_key(mismatched).public_key())


def test_rsa_pss_signature_is_verified() -> None:
    from cryptography.hazmat.primitives.asymmetric import padding

    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PSS CA")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(
            ca_key,
            hashes.SHA256(),
            rsa_padding=padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.DIGEST_LENGTH),
        )
    )
    assert is_signed_by(cert, ca_key.public_key())
    assert not is_signed_by(cert, rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key())


# --------------------------------------------------------------------------------------------------------------
# Hostnames


@pytest.mark.parametrize(
    ("hostname", "names", "covered"),
    [
        ("app.example.com", ["app.example.com"], True),
        ("APP.Example.COM.", ["app.example.com"], True),
        ("app.example.com", ["APP.EXAMPLE.COM."], True),
        ("app.example.com", ["other.example.com", "*.example.com"], True),
        ("app.example.com", ["*.EXAMPLE.com"], True),
        ("app.example.com", [], False),
        ("app.example.com", ["other.example.com"], False),
        ("example.com", ["*.example.com"], False),
        ("a.b.example.com", ["*.example.com"], False),
        ("app.example.com", ["a*.example.com"], False),
        ("app.example.com", ["*pp.example.com"], False),
        ("app.example.com", ["*.*.com"], False),
        ("example.com", ["*.com"], False),
        ("app.example.com", ["app.example.com.evil.test"], False),
        ("evilexample.com", ["*.example.com"], False),
        (".example.com", ["*.example.com"], False),
        ("", ["*.example.com"], False),
        ("10.0.0.1", ["*.0.0.1"], False),
        ("10.0.0.1", ["10.0.0.1"], True),
    ],
)
def test_is_hostname_covered(hostname: str, names: list[str], covered: bool) -> None:
    assert is_hostname_covered(hostname, names) is covered


def test_common_name_is_ignored(lookalike_ca: ClientCa) -> None:
    # RFC 6125: a certificate with no DNS SAN covers nothing, whatever its CN says.
    ca_key = load_private_key_pem(lookalike_ca.private_key_pem)
    key = generate_private_key(KeyType.ECDSA_P256)
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(lookalike_ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(ca_key, hashes.SHA256())
    )
    judgement = judge_origin_certificate(cert, hostname=HOST, trusted_cas=[lookalike_ca.certificate])
    assert judgement.info.sans == ()
    assert judgement.problems == (f"does not cover {HOST} (DNS names: none)",)


def test_hostname_not_covered(lookalike_ca: ClientCa, leaf: x509.Certificate) -> None:
    judgement = judge_origin_certificate(leaf, hostname="example.org", trusted_cas=[lookalike_ca.certificate])
    assert not judgement.ok
    assert judgement.problems == ("does not cover example.org (DNS names: app.example.com, *.example.com)",)


# --------------------------------------------------------------------------------------------------------------
# Dates and the drift pin


def _dated_leaf(ca: ClientCa, not_before: dt.datetime, not_after: dt.datetime) -> x509.Certificate:
    return _cert(issue_certificate(ca, hostnames=[HOST], not_before=not_before, not_after=not_after)[0])


NOW = dt.datetime(2030, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("not_before", "not_after", "problem"),
    [
        (NOW - dt.timedelta(days=10), NOW + dt.timedelta(days=31), None),
        (NOW - dt.timedelta(days=10), NOW + dt.timedelta(days=29), "expires 2030-06-30, in 29 day(s): fewer than 30"),
        (NOW - dt.timedelta(days=10), NOW - dt.timedelta(seconds=1), "expired on 2030-05-31T23:59:59+00:00"),
        (NOW + dt.timedelta(days=1), NOW + dt.timedelta(days=400), "not valid before 2030-06-02T00:00:00+00:00"),
    ],
)
def test_validity_window(
    lookalike_ca: ClientCa, not_before: dt.datetime, not_after: dt.datetime, problem: str | None
) -> None:
    cert = _dated_leaf(lookalike_ca, not_before, not_after)
    judgement = judge_origin_certificate(cert, hostname=HOST, trusted_cas=[lookalike_ca.certificate], now=NOW)
    assert judgement.problems == (() if problem is None else (problem,))
    assert judgement.ok is (problem is None)


def test_min_days_remaining_is_honoured(lookalike_ca: ClientCa) -> None:
    cert = _dated_leaf(lookalike_ca, NOW - dt.timedelta(days=1), NOW + dt.timedelta(days=50))
    trusted = [lookalike_ca.certificate]
    assert judge_origin_certificate(cert, hostname=HOST, trusted_cas=trusted, now=NOW, min_days_remaining=49).ok
    assert not judge_origin_certificate(cert, hostname=HOST, trusted_cas=trusted, now=NOW, min_days_remaining=51).ok


def test_expected_certificate(lookalike_ca: ClientCa, leaf: x509.Certificate) -> None:
    trusted = [lookalike_ca.certificate]
    assert judge_origin_certificate(leaf, hostname=HOST, trusted_cas=trusted, expected=leaf).ok
    other = _cert(issue_certificate(lookalike_ca, hostnames=[HOST])[0])
    judgement = judge_origin_certificate(leaf, hostname=HOST, trusted_cas=trusted, expected=other)
    assert not judgement.ok
    assert judgement.problems == (
        f"not the expected certificate (sha256 {judgement.info.fingerprint_sha256}, "
        f"expected {other.fingerprint(hashes.SHA256()).hex()})",
    )


# --------------------------------------------------------------------------------------------------------------
# CA files


@pytest.fixture
def key_pem() -> str:
    return private_key_to_pem(generate_private_key(KeyType.ECDSA_P256))


def test_read_ca_file_reads_a_bundle(tmp_path: Path, lookalike_ca: ClientCa) -> None:
    other = build_client_ca("Second CA")
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(lookalike_ca.certificate_pem + other.certificate_pem)
    loaded = read_ca_file(str(bundle), field_name="origin_ca")
    assert [c.subject for c in loaded] == [lookalike_ca.certificate.subject, other.certificate.subject]


def _bad_files(tmp_path: Path, key_pem: str) -> Iterator[tuple[str, Path]]:
    yield "missing", tmp_path / "missing.pem"
    yield "directory", tmp_path
    empty = tmp_path / "empty.pem"
    empty.write_bytes(b"")
    yield "empty", empty
    only_key = tmp_path / "key.pem"
    only_key.write_text(key_pem)
    yield "key only", only_key
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    yield "broken certificate", garbage
    text = tmp_path / "text.pem"
    text.write_text("hello")
    yield "not PEM", text
    huge = tmp_path / "huge.pem"
    huge.write_bytes(b"x" * (certs.MAX_CA_FILE_BYTES + 1))
    yield "oversized", huge


def test_bad_ca_files_are_refused(tmp_path: Path, key_pem: str) -> None:
    for label, path in _bad_files(tmp_path, key_pem):
        with pytest.raises(InvalidInput) as info:
            read_ca_file(str(path), field_name="origin_ca")
        message = str(info.value)
        assert info.value.field == "origin_ca", label
        assert message.startswith("origin_ca must be"), label
        assert str(path) in message, label
        assert "PRIVATE KEY" not in message, label
        assert key_pem not in message, label


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_ca_file_is_refused(tmp_path: Path, lookalike_ca: ClientCa) -> None:
    path = tmp_path / "ca.pem"
    path.write_text(lookalike_ca.certificate_pem)
    path.chmod(0)
    with pytest.raises(InvalidInput, match="origin_ca"):
        read_ca_file(str(path), field_name="origin_ca")


def test_load_pem_certificates(lookalike_ca: ClientCa, key_pem: str) -> None:
    assert len(load_pem_certificates(lookalike_ca.certificate_pem, field_name="x")) == 1
    assert len(load_pem_certificates(lookalike_ca.certificate_pem.encode(), field_name="x")) == 1
    with pytest.raises(InvalidInput, match=r"^client_cert must be") as info:
        load_pem_certificates(key_pem, field_name="client_cert")
    assert "PRIVATE KEY" not in str(info.value)


def test_load_certificate_der(leaf: x509.Certificate) -> None:
    der = leaf.public_bytes(serialization.Encoding.DER)
    assert load_certificate_der(der) == leaf
    with pytest.raises(InvalidInput):
        load_certificate_der(der[:-10])


# --------------------------------------------------------------------------------------------------------------
# Keys, CSRs, client certificates


@pytest.mark.parametrize(
    ("key_type", "cls", "label"),
    [
        (KeyType.ECDSA_P256, ec.EllipticCurvePrivateKey, "ecdsa-p256"),
        (KeyType.RSA_2048, rsa.RSAPrivateKey, "rsa-2048"),
    ],
)
def test_keys_and_csr_round_trip(key_type: KeyType, cls: type, label: str) -> None:
    key = generate_private_key(key_type)
    assert isinstance(key, cls)
    pem = private_key_to_pem(key)
    assert pem.startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    again = load_private_key_pem(pem)
    assert private_key_to_pem(again) == pem

    csr_pem = build_csr(again, ["App.Example.com", "*.example.com"])
    assert csr_hostnames(csr_pem) == ("app.example.com", "*.example.com")
    csr = x509.load_pem_x509_csr(csr_pem.encode())
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "app.example.com"
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    ca = build_client_ca("Round trip", key_type=key_type)
    cert = _cert(issue_client_certificate(ca, common_name="c", key_type=key_type)[0])
    assert inspect_certificate(cert).key_type == label


def test_csr_refusals() -> None:
    key = generate_private_key(KeyType.ECDSA_P256)
    with pytest.raises(InvalidInput):
        build_csr(key, [])
    with pytest.raises(InvalidInput):
        build_csr(key, ["not a hostname"])
    with pytest.raises(InvalidInput):
        csr_hostnames("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n")


def test_long_first_hostname_drops_only_the_cn() -> None:
    long_name = ("a" * 60) + ".example.com"
    csr_pem = build_csr(generate_private_key(KeyType.ECDSA_P256), [long_name])
    assert csr_hostnames(csr_pem) == (long_name,)


SECRET_LOOKING = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldC1zZWNyZXQ=\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize("garbage", [SECRET_LOOKING, "hunter2-not-a-key", ""])
def test_private_key_never_in_errors(garbage: str) -> None:
    with pytest.raises(InvalidInput) as info:
        load_private_key_pem(garbage, field_name="client_key")
    message = str(info.value)
    assert message.startswith("client_key must be")
    assert "c2VjcmV0" not in message
    assert "hunter2" not in message
    assert info.value.value == "<redacted>"


def test_encrypted_private_key_is_refused_without_leaking() -> None:
    key = generate_private_key(KeyType.ECDSA_P256)
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pw"),
    ).decode()
    with pytest.raises(InvalidInput) as info:
        load_private_key_pem(encrypted)
    assert "ENCRYPTED" not in str(info.value)


def test_client_ca_never_shows_its_key() -> None:
    ca = build_client_ca("AOP CA")
    key_body = ca.private_key_pem.splitlines()[1]
    for text in (repr(ca), str(ca), f"{ca}", repr([ca])):
        assert "PRIVATE KEY" not in text
        assert key_body not in text
    assert "BEGIN CERTIFICATE" in repr(ca)


def test_client_certificate_chains_to_its_ca() -> None:
    ca = build_client_ca("AOP CA")
    ca_cert = ca.certificate
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert_pem, key_pem = issue_client_certificate(ca, common_name="edge-pull")
    cert = _cert(cert_pem)
    assert find_issuer(cert, trusted_cas=[ca_cert]).trusted
    assert cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.CLIENT_AUTH]
    )
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not usage.key_cert_sign
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _spki(cert) == load_private_key_pem(key_pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # Failing twin: another CA's client certificate does not chain to this one.
    stranger = _cert(issue_client_certificate(build_client_ca("AOP CA"), common_name="edge-pull")[0])
    assert not find_issuer(stranger, trusted_cas=[ca_cert]).trusted


def test_build_refusals() -> None:
    with pytest.raises(InvalidInput, match="valid_days"):
        build_client_ca("x", valid_days=0)
    with pytest.raises(InvalidInput, match="common_name"):
        build_client_ca("x" * 65)
    ca = build_client_ca("x")
    with pytest.raises(InvalidInput, match="not_after"):
        issue_certificate(ca, hostnames=[HOST], not_before=NOW, not_after=NOW - dt.timedelta(days=1))


# --------------------------------------------------------------------------------------------------------------
# The certificates work in a real mutual-TLS handshake (in memory: no sockets, no ports).


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext, hostname: str) -> None:
    """Pump bytes between two in-memory TLS ends until both finish; SSLError when either refuses."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    from_server, from_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    server_end = server.wrap_bio(to_server, from_server, server_side=True)
    client_end = client.wrap_bio(to_client, from_client, server_hostname=hostname)
    pending = {client_end, server_end}
    for _ in range(20):
        for end in (client_end, server_end):
            if end in pending:
                try:
                    end.do_handshake()
                    pending.discard(end)
                except ssl.SSLWantReadError:
                    pass
            to_server.write(from_client.read())
            to_client.write(from_server.read())
        if not pending:
            return
    raise AssertionError("handshake did not finish")


def _contexts(tmp_path: Path, client_ca: ClientCa, presented: ClientCa) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server_ca = build_ca(common_name="Server CA")
    server_cert, server_key = issue_certificate(server_ca, hostnames=[HOST])
    client_cert, client_key = issue_client_certificate(presented, common_name="edge")
    files = {}
    for name, text in {
        "server.pem": server_cert,
        "server.key": server_key,
        "client.pem": client_cert,
        "client.key": client_key,
    }.items():
        (tmp_path / name).write_text(text)
        files[name] = str(tmp_path / name)
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files["server.pem"], files["server.key"])
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_verify_locations(cadata=client_ca.certificate_pem)
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cadata=server_ca.certificate_pem)
    client.load_cert_chain(files["client.pem"], files["client.key"])
    return server, client


def test_mutual_tls_with_issued_certificates(tmp_path: Path) -> None:
    ca = build_client_ca("AOP CA")
    server, client = _contexts(tmp_path, ca, ca)
    _handshake(server, client, HOST)


def test_mutual_tls_refuses_a_client_certificate_from_another_ca(tmp_path: Path) -> None:
    server, client = _contexts(tmp_path, build_client_ca("AOP CA"), build_client_ca("AOP CA"))
    with pytest.raises(ssl.SSLError, match=r"CERTIFICATE_VERIFY_FAILED|unknown ca"):
        _handshake(server, client, HOST)


def test_all_is_honest() -> None:
    assert all(hasattr(certs, name) for name in certs.__all__)
    assert len(set(certs.__all__)) == len(certs.__all__)


def test_pinned_spki_constants_decode() -> None:
    for root in ORIGIN_CA_ROOTS:
        assert hashlib.sha256(root.spki_der).hexdigest() == root.spki_sha256
        assert base64.b64encode(root.spki_der)
        assert "spki_der" not in repr(root)
