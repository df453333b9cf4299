"""Pure TLS 1.3 pieces for the post-quantum probe: a ClientHello offering only X25519MLKEM768, the server's first
flight read back, and the handshake key schedule that proves the hybrid key agreement worked.

- :func:`build_client_hello`: TLS 1.3 only, the three TLS 1.3 cipher suites, ``supported_groups`` = [0x11EC] and a
  real 1216-byte key share (the ML-KEM-768 encapsulation key, then the X25519 share: RFC 10024 / draft-ietf-tls-
  ecdhe-mlkem section 4.1), made with ``cryptography``'s ML-KEM-768 (a server checks the key: FIPS 203 7.2);
- :class:`RecordReader`: TLS records (RFC 8446 section 5.1) out of a byte stream, framing checked;
- :class:`HandshakeBuffer`: handshake messages out of record fragments (a message may span records);
- :func:`parse_server_hello`: the selected version, cipher suite and key share group of a ServerHello or a
  HelloRetryRequest (RFC 8446 sections 4.1.3, 4.1.4, 4.2.8);
- :class:`HandshakeKeys`: the server's handshake traffic key from the hybrid shared secret (RFC 8446 section 7.1),
  record decryption (5.2) and the server Finished check (4.4.4).

No I/O here: :mod:`origin_tls.pq` sends and reads under a deadline.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# cryptography is imported where keys are made and records opened, not here: `verify` imports this module (through
# origin_tls.pq and the check registry) and only a run with --require-pq needs it (tests/test_verify_registry.py).

__all__ = [
    "CONTENT_ALERT",
    "CONTENT_APPDATA",
    "CONTENT_CCS",
    "CONTENT_HANDSHAKE",
    "SERVER_SHARE_BYTES",
    "X25519MLKEM768",
    "ClientHello",
    "HandshakeBuffer",
    "HandshakeKeys",
    "NoMlKem",
    "RecordReader",
    "ServerHelloFacts",
    "WireError",
    "alert_description",
    "build_client_hello",
    "group_name",
    "parse_server_hello",
]

#: The hybrid group (IANA TLS Supported Groups registry; RFC 10024): the only one offered.
X25519MLKEM768 = 0x11EC
_MLKEM768_EK_BYTES = 1184
_MLKEM768_CT_BYTES = 1088
_X25519_BYTES = 32
#: The server's X25519MLKEM768 share: the ML-KEM-768 ciphertext, then its X25519 share.
SERVER_SHARE_BYTES = _MLKEM768_CT_BYTES + _X25519_BYTES

# IANA names (TLS Supported Groups registry), as OpenSSL's get_group_name() spells the classical ones.
_GROUP_NAMES = {
    0x0017: "secp256r1", 0x0018: "secp384r1", 0x0019: "secp521r1", 0x001D: "x25519", 0x001E: "x448",
    0x0100: "ffdhe2048", 0x0101: "ffdhe3072", 0x0102: "ffdhe4096", 0x0103: "ffdhe6144", 0x0104: "ffdhe8192",
    0x11EB: "SecP256r1MLKEM768", 0x11EC: "X25519MLKEM768", 0x11ED: "SecP384r1MLKEM1024",
    0x6399: "X25519Kyber768Draft00",
}  # fmt: skip
# RFC 8446 section 6 (and RFC 5246 7.2 for the older ones a TLS 1.2 server may still send).
_ALERTS = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate", 44: "certificate_revoked",
    45: "certificate_expired", 46: "certificate_unknown", 47: "illegal_parameter", 48: "unknown_ca",
    49: "access_denied", 50: "decode_error", 51: "decrypt_error", 70: "protocol_version",
    71: "insufficient_security", 80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    109: "missing_extension", 110: "unsupported_extension", 112: "unrecognized_name",
    113: "bad_certificate_status_response", 115: "unknown_psk_identity", 116: "certificate_required",
    120: "no_application_protocol",
}  # fmt: skip

# RFC 8446 section 4.1.3: a HelloRetryRequest is a ServerHello with this random (SHA-256 of "HelloRetryRequest").
_HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")
_TLS13 = 0x0304
# Extensions (IANA TLS ExtensionType registry).
_EXT_SERVER_NAME, _EXT_GROUPS, _EXT_SIGNATURES = 0, 10, 13
_EXT_VERSIONS, _EXT_PSK_MODES, _EXT_KEY_SHARE = 43, 45, 51
# Handshake and record types.
_SERVER_HELLO, _FINISHED = 2, 20
CONTENT_CCS, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPDATA = 20, 21, 22, 23
#: RFC 8446 section 5.2: a protected record is at most 2^14 + 256 bytes.
_MAX_RECORD = 2**14 + 256

# What Cloudflare's edge and every TLS 1.3 stack offer: the three TLS 1.3 suites (RFC 8446 section 9.1 makes the
# first mandatory). suite: (hash, key length, AEAD)
_SUITES: dict[int, tuple[Callable[..., Any], int, str]] = {
    0x1301: (hashlib.sha256, 16, "AES-GCM"),
    0x1302: (hashlib.sha384, 32, "AES-GCM"),
    0x1303: (hashlib.sha256, 32, "ChaCha20-Poly1305"),
}
# Signature schemes a server may use for its CertificateVerify (RFC 8446 section 4.2.3): ECDSA, RSA-PSS, EdDSA, then
# RSA PKCS#1 for certificate chains only.
_SIGNATURE_SCHEMES = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0807, 0x0808, 0x0809, 0x080A, 0x080B,
                      0x0401, 0x0501, 0x0601)  # fmt: skip


class WireError(ValueError):
    """The bytes are not the TLS the probe expects (bad framing, a message cut short, an unknown suite)."""


class NoMlKem(RuntimeError):
    """This installation cannot make an ML-KEM-768 key share (a ``cryptography`` without ML-KEM)."""


def group_name(code: int) -> str:
    """``0x11EC`` -> ``"X25519MLKEM768"``, ``0x001D`` -> ``"x25519"``; ``"0x...."`` for a group not listed."""
    return _GROUP_NAMES.get(code, f"0x{code:04x}")


def alert_description(code: int) -> str:
    """``40`` -> ``"handshake_failure"`` (RFC 8446 section 6); ``"alert 255"`` for a code not listed."""
    return _ALERTS.get(code, f"alert {code}")


def _vector(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


@dataclass(frozen=True)
class ClientHello:
    """A ClientHello and the ephemeral keys behind its key share (never shown: ``repr`` leaves them out)."""

    message: bytes  # the handshake message (type, length, body): the start of the transcript
    record: bytes  # what goes on the wire
    mlkem: Any = field(repr=False)  # cryptography's MLKEM768PrivateKey
    x25519: Any = field(repr=False)  # cryptography's X25519PrivateKey

    def shared_secret(self, server_share: bytes) -> bytes:
        """The X25519MLKEM768 shared secret: ML-KEM-768 decapsulation of the server's ciphertext, then X25519
        (draft-ietf-tls-ecdhe-mlkem section 4.1: ML-KEM first for this group). :class:`WireError` for a share of the
        wrong size or an X25519 share that gives the all-zero secret (RFC 8446 section 7.4.2)."""
        if len(server_share) != SERVER_SHARE_BYTES:
            raise WireError(f"the server's X25519MLKEM768 share is {len(server_share)} bytes, not {SERVER_SHARE_BYTES}")
        from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey

        ciphertext, x25519_share = server_share[:_MLKEM768_CT_BYTES], server_share[_MLKEM768_CT_BYTES:]
        try:
            mlkem_secret: bytes = self.mlkem.decapsulate(ciphertext)
            x25519_secret: bytes = self.x25519.exchange(X25519PublicKey.from_public_bytes(x25519_share))
        except ValueError as exc:
            raise WireError(f"the server's X25519MLKEM768 share is not valid: {exc}") from None
        return mlkem_secret + x25519_secret


def build_client_hello(server_name: str | None) -> ClientHello:
    """A TLS 1.3 ClientHello offering only X25519MLKEM768, with its key share; SNI when ``server_name`` is given.

    Like Cloudflare's connection to an origin under the ``pqh`` compliance mode: TLS 1.3 only, hybrid
    post-quantum groups only, the share in the first flight (so a server that supports the group answers without a
    HelloRetryRequest). A 32-byte legacy session id, as every browser sends (RFC 8446 appendix D.4: middlebox
    compatibility mode).
    """
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

    try:  # cryptography 48+ (reference/cloudflare.md section 6): its wheels bundle an OpenSSL with ML-KEM
        from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey
    except ImportError:  # pragma: no cover - pyproject allows cryptography 42+; 50 is installed here
        raise NoMlKem("this installation's cryptography has no ML-KEM-768 (cryptography 48+ is needed)") from None
    mlkem = MLKEM768PrivateKey.generate()
    x25519 = X25519PrivateKey.generate()
    share = mlkem.public_key().public_bytes_raw() + x25519.public_key().public_bytes_raw()
    extensions = b""
    if server_name:
        name = server_name.encode("ascii")
        extensions += _extension(_EXT_SERVER_NAME, _vector(b"\x00" + _vector(name, 2), 2))
    extensions += _extension(_EXT_GROUPS, _vector(struct.pack("!H", X25519MLKEM768), 2))
    extensions += _extension(_EXT_SIGNATURES, _vector(b"".join(struct.pack("!H", s) for s in _SIGNATURE_SCHEMES), 2))
    extensions += _extension(_EXT_VERSIONS, _vector(struct.pack("!H", _TLS13), 1))
    extensions += _extension(_EXT_PSK_MODES, _vector(b"\x01", 1))  # psk_dhe_ke
    extensions += _extension(_EXT_KEY_SHARE, _vector(struct.pack("!HH", X25519MLKEM768, len(share)) + share, 2))
    body = (
        b"\x03\x03"  # legacy_version: TLS 1.2 (RFC 8446 section 4.1.2); the version is in supported_versions
        + os.urandom(32)
        + _vector(os.urandom(32), 1)
        + _vector(b"".join(struct.pack("!H", suite) for suite in _SUITES), 2)
        + b"\x01\x00"  # compression: null only
        + _vector(extensions, 2)
    )
    message = bytes([1]) + _vector(body, 3)
    # One record: the hello is about 1.4 KB, far below 2^14 (RFC 8446 section 5.1); TCP splits it in two segments,
    # which an origin or middlebox reading only the first segment cannot take (tldr.fail).
    record = struct.pack("!BHH", CONTENT_HANDSHAKE, 0x0301, len(message)) + message
    return ClientHello(message, record, mlkem, x25519)


class RecordReader:
    """TLS records out of a byte stream: :meth:`feed` bytes, :meth:`next` gives (type, header, fragment) or None
    until a whole record is in. :class:`WireError` for bytes that are not TLS records (RFC 8446 section 5.1)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer.extend(data)

    def next(self) -> tuple[int, bytes, bytes] | None:
        if len(self._buffer) < 5:
            self._check_start()
            return None
        header = bytes(self._buffer[:5])
        content_type, _version, length = struct.unpack("!BHH", header)
        self._check_start()
        if length > _MAX_RECORD:
            raise WireError(f"a TLS record of {length} bytes (at most {_MAX_RECORD})")
        if len(self._buffer) < 5 + length:
            return None
        fragment = bytes(self._buffer[5 : 5 + length])
        del self._buffer[: 5 + length]
        return content_type, header, fragment

    def _check_start(self) -> None:
        if self._buffer and self._buffer[0] not in (CONTENT_CCS, CONTENT_ALERT, CONTENT_HANDSHAKE, CONTENT_APPDATA):
            raise WireError(f"not a TLS record (first bytes {bytes(self._buffer[:8])!r})")
        if len(self._buffer) >= 2 and self._buffer[1] != 3:
            raise WireError(f"not a TLS record (first bytes {bytes(self._buffer[:8])!r})")


