"""Reading an inventory document: bounded in size, YAML by PyYAML's safe loader or strict JSON, keys once.

Why this is safe to point at any file (DESIGN.md "Bounds and trust"): at most :data:`MAX_INVENTORY_BYTES` are read;
the safe loader constructs no Python objects beyond plain data, so nothing in the file runs; an anchor/alias
"bomb" stays a small graph (PyYAML shares an aliased node instead of copying it) and :func:`shown` never walks or
prints a container, so it costs neither memory nor time. A key given twice in one mapping is refused (YAML and JSON
readers would otherwise keep the last one silently). Messages name the file and where in it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from .errors import InvalidInput

__all__ = ["MAX_INVENTORY_BYTES", "Shown", "read_document", "shown"]

#: A 1,000-target inventory is about 200 KiB; 16 MiB leaves room for any fleet and bounds a hostile file.
MAX_INVENTORY_BYTES = 16 * 1024 * 1024
_LONGEST_SHOWN = 200  # characters of a refused value quoted in a message


class Shown:
    """A stand-in for a value a message must not quote (a container, a credential, a huge string)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


def shown(value: object) -> object:
    if isinstance(value, str) and len(value) > _LONGEST_SHOWN:
        return Shown(repr(value[:_LONGEST_SHOWN]) + "...")
    if value is None or isinstance(value, (str, int, float, bool)) or value in ([], {}):
        return value
    return Shown(f"a {type(value).__name__}")


def read_document(path: str) -> Any:
    """The parsed document: YAML, or JSON when the name ends in ``.json``. InvalidInput naming the file."""
    field_name = "--inventory"
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_INVENTORY_BYTES + 1)
    except OSError:
        raise InvalidInput(field_name, path, "a readable YAML or JSON file") from None
    if len(raw) > MAX_INVENTORY_BYTES:
        raise InvalidInput(field_name, path, f"a file of at most {MAX_INVENTORY_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(field_name, path, "a UTF-8 text file") from None
    if path.lower().endswith(".json"):
        try:
            return json.loads(text, object_pairs_hook=_json_object)
        except _DuplicateKey as exc:
            raise InvalidInput(f"--inventory {path}", Shown(f"{exc.key!r} twice"), "each key once") from None
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
            raise InvalidInput(f"--inventory {path}", Shown(where), "valid JSON") from None
    return _load_yaml(text, path)


class _DuplicateKey(Exception):
    def __init__(self, key: object, where: str = "") -> None:
        self.key = key
        self.where = where


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(shown(key))
        result[key] = value
    return result


def _load_yaml(text: str, path: str) -> Any:
    import yaml  # imported here: a run without --inventory pays nothing for it

    try:
        return yaml.load(text, Loader=_yaml_loader())  # noqa: S506 (a SafeLoader subclass: safe_load's loader)
    except _DuplicateKey as exc:
        raise InvalidInput(f"--inventory {path}", Shown(f"{exc.key!r} twice{exc.where}"), "each key once") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InvalidInput(f"--inventory {path}", Shown(f"{where}{problem}"), "valid YAML") from None


@functools.cache
def _yaml_loader() -> type[Any]:
    """PyYAML's safe loader (libyaml's when built with it: ~10x faster) refusing a key given twice in a mapping."""
    import yaml

    base: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                if isinstance(key, (str, int, float, bool)) and key in seen:
                    mark = key_node.start_mark
                    raise _DuplicateKey(shown(key), f" (line {mark.line + 1})")
                if isinstance(key, (str, int, float, bool)):
                    seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return _Loader
