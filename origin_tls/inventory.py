"""Fleets: ``--inventory FILE`` and HOSTNAME arguments -> fully resolved :class:`~origin_tls.verify.Target` objects.

The contract (DESIGN.md "Fleets"). The file is YAML, or JSON when its name ends in ``.json`` (same structure)::

    defaults:             # optional: any per-target key but hostname
      edge_ca: certs/edge-ca.pem
    targets:              # required: a non-empty list
      - hostname: app.example.com
        origin: 203.0.113.10:443
        zone_id: 023e105f4ecef8ad9ca31a8372d0c353

Per-target keys are :data:`KEYS` (the ``verify`` option names without ``--``, ``_`` for ``-``). For each key the
more specific wins: the target's own, then the file's ``defaults``, then the command line (``defaults=`` here), then
the built-in baseline. Relative paths are relative to the inventory file (command-line paths: to the working
directory). Every target comes back with its own :class:`Baseline` and :class:`VerifyOptions`, PEM files read and
validated as the CLI's flags are; targets with the same values share one option set (so ``verify`` validates it
once) and a file named by many targets is read once.

Booleans are YAML/JSON booleans; ``aop`` also takes the level the zone must have (``off``, ``global``, ``zone``,
``hostname``: what ``OriginProtection``'s ``inventory_target`` exports). A null value is "not given here": the next
layer's value applies.

Refused with :class:`InvalidInput` before anything is probed, naming the file, the target (index and hostname) and
the key, with what is allowed: an unreadable, oversized (``inventory_file.MAX_INVENTORY_BYTES``) or malformed file,
a key given twice, an unknown key, a bad value, and any key that looks like a credential (the API token is read
only from ``CLOUDFLARE_API_TOKEN``; its value is never shown).

Reading the file (size bound, safe YAML, strict JSON, keys once, alias "bombs") is ``inventory_file``'s.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from .baseline import (
    DEFAULT_API_URL,
    DEFAULT_HSTS_MAX_AGE,
    DEFAULT_MIN_DAYS_REMAINING,
    AopMode,
    Baseline,
    HstsPolicy,
    TlsVersion,
    parse_aop_mode,
    parse_api_url,
    parse_endpoint,
    parse_hostname,
    parse_hostnames,
    parse_hsts_max_age,
    parse_readable_file,
    parse_tls_version,
    parse_zone_id,
)
from .errors import InvalidInput
from .inventory_file import Shown, read_bounded, read_document, shown
from .numbers import ascii_int
from .pem import MAX_PEM_FILE_BYTES, certificate_blocks, is_certificate_pem, is_key_pair, is_private_key_pem
from .verify import Target, VerifyOptions

__all__ = [
    "KEYS",
    "MAX_MIN_DAYS",
    "build_targets",
    "load_inventory",
    "parse_min_days",
]

#: Every per-target key, in the order DESIGN lists them.
KEYS: tuple[str, ...] = (
    "hostname",
    "edge",
    "edge_http",
    "origin",
    "origin_ca",
    "origin_cert",
    "edge_ca",
    "client_cert",
    "client_key",
    "zone_id",
    "api_url",
    "min_tls",
    "hsts_max_age",
    "hsts_include_subdomains",
    "hsts_preload",
    "aop",
    "min_days",
    "require_pq",
)
#: A century: anything larger is a typo, not a policy (no certificate lives that long).
MAX_MIN_DAYS = 36_500
#: Substrings of a key that names a credential: refused, never shown (tokens come only from the environment).
_SECRET_WORDS = ("token", "secret", "password", "passwd", "credential", "api_key", "auth_key")
#: How the command line names each key in its messages.
_FLAGS: dict[str, str] = {key: "--" + key.replace("_", "-") for key in KEYS}
_FLAGS.update(hostname="HOSTNAME", hsts_include_subdomains="--no-hsts-include-subdomains", aop="--no-aop")
_FILE_KEYS = ("defaults", "targets")
_PATH_KEYS = frozenset({"origin_ca", "origin_cert", "edge_ca", "client_cert", "client_key"})
_BOOL_KEYS = frozenset({"hsts_include_subdomains", "hsts_preload", "aop", "require_pq"})


def parse_min_days(value: object, *, field_name: str = "min_days") -> int:
    """Days a certificate must stay valid: a whole number from 0 to :data:`MAX_MIN_DAYS`."""
    allowed = f"a whole number of days from 0 to {MAX_MIN_DAYS}"
    if isinstance(value, bool):
        raise InvalidInput(field_name, value, allowed)
    if isinstance(value, str) and (number := ascii_int(value.strip())) is not None:
        value = number  # ASCII digits only (issue 18)
    if isinstance(value, float) and value.is_integer():  # 14.0 from a JSON producer that writes every number so
        value = int(value)
    if not isinstance(value, int) or not 0 <= value <= MAX_MIN_DAYS:
        raise InvalidInput(field_name, value, allowed)
    return value


# Plain classes, not dataclasses: each dataclass costs ~0.6 ms of CPU to make, and a run makes these at import,
# before its first connection (issue 17).


class _Pem:
    __slots__ = ("path", "text")

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text  # may be a private key: never in the repr

    def __repr__(self) -> str:
        return f"_Pem({self.path!r})"


class _Value:
    """One parsed value and how a message names it (``--min-tls``, ``fleet.yaml: targets[2] (h): min_tls``)."""

    __slots__ = ("field", "value")

    def __init__(self, value: Any, field: str) -> None:
        self.value = value
        self.field = field

    def __repr__(self) -> str:
        return f"_Value({self.value!r}, {self.field!r})"


class _Files:
    """PEM files read and validated once per path and run, whatever the number of targets naming them."""

    def __init__(self) -> None:
        self._read: dict[tuple[str, str], str] = {}

    def read(self, path: str, *, kind: str, field_name: str) -> _Pem:
        if (path, kind) not in self._read:
            self._read[path, kind] = self._load(path, kind, field_name)
        return _Pem(path, self._read[path, kind])

    @staticmethod
    def _load(path: str, kind: str, field_name: str) -> str:
        readable = parse_readable_file(path, field_name=field_name)
        # Bounded whatever the file's size (issue 18: a 61-byte inventory naming a 32 MiB file grew the heap 64 MiB).
        text = read_bounded(readable, limit=MAX_PEM_FILE_BYTES, field_name=field_name, what="a readable PEM file")
        # OpenSSL's word first (issue 17: cryptography stays out of the way to the first connection); when it does
        # not take the text, cryptography's check, which says why. A key's contents are parsed with its
        # certificate (_Resolver._verify_options).
        if kind == "key":
            if not is_private_key_pem(text):
                _check_pem(text, kind=kind, path=path, field_name=field_name)
            return text
        # A bundle is kept as its certificates, in file order, without what surrounds them: its comments may be UTF-8
        # (certifi's are), which OpenSSL's cadata refuses with a TypeError (found by tests/fuzz, issue 18).
        if is_certificate_pem(text):
            return certificate_blocks(text)
        _check_pem(text, kind=kind, path=path, field_name=field_name)
        from . import certs  # cryptography reads it where OpenSSL did not: its own reading, armoured again

        loaded = certs.load_pem_certificates(text, field_name=field_name)
        return "".join(certs.certificate_to_pem(cert) for cert in loaded)


def _check_pem(text: str, *, kind: str, path: str, field_name: str) -> None:
    """cryptography's rule for a PEM file (InvalidInput naming the field and the path, never the contents)."""
    from . import certs

    try:
        if kind == "key":
            certs.load_private_key_pem(text)
        else:
            certs.load_pem_certificates(text, field_name=field_name)
    except InvalidInput:
        what = "a PEM private key file" if kind == "key" else "a PEM file holding at least one certificate"
        raise InvalidInput(field_name, path, what) from None


