"""Safe reading of every TOML and YAML configuration file.

Run configs, prior files, scenario files and unit-cost tables are all read here. Nothing in a
file is executed: TOML is read with :mod:`tomllib` and YAML with a :class:`yaml.SafeLoader`
subclass that also rejects duplicate keys and keys that are not text (TOML keys are always
text, so both formats give the same kind of mapping).

A configuration file is small, so every file is held to limits that no real one comes near,
and a hostile or broken file is refused before it can use much memory or time:

* at most :data:`MAX_FILE_BYTES` bytes;
* at most :data:`MAX_VALUES` values (every mapping, list and scalar counts one) *after YAML
  aliases are expanded*. Aliases are allowed (an anchored prior may be reused), but a chain
  of aliases can expand a 1 KB file to billions of values (a "billion laughs" bomb), so the
  expanded size is measured on the parsed YAML graph, where an alias is still one shared
  node, before any Python object is built. Recursive aliases are refused;
* at most :data:`MAX_DEPTH` levels of nesting;
* only the value types TOML has (text, numbers, booleans, dates and times, lists and
  mappings) plus YAML's null: YAML tags such as ``!!set``, ``!!binary`` or ``!!python/...``
  are refused.

The result is built from fresh dicts and lists, so no two parts of it are the same object even
when the file used an alias. Every failure raises the caller's
:class:`~bayes_needs.core.errors.DataValidationError` subclass naming the file, and the line
and column where YAML gives one.
"""

from __future__ import annotations

import datetime
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from bayes_needs.core.errors import ConfigFileError, DataValidationError

#: Largest configuration file read (the largest shipped file is a few KB).
MAX_FILE_BYTES: Final = 1_000_000
#: Most values (mappings, lists and scalars, YAML aliases expanded) a file may hold.
MAX_VALUES: Final = 100_000
#: Deepest nesting of mappings and lists.
MAX_DEPTH: Final = 32

_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
         b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}
_SCALARS = (str, bool, int, float, datetime.date, datetime.time, type(None))


class ConfigLimitError(Exception):
    """A file exceeds one of the limits (internal; turned into the caller's error type)."""

    def __init__(self, problem: str, mark: yaml.Mark | None = None) -> None:
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        super().__init__(f"{problem}{where}")


class _SafeConfigLoader(yaml.SafeLoader):
    """Safe YAML loader: unique text keys, and the limits checked before construction."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        """Compose one node, refusing nesting deeper than :data:`MAX_DEPTH` as it is read."""
        # Checked while composing (which recurses once per level), so a file of thousands
        # of "[" is refused at once instead of after a stack overflow.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH + 1:
                raise ConfigLimitError(_too_deep(), self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_document(self, node: yaml.Node) -> Any:
        """Check the size, depth and recursion of ``node``'s graph, then build it."""
        _check_node_graph(node)
        return super().construct_document(node)


def _construct_unique_mapping(loader: _SafeConfigLoader, node: yaml.MappingNode,
                              deep: bool = False) -> dict[Any, Any]:
    seen: set[str] = set()
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise yaml.constructor.ConstructorError(
                None, None, "merge keys ('<<') are not supported; write the keys out, or "
                "use an alias for the whole value", key_node.start_mark)
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, str):
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is not text; put it in quotes", key_node.start_mark)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_SafeConfigLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                  _construct_unique_mapping)


def _check_node_graph(root: yaml.Node) -> None:
    """Raise :class:`ConfigLimitError` if the YAML graph is recursive, too big or too deep.

    An alias is the same node object as its anchor, so sizes are memoised by node identity:
    the walk costs one visit per distinct node however far the aliases would expand.
    """
    measured: dict[int, tuple[int, int]] = {}   # id(node) -> (expanded values, height)
    active: set[int] = set()

    def measure(node: yaml.Node, depth: int) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise ConfigLimitError(_too_deep(), node.start_mark)
        key = id(node)
        if key in measured:
            return measured[key]
        if key in active:
            raise ConfigLimitError("a YAML alias refers to a mapping or list that contains "
                                   "it (recursive alias)", node.start_mark)
        active.add(key)
        size, height = 1, 0
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            children = []
        for child in children:
            child_size, child_height = measure(child, depth + 1)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_VALUES:
                raise ConfigLimitError(_too_many(), child.start_mark)
            if height > MAX_DEPTH:
                raise ConfigLimitError(_too_deep(), child.start_mark)
        active.discard(key)
        measured[key] = (size, height)
        return size, height

    measure(root, 0)


