"""``python -m origin_tls sandbox [--json]``: run a local sandbox zone until SIGINT/SIGTERM (DESIGN.md "The sandbox
contract"). With ``--json`` the first stdout line is the :class:`~origin_tls.sandbox.runner.SandboxInfo` object, so
scripts, the official Cloudflare SDK and ``verify`` can be pointed at it."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TextIO

from ..errors import OriginTlsError
from .origin import OriginError
from .runner import DEFAULT_HOSTNAME, Sandbox, SandboxInfo

__all__ = ["build_parser", "render_info", "run_sandbox"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="origin_tls sandbox", description="Run a local stand-in for one Cloudflare zone until interrupted."
    )
    parser.add_argument("--json", action="store_true", help="print where everything is as one JSON line first")
    parser.add_argument(
        "--hostname", default=DEFAULT_HOSTNAME, help=f"the zone's hostname (default {DEFAULT_HOSTNAME})"
    )
    parser.add_argument("--python-origin", action="store_true", help="use the built-in Python origin, not nginx")
    parser.add_argument(
        "--pq-origin",
        action="store_true",
        help="also run a post-quantum-capable origin (X25519MLKEM768, pyOpenSSL) beside nginx; the edge pulls from it",
    )
    return parser


def render_info(info: SandboxInfo) -> str:
    """Human-readable summary with a ready-to-paste ``verify`` command."""
    return "\n".join(
        [
            f"sandbox zone {info.zone_id} for {info.hostname}",
            f"  API        {info.api_url}   (token {info.token})",
            f"  edge       https://{info.edge}   http://{info.edge_http}",
            f"  origin     {info.origin}",
            "try:",
            f"  CLOUDFLARE_API_TOKEN={info.token} python -m origin_tls verify {info.hostname} \\",
            f"    --edge {info.edge} --edge-http {info.edge_http} --origin {info.origin} \\",
            f"    --edge-ca {info.edge_ca_file} --origin-ca {info.origin_ca_file} \\",
            f"    --client-cert {info.client_cert_file} --client-key {info.client_key_file} \\",
            f"    --zone-id {info.zone_id} --api-url {info.api_url}",
            "Ctrl-C stops everything.",
        ]
    )


def run_sandbox(argv: Sequence[str], *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Start the sandbox, announce it, wait for SIGINT/SIGTERM, stop everything; 0, or 1 when it cannot start."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    sandbox = Sandbox(
        args.hostname,
        use_nginx=False if args.python_origin else None,
        notice=lambda message: print(message, file=err, flush=True),
        pq_origin=args.pq_origin,
    )
    try:
        try:
            sandbox.start()
        except (OriginTlsError, OriginError, OSError) as exc:
            print(f"sandbox did not start: {exc}", file=err, flush=True)
            return 1
        if args.json:
            print(sandbox.info.to_json(), file=out, flush=True)
        else:
            print(render_info(sandbox.info), file=out, flush=True)
        while not stop.wait(0.5):
            pass
        return 0
    finally:
        sandbox.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
