"""``--inventory FILE``: the file's shape, every key's rule, precedence, relative paths, and refusals that say where.

No network: these tests only resolve targets (``load_inventory``/``build_targets``); nothing is probed.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from origin_tls import inventory, inventory_file
from origin_tls.baseline import AopMode, Endpoint, TlsVersion
from origin_tls.errors import InvalidInput
from origin_tls.inventory import KEYS, build_targets, load_inventory
from tests.peers.pki import TestPki

ZONE_A = "023e105f4ecef8ad9ca31a8372d0c353"
ZONE_B = "123e105f4ecef8ad9ca31a8372d0c353"


@pytest.fixture(scope="module")
def pems(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    pki = TestPki(tmp_path_factory.mktemp("pki"))
    client = pki.client()
    return {
        "ca": Path(pki.ca.cert_path).read_text(),
        "cert": client.cert_pem,
        "key": client.key_pem,
    }


@pytest.fixture
def fleet_dir(tmp_path: Path, pems: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """An inventory directory with certs/ca.pem, pull/app.pem and pull/app.key, as DESIGN's example lays them out.
    It is the working directory, so messages name ``fleet.yaml`` as a user in it would."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "certs").mkdir()
    (tmp_path / "pull").mkdir()
    (tmp_path / "certs" / "ca.pem").write_text(pems["ca"])
    (tmp_path / "pull" / "app.pem").write_text(pems["cert"])
    (tmp_path / "pull" / "app.key").write_text(pems["key"])
    return tmp_path


def _write(directory: Path, document: Any, name: str = "fleet.yaml") -> Path:
    path = directory / name
    if isinstance(document, str):
        path.write_text(document)
    else:
        path.write_text(json.dumps(document))  # JSON is YAML too; the .json tests parse it as JSON
    return Path(name) if Path.cwd() == directory else path


def _refusal(path: Path, *, defaults: dict[str, Any] | None = None) -> str:
    with pytest.raises(InvalidInput) as caught:
        load_inventory(path, defaults=defaults or {})
    return str(caught.value)


EXAMPLE_YAML = """\
defaults:
  min_tls: "1.2"
  edge_ca: certs/ca.pem
targets:
  - hostname: app.example.com
    origin: 203.0.113.10:443
    zone_id: 023e105f4ecef8ad9ca31a8372d0c353
    client_cert: pull/app.pem
    client_key: pull/app.key
  - hostname: www.example.com
    origin: 203.0.113.11
    zone_id: 023e105f4ecef8ad9ca31a8372d0c353
    aop: false
    hsts_preload: true
    min_days: 14
"""


def test_designs_example_resolves_each_target_fully(fleet_dir: Path, pems: dict[str, str]) -> None:
    app, www = load_inventory(_write(fleet_dir, EXAMPLE_YAML), defaults={})
    assert (app.hostname, www.hostname) == ("app.example.com", "www.example.com")
    assert app.origin == Endpoint("203.0.113.10", 443)
    assert www.origin == Endpoint("203.0.113.11", 443)  # default port
    assert app.options is not None
    assert www.options is not None
    assert app.baseline is not None
    assert www.baseline is not None
    assert app.options.edge_ca_pem == pems["ca"]  # from defaults, relative to the file
    assert app.options.client_cert_pem == pems["cert"]
    assert app.options.client_key_pem == pems["key"]
    assert www.options.client_cert_pem is None
    assert app.options.zone_id == www.options.zone_id == ZONE_A
    assert app.baseline.aop is None
    assert www.baseline.aop is AopMode.OFF
    assert www.baseline.hsts.preload is True
    assert app.baseline.hsts.preload is False
    assert (app.baseline.min_days_remaining, www.baseline.min_days_remaining) == (30, 14)


def test_yaml_and_json_are_the_same_structure(fleet_dir: Path) -> None:
    import yaml

    from_yaml = load_inventory(_write(fleet_dir, EXAMPLE_YAML), defaults={})
    document = yaml.safe_load(EXAMPLE_YAML)
    from_json = load_inventory(_write(fleet_dir, json.dumps(document), "fleet.json"), defaults={})
    assert from_json == from_yaml


def test_json_is_parsed_as_json_not_as_yaml(fleet_dir: Path) -> None:
    # YAML would read this (a comment and an unquoted scalar); a .json file must be strict JSON.
    path = _write(fleet_dir, "# comment\n{targets: [{hostname: a.example.com}]}", "fleet.json")
    assert "must be valid JSON, got line 1, column 1" in _refusal(path)
    twin = _write(fleet_dir, "# comment\n{targets: [{hostname: a.example.com}]}", "fleet.yaml")
    assert [t.hostname for t in load_inventory(twin, defaults={})] == ["a.example.com"]


