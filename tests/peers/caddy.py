"""Caddy as a test peer: one HTTP ``server`` per listener in a JSON configuration, one process.

Started as ``caddy run --config caddy.json`` with the admin endpoint off, automatic HTTPS off, storage and
``XDG_*`` directories in the temp dir (reference/servers.md). Each TLS server's connection policy picks its own
certificate by tag and sets its protocol range and client authentication (Caddy JSON docs,
``apps/http/servers/tls_connection_policies``). Go's TLS stack offers nothing below TLS 1.2 to a server here, so
a legacy listener is :class:`~tests.peers.listeners.Unsupported`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from origin_tls.baseline import TlsVersion

from .listeners import ORIGIN_BODY, PLAIN_BODY, ClientAuth, Listener, PlainListener, TlsListener, Unsupported
from .server_process import ServerProcess

__all__ = ["CaddyServer"]

_VERSION = {TlsVersion.TLS_1_2: "tls1.2", TlsVersion.TLS_1_3: "tls1.3"}
_MODE = {ClientAuth.REQUIRE: "require_and_verify", ClientAuth.OPTIONAL: "verify_if_given"}
_READY = "serving initial configuration"


class CaddyServer(ServerProcess):
    label = "Caddy"
    binary_name = "caddy"
    binary_env = "ORIGIN_TLS_CADDY"
    install_hint = "install the Debian package (scripts/bootstrap, or apt-get install caddy)"

    @classmethod
    def check_supported(cls, listener: Listener) -> None:
        super().check_supported(listener)
        if isinstance(listener, TlsListener) and listener.legacy:
            raise Unsupported("Caddy (Go crypto/tls) cannot accept TLS 1.0/1.1 here")

    def config_files(self) -> Mapping[str, str]:
        return {"caddy.json": json.dumps(self.render(), indent=1)}

    def render(self) -> dict[str, Any]:
        servers = {listener.name: self._server(listener) for listener in self.listeners.values()}
        # One entry per certificate carrying every tag that selects it: Caddy's cache keeps a certificate once
        # (by hash), so a second entry for the same file would lose its tag and leave a listener without one.
        by_file: dict[str, dict[str, Any]] = {}
        for item in self.listeners.values():
            if isinstance(item, TlsListener):
                entry = by_file.setdefault(
                    str(item.cert.chain_path),
                    {"certificate": str(item.cert.chain_path), "key": str(item.cert.key_path), "tags": []},
                )
                entry["tags"].append(item.name)
        certificates = list(by_file.values())
        return {
            "admin": {"disabled": True},
            "storage": {"module": "file_system", "root": str(self.directory / "storage")},
            "logging": {"logs": {"default": {"writer": {"output": "stderr"}, "encoder": {"format": "json"}}}},
            "apps": {
                "http": {"servers": servers},
                "tls": {"certificates": {"load_files": certificates}, "disable_ocsp_stapling": True},
            },
        }

    def _server(self, listener: Listener) -> dict[str, Any]:
        server: dict[str, Any] = {
            "listen": [listener.address],
            "automatic_https": {"disable": True},
            "protocols": ["h1"],
        }
        if isinstance(listener, PlainListener):
            if listener.redirect:
                handler = _respond(301, "", {"Location": [f"https://{self.hostname}/"]})
            else:
                handler = _respond(200, PLAIN_BODY, {})
            server["routes"] = [{"handle": [handler]}]
            return server
        low, high = listener.versions
        policy: dict[str, Any] = {
            "certificate_selection": {"any_tag": [listener.name]},
            "protocol_min": _VERSION[low],
            "protocol_max": _VERSION[high],
        }
        if listener.client_auth is not ClientAuth.OFF:
            policy["client_authentication"] = {
                "mode": _MODE[listener.client_auth],
                "trusted_ca_certs_pem_files": [str(listener.client_ca)],
            }
        server["tls_connection_policies"] = [policy]
        handlers: list[dict[str, Any]] = []
        if listener.sts:
            sts = {"Strict-Transport-Security": [_literal(value) for value in listener.sts]}
            handlers.append({"handler": "headers", "response": {"add": sts}})
        body = ORIGIN_BODY if listener.status == 200 else f"status {listener.status}\n"
        handlers.append(_respond(listener.status, body, {}))
        server["routes"] = [{"handle": handlers}]
        return server

    def command(self, binary: str) -> list[str]:
        return [binary, "run", "--config", str(self.directory / "caddy.json")]

    def environment(self) -> dict[str, str]:
        home = self.directory / "home"
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "XDG_DATA_HOME": str(home / "data"),
            "XDG_CONFIG_HOME": str(home / "config"),
        }

    def started(self) -> bool:
        # Logged once every server of the configuration is listening (caddy.go, run()).
        try:
            return _READY in self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False


def _literal(value: str) -> str:
    """Caddy expands ``{placeholders}`` in header values; JSON takes care of every other character."""
    if "{" in value or "}" in value:
        raise ValueError(f"caddy header value may not contain braces (placeholders): {value!r}")
    return value


def _respond(status: int, body: str, headers: dict[str, list[str]]) -> dict[str, Any]:
    response: dict[str, Any] = {"handler": "static_response", "status_code": status, "body": body}
    if headers:
        response["headers"] = headers
    return response
