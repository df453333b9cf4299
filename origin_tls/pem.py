"""PEM inputs told usable by the TLS stack that will use them (``ssl``, i.e. OpenSSL), without ``cryptography``.

Issue 17: importing ``cryptography`` costs a one-host run 25-40 ms of CPU, and ``verify`` used to pay it before its
first connection, only to check that the PEM files it was handed are well formed. These answers come from OpenSSL,
already loaded for the probes; ``cryptography`` is imported while the probes wait on the network and parses the
certificates for the judges then.

The answers are one-sided on purpose: True means OpenSSL takes the text (and, for a key, that it is an unencrypted
ECDSA or RSA key, the rule of :func:`origin_tls.keys.load_private_key_pem`); False means "not shown usable here",
and the caller then runs the ``cryptography`` check it always ran, which raises the same
:class:`~origin_tls.errors.InvalidInput` as before (or accepts: then nothing changed either). No message is built
here, so nothing here can quote a key.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import ssl

from .tls_client import PULL, build_client_contexts

__all__ = ["MAX_PEM_FILE_BYTES", "certificate_blocks", "is_certificate_pem", "is_key_pair", "is_private_key_pem"]

#: The most a PEM file (a CA bundle, a certificate, a key) may hold: far above any real bundle (certifi's is about
#: 300 KB), and every file read stops there (issue 18).
MAX_PEM_FILE_BYTES = 1_048_576

_CERTIFICATE_TEXT = re.compile(r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL)
_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
#: DER of the AlgorithmIdentifier OIDs of a PKCS#8 key (RFC 5208) that :func:`load_private_key_pem` accepts:
#: rsaEncryption 1.2.840.113549.1.1.1 (RFC 8017) and id-ecPublicKey 1.2.840.10045.2.1 (RFC 5480).
_PKCS8_RSA = bytes.fromhex("06092a864886f70d010101")
_PKCS8_EC = bytes.fromhex("06072a8648ce3d0201")


def _blocks(text: str) -> list[tuple[bytes, bytes]]:
    """(label, DER) of every PEM block, or [] when one block's body is not base64 or carries headers."""
    found = []
    for label, body in _BLOCK.findall(text.encode("utf-8", "replace")):
        if b":" in body:  # RFC 1421 headers (Proc-Type: 4,ENCRYPTED...): not a plain block
            return []
        try:
            found.append((label, base64.b64decode(b"".join(body.split()), validate=True)))
        except (binascii.Error, ValueError):
            return []
    return found


def certificate_blocks(text: str) -> str:
    """The CERTIFICATE blocks of ``text`` as written, in order, each ending a line: what OpenSSL's cadata reads,
    without the text around them (a bundle's comments, which may be UTF-8)."""
    return "".join(f"{block}\n" for block in _CERTIFICATE_TEXT.findall(text))


def is_certificate_pem(text: str) -> bool:
    """At least one CERTIFICATE block, and OpenSSL parses every one of them.

    Cached by text (the inventory and ``verify`` both check a run's files, and each check costs an OpenSSL
    context, ~0.7 ms of CPU with OpenSSL 3), except a text that also holds a private key (a certificate and its
    key in one file): key material is never kept beyond its use."""
    if "PRIVATE KEY" in text:
        return _parses(text)
    return _parses_cached(text)


def _parses(text: str) -> bool:
    certificates = [der for label, der in _blocks(text) if label == b"CERTIFICATE"]
    if not certificates:
        return False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        for der in certificates:
            context.load_verify_locations(cadata=der)
    except (ssl.SSLError, ValueError):
        return False
    return True


_parses_cached = functools.lru_cache(maxsize=32)(_parses)


def _pkcs8_algorithm_is(der: bytes, oid: bytes) -> bool:
    # PrivateKeyInfo ::= SEQUENCE { version INTEGER, privateKeyAlgorithm AlgorithmIdentifier, ... }: the OID is the
    # first thing in the second element. Found by position, not by searching, so a key whose bytes happen to hold
    # the OID elsewhere is not taken for one.
    def skip_header(at: int) -> int:
        length = der[at + 1]
        return at + 2 + (length & 0x7F if length & 0x80 else 0)

    try:
        if der[0] != 0x30:
            return False
        at = skip_header(0)
        if der[at] != 0x02:  # version
            return False
        at = at + 2 + der[at + 1]
        if der[at] != 0x30:  # AlgorithmIdentifier
            return False
        at = skip_header(at)
    except IndexError:
        return False
    return der[at : at + len(oid)] == oid


def is_private_key_pem(text: str) -> bool:
    """Exactly one unencrypted ECDSA or RSA private key block (SEC 1, PKCS#1 or PKCS#8) that is valid base64.

    Its contents are parsed by OpenSSL with the certificate (:func:`is_key_pair`): a key alone has no loader in
    ``ssl``."""
    keys = [(label, der) for label, der in _blocks(text) if label.endswith(b"PRIVATE KEY")]
    if len(keys) != 1:
        return False
    label, der = keys[0]
    if label in (b"EC PRIVATE KEY", b"RSA PRIVATE KEY"):
        return True
    return label == b"PRIVATE KEY" and (_pkcs8_algorithm_is(der, _PKCS8_RSA) or _pkcs8_algorithm_is(der, _PKCS8_EC))


def is_key_pair(cert_pem: str, key_pem: str) -> bool:
    """OpenSSL loads the key with the first certificate of ``cert_pem`` (``SSL_CTX_check_private_key``: they
    belong together); the key is handed over in memory, as :func:`~origin_tls.tls_client.build_client_contexts`
    does for the probes."""
    if not is_private_key_pem(key_pem):  # the certificate: OpenSSL loads it here
        return False
    try:
        build_client_contexts(cert_pem, key_pem, ())[PULL]
    except Exception:  # InvalidInput (without detail, by design): the caller's cryptography check says why
        return False
    return True
