"""Priors as data: load and validate prior files in the ``pymc_extras.prior.Prior`` dict schema.

A prior file (TOML or YAML) looks like::

    schema_version = 1

    [priors.sigma_la]
    dist = "HalfNormal"
    kwargs = { sigma = 0.5 }
    dims = ["service"]

Keys under ``priors`` are model variable names. Nothing in a file is executed (files are read
by :func:`bayes_needs.config.files.read_config_file`). Given a model's declarations
(:mod:`bayes_needs.config.prior_specs`), every prior is also checked against the dims and
support the model needs, and :func:`check_prior_shapes` checks parameter lists against the
dims' lengths once the data are known.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pymc as pm
from pymc_extras.prior import Prior

from bayes_needs.config.files import read_config_file as _read_config_file
from bayes_needs.config.files import schema_version_problem
from bayes_needs.config.prior_specs import (
    POSITIVE,
    TRANSFORM_SUPPORTS,
    PriorSpec,
    declared_problems,
    distribution_support,
    shape_problems,
)
from bayes_needs.core import dims
from bayes_needs.core.errors import PriorConfigError

SCHEMA_VERSION = 1
_ALLOWED_KEYS = {"dist", "kwargs", "dims", "centered", "transform"}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: PyMC classes that are not usable as a prior from a config file: abstract bases, or
#: distributions whose parameters are callables or other distributions.
_NOT_PRIORS = {"Distribution", "Continuous", "Discrete", "CustomDist", "DensityDist",
               "Simulator", "Mixture", "Censored", "Truncated", "EulerMaruyama", "RandomWalk"}
#: Parameters that are strictly positive in every PyMC distribution that has them.
_POSITIVE_PARAMS = {"sigma", "tau", "lam"}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a prior file safely (see :func:`bayes_needs.config.files.read_config_file`)."""
    return _read_config_file(path, error=PriorConfigError, what="prior file")


def _check_prior_dict(name: str, spec: Any, problems: list[str], depth: int = 0) -> None:
    where = f"priors.{name}"
    if not isinstance(spec, Mapping):
        problems.append(f"{where}: expected a table with 'dist' and 'kwargs', got "
                        f"{type(spec).__name__}")
        return
    unknown = sorted(set(spec) - _ALLOWED_KEYS)
    if unknown:
        problems.append(f"{where}: unknown key(s) {unknown}; allowed: {sorted(_ALLOWED_KEYS)}")
    if "dist" not in spec:
        problems.append(f"{where}: missing 'dist' (a PyMC distribution name such as "
                        f"'Normal')")
    dist = spec.get("dist")
    if "dist" in spec and not isinstance(dist, str):
        problems.append(f"{where}.dist: must be a distribution name string, got {dist!r}")
    elif isinstance(dist, str) and not _is_prior_distribution(dist):
        problems.append(f"{where}.dist: unknown distribution '{dist}'")
    kwargs = spec.get("kwargs", {})
    if not isinstance(kwargs, Mapping):
        problems.append(f"{where}.kwargs: must be a table of parameter values, got "
                        f"{type(kwargs).__name__}")
        kwargs = {}
    if isinstance(dist, str) and _is_prior_distribution(dist):
        allowed = _parameters(dist)
        unknown = sorted(str(k) for k in kwargs if k not in allowed)
        if unknown:
            problems.append(f"{where}.kwargs: unknown parameter(s) {unknown} for {dist}; "
                            f"allowed: {sorted(allowed)}")
    for key, value in kwargs.items():
        if not isinstance(key, str):
            problems.append(f"{where}.kwargs: parameter name {key!r} must be a string")
        elif isinstance(value, Mapping):
            if depth >= 3:
                problems.append(f"{where}.kwargs.{key}: nesting too deep")
            else:
                before = len(problems)
                _check_prior_dict(f"{name}.kwargs.{key}", value, problems, depth + 1)
                if len(problems) == before and key in _POSITIVE_PARAMS:
                    _check_positive(f"{where}.kwargs.{key}", value, problems)
        else:
            problem = _check_number(value, positive=key in _POSITIVE_PARAMS)
            if problem:
                problems.append(f"{where}.kwargs.{key}: {problem}")
    spec_dims = spec.get("dims", ())
    if isinstance(spec_dims, str):
        spec_dims = (spec_dims,)
    if not isinstance(spec_dims, (list, tuple)) or not all(isinstance(d, str)
                                                          for d in spec_dims):
        problems.append(f"{where}.dims: must be a list of dim names, got {spec_dims!r}")
    else:
        bad = sorted(set(spec_dims) - dims.CANONICAL_DIMS)
        if bad:
            problems.append(f"{where}.dims: unknown dim(s) {bad}; canonical dims are "
                            f"{sorted(dims.CANONICAL_DIMS)}")
        repeated = sorted({d for d in spec_dims if list(spec_dims).count(d) > 1})
        if repeated:
            problems.append(f"{where}.dims: dim(s) {repeated} listed more than once")
    if "centered" in spec and not isinstance(spec["centered"], bool):
        problems.append(f"{where}.centered: must be true or false, got {spec['centered']!r}")
    transform = spec.get("transform")
    if "transform" in spec and (not isinstance(transform, str)
                                or transform not in TRANSFORM_SUPPORTS):
        problems.append(f"{where}.transform: unknown transform {transform!r}; known: "
                        f"{sorted(TRANSFORM_SUPPORTS)}")