class HandshakeBuffer:
    """Handshake messages (type, whole message with its 4-byte header) out of record fragments."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, fragment: bytes) -> None:
        self._buffer.extend(fragment)

    def next(self) -> tuple[int, bytes] | None:
        if len(self._buffer) < 4:
            return None
        length = int.from_bytes(self._buffer[1:4], "big")
        if len(self._buffer) < 4 + length:
            return None
        message = bytes(self._buffer[: 4 + length])
        del self._buffer[: 4 + length]
        return message[0], message

    @property
    def empty(self) -> bool:
        return not self._buffer


@dataclass(frozen=True)
class ServerHelloFacts:
    """What a ServerHello (or HelloRetryRequest) selected."""

    retry: bool  # a HelloRetryRequest (RFC 8446 section 4.1.4)
    version: int  # supported_versions' selection, else legacy_version (a TLS 1.2 or older server)
    cipher_suite: int
    group: int | None  # key_share: the server's group (ServerHello) or the group it asks for (HelloRetryRequest)
    key_exchange: bytes  # the server's share (empty in a HelloRetryRequest)

    @property
    def version_name(self) -> str:
        names = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
        return names.get(self.version, f"version 0x{self.version:04x}")


def parse_server_hello(message: bytes) -> ServerHelloFacts:
    """The facts of a ServerHello handshake message (with its 4-byte header); :class:`WireError` when malformed."""
    body = message[4:]
    try:
        legacy_version = int.from_bytes(body[0:2], "big")
        random = body[2:34]
        session_id_length = body[34]
        position = 35 + session_id_length
        cipher_suite = int.from_bytes(body[position : position + 2], "big")
        position += 3  # cipher suite, compression method
        if len(body) < position:
            raise IndexError
    except IndexError:
        raise WireError("the ServerHello is cut short") from None
    version, group, key_exchange = legacy_version, None, b""
    retry = random == _HRR_RANDOM
    if position + 2 <= len(body):
        end = position + 2 + int.from_bytes(body[position : position + 2], "big")
        if end > len(body):
            raise WireError("the ServerHello's extensions are cut short")
        position += 2
        while position + 4 <= end:
            kind, size = struct.unpack("!HH", body[position : position + 4])
            data = body[position + 4 : position + 4 + size]
            if len(data) != size:
                raise WireError("a ServerHello extension is cut short")
            if kind == _EXT_VERSIONS and size == 2:
                version = int.from_bytes(data, "big")
            elif kind == _EXT_KEY_SHARE and size >= 2:
                group = int.from_bytes(data[0:2], "big")
                if not retry:
                    if size < 4 or int.from_bytes(data[2:4], "big") != size - 4:
                        raise WireError("the ServerHello's key_share is malformed")
                    key_exchange = data[4:]
            position += 4 + size
    return ServerHelloFacts(retry, version, cipher_suite, group, key_exchange)


def _hkdf_extract(hash_fn: Callable[..., Any], salt: bytes, ikm: bytes) -> bytes:
    return hmac.new(salt, ikm, hash_fn).digest()


def _hkdf_expand_label(hash_fn: Callable[..., Any], secret: bytes, label: str, context: bytes, length: int) -> bytes:
    """RFC 8446 section 7.1: HKDF-Expand (RFC 5869) of HkdfLabel {length, "tls13 " + label, context}."""
    info = struct.pack("!H", length) + _vector(b"tls13 " + label.encode("ascii"), 1) + _vector(context, 1)
    output, block, counter = b"", b"", 1
    while len(output) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hash_fn).digest()
        output += block
        counter += 1
    return output[:length]


class HandshakeKeys:
    """The server's handshake traffic protection (RFC 8446 sections 7.1, 7.3) for one connection.

    Built from the cipher suite, the hybrid shared secret and the transcript so far (ClientHello, ServerHello);
    :meth:`open` decrypts the server's protected records in order; :meth:`finished_ok` checks its Finished against
    the transcript up to (not including) it. Secrets stay in this object (``repr`` shows none).
    """

    def __init__(self, cipher_suite: int, shared_secret: bytes, transcript: bytes) -> None:
        if cipher_suite not in _SUITES:
            raise WireError(f"the server selected cipher suite 0x{cipher_suite:04x}, which was not offered")
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

        hash_fn, key_length, aead_name = _SUITES[cipher_suite]
        aead = AESGCM if aead_name == "AES-GCM" else ChaCha20Poly1305
        self.hash_fn = hash_fn
        zeros = bytes(hash_fn().digest_size)
        early = _hkdf_extract(hash_fn, zeros, zeros)
        derived = _hkdf_expand_label(hash_fn, early, "derived", hash_fn(b"").digest(), len(zeros))
        handshake_secret = _hkdf_extract(hash_fn, derived, shared_secret)
        traffic = _hkdf_expand_label(
            hash_fn, handshake_secret, "s hs traffic", hash_fn(transcript).digest(), len(zeros)
        )
        self._aead: AESGCM | ChaCha20Poly1305 = aead(_hkdf_expand_label(hash_fn, traffic, "key", b"", key_length))
        self._iv = _hkdf_expand_label(hash_fn, traffic, "iv", b"", 12)
        self._finished_key = _hkdf_expand_label(hash_fn, traffic, "finished", b"", len(zeros))
        self._sequence = 0

    def __repr__(self) -> str:
        return "HandshakeKeys(<secret>)"

    def open(self, header: bytes, fragment: bytes) -> tuple[int, bytes]:
        """(inner content type, content) of a protected record (RFC 8446 section 5.2); :class:`WireError` when it
        does not decrypt with the agreed key."""
        from cryptography.exceptions import InvalidTag

        nonce = bytes(a ^ b for a, b in zip(self._iv, self._sequence.to_bytes(12, "big"), strict=True))
        self._sequence += 1
        try:
            plain = self._aead.decrypt(nonce, fragment, header)
        except InvalidTag:
            raise WireError("a record does not decrypt with the agreed handshake key") from None
        inner = plain.rstrip(b"\x00")
        if not inner:
            raise WireError("a protected record without a content type")
        return inner[-1], inner[:-1]

    def finished_ok(self, transcript: bytes, finished_message: bytes) -> bool:
        """Whether the server's Finished (the whole message) is the HMAC of the transcript before it (4.4.4)."""
        expected = hmac.new(self._finished_key, self.hash_fn(transcript).digest(), self.hash_fn).digest()
        return hmac.compare_digest(expected, finished_message[4:])