def _parse(key: str, raw: object, field_name: str, base_dir: Path | None, files: _Files) -> Any:
    """One key's value, validated: the typed value, or InvalidInput naming ``field_name``."""
    if raw is not None and not isinstance(raw, (str, int, float, bool)):
        raise InvalidInput(field_name, shown(raw), "a single value (a string, a number or true/false)")
    try:
        return _parse_scalar(key, raw, field_name, base_dir, files)
    except InvalidInput as exc:
        if exc.value is raw and shown(raw) is not raw:  # a huge string: quote its start only
            raise InvalidInput(exc.field, shown(raw), exc.allowed) from None
        raise


def _parse_scalar(key: str, raw: object, field_name: str, base_dir: Path | None, files: _Files) -> Any:
    if key == "aop" and isinstance(raw, str):  # a level, as OriginProtection's inventory_target exports it
        return parse_aop_mode(raw, field_name=field_name)
    if key in _BOOL_KEYS:
        if not isinstance(raw, bool):
            raise InvalidInput(field_name, raw, "true or false (a YAML/JSON boolean, unquoted)")
        return raw
    if key == "hostname":
        return parse_hostname(raw, field_name=field_name)
    if key in ("edge", "origin", "edge_http"):
        return parse_endpoint(raw, field_name=field_name, default_port=80 if key == "edge_http" else 443)
    if key in _PATH_KEYS:
        if not isinstance(raw, str) or not raw:
            raise InvalidInput(field_name, raw, "a path to a readable PEM file")
        path = raw if base_dir is None or os.path.isabs(raw) else os.path.join(base_dir, raw)
        return files.read(path, kind="key" if key == "client_key" else "cert", field_name=field_name)
    if key == "zone_id":
        return parse_zone_id(raw, field_name=field_name)
    if key == "api_url":
        return parse_api_url(raw, field_name=field_name)
    if key == "min_tls":
        if isinstance(raw, float):  # YAML reads an unquoted 1.2 as a number, and 1.10 would be 1.1
            raise InvalidInput(field_name, raw, 'one of "1.0", "1.1", "1.2", "1.3", quoted (a string)')
        return parse_tls_version(raw, field_name=field_name)
    if key == "hsts_max_age":
        return parse_hsts_max_age(raw, field_name=field_name)
    return parse_min_days(raw, field_name=field_name)