def _check_positive(where: str, spec: Mapping, problems: list[str]) -> None:
    """Check that a nested prior for a positive parameter (``sigma``, ...) is positive."""
    support = distribution_support(spec["dist"], spec.get("kwargs", {}), spec.get("transform"))
    if isinstance(support, str):
        problems.append(f"{where}: {support}")
    elif not POSITIVE.contains(support):
        problems.append(f"{where}: this parameter must be positive, but {spec['dist']} gives "
                        f"{support.description}")


def _is_prior_distribution(name: str) -> bool:
    """``name`` is a concrete PyMC distribution whose parameters can come from a file."""
    obj = getattr(pm, name, None)
    # Factories such as LKJCorr or ZeroInflatedPoisson are plain classes with a ``dist``
    # classmethod rather than Distribution subclasses, so test for ``dist``.
    return (not name.startswith("_") and name not in _NOT_PRIORS and isinstance(obj, type)
            and callable(getattr(obj, "dist", None)))


def _parameters(dist: str) -> set[str]:
    """Parameter names ``pm.<dist>.dist`` accepts (what pymc-extras checks kwargs against)."""
    params = inspect.signature(getattr(pm, dist).dist).parameters
    return {k for k, v in params.items()
            if v.kind not in (v.VAR_POSITIONAL, v.VAR_KEYWORD)}


def _check_number(value: Any, *, positive: bool, depth: int = 0) -> str | None:
    """Problem with a numeric parameter value (number or nested list of numbers), or None."""
    if isinstance(value, list):
        if depth > 3:
            return "lists nested too deep"
        for item in value:
            problem = _check_number(item, positive=positive, depth=depth + 1)
            if problem:
                return problem if problem.startswith("lists") else f"list entry {problem}"
        if not value:
            return "must not be an empty list"
        if depth == 0 and not _rectangular(value):
            return "lists must be rectangular (inner lists of one length)"
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"must be a number, list of numbers or nested prior, got {value!r}"
    if not math.isfinite(value):
        return f"must be finite, got {value!r}"
    if positive and value <= 0:
        return f"must be > 0, got {value!r}"
    return None


def _rectangular(value: Any) -> bool:
    """Whether ``value`` (a number or nested list) has a shape numpy can give it."""
    try:
        np.shape(value)
    except ValueError:  # ragged
        return False
    return True


def parse_priors(config: Mapping[str, Any], *, source: str = "priors",
                 expected: Iterable[str] | Mapping[str, PriorSpec] | None = None
                 ) -> dict[str, Prior]:
    """Validate a prior config mapping and build :class:`Prior` objects.

    Parameters
    ----------
    config
        Mapping with ``schema_version`` and a ``priors`` table of variable name -> prior dict.
    source
        Label for error messages (usually the file path).
    expected
        The model's prior declarations (:mod:`bayes_needs.config.prior_specs`): other
        names are errors, and each prior must have the declared dims and support. A plain
        collection of names checks the names only.

    Raises
    ------
    PriorConfigError
        Listing every problem in the config at once.
    """
    if not isinstance(config, Mapping):
        raise PriorConfigError(source, [f"expected a mapping with 'schema_version' and "
                                        f"'priors', got {type(config).__name__}"])
    problems: list[str] = []
    version_problem = schema_version_problem(config, SCHEMA_VERSION)
    if version_problem:
        problems.append(version_problem)
    unknown_top = sorted(set(config) - {"schema_version", "priors", "meta"})
    if unknown_top:
        problems.append(f"unknown top-level key(s) {unknown_top}; expected 'schema_version', "
                        f"'priors' and optionally 'meta'")
    table = config.get("priors", {})
    if not isinstance(table, Mapping):
        problems.append("'priors' must be a table of variable name -> prior")
        table = {}
    declared = expected if isinstance(expected, Mapping) else {}
    names = set(expected) if expected is not None else None
    for name, spec in table.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problems.append(f"priors.{name}: variable name {name!r} must be an identifier "
                            f"such as 'sigma_la'")
            continue
        if names is not None and name not in names:
            problems.append(f"priors.{name}: not a variable of this model; known variables: "
                            f"{sorted(names)}")
        before = len(problems)
        _check_prior_dict(name, spec, problems)
        if len(problems) == before and name in declared:
            problems += declared_problems(name, spec, declared[name])
    built: dict[str, Prior] = {}
    if not problems:
        for name, spec in table.items():
            try:
                built[name] = Prior.from_dict(_to_plain(spec))
            except Exception as exc:  # pymc-extras raises assorted types for bad kwargs
                problems.append(f"priors.{name}: {exc}")
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