def test_precedence_target_then_file_defaults_then_command_line_then_built_in(fleet_dir: Path) -> None:
    document = {
        "defaults": {"min_tls": "1.1", "hsts_max_age": 600},
        "targets": [
            {"hostname": "own.example.com", "min_tls": "1.0", "hsts_max_age": 300, "min_days": 5},
            {"hostname": "defaults.example.com"},
        ],
    }
    own, from_defaults = load_inventory(
        _write(fleet_dir, document), defaults={"min_tls": "1.3", "min_days": 7, "hsts_max_age": "900"}
    )
    assert own.baseline is not None
    assert from_defaults.baseline is not None
    assert (own.baseline.min_tls, own.baseline.hsts.max_age, own.baseline.min_days_remaining) == (
        TlsVersion.TLS_1_0,
        300,
        5,
    )
    assert (from_defaults.baseline.min_tls, from_defaults.baseline.hsts.max_age) == (TlsVersion.TLS_1_1, 600)
    assert from_defaults.baseline.min_days_remaining == 7  # command line: neither the file nor the target says
    assert from_defaults.baseline.hsts.include_subdomains is True  # built-in: nobody says
    (plain,) = build_targets(["plain.example.com"], defaults={})
    assert plain.baseline is not None
    assert plain.baseline.min_tls is TlsVersion.TLS_1_2


def test_hostname_arguments_come_after_the_inventorys_targets_and_take_its_defaults(fleet_dir: Path) -> None:
    document = {"defaults": {"min_tls": "1.3"}, "targets": [{"hostname": "a.example.com"}]}
    targets = load_inventory(_write(fleet_dir, document), defaults={}, hostnames=["b.example.com"])
    assert [t.hostname for t in targets] == ["a.example.com", "b.example.com"]
    assert targets[1].baseline is not None
    assert targets[1].baseline.min_tls is TlsVersion.TLS_1_3


def test_relative_paths_are_relative_to_the_inventory_not_the_working_directory(
    fleet_dir: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, pems: dict[str, str]
) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    monkeypatch.chdir(elsewhere)
    (target,) = load_inventory(
        _write(fleet_dir, {"targets": [{"hostname": "a.example.com", "edge_ca": "certs/ca.pem"}]}), defaults={}
    )
    assert target.options is not None
    assert target.options.edge_ca_pem == pems["ca"]
    # The twin: the same relative path on the command line is relative to the working directory, where it is not.
    message = _refusal(
        _write(fleet_dir, {"targets": [{"hostname": "a.example.com"}]}), defaults={"edge_ca": "certs/ca.pem"}
    )
    assert message == "--edge-ca must be a readable file, got 'certs/ca.pem'"
    shutil.copytree(fleet_dir / "certs", elsewhere / "certs")
    (again,) = load_inventory(fleet_dir / "fleet.yaml", defaults={"edge_ca": "certs/ca.pem"})
    assert again.options is not None
    assert again.options.edge_ca_pem == pems["ca"]


def test_targets_with_the_same_values_share_one_option_set(fleet_dir: Path) -> None:
    document = {
        "defaults": {"edge_ca": "certs/ca.pem", "client_cert": "pull/app.pem", "client_key": "pull/app.key"},
        "targets": [{"hostname": f"h{i}.example.com", "zone_id": ZONE_A if i < 3 else ZONE_B} for i in range(5)],
    }
    targets = load_inventory(_write(fleet_dir, document), defaults={})
    assert len({id(t.options) for t in targets[:3]}) == 1
    assert len({id(t.options) for t in targets}) == 2  # the twin: another zone is another option set
    assert len({id(t.baseline) for t in targets}) == 1


@pytest.mark.parametrize("key", ["token", "api_token", "cloudflare_api_token", "CF_API_TOKEN", "secret", "password"])
@pytest.mark.parametrize("where", ["defaults", "target"])
def test_a_token_like_key_is_refused_without_showing_its_value(fleet_dir: Path, key: str, where: str) -> None:
    target: dict[str, Any] = {"hostname": "a.example.com"}
    document: dict[str, Any] = {"targets": [target]}
    if where == "target":
        target[key] = "s3cr3t-value"
    else:
        document["defaults"] = {key: "s3cr3t-value"}
    message = _refusal(_write(fleet_dir, document))
    assert "s3cr3t-value" not in message
    assert "CLOUDFLARE_API_TOKEN" in message
    prefix = "fleet.yaml: targets[0] (a.example.com)" if where == "target" else "fleet.yaml: defaults"
    assert f"{prefix}: {key} must be absent" in message