def _is_secret_key(key: str) -> bool:
    return any(word in key.lower() for word in _SECRET_WORDS)


def _layer(
    entries: Mapping[Any, object], *, name: Callable[[str], str], allowed: Sequence[str], base_dir: Path | None
) -> Callable[[_Files], dict[str, _Value]]:
    """Check one layer's keys now; parse its values when called (so the files are read once per run)."""
    for key in entries:
        if isinstance(key, str) and _is_secret_key(key):
            raise InvalidInput(
                name(_printable(key)),
                Shown("<not shown>"),
                "absent: the API token is read only from CLOUDFLARE_API_TOKEN",
            )
        if key not in allowed:
            raise InvalidInput(name("key"), shown(key), allowed)

    def parse(files: _Files) -> dict[str, _Value]:
        # null is "not given here" (generated inventories write it), so the next layer's value applies.
        return {
            key: _Value(_parse(key, raw, name(key), base_dir, files), name(key))
            for key, raw in entries.items()
            if raw is not None
        }

    return parse


class _Resolver:
    """Merges the layers of one run into targets, sharing baselines and option sets between equal targets."""

    def __init__(self, shared_layers: Sequence[dict[str, _Value]]) -> None:
        self._shared = shared_layers  # least specific first: command line, then the file's defaults
        self._baselines: dict[tuple[Any, ...], Baseline] = {}
        self._options: dict[tuple[Any, ...], VerifyOptions] = {}

    def target(self, own: dict[str, _Value], name: Callable[[str], str]) -> Target:
        merged: dict[str, _Value] = {}
        for layer in (*self._shared, own):
            merged.update(layer)

        def get(key: str, default: Any = None) -> Any:
            return merged[key].value if key in merged else default

        return Target(
            get("hostname"),
            edge=get("edge"),
            edge_http=get("edge_http"),
            origin=get("origin"),
            baseline=self._baseline(merged, get),
            options=self._verify_options(merged, name, get),
        )

    def _baseline(self, merged: Mapping[str, _Value], get: Callable[..., Any]) -> Baseline:
        values = (
            get("min_tls", TlsVersion.TLS_1_2),
            get("hsts_max_age", DEFAULT_HSTS_MAX_AGE),
            get("hsts_include_subdomains", True),
            get("hsts_preload", False),
            get("aop", True),  # True: at least one level; False: not required; or the AopMode the zone must have
            get("min_days", DEFAULT_MIN_DAYS_REMAINING),
            get("require_pq", False),
        )
        if values not in self._baselines:
            min_tls, max_age, include_subdomains, preload, aop, min_days, require_pq = values
            try:
                hsts = HstsPolicy(max_age=max_age, include_subdomains=include_subdomains, preload=preload)
            except InvalidInput as exc:  # preload without includeSubDomains or a year: name where preload came from
                raise InvalidInput(merged["hsts_preload"].field, True, exc.allowed) from None
            self._baselines[values] = Baseline(
                min_tls=min_tls, hsts=hsts, aop=_aop_mode(aop), min_days_remaining=min_days, require_pq=require_pq
            )
        return self._baselines[values]

    def _verify_options(
        self, merged: Mapping[str, _Value], name: Callable[[str], str], get: Callable[..., Any]
    ) -> VerifyOptions:
        cert, key = get("client_cert"), get("client_key")
        if (cert is None) != (key is None):
            missing = "client_key" if key is None else "client_cert"
            pair = "--client-cert/--client-key" if name is _flag else "client_cert/client_key"
            raise InvalidInput(name(missing), None, f"given together with {pair}")
        pems = [get(k) for k in ("origin_ca", "origin_cert", "edge_ca", "client_cert", "client_key")]
        values = (*[None if pem is None else pem.path for pem in pems], get("zone_id"), get("api_url", DEFAULT_API_URL))
        if values not in self._options:
            origin_ca, origin_cert, edge_ca, client_cert, client_key = (None if p is None else p.text for p in pems)
            # Once per pair, before anything is probed: OpenSSL loads them together, else cryptography says why.
            if client_cert is not None and client_key is not None and not is_key_pair(client_cert, client_key):
                cert_field, key_field = merged["client_cert"].field, merged["client_key"].field
                key_path = pems[4].path if pems[4] else ""
                _check_pem(client_key, kind="key", path=key_path, field_name=key_field)
                from . import certs

                try:
                    certs.check_key_pair(client_cert, client_key, cert_field=cert_field, key_field=key_field)
                except InvalidInput as exc:  # the same rule, naming the file instead of the redacted key
                    raise InvalidInput(key_field, key_path or None, exc.allowed) from None
                from .tls_client import build_client_contexts

                try:  # and OpenSSL's reading of them, which verify needs: here it can still name the files
                    build_client_contexts(client_cert, client_key, ())
                except InvalidInput:  # e.g. a block after the key that cryptography skips and OpenSSL refuses
                    raise InvalidInput(
                        key_field,
                        key_path or None,
                        f"a private key OpenSSL loads together with the {cert_field} certificate",
                    ) from None
            self._options[values] = VerifyOptions(
                origin_ca_pem=origin_ca,
                origin_cert_pem=origin_cert,
                edge_ca_pem=edge_ca,
                client_cert_pem=client_cert,
                client_key_pem=client_key,
                zone_id=values[5],
                api_url=values[6],
            )
        return self._options[values]


