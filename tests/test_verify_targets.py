"""Per-target baselines and options, and zone reads shared by the targets of one zone (DESIGN "Fleets")."""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from urllib.parse import urlsplit

import httpx

from origin_tls.baseline import AopMode, Baseline, Endpoint, TlsVersion
from origin_tls.report import ZONE_CHECK_IDS, Status
from origin_tls.verify import Target, VerifyOptions, verify

#: The zone.* checks read from zone settings (zone.aop_certificate also needs --client-cert: skipped here).
ZONE_SETTING_CHECKS = frozenset(cid for cid in ZONE_CHECK_IDS if cid != "zone.aop_certificate")
ZONE_A = "023e105f4ecef8ad9ca31a8372d0c353"
ZONE_B = "123e105f4ecef8ad9ca31a8372d0c353"
HARDENED = {
    "ssl": "strict",
    "ssl_automatic_mode": "custom",
    "min_tls_version": "1.2",
    "tls_1_3": "on",
    "always_use_https": "on",
    "tls_client_auth": "on",
    "security_header": {
        "strict_transport_security": {
            "enabled": True,
            "max_age": 31536000,
            "include_subdomains": True,
            "preload": False,
            "nosniff": True,
        }
    },
}


def _closed_port() -> Endpoint:
    """A loopback port nothing listens on: every probe is refused at once (the zone reads are what we count)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return Endpoint("127.0.0.1", sock.getsockname()[1])


class _Api:
    """A stand-in answering every zone setting as hardened, counting requests by (zone, path)."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = urlsplit(str(request.url)).path
        zone = path.split("/zones/")[1].split("/")[0]
        with self._lock:
            self.requests[zone, path] += 1
        setting = path.rsplit("/", 1)[1]
        result: dict[str, object] = {"id": setting, "value": HARDENED.get(setting), "editable": True}
        if setting == "auto_origin_tls_kex":  # its value is under "enabled" (reference/cloudflare.md section 6)
            result = {"id": setting, "enabled": True}
        return httpx.Response(200, json={"success": True, "errors": [], "messages": [], "result": result})


def _run(targets: list[Target], api: _Api, options: VerifyOptions | None = None) -> dict[str, object]:
    report = verify(
        targets,
        Baseline(aop=AopMode.GLOBAL),
        options or VerifyOptions(timeout=1.0),
        api_token="test-token",
        api_transport=httpx.MockTransport(api),
    )
    return json.loads(json.dumps(report.to_dict()))  # type: ignore[no-any-return]


def test_each_zone_is_read_once_whatever_the_number_of_its_targets() -> None:
    # Given six targets in two zones
    edge = _closed_port()
    zone_a = VerifyOptions(zone_id=ZONE_A, api_url="http://127.0.0.1:9/client/v4")
    zone_b = VerifyOptions(zone_id=ZONE_B, api_url="http://127.0.0.1:9/client/v4")
    targets = [Target(f"h{i}.example.com", edge=edge, options=zone_a if i < 4 else zone_b) for i in range(6)]
    api = _Api()
    # When they are verified in one run
    data = _run(targets, api)
    # Then every setting of each zone was read exactly once, and every target got its zone's verdicts
    assert set(api.requests.values()) == {1}
    assert {zone for zone, _ in api.requests} == {ZONE_A, ZONE_B}
    assert len(api.requests) == 2 * 8  # seven settings per zone (global AOP) and auto_origin_tls_kex
    for index, target in enumerate(data["targets"]):  # type: ignore[arg-type]
        assert target["zone_id"] == (ZONE_A if index < 4 else ZONE_B)
        zone_checks = [c for c in target["checks"] if c["id"] in ZONE_SETTING_CHECKS]
        assert {c["status"] for c in zone_checks} == {"pass"}, zone_checks


def test_a_target_without_a_zone_skips_the_zone_checks_beside_one_with() -> None:
    edge = _closed_port()
    targets = [
        Target("a.example.com", edge=edge, options=VerifyOptions(zone_id=ZONE_A, api_url="http://127.0.0.1:9")),
        Target("b.example.com", edge=edge),
    ]
    api = _Api()
    data = _run(targets, api)
    with_zone, without = data["targets"]  # type: ignore[misc]
    assert {c["status"] for c in with_zone["checks"] if c["id"] in ZONE_SETTING_CHECKS} == {"pass"}
    assert {c["status"] for c in without["checks"] if c["id"] in ZONE_CHECK_IDS} == {"skipped"}
    assert without["zone_id"] is None


def test_a_targets_own_baseline_wins_over_the_runs() -> None:
    # Given the zone's floor is 1.2, one target declares 1.2 (the run's) and one declares 1.3 (its own)
    options = VerifyOptions(zone_id=ZONE_A, api_url="http://127.0.0.1:9")
    edge = _closed_port()
    targets = [
        Target("a.example.com", edge=edge),
        Target("b.example.com", edge=edge, baseline=Baseline(min_tls=TlsVersion.TLS_1_3, aop=AopMode.GLOBAL)),
    ]
    api = _Api()
    report = verify(
        targets, Baseline(aop=AopMode.GLOBAL), options, api_token="t", api_transport=httpx.MockTransport(api)
    )
    # Then only the target whose own floor differs from the zone's fails zone.min_tls_version
    assert report.targets[0].check("zone.min_tls_version").status is Status.PASS
    assert report.targets[1].check("zone.min_tls_version").status is Status.FAIL
    assert set(api.requests.values()) == {1}


def test_progress_is_called_once_per_target() -> None:
    seen: list[tuple[int, int]] = []
    edge = _closed_port()
    verify(
        [Target(f"h{i}.example.com", edge=edge) for i in range(3)],
        Baseline(),
        VerifyOptions(timeout=1.0),
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(1, 3), (2, 3), (3, 3)]
