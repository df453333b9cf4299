"""GnuTLS's test server, ``gnutls-serv`` (Debian's gnutls-bin), as an origin: one listener per process.

Started as ``gnutls-serv --http -p PORT --x509certfile CHAIN --x509keyfile KEY --priority P`` (gnutls-serv(1));
``--http`` answers every request with HTTP 200 and a page about the session. Client certificates: ``require`` is
``--require-client-cert --verify-client-cert`` (without ``--verify-client-cert`` any certificate is accepted,
tests/README.md), ``optional`` is ``--verify-client-cert`` (asked for, verified when sent), ``off`` is
``--disable-client-cert``. Versions by priority string (``NORMAL:-VERS-ALL:+VERS-TLS1.2``).

gnutls-serv has no listen-address option and binds the wildcard address, so it runs in a network namespace of its
own behind ``netns_relay.py``, which holds the listener's loopback port and relays every byte (tests/README.md).
"""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from origin_tls.baseline import TlsVersion

from .listeners import ClientAuth, Listener, TlsListener, Unsupported
from .server_process import ServerProcess

__all__ = ["GnutlsServer"]

_RELAY = Path(__file__).with_name("netns_relay.py")
_VERSION = {TlsVersion.TLS_1_2: "+VERS-TLS1.2", TlsVersion.TLS_1_3: "+VERS-TLS1.3"}
_CLIENT_AUTH = {
    ClientAuth.REQUIRE: ["--require-client-cert", "--verify-client-cert"],
    ClientAuth.OPTIONAL: ["--verify-client-cert"],
    ClientAuth.OFF: ["--disable-client-cert"],
}


@functools.cache
def _namespace_refused() -> str | None:
    check = subprocess.run([sys.executable, str(_RELAY), "--check"], capture_output=True, text=True, check=False)
    return None if check.returncode == 0 else check.stderr.strip() or "netns_relay.py --check failed"


class GnutlsServer(ServerProcess):
    label = "GnuTLS (gnutls-serv)"
    binary_name = "gnutls-serv"
    binary_env = "ORIGIN_TLS_GNUTLS_SERV"
    install_hint = "install the Debian package (scripts/bootstrap, or apt-get install gnutls-bin)"

    def __init__(self, directory: Path, hostname: str, listeners: Sequence[Listener]) -> None:
        if len(listeners) != 1:
            raise ValueError("gnutls-serv serves one listener per process")
        super().__init__(directory, hostname, listeners)

    @classmethod
    def check_supported(cls, listener: Listener) -> None:
        super().check_supported(listener)
        if not isinstance(listener, TlsListener):
            raise Unsupported("gnutls-serv answers HTTP over TLS only")
        if any(version not in _VERSION for version in listener.versions):
            raise Unsupported("the gnutls-serv peer is set up for TLS 1.2 and 1.3 only")

    @classmethod
    def unavailable(cls) -> str | None:
        why = super().unavailable()
        if why is None and (refused := _namespace_refused()) is not None:
            why = f"{cls.label} binds every address, so it runs in its own network namespace: {refused}"
        return why

    @property
    def only(self) -> TlsListener:
        (listener,) = self.listeners.values()
        assert isinstance(listener, TlsListener)
        return listener

    def config_files(self) -> Mapping[str, str]:
        return {}

    def command(self, binary: str) -> list[str]:
        listener = self.only
        low, high = listener.versions
        versions = [_VERSION[v] for v in TlsVersion if low.rank <= v.rank <= high.rank]
        auth = list(_CLIENT_AUTH[listener.client_auth])
        if listener.client_ca is not None:
            auth += ["--x509cafile", str(listener.client_ca)]
        server = [
            binary,
            "--http",
            "--port",
            str(listener.port),
            "--x509certfile",
            str(listener.cert.chain_path),
            "--x509keyfile",
            str(listener.cert.key_path),
            "--priority",
            ":".join(["NORMAL", "-VERS-ALL", *versions]),
            *auth,
        ]
        return [sys.executable, str(_RELAY), listener.host, str(listener.port), "--", *server]

    def started(self) -> bool:
        try:
            return "netns_relay: relaying" in self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
