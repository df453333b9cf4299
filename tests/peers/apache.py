"""Apache httpd (Debian's ``apache2``) as a test peer: one ``<VirtualHost>`` per listener, one process.

Started as ``apache2 -f CONF -d ROOT -DFOREGROUND`` with its own ServerRoot, PidFile, runtime dir and mutexes in
the temp dir (reference/servers.md). ``SSLVerifyClient`` is set at virtual-host level, where mod_ssl asks for the
certificate in the handshake; per-directory it would renegotiate (TLS 1.2) or use post-handshake auth (TLS 1.3).
"""

from __future__ import annotations

import os
import pwd
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from origin_tls.baseline import TlsVersion

from .listeners import LEGACY_CIPHERS, ORIGIN_BODY, PLAIN_BODY, ClientAuth, Listener, TlsListener
from .server_process import ServerProcess

__all__ = ["ApacheServer"]

_MODULES = Path("/usr/lib/apache2/modules")
_LOAD = ("mpm_event", "authz_core", "alias", "asis", "headers", "ssl", "socache_shmcb")
_PROTOCOL = {TlsVersion.TLS_1_0: "TLSv1", TlsVersion.TLS_1_1: "TLSv1.1", TlsVersion.TLS_1_2: "TLSv1.2",
             TlsVersion.TLS_1_3: "TLSv1.3"}  # fmt: skip
_ORDER = tuple(_PROTOCOL)
_VERIFY = {ClientAuth.REQUIRE: "require", ClientAuth.OPTIONAL: "optional"}
#: Apache will not serve as root; as root it switches its children to this user, who must read the docroot.
_UNPRIVILEGED = "www-data"


def _quote(value: str) -> str:
    if any(ch in value for ch in '"\\\n\r'):
        raise ValueError(f"apache string may not contain quotes, backslashes or newlines: {value!r}")
    return f'"{value}"'


def protocol_directive(versions: tuple[TlsVersion, TlsVersion]) -> str:
    low, high = (_ORDER.index(v) for v in versions)
    return "SSLProtocol -all " + " ".join(f"+{_PROTOCOL[v]}" for v in _ORDER[low : high + 1])


