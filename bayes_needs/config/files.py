"""Safe reading of TOML and YAML configuration files (priors, run configs, scenarios).

Nothing in a file is executed: TOML is read with :mod:`tomllib` and YAML with a
:class:`yaml.SafeLoader` subclass that also rejects duplicate keys. Every failure names the
file and says what is wrong.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml

from bayes_needs.core.errors import ConfigFileError, DataValidationError

_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
         b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


class _UniqueKeyLoader(yaml.SafeLoader):
    """Safe YAML loader that rejects duplicate keys instead of keeping the last one."""


def _construct_unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep=False):
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_unique_mapping)


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
        If the file is missing, empty, not UTF-8, malformed or not a mapping.
    """
    path = Path(path)
    source = str(path)
    if path.is_dir():
        raise error(source, [f"is a directory, not a {what}"])
    if not path.is_file():
        raise error(source, ["file does not exist"])
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
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
        else:
            raise error(source, [f"unsupported file type '{suffix}'; use .toml, "
                                            f".yaml or .yml"])
    except tomllib.TOMLDecodeError as exc:
        raise error(source, [f"invalid TOML: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise error(source, [f"invalid or unsafe YAML{_yaml_where(exc)}: "
                                        f"{_yaml_problem(exc)}"]) from None
    except RecursionError:
        raise error(source, ["nesting too deep"]) from None
    if data is None:
        raise error(source, ["file is empty (only comments or blank lines)"])
    if not isinstance(data, dict):
        raise error(source, [f"top level must be a mapping, got "
                                        f"{type(data).__name__}"])
    return data


def _yaml_where(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _yaml_problem(exc: yaml.YAMLError) -> str:
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    text = "; ".join(p for p in parts if p)
    return text or str(exc)


