"""Fuzz target: inventory files (``--inventory``), YAML and JSON, as a user or a generator might write them.

Contract: :func:`~origin_tls.inventory.load_inventory` returns targets or raises
:class:`~origin_tls.errors.InvalidInput` (exit 2 naming the file), within the contract's CPU and memory bounds.
Finding 8: PyYAML's constructors raised ValueError/KeyError/AttributeError/IndexError for ``!!int x``,
``!!timestamp x``, ``2001-02-30``, a minute of 60; JSON of 1 KB of ``[`` raised RecursionError.

Inputs are structure-aware: documents with ``defaults`` and ``targets`` and the per-target keys, whose values are
well-formed, or YAML scalars that resolve to other types (dates, base-60 and hexadecimal integers, booleans,
``!!tags``, anchors and aliases, Unicode digits), rendered unquoted so YAML reads them as such; JSON renderings;
deep nesting; then byte-level mutations of all of these.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from origin_tls.errors import InvalidInput
from origin_tls.inventory import KEYS, load_inventory
from tests.fuzz.contract import holds, warm_up
from tests.fuzz.grammar import UNICODE_DIGITS, mutated, number_texts
from tests.fuzz.material import pem_folder

warm_up()  # lazy imports of the package, before the first input is timed

_YAML_SCALARS = [
    "!!int x",
    "!!float x",
    "!!bool x",
    "!!timestamp x",
    "!!null x",
    "!!binary ~~",
    "!!binary \u00e9",
    "!!str",
    "!!set {a}",
    "!!omap [1]",
    "!!pairs [a]",
    "!!map [1]",
    "!!seq {}",
    "!!python/object:os.system [x]",
    "2001-02-30",
    "2001-02-03 10:60:00",
    "2001-12-14t21:59:43.10-05:00",
    "2002-12-14",
    "1:0:0:0",
    "190:20:30.15",
    "0x_",
    "0b2",
    "0o9",
    "0x1F",
    "-0",
    ".inf",
    "-.inf",
    ".nan",
    "~",
    "null",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "1_000",
    "1e400",
    "6.8523015e+5",
    "685.230_15e+03",
    "&a [*a, *a]",
    "*a",
    "*undefined",
    "[",
    "]",
    "{",
    "}",
    "? [a]",
    "'",
    '"',
    "|",
    ">",
    "%YAML 1.1",
    "---",
    "...",
    "- -",
    "a: b: c",
    "\t",
    "\u2028",
    "\ufeff",
]
_KEY_VALUES = {
    "hostname": ["app.example.com", "b\u00fccher.example", "*.example.com", "192.0.2.1", "a" * 70 + ".example"],
    "edge": ["127.0.0.1:443", "[::1]:8443", "host:" + UNICODE_DIGITS[:2], "host:99999", "h:"],
    "edge_http": ["127.0.0.1:80", "127.0.0.1:\u00b2"],
    "origin": ["203.0.113.10:443", "[::1]", "o:0"],
    "zone_id": ["023e105f4ecef8ad9ca31a8372d0c353", "ZONE", ""],
    "api_url": ["https://api.cloudflare.com/client/v4", "http://127.0.0.1:1", "http://[", "https://x:a"],
    "min_tls": ['"1.2"', "1.2", "1.10", '"1.3"'],
    "hsts_max_age": ["31536000", '"31536000"', "-1", "1e3"],
    "hsts_include_subdomains": ["true", "false", '"true"'],
    "hsts_preload": ["true", "false"],
    "aop": ["true", "false", "zone", "hostname", "global", "off"],
    "min_days": ["30", "0", "36500", "36501", "14.0", "14.5"],
    "edge_ca": ["ca.pem", "absent.pem", ".", "big.pem", "/proc/self/status"],
    "origin_ca": ["ca.pem"],
    "origin_cert": ["cert.pem"],
    "client_cert": ["cert.pem", "ca.pem"],
    "client_key": ["key.pem", "cert.pem"],
}


@functools.cache
def folder() -> Path:
    """The PEM files the documents name, and an 8 MiB one (sparse: it costs no disk)."""
    where = pem_folder("inventory")
    with (where / "big.pem").open("wb") as handle:
        handle.truncate(8 * 1024 * 1024)
    return where


_scalar = st.one_of(
    st.sampled_from(_YAML_SCALARS),
    number_texts,
    st.text(max_size=20),
)


@st.composite
def value_for(draw: st.DrawFn, key: str, clean: bool) -> str:
    if clean:  # the first value of each key is well-formed: documents that are read, PEM files and all
        return _KEY_VALUES.get(key, ["x"])[0] if key != "client_key" else "key.pem"
    if draw(st.integers(0, 3)):
        return draw(st.sampled_from(_KEY_VALUES.get(key, ["x"])))
    return draw(_scalar)


# Mostly the real keys: one unknown key ends the reading, so they are rare.
_keys = st.sampled_from(list(KEYS) * 6 + ["api_token", "targts", "<<", "? x", "defaults"])


@st.composite
def mappings(draw: st.DrawFn, indent: str, *, with_hostname: bool, clean: bool) -> str:
    keys = draw(st.lists(st.sampled_from(KEYS[1:]) if clean else _keys, max_size=6, unique=clean))
    if clean and ("client_cert" in keys) != ("client_key" in keys):
        keys = [k for k in keys if k not in ("client_cert", "client_key")]
    if with_hostname and draw(st.integers(0, 9)):
        keys.insert(0, "hostname")
    lines = [f"{indent}{key}: {draw(value_for(key, clean))}" for key in keys]
    return "\n".join(lines) if lines else f"{indent}{{}}"


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    parts = []
    clean = draw(st.integers(0, 3)) == 0
    if draw(st.booleans()):
        parts.append("defaults:\n" + draw(mappings("  ", with_hostname=False, clean=clean)))
    targets = [draw(mappings("    ", with_hostname=True, clean=clean)) for _ in range(draw(st.integers(0, 3)))]
    parts.append("targets:\n" + "\n".join("  -\n" + t for t in targets) if targets else "targets: []")
    if draw(st.integers(0, 9)) == 0:
        parts.append(draw(st.sampled_from(_YAML_SCALARS)))
    return "\n".join(parts) + "\n"


@st.composite
def json_documents(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["structured", "deep", "numbers"]))
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=5000))
        return draw(st.sampled_from(["[", '{"a":', '{"targets":['])) * depth
    if kind == "numbers":
        return '{"targets": [{"hostname": "a.example.com", "min_days": ' + draw(number_texts) + "}]}"
    targets = [
        {
            key: json.loads(json.dumps(draw(st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none()))))
            for key in draw(st.lists(_keys, max_size=5))
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    for target in targets:
        target.setdefault("hostname", "app.example.com")
    return json.dumps({"targets": targets})


@st.composite
def inventories(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(["fleet.yaml", "fleet.json"]))
    text = draw(yaml_documents() if name.endswith(".yaml") else json_documents())
    data = text.encode()
    if draw(st.integers(0, 3)) == 0:
        data = draw(mutated(data))
    return name, data


def _load(folder: Path, name: str, data: bytes) -> object:
    path = folder / name
    path.write_bytes(data)
    return holds(lambda: load_inventory(str(path), defaults={}), allowed=(InvalidInput,))


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(inventory=inventories())
@example(inventory=("fleet.yaml", b"!!int x"))
@example(inventory=("fleet.yaml", b"!!timestamp x"))
@example(inventory=("fleet.yaml", b"targets: [{hostname: 2001-02-30}]"))
@example(inventory=("fleet.yaml", b"a: 2001-02-03 10:60:00"))
@example(inventory=("fleet.json", b"[" * 1024))
@example(inventory=("fleet.yaml", b"a: 1" + b":0" * 20_000))
@example(inventory=("fleet.json", b'{"targets": [{"hostname": "a.example.com", "min_days": %s}]}' % (b"9" * 4000)))
def test_an_inventory_is_targets_or_invalid_input(inventory: tuple[str, bytes]) -> None:
    name, data = inventory
    outcome = _load(folder(), name, data)
    event("refused" if isinstance(outcome, InvalidInput) else "read")
    if isinstance(outcome, InvalidInput):
        message = str(outcome)
        assert len(message) < 4000, message[:200]
        assert str(folder() / name) in message  # every refusal names the file (defaults= names no flag here)
