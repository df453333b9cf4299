"""Serve one Pulumi program to the real CLI the way the Automation API serves an inline program.

``VENV/bin/python tests/e2e/program_host.py DIR`` runs the Python SDK's own language server
(``pulumi.automation._server.LanguageServer``, what ``Stack.up(program=...)`` starts) for ``DIR/__main__.py`` on a
loopback port, prints the port as its first stdout line, and serves until its stdin closes. The tests then run
``pulumi up --client 127.0.0.1:PORT`` (the flag the Automation API passes). Used only where no
``pulumi-language-python`` is installed (scripts/pulumi-toolchain says why it cannot be built here): the engine, the
backend, the dynamic-provider host and the plugins are the real ones either way; what differs is who runs
``__main__.py`` (tests/e2e/README.md).
"""

from __future__ import annotations

import os
import runpy
import sys
from concurrent import futures
from pathlib import Path

import grpc
from pulumi.automation._server import LanguageServer
from pulumi.runtime.proto import language_pb2_grpc

# As the Automation API sets its server up (pulumi/automation/_stack.py, _GRPC_CHANNEL_OPTIONS).
_MAX_MESSAGE = 400 * 1024 * 1024
_OPTIONS = [("grpc.max_receive_message_length", _MAX_MESSAGE), ("grpc.max_send_message_length", _MAX_MESSAGE)]


def main(argv: list[str]) -> int:
    program_dir = Path(argv[0]).resolve()
    main_file = program_dir / "__main__.py"
    # What pulumi-language-python-exec does for a program directory: run from it, import from it.
    # (This file is run by path, so sys.path[0] is its own folder until replaced: nothing of this checkout leaks into
    # the program's imports, which come from the interpreter's virtualenv.)
    os.chdir(program_dir)
    sys.path[0] = str(program_dir)

    def program() -> None:
        runpy.run_path(str(main_file), run_name="__main__")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=_OPTIONS)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageServer(program), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