class ApacheServer(ServerProcess):
    label = "Apache httpd"
    binary_name = "apache2"
    binary_env = "ORIGIN_TLS_APACHE2"
    install_hint = "install the Debian package (scripts/bootstrap, or apt-get install apache2)"
    per_request_client_auth = True

    _docroot: Path | None = None

    def config_files(self) -> Mapping[str, str]:
        return {"apache2.conf": self.render()}

    @property
    def pid_path(self) -> Path:
        return self.directory / "apache2.pid"

    def render(self) -> str:
        docroot = self._ensure_docroot()
        run = self.directory / "run"
        lines = [
            f"ServerRoot {_quote(str(self.directory))}",
            f"DefaultRuntimeDir {_quote(str(run))}",
            f"PidFile {_quote(str(self.pid_path))}",
            f"Mutex file:{run} default",
            f"ErrorLog {_quote(str(self.directory / 'error.log'))}",
            "LogLevel info",
            *(f"LoadModule {name}_module {_MODULES / f'mod_{name}.so'}" for name in _LOAD),
            f"ServerName {self.hostname}",
            "ServerTokens Prod",
            "StartServers 1",
            "ServerLimit 1",
            "ThreadsPerChild 32",
            "MaxRequestWorkers 32",
            "MinSpareThreads 8",
            "MaxSpareThreads 48",
            "SSLSessionCache none",
            f"<Directory {_quote(str(docroot))}>",
            "    Require all granted",
            "</Directory>",
        ]
        if os.geteuid() == 0:
            lines += [f"User {_UNPRIVILEGED}", f"Group {_UNPRIVILEGED}"]
        for listener in self.listeners.values():
            lines += [f"Listen {listener.address}", *self._vhost(listener, docroot)]
        return "\n".join(lines) + "\n"

    def _vhost(self, listener: Listener, docroot: Path) -> list[str]:
        body = [f"ServerName {self.hostname}"]
        if isinstance(listener, TlsListener):
            body += [
                "SSLEngine on",
                f"SSLCertificateFile {_quote(str(listener.cert.chain_path))}",
                f"SSLCertificateKeyFile {_quote(str(listener.cert.key_path))}",
                protocol_directive(listener.versions),
            ]
            if listener.legacy:
                body.append(f"SSLCipherSuite {LEGACY_CIPHERS}")
            if listener.client_auth is not ClientAuth.OFF:
                body += ["SSLVerifyDepth 2", f"SSLCACertificateFile {_quote(str(listener.client_ca))}"]
                verify = f"SSLVerifyClient {_VERIFY[listener.client_auth]}"
                if listener.per_request:
                    body += ['<Location "/">', f"    {verify}", "</Location>"]
                else:
                    body.append(verify)
            verb = "set"
            for value in listener.sts:
                body.append(f"Header always {verb} Strict-Transport-Security {_quote(value)}")
                verb = "add"
            if listener.status == 200:
                body.append(f'AliasMatch "^/$" {_quote(str(docroot / "origin.txt"))}')
            else:
                # mod_alias's "Redirect 526" answers 500: Apache knows no 526. mod_asis sends our status line.
                body += [
                    f'AliasMatch "^/$" {_quote(str(self._status_page(docroot, listener.status)))}',
                    '<LocationMatch "^/$">',
                    "    SetHandler send-as-is",
                    "</LocationMatch>",
                ]
        elif listener.redirect:
            body.append(f"Redirect permanent / https://{self.hostname}/")
        else:
            body.append(f'AliasMatch "^/$" {_quote(str(docroot / "plain.txt"))}')
        return [f"<VirtualHost {listener.address}>", *(f"    {line}" for line in body), "</VirtualHost>"]

    def _ensure_docroot(self) -> Path:
        # The pytest temp dir is 0700 root: Apache's children (www-data) could not read a page in it.
        if self._docroot is None:
            self._docroot = Path(tempfile.mkdtemp(prefix="origin-tls-apache-www-"))
            self._docroot.chmod(0o755)
            for name, text in (("origin.txt", ORIGIN_BODY), ("plain.txt", PLAIN_BODY)):
                page = self._docroot / name
                page.write_text(text, encoding="utf-8")
                page.chmod(0o644)
        return self._docroot

    @staticmethod
    def _status_page(docroot: Path, status: int) -> Path:
        page = docroot / f"status-{status}.asis"
        page.write_text(f"Status: {status} Status {status}\nContent-Type: text/plain\n\nstatus {status}\n", "utf-8")
        page.chmod(0o644)
        return page

    def before_launch(self) -> None:
        run = self.directory / "run"
        run.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            # Children (www-data) reopen the accept mutex's lock file in the runtime dir.
            entry = pwd.getpwnam(_UNPRIVILEGED)
            os.chown(run, entry.pw_uid, entry.pw_gid)
        self.pid_path.unlink(missing_ok=True)

    def command(self, binary: str) -> list[str]:
        return [binary, "-f", str(self.directory / "apache2.conf"), "-d", str(self.directory), "-DFOREGROUND"]

    def environment(self) -> dict[str, str]:
        # apache2 reads APACHE_* variables from /etc/apache2/envvars only through apache2ctl; keep it away from /etc.
        return {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/bin"), "LANG": "C"}

    def started(self) -> bool:
        # The PidFile is written by the parent after every Listen socket is bound (ap_log_pid in the MPM's run).
        return self.pid_file_names_us(self.pid_path)

    def stop(self) -> None:
        super().stop()
        if self._docroot is not None:
            shutil.rmtree(self._docroot, ignore_errors=True)
            self._docroot = None
