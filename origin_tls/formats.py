"""Report formats for CI and monitoring, and the atomic ``--output`` write (DESIGN.md "Report formats").

- :func:`render_junit`: JUnit XML. ``<testsuites>`` (totals) holding one ``<testsuite name=HOSTNAME>`` per target
  and one ``<testcase classname=HOSTNAME name=CHECK_ID>`` per check; ``fail`` -> ``<failure>``, ``inconclusive`` ->
  ``<error>`` (the check could not be carried out: an error of the run, not a finding), ``skipped`` ->
  ``<skipped>``. The shape GitLab, GitHub test reporters and Jenkins read (Jenkins' junit-10.xsd, plus the
  ``skipped`` total on the root that pytest and junitparser write). Built with ``xml.etree``; characters XML 1.0
  cannot carry (a peer's control bytes in a detail) become U+FFFD.
- :func:`render_prometheus`: the text exposition format for node_exporter's textfile collector, written by
  ``prometheus_client`` (imported only for this format): ``origin_tls_check_status{hostname,check,status}``,
  ``origin_tls_target_ok{hostname}``, ``origin_tls_certificate_expiry_timestamp_seconds{hostname,certificate}``,
  ``origin_tls_run_timestamp_seconds``, ``origin_tls_run_duration_seconds``. Labels carry only validated names and
  closed sets, never error text. A hostname verified twice in one run (two edges) is one series: its worst status,
  ``ok`` only if every one is, its earliest expiry (Prometheus refuses duplicate series).
- :data:`FORMATS`, :func:`parse_output_path`, :func:`write_atomic`: ``output.py``'s, re-exported (the atomic
  ``--output`` write).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .output import FORMATS, parse_output_path, write_atomic
from .report import Check, Report, Status, TargetReport

__all__ = [
    "FORMATS",
    "certificate_expiry",
    "parse_output_path",
    "render_junit",
    "render_prometheus",
    "write_atomic",
]

#: XML 1.0 section 2.2 ``Char``: everything else (most C0 controls, surrogates, U+FFFE/U+FFFF) is unwritable.
#: Compiled on first use: its ranges cost ~5 ms of CPU to compile, which a run that writes no JUnit (and every run
#: before its first connection, issue 17) need not pay.
_NOT_XML = "[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
_MESSAGE_LENGTH = 500  # characters of a message attribute; the element's text has the whole finding
_JUNIT_ELEMENT = {Status.FAIL: "failure", Status.INCONCLUSIVE: "error", Status.SKIPPED: "skipped"}
#: Worst first: the status a hostname shows when it was verified more than once in a run.
_SEVERITY = (Status.FAIL, Status.INCONCLUSIVE, Status.PASS, Status.SKIPPED)


# ---------------------------------------------------------------------------------------------------------------
# JUnit


def _xml(text: str) -> str:
    return _not_xml().sub("\ufffd", text)


@functools.cache
def _not_xml() -> re.Pattern[str]:
    return re.compile(_NOT_XML)


def _message(check: Check) -> str:
    text = check.detail or f"expected {check.expected or '-'}, observed {check.observed or '-'}"
    line = " ".join(_xml(text).split())
    return line if len(line) <= _MESSAGE_LENGTH else line[: _MESSAGE_LENGTH - 3] + "..."


def _finding(check: Check) -> str:
    return _xml(f"expected: {check.expected or '-'}\nobserved: {check.observed or '-'}\ndetail: {check.detail or '-'}")


def _counts(checks: Iterable[Check]) -> dict[str, str]:
    statuses = [check.status for check in checks]
    return {
        "tests": str(len(statuses)),
        "failures": str(statuses.count(Status.FAIL)),
        "errors": str(statuses.count(Status.INCONCLUSIVE)),
        "skipped": str(statuses.count(Status.SKIPPED)),
    }


def render_junit(report: Report, *, timestamp: float | None = None, duration: float | None = None) -> str:
    """The report as a JUnit XML document (UTF-8 declaration, ends with a newline).

    ``timestamp`` (POSIX seconds) is each suite's ``timestamp`` in UTC; ``duration`` (seconds) the root's ``time``.
    """
    import xml.etree.ElementTree as ET  # here: only this format pays for it

    root = ET.Element("testsuites", {"name": "origin-tls", **_counts(c for _, c in report.checks())})
    if duration is not None:
        root.set("time", f"{duration:.3f}")
    when = None
    if timestamp is not None:
        import datetime as dt  # here, as ElementTree: only this format pays for it

        when = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    for index, target in enumerate(report.targets):
        suite = ET.SubElement(root, "testsuite", {"name": target.hostname, "id": str(index), **_counts(target.checks)})
        if when is not None:
            suite.set("timestamp", when)
        facts = {"zone_id": target.zone_id, "origin": target.origin}
        if any(value is not None for value in facts.values()):
            properties = ET.SubElement(suite, "properties")
            for name, value in facts.items():
                if value is not None:
                    ET.SubElement(properties, "property", name=name, value=_xml(value))
        for check in target.checks:
            case = ET.SubElement(suite, "testcase", classname=target.hostname, name=check.id, time="0")
            element = _JUNIT_ELEMENT.get(check.status)
            if element == "skipped":
                ET.SubElement(case, element, message=_message(check))
            elif element is not None:
                outcome = ET.SubElement(case, element, message=_message(check), type=check.status.value)
                outcome.text = _finding(check)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Prometheus


def certificate_expiry(report: Report) -> list[dict[str, float]]:
    """Per target (same order as ``report.targets``): ``{"client": ts, "origin": ts}`` expiry, POSIX seconds.

    ``origin``: the certificate the origin served (read from the pull's handshake, whatever its verdict: a monitor
    wants the date of what is served); ``client``: the ``client_cert`` the target was verified with. A certificate
    not seen (no ``--origin``, an unreachable origin, no client certificate) is absent.
    """
    return [dict(target.certificate_expiry) for target in report.targets]


def _status(target: TargetReport, check_id: str) -> Status | None:
    try:
        return target.check(check_id).status
    except KeyError:
        return None


def render_prometheus(
    report: Report,
    *,
    run_timestamp: float,
    run_duration: float,
    certificate_expiry: Sequence[Mapping[str, float]] = (),
) -> str:
    """The report in the Prometheus text exposition format (version 0.0.4), HELP and TYPE for every metric.

    ``certificate_expiry[i]`` holds target ``i``'s known expiries by kind (``"origin"``, ``"client"``).
    """
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    status = GaugeMetricFamily(
        "origin_tls_check_status",
        "1 for the check's status (pass, fail, inconclusive, skipped), 0 for the three others.",
        labels=["hostname", "check", "status"],
    )
    target_ok = GaugeMetricFamily(
        "origin_tls_target_ok", "1 when no check of the hostname failed or was inconclusive.", labels=["hostname"]
    )
    expiry = GaugeMetricFamily(
        "origin_tls_certificate_expiry_timestamp_seconds",
        "When the certificate stops being valid (notAfter), as a Unix timestamp.",
        labels=["hostname", "certificate"],
    )
    run_at = GaugeMetricFamily("origin_tls_run_timestamp_seconds", "When the verification run started (Unix time).")
    run_for = GaugeMetricFamily("origin_tls_run_duration_seconds", "How long the verification run took, in seconds.")

    for hostname, targets, expiries in _by_hostname(report, certificate_expiry):
        for check_id, statuses in _statuses_by_check(targets).items():
            worst = min(statuses, key=_SEVERITY.index)
            for candidate in Status:
                status.add_metric([hostname, check_id, candidate.value], 1.0 if candidate is worst else 0.0)
        target_ok.add_metric([hostname], 1.0 if all(t.ok for t in targets) else 0.0)
        for kind in ("origin", "client"):
            known = [e[kind] for e in expiries if kind in e]
            if known:
                expiry.add_metric([hostname, kind], min(known))
    run_at.add_metric([], run_timestamp)
    run_for.add_metric([], run_duration)

    class _Families:
        def collect(self) -> list[Any]:
            return [status, target_ok, expiry, run_at, run_for]

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families())
    return generate_latest(registry).decode("utf-8")


def _by_hostname(
    report: Report, expiry: Sequence[Mapping[str, float]]
) -> list[tuple[str, list[TargetReport], list[Mapping[str, float]]]]:
    grouped: dict[str, tuple[list[TargetReport], list[Mapping[str, float]]]] = {}
    for index, target in enumerate(report.targets):
        targets, expiries = grouped.setdefault(target.hostname, ([], []))
        targets.append(target)
        if index < len(expiry):
            expiries.append(expiry[index])
    return [(hostname, targets, expiries) for hostname, (targets, expiries) in grouped.items()]


def _statuses_by_check(targets: Sequence[TargetReport]) -> dict[str, list[Status]]:
    statuses: dict[str, list[Status]] = {}
    for target in targets:
        for check in target.checks:
            statuses.setdefault(check.id, []).append(check.status)
    return statuses
