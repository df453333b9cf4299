"""Fuzz target: PEM files a user names (``--edge-ca``, ``--origin-ca``, ``--origin-cert``, ``--client-cert`` and
``--client-key``, or the same keys in an inventory).

Contract: reading them as ``verify`` does before anything is probed (:func:`~origin_tls.inventory.build_targets`:
read bounded, parse, check the key belongs to the certificate; then ``verify``'s planning, which loads the client
identity into OpenSSL, and the report's client expiry) gives targets or raises :class:`~origin_tls.errors.InvalidInput`
naming the flag, within the contract's CPU and memory bounds, and no message quotes a private key. A CA file that
got that far loads into an ``ssl`` context or raises what the probe catches (``ssl.SSLError``, ``ValueError``).

Inputs are structure-aware: real certificates and keys (RSA and ECDSA, from trustme) whose DER is mutated and then
armoured again as PEM (so the parser gets past base64 into ASN.1), blocks with other labels, RFC 1421 headers,
several blocks, whitespace and line-ending variations, and mutations of the armoured text itself.
"""

from __future__ import annotations

import base64
import ssl
import tempfile
import textwrap
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from origin_tls import verify as verify_module
from origin_tls.baseline import Baseline
from origin_tls.errors import InvalidInput
from origin_tls.inventory import build_targets
from origin_tls.tls_client import verifying_context
from origin_tls.verify import VerifyOptions
from tests.fuzz.contract import holds, warm_up
from tests.fuzz.grammar import mutated

warm_up()  # lazy imports of the package, before the first input is timed


def _material() -> dict[str, bytes]:
    import trustme

    found: dict[str, bytes] = {}
    for kind in ("rsa", "ecdsa"):
        ca = trustme.CA(key_type=trustme.KeyType.RSA if kind == "rsa" else trustme.KeyType.ECDSA)
        leaf = ca.issue_cert(
            "app.example.com", key_type=trustme.KeyType.RSA if kind == "rsa" else trustme.KeyType.ECDSA
        )
        found[f"{kind}-ca"] = ca.cert_pem.bytes()
        found[f"{kind}-cert"] = leaf.cert_chain_pems[0].bytes()
        found[f"{kind}-key"] = leaf.private_key_pem.bytes()
    return found


MATERIAL = _material()
KEY_MARK = b"PRIVATE KEY-----\n"
_LABELS = [
    b"CERTIFICATE",
    b"PRIVATE KEY",
    b"RSA PRIVATE KEY",
    b"EC PRIVATE KEY",
    b"ENCRYPTED PRIVATE KEY",
    b"X509 CRL",
    b"TRUSTED CERTIFICATE",
    b"PUBLIC KEY",
    b"CERTIFICATE REQUEST",
    b"",
]


def _der(pem: bytes) -> bytes:
    body = b"".join(line for line in pem.splitlines() if line and not line.startswith(b"-----"))
    return base64.b64decode(body)


def _armour(label: bytes, der: bytes, *, headers: bytes = b"", width: int = 64, eol: bytes = b"\n") -> bytes:
    lines = textwrap.wrap(base64.b64encode(der).decode(), width) if width else [base64.b64encode(der).decode()]
    body = eol.join(line.encode() for line in lines)
    return b"-----BEGIN " + label + b"-----" + eol + headers + body + eol + b"-----END " + label + b"-----" + eol


@st.composite
def blocks(draw: st.DrawFn) -> bytes:
    source = draw(st.sampled_from(sorted(MATERIAL)))
    pem = MATERIAL[source]
    kind = draw(st.sampled_from(["as is", "der", "der", "label", "text"]))
    if kind == "as is":
        return pem
    if kind == "text":
        return draw(mutated(pem))
    der = _der(pem)
    if kind == "der":
        der = draw(mutated(der, max_edits=4))
    label = b"PRIVATE KEY" if KEY_MARK in pem else b"CERTIFICATE"
    if kind == "label":
        label = draw(st.sampled_from(_LABELS))
    headers = draw(st.sampled_from([b"", b"Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n", b"X: y\n\n"]))
    return _armour(
        label,
        der,
        headers=headers,
        width=draw(st.sampled_from([64, 76, 0, 1])),
        eol=draw(st.sampled_from([b"\n", b"\r\n", b"\r"])),
    )


@st.composite
def pem_files(draw: st.DrawFn) -> bytes:
    parts = draw(st.lists(blocks(), min_size=0, max_size=3))
    glue = draw(st.sampled_from([b"", b"\n", b"junk before\n", b"\x00", b"\xef\xbb\xbf"]))
    return glue.join(parts)


_TEMP = tempfile.TemporaryDirectory(prefix="fuzz-pem-")  # no pytest fixture: atheris calls with bytes alone


_FLAGS = {"edge_ca": "--edge-ca", "origin_ca": "--origin-ca", "origin_cert": "--origin-cert"}


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    key=st.sampled_from(["edge_ca", "origin_ca", "origin_cert", "client_pair"]), first=pem_files(), second=pem_files()
)
def test_a_pem_file_is_read_or_refused_naming_its_flag(key: str, first: bytes, second: bytes) -> None:
    folder = Path(_TEMP.name)
    (folder / "first.pem").write_bytes(first)
    (folder / "second.pem").write_bytes(second)
    if key == "client_pair":
        defaults = {"client_cert": str(folder / "first.pem"), "client_key": str(folder / "second.pem")}
        flags = ("--client-cert", "--client-key")
    else:
        defaults = {key: str(folder / "first.pem")}
        flags = (_FLAGS[key],)
    defaults["origin"] = "127.0.0.1:1"  # a client identity is loaded only for a target with an origin (not contacted)

    def plan() -> object:
        targets = build_targets(["app.example.com"], defaults=defaults)
        options = targets[0].options
        assert options is not None
        verify_module._resolve(targets, Baseline(), options, None)
        if options.client_cert_pem is not None:
            verify_module._client_not_after(options.client_cert_pem)
        return options

    outcome = holds(plan, allowed=(InvalidInput,))
    if isinstance(outcome, VerifyOptions):
        # What the edge probe (edge_ca) and the origin probe (origin_ca) hand OpenSSL
        for text in (outcome.edge_ca_pem, outcome.origin_ca_pem):
            if text is not None:
                holds(lambda text=text: verifying_context.__wrapped__(text), allowed=(ssl.SSLError, ValueError))
    event("refused" if isinstance(outcome, InvalidInput) else "read")
    if isinstance(outcome, InvalidInput):
        message = str(outcome)
        assert message.startswith(flags), message[:200]
        for pem in (first, second):
            if KEY_MARK in pem:  # no line of a key's base64 is ever quoted
                body = [line for line in pem.splitlines() if len(line) > 20 and not line.startswith(b"-----")]
                assert not any(line.decode("latin-1") in message for line in body)
