"""``python -m origin_tls verify | sandbox | demo``.

The ``verify`` contract (options, exit codes, JSON) is stable: DESIGN.md "The verification contract". Every input is
validated before anything is probed; bad usage or bad input exits 2 with one line on stderr naming the field.
Targets come from HOSTNAME arguments, ``--inventory FILE`` (``inventory.py``), or both: the inventory's first, in
file order, then the arguments. The report goes to stdout, or atomically to ``--output FILE``, as ``--format``
``table``, ``json``, ``junit`` or ``prometheus`` (``formats.py``).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TextIO

from .baseline import (
    DEFAULT_API_URL,
    DEFAULT_HSTS_MAX_AGE,
    DEFAULT_MIN_DAYS_REMAINING,
    DEFAULT_TIMEOUT,
    Baseline,
    parse_api_url,
    parse_deadline,
    parse_timeout,
)
from .errors import InvalidInput
from .interrupts import EXIT_INTERRUPTED, INTERRUPTED_MESSAGE, handle_interrupts
from .inventory import build_targets, load_inventory
from .numbers import ascii_int
from .output import FORMATS, parse_output_path, write_atomic
from .progress import progress_for
from .verify import MAX_WORKERS, Target, VerifyOptions, verify

if TYPE_CHECKING:
    from .report import Report

# The report, its renderers and json are imported while the probes wait on the network (verify loads the report,
# _writer the rest): a run's first connection waits for nothing it does not need (issue 17).

__all__ = ["build_parser", "main", "render_table"]

TOKEN_ENV = "CLOUDFLARE_API_TOKEN"  # noqa: S105 (the variable's name, not a token)


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # argparse would print the whole usage and exit 2; we keep exit 2 with one actionable line. Its message
        # quotes arguments as given: a newline or an escape sequence in one is shown escaped (found by tests/fuzz).
        raise _UsageError(f"{self.prog}: {_one_line(message)}")


def _one_line(text: str) -> str:
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="origin_tls", description="Prove a Cloudflare zone's end-to-end TLS posture.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_verify_arguments(sub.add_parser("verify", help=_VERIFY_HELP))
    # Listed for --help; main() hands their arguments to origin_tls.sandbox.cli and origin_tls.demo untouched.
    sub.add_parser("sandbox", help="run a local sandbox zone until interrupted (--json: its addresses on one line)")
    sub.add_parser("demo", help="the whole story against a fresh local sandbox zone")
    return parser


_VERIFY_HELP = "probe the edge, the origin and the zone settings against the baseline"


def _verify_parser() -> argparse.ArgumentParser:
    """``verify``'s parser alone: the same program name, options and messages as :func:`build_parser`'s subcommand,
    without building the whole tree (~2 ms of CPU before a run's first connection, issue 17)."""
    return _add_verify_arguments(_Parser(prog="origin_tls verify"))


def _add_verify_arguments(v: argparse.ArgumentParser) -> argparse.ArgumentParser:
    v.add_argument("hostnames", nargs="*", metavar="HOSTNAME", help="targets (after the --inventory ones, if any)")
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
    v.add_argument(
        "--require-pq",
        action="store_true",
        help="the second hop must be post-quantum: the origin negotiates X25519MLKEM768, the zone enforces pqh",
    )
    v.add_argument(
        "--min-days",
        metavar="N",
        default=str(DEFAULT_MIN_DAYS_REMAINING),
        help="origin and client certificates must stay valid N more days (default 30)",
    )
    v.add_argument(
        "--timeout",
        metavar="S",
        default=str(DEFAULT_TIMEOUT),
        help="bounds each probe as a whole: connect, handshake, request and the whole answer (default 5)",
    )
    v.add_argument("--deadline", metavar="S", help="bounds the whole run; what is unfinished then is inconclusive")
    v.add_argument(
        "--concurrency", metavar="N", default=str(MAX_WORKERS), help=f"probes in flight (default {MAX_WORKERS})"
    )
    v.add_argument("--inventory", metavar="FILE", help="targets and their options from a YAML or JSON file")
    v.add_argument("--format", metavar="F", help="table (default), json, junit or prometheus")
    v.add_argument("--output", metavar="FILE", help="write the report to FILE, atomically, instead of stdout")
    v.add_argument("--json", action="store_true", help="the report as JSON (--format json)")
    return v


def _api_url(value: str) -> str:
    return parse_api_url(value, field_name="--api-url")


#: Threads are cheap (each probe is one socket waiting), but past this a typo would open thousands of sockets.
MAX_CONCURRENCY = 1024


def _concurrency(value: str) -> int:
    allowed = f"a whole number from 1 to {MAX_CONCURRENCY}"
    number = ascii_int(value.strip(), max_digits=6)
    if number is None or not 1 <= number <= MAX_CONCURRENCY:
        raise InvalidInput("--concurrency", value, allowed)
    return number


def _build(args: argparse.Namespace) -> tuple[list[Target], VerifyOptions, Baseline]:
    """Every target fully resolved (``inventory.py``: keys, precedence, PEM files read and checked) and the run's
    options (timeout, deadline, concurrency). Raises InvalidInput naming the flag, file, target or key."""
    if not args.hostnames and args.inventory is None:
        raise _UsageError("origin_tls verify: give HOSTNAME arguments, --inventory FILE, or both")
    options = VerifyOptions(
        api_url=_api_url(args.api_url),
        timeout=parse_timeout(args.timeout, field_name="--timeout"),
        deadline=None if args.deadline is None else parse_deadline(args.deadline, field_name="--deadline"),
        concurrency=_concurrency(args.concurrency),
    )
    flags = {
        "edge": args.edge,
        "edge_http": args.edge_http,
        "origin": args.origin,
        "origin_ca": args.origin_ca,
        "origin_cert": args.origin_cert,
        "edge_ca": args.edge_ca,
        "client_cert": args.client_cert,
        "client_key": args.client_key,
        "zone_id": args.zone_id,
        "api_url": options.api_url,
        "min_tls": args.min_tls,
        "hsts_max_age": args.hsts_max_age,
        "hsts_include_subdomains": not args.no_hsts_include_subdomains,
        "hsts_preload": args.hsts_preload,
        "aop": not args.no_aop,
        "min_days": args.min_days,
        "require_pq": args.require_pq,
    }
    defaults = {key: value for key, value in flags.items() if value is not None}
    if args.inventory is None:
        targets = build_targets(args.hostnames, defaults=defaults)
    else:
        targets = load_inventory(args.inventory, defaults=defaults, hostnames=args.hostnames)
    # Every target carries its own baseline and options: the run's baseline is only verify's fallback.
    return targets, options, targets[0].baseline or Baseline()


def render_table(report: Report) -> str:
    """The human report: one line per check, the reason under anything that did not pass."""
    from .report import Status

    mark = {Status.PASS: "pass", Status.FAIL: "FAIL", Status.INCONCLUSIVE: "inconclusive", Status.SKIPPED: "skipped"}
    lines: list[str] = []
    for target in report.targets:
        lines.append(f"{target.hostname}: {'ok' if target.ok else 'NOT OK'}")
        width = max(len(c.id) for c in target.checks)
        for check in target.checks:
            shown = check.observed if check.status is not Status.SKIPPED else ""
            lines.append(f"  {mark[check.status]:<12} {check.id:<{width}}  {shown}".rstrip())
            if check.status in (Status.FAIL, Status.INCONCLUSIVE):
                lines.append(f"  {'':<12} {'':<{width}}  expected: {check.expected}")
                if check.detail:
                    lines.append(f"  {'':<12} {'':<{width}}  why: {check.detail}")
    counts = {status: len(report.with_status(status)) for status in Status}
    lines.append(", ".join(f"{counts[s]} {s.value}" for s in Status))
    return "\n".join(lines)


def _verify(args: argparse.Namespace, stdout: TextIO) -> int:
    report_format = _report_format(args)
    output = None if args.output is None else parse_output_path(args.output, field_name="--output")
    targets, options, baseline = _build(args)
    token = os.environ.get(TOKEN_ENV) or None
    started, clock = time.time(), time.monotonic()
    progress = progress_for(sys.stderr, len(targets))  # main()'s stderr= is for messages; a tty is sys.stderr
    try:
        report = verify(
            targets, baseline, options, api_token=token, progress=progress, while_probing=_writer(report_format)
        )
    finally:
        if progress is not None:
            progress.close()
    text = _render(report, report_format, targets, started=started, duration=time.monotonic() - clock)
    if output is None:
        stdout.write(text)
    else:
        try:
            write_atomic(output, text)
        except OSError as exc:  # a full disk, a directory gone since the run started: the path, never a traceback
            raise InvalidInput("--output", output, f"a writable file ({exc.strerror or type(exc).__name__})") from None
    return report.exit_code


def _writer(report_format: str) -> Callable[[], None]:
    """Loads what writes the report, for verify to call while its probes wait on the network (issue 17): after the
    last answer it would be on the run's critical path, before the first connection in front of it."""

    def load() -> None:
        if report_format == "json":
            import json  # noqa: F401
        elif report_format != "table":
            from . import formats  # noqa: F401

    return load


def _report_format(args: argparse.Namespace) -> str:
    if args.format is not None and args.format not in FORMATS:
        raise InvalidInput("--format", args.format, FORMATS)
    if args.json and args.format not in (None, "json"):
        raise InvalidInput("--format", args.format, "json or absent when --json is given (--json is --format json)")
    return "json" if args.json else args.format or "table"


def _render(report: Report, report_format: str, targets: Sequence[Target], *, started: float, duration: float) -> str:
    if report_format == "json":
        import json

        return json.dumps(report.to_dict(), indent=2) + "\n"
    if report_format == "junit":
        from .formats import render_junit

        return render_junit(report, timestamp=started, duration=duration)
    if report_format == "prometheus":
        from .formats import certificate_expiry, render_prometheus

        expiry = certificate_expiry(report)
        return render_prometheus(report, run_timestamp=started, run_duration=duration, certificate_expiry=expiry)
    return render_table(report) + "\n"


def _exit_bad_input() -> int:
    from .report import EXIT_BAD_INPUT

    return EXIT_BAD_INPUT


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
        args = None
        if arguments[:1] == ["verify"]:
            args, unknown = _verify_parser().parse_known_args(arguments[1:])
            if unknown:  # the whole tree says it, in the words users have seen ("origin_tls: unrecognized ...")
                args = None
        if args is None:  # --help, no command, or verify's unknown arguments
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
        return _exit_bad_input()
    except InvalidInput as exc:
        err.write(f"origin_tls: {exc}\n")
        return _exit_bad_input()
    except KeyboardInterrupt:
        err.write(INTERRUPTED_MESSAGE)
        return EXIT_INTERRUPTED
