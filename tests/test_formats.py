"""Report formats read back by the readers users have (junitparser + the JUnit XSD, prometheus_client's parser),
and the atomic ``--output`` write. Reports are built by hand here; ``test_cli_fleet.py`` renders real runs."""

from __future__ import annotations

import os
import stat
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema
from junitparser import Error, Failure, JUnitXml, Skipped
from prometheus_client.parser import text_string_to_metric_families

from origin_tls import output
from origin_tls.formats import certificate_expiry, render_junit, render_prometheus, write_atomic
from origin_tls.report import Check, Report, Status, TargetReport

SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "data" / "junit.xsd")
HOSTILE = "peer said <b>\"no\" & 'bye'</b>\x00\x07\x1b[31m\ud800\nsecond line"


def _report() -> Report:
    app = TargetReport(
        "app.example.com",
        (
            Check("edge.tls_1_3", Status.PASS, "1.3 accepted", "1.3 accepted"),
            Check("edge.hsts", Status.FAIL, "max-age=31536000", "missing", HOSTILE),
            Check("origin.aop", Status.INCONCLUSIVE, "refused", "timeout", "no answer within 5 s"),
            Check("zone.ssl", Status.SKIPPED, detail="no --zone-id given"),
        ),
        zone_id="023e105f4ecef8ad9ca31a8372d0c353",
        origin="127.0.0.1:8443",
    )
    www = TargetReport("www.example.com", (Check("edge.tls_1_3", Status.PASS, "1.3 accepted", "1.3 accepted"),))
    return Report((app, www))


# ---------------------------------------------------------------------------------------------------------------
# JUnit


def _parse(text: str) -> ET.Element:
    return ET.fromstring(text)  # noqa: S314 (our own output, the document under test)


def test_junit_is_read_back_by_junitparser_with_every_status_where_readers_look() -> None:
    xml = JUnitXml.fromstring(render_junit(_report(), timestamp=0.0, duration=1.5))
    assert (xml.tests, xml.failures, xml.errors, xml.skipped) == (5, 1, 1, 1)
    app, www = list(xml)
    assert (app.name, app.tests, app.failures, app.errors, app.skipped) == ("app.example.com", 4, 1, 1, 1)
    cases = {case.name: case for case in app}
    assert {case.classname for case in app} == {"app.example.com"}
    assert cases["edge.tls_1_3"].is_passed
    (failure,) = cases["edge.hsts"].result
    assert isinstance(failure, Failure)
    assert failure.message.startswith("peer said <b>\"no\" & 'bye'</b>")
    assert "\n" not in failure.message
    assert "expected: max-age=31536000" in failure.text
    (error,) = cases["origin.aop"].result
    assert isinstance(error, Error)
    assert error.message == "no answer within 5 s"
    (skipped,) = cases["zone.ssl"].result
    assert isinstance(skipped, Skipped)
    assert (www.name, www.tests, www.failures) == ("www.example.com", 1, 0)


def test_junit_is_valid_against_the_schema_and_carries_no_unwritable_character() -> None:
    text = render_junit(_report(), timestamp=1_700_000_000.0, duration=2.0)
    SCHEMA.validate(text)
    assert not any(ch in text for ch in "\x00\x07\x1b\ud800")
    root = _parse(text)
    assert root.tag == "testsuites"
    assert root.find("testsuite/properties/property[@name='origin']").get("value") == "127.0.0.1:8443"  # type: ignore[union-attr]
    assert root.find("testsuite").get("timestamp") == "2023-11-14T22:13:20"  # type: ignore[union-attr]


def test_the_schema_refuses_what_a_reader_would_choke_on() -> None:
    # The twin of validity: the same document without a testcase's name, or with a count that is not a number,
    # is refused, so the schema is not a rubber stamp.
    root = _parse(render_junit(_report()))
    case = root.find("testsuite/testcase")
    assert case is not None
    del case.attrib["name"]
    assert not SCHEMA.is_valid(ET.tostring(root, encoding="unicode"))
    root = _parse(render_junit(_report()))
    root.find("testsuite").set("tests", "four")  # type: ignore[union-attr]
    assert not SCHEMA.is_valid(ET.tostring(root, encoding="unicode"))


def test_without_our_cleaning_the_hostile_detail_is_not_xml() -> None:
    # Why _xml() exists: ElementTree writes a NUL as is, and no XML parser reads the result back.
    element = ET.Element("failure", message=HOSTILE.replace("\ud800", ""))
    with pytest.raises(ET.ParseError):
        _parse(ET.tostring(element, encoding="unicode"))
    _parse(render_junit(_report()))  # ours parses


# ---------------------------------------------------------------------------------------------------------------
# Prometheus


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    return {
        family.name: [(sample.labels, sample.value) for sample in family.samples]
        for family in text_string_to_metric_families(text)
    }


