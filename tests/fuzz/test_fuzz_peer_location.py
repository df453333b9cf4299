"""Fuzzing the redirect judge with Location values a peer can send (issue 18, finding 2): schemes, userinfo,
hosts (bracketed or broken), ports (digits of any script or size, letters) and paths, right or broken.

Contract: :func:`judge_https_redirect` never raises and says ``pass`` or ``fail`` (it was reached), within 2 s of
wall time (generous) and 256 KiB plus eight times the Location of allocation at the peak; ``pass`` only for
a Location that is ``https://`` + the hostname (case, a trailing dot, an empty or 443 port, userinfo without a user
name aside) + an empty or ``/`` path (a query or fragment aside); and every Location of that form passes.
"""

from __future__ import annotations

import re

from hypothesis import given

from origin_tls.checks_judges import judge_https_redirect
from origin_tls.probe_results import RedirectResult
from origin_tls.report import Status

from .peer_strategies import bounded, budget, locations

HOST = "a.example.com"
# What urllib.parse.urlsplit drops before splitting (WHATWG: C0 controls and space at the start; tab, CR, LF
# anywhere) and what str.strip() drops at both ends.
_C0_OR_SPACE = "".join(chr(c) for c in range(0x21))
SAME_HOST_HTTPS = re.compile(
    r"https://(?::[^@/?#]*@|@)?a\.example\.com\.?(?::(?:0*443)?)?/?(?:[?#].*)?", re.IGNORECASE | re.DOTALL
)


def _normalised(location: str) -> str:
    text = location.strip().lstrip(_C0_OR_SPACE)
    return re.sub("[\t\r\n]", "", text)


@budget(400)
@given(locations())
def test_the_redirect_judge_keeps_its_contract(location: str) -> None:
    result = RedirectResult(True, 301, location, "")
    check = bounded(lambda: judge_https_redirect(result, HOST), seconds=2.0, peak_bytes=256 * 1024 + 8 * len(location))

    assert check.status in (Status.PASS, Status.FAIL)
    same = SAME_HOST_HTTPS.fullmatch(_normalised(location)) is not None
    assert (check.status is Status.PASS) is same, (location, check)
