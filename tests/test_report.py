"""The report contract of DESIGN.md: JSON shape, exit codes, and that only pass/skipped count as ok."""

from __future__ import annotations

import json

from origin_tls.report import CHECK_IDS, Check, Report, Status, TargetReport


def _report(*statuses: Status) -> Report:
    checks = tuple(Check(f"edge.check{i}", status, "x", "y") for i, status in enumerate(statuses))
    return Report((TargetReport("app.example.com", checks),))


def test_exit_codes() -> None:
    assert _report(Status.PASS, Status.SKIPPED).exit_code == 0
    assert _report(Status.PASS, Status.FAIL, Status.INCONCLUSIVE).exit_code == 1
    assert _report(Status.PASS, Status.INCONCLUSIVE).exit_code == 3


def test_ok_is_false_for_inconclusive_and_fail() -> None:
    assert _report(Status.PASS, Status.SKIPPED).ok
    assert not _report(Status.INCONCLUSIVE).ok
    assert not _report(Status.FAIL).ok


def test_json_shape_round_trips() -> None:
    report = _report(Status.PASS, Status.FAIL)
    data = json.loads(json.dumps(report.to_dict()))
    assert data == {
        "ok": False,
        "targets": [
            {
                "hostname": "app.example.com",
                "ok": False,
                "zone_id": None,
                "origin": None,
                "checks": [
                    {"id": "edge.check0", "status": "pass", "expected": "x", "observed": "y", "detail": ""},
                    {"id": "edge.check1", "status": "fail", "expected": "x", "observed": "y", "detail": ""},
                ],
            }
        ],
    }
    assert Report.from_dict(data) == report


def test_json_target_carries_its_zone_and_origin() -> None:
    target = TargetReport("app.example.com", (), zone_id="023e105f4ecef8ad9ca31a8372d0c353", origin="127.0.0.1:8443")
    data = json.loads(json.dumps(Report((target,)).to_dict()))
    assert data["targets"][0]["zone_id"] == "023e105f4ecef8ad9ca31a8372d0c353"
    assert data["targets"][0]["origin"] == "127.0.0.1:8443"
    assert Report.from_dict(data).targets[0] == target


def test_summary_lists_only_what_did_not_pass() -> None:
    summary = _report(Status.PASS, Status.FAIL).summary()
    assert "edge.check1 fail" in summary
    assert "edge.check0" not in summary
    assert _report(Status.PASS).summary() == "every check passed"


def test_check_ids_are_the_documented_twenty() -> None:
    # DESIGN.md's table: eighteen, then origin.pq_key_agreement and zone.origin_pq (issue 16).
    assert len(CHECK_IDS) == len(set(CHECK_IDS)) == 20
    assert {"origin.pq_key_agreement", "zone.origin_pq"} <= set(CHECK_IDS)
