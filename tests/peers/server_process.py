"""One base for running a real server binary as a test peer: foreground, own process group, parent-death signal.

A subclass says how to find its binary, which files its configuration is, how to start it and what proves it is
up; this base writes the files, picks the ports, starts, waits, and stops. Usage::

    server = ApacheServer(tmp_path / "apache", hostname, listeners)
    with server:                 # start(): every listener's port accepts and the server's own sign is there
        probe_https(server.listener("edge_good").endpoint, ...)

The process runs in its own session (so ``stop()`` signals the whole group, workers included) with
``PR_SET_PDEATHSIG`` = SIGTERM (so a test run killed with SIGKILL does not leave servers on loopback ports).
"""

from __future__ import annotations

import abc
import contextlib
import ctypes
import ctypes.util
import functools
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, TypeVar

from .listeners import Listener, PlainListener, TlsListener, Unsupported

__all__ = [
    "ServerError",
    "ServerProcess",
    "find_binary",
    "listening_ports",
    "pick_ports",
    "port_accepts",
]

_S = TypeVar("_S", bound="ServerProcess")
_START_TIMEOUT = 20.0  # a correctness bound, not a timing: a healthy server is up in well under a second
_STOP_TIMEOUT = 5.0
_PORT_ATTEMPTS = 4
_POLL = 0.05
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_IN_USE = ("Address already in use", "address already in use", "cannot bind socket", "Cannot bind")


class ServerError(RuntimeError):
    """The server is missing, refused its configuration, or did not come up; the message includes its log."""


