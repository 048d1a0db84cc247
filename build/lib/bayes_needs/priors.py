"""Priors as data: load and validate prior files in the ``pymc_extras.prior.Prior`` dict schema.

A prior file (TOML or YAML) looks like::

    schema_version = 1

    [priors.sigma_la]
    dist = "HalfNormal"
    kwargs = { sigma = 0.5 }
    dims = ["service"]

Keys under ``priors`` are model variable names. Nothing in a file is executed: TOML is read
with :mod:`tomllib` and YAML with ``yaml.safe_load``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pymc as pm
import yaml
from pymc_extras.prior import Prior

from bayes_needs import dims
from bayes_needs.errors import PriorConfigError

SCHEMA_VERSION = 1
_ALLOWED_KEYS = {"dist", "kwargs", "dims", "centered", "transform"}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or YAML file safely into a dict, with clear errors.

    Raises
    ------
    PriorConfigError
        If the file is missing, empty, not UTF-8, malformed or not a mapping.
    """
    path = Path(path)
    source = str(path)
    if not path.is_file():
        raise PriorConfigError(source, ["file does not exist"])
    raw = path.read_bytes()
    if not raw.strip():
        raise PriorConfigError(source, ["file is empty"])
    try:
        text = raw.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError as exc:
        raise PriorConfigError(source, [f"not valid UTF-8 text (byte {exc.start})"]) from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text)
        else:
            raise PriorConfigError(source, [f"unsupported file type '{suffix}'; use .toml, "
                                            f".yaml or .yml"])
    except tomllib.TOMLDecodeError as exc:
        raise PriorConfigError(source, [f"invalid TOML: {exc}"]) from None
    except yaml.YAMLError as exc:
        raise PriorConfigError(source, [f"invalid or unsafe YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise PriorConfigError(source, [f"top level must be a mapping, got "
                                        f"{type(data).__name__}"])
    return data


def _check_prior_dict(name: str, spec: Any, problems: list[str], depth: int = 0) -> None:
    where = f"priors.{name}"
    if not isinstance(spec, Mapping):
        problems.append(f"{where}: expected a table with 'dist' and 'kwargs', got "
                        f"{type(spec).__name__}")
        return
    unknown = sorted(set(spec) - _ALLOWED_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_ALLOWED_KEYS)}")
    dist = spec.get("dist")
    if not isinstance(dist, str):
        problems.append(f"{where}: 'dist' must be a distribution name string")
    elif not hasattr(pm, dist) or not isinstance(getattr(pm, dist), type):
        problems.append(f"{where}: unknown distribution '{dist}'")
    kwargs = spec.get("kwargs", {})
    if not isinstance(kwargs, Mapping):
        problems.append(f"{where}.kwargs: must be a table")
        kwargs = {}
    for key, value in kwargs.items():
        if isinstance(value, Mapping):
            if depth >= 3:
                problems.append(f"{where}.kwargs.{key}: nesting too deep")
            else:
                _check_prior_dict(f"{name}.kwargs.{key}", value, problems, depth + 1)
        elif isinstance(value, bool) or not isinstance(value, (int, float, list)):
            problems.append(f"{where}.kwargs.{key}: must be a number, list or nested prior, "
                            f"got {value!r}")
        elif isinstance(value, float) and value != value:
            problems.append(f"{where}.kwargs.{key}: NaN is not allowed")
    spec_dims = spec.get("dims", ())
    if isinstance(spec_dims, str):
        spec_dims = (spec_dims,)
    if not isinstance(spec_dims, (list, tuple)) or not all(isinstance(d, str)
                                                          for d in spec_dims):
        problems.append(f"{where}.dims: must be a list of dim names")
    else:
        bad = sorted(set(spec_dims) - dims.CANONICAL_DIMS)
        if bad:
            problems.append(f"{where}.dims: unknown dim(s) {bad}; canonical dims are "
                            f"{sorted(dims.CANONICAL_DIMS)}")
    if "centered" in spec and not isinstance(spec["centered"], bool):
        problems.append(f"{where}.centered: must be true or false")


