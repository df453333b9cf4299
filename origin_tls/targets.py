"""The run's input types: what to verify (:class:`Target`) and with what (:class:`VerifyOptions`).

A module of their own so that the layers read one way (issue 17): :mod:`origin_tls.plans` (the probe side of the
registry) and :mod:`origin_tls.verify` (which runs it) both import them, and neither imports the other's
importer. Users keep importing them from :mod:`origin_tls.verify`, which re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .baseline import DEFAULT_API_URL, Baseline, Endpoint

__all__ = ["MAX_WORKERS", "Target", "VerifyOptions"]

#: Default bound on probes in flight across all targets (``VerifyOptions.concurrency``, ``--concurrency``). DESIGN.md:
#: the smallest that keeps a 200-host run at the speed floor on the 50 ms bench (issue 19, measured against 64, 128
#: and 512: bench/results/issue-17-19.md). At most about this many connections are open at once to one origin (a
#: target costs ~5 of its 10 there); a few hundred handshakes in a burst are nothing for Cloudflare's edge or a
#: production origin, and a small origin is one flag away (``--concurrency 32``).
MAX_WORKERS = 256


@dataclass(frozen=True)
class Target:
    """One hostname to verify, and where to reach it (``None``: resolve the hostname, default ports)."""

    hostname: str
    edge: Endpoint | None = None
    edge_http: Endpoint | None = None
    origin: Endpoint | None = None
    #: This target's own baseline (an inventory's per-target keys); None: the run's.
    baseline: Baseline | None = None
    #: This target's own CAs, client certificate, zone and API (an inventory's per-target keys); None: the run's.
    #: Its run-level fields (timeout, deadline, concurrency) are ignored: those are the run's.
    options: VerifyOptions | None = None

    @property
    def edge_endpoint(self) -> Endpoint:
        return self.edge or Endpoint(self.hostname, 443)

    @property
    def edge_http_endpoint(self) -> Endpoint:
        return self.edge_http or Endpoint(self.edge_endpoint.host, 80)


@dataclass(frozen=True)
class VerifyOptions:
    """Everything besides the baseline that a verification needs. PEM text, not paths (the CLI reads the files)."""

    origin_ca_pem: str | None = None
    origin_cert_pem: str | None = None
    edge_ca_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = field(default=None, repr=False)
    zone_id: str | None = None
    api_url: str = DEFAULT_API_URL
    #: Run-level: bounds each probe as a whole (connect, handshake, request, the whole answer).
    timeout: float = 5.0
    #: Run-level: bounds the whole run; what has not finished by then is inconclusive ("deadline reached").
    deadline: float | None = None
    #: Run-level: probes in flight at once, across all targets.
    concurrency: int = MAX_WORKERS