def test_client_key_is_a_path_not_a_credential_key(fleet_dir: Path) -> None:
    # The twin of the token refusal: the word "key" alone is a path to a PEM file, allowed.
    document = {"targets": [{"hostname": "a.example.com", "client_cert": "pull/app.pem", "client_key": "pull/app.key"}]}
    (target,) = load_inventory(_write(fleet_dir, document), defaults={})
    assert target.options is not None
    assert target.options.client_key_pem is not None


def test_a_client_key_of_another_certificate_is_refused_naming_the_target(
    fleet_dir: Path, pems: dict[str, str]
) -> None:
    # The twin of the test above: the same layout, but the key belongs to another certificate.
    other = TestPki(fleet_dir / "other-pki").client()
    (fleet_dir / "pull" / "other.key").write_text(other.key_pem)
    document = {
        "targets": [{"hostname": "a.example.com", "client_cert": "pull/app.pem", "client_key": "pull/other.key"}]
    }
    message = _refusal(_write(fleet_dir, document))
    assert "fleet.yaml: targets[0] (a.example.com): client_key" in message
    assert "pull/other.key" in message
    assert other.key_pem.splitlines()[1] not in message


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("hostname", "not a host", "must be a DNS hostname"),
        ("edge", "127.0.0.1:0", "must be HOST or HOST:PORT with a port from 1 to 65535"),
        ("edge_http", "", "must be HOST or HOST:PORT"),
        ("origin", 443, "must be HOST or HOST:PORT"),
        ("origin_ca", "missing.pem", "must be a readable file, got '"),
        ("origin_cert", "pull/app.key", "must be a PEM file holding at least one certificate"),
        ("edge_ca", ["certs/ca.pem"], "must be a single value (a string, a number or true/false), got a list"),
        ("client_key", "pull/app.pem", "must be a PEM private key file"),
        ("zone_id", "example.com", "must be a Cloudflare zone id (32 hexadecimal characters)"),
        ("api_url", "ftp://x", "must be an https:// URL"),
        ("api_url", "http://api.example.com", "must be an https:// URL, or http:// only with a loopback host"),
        ("min_tls", 1.2, 'must be one of "1.0", "1.1", "1.2", "1.3", quoted (a string), got 1.2'),
        ("min_tls", "0.9", "must be one of 1.0, 1.1, 1.2, 1.3, got '0.9'"),
        ("hsts_max_age", "soon", "must be a whole number of seconds"),
        ("hsts_include_subdomains", "false", "must be true or false (a YAML/JSON boolean, unquoted), got 'false'"),
        ("hsts_preload", 1, "must be true or false"),
        ("aop", "yes", "must be one of off, global, zone, hostname, got 'yes'"),
        ("aop", 0, "must be true or false"),
        ("min_days", -1, "must be a whole number of days from 0 to 36500, got -1"),
        ("min_days", True, "must be a whole number of days"),
        ("min_days", 1.5, "must be a whole number of days"),
        ("require_pq", "yes", "must be true or false (a YAML/JSON boolean, unquoted), got 'yes'"),
        ("require_pq", 1, "must be true or false"),
    ],
)
def test_each_bad_value_names_file_target_and_key(fleet_dir: Path, key: str, value: object, allowed: str) -> None:
    target: dict[str, Any] = {"hostname": "a.example.com", "origin": "127.0.0.1:8443", key: value}
    if key == "client_key":
        target["client_cert"] = "pull/app.pem"
    document = {"targets": [{"hostname": "first.example.com"}, target]}
    message = _refusal(_write(fleet_dir, document))
    shown_host = "not a host" if key == "hostname" else "a.example.com"
    assert message.startswith(f"fleet.yaml: targets[1] ({shown_host}): {key} {allowed}"), message


def test_a_bad_default_names_the_defaults_and_a_bad_flag_names_the_flag(fleet_dir: Path) -> None:
    path = _write(fleet_dir, {"defaults": {"min_tls": "0.9"}, "targets": [{"hostname": "a.example.com"}]})
    assert _refusal(path).startswith("fleet.yaml: defaults: min_tls must be one of 1.0")
    good = _write(fleet_dir, {"targets": [{"hostname": "a.example.com"}]}, "good.yaml")
    assert _refusal(good, defaults={"min_tls": "0.9"}) == "--min-tls must be one of 1.0, 1.1, 1.2, 1.3, got '0.9'"
    assert load_inventory(good, defaults={"min_tls": "1.3"})  # the twin: a good flag passes


