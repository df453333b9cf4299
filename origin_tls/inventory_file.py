"""Reading an inventory document: bounded in size, YAML by PyYAML's safe loader or strict JSON, keys once.

Why this is safe to point at any file (DESIGN.md "Bounds and trust"): at most :data:`MAX_INVENTORY_BYTES` are read;
the safe loader constructs no Python objects beyond plain data, so nothing in the file runs; an anchor/alias
"bomb" stays a small graph (PyYAML shares an aliased node instead of copying it) and :func:`shown` never walks or
prints a container, so it costs neither memory nor time. A key given twice in one mapping is refused (YAML and JSON
readers would otherwise keep the last one silently). Messages name the file and where in it.

Every failure of the readers is the file's :class:`InvalidInput` (issue 18): PyYAML's constructors raise
``ValueError``, ``KeyError``, ``AttributeError`` or ``IndexError`` for a scalar they cannot build (``!!int x``,
``!!bool x``, ``!!timestamp x``, ``2001-02-30``, a minute of 60), JSON's reader ``RecursionError`` for ``[[[...``
and ``ValueError`` for a number of more than 4,300 digits; all are refused naming the file and, for YAML, where in
it. A YAML integer is at most :data:`_LONGEST_NUMBER` characters and written in ASCII: YAML 1.1's base-60 integers
(``1:0:0:...``) cost time quadratic in their length, and ``!!int`` would read Arabic-Indic digits.
:func:`read_bounded` is every bounded file read of the inventory (the document, and the PEM files it names).
"""

from __future__ import annotations

import functools
from typing import Any

from .errors import InvalidInput

__all__ = ["MAX_INVENTORY_BYTES", "Shown", "read_bounded", "read_document", "shown"]

#: A 1,000-target inventory is about 200 KiB; 16 MiB leaves room for any fleet and bounds a hostile file.
MAX_INVENTORY_BYTES = 16 * 1024 * 1024
_LONGEST_SHOWN = 200  # characters of a refused value quoted in a message
#: Longest YAML integer: a number of days or seconds has ten digits; 64 leaves room and bounds base-60's cost.
_LONGEST_NUMBER = 64
# What PyYAML's constructors raise for a scalar they cannot build (it does not wrap them in YAMLError), and
# RecursionError from a nesting the pure-Python reader cannot follow (libyaml stops at 1,000 levels itself).
_CONSTRUCTOR_ERRORS = (ValueError, KeyError, AttributeError, IndexError, TypeError, OverflowError, RecursionError)


class Shown:
    """A stand-in for a value a message must not quote (a container, a credential, a huge string)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text


def shown(value: object) -> object:
    if isinstance(value, str) and len(value) > _LONGEST_SHOWN:
        return Shown(repr(value[:_LONGEST_SHOWN]) + "...")
    if isinstance(value, int) and value.bit_length() > 3 * _LONGEST_SHOWN:  # JSON reads up to 4,300 digits
        try:
            return Shown(f"a number of {len(str(abs(value)))} digits")
        except ValueError:  # more digits than Python converts to text
            return Shown("a number of thousands of digits")
    if value is None or isinstance(value, (str, int, float, bool)) or value in ([], {}):
        return value
    return Shown(f"a {type(value).__name__}")


def read_bounded(path: str, *, limit: int, field_name: str, what: str) -> str:
    """The UTF-8 text of ``path``, reading at most ``limit`` + 1 bytes whatever the file's size: InvalidInput
    naming ``field_name`` and the path when it is unreadable (allowed: ``what``, e.g. "a readable PEM file"),
    larger than ``limit`` or not UTF-8."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(limit + 1)
    except (OSError, ValueError):  # ValueError: a NUL in the path
        raise InvalidInput(field_name, path, what) from None
    if len(raw) > limit:
        size = f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"
        raise InvalidInput(field_name, path, f"a file of at most {size}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(field_name, path, "a UTF-8 text file") from None


def read_document(path: str) -> Any:
    """The parsed document: YAML, or JSON when the name ends in ``.json``. InvalidInput naming the file."""
    text = read_bounded(path, limit=MAX_INVENTORY_BYTES, field_name="--inventory", what="a readable YAML or JSON file")
    if path.lower().endswith(".json"):
        return _load_json(text, path)
    return _load_yaml(text, path)


def _load_json(text: str, path: str) -> Any:
    import json  # only an inventory file needs it; a run of hostnames starts without (issue 17)

    try:
        return json.loads(text, object_pairs_hook=_json_object)
    except _DuplicateKey as exc:
        raise InvalidInput(f"--inventory {path}", Shown(f"{exc.key!r} twice"), "each key once") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        raise InvalidInput(f"--inventory {path}", Shown(where), "valid JSON") from None
    except RecursionError:
        raise InvalidInput(f"--inventory {path}", Shown("nested too deeply"), "valid JSON") from None
    except ValueError as exc:  # a number of more than 4,300 digits (int() refuses it)
        problem = str(exc).split(";")[0][:_LONGEST_SHOWN]  # not Python's advice to raise the limit
        raise InvalidInput(f"--inventory {path}", Shown(problem), "valid JSON") from None


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
    except _BadScalar as exc:
        where = f"line {exc.mark.line + 1}, column {exc.mark.column + 1}: " if exc.mark is not None else ""
        raise InvalidInput(f"--inventory {path}", Shown(f"{where}{exc.problem}"), "valid YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InvalidInput(f"--inventory {path}", Shown(f"{where}{problem}"), "valid YAML") from None
    except _CONSTRUCTOR_ERRORS as exc:  # raised outside any one node (the document as a whole)
        problem = f"{type(exc).__name__}: {str(exc)[:_LONGEST_SHOWN]}"
        raise InvalidInput(f"--inventory {path}", Shown(problem), "valid YAML") from None


class _BadScalar(Exception):
    """A node PyYAML's constructor could not build: where it is, and what the constructor said."""

    def __init__(self, mark: Any, problem: str) -> None:
        self.mark = mark
        self.problem = problem


@functools.cache
def _yaml_loader() -> type[Any]:
    """PyYAML's safe loader (libyaml's when built with it: ~10x faster) refusing a key given twice in a mapping."""
    import yaml

    base: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class _Loader(base):  # type: ignore[misc]
        def construct_object(self, node: Any, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep=deep)
            except _CONSTRUCTOR_ERRORS as exc:
                tag = node.tag.rsplit(":", 1)[-1]
                value = node.value if isinstance(node.value, str) else ""
                problem = f"{tag} {shown(value)!r} cannot be read ({type(exc).__name__}: {str(exc)[:_LONGEST_SHOWN]})"
                raise _BadScalar(node.start_mark, problem) from None

        def construct_yaml_int(self, node: Any) -> Any:
            text = self.construct_scalar(node)
            if not isinstance(text, str) or len(text) > _LONGEST_NUMBER or not text.isascii():
                raise ValueError(f"an integer is at most {_LONGEST_NUMBER} ASCII characters")
            return super().construct_yaml_int(node)

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

    _Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
    return _Loader
