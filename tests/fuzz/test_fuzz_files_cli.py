"""Fuzz target: ``verify``'s command line, up to the point where it would start probing.

Contract: parsing the arguments and resolving every target and option (``cli._build``: what ``main`` does before
``verify`` touches the network) gives targets or raises :class:`~origin_tls.errors.InvalidInput` or the CLI's usage
error (both exit 2 with one line), within the contract's CPU and memory bounds. Finding 6: a port, a timeout or a
number of days written with ``²`` raised ValueError out of the parsers; Arabic-Indic digits were read as numbers.

Inputs are structure-aware: the real flags with values from each flag's grammar (endpoints with every kind of
port, numbers in ASCII and Unicode digits, huge and signed, file paths that exist, do not, are directories),
hostnames, and stray tokens.
"""

from __future__ import annotations

import functools

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from origin_tls import cli
from origin_tls.errors import InvalidInput
from tests.fuzz.contract import holds, warm_up
from tests.fuzz.grammar import number_texts
from tests.fuzz.material import pem_folder

warm_up()  # lazy imports of the package, before the first input is timed

_NUMERIC = ["--timeout", "--deadline", "--concurrency", "--hsts-max-age", "--min-days"]
_ENDPOINTS = ["--edge", "--edge-http", "--origin"]
_FILES = ["--origin-ca", "--origin-cert", "--edge-ca", "--client-cert", "--client-key", "--inventory", "--output"]
_SWITCHES = ["--no-hsts-include-subdomains", "--hsts-preload", "--no-aop", "--json"]
_CHOICES = {
    "--min-tls": ["1.0", "1.2", "1.3", "1.10", "1.\u00b2", ""],
    "--format": ["table", "json", "junit", "prometheus", "xml", ""],
    "--zone-id": ["023e105f4ecef8ad9ca31a8372d0c353", "x" * 32, ""],
    "--api-url": ["https://api.cloudflare.com/client/v4", "http://127.0.0.1:\u00b2", "http://[", "https://h:a"],
}

_hosts = st.one_of(
    st.sampled_from(["app.example.com", "127.0.0.1", "[::1]", "b\u00fccher.example", "", "-", "a..b", "*.x"]),
    st.text(max_size=20),
)
_ports = st.one_of(number_texts, st.sampled_from(["", "0", "65535", "65536", "\u00b2", "\u0661\u0662", "\uff18\uff10"]))
_endpoints = st.builds(lambda h, sep, p: f"{h}{sep}{p}", _hosts, st.sampled_from([":", "", "]:", "::"]), _ports)


@functools.cache
def files() -> list[str]:
    """Paths the arguments name: PEM files, inventories, one that does not exist, a directory, ``/dev/null``."""
    where = pem_folder("cli")
    (where / "fleet.yaml").write_text("targets: [{hostname: app.example.com, min_days: \u00b2}]\n")
    (where / "good.yaml").write_text("targets: [{hostname: app.example.com}]\n")
    names = ("ca.pem", "cert.pem", "key.pem", "fleet.yaml", "good.yaml", "absent")
    return [str(where / n) for n in names] + [str(where), "", "/dev/null"]


@st.composite
def argvs(draw: st.DrawFn, paths: list[str]) -> list[str]:
    argv = ["verify"]
    for _ in range(draw(st.integers(min_value=0, max_value=6))):
        kind = draw(st.sampled_from(["number", "endpoint", "file", "switch", "choice", "host", "stray"]))
        if kind == "number":
            argv += [draw(st.sampled_from(_NUMERIC)), draw(number_texts)]
        elif kind == "endpoint":
            argv += [draw(st.sampled_from(_ENDPOINTS)), draw(_endpoints)]
        elif kind == "file":
            argv += [draw(st.sampled_from(_FILES)), draw(st.sampled_from(paths))]
        elif kind == "switch":
            argv.append(draw(st.sampled_from(_SWITCHES)))
        elif kind == "choice":
            flag = draw(st.sampled_from(sorted(_CHOICES)))
            argv += [flag, draw(st.one_of(st.sampled_from(_CHOICES[flag]), st.text(max_size=12)))]
        elif kind == "host":
            argv.append(draw(_hosts))
        else:
            argv.append(draw(st.one_of(st.sampled_from(["--", "-x", "--nope", "--timeout="]), st.text(max_size=8))))
    argv = [a for a in argv if a not in ("-h", "--help")]  # argparse prints help and exits: not our parser
    if draw(st.booleans()):
        argv.append("app.example.com")
    return argv


def _build(argv: list[str]) -> object:
    return cli._build(cli.build_parser().parse_args(argv))


#: Inputs this target found or was written for, run every time (st.data() cannot take @example values).
REGRESSIONS = [
    ["verify", "app.example.com", "--origin", "127.0.0.1:\u00b2"],  # finding 6: ValueError from int()
    ["verify", "app.example.com", "--origin-ca", "ca.pem", "\n0"],  # argparse quoted a newline: two lines
]


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
@example(data=None)
def test_arguments_are_resolved_or_refused_in_one_line(data: st.DataObject | None) -> None:
    for argv in REGRESSIONS if data is None else [data.draw(argvs(files()), label="argv")]:
        _holds_for(argv)


def _holds_for(argv: list[str]) -> None:
    outcome = holds(lambda: _build(argv), allowed=(InvalidInput, cli._UsageError))
    event(type(outcome).__name__ if isinstance(outcome, Exception) else "resolved")
    if isinstance(outcome, InvalidInput | cli._UsageError):
        assert "\n" not in str(outcome).strip(), str(outcome)[:300]
