"""The origin server configuration origin-tls hands its users: what it says, what it refuses, that nginx takes it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from origin_tls.baseline import TlsVersion
from origin_tls.errors import InvalidInput
from origin_tls.origin_config import build_nginx_config, build_nginx_main_config, build_ssl_protocols
from origin_tls.sandbox.origin import find_nginx
from tests.peers.pki import TestPki

HOST = "app.example.com"


def _config(**overrides: object) -> str:
    args: dict[str, object] = {
        "hostnames": [HOST],
        "certificate_path": "/etc/ssl/origin/app.pem",
        "key_path": "/etc/ssl/origin/app.key",
        "client_ca_path": "/etc/ssl/origin/pull-ca.pem",
        "min_tls": TlsVersion.TLS_1_2,
    }
    args.update(overrides)
    return build_nginx_config(**args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("floor", "protocols"),
    [
        (TlsVersion.TLS_1_0, "TLSv1 TLSv1.1 TLSv1.2 TLSv1.3"),
        (TlsVersion.TLS_1_1, "TLSv1.1 TLSv1.2 TLSv1.3"),
        (TlsVersion.TLS_1_2, "TLSv1.2 TLSv1.3"),
        (TlsVersion.TLS_1_3, "TLSv1.3"),
    ],
)
def test_ssl_protocols_follow_the_floor(floor: TlsVersion, protocols: str) -> None:
    assert build_ssl_protocols(floor) == protocols
    assert f"ssl_protocols {protocols};" in _config(min_tls=floor)


def test_server_block_installs_certificate_and_enforces_aop() -> None:
    text = _config()
    assert text.startswith("server {\n")
    assert text.endswith("}\n")
    assert f"server_name {HOST};" in text
    assert "listen 443 ssl;" in text
    assert "ssl_certificate /etc/ssl/origin/app.pem;" in text
    assert "ssl_certificate_key /etc/ssl/origin/app.key;" in text
    assert "ssl_client_certificate /etc/ssl/origin/pull-ca.pem;" in text
    assert "ssl_verify_client on;" in text
    assert "optional" not in text
    assert "SECLEVEL" not in text  # modern floor: no legacy ciphers


def test_without_pull_ca_no_client_verification() -> None:
    text = _config(client_ca_path=None)
    assert "ssl_verify_client" not in text
    assert "ssl_client_certificate" not in text


def test_listen_address_upstream_and_extra() -> None:
    text = _config(listen_address="127.0.0.1", listen_port=8443, upstream="http://127.0.0.1:8080", extra=["gzip on;"])
    assert "listen 127.0.0.1:8443 ssl;" in text
    assert "proxy_pass http://127.0.0.1:8080;" in text
    assert "return 200" not in text
    assert "    gzip on;\n" in text
    assert "listen [::1]:443 ssl;" in _config(listen_address="::1")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("certificate_path", "relative/app.pem"),
        ("certificate_path", "/etc/ssl/app.pem; include /etc/passwd"),
        ("key_path", "/etc/ssl/app key.pem"),
        ("client_ca_path", "/etc/ssl/$ca.pem"),
        ("listen_port", 0),
        ("listen_port", 65536),
        ("hostnames", ["not a host"]),
        ("hostnames", []),
        ("upstream", "ftp://x"),
        ("upstream", "http://x; return 200"),
        ("extra", ["gzip on"]),
        ("min_tls", "1.2"),
    ],
)
def test_values_nginx_would_misread_are_refused(field: str, value: object) -> None:
    with pytest.raises(InvalidInput):
        _config(**{field: value})


def test_main_config_wraps_servers_with_private_paths() -> None:
    text = build_nginx_main_config([_config()], prefix="/var/lib/origin-tls", user="root")
    assert text.startswith("user root;\n")
    assert "pid /var/lib/origin-tls/nginx.pid;" in text
    assert "        ssl_verify_client on;" in text  # the server block is indented inside http {}
    with pytest.raises(InvalidInput):
        build_nginx_main_config([], prefix="relative")


def _nginx_test(tmp_path: Path, server: str) -> subprocess.CompletedProcess[str]:
    binary = find_nginx()
    if binary is None:
        pytest.skip("nginx not installed")
    (tmp_path / "temp").mkdir(exist_ok=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(build_nginx_main_config([server], prefix=tmp_path, user="root"), encoding="utf-8")
    return subprocess.run(
        [binary, "-t", "-p", f"{tmp_path}/", "-c", str(conf), "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.nginx
@pytest.mark.parametrize("floor", list(TlsVersion))
def test_nginx_accepts_the_generated_configuration(tmp_path: Path, pki: TestPki, floor: TlsVersion) -> None:
    leaf = pki.origin(HOST)
    server = build_nginx_config(
        hostnames=[HOST, f"*.{HOST}"],
        certificate_path=leaf.chain_path,
        key_path=leaf.key_path,
        client_ca_path=pki.client_ca.cert_path,
        min_tls=floor,
        listen_address="127.0.0.1",
        listen_port=8443,
    )
    result = _nginx_test(tmp_path, server)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.mark.nginx
def test_nginx_refuses_it_when_the_certificate_is_missing(tmp_path: Path, pki: TestPki) -> None:
    server = build_nginx_config(
        hostnames=[HOST],
        certificate_path=tmp_path / "missing.pem",
        key_path=tmp_path / "missing.key",
        client_ca_path=pki.client_ca.cert_path,
        listen_address="127.0.0.1",
        listen_port=8443,
    )
    result = _nginx_test(tmp_path, server)
    assert result.returncode != 0
    assert "missing.pem" in result.stderr
