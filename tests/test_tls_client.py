"""Pure parts of origin_tls.tls_client: error classification and the TLS 1.2 record parser (no network)."""

from __future__ import annotations

import socket
import ssl

import pytest

from origin_tls.baseline import TlsVersion
from origin_tls.tls_client import (
    CLIENT_AUTH_ALERTS,
    ErrorKind,
    alert_name,
    can_offer,
    classify_error,
    parse_handshake_certificate,
)

DER_A = b"\x30\x03\x02\x01\x01"
DER_B = b"\x30\x03\x02\x01\x02"


def _ssl_error(reason: str, cls: type[ssl.SSLError] = ssl.SSLError) -> ssl.SSLError:
    error = cls(1, f"[SSL: {reason}] test")
    error.reason = reason
    return error


def _record(content_type: int, payload: bytes) -> bytes:
    return bytes([content_type, 3, 3]) + len(payload).to_bytes(2, "big") + payload


def _handshake(message_type: int, body: bytes) -> bytes:
    return bytes([message_type]) + len(body).to_bytes(3, "big") + body


def _certificate_message(*ders: bytes) -> bytes:
    entries = b"".join(len(der).to_bytes(3, "big") + der for der in ders)
    return _handshake(11, len(entries).to_bytes(3, "big") + entries)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_ssl_error("TLSV1_ALERT_PROTOCOL_VERSION"), ErrorKind.OTHER_VERSION),
        (_ssl_error("SSLV3_ALERT_HANDSHAKE_FAILURE"), ErrorKind.ALERT),
        (_ssl_error("TLSV13_ALERT_CERTIFICATE_REQUIRED"), ErrorKind.ALERT),
        (_ssl_error("UNSUPPORTED_PROTOCOL"), ErrorKind.OTHER_VERSION),
        (_ssl_error("NO_CIPHERS_AVAILABLE"), ErrorKind.CLIENT),
        (_ssl_error("NO_PROTOCOLS_AVAILABLE"), ErrorKind.CLIENT),
        (_ssl_error("WRONG_VERSION_NUMBER"), ErrorKind.ERROR),
        (_ssl_error("UNEXPECTED_EOF_WHILE_READING"), ErrorKind.CLOSED),
        (_ssl_error("EOF", ssl.SSLEOFError), ErrorKind.CLOSED),
        (ConnectionResetError(104, "reset"), ErrorKind.CLOSED),
        (TimeoutError("timed out"), ErrorKind.UNREACHABLE),
        (ConnectionRefusedError(111, "refused"), ErrorKind.UNREACHABLE),
        (socket.gaierror(-2, "Name or service not known"), ErrorKind.UNREACHABLE),
        (ValueError("odd"), ErrorKind.ERROR),
    ],
)
def test_classify_error(exc: BaseException, kind: ErrorKind) -> None:
    got, detail = classify_error(exc)

    assert got is kind
    assert detail
    assert "\n" not in detail


def test_alert_names_are_the_rfc_names() -> None:
    assert alert_name("SSLV3_ALERT_HANDSHAKE_FAILURE") == "handshake_failure"
    assert alert_name("TLSV13_ALERT_CERTIFICATE_REQUIRED") == "certificate_required"
    assert alert_name("TLSV1_ALERT_UNKNOWN_CA") == "unknown_ca"


def test_protocol_version_is_not_a_client_auth_alert() -> None:
    assert "TLSV1_ALERT_PROTOCOL_VERSION" not in CLIENT_AUTH_ALERTS
    assert "TLSV13_ALERT_CERTIFICATE_REQUIRED" in CLIENT_AUTH_ALERTS


def test_parse_certificate_split_across_records() -> None:
    handshake = _handshake(2, b"\x03\x03" + b"\x00" * 34) + _certificate_message(DER_A, DER_B) + _handshake(14, b"")
    data = _record(22, handshake[:20]) + _record(22, handshake[20:])

    assert parse_handshake_certificate(data) == DER_A


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
        _record(22, _handshake(2, b"\x03\x03")),  # no Certificate message
        _record(22, _certificate_message(DER_A)[:-2]),  # truncated
        _record(20, b"\x01") + _record(22, _certificate_message(DER_A)),  # after ChangeCipherSpec: encrypted
        _record(22, _certificate_message()),  # empty list
    ],
)
def test_parse_certificate_returns_none_without_a_whole_certificate(data: bytes) -> None:
    assert parse_handshake_certificate(data) is None


def test_can_offer_modern_versions() -> None:
    assert can_offer(TlsVersion.TLS_1_2) == (True, "")
    assert can_offer(TlsVersion.TLS_1_3) == (True, "")
