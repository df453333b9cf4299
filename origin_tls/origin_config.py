"""Ready-to-use origin server configuration: the nginx ``server`` block that installs the origin certificate.

Pure functions (no I/O). The Pulumi component outputs :func:`build_nginx_config`'s text, the sandbox runs it, and
``nginx -t`` accepts it. What the block does, and why:

- ``ssl_certificate``/``ssl_certificate_key``: the Origin CA certificate the edge validates in Full (Strict).
- ``ssl_protocols`` from the floor: TLS 1.2+ gives ``TLSv1.2 TLSv1.3``.
- ``ssl_ciphers``: Mozilla's "intermediate" TLS 1.2 list (ssl-config.mozilla.org, guideline 5.7): forward-secret
  AEAD suites only. TLS 1.3 suites are not set by ``ssl_ciphers`` and OpenSSL's defaults are all AEAD.
- ``ssl_verify_client on`` with the pull CA: Authenticated Origin Pulls. nginx completes the handshake and answers
  ``400 No required SSL certificate was sent`` to a pull without a certificate (ngx_http_ssl_module docs); that is
  enforcement. ``optional`` would let such pulls through, so it is never generated.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from .baseline import Endpoint, TlsVersion, parse_hostnames
from .errors import InvalidInput

__all__ = [
    "INTERMEDIATE_CIPHERS",
    "LEGACY_CIPHERS",
    "build_nginx_config",
    "build_nginx_main_config",
    "build_ssl_protocols",
]

#: Mozilla "intermediate" (v5.7) TLS 1.2 suites, in its order.
INTERMEDIATE_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-CHACHA20-POLY1305",
    )
)
#: Only for a floor below TLS 1.2: OpenSSL 3 refuses TLS 1.0/1.1 handshakes above security level 0 (SHA-1
#: signatures), whatever ``ssl_protocols`` says.
LEGACY_CIPHERS = "DEFAULT:@SECLEVEL=0"

_NGINX_PROTOCOL = {
    TlsVersion.TLS_1_0: "TLSv1",
    TlsVersion.TLS_1_1: "TLSv1.1",
    TlsVersion.TLS_1_2: "TLSv1.2",
    TlsVersion.TLS_1_3: "TLSv1.3",
}
# Characters that would end or open a directive or a block, or start a variable, in nginx's configuration syntax.
_UNSAFE = frozenset(";{}\"'$#\\\n\r\t ")


def build_ssl_protocols(min_tls: TlsVersion) -> str:
    """``ssl_protocols`` value for a floor: every version from ``min_tls`` up to TLS 1.3."""
    return " ".join(_NGINX_PROTOCOL[v] for v in TlsVersion if v.rank >= min_tls.rank)


def _path(value: object, field_name: str) -> str:
    allowed = "an absolute file path without spaces, quotes, ';', '{', '}', '#' or '$'"
    if not isinstance(value, (str, os.PathLike)):
        raise InvalidInput(field_name, value, allowed)
    text = os.fspath(value)
    if not isinstance(text, str) or not os.path.isabs(text) or _UNSAFE & set(text):
        raise InvalidInput(field_name, value, allowed)
    return text


def _upstream(value: str) -> str:
    allowed = "an http:// or https:// URL without spaces, quotes, ';', '{', '}' or '$'"
    if not value.startswith(("http://", "https://")) or _UNSAFE & set(value):
        raise InvalidInput("upstream", value, allowed)
    return value


def _listen(address: str | None, port: int) -> str:
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput("listen_port", port, "a port from 1 to 65535")
    if address is None:
        return str(port)
    if not address or _UNSAFE & set(address) or "/" in address:
        raise InvalidInput("listen_address", address, "an IP address or host name")
    return str(Endpoint(address, port))


def build_nginx_config(
    *,
    hostnames: Sequence[str],
    certificate_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    client_ca_path: str | os.PathLike[str] | None,
    min_tls: TlsVersion = TlsVersion.TLS_1_2,
    listen_port: int = 443,
    listen_address: str | None = None,
    upstream: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    """An nginx ``server`` block serving ``hostnames`` with the origin certificate.

    ``certificate_path`` holds the certificate (and any chain), ``key_path`` its private key; ``client_ca_path``
    the Authenticated Origin Pulls CA (``None``: AOP not enforced at this origin). ``upstream`` (``http://app:8080``)
    is proxied to; without it the block answers ``200 origin ok``. ``extra`` directives are added verbatim inside
    the block (each must end with ``;`` or ``}``). Raises :class:`InvalidInput` on a value nginx would misread.
    """
    names = parse_hostnames(hostnames, allow_wildcard=True)
    if not isinstance(min_tls, TlsVersion):
        raise InvalidInput("min_tls", min_tls, [v.value for v in TlsVersion])
    for index, directive in enumerate(extra):
        if not isinstance(directive, str) or not directive.strip().endswith((";", "}")):
            raise InvalidInput(f"extra[{index}]", directive, "an nginx directive ending with ';' or '}'")
    lines = [
        f"listen {_listen(listen_address, listen_port)} ssl;",
        f"server_name {' '.join(names)};",
        "",
        "# The origin certificate (Cloudflare Origin CA) that the edge validates in Full (Strict).",
        f"ssl_certificate {_path(certificate_path, 'certificate_path')};",
        f"ssl_certificate_key {_path(key_path, 'key_path')};",
        f"ssl_protocols {build_ssl_protocols(min_tls)};",
        f"ssl_ciphers {INTERMEDIATE_CIPHERS if min_tls.rank >= TlsVersion.TLS_1_2.rank else LEGACY_CIPHERS};",
        "ssl_prefer_server_ciphers off;",
        "ssl_session_timeout 1d;",
        "ssl_session_tickets off;",
    ]
    if client_ca_path is not None:
        lines += [
            "",
            "# Authenticated Origin Pulls: only pulls presenting a certificate from this CA are served;",
            "# others get 400 No required SSL certificate was sent.",
            f"ssl_client_certificate {_path(client_ca_path, 'client_ca_path')};",
            "ssl_verify_client on;",
        ]
    lines.append("")
    if upstream is None:
        lines += ["default_type text/plain;", 'location / { return 200 "origin ok\\n"; }']
    else:
        lines += [
            "location / {",
            f"    proxy_pass {_upstream(upstream)};",
            "    proxy_set_header Host $host;",
            "}",
        ]
    lines.extend(directive.strip() for directive in extra)
    body = "".join(f"    {line}\n" if line else "\n" for line in lines)
    return "server {\n" + body + "}\n"


def build_nginx_main_config(
    servers: Sequence[str],
    *,
    prefix: str | os.PathLike[str],
    user: str | None = None,
    worker_processes: int = 1,
) -> str:
    """A complete ``nginx.conf`` around ``servers`` (blocks from :func:`build_nginx_config`), with the pid file,
    logs and temporary directories under ``prefix``, so nginx can run without touching system paths.
    ``daemon off``: the caller supervises the master process."""
    root = _path(prefix, "prefix").rstrip("/")
    if user is not None and (not user or _UNSAFE & set(user)):
        raise InvalidInput("user", user, "a user name")
    head = [f"user {user};"] if user is not None else []
    head += [
        "daemon off;",
        "master_process on;",
        f"worker_processes {int(worker_processes)};",
        f"pid {root}/nginx.pid;",
        f"error_log {root}/error.log notice;",
        "events { worker_connections 512; }",
        "http {",
        f"    access_log {root}/access.log;",
        f"    client_body_temp_path {root}/temp/body;",
        f"    proxy_temp_path {root}/temp/proxy;",
        f"    fastcgi_temp_path {root}/temp/fastcgi;",
        f"    uwsgi_temp_path {root}/temp/uwsgi;",
        f"    scgi_temp_path {root}/temp/scgi;",
        "    server_tokens off;",
    ]
    indented = ["".join(f"    {line}\n" if line.strip() else "\n" for line in s.splitlines()) for s in servers]
    return "\n".join(head) + "\n" + "".join(indented) + "}\n"