def _too_many() -> str:
    return (f"more than {MAX_VALUES:,} values once YAML aliases are expanded; a configuration "
            f"file needs far fewer (remove the repeated aliases)")


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep"


def _plain(value: Any, where: str, depth: int, count: list[int]) -> Any:
    """Return ``value`` rebuilt from fresh dicts and lists, checking types and limits."""
    count[0] += 1
    if count[0] > MAX_VALUES:
        raise ConfigLimitError(_too_many())
    if depth > MAX_DEPTH:
        raise ConfigLimitError(_too_deep())
    if isinstance(value, Mapping):
        return {key: _plain(item, f"{where}.{key}" if where else str(key), depth + 1, count)
                for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, f"{where}[{i}]", depth + 1, count)
                for i, item in enumerate(value)]
    if isinstance(value, _SCALARS):
        return value
    raise ConfigLimitError(f"{where or 'top level'}: values of type {type(value).__name__} "
                           f"are not supported; use text, numbers, booleans, dates, lists "
                           f"and tables")


def read_config_file(path: str | Path, *, error: type[DataValidationError] = ConfigFileError,
                     what: str = "configuration file") -> dict[str, Any]:
    """Read a TOML or YAML file safely into a dict, with clear errors.

    Parameters
    ----------
    path
        A ``.toml``, ``.yaml`` or ``.yml`` file.
    error
        Exception type raised (a :class:`DataValidationError` subclass).
    what
        What the file is, for messages.

    Raises
    ------
    error
        If the file is missing, empty, too large, not UTF-8, malformed, unsafe, over a limit
        (see the module docstring) or not a mapping.
    """
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise error(source, [f"is a directory, not a {what}"])
    if not path.is_file():
        raise error(source, ["file does not exist"])
    if path.stat().st_size > MAX_FILE_BYTES:
        raise error(source, [f"file is larger than {MAX_FILE_BYTES:,} bytes; a {what} is a "
                             f"few KB"])
    raw = path.read_bytes()
    if not raw.strip():
        raise error(source, ["file is empty"])
    for bom, encoding in _BOMS.items():
        if raw.startswith(bom):
            raise error(source, [f"file is {encoding} encoded; save it as UTF-8"])
    try:
        text = raw.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError as exc:
        raise error(source, [f"not valid UTF-8 text (byte {exc.start}); save the "
                             f"file as UTF-8"]) from None
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise error(source, [f"unsupported file type '{suffix}'; use .toml, .yaml or .yml"])
    try:
        data = _parse(text, suffix)
        if data is not None:
            data = _plain(data, "", 0, [0])
    except tomllib.TOMLDecodeError as exc:
        raise error(source, [f"invalid TOML: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise error(source, [f"invalid or unsafe YAML{_yaml_where(exc)}: "
                             f"{_yaml_problem(exc)}"]) from None
    except (ValueError, TypeError, OverflowError) as exc:
        # A YAML scalar the safe constructors cannot convert (a date like 2024-13-45,
        # "!!float abc") raises a plain exception rather than a YAMLError.
        raise error(source, [f"invalid YAML value: {exc}"]) from None
    except ConfigLimitError as exc:
        raise error(source, [str(exc)]) from None
    except RecursionError:
        raise error(source, [_too_deep()]) from None
    if data is None:
        raise error(source, ["file is empty (only comments or blank lines)"])
    if not isinstance(data, dict):
        raise error(source, [f"top level must be a mapping, got {type(data).__name__}"])
    return data


def _parse(text: str, suffix: str) -> Any:
    if suffix == ".toml":
        return tomllib.loads(text)
    return yaml.load(text, Loader=_SafeConfigLoader)  # a SafeLoader subclass


def schema_version_problem(values: Mapping[str, Any], expected: int) -> str | None:
    """Return what is wrong with a file's ``schema_version`` (``None`` if it is right).

    Every configuration file kind declares the version of its schema, so a future format
    change can be told apart from a typo.

    Parameters
    ----------
    values
        The file's top-level mapping.
    expected
        The supported version.
    """
    if "schema_version" not in values:
        return (f"missing 'schema_version': add the line 'schema_version = {expected}' "
                f"(YAML: 'schema_version: {expected}') at the top of the file")
    version = values["schema_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version != expected:
        return (f"schema_version {version!r} is not supported (expected the integer "
                f"{expected})")
    return None


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    text = "; ".join(p for p in parts if p)
    return text or str(exc)
