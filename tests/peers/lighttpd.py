"""lighttpd as a test peer: one ``$SERVER["socket"]`` block per listener, one process.

Started as ``lighttpd -D -f CONF`` (``-D``: foreground). TLS comes from ``mod_openssl`` (Debian package
``lighttpd-mod-openssl``); the protocol range and, for legacy versions, the cipher string go through
``ssl.openssl.ssl-conf-cmd``; client certificates through ``ssl.verifyclient.*`` (lighttpd docs, Docs_SSL).
lighttpd always binds its global ``server.bind``/``server.port``: that is the first listener's address, whose
socket block then refines it like every other.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from origin_tls.baseline import TlsVersion

from .listeners import LEGACY_CIPHERS, ORIGIN_BODY, PLAIN_BODY, ClientAuth, Listener, TlsListener, Unsupported
from .server_process import ServerProcess

__all__ = ["LighttpdServer"]

_VERSION = {TlsVersion.TLS_1_0: "TLSv1", TlsVersion.TLS_1_1: "TLSv1.1", TlsVersion.TLS_1_2: "TLSv1.2",
            TlsVersion.TLS_1_3: "TLSv1.3"}  # fmt: skip


#: mod_openssl comes in its own Debian package, lighttpd-mod-openssl.
_MOD_OPENSSL = Path("/usr/lib/lighttpd/mod_openssl.so")


def _quote(value: str) -> str:
    if any(ch in value for ch in '"\\\n\r'):
        raise ValueError(f"lighttpd string may not contain quotes, backslashes or newlines: {value!r}")
    return f'"{value}"'


def _pairs(items: Mapping[str, str]) -> str:
    return "(" + ", ".join(f"{_quote(key)} => {_quote(value)}" for key, value in items.items()) + ")"


class LighttpdServer(ServerProcess):
    label = "lighttpd"
    binary_name = "lighttpd"
    binary_env = "ORIGIN_TLS_LIGHTTPD"
    install_hint = "install the Debian packages (scripts/bootstrap, or apt-get install lighttpd lighttpd-mod-openssl)"

    @classmethod
    def unavailable(cls) -> str | None:
        if not _MOD_OPENSSL.exists() and cls.find() is not None:
            return f"lighttpd has no TLS module ({_MOD_OPENSSL}): {cls.install_hint}"
        return super().unavailable()

    @classmethod
    def check_supported(cls, listener: Listener) -> None:
        super().check_supported(listener)
        if isinstance(listener, TlsListener) and len(listener.sts) > 1:
            raise Unsupported("lighttpd's setenv.add-response-header takes each header name once")

    @property
    def docroot(self) -> Path:
        return self.directory / "www"

    def config_files(self) -> Mapping[str, str]:
        return {"lighttpd.conf": self.render()}

    def render(self) -> str:
        listeners = list(self.listeners.values())
        first = listeners[0]
        lines = [
            'server.modules += ("mod_openssl", "mod_setenv", "mod_redirect")',
            f"server.document-root = {_quote(str(self.docroot))}",
            'index-file.names = ("index.txt")',
            f"server.errorlog = {_quote(str(self.directory / 'error.log'))}",
            f"server.pid-file = {_quote(str(self.directory / 'lighttpd.pid'))}",
            f"server.bind = {_quote(first.host)}",
            f"server.port = {first.port}",
            'server.tag = "lighttpd"',
            'mimetype.assign = (".txt" => "text/plain")',
        ]
        for listener in listeners:
            lines += [f'$SERVER["socket"] == {_quote(listener.address)} {{']
            lines += [f"    {line}" for line in self._socket(listener)]
            lines.append("}")
        return "\n".join(lines) + "\n"

    def _socket(self, listener: Listener) -> list[str]:
        if not isinstance(listener, TlsListener):
            if listener.redirect:
                # ${url.authority} is the request's Host: https://HOST/ for Host: HOST.
                return ['url.redirect = ("" => "https://${url.authority}${url.path}${qsa}")', "url.redirect-code = 301"]
            return [f"server.document-root = {_quote(str(self.docroot / 'plain'))}"]
        low, high = listener.versions
        conf = {"MinProtocol": _VERSION[low], "MaxProtocol": _VERSION[high]}
        if listener.legacy:
            conf["CipherString"] = LEGACY_CIPHERS
        lines = [
            'ssl.engine = "enable"',
            f"ssl.pemfile = {_quote(str(listener.cert.chain_path))}",
            f"ssl.privkey = {_quote(str(listener.cert.key_path))}",
            f"ssl.openssl.ssl-conf-cmd = {_pairs(conf)}",
        ]
        if listener.client_auth is not ClientAuth.OFF:
            enforce = "enable" if listener.client_auth is ClientAuth.REQUIRE else "disable"
            lines += [
                'ssl.verifyclient.activate = "enable"',
                f'ssl.verifyclient.enforce = "{enforce}"',
                "ssl.verifyclient.depth = 2",
                f"ssl.ca-file = {_quote(str(listener.client_ca))}",
            ]
        if listener.sts:
            lines.append(f"setenv.add-response-header = {_pairs({'Strict-Transport-Security': listener.sts[0]})}")
        if listener.status != 200:
            # Without a backend, mod_redirect is the one way to a fixed status; it takes any code (and adds a
            # Location header, which a status check ignores).
            lines += [f'url.redirect = ("" => "https://{self.hostname}/")', f"url.redirect-code = {listener.status}"]
        return lines

    def before_launch(self) -> None:
        (self.docroot / "plain").mkdir(parents=True, exist_ok=True)
        (self.docroot / "index.txt").write_text(ORIGIN_BODY, encoding="utf-8")
        (self.docroot / "plain" / "index.txt").write_text(PLAIN_BODY, encoding="utf-8")
        (self.directory / "lighttpd.pid").unlink(missing_ok=True)

    def command(self, binary: str) -> list[str]:
        return [binary, "-D", "-f", str(self.directory / "lighttpd.conf")]

    def started(self) -> bool:
        # Written once lighttpd has set up (the sockets themselves are proven by the base class, via procfs).
        return self.pid_file_names_us(self.directory / "lighttpd.pid")
