"""``python -m origin_tls verify | sandbox | demo``.

The ``verify`` contract (options, exit codes, JSON) is stable: DESIGN.md "The verification contract". Every input is
validated before anything is probed; bad usage or bad input exits 2 with one line on stderr naming the field.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import TextIO
from urllib.parse import urlsplit

from . import certs
from .baseline import (
    DEFAULT_HSTS_MAX_AGE,
    DEFAULT_TIMEOUT,
    AopMode,
    Baseline,
    parse_baseline,
    parse_endpoint,
    parse_hostnames,
    parse_hsts_max_age,
    parse_readable_file,
    parse_timeout,
    parse_tls_version,
    parse_zone_id,
)
from .cloudflare import DEFAULT_API_URL
from .errors import InvalidInput
from .interrupts import EXIT_INTERRUPTED, INTERRUPTED_MESSAGE, handle_interrupts
from .report import EXIT_BAD_INPUT, Report, Status
from .verify import Target, VerifyOptions, verify

__all__ = ["build_parser", "main", "render_table"]

TOKEN_ENV = "CLOUDFLARE_API_TOKEN"  # noqa: S105 (the variable's name, not a token)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse would print the whole usage and exit 2; we keep exit 2 with one actionable line.
        raise _UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="origin_tls", description="Prove a Cloudflare zone's end-to-end TLS posture.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    v = sub.add_parser("verify", help="probe the edge, the origin and the zone settings against the baseline")
    v.add_argument("hostnames", nargs="+", metavar="HOSTNAME")
    v.add_argument("--edge", metavar="HOST[:PORT]", help="connect here for the edge checks (default: HOSTNAME:443)")
    v.add_argument("--edge-http", metavar="HOST[:PORT]", help="plain-HTTP redirect check (default: edge host:80)")
    v.add_argument("--origin", metavar="HOST[:PORT]", help="the origin server, reached directly with SNI = HOSTNAME")
    v.add_argument("--origin-ca", metavar="FILE", help="PEM CAs for the origin (default: Cloudflare Origin CA)")
    v.add_argument("--origin-cert", metavar="FILE", help="the exact certificate the origin must serve")
    v.add_argument("--edge-ca", metavar="FILE", help="PEM CAs for the edge certificate (default: system store)")
    v.add_argument("--client-cert", metavar="FILE", help="an authorised origin-pull client certificate")
    v.add_argument("--client-key", metavar="FILE", help="its private key")
    v.add_argument("--zone-id", metavar="ID", help=f"also read the zone's settings (token from {TOKEN_ENV})")
    v.add_argument("--api-url", metavar="URL", default=DEFAULT_API_URL)
    v.add_argument("--min-tls", metavar="V", default="1.2", help="1.0..1.3 (default 1.2)")
    v.add_argument("--hsts-max-age", metavar="N", default=str(DEFAULT_HSTS_MAX_AGE))
    v.add_argument("--no-hsts-include-subdomains", action="store_true")
    v.add_argument("--hsts-preload", action="store_true")
    v.add_argument("--no-aop", action="store_true")
    v.add_argument("--timeout", metavar="S", default=str(DEFAULT_TIMEOUT))
    v.add_argument("--json", action="store_true", help="the report as JSON on stdout")

    # Listed for --help; main() hands their arguments to origin_tls.sandbox.cli and origin_tls.demo untouched.
    sub.add_parser("sandbox", help="run a local sandbox zone until interrupted (--json: its addresses on one line)")
    sub.add_parser("demo", help="the whole story against a fresh local sandbox zone")
    return parser


def _read_text(path: str | None, field_name: str) -> str | None:
    if path is None:
        return None
    readable = parse_readable_file(path, field_name=field_name)
    try:
        with open(readable, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        raise InvalidInput(field_name, path, "a readable PEM file") from None


def _api_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("--api-url", value, "an http(s) URL such as https://api.cloudflare.com/client/v4")
    return value.rstrip("/")


def _build(args: argparse.Namespace) -> tuple[list[Target], VerifyOptions, Baseline]:
    hostnames = parse_hostnames(args.hostnames, field_name="HOSTNAME")
    edge = parse_endpoint(args.edge, field_name="--edge", default_port=443) if args.edge else None
    edge_http = parse_endpoint(args.edge_http, field_name="--edge-http", default_port=80) if args.edge_http else None
    origin = parse_endpoint(args.origin, field_name="--origin", default_port=443) if args.origin else None
    baseline = parse_baseline(
        min_tls=parse_tls_version(args.min_tls, field_name="--min-tls"),
        hsts_max_age=parse_hsts_max_age(args.hsts_max_age, field_name="--hsts-max-age"),
        hsts_include_subdomains=not args.no_hsts_include_subdomains,
        hsts_preload=args.hsts_preload,
        aop=AopMode.OFF if args.no_aop else None,
    )
    timeout = parse_timeout(args.timeout, field_name="--timeout")
    if (args.client_cert is None) != (args.client_key is None):
        missing = "--client-key" if args.client_key is None else "--client-cert"
        raise InvalidInput(missing, None, "given together with --client-cert/--client-key")
    origin_ca = _read_text(args.origin_ca, "--origin-ca")
    origin_cert = _read_text(args.origin_cert, "--origin-cert")
    edge_ca = _read_text(args.edge_ca, "--edge-ca")
    client_cert = _read_text(args.client_cert, "--client-cert")
    client_key = _read_text(args.client_key, "--client-key")
    for text, name, path in (
        (origin_ca, "--origin-ca", args.origin_ca),
        (origin_cert, "--origin-cert", args.origin_cert),
        (edge_ca, "--edge-ca", args.edge_ca),
        (client_cert, "--client-cert", args.client_cert),
    ):
        if text is not None:
            try:
                certs.load_pem_certificates(text, field_name=name)
            except InvalidInput:
                raise InvalidInput(name, path, "a PEM file holding at least one certificate") from None
    if client_key is not None:
        try:
            certs.load_private_key_pem(client_key)
        except InvalidInput:
            raise InvalidInput("--client-key", args.client_key, "a PEM private key file") from None
    if client_cert is not None and client_key is not None:
        try:
            certs.check_key_pair(client_cert, client_key, cert_field="--client-cert", key_field="--client-key")
        except InvalidInput as exc:  # the same rule, naming the file instead of the redacted key
            raise InvalidInput("--client-key", args.client_key, exc.allowed) from None
    options = VerifyOptions(
        origin_ca_pem=origin_ca,
        origin_cert_pem=origin_cert,
        edge_ca_pem=edge_ca,
        client_cert_pem=client_cert,
        client_key_pem=client_key,
        zone_id=parse_zone_id(args.zone_id, field_name="--zone-id") if args.zone_id is not None else None,
        api_url=_api_url(args.api_url),
        timeout=timeout,
    )
    targets = [Target(h, edge=edge, edge_http=edge_http, origin=origin) for h in hostnames]
    return targets, options, baseline


_MARK = {Status.PASS: "pass", Status.FAIL: "FAIL", Status.INCONCLUSIVE: "inconclusive", Status.SKIPPED: "skipped"}


def render_table(report: Report) -> str:
    """The human report: one line per check, the reason under anything that did not pass."""
    lines: list[str] = []
    for target in report.targets:
        lines.append(f"{target.hostname}: {'ok' if target.ok else 'NOT OK'}")
        width = max(len(c.id) for c in target.checks)
        for check in target.checks:
            shown = check.observed if check.status is not Status.SKIPPED else ""
            lines.append(f"  {_MARK[check.status]:<12} {check.id:<{width}}  {shown}".rstrip())
            if check.status in (Status.FAIL, Status.INCONCLUSIVE):
                lines.append(f"  {'':<12} {'':<{width}}  expected: {check.expected}")
                if check.detail:
                    lines.append(f"  {'':<12} {'':<{width}}  why: {check.detail}")
    counts = {status: len(report.with_status(status)) for status in Status}
    lines.append(", ".join(f"{counts[s]} {s.value}" for s in Status))
    return "\n".join(lines)


def _verify(args: argparse.Namespace, stdout: TextIO) -> int:
    targets, options, baseline = _build(args)
    token = os.environ.get(TOKEN_ENV) or None
    report = verify(targets, baseline, options, api_token=token)
    if args.json:
        stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
    else:
        stdout.write(render_table(report) + "\n")
    return report.exit_code


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        # sandbox and demo own their options (argparse's REMAINDER would not pass "--json" through).
        if arguments[:1] == ["sandbox"]:
            from .sandbox.cli import run_sandbox

            return int(run_sandbox(arguments[1:]))
        if arguments[:1] == ["demo"]:
            from .demo import run_demo

            return int(run_demo(arguments[1:]))
        args = build_parser().parse_args(arguments)
        # As the program (no argv given), an interrupt also ends the process within a second whatever its probe
        # threads are doing (origin_tls.interrupts says why); called as a function, main() only returns 130.
        with handle_interrupts(hard_exit=argv is None) as message_written:
            try:
                return _verify(args, out)
            except KeyboardInterrupt:
                message_written.set()
                err.write(INTERRUPTED_MESSAGE)
                err.flush()
                return EXIT_INTERRUPTED
    except _UsageError as exc:
        err.write(f"{exc}\n")
        return EXIT_BAD_INPUT
    except InvalidInput as exc:
        err.write(f"origin_tls: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        err.write(INTERRUPTED_MESSAGE)
        return EXIT_INTERRUPTED
