"""What each model's priors must look like: one declaration of dims and support per variable.

A model reads a prior for each of its variables with fixed dims (``beta`` of the area model is
``(service, covariate)``: one coefficient per service and covariate, in that order) and, for
scales and probabilities, a restricted support (``lsoa_dispersion`` must be positive). The
declarations below are the one source of truth: the model classes take their prior names from
them, and every prior file, inline prior table and prior mapping is checked against them by
:func:`bayes_needs.config.priors.parse_priors` before anything is built, so a swapped or
missing dim, a per-LA intercept or a ``Normal`` on a positive parameter is an error naming
the prior and what it should be, not a traceback (or, for swapped dims, silently transposed
coefficients). Numeric parameter lists are checked against the dims' lengths once the data
are known (:func:`bayes_needs.config.priors.check_prior_shapes`).

The support of a distribution is read from PyMC itself: the default transform PyMC samples it
on (log: non-negative; log-odds: the unit interval; interval: its bounds), or the image of the
prior's own ``transform`` (``exp``: positive, ...).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from pymc.distributions.transforms import (
    Interval,
    LogOddsTransform,
    LogTransform,
    _default_transform,
)
from pytensor.tensor.basic import Alloc
from pytensor.tensor.elemwise import DimShuffle
from pytensor.tensor.variable import TensorConstant

from bayes_needs.core import dims


@dataclass(frozen=True)
class Support:
    """An interval of values a variable may take, with a description for messages."""

    lower: float
    upper: float
    description: str
    #: Distributions on this support, suggested in messages.
    examples: str = ""

    def contains(self, other: Support) -> bool:
        """Whether every value of ``other`` lies in this support (end points aside)."""
        return other.lower >= self.lower and other.upper <= self.upper


REAL: Final = Support(-math.inf, math.inf, "any real value")
POSITIVE: Final = Support(0.0, math.inf, "positive values", "HalfNormal, Gamma or LogNormal")
UNIT_INTERVAL: Final = Support(0.0, 1.0, "values between 0 and 1", "Beta")
AUTOCORRELATION: Final = Support(-1.0, 1.0, "values between -1 and 1",
                                 "Beta or Uniform with bounds inside [-1, 1]")

#: Supports of the ``transform`` functions a prior file may name (their images).
TRANSFORM_SUPPORTS: Final = MappingProxyType({
    "exp": Support(0.0, math.inf, "positive values"),
    "softplus": Support(0.0, math.inf, "positive values"),
    "abs": Support(0.0, math.inf, "non-negative values"),
    "sqr": Support(0.0, math.inf, "non-negative values"),
    "sigmoid": Support(0.0, 1.0, "values between 0 and 1"),
    "expit": Support(0.0, 1.0, "values between 0 and 1"),
    "invlogit": Support(0.0, 1.0, "values between 0 and 1"),
    "tanh": Support(-1.0, 1.0, "values between -1 and 1"),
})
#: Ops that only broadcast or add dims, so a bound keeps its values through them.
_VALUE_PRESERVING = (DimShuffle, Alloc)
#: Continuous distributions PyMC samples untransformed although their support is bounded.
_UNTRANSFORMED_SUPPORTS = {"LogitNormal": Support(0.0, 1.0, "values between 0 and 1")}


@dataclass(frozen=True)
class PriorSpec:
    """What a model needs of one variable's prior.

    Attributes
    ----------
    dims
        The prior's dims, in order (``()``: a scalar).
    support
        Values the variable may take; the prior's distribution must lie inside.
    plain
        The model reads the prior's parameters directly (not through
        ``Prior.create_variable``), so nested priors, ``transform`` and ``centered`` are
        not supported.
    distributions
        The only distributions accepted (``None``: any continuous one).
    """

    dims: tuple[str, ...]
    support: Support = REAL
    plain: bool = False
    distributions: tuple[str, ...] | None = None


_SERVICE = (dims.SERVICE,)
_CORRELATION = PriorSpec((), plain=True, distributions=("LKJCorr",))

#: Priors of the area model (:class:`bayes_needs.models.area.AreaDemandModel`).
AREA_PRIORS: Final = MappingProxyType({
    "intercept": PriorSpec(_SERVICE),
    "beta": PriorSpec((dims.SERVICE, dims.COVARIATE)),
    "sigma_la": PriorSpec(_SERVICE, POSITIVE),
    "msoa_cv": PriorSpec(_SERVICE, POSITIVE),
    "lsoa_dispersion": PriorSpec(_SERVICE, POSITIVE),
    "la_corr": _CORRELATION,
})
#: Priors of the person model (:class:`bayes_needs.models.person.PersonDemandModel`).
PERSON_PRIORS: Final = MappingProxyType({
    "intercept": PriorSpec(_SERVICE),
    "beta": PriorSpec((dims.SERVICE, dims.COVARIATE)),
    "gamma": PriorSpec((dims.SERVICE, dims.CHILD_TERM)),
    "sigma_la": PriorSpec(_SERVICE, POSITIVE),
    "msoa_cv": PriorSpec(_SERVICE, POSITIVE),
    "sigma_msoa": PriorSpec(_SERVICE, POSITIVE),
    "lsoa_dispersion": PriorSpec(_SERVICE, POSITIVE),
    "child_dispersion": PriorSpec(_SERVICE, POSITIVE),
})
#: Priors of the panel model (:class:`bayes_needs.models.panel.PanelDemandModel`); the
#: ``within_*`` ones are optional external evidence (``priors/panel_literature.toml``),
#: ``policy_share`` is read by the need step.
PANEL_PRIORS: Final = MappingProxyType({
    "intercept": PriorSpec(_SERVICE, plain=True),
    "log_loading": PriorSpec(_SERVICE),
    "within_ratio": PriorSpec(()),
    "tau_between": PriorSpec((), POSITIVE),
    "sigma_la": PriorSpec(_SERVICE, POSITIVE),
    "la_correlation": _CORRELATION,
    "sigma_year": PriorSpec(_SERVICE, POSITIVE),
    "rho": PriorSpec(_SERVICE, AUTOCORRELATION),
    "sigma_ar": PriorSpec(_SERVICE, POSITIVE),
    "volatility_sd": PriorSpec(_SERVICE, POSITIVE),
    "volatility_trend": PriorSpec(_SERVICE),
    "count_dispersion": PriorSpec(_SERVICE, POSITIVE),
    "count_innovation": PriorSpec(_SERVICE, POSITIVE),
    "policy_share": PriorSpec((), UNIT_INTERVAL, plain=True),
    "within_log_rr_per_sd": PriorSpec(_SERVICE, plain=True),
    "within_log_decile_rr": PriorSpec(_SERVICE, plain=True),
    "returns_dispersion": PriorSpec(_SERVICE, POSITIVE),
})
#: Hyperpriors of the cost-weight model (:class:`bayes_needs.models.cost_weights`).
COST_WEIGHT_PRIORS: Final = MappingProxyType({
    "price_sd": PriorSpec((), POSITIVE),
    "spend_sigma": PriorSpec((dims.CATEGORY,), POSITIVE),
    "spend_nu": PriorSpec((), POSITIVE),
    "mix_sd": PriorSpec((), POSITIVE),
})


def distribution_support(dist: str, kwargs: Mapping[str, Any],
                         transform: str | None = None) -> Support | str:
    """Return the support of ``pm.<dist>`` with ``kwargs`` (and ``transform``), or a problem.

    Parameters
    ----------
    dist
        A PyMC distribution name (already checked to exist).
    kwargs
        Its parameters: numbers, lists of numbers or nested prior dicts (which stand for
        unknown values).
    transform
        The prior's ``transform`` (a key of :data:`TRANSFORM_SUPPORTS`), if any.

    Returns
    -------
    Support or str
        The support, or a problem: a discrete distribution, or parameters PyMC refuses.
    """
    try:
        params = {key: pt.dscalar(key) if isinstance(value, Mapping)
                  else np.asarray(value, float) for key, value in kwargs.items()}
        rv = _build(getattr(pm, dist), params)
    except Exception as exc:  # ragged lists; PyMC raises assorted types for what it refuses
        return f"PyMC cannot build {dist} with these parameters: {exc}"
    if not str(rv.dtype).startswith("float"):
        return f"{dist} is a discrete distribution; the variable is continuous"
    if transform is not None:
        return TRANSFORM_SUPPORTS[transform]
    if dist in _UNTRANSFORMED_SUPPORTS:
        return _UNTRANSFORMED_SUPPORTS[dist]
    default = _default_transform(rv.owner.op, rv)
    if isinstance(default, LogTransform):
        return Support(0.0, math.inf, "non-negative values")
    if isinstance(default, LogOddsTransform):
        return Support(0.0, 1.0, "values between 0 and 1")
    if isinstance(default, Interval):
        lower, upper = default.args_fn(*rv.owner.inputs)
        low, high = _bound(lower, np.min, -math.inf), _bound(upper, np.max, math.inf)
        return Support(low, high, f"values from {low:g} to {high:g}")
    return REAL


def _build(cls: Any, params: dict[str, Any]) -> Any:
    try:
        return cls.dist(**params)
    except Exception:
        # Some distributions (ZeroSumNormal) need a shape: give the parameters' own.
        shape = np.broadcast_shapes(*(np.shape(p) for p in params.values()
                                      if isinstance(p, np.ndarray)), ())
        return cls.dist(**params, shape=shape if shape else (2,))


def _bound(value: Any, pick: Any, default: float) -> float:
    """Return a bound of an interval transform as a number (``default`` if not fixed).

    Read from the constant it is made of, through value-preserving ops (broadcasting, added
    dims), never by compiling the graph: a bound that depends on a nested prior, or on
    anything else, is not fixed.
    """
    while value is not None and value.owner is not None and \
            isinstance(value.owner.op, _VALUE_PRESERVING):
        value = value.owner.inputs[0]
    if not isinstance(value, TensorConstant):
        return default
    return float(pick(value.data))


def declared_problems(name: str, spec: Mapping[str, Any], declared: PriorSpec) -> list[str]:
    """Problems of a structurally valid prior dict against the model's declaration.

    Parameters
    ----------
    name
        The variable name.
    spec
        Its prior dict (``dist``, ``kwargs``, ``dims``, ...), already checked for structure.
    declared
        What the model needs of it.
    """
    where = f"priors.{name}"
    problems = []
    got = spec.get("dims", ())
    got = (got,) if isinstance(got, str) else tuple(got)
    if got != declared.dims:
        hint = " (the order matters)" if sorted(got) == sorted(declared.dims) else ""
        problems.append(f"{where}.dims: {name} must have dims {list(declared.dims)}{hint}, got "
                        f"{list(got)}")
    dist, kwargs = spec["dist"], spec.get("kwargs", {})
    if declared.plain:
        nested = sorted(k for k, v in kwargs.items() if isinstance(v, Mapping))
        extras = [k for k in ("transform", "centered") if k in spec]
        if nested or extras:
            problems.append(f"{where}: the model reads {name}'s parameters as numbers, so "
                            f"nested priors ({nested}) and 'transform'/'centered' "
                            f"({extras}) are not supported here")
            return problems
    if declared.distributions is not None:
        if dist not in declared.distributions:
            problems.append(f"{where}.dist: {name} must be "
                            f"{' or '.join(declared.distributions)}, got {dist}")
        return problems
    support = distribution_support(dist, kwargs, spec.get("transform"))
    if isinstance(support, str):
        problems.append(f"{where}: {support}")
    elif not declared.support.contains(support):
        wanted = declared.support
        problems.append(f"{where}.dist: {name} takes {wanted.description}, but "
                        f"{_described(spec)} gives {support.description}; use a distribution "
                        f"such as {wanted.examples}")
    return problems


def _described(spec: Mapping[str, Any]) -> str:
    transform = spec.get("transform")
    return f"{spec['dist']} with transform '{transform}'" if transform else str(spec["dist"])


def shape_problems(priors: Mapping[str, Any], declared: Mapping[str, PriorSpec],
                   coords: Mapping[str, Any]) -> list[str]:
    """Problems of numeric prior parameters whose shape does not fit the dims' lengths.

    A parameter list must broadcast to the variable's shape (one value per service, say),
    which is known only once the data are: call this before the model is built.

    Parameters
    ----------
    priors
        Variable name -> :class:`pymc_extras.prior.Prior`.
    declared
        The model's declarations.
    coords
        The model's coordinates (dim name -> labels).
    """
    problems: list[str] = []
    for name, prior in priors.items():
        if name in declared:
            _shape_problems(f"priors.{name}", prior, declared[name].dims, coords, problems)
    return problems


def _shape_problems(where: str, prior: Any, prior_dims: tuple[str, ...],
                    coords: Mapping[str, Any], problems: list[str]) -> None:
    if any(d not in coords or len(coords[d]) == 0 for d in prior_dims):
        return  # a dim the model does not have here: the variable is not created
    shape = tuple(len(coords[d]) for d in prior_dims)
    for key, value in prior.parameters.items():
        if hasattr(value, "parameters"):  # a nested prior, with its own dims
            _shape_problems(f"{where}.kwargs.{key}", value, tuple(value.dims or ()), coords,
                            problems)
            continue
        got = np.shape(value)
        try:
            fits = np.broadcast_shapes(got, shape) == shape
        except ValueError:
            fits = False
        if not fits:
            problems.append(f"{where}.kwargs.{key}: {_shape_text(got)} do not fit "
                            f"{_dims_text(prior_dims, coords)}")


def _shape_text(shape: tuple[int, ...]) -> str:
    return f"{shape[0]} values" if len(shape) == 1 else f"values of shape {list(shape)}"


def _dims_text(prior_dims: tuple[str, ...], coords: Mapping[str, Any]) -> str:
    if not prior_dims:
        return "a variable without dims: give a single value"
    last = prior_dims[-1]
    sizes = ", ".join(f"{d} ({len(coords[d])})" for d in prior_dims)
    return (f"dims {sizes}: give one value, or one per {last} in the order "
            f"{list(coords[last])}")
