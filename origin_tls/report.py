"""Results of a verification: frozen data that serialises straight into JSON and Pulumi state.

The JSON shape is a stable contract (``DESIGN.md``)::

    {"ok": bool, "targets": [{"hostname": str, "ok": bool, "zone_id": str | null,
                              "origin": str | null, "checks": [{"id", "status", "expected", "observed", "detail"}]}]}
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CHECK_IDS",
    "EDGE_CHECK_IDS",
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_INCONCLUSIVE",
    "EXIT_OK",
    "ORIGIN_CHECK_IDS",
    "ZONE_CHECK_IDS",
    "Check",
    "Report",
    "Status",
    "TargetReport",
]

EDGE_CHECK_IDS: tuple[str, ...] = (
    "edge.min_tls_version",
    "edge.tls_1_3",
    "edge.certificate",
    "edge.hsts",
    "edge.https_redirect",
    "edge.origin_pull",
)
ORIGIN_CHECK_IDS: tuple[str, ...] = (
    "origin.certificate",
    "origin.aop",
    "origin.aop_client",
    "origin.min_tls_version",
    "origin.pq_key_agreement",
)
ZONE_CHECK_IDS: tuple[str, ...] = (
    "zone.ssl",
    "zone.ssl_automatic_mode",
    "zone.min_tls_version",
    "zone.tls_1_3",
    "zone.security_header",
    "zone.always_use_https",
    "zone.aop",
    "zone.aop_certificate",
    "zone.origin_pq",
)
#: Every check id, in report order.
CHECK_IDS: tuple[str, ...] = EDGE_CHECK_IDS + ORIGIN_CHECK_IDS + ZONE_CHECK_IDS

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INCONCLUSIVE = 3


class Status(str, enum.Enum):
    PASS = "pass"  # noqa: S105 (a status, not a password)
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"
    SKIPPED = "skipped"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Check:
    """One finding. ``expected``/``observed`` are short human strings; ``detail`` says why, or what went wrong."""

    id: str
    status: Status
    expected: str = ""
    observed: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "status": self.status.value,
            "expected": self.expected,
            "observed": self.observed,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(
            id=str(data["id"]),
            status=Status(data["status"]),
            expected=str(data.get("expected", "")),
            observed=str(data.get("observed", "")),
            detail=str(data.get("detail", "")),
        )


@dataclass(frozen=True)
class TargetReport:
    hostname: str
    checks: tuple[Check, ...]
    zone_id: str | None = None  # the zone read for this target's zone.* checks, if any
    origin: str | None = None  # HOST:PORT of the origin probed, if any
    #: notAfter (POSIX seconds) of the certificates seen: ``origin`` (what the origin served, whatever its verdict)
    #: and ``client`` (the AOP client certificate verified with). For monitoring (``--format prometheus``); not part
    #: of the JSON contract, so neither serialised nor compared.
    certificate_expiry: tuple[tuple[str, float], ...] = field(default=(), compare=False)

    @property
    def ok(self) -> bool:
        """True when nothing failed and nothing was inconclusive (skipped checks were not asked for)."""
        return all(check.status in (Status.PASS, Status.SKIPPED) for check in self.checks)

    def check(self, check_id: str) -> Check:
        for check in self.checks:
            if check.id == check_id:
                return check
        raise KeyError(check_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "ok": self.ok,
            "zone_id": self.zone_id,
            "origin": self.origin,
            "checks": [c.to_dict() for c in self.checks],
        }


@dataclass(frozen=True)
class Report:
    targets: tuple[TargetReport, ...]

    @property
    def ok(self) -> bool:
        return all(target.ok for target in self.targets)

    def checks(self) -> Iterable[tuple[str, Check]]:
        for target in self.targets:
            for check in target.checks:
                yield target.hostname, check

    def with_status(self, *statuses: Status) -> list[tuple[str, Check]]:
        return [(host, check) for host, check in self.checks() if check.status in statuses]

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 a check failed, 3 nothing failed but something was inconclusive."""
        if self.with_status(Status.FAIL):
            return EXIT_FAILED
        if self.with_status(Status.INCONCLUSIVE):
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "targets": [t.to_dict() for t in self.targets]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        return cls(
            tuple(
                TargetReport(
                    str(t["hostname"]),
                    tuple(Check.from_dict(c) for c in t["checks"]),
                    zone_id=None if t.get("zone_id") is None else str(t["zone_id"]),
                    origin=None if t.get("origin") is None else str(t["origin"]),
                )
                for t in data["targets"]
            )
        )

    def summary(self) -> str:
        """One line per failing or inconclusive check, for error messages (deploy failures, CLI)."""
        lines = [
            f"{host}: {check.id} {check.status.value}: expected {check.expected or '-'}, "
            f"observed {check.observed or '-'}" + (f" ({check.detail})" if check.detail else "")
            for host, check in self.with_status(Status.FAIL, Status.INCONCLUSIVE)
        ]
        return "\n".join(lines) if lines else "every check passed"