def find_binary(name: str, *, env: str) -> str | None:
    """``$env`` when set, else ``name`` in /usr/sbin, /usr/bin, then ``PATH``."""
    override = os.environ.get(env)
    if override:
        return override if os.access(override, os.X_OK) else None
    for directory in ("/usr/sbin", "/usr/bin"):
        candidate = os.path.join(directory, name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which(name)


def pick_ports(hosts: Sequence[str]) -> list[int]:
    """One port per host that nobody listens on right now, all different: every socket stays bound until all
    are picked (released one by one, the kernel may hand the same port out twice). Racy by nature against other
    processes: :meth:`ServerProcess.start` picks again on a clash."""
    with contextlib.ExitStack() as stack:
        ports = []
        for host in hosts:
            sock = stack.enter_context(socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET))
            sock.bind((host, 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def port_accepts(host: str, port: int, *, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def listening_ports(pid: int) -> set[int]:
    """TCP ports on which process ``pid`` itself holds a listening socket (Linux procfs): the proof that a port
    that accepts is the server's, not someone else's who took it first."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table, encoding="ascii") as handle:
            next(handle, None)
            for row in handle:
                fields = row.split()
                # local_address is HEXIP:HEXPORT; state 0A is TCP_LISTEN; the inode is the tenth field.
                if len(fields) > 9 and fields[3] == "0A" and fields[9] in inodes:
                    ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def _die_with_parent(parent: int) -> None:
    """In the child before exec: SIGTERM when the parent dies (servers stop their own workers on SIGTERM).

    Linux delivers it when the *thread* that forked exits: start servers from the main thread (fixtures do)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl: nobody would ever deliver the signal
        os._exit(1)


class ServerProcess(abc.ABC):
    """A server binary serving ``listeners`` for ``hostname`` from files in ``directory``."""

    #: Human name in messages and skip reasons ("Apache httpd").
    label: ClassVar[str]
    #: Binary name and the environment variable that overrides its path.
    binary_name: ClassVar[str]
    binary_env: ClassVar[str]
    #: What a missing binary means for the person running the tests.
    install_hint: ClassVar[str]

    def __init__(self, directory: Path, hostname: str, listeners: Sequence[Listener]) -> None:
        self.directory = Path(directory)
        self.hostname = hostname
        self.listeners: dict[str, Listener] = {}
        for listener in listeners:
            if listener.name in self.listeners:
                raise ValueError(f"duplicate listener name {listener.name!r}")
            self.check_supported(listener)
            self.listeners[listener.name] = listener
        self._process: subprocess.Popen[bytes] | None = None

    # -- what a subclass provides

    #: Whether the server can ask for the client certificate per request (``TlsListener.per_request``).
    per_request_client_auth: ClassVar[bool] = False

    @classmethod
    def check_supported(cls, listener: Listener) -> None:
        """Raise :class:`~tests.peers.listeners.Unsupported` for a listener this server cannot express."""
        if isinstance(listener, TlsListener) and listener.per_request and not cls.per_request_client_auth:
            raise Unsupported(f"{cls.label} asks for client certificates in the handshake only")

    @abc.abstractmethod
    def config_files(self) -> Mapping[str, str]:
        """The configuration: file name (relative to ``directory``) -> text."""

    @abc.abstractmethod
    def command(self, binary: str) -> list[str]:
        """The foreground command line."""

    def environment(self) -> dict[str, str] | None:
        """The child's environment (None: inherit)."""
        return None

    def started(self) -> bool:
        """The server's own sign that it is up (pid file, log line), besides holding every listening socket."""
        return True

    # -- shared

    @classmethod
    def find(cls) -> str | None:
        return find_binary(cls.binary_name, env=cls.binary_env)

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this server cannot run here (for a skip message), or None when it can."""
        if cls.find() is None:
            return f"{cls.label} ({cls.binary_name}) is not installed: {cls.install_hint}"
        return None

    @property
    def log_path(self) -> Path:
        """stdout and stderr of the server (its error log goes here, or beside it, by configuration)."""
        return self.directory / "server.log"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def listener(self, name: str) -> Listener:
        return self.listeners[name]

    def tls(self, name: str) -> TlsListener:
        listener = self.listeners[name]
        if not isinstance(listener, TlsListener):
            raise TypeError(f"{name} is not a TLS listener")
        return listener

    def plain(self, name: str) -> PlainListener:
        listener = self.listeners[name]
        if not isinstance(listener, PlainListener):
            raise TypeError(f"{name} is not a plain-HTTP listener")
        return listener

    def log_text(self, limit: int = 8000) -> str:
        texts = []
        for path in sorted(self.directory.glob("*.log")):
            with contextlib.suppress(OSError):
                texts.append(f"--- {path.name}\n" + path.read_text(encoding="utf-8", errors="replace")[-limit:])
        return "\n".join(texts)

    def start(self: _S) -> _S:
        """Write the configuration, start the server, wait until it is up. A port taken between
        :func:`pick_ports` and the server's bind is picked again, a few times. :class:`ServerError` otherwise."""
        if self.running:
            raise ServerError(f"{self.label} is already running")
        binary = self.find()
        why = self.unavailable()
        if binary is None or why is not None:
            raise ServerError(why or f"{self.label} not found")
        self.directory.mkdir(parents=True, exist_ok=True)
        unset = [item for item in self.listeners.values() if not item.port]
        for item, port in zip(unset, pick_ports([item.host for item in unset]), strict=True):
            item.port = port
        for attempt in range(_PORT_ATTEMPTS):
            self._launch(binary)
            if self._wait_ready():
                return self
            log = self.log_text()
            self.stop()
            if any(sign in log for sign in _IN_USE) and attempt + 1 < _PORT_ATTEMPTS:
                listeners = list(self.listeners.values())
                for item, port in zip(listeners, pick_ports([item.host for item in listeners]), strict=True):
                    item.port = port
                continue
            raise ServerError(f"{self.label} did not start (configuration in {self.directory}):\n{log}")
        raise AssertionError("unreachable")

    def _launch(self, binary: str) -> None:
        for name, text in self.config_files().items():
            (self.directory / name).write_text(text, encoding="utf-8")
        for stale in self.directory.glob("*.log"):
            stale.unlink()
        self.before_launch()
        log = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            self._process = subprocess.Popen(
                self.command(binary),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.directory,
                env=self.environment(),
                start_new_session=True,  # own group: stop() reaches workers too
                # prctl must run in the child itself; the hook only calls prctl/getppid (async-signal-safe).
                preexec_fn=functools.partial(_die_with_parent, os.getpid()),
            )
        finally:
            os.close(log)

    def before_launch(self) -> None:  # noqa: B027 - optional hook
        """Remove what a previous attempt left (pid files); called before every launch."""

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + _START_TIMEOUT
        wanted = {listener.port for listener in self.listeners.values()}
        while time.monotonic() < deadline and self._process is not None:
            if not self.running:
                return False
            if wanted <= listening_ports(self._process.pid) and self.started():
                return all(port_accepts(item.host, item.port) for item in self.listeners.values())
            time.sleep(_POLL)
        return False

    def stop(self) -> None:
        """SIGTERM to the group, then SIGKILL to whatever is left; idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_STOP_TIMEOUT)

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"{type(self).__name__}({self.directory}, {len(self.listeners)} listeners, {state})"

    # -- helpers for subclasses

    def pid_file_names_us(self, path: Path) -> bool:
        """``path`` holds the pid of the process we started (servers write it after binding their sockets)."""
        try:
            return path.read_text(encoding="ascii").strip() == str(self.pid)
        except (OSError, UnicodeDecodeError):
            return False
