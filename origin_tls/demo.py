"""``python -m origin_tls demo``: the whole story against a fresh local sandbox zone, in a few seconds.

1. A fresh zone (Flexible SSL, TLS 1.0 floor, no HSTS) in front of the sandbox's post-quantum origin (nginx runs
   beside it): ``verify`` fails.
2. Harden it through the package's own API calls (:mod:`origin_tls.harden`, the requests the Pulumi layer makes):
   zone settings, an Origin CA certificate (key made here), zone-level Authenticated Origin Pulls with our own CA;
   configure the origin with the certificate and the pull CA; prove the origin negotiates X25519MLKEM768, then
   require it (``origin_tls_compliance_modes = ["pqh"]``). ``verify --require-pq``: every check passes.
3. Drift, one kind at a time; each must be caught by exactly the checks that watch it, and the restore must pass.
   ``edge.origin_pull`` watches the pull itself: the sandbox edge answers like Cloudflare (526 for an origin
   certificate Full (Strict) cannot validate, 525 when the origin refuses the client certificate in the handshake).

Exit 0 only when every step behaved as described; 1 otherwise; 130 when interrupted (Ctrl-C or SIGTERM). Every
process and thread the demo started is stopped in all three cases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import FrameType
from typing import TextIO

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from .baseline import AopMode, Baseline, KeyType
from .certs import build_client_ca, certificate_to_pem, generate_private_key, private_key_to_pem
from .cloudflare import CloudflareClient
from .errors import OriginTlsError
from .harden import IssuedCertificate, enable_zone_aop, harden_zone, issue_origin_certificate, require_post_quantum
from .report import Report, Status
from .sandbox.origin import OriginConfig
from .sandbox.pq_origin import PqOrigin
from .sandbox.runner import DEFAULT_HOSTNAME, Sandbox
from .verify import VerifyOptions, verify

__all__ = ["DEMO_BASELINE", "DRIFTS", "DemoZone", "Drift", "build_self_signed", "run_demo"]

#: The baseline the demo hardens to: the default one, with zone-level AOP (our own client CA) and post-quantum key
#: agreement on the second hop (``--require-pq``) required.
DEMO_BASELINE = Baseline(aop=AopMode.ZONE, require_pq=True)
EXIT_INTERRUPTED = 130


class _Interrupted(BaseException):
    """SIGTERM, turned into an exception so ``finally`` blocks stop the sandbox."""


@dataclass(frozen=True)
class Drift:
    """One way a hardened zone drifts: what is done, how it is undone, and the checks that must catch it."""

    title: str
    caught_by: frozenset[str]
    apply: Callable[[DemoZone], None]
    restore: Callable[[DemoZone], None]


class DemoZone:
    """What the steps act on: the running sandbox, an API client, and (after :meth:`harden`) what hardening
    produced: the origin configuration to restore and the ``verify`` options that pin it."""

    def __init__(self, sandbox: Sandbox, client: CloudflareClient) -> None:
        self.sandbox = sandbox
        self.client = client
        self.zone_id = sandbox.zone_id
        self.hardened_origin: OriginConfig | None = None
        self.certificate: IssuedCertificate | None = None
        self.options: VerifyOptions | None = None
        #: The zone-level AOP certificate a drift uploaded from a CA the origin does not trust (until restored).
        self.foreign_aop_id: str | None = None

    def harden(self, baseline: Baseline = DEMO_BASELINE) -> VerifyOptions:
        """What a user's stack does: zone settings, an Origin CA certificate (key made here), zone-level AOP with our
        own client CA; then the origin is configured with both. Returns the ``verify`` options for the result (the
        issued certificate pinned, the uploaded client certificate as the authorised one)."""
        harden_zone(self.client, self.zone_id, baseline)
        self.certificate = issue_origin_certificate(
            self.client, hostnames=[self.sandbox.hostname], key_type=KeyType.ECDSA_P256
        )
        aop = enable_zone_aop(self.client, self.zone_id, build_client_ca("origin-tls demo origin-pull CA"))
        self.hardened_origin = OriginConfig(
            certificate_pem=self.certificate.certificate_pem,
            private_key_pem=self.certificate.private_key_pem,
            client_ca_pem=aop.ca_pem,
        )
        self.origin(self.hardened_origin)
        if baseline.require_pq:
            origin = self.sandbox.origin
            if origin is None:
                raise RuntimeError("the sandbox origin is not running")
            require_post_quantum(self.client, self.zone_id, origin=origin.https, hostnames=[self.sandbox.hostname])
        self.options = self.sandbox.verify_options(
            origin_cert_pem=self.certificate.certificate_pem,
            client_cert_pem=aop.certificate_pem,
            client_key_pem=aop.private_key_pem,
        )
        return self.options

    def setting(self, setting_id: str, value: object) -> None:
        self.client.edit_setting(self.zone_id, setting_id, value)

    def origin(self, config: OriginConfig) -> None:
        if self.sandbox.origin is None:
            raise RuntimeError("the sandbox origin is not running")
        self.sandbox.origin.reconfigure(config)

    def auto_origin_tls_kex(self, enabled: bool) -> None:
        self.client.set_auto_origin_tls_kex(self.zone_id, enabled)

    def origin_post_quantum(self, enabled: bool) -> None:
        """Give the post-quantum origin ML-KEM, or take it away (a rebuild on an OpenSSL without it)."""
        origin = self.sandbox.origin
        if not isinstance(origin, PqOrigin):
            raise RuntimeError("the sandbox runs no post-quantum origin (Sandbox(pq_origin=True))")
        origin.set_post_quantum(enabled)

    def restore_origin(self) -> None:
        if self.hardened_origin is None:
            raise RuntimeError("the origin was never hardened")
        self.origin(self.hardened_origin)


def build_self_signed(hostname: str) -> tuple[str, str]:
    """A self-signed certificate for ``hostname`` and its key (PEM): what a hurried admin might install."""
    key = generate_private_key(KeyType.ECDSA_P256)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return certificate_to_pem(cert), private_key_to_pem(key)


def _self_signed_origin(story: DemoZone) -> None:
    assert story.hardened_origin is not None
    cert, key = build_self_signed(story.sandbox.hostname)
    story.origin(replace(story.hardened_origin, certificate_pem=cert, private_key_pem=key))


def _foreign_zone_aop_certificate(story: DemoZone) -> None:
    # What a second team (or a hurried rotation) does: upload a newer zone-level certificate from its own CA. It
    # becomes the newest active one, so Cloudflare presents it, and the origin, trusting only our CA, refuses it.
    other = build_client_ca("another team's origin-pull CA")
    uploaded = enable_zone_aop(story.client, story.zone_id, other, common_name="origin-tls demo foreign pull")
    story.foreign_aop_id = uploaded.certificate_id


def _remove_foreign_zone_aop_certificate(story: DemoZone) -> None:
    if story.foreign_aop_id is not None:
        # pending_deletion is no longer active: ours is again the newest active certificate at once.
        story.client.delete_zone_aop_certificate(story.zone_id, story.foreign_aop_id)
        story.foreign_aop_id = None


def _no_aop_origin(story: DemoZone) -> None:
    assert story.hardened_origin is not None
    story.origin(replace(story.hardened_origin, client_ca_pem=None))


_HSTS_ON = DEMO_BASELINE.hsts.zone_value()
_HSTS_OFF = {"strict_transport_security": {**_HSTS_ON["strict_transport_security"], "enabled": False}}

#: The drifts, in the order the demo shows them.
DRIFTS: tuple[Drift, ...] = (
    Drift(
        "SSL mode set to Flexible (edge to origin in plain HTTP)",
        frozenset({"zone.ssl"}),
        lambda s: s.setting("ssl", "flexible"),
        lambda s: s.setting("ssl", "strict"),
    ),
    Drift(
        "minimum TLS version lowered to 1.0",
        frozenset({"edge.min_tls_version", "zone.min_tls_version"}),
        lambda s: s.setting("min_tls_version", "1.0"),
        lambda s: s.setting("min_tls_version", DEMO_BASELINE.min_tls.value),
    ),
    Drift(
        "HSTS turned off",
        frozenset({"edge.hsts", "zone.security_header"}),
        lambda s: s.setting("security_header", _HSTS_OFF),
        lambda s: s.setting("security_header", _HSTS_ON),
    ),
    Drift(
        "Authenticated Origin Pulls turned off at the origin (ssl_verify_client removed)",
        frozenset({"origin.aop"}),
        _no_aop_origin,
        lambda s: s.restore_origin(),
    ),
    Drift(
        "origin certificate swapped for a self-signed one (the edge answers 526)",
        frozenset({"origin.certificate", "edge.origin_pull"}),
        _self_signed_origin,
        lambda s: s.restore_origin(),
    ),
    Drift(
        "a zone-level AOP certificate from another CA uploaded through the API (Cloudflare presents it; the origin"
        " refuses it)",
        frozenset({"zone.aop_certificate", "edge.origin_pull"}),
        _foreign_zone_aop_certificate,
        _remove_foreign_zone_aop_certificate,
    ),
    Drift(
        "Automatic SSL/TLS switched back to auto (it may change the SSL mode by itself)",
        frozenset({"zone.ssl_automatic_mode"}),
        lambda s: s.setting("ssl_automatic_mode", "auto"),
        lambda s: s.setting("ssl_automatic_mode", "custom"),
    ),
    Drift(
        "the origin loses post-quantum support (rebuilt without ML-KEM) while the zone requires it (the edge answers"
        " 525)",
        frozenset({"edge.origin_pull", "origin.pq_key_agreement"}),
        lambda s: s.origin_post_quantum(False),
        lambda s: s.origin_post_quantum(True),
    ),
    Drift(
        "automatic origin key exchange switched off through the API",
        frozenset({"zone.origin_pq"}),
        lambda s: s.auto_origin_tls_kex(False),
        lambda s: s.auto_origin_tls_kex(True),
    ),
)


class _Printer:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        encoding = getattr(out, "encoding", None) or "ascii"
        try:
            "✔✘".encode(encoding)
            self.ok, self.bad = "✔", "✘"
        except (UnicodeEncodeError, LookupError):
            self.ok, self.bad = "[ok]", "[FAIL]"

    def line(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def step(self, good: bool, text: str) -> None:
        self.line(f"  {self.ok if good else self.bad} {text}")


def _failing(report: Report) -> set[str]:
    return {check.id for _, check in report.with_status(Status.FAIL, Status.INCONCLUSIVE)}


def _explain(report: Report, ids: set[str]) -> str:
    parts = []
    for _, check in report.checks():
        if check.id in ids:
            parts.append(f"{check.id} ({check.status.value}: observed {check.observed or '-'})")
    return "; ".join(parts)


def _run(printer: _Printer, sandbox: Sandbox, started: float) -> bool:
    info = sandbox.info
    origin_kind = sandbox.origin.kind if sandbox.origin is not None else "?"
    classic = sandbox.classic_origin
    beside = f"; {classic.kind} origin beside it at {classic.https}" if classic is not None else ""
    printer.step(
        True, f"sandbox up: API {info.api_url}, edge {info.edge}, origin ({origin_kind}) {info.origin}{beside}"
    )
    target = sandbox.target()
    all_good = True

    def check(options: VerifyOptions) -> Report:
        return verify([target], DEMO_BASELINE, options, api_token=sandbox.token)

    with sandbox.client() as client:
        story = DemoZone(sandbox, client)

        # Before: a fresh zone in front of an origin that was set up the classic way.
        before = check(sandbox.verify_options())
        failing = _failing(before)
        good = bool(failing)
        all_good &= good
        total = sum(1 for _ in before.checks())
        printer.step(good, f"fresh zone: {len(failing)} of {total} checks fail ({', '.join(sorted(failing))})")

        # Harden, through the same API calls the Pulumi component makes.
        options = story.harden()
        expires = story.certificate.expires_on if story.certificate else None
        printer.step(
            True,
            "zone hardened through the API: SSL Full (Strict), Automatic SSL/TLS custom, TLS 1.2 minimum, TLS 1.3 on,"
            " Always Use HTTPS, HSTS " + DEMO_BASELINE.hsts.header_value(),
        )
        printer.step(
            True,
            "Origin CA certificate issued (ECDSA P-256, key made locally, expires "
            f"{expires.date().isoformat() if expires else '?'}) and installed at the origin",
        )
        printer.step(
            True, "zone-level Authenticated Origin Pulls on with our own client CA; the origin requires its certificate"
        )
        printer.step(
            True,
            "post-quantum: the origin negotiated X25519MLKEM768 when offered only it, then the zone was set to require"
            " it (origin_tls_compliance_modes pqh, automatic origin key exchange on)",
        )
        hardened = check(options)
        good = hardened.ok
        all_good &= good
        printer.step(
            good,
            f"verify: all {total} checks pass" if good else f"verify after hardening: {hardened.summary()}",
        )

        # Drift, one kind at a time.
        for number, drift in enumerate(DRIFTS, 1):
            printer.line(f"drift {number}/{len(DRIFTS)}: {drift.title}")
            drift.apply(story)
            report = check(options)
            failing = _failing(report)
            good = failing == drift.caught_by
            all_good &= good
            if good:
                printer.step(True, "caught by " + ", ".join(sorted(drift.caught_by)) + "; every other check passes")
            else:
                printer.step(
                    False,
                    f"expected exactly {', '.join(sorted(drift.caught_by))} to fail; failing: "
                    f"{_explain(report, failing) or 'nothing'}",
                )
            drift.restore(story)
            report = check(options)
            good = report.ok
            all_good &= good
            printer.step(good, "restored: every check passes" if good else f"restore did not pass: {report.summary()}")

    elapsed = time.monotonic() - started
    if all_good:
        printer.line(
            f"demo passed in {elapsed:.1f} s: hardened, verified, and each of {len(DRIFTS)} drifts was caught by the"
            " right check."
        )
    else:
        printer.line(f"demo FAILED in {elapsed:.1f} s: a step above did not behave as described.")
    return all_good


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="origin_tls demo", description="Harden a local sandbox zone, verify it, and show drift being caught."
    )
    parser.add_argument(
        "--hostname", default=DEFAULT_HOSTNAME, help=f"the sandbox hostname (default {DEFAULT_HOSTNAME})"
    )
    parser.add_argument(
        "--python-origin", action="store_true", help="use the built-in Python origin even when nginx is installed"
    )
    return parser


def run_demo(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the demo; the exit status (0 every step behaved as described, 1 otherwise, 2 bad usage, 130 interrupted)."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = _parser().parse_args(list(argv))
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int) else 2
    printer = _Printer(out)
    started = time.monotonic()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise _Interrupted

    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    except ValueError:  # not the main thread: Ctrl-C handling still applies to the caller
        previous = None
    try:
        printer.line(f"origin-tls demo: a local sandbox zone for {args.hostname}, hardened, verified, then drifted")
        sandbox = Sandbox(
            args.hostname,
            use_nginx=False if args.python_origin else None,
            follow_zone_aop=False,
            notice=lambda message: print(message, file=err, flush=True),
            pq_origin=True,
        )
        with sandbox:
            return 0 if _run(printer, sandbox, started) else 1
    except (KeyboardInterrupt, _Interrupted):
        print("interrupted: every sandbox process has been stopped", file=err, flush=True)
        return EXIT_INTERRUPTED
    except (OriginTlsError, OSError, RuntimeError) as exc:
        print(f"demo failed: {exc}", file=err, flush=True)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