def parse_priors(config: Mapping[str, Any], *, source: str = "priors",
                 expected: Iterable[str] | None = None) -> dict[str, Prior]:
    """Validate a prior config mapping and build :class:`Prior` objects.

    Parameters
    ----------
    config
        Mapping with ``schema_version`` and a ``priors`` table of variable name -> prior dict.
    source
        Label for error messages (usually the file path).
    expected
        Model variable names that may be configured; other names are errors.

    Raises
    ------
    PriorConfigError
        Listing every problem in the config at once.
    """
    problems: list[str] = []
    version = config.get("schema_version")
    if version is None:
        problems.append("missing 'schema_version'")
    elif version != SCHEMA_VERSION:
        problems.append(f"schema_version {version!r} is not supported (expected "
                        f"{SCHEMA_VERSION})")
    unknown_top = sorted(set(config) - {"schema_version", "priors", "meta"})
    if unknown_top:
        problems.append(f"unknown top-level key(s) {unknown_top}; expected 'schema_version', "
                        f"'priors' and optionally 'meta'")
    table = config.get("priors", {})
    if not isinstance(table, Mapping):
        problems.append("'priors' must be a table of variable name -> prior")
        table = {}
    expected = set(expected) if expected is not None else None
    for name, spec in table.items():
        if expected is not None and name not in expected:
            problems.append(f"priors.{name}: not a variable of this model; known variables: "
                            f"{sorted(expected)}")
        _check_prior_dict(name, spec, problems)
    built: dict[str, Prior] = {}
    if not problems:
        for name, spec in table.items():
            try:
                built[name] = Prior.from_dict(_to_plain(spec))
            except Exception as exc:  # pymc-extras raises assorted types for bad kwargs
                problems.append(f"priors.{name}: {type(exc).__name__}: {exc}")
    if problems:
        raise PriorConfigError(source, problems)
    return built


def _to_plain(spec: Mapping) -> dict:
    out = dict(spec)
    out["kwargs"] = {k: _to_plain(v) if isinstance(v, Mapping) else v
                     for k, v in spec.get("kwargs", {}).items()}
    if "dims" in out and isinstance(out["dims"], list):
        out["dims"] = tuple(out["dims"])
    return out


def load_priors(path: str | Path, *, expected: Iterable[str] | None = None) -> dict[str, Prior]:
    """Read and validate a prior file (TOML or YAML). See :func:`parse_priors`."""
    return parse_priors(read_config_file(path), source=str(path), expected=expected)


def default_prior_config(name: str) -> dict[str, Any]:
    """The packaged default prior config ``name`` (e.g. ``"area"``) as a dict."""
    text = resources.files("bayes_needs.default_priors").joinpath(f"{name}.toml").read_text()
    return tomllib.loads(text)


def resolve_priors(defaults: str, overrides: str | Path | Mapping[str, Any] | None,
                   expected: Iterable[str]) -> dict[str, Prior]:
    """Default priors for a model with any overrides applied by variable name.

    Parameters
    ----------
    defaults
        Name of the packaged default config.
    overrides
        A prior file path, a config mapping (with ``schema_version``/``priors``), a plain
        mapping of variable name -> :class:`Prior` or prior dict, or ``None``.
    expected
        The model's configurable variable names.
    """
    priors = parse_priors(default_prior_config(defaults), source=f"default {defaults} priors",
                          expected=expected)
    if overrides is None:
        return priors
    if isinstance(overrides, (str, Path)):
        priors.update(load_priors(overrides, expected=expected))
        return priors
    if "schema_version" in overrides:
        priors.update(parse_priors(overrides, source="prior overrides", expected=expected))
        return priors
    as_dicts = {k: v.to_dict() if isinstance(v, Prior) else v for k, v in overrides.items()}
    priors.update(parse_priors({"schema_version": SCHEMA_VERSION, "priors": as_dicts},
                               source="prior overrides", expected=expected))
    return priors


def priors_to_config(priors: Mapping[str, Prior]) -> dict[str, Any]:
    """Serialisable config dict for ``priors`` (inverse of :func:`parse_priors`)."""
    return {"schema_version": SCHEMA_VERSION,
            "priors": {k: _jsonable(v.to_dict()) for k, v in priors.items()}}


def _jsonable(obj):
    if isinstance(obj, Mapping):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj
