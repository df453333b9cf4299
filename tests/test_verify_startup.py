"""What a ``verify`` run does before its first connection (issue 17), and what it leaves for the network wait.

One host at the defaults is what every ``pulumi preview`` waits for; the network part of it is at the floor, so
what the process does before its first connection is the difference. These tests count, never time: the modules
loaded by the time the probes start, and the verdicts that prove the deferred work still happens.
"""

from __future__ import annotations

import json
import os
import pickle
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import origin_tls.certs
from origin_tls import jobs as jobs_module
from origin_tls import verify as verify_module
from origin_tls.baseline import Baseline, Endpoint, TlsVersion
from origin_tls.errors import InvalidInput
from origin_tls.report import Status
from origin_tls.tls_client import PULL, ClientContexts
from origin_tls.verify import Target, VerifyOptions, verify
from tests.peers.pki import TestPki
from tests.peers.tls_servers import client_auth_server, closed_port

ROOT = Path(__file__).resolve().parents[1]
HOST = "app.example.test"

#: Runs ``origin_tls.cli.main`` with the arguments given, noting ``sys.modules`` when the probes start (the entry
#: of ``verify.run_all``: every input is checked by then, nothing is sent yet) and at the end.
_WRAPPER = r"""
import sys
import threading
import origin_tls.verify as verify
seen = {}
real = verify.run_all
def run_all(*args, **kwargs):
    seen["before_probes"] = sorted(sys.modules)
    try:
        return real(*args, **kwargs)
    finally:
        seen["after_probes"] = sorted(sys.modules)
verify.run_all = run_all
from origin_tls.cli import main
code = main(sys.argv[1:])
import json  # not before: whether the run loads it before its probes is one of the questions
print(json.dumps({"exit": code, "before_probes": seen.get("before_probes"), "after_probes": seen.get("after_probes"),
                  "after": sorted(sys.modules)}), file=sys.stderr)
"""

#: Loaded only while the probes wait, or never, by a run that names PEM files (issue 17): cryptography (PEMs are
#: checked by OpenSSL first), concurrent.futures and its logging (verify's own workers), the judges and the report
#: (the probe side of the table is plans.py), the probes' result types (made after an answer), the report's
#: writers.
NOT_BEFORE_PROBES = (
    "cryptography",
    "origin_tls.certs",
    "concurrent.futures",
    "logging",
    "origin_tls.checks",
    "origin_tls.checks_judges",
    "origin_tls.hsts",
    "origin_tls.report",
    "origin_tls.probe_results",
    "origin_tls.formats",
    "json",
)
#: Loaded before any thread starts, however little the probes need it: ``dataclasses`` reads ``typing`` from
#: ``sys.modules`` without the import lock, so a class made in one thread while another imports ``typing`` (as
#: cryptography's import does) fails with "partially initialized module 'typing'" (seen in 5 of 30 runs when the
#: first import of typing was left to the thread beside the probes).
BEFORE_ANY_THREAD = ("typing",)
#: Loaded by the time the last probe has answered (before judging), in the main thread while the probes waited.
BY_THE_LAST_ANSWER = (
    "origin_tls.checks",
    "origin_tls.checks_judges",
    "origin_tls.report",
    "origin_tls.probe_results",
    "json",
)


def _run(*arguments: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *arguments], capture_output=True, text=True, env=env, timeout=60
    )
    return dict(json.loads(done.stderr.strip().splitlines()[-1]), stderr=done.stderr)


def _loaded(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def _arguments(pki: TestPki, *, origin_ca: Path | None = None) -> list[str]:
    client = pki.client()
    nowhere = str(closed_port())  # every probe is refused at once: the run is about what comes before
    return [
        "verify", HOST, "--edge", nowhere, "--edge-http", nowhere, "--origin", nowhere,
        "--edge-ca", str(pki.ca.cert_path), "--origin-ca", str(origin_ca or pki.origin_ca.cert_path),
        "--client-cert", str(client.cert_path), "--client-key", str(client.key_path), "--timeout", "2", "--json",
    ]  # fmt: skip


def test_a_run_with_every_pem_file_starts_its_probes_before_importing_cryptography(pki: TestPki) -> None:
    run = _run(*_arguments(pki))
    assert run["exit"] == 3, run["stderr"]  # nothing reachable: inconclusive, as it must be
    before = run["before_probes"]
    assert before is not None
    assert [name for name in NOT_BEFORE_PROBES if _loaded(before, name)] == []
    assert [name for name in BEFORE_ANY_THREAD if not _loaded(before, name)] == []
    # The twin: the snapshot does see imports. By the end the certificates were parsed (the client certificate's
    # expiry is in the report), so cryptography is loaded; it came after the probes started.
    assert _loaded(run["after"], "cryptography")
    assert _loaded(before, "origin_tls.probes")
    assert [name for name in BY_THE_LAST_ANSWER if not _loaded(run["after_probes"], name)] == []


def test_a_pem_file_openssl_cannot_read_is_refused_with_cryptography_s_message_before_any_probe(
    pki: TestPki, tmp_path: Path
) -> None:
    # A CERTIFICATE block whose base64 is fine but whose DER is not a certificate: OpenSSL says no, so the
    # cryptography check it always ran gives the message (and nothing is probed).
    broken = tmp_path / "broken-ca.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nMIIBCgKCAQEA\n-----END CERTIFICATE-----\n", encoding="ascii")
    run = _run(*_arguments(pki, origin_ca=broken))
    assert run["exit"] == 2
    assert run["before_probes"] is None
    assert f"--origin-ca must be a PEM file holding at least one certificate, got '{broken}'" in run["stderr"]


def test_an_origin_ca_openssl_takes_but_cryptography_cannot_parse_leaves_the_certificate_inconclusive(
    pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an origin serving a certificate from the test Origin CA, judged against that CA
    origin_ca = pki.origin_ca.cert_pem
    with client_auth_server(pki.origin(HOST), pki.client_ca.cert_path, version="1.3") as server:
        target = Target(HOST, edge=closed_port(), edge_http=closed_port(), origin=server.endpoint)
        options = VerifyOptions(origin_ca_pem=origin_ca, timeout=3.0)
        judged = {c.id: c for c in verify([target], Baseline(), options).targets[0].checks}
        # When cryptography cannot parse that CA (OpenSSL could: the run went ahead)
        real = origin_tls.certs.load_pem_certificates

        def refuse_the_ca(data: bytes | str, *, field_name: str) -> Any:
            if field_name == "origin_ca":
                raise InvalidInput(field_name, "<unparseable>", "PEM text with a CERTIFICATE")
            return real(data, field_name=field_name)

        monkeypatch.setattr(origin_tls.certs, "load_pem_certificates", refuse_the_ca)
        unparsed = {c.id: c for c in verify([target], Baseline(), options).targets[0].checks}
    # Then the certificate is inconclusive, not judged against the default Cloudflare roots (which would fail it)
    check = unparsed["origin.certificate"]
    assert check.status is Status.INCONCLUSIVE
    assert check.observed == "unparseable origin_ca"
    # The twin: parsed, the same certificate from the same server passes against that CA
    assert judged["origin.certificate"].status is Status.PASS


def test_the_client_identity_loads_the_pull_context_now_and_each_version_s_when_a_probe_asks(
    pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[str] = []
    real = ssl.SSLContext.load_cert_chain

    def counted(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append("load")
        real(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_cert_chain", counted)
    client = pki.client()
    contexts = ClientContexts(client.cert_pem, client.key_pem)
    assert len(loads) == 1  # the pull context: proves the pair before any I/O
    pinned = contexts[TlsVersion.TLS_1_2]
    assert len(loads) == 2
    assert contexts[TlsVersion.TLS_1_2] is pinned  # built once
    assert pinned.maximum_version is ssl.TLSVersion.TLSv1_2
    assert contexts[PULL] is contexts[PULL]
    assert len(loads) == 2
    # It holds a key: never shown, never pickled.
    assert client.key_pem not in repr(contexts)
    with pytest.raises(TypeError):
        pickle.dumps(contexts)
    # The twin: a key that is not the certificate's is refused at once, before any probe could ask.
    with pytest.raises(InvalidInput):
        ClientContexts(client.cert_pem, pki.rogue_client().key_pem)


_TEARDOWN_PROBE = r"""
import atexit, runpy, sys
atexit.register(lambda: sys.stderr.write("interpreter teardown ran\n"))
sys.argv = ["origin_tls", *sys.argv[1:]]
runpy.run_module("origin_tls", run_name="__main__")
"""


def _teardown_run(*arguments: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-c", _TEARDOWN_PROBE, *arguments], capture_output=True, text=True, env=env, timeout=60
    )


def test_verify_leaves_without_tearing_the_interpreter_down_once_its_report_is_out(pki: TestPki) -> None:
    run = _teardown_run(*_arguments(pki))
    assert run.returncode == 3  # nothing reachable: inconclusive
    assert json.loads(run.stdout)["ok"] is False  # the whole report arrived (flushed before leaving)
    assert "interpreter teardown ran" not in run.stderr
    # The twin: the sandbox's help leaves the ordinary way (its cleanup runs at exit), and the probe sees that.
    other = _teardown_run("sandbox", "--help")
    assert other.returncode == 0
    assert "interpreter teardown ran" in other.stderr


def test_a_target_s_probes_start_with_the_ones_that_take_a_request(
    pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Workers start one after another; the probes that need a handshake and a request (3 round trips) go first,
    # so the ones started last (2 round trips) are not the last to answer.
    submitted: list[str] = []
    real = jobs_module.run_all

    def record(jobs: Any, **kwargs: Any) -> Any:
        submitted.extend(name for _, name in jobs)
        return real(jobs, **kwargs)

    monkeypatch.setattr(verify_module, "run_all", record)
    client = pki.client()
    nowhere = closed_port()
    target = Target(HOST, edge=nowhere, edge_http=nowhere, origin=nowhere)
    options = VerifyOptions(client_cert_pem=client.cert_pem, client_key_pem=client.key_pem, timeout=2.0)
    verify([target], Baseline(), options)
    assert submitted[:3] == ["edge.https", "origin.pull", "origin.pull_client"]
    assert len(submitted) == 10  # the twin: all ten were submitted, the short ones after


def _parses_by_thread(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(field, thread name) of every PEM cryptography parses from now on."""
    parses: list[tuple[str, str]] = []
    real = origin_tls.certs.load_pem_certificates

    def recorded(data: bytes | str, *, field_name: str) -> Any:
        parses.append((field_name, threading.current_thread().name))
        return real(data, field_name=field_name)

    monkeypatch.setattr(origin_tls.certs, "load_pem_certificates", recorded)
    verify_module._client_not_after.cache_clear()
    return parses


def test_the_pinned_ca_and_the_client_certificate_are_parsed_while_the_probes_wait(
    pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = _parses_by_thread(monkeypatch)
    client = pki.client()
    with client_auth_server(pki.origin(HOST), pki.client_ca.cert_path, version="1.3") as server:
        target = Target(HOST, edge=closed_port(), edge_http=closed_port(), origin=server.endpoint)
        options = VerifyOptions(
            origin_ca_pem=pki.origin_ca.cert_pem,
            client_cert_pem=client.cert_pem,
            client_key_pem=client.key_pem,
            timeout=3.0,
        )
        checks = {c.id: c for c in verify([target], Baseline(), options).targets[0].checks}
    # The pinned CA parsed once, in the thread that runs beside the probes; the client certificate's expiry read
    # there too (origin.aop_client's judge reads its days itself, once the pull has shown it was accepted)
    assert parses.count(("origin_ca", "prepare-certificates")) == 1
    assert ("client_cert", "prepare-certificates") in parses
    assert [field for field, thread in parses if thread != "prepare-certificates"] == ["client_cert"]
    assert checks["origin.certificate"].status is Status.PASS  # what was parsed there is what judged it
    assert checks["origin.aop_client"].status is Status.PASS


def test_preparation_that_fails_leaves_the_work_to_the_judging_with_the_same_verdicts(
    pki: TestPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The twin: when the thread beside the probes gets nowhere, the judging does the same work and reaches the
    # same verdict (the preparation only moves work, never decides).
    def broken() -> None:
        raise RuntimeError("warm-up failed")

    monkeypatch.setattr(origin_tls.certs, "warm_up", broken)
    parses = _parses_by_thread(monkeypatch)
    with client_auth_server(pki.origin(HOST), pki.client_ca.cert_path, version="1.3") as server:
        target = Target(HOST, edge=closed_port(), edge_http=closed_port(), origin=server.endpoint)
        options = VerifyOptions(origin_ca_pem=pki.origin_ca.cert_pem, timeout=3.0)
        checks = {c.id: c for c in verify([target], Baseline(), options).targets[0].checks}
    assert parses == [("origin_ca", "MainThread")]
    assert checks["origin.certificate"].status is Status.PASS


def test_while_probing_runs_once_with_probes_in_flight_and_not_for_bad_input() -> None:
    calls: list[int] = []

    def count_probe_threads() -> None:
        calls.append(sum(t.name.startswith("probe_") for t in threading.enumerate()))

    with socket.socket() as silent:  # accepts connections (the backlog) and never answers: probes stay in flight
        silent.bind(("127.0.0.1", 0))
        silent.listen(32)
        port = int(silent.getsockname()[1])
        endpoint = Endpoint("127.0.0.1", port)
        target = Target(HOST, edge=endpoint, edge_http=endpoint, origin=endpoint)
        report = verify([target], Baseline(), VerifyOptions(timeout=1.0), while_probing=count_probe_threads)
    assert len(calls) == 1
    assert calls[0] > 0  # called once, with probes in flight (the ones OpenSSL cannot offer here end at once)
    assert not report.ok  # nothing answered: the run still judged and reported
    # The twin: bad input is refused before any probe, and before the hook
    with pytest.raises(InvalidInput):
        verify([], Baseline(), VerifyOptions(), while_probing=count_probe_threads)
    assert len(calls) == 1


def test_probes_re_exports_the_result_types_it_loads_on_first_use() -> None:
    from origin_tls import probe_results, probes

    assert [getattr(probes, name) for name in probe_results.__all__] == [
        getattr(probe_results, name) for name in probe_results.__all__
    ]
    # The twin: a name that is neither a result type nor defined is still an AttributeError
    with pytest.raises(AttributeError):
        probes.NoSuchResult  # noqa: B018
