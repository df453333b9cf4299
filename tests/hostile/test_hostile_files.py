"""Hostile bytes from users' files and arguments (issue 18, findings 6 and 8): each a minimal reproducer the fuzz
targets (tests/fuzz/test_fuzz_files_*.py) found or were written for, kept as a regular test with its twin.

What a user sees is ``verify``'s exit 2 with one line naming the field, the value and what is allowed; never a
traceback, never a number read from digits nobody typed as ASCII.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from origin_tls import certs, inventory, inventory_file
from origin_tls.baseline import parse_endpoint, parse_hsts_max_age, parse_timeout
from origin_tls.cli import main
from origin_tls.errors import InvalidInput
from origin_tls.inventory import load_inventory, parse_min_days
from origin_tls.numbers import ascii_decimal, ascii_int
from tests.peers.pki import TestPki

SUPERSCRIPT_TWO = "\u00b2"  # isdigit() is true, int() refuses it
ARABIC_INDIC_12 = "\u0661\u0662"  # int() and float() read it as 12
FULL_WIDTH_12 = "\uff11\uff12"
UNICODE_NUMBERS = [SUPERSCRIPT_TWO, ARABIC_INDIC_12, FULL_WIDTH_12]


def run(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err)
    return code, err.getvalue()


# -- Finding 6: numbers in Unicode digits ------------------------------------------------------------------------


@pytest.mark.parametrize("digits", UNICODE_NUMBERS)
@pytest.mark.parametrize(
    ("flag", "template"),
    [
        ("--origin", "127.0.0.1:{}"),
        ("--edge", "[::1]:{}"),
        ("--timeout", "{}"),
        ("--deadline", "{}"),
        ("--concurrency", "{}"),
        ("--hsts-max-age", "{}"),
        ("--min-days", "{}"),
    ],
)
def test_a_number_in_unicode_digits_exits_2_naming_the_flag(flag: str, template: str, digits: str) -> None:
    value = template.format(digits)
    code, err = run("verify", "app.example.com", flag, value, "--no-aop")
    assert code == 2
    assert err.startswith(f"origin_tls: {flag} must be ")
    assert repr(value) in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--timeout", "10_0"), ("--timeout", "1e400"), ("--hsts-max-age", "9" * 5000), ("--min-days", "9" * 5000)],
)
def test_underscores_and_endless_digits_are_refused_too(flag: str, value: str) -> None:
    code, err = run("verify", "app.example.com", flag, value)
    assert code == 2
    assert err.startswith(f"origin_tls: {flag} must be ")


def test_ascii_numbers_are_still_read() -> None:
    # The twins: what a person types in ASCII means what it always meant
    assert parse_endpoint("127.0.0.1:8443", field_name="--origin", default_port=443).port == 8443
    assert parse_timeout(" 2.5 ") == 2.5
    assert parse_timeout("1e1") == 10.0
    assert parse_hsts_max_age("31536000") == 31_536_000
    assert parse_min_days("14") == 14
    assert ascii_int("65535", max_digits=5) == 65535
    assert ascii_int("065535", max_digits=5) is None
    assert ascii_decimal(".5") == 0.5
    for digits in UNICODE_NUMBERS:
        assert ascii_int(digits) is None
        assert ascii_decimal(digits) is None
        with pytest.raises(InvalidInput, match="hsts_max_age must be"):
            parse_hsts_max_age(digits)


# -- Finding 8: users' files -------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str, name: str = "fleet.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("!!int x", "line 1, column 1: int 'x' cannot be read"),
        ("!!float x", "float 'x' cannot be read"),
        ("!!bool x", "bool 'x' cannot be read (KeyError"),
        ("!!timestamp x", "timestamp 'x' cannot be read (AttributeError"),
        ("targets: [{hostname: 2001-02-30}]", "line 1, column 22: timestamp '2001-02-30' cannot be read"),
        ("a: 2001-02-03 10:60:00", "minute must be in 0..59"),
        ("a: !!int 0x_", "int '0x_' cannot be read"),
        ("a: !!int 0b2", "int '0b2' cannot be read"),
        ("a: !!int " + ARABIC_INDIC_12, "an integer is at most 64 ASCII characters"),
        ("a: 1" + ":0" * 100_000, "an integer is at most 64 ASCII characters"),  # base 60: quadratic to build
        ("a: " + "9" * 5000, "an integer is at most 64 ASCII characters"),  # int() refuses > 4,300 digits
    ],
)
def test_a_yaml_scalar_no_constructor_builds_is_the_files_invalid_input(tmp_path: Path, text: str, said: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput) as caught:
        load_inventory(path, defaults={})
    assert str(caught.value).startswith(f"--inventory {path} must be valid YAML, got ")
    assert said in str(caught.value)


@pytest.mark.parametrize(
    ("text", "said"),
    [("[" * 1024, "nested too deeply"), ("[" + "9" * 5000 + "]", "Exceeds the limit (4300 digits)")],
)
def test_a_json_inventory_python_cannot_read_is_the_files_invalid_input(tmp_path: Path, text: str, said: str) -> None:
    path = write(tmp_path, text, "fleet.json")
    with pytest.raises(InvalidInput, match=r"must be valid JSON") as caught:
        load_inventory(path, defaults={})
    assert said in str(caught.value)
    assert "set_int_max_str_digits" not in str(caught.value)  # Python's advice is not the user's


def test_the_same_values_well_formed_are_read(tmp_path: Path) -> None:
    # The twins: a date-like hostname quoted, a 4-digit number, nesting a few levels deep
    yaml_path = write(tmp_path, 'targets: [{hostname: "app.example.com", min_days: 14, hsts_max_age: 0x1E13380}]')
    (target,) = load_inventory(yaml_path, defaults={})
    assert target.baseline is not None
    assert (target.baseline.min_days_remaining, target.baseline.hsts.max_age) == (14, 31_536_000)
    json_path = write(tmp_path, '{"targets": [{"hostname": "app.example.com", "min_days": 9999}]}', "fleet.json")
    assert load_inventory(json_path, defaults={})[0].hostname == "app.example.com"


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> str:
    return Path(TestPki(tmp_path_factory.mktemp("pki")).ca.cert_path).read_text()


@pytest.mark.parametrize("key", ["edge_ca", "origin_ca", "client_cert"])
def test_a_pem_file_larger_than_the_bound_is_refused_unread(tmp_path: Path, ca_pem: str, key: str) -> None:
    # Given a 61-byte inventory naming a file of 32 MiB (a PEM followed by padding)
    big = tmp_path / "big.pem"
    with big.open("w") as handle:
        handle.write(ca_pem)
        handle.truncate(32 * 1024 * 1024)
    path = write(tmp_path, f"targets: [{{hostname: app.example.com, {key}: big.pem}}]")
    # Then it is refused naming the file and the bound, without reading 32 MiB
    with pytest.raises(InvalidInput) as caught:
        load_inventory(path, defaults={})
    assert f"targets[0] (app.example.com): {key} must be a file of at most 1 MiB, got '{big}'" in str(caught.value)


def test_a_pem_file_at_the_bound_is_read(tmp_path: Path, ca_pem: str, monkeypatch: pytest.MonkeyPatch) -> None:
    pem = tmp_path / "ca.pem"
    pem.write_text(ca_pem)
    path = write(tmp_path, "targets: [{hostname: app.example.com, edge_ca: ca.pem}]")
    monkeypatch.setattr(inventory, "MAX_PEM_FILE_BYTES", pem.stat().st_size)
    assert load_inventory(path, defaults={})[0].options is not None  # the twin: exactly at the bound, read
    monkeypatch.setattr(inventory, "MAX_PEM_FILE_BYTES", pem.stat().st_size - 1)
    with pytest.raises(InvalidInput, match="must be a file of at most"):
        load_inventory(path, defaults={})


def test_a_pem_file_on_the_command_line_is_bounded_too(tmp_path: Path, ca_pem: str) -> None:
    big = tmp_path / "big.pem"
    big.write_text(ca_pem + "#" * certs.MAX_CA_FILE_BYTES)
    code, err = run("verify", "app.example.com", "--edge-ca", str(big))
    assert code == 2
    assert err == f"origin_tls: --edge-ca must be a file of at most 1 MiB, got '{big}'\n"


def test_the_inventory_bound_is_one_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # read_bounded reads limit + 1 bytes at most, whatever the file holds
    path = write(tmp_path, "x" * 4096)
    monkeypatch.setattr(inventory_file, "MAX_INVENTORY_BYTES", 100)
    with pytest.raises(InvalidInput, match="a file of at most 100 bytes"):
        load_inventory(path, defaults={})


def test_a_ca_bundle_with_utf8_comments_is_read_as_its_certificates(tmp_path: Path, ca_pem: str) -> None:
    # Found by tests/fuzz/test_fuzz_files_pem.py: cryptography reads a bundle with non-ASCII text between its
    # blocks (certifi's comments name issuers in UTF-8), OpenSSL's cadata refuses it with a TypeError the edge
    # probe did not expect. The bundle is kept as its certificates, in order.
    from origin_tls.inventory import build_targets
    from origin_tls.tls_client import verifying_context

    bundle = tmp_path / "bundle.pem"
    comment = "# Issuer: CN=NetLock Arany (Class Gold) F\u0151tan\u00fas\u00edtv\u00e1ny\n"
    bundle.write_text(comment + ca_pem + "\ufeff" + ca_pem)
    (target,) = build_targets(["app.example.com"], defaults={"edge_ca": str(bundle)})
    assert target.options is not None
    kept = target.options.edge_ca_pem
    assert kept is not None
    assert kept.isascii()
    assert kept == ca_pem + ca_pem  # the twin: the same two certificates, nothing lost
    assert verifying_context.__wrapped__(kept) is not None


def test_an_argument_with_control_characters_is_quoted_on_one_line() -> None:
    # Found by tests/fuzz/test_fuzz_files_cli.py: argparse's "unrecognized arguments" quoted the argument as given,
    # so a newline split the one-line refusal and an escape sequence reached the terminal.
    code, err = run("verify", "app.example.com", "--min-tls", "1.2", "\n0\x1b[31m")
    assert code == 2
    assert err == "origin_tls: unrecognized arguments: \\n0\\x1b[31m\n"
    code, err = run("verify", "app.example.com", "--min-tls", "1.2", "b\u00fccher")  # the twin: printable as is
    assert err == "origin_tls: unrecognized arguments: b\u00fccher\n"


def test_a_key_file_openssl_cannot_load_with_its_certificate_names_the_file(tmp_path: Path) -> None:
    # Found by tests/fuzz/test_fuzz_files_pem.py: cryptography reads the key and skips a block after it that
    # OpenSSL refuses (a CERTIFICATE with RFC 1421 encryption headers); verify's planning then refused the pair as
    # "client_cert", naming neither flag nor file. It is refused where the files are read, naming the key file.
    pki = TestPki(tmp_path / "pki")
    client = pki.client()
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text(client.cert_pem)
    body = "".join(line + "\n" for line in client.cert_pem.splitlines()[1:-1])
    key.write_text(
        client.key_pem
        + "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n"
        + body
        + "-----END CERTIFICATE-----\n"
    )
    code, err = run("verify", "app.example.com", "--client-cert", str(cert), "--client-key", str(key))
    assert code == 2
    assert err.startswith("origin_tls: --client-key must be a private key OpenSSL loads together with the --client")
    assert err.endswith(f", got '{key}'\n")
    key.write_text(client.key_pem)  # the twin: the key alone loads
    from origin_tls.inventory import build_targets

    (target,) = build_targets(["app.example.com"], defaults={"client_cert": str(cert), "client_key": str(key)})
    assert target.options is not None
    assert target.options.client_key_pem == client.key_pem


def test_a_huge_number_is_described_not_quoted(tmp_path: Path) -> None:
    # Found by tests/fuzz/test_fuzz_files_inventory.py: JSON reads a number of 4,000 digits, and the refusal quoted
    # all of them.
    path = write(tmp_path, '{"targets": [{"hostname": "a.example.com", "min_days": %s}]}' % ("9" * 4000), "f.json")
    with pytest.raises(InvalidInput) as caught:
        load_inventory(path, defaults={})
    assert str(caught.value).endswith(
        "min_days must be a whole number of days from 0 to 36500, got a number of 4000 digits"
    )
    path = write(tmp_path, '{"targets": [{"hostname": "a.example.com", "min_days": 36501}]}', "g.json")
    with pytest.raises(InvalidInput, match=r"got 36501$"):  # the twin: a number of a few digits is quoted
        load_inventory(path, defaults={})


def test_ca_text_with_utf8_comments_given_directly_loads_into_openssl(ca_pem: str) -> None:
    # The same bundle handed to verify by the Python API or a Pulumi component, not read from a file by the CLI
    from origin_tls.tls_client import verifying_context

    bundle = "# F\u0151tan\u00fas\u00edtv\u00e1ny\n" + ca_pem
    assert verifying_context.__wrapped__(bundle).get_ca_certs() == verifying_context.__wrapped__(ca_pem).get_ca_certs()
