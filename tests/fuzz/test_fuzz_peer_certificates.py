"""Fuzzing the reading of a peer's certificate (issue 18, finding 1): certificates built from their parts, any
part replaced by a hostile one, and a few bytes flipped, cut or inserted.

Contract: :func:`~origin_tls.certs.load_peer_certificate` returns a certificate or raises
:class:`~origin_tls.certs.UnreadableCertificate` ("the origin's certificate could not be parsed: ..."), nothing
else; a certificate it returns can be inspected and judged without an exception; the ``origin.certificate`` judge
returns a check for any bytes (``pass`` impossible here: nothing is signed by a trusted key); each example within
5 s of wall time (generous: a parse takes milliseconds) and 8 MiB of peak allocation.
"""

from __future__ import annotations

import warnings

from cryptography import x509
from hypothesis import given

from origin_tls import certs
from origin_tls.checks_judges import judge_origin_certificate
from origin_tls.probe_results import CertificateFetch
from origin_tls.report import Check, Status

from .peer_strategies import bounded, budget, certificates

HOST = "app.example.test"


def _load(der: bytes) -> x509.Certificate | certs.UnreadableCertificate:
    try:
        return certs.load_peer_certificate(der)
    except certs.UnreadableCertificate as exc:  # the one error allowed; any other fails the test
        return exc


def _read_and_judge(der: bytes) -> Check:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cryptography's deprecation warnings for odd serials and names
        cert = _load(der)
        if isinstance(cert, certs.UnreadableCertificate):
            assert str(cert).startswith("the origin's certificate could not be parsed: ")
        else:
            certs.inspect_certificate(cert)
            certs.judge_origin_certificate(cert, hostname=HOST)
            certs.judge_origin_certificate(cert, hostname=HOST, trusted_cas=(cert,), expected=cert)
            assert certs.is_readable(cert)
        return judge_origin_certificate(
            CertificateFetch(True, der, "TLSv1.2", ""),
            HOST,
            trusted_cas=None,
            expected_cert=None,
            min_days_remaining=30,
        )


@budget(200)
@given(certificates())
def test_a_peer_certificate_is_read_whole_or_refused_in_one_way(der: bytes) -> None:
    check = bounded(lambda: _read_and_judge(der), seconds=5.0, peak_bytes=8 * 1024 * 1024)

    assert check.status in (Status.FAIL, Status.INCONCLUSIVE)