def test_a_value_overridden_by_the_target_is_still_checked(fleet_dir: Path) -> None:
    # A bad default is a bad file, even when every target sets its own value.
    path = _write(
        fleet_dir, {"defaults": {"zone_id": "nope"}, "targets": [{"hostname": "a.example.com", "zone_id": ZONE_A}]}
    )
    assert "fleet.yaml: defaults: zone_id must be a Cloudflare zone id" in _refusal(path)


def test_unknown_keys_are_refused_with_the_allowed_ones(fleet_dir: Path) -> None:
    message = _refusal(_write(fleet_dir, {"targets": [{"hostname": "a.example.com", "orign": "x"}]}))
    assert message.startswith("fleet.yaml: targets[0] (a.example.com): key must be one of hostname, edge, edge_http")
    assert message.endswith("min_days, require_pq, got 'orign'")
    message = _refusal(
        _write(fleet_dir, {"defaults": {"hostname": "a.example.com"}, "targets": [{"hostname": "b.example.com"}]})
    )
    assert message.startswith("fleet.yaml: defaults: key must be one of edge,")  # hostname is per target only
    assert "got 'targts'" in _refusal(_write(fleet_dir, {"targts": []}))
    assert set(KEYS) == set(inventory._FLAGS)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("targets: [{hostname: a.example.com}\n", "fleet.yaml must be valid YAML, got line 2, column 1"),
        ("- hostname: a.example.com\n", "must be a mapping with 'targets' (and optional 'defaults'), got a list"),
        ("defaults: {}\n", "fleet.yaml: targets must be a non-empty list of targets, got None"),
        ("targets: []\n", "fleet.yaml: targets must be a non-empty list of targets, got []"),
        ("targets: [a.example.com]\n", "fleet.yaml: targets[0] (no hostname) must be a mapping of per-target keys"),
        ("targets: [{origin: 127.0.0.1}]\n", "targets[0] (no hostname): hostname must be given"),
        ("defaults: [1]\ntargets: [{hostname: a.example.com}]\n", "fleet.yaml: defaults must be a mapping"),
        ("targets:\n- hostname: a.example.com\n  origin: a:1\n  origin: b:2\n", "got 'origin' twice (line 4)"),
        ("targets: [{hostname: a.example.com, min_days: !!python/object:os.system [x]}]\n", "must be valid YAML"),
    ],
)
def test_a_malformed_file_is_refused_naming_it(fleet_dir: Path, text: str, expected: str) -> None:
    assert expected in _refusal(_write(fleet_dir, text))


def test_duplicate_keys_in_json_are_refused(fleet_dir: Path) -> None:
    path = _write(fleet_dir, '{"targets": [{"hostname": "a.example.com", "hostname": "b.example.com"}]}', "f.json")
    assert "got 'hostname' twice" in _refusal(path)