def _aop_mode(value: bool | AopMode) -> AopMode | None:
    if isinstance(value, AopMode):
        return value
    return None if value else AopMode.OFF


def _flag(key: str) -> str:
    return _FLAGS.get(key, key)


def _command_line(defaults: Mapping[str, Any]) -> Callable[[_Files], dict[str, _Value]]:
    return _layer(defaults, name=_flag, allowed=KEYS[1:], base_dir=None)


def _argument_targets(hostnames: Sequence[str]) -> list[dict[str, _Value]]:
    names = parse_hostnames(hostnames, field_name="HOSTNAME") if hostnames else ()
    return [{"hostname": _Value(host, f"HOSTNAME[{index}]")} for index, host in enumerate(names)]


def build_targets(hostnames: Sequence[str], *, defaults: Mapping[str, Any]) -> list[Target]:
    """Without an inventory: one target per distinct HOSTNAME, every other key from ``defaults`` (the command line's
    values by key, e.g. ``{"min_tls": "1.2", "edge_ca": "ca.pem"}``; messages name them as flags, ``--min-tls``)."""
    files = _Files()
    resolver = _Resolver([_command_line(defaults)(files)])
    return [resolver.target(own, _flag) for own in _argument_targets(hostnames)]


def load_inventory(
    path: str | os.PathLike[str], *, defaults: Mapping[str, Any], hostnames: Sequence[str] = ()
) -> list[Target]:
    """The inventory's targets in file order, then one target per distinct HOSTNAME argument.

    ``defaults`` are the command line's values by key, as for :func:`build_targets`. HOSTNAME arguments are targets
    with no keys of their own: the file's ``defaults`` apply to them as to the file's targets. Raises
    :class:`InvalidInput` for anything the module docstring lists, before anything is probed.
    """
    path_text = os.fspath(path)
    data = read_document(path_text)
    if not isinstance(data, dict):
        raise InvalidInput(
            f"--inventory {path_text}", shown(data), "a mapping with 'targets' (and optional 'defaults')"
        )
    for key in data:
        if key not in _FILE_KEYS:
            raise InvalidInput(f"{path_text}: key", shown(key), _FILE_KEYS)
    base_dir = Path(os.path.dirname(os.path.abspath(path_text)))
    file_defaults = data.get("defaults") or {}
    if not isinstance(file_defaults, dict):
        raise InvalidInput(f"{path_text}: defaults", shown(file_defaults), "a mapping of per-target keys")
    entries = data.get("targets")
    if not isinstance(entries, list) or not entries:
        raise InvalidInput(f"{path_text}: targets", shown(entries), "a non-empty list of targets")

    files = _Files()
    shared = [
        _command_line(defaults)(files),
        _layer(file_defaults, name=lambda k: f"{path_text}: defaults: {k}", allowed=KEYS[1:], base_dir=base_dir)(files),
    ]
    resolver = _Resolver(shared)
    targets = []
    for index, entry in enumerate(entries):
        hostname = entry.get("hostname") if isinstance(entry, dict) else None
        label = (
            f"{path_text}: targets[{index}] ({_printable(hostname) if isinstance(hostname, str) else 'no hostname'})"
        )
        name = functools.partial(_target_field, label)
        if not isinstance(entry, dict):
            raise InvalidInput(label, shown(entry), "a mapping of per-target keys")
        if entry.get("hostname") is None:
            raise InvalidInput(name("hostname"), None, "given: every target needs its hostname")
        own = _layer(entry, name=name, allowed=KEYS, base_dir=base_dir)(files)
        targets.append(resolver.target(own, name))
    targets += [resolver.target(own, _flag) for own in _argument_targets(hostnames)]
    return targets


def _target_field(label: str, key: str) -> str:
    return f"{label}: {key}"


def _printable(text: str) -> str:
    """``text`` fit for a one-line message on a terminal: no control characters (escape sequences), 100 at most."""
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in text[:100])
    return cleaned + ("..." if len(text) > 100 else "")
