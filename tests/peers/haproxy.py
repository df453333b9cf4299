"""HAProxy as a test peer: one ``frontend`` per listener answering from HAProxy itself, no backend.

Started as ``haproxy -db -f CFG`` (``-db``: foreground, no daemon). ``bind ... ssl crt PEM`` takes the certificate
chain and the key in one file, written beside the configuration. Protocol range with ``ssl-min-ver`` /
``ssl-max-ver``; client certificates with ``verify required|optional ca-file CA`` (HAProxy configuration manual,
section 5.1, "bind" options).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from origin_tls.baseline import TlsVersion

from .listeners import LEGACY_CIPHERS, ORIGIN_BODY, PLAIN_BODY, ClientAuth, Listener, TlsListener
from .server_process import ServerProcess

__all__ = ["HaproxyServer"]

_VERSION = {TlsVersion.TLS_1_0: "TLSv1.0", TlsVersion.TLS_1_1: "TLSv1.1", TlsVersion.TLS_1_2: "TLSv1.2",
            TlsVersion.TLS_1_3: "TLSv1.3"}  # fmt: skip
_VERIFY = {ClientAuth.REQUIRE: "required", ClientAuth.OPTIONAL: "optional"}


def _quote(value: str) -> str:
    if any(ch in value for ch in '"\\\n\r$%'):
        raise ValueError(f"haproxy string may not contain quotes, backslashes, '$', '%' or newlines: {value!r}")
    return f'"{value}"'


def _body(text: str) -> str:
    return _quote(text.rstrip("\n"))


class HaproxyServer(ServerProcess):
    label = "HAProxy"
    binary_name = "haproxy"
    binary_env = "ORIGIN_TLS_HAPROXY"
    install_hint = "install the Debian package (scripts/bootstrap, or apt-get install haproxy)"

    def config_files(self) -> Mapping[str, str]:
        files = {"haproxy.cfg": self.render()}
        for listener in self.listeners.values():
            if isinstance(listener, TlsListener):
                files[self._pem_name(listener)] = listener.cert.chain_path.read_text("ascii") + listener.cert.key_pem
        return files

    @staticmethod
    def _pem_name(listener: TlsListener) -> str:
        return f"{listener.name}.crt.pem"

    def render(self) -> str:
        sections = [
            "global\n    maxconn 512\n    log stderr format short local0 info\n",
            "defaults\n"
            "    mode http\n"
            "    log global\n"
            "    option httplog\n"
            "    timeout connect 5s\n"
            "    timeout client 10s\n"
            "    timeout server 10s\n"
            "    timeout http-request 10s\n",
        ]
        sections += [self._frontend(listener) for listener in self.listeners.values()]
        return "\n".join(sections)

    def _frontend(self, listener: Listener) -> str:
        lines = [f"frontend {listener.name}"]
        if isinstance(listener, TlsListener):
            low, high = listener.versions
            bind = [
                f"bind {listener.address} ssl crt {self.directory / self._pem_name(listener)}",
                f"ssl-min-ver {_VERSION[low]} ssl-max-ver {_VERSION[high]}",
            ]
            if listener.legacy:
                bind.append(f"ciphers {LEGACY_CIPHERS}")
            if listener.client_auth is not ClientAuth.OFF:
                bind.append(f"verify {_VERIFY[listener.client_auth]} ca-file {listener.client_ca}")
            lines.append(" ".join(bind))
            verb = "set-header"
            for value in listener.sts:
                lines.append(f"http-after-response {verb} Strict-Transport-Security {_quote(value)}")
                verb = "add-header"
            body = ORIGIN_BODY if listener.status == 200 else f"status {listener.status}\n"
            lines.append(f"http-request return status {listener.status} content-type text/plain string {_body(body)}")
        else:
            lines.append(f"bind {listener.address}")
            if listener.redirect:
                lines.append(f"http-request redirect location https://{self.hostname}/ code 301")
            else:
                lines.append(f"http-request return status 200 content-type text/plain string {_body(PLAIN_BODY)}")
        return "".join(f"    {line}\n" if i else f"{line}\n" for i, line in enumerate(lines))

    def before_launch(self) -> None:
        for path in self.directory.glob("*.crt.pem"):
            os.chmod(path, 0o600)

    def command(self, binary: str) -> list[str]:
        return [binary, "-db", "-f", str(self.directory / "haproxy.cfg")]