def test_unreadable_oversized_and_binary_files_are_refused(fleet_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert _refusal(fleet_dir / "absent.yaml") == (
        f"--inventory must be a readable YAML or JSON file, got '{fleet_dir / 'absent.yaml'}'"
    )
    assert "a readable YAML or JSON file" in _refusal(fleet_dir)  # a directory
    binary = fleet_dir / "binary.yaml"
    binary.write_bytes(b"targets: [\xff]")
    assert "must be a UTF-8 text file" in _refusal(binary)
    path = _write(fleet_dir, {"targets": [{"hostname": "a.example.com"}]})
    monkeypatch.setattr(inventory_file, "MAX_INVENTORY_BYTES", path.stat().st_size - 1)
    assert "must be a file of at most" in _refusal(path)
    monkeypatch.setattr(inventory_file, "MAX_INVENTORY_BYTES", path.stat().st_size)
    assert load_inventory(path, defaults={})  # the twin: at the bound exactly, read


def test_an_alias_bomb_is_refused_by_type_without_being_expanded(fleet_dir: Path) -> None:
    # The last item is 2**40 leaves if anything walked or printed it: PyYAML shares aliased nodes, and a list is
    # refused by its type, unread.
    levels = ["&a0 [x, x]"] + [f"&a{i} [*a{i - 1}, *a{i - 1}]" for i in range(1, 41)]
    text = f"targets:\n  - hostname: a.example.com\n    origin: [{', '.join(levels)}]\n"
    assert _refusal(_write(fleet_dir, text)) == (
        "fleet.yaml: targets[0] (a.example.com): origin must be a single value (a string, a number or true/false), "
        "got a list"
    )
    # The twin: an anchor on a scalar is plain YAML and works.
    text = "defaults:\n  origin: &o 127.0.0.1:8443\ntargets:\n  - {hostname: a.example.com, edge: *o}\n"
    (target,) = load_inventory(_write(fleet_dir, text), defaults={})
    assert target.edge == target.origin == Endpoint("127.0.0.1", 8443)


def test_preload_without_include_subdomains_names_where_preload_was_asked(fleet_dir: Path) -> None:
    document = {
        "defaults": {"hsts_preload": True},
        "targets": [{"hostname": "a.example.com", "hsts_include_subdomains": False}],
    }
    message = _refusal(_write(fleet_dir, document))
    assert message.startswith("fleet.yaml: defaults: hsts_preload must be false unless include_subdomains is true")
    document["targets"] = [{"hostname": "a.example.com"}]
    assert load_inventory(_write(fleet_dir, document), defaults={})  # the twin: with includeSubDomains, allowed


def test_a_client_certificate_without_its_key_names_the_target(fleet_dir: Path) -> None:
    document = {"targets": [{"hostname": "a.example.com", "client_cert": "pull/app.pem"}]}
    assert _refusal(_write(fleet_dir, document)) == (
        "fleet.yaml: targets[0] (a.example.com): client_key must be given together with client_cert/client_key, "
        "got None"
    )


def test_a_huge_value_is_quoted_by_its_start_only(fleet_dir: Path) -> None:
    message = _refusal(_write(fleet_dir, {"targets": [{"hostname": "a.example.com", "zone_id": "z" * 100_000}]}))
    assert len(message) < 600
    assert message.endswith("...")


def test_a_hostname_or_key_with_escape_sequences_is_shown_harmless(fleet_dir: Path) -> None:
    document = {"targets": [{"hostname": "\x1b[2Jevil.example.com", "\x1b]0;token": "x"}]}
    message = _refusal(_write(fleet_dir, document))
    assert "\x1b" not in message
    assert message.startswith("fleet.yaml: targets[0] (?[2Jevil.example.com): ?]0;token must be absent")


def test_a_whole_float_is_a_whole_number_of_days(fleet_dir: Path) -> None:
    (target,) = load_inventory(
        _write(fleet_dir, {"targets": [{"hostname": "a.example.com", "min_days": 14.0}]}), defaults={}
    )
    assert target.baseline is not None
    assert target.baseline.min_days_remaining == 14


def test_aop_takes_a_boolean_or_the_level_the_zone_must_have(fleet_dir: Path) -> None:
    targets = [{"hostname": f"h{i}.example.com", "aop": value} for i, value in enumerate([True, False, "zone", "off"])]
    levels = [
        t.baseline.aop for t in load_inventory(_write(fleet_dir, {"targets": targets}), defaults={}) if t.baseline
    ]
    assert levels == [None, AopMode.OFF, AopMode.ZONE, AopMode.OFF]


def test_require_pq_is_a_boolean_the_target_the_defaults_or_the_flag_sets(fleet_dir: Path) -> None:
    # Given the flag off, the file's defaults on, one target turning it off again
    document = {
        "defaults": {"require_pq": True},
        "targets": [{"hostname": "a.example.com"}, {"hostname": "b.example.com", "require_pq": False}],
    }
    targets = load_inventory(_write(fleet_dir, document), defaults={"require_pq": False})
    assert [t.baseline.require_pq for t in targets if t.baseline] == [True, False]
    # The twin: without the defaults' key the flag's value stands.
    plain = load_inventory(
        _write(fleet_dir, {"targets": [{"hostname": "a.example.com"}]}), defaults={"require_pq": True}
    )
    assert [t.baseline.require_pq for t in plain if t.baseline] == [True]


def test_null_means_not_given_so_the_next_layer_applies(fleet_dir: Path) -> None:
    document = {
        "defaults": {"min_tls": "1.3"},
        "targets": [{"hostname": "a.example.com", "min_tls": None, "origin": None}],
    }
    (target,) = load_inventory(_write(fleet_dir, document), defaults={})
    assert target.baseline is not None
    assert target.baseline.min_tls is TlsVersion.TLS_1_3
    assert target.origin is None
    # The twin: a null hostname is no hostname, and an unknown key is refused even when null.
    assert "hostname must be given" in _refusal(_write(fleet_dir, {"targets": [{"hostname": None}]}))
    assert "got 'orign'" in _refusal(_write(fleet_dir, {"targets": [{"hostname": "a.example.com", "orign": None}]}))