def test_prometheus_is_read_back_by_prometheus_clients_parser() -> None:
    expiry = [{"origin": 1_800_000_000.0, "client": 1_900_000_000.0}, {}]
    text = render_prometheus(_report(), run_timestamp=1_700_000_000.0, run_duration=2.5, certificate_expiry=expiry)
    families = _families(text)
    status = {
        (labels["hostname"], labels["check"], labels["status"]): value
        for labels, value in families["origin_tls_check_status"]
    }
    assert status["app.example.com", "edge.hsts", "fail"] == 1.0
    assert [status["app.example.com", "edge.hsts", s] for s in ("pass", "inconclusive", "skipped")] == [0.0] * 3
    assert status["app.example.com", "origin.aop", "inconclusive"] == 1.0
    assert status["www.example.com", "edge.tls_1_3", "pass"] == 1.0
    assert len(status) == 5 * 4  # four statuses for each of the five checks
    ok = {labels["hostname"]: value for labels, value in families["origin_tls_target_ok"]}
    assert ok == {"app.example.com": 0.0, "www.example.com": 1.0}
    assert sorted(
        (labels["certificate"], value) for labels, value in families["origin_tls_certificate_expiry_timestamp_seconds"]
    ) == [
        ("client", 1_900_000_000.0),
        ("origin", 1_800_000_000.0),
    ]
    assert families["origin_tls_run_timestamp_seconds"] == [({}, 1_700_000_000.0)]
    assert families["origin_tls_run_duration_seconds"] == [({}, 2.5)]
    for name in families:
        assert f"# HELP {name} " in text
        assert f"# TYPE {name} gauge" in text
    assert "peer said" not in text  # no error text anywhere, labels included


def test_a_hostname_verified_twice_is_one_series_with_its_worst_status() -> None:
    good = TargetReport("app.example.com", (Check("edge.tls_1_3", Status.PASS),))
    bad = TargetReport("app.example.com", (Check("edge.tls_1_3", Status.FAIL),))
    families = _families(render_prometheus(Report((good, bad)), run_timestamp=0.0, run_duration=0.0))
    assert ({"hostname": "app.example.com", "check": "edge.tls_1_3", "status": "fail"}, 1.0) in families[
        "origin_tls_check_status"
    ]
    assert families["origin_tls_target_ok"] == [({"hostname": "app.example.com"}, 0.0)]
    alone = _families(render_prometheus(Report((good,)), run_timestamp=0.0, run_duration=0.0))  # the twin
    assert alone["origin_tls_target_ok"] == [({"hostname": "app.example.com"}, 1.0)]


def test_certificate_expiry_is_what_the_report_saw_of_each_target() -> None:
    seen = TargetReport("app.example.com", (), certificate_expiry=(("origin", 1_800_000_000.0), ("client", 1.9e9)))
    unseen = TargetReport("www.example.com", ())  # the twin: no origin probed, no client certificate
    assert certificate_expiry(Report((seen, unseen))) == [{"origin": 1_800_000_000.0, "client": 1.9e9}, {}]
    assert "certificate_expiry" not in Report((seen,)).to_dict()["targets"][0]  # not part of the JSON contract


# ---------------------------------------------------------------------------------------------------------------
# --output


def test_a_reader_sees_the_old_file_whole_until_the_new_one_is_renamed_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "origin_tls.prom"
    old, new = "old\n" * 100_000, "new\n" * 100_000
    path.write_text(old)
    seen_during: list[str] = []
    real_fsync = os.fsync

    def fsync_and_look(fd: int) -> None:
        real_fsync(fd)
        if not seen_during:  # the new content is written and synced, not yet renamed: what does a reader see?
            seen_during.append(path.read_text())
            seen_during.append(",".join(sorted(p.name for p in tmp_path.iterdir())))

    monkeypatch.setattr(output.os, "fsync", fsync_and_look)
    write_atomic(str(path), new)
    assert seen_during[0] == old
    assert seen_during[1].startswith(".origin_tls.prom.")  # the temporary file is beside it, same filesystem
    assert path.read_text() == new
    assert [p.name for p in tmp_path.iterdir()] == ["origin_tls.prom"]


def test_a_plain_write_is_seen_half_done_which_is_why_we_rename(tmp_path: Path) -> None:
    # The twin: writing in place, a reader between two writes sees a partial file.
    path = tmp_path / "origin_tls.prom"
    with open(path, "w") as handle:
        handle.write("new\n" * 10)
        handle.flush()
        assert path.read_text() == "new\n" * 10  # a scrape now would get a truncated exposition
        handle.write("new\n" * 10)


def test_a_polling_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    path = tmp_path / "report.xml"
    versions = ["a" * 300_000 + "\n", "b" * 300_000 + "\n"]
    path.write_text(versions[0])
    stop, bad = threading.Event(), []

    def poll() -> None:
        while not stop.is_set():
            text = path.read_text()
            if text not in versions:
                bad.append(len(text))

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for index in range(40):
            write_atomic(str(path), versions[index % 2])
    finally:
        stop.set()
        reader.join()
    assert bad == []


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, OSError])
def test_an_interrupted_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]
) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")

    def fail(*args: object) -> None:
        raise interrupt()

    monkeypatch.setattr(output.os, "replace", fail)
    with pytest.raises(interrupt):
        write_atomic(str(path), "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_new_file_is_readable_by_others_and_a_replaced_one_keeps_its_mode(tmp_path: Path) -> None:
    # node_exporter runs as its own user: mkstemp's 0600 would hide the metrics from it.
    old_umask = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh.prom"
        write_atomic(str(fresh), "x")
        assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
        kept = tmp_path / "kept.prom"
        kept.write_text("x")
        kept.chmod(0o640)
        write_atomic(str(kept), "y")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    finally:
        os.umask(old_umask)