def check_prior_shapes(priors: Mapping[str, Prior], declared: Mapping[str, PriorSpec],
                       coords: Mapping[str, Any], *, source: str = "priors") -> None:
    """Check numeric prior parameters against the dims' lengths, before a model is built.

    Parameters
    ----------
    priors
        The model's priors by variable name.
    declared
        The model's prior declarations.
    coords
        The model's coordinates.
    source
        Label for the error (the prior file, if any).

    Raises
    ------
    PriorConfigError
        Naming every parameter whose list of values does not fit its dims.
    """
    problems = shape_problems(priors, declared, coords)
    if problems:
        raise PriorConfigError(source, problems)


def prior_source(defaults: str, overrides: Any) -> str:
    """Label of a model's priors for messages: its default set and any override file."""
    if isinstance(overrides, (str, Path)):
        return f"{overrides} (with the default {defaults} priors)"
    return f"{defaults} priors" + (" with overrides" if overrides else "")


def load_priors(path: str | Path, *,
                expected: Iterable[str] | Mapping[str, PriorSpec] | None = None
                ) -> dict[str, Prior]:
    """Read and validate a prior file (TOML or YAML). See :func:`parse_priors`."""
    return parse_priors(read_config_file(path), source=str(path), expected=expected)


def default_priors_path(name: str) -> Path:
    """Path of the default prior file ``name`` (e.g. ``"area"``).

    The top-level ``priors/`` folder is installed as ``bayes_needs.default_priors``; in a
    source checkout (editable install) it is read in place.
    """
    checkout = Path(__file__).resolve().parents[2] / "priors" / f"{name}.toml"
    if checkout.is_file():
        return checkout
    try:
        return Path(str(resources.files("bayes_needs.default_priors").joinpath(f"{name}.toml")))
    except ModuleNotFoundError:
        raise PriorConfigError(f"default {name} priors", ["default prior file not found; "
                                                          "reinstall bayes-needs"]) from None


def default_prior_config(name: str) -> dict[str, Any]:
    """Return the default prior config ``name`` (e.g. ``"area"``) as a dict."""
    return read_config_file(default_priors_path(name))


def resolve_priors(defaults: str, overrides: str | Path | Mapping[str, Any] | None,
                   expected: Iterable[str] | Mapping[str, PriorSpec]) -> dict[str, Prior]:
    """Default priors for a model with any overrides applied by variable name.

    Parameters
    ----------
    defaults
        Name of the packaged default config.
    overrides
        A prior file path, a config mapping (with ``schema_version``/``priors``), a plain
        mapping of variable name -> :class:`Prior` or prior dict, or ``None``.
    expected
        The model's prior declarations (or just its configurable variable names).
    """
    priors = parse_priors(default_prior_config(defaults), source=f"default {defaults} priors",
                          expected=expected)
    if overrides is None:
        return priors
    if isinstance(overrides, (str, Path)):
        priors.update(load_priors(overrides, expected=expected))
        return priors
    if not isinstance(overrides, Mapping):
        raise PriorConfigError("prior overrides", [
            f"expected a file path or a mapping, got {type(overrides).__name__}"])
    if "schema_version" in overrides or "priors" in overrides:
        priors.update(parse_priors(overrides, source="prior overrides", expected=expected))
        return priors
    as_dicts = {k: _jsonable(v.to_dict()) if isinstance(v, Prior) else v
                for k, v in overrides.items()}
    priors.update(parse_priors({"schema_version": SCHEMA_VERSION, "priors": as_dicts},
                               source="prior overrides", expected=expected))
    return priors


def priors_to_config(priors: Mapping[str, Prior]) -> dict[str, Any]:
    """Return the serialisable config dict of ``priors`` (inverse of :func:`parse_priors`)."""
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
