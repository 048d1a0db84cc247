"""Structural options of the demand models, validated like the run config (pydantic).

The model classes in :mod:`bayes_needs.models` take these configs; the run config and the
scenario files validate a run's ``model`` section against them before any data are loaded.
A config's :meth:`~ModelConfig.to_dict` is what a fit stores in its netCDF attributes, and
:meth:`~ModelConfig.from_dict` rebuilds it on load. Every mistake raises
:class:`~bayes_needs.core.errors.ConfigError` naming the option.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final, Literal, Self

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from bayes_needs.config.prior_specs import AREA_PRIORS, PANEL_PRIORS, PERSON_PRIORS
from bayes_needs.core.errors import ConfigError

#: How the sampler sees the LA effects (:mod:`bayes_needs.models.la_effects`).
LA_PARAMETERISATIONS: tuple[str, ...] = ("adaptive", "centred", "noncentred")
#: Needs standardisations: marginalise LA effects (``"la"``), keep every effect (``"none"``)
#: or marginalise small-area effects too (``"all"``); the panel model also takes
#: ``"policy_share"`` (remove a prior-drawn share of the persistent LA effect).
STANDARDISATIONS: tuple[str, ...] = ("la", "none", "all")
Standardisation = Literal["la", "none", "all", "policy_share"]
LaParameterisation = Literal["adaptive", "centred", "noncentred"]

AREA_FAMILIES: tuple[str, ...] = ("negbin", "poisson")
PERSON_FAMILIES: tuple[str, ...] = ("poisson", "negbin", "bernoulli")
#: Variables of the area model a prior file may set (declared in :mod:`.prior_specs`).
AREA_PRIOR_NAMES: tuple[str, ...] = tuple(AREA_PRIORS)
#: Variables of the panel model a prior file may set (``within_*`` are optional external
#: evidence on the within-LA gradient, see ``priors/panel_literature.toml``; ``policy_share``
#: is used by the need step, not the fit).
PANEL_PRIOR_NAMES: tuple[str, ...] = tuple(PANEL_PRIORS)
PANEL_DYNAMICS: tuple[str, ...] = ("ar1",)
#: Likelihoods of LSOA/MSOA returns (:mod:`bayes_needs.models.panel_returns`).
MULTINOMIAL: Final = "multinomial"
DIRICHLET_MULTINOMIAL: Final = "dirichlet_multinomial"
RETURNS_FAMILIES: tuple[str, ...] = (MULTINOMIAL, DIRICHLET_MULTINOMIAL)
#: Variables of the person model a prior file may set.
PERSON_PRIOR_NAMES: tuple[str, ...] = tuple(PERSON_PRIORS)


#: What an empty list of a model's covariates (or indicators) means.
NO_COVARIATES: Final = "a model without covariates"


def check_standardisation(standardise: str) -> None:
    """Raise :class:`ConfigError` unless ``standardise`` is one of :data:`STANDARDISATIONS`.

    Parameters
    ----------
    standardise
        The requested needs standardisation.
    """
    if standardise not in STANDARDISATIONS:
        raise ConfigError(f"standardise must be 'la', 'none' or 'all', got {standardise!r} "
                          f"('policy_share' is for the panel model)")


class ModelConfig(BaseModel):
    """Shared behaviour of the model configs: frozen, strict keys, :class:`ConfigError`.

    Subclasses check their options in a ``mode="before"`` validator that raises
    :class:`ConfigError` with the original messages; pydantic wraps those in a
    :class:`pydantic.ValidationError`, which the constructor unwraps again, so callers only
    ever see :class:`ConfigError`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Which model the options belong to, for error messages ("area", "person").
    label: ClassVar[str] = "model"

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise self._config_error(exc) from None

    @classmethod
    def _config_error(cls, exc: ValidationError) -> ConfigError:
        """Return the :class:`ConfigError` a validator raised, or one listing the problems."""
        for error in exc.errors():
            cause = error.get("ctx", {}).get("error")
            if isinstance(cause, ConfigError):
                return cause
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                             for e in exc.errors())
        return ConfigError(f"invalid {cls.label} model option(s): {problems}")

    @classmethod
    def _filled(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Return ``values`` with every missing option at its default (for the checks)."""
        return {name: values.get(name, field.default)
                for name, field in cls.model_fields.items()}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None) -> Self:
        """Build from a plain mapping, rejecting unknown keys by name.

        Parameters
        ----------
        values
            Option name -> value; ``None`` or empty gives the defaults.
        """
        values = dict(values or {})
        known = set(cls.model_fields)
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"unknown {cls.label} model option(s) {unknown}; known: "
                              f"{sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Return a plain JSON-able mapping (what a fit stores)."""
        out = self.model_dump()
        covariates = out.get("covariates")
        if "covariates" in out:
            out["covariates"] = list(covariates) if covariates is not None else None
        return out


def _check_booleans(values: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if not isinstance(values[name], bool):
            raise ConfigError(f"{name} must be true or false, got {values[name]!r}")


def _check_parameterisation(value: Any) -> None:
    if value not in LA_PARAMETERISATIONS:
        raise ConfigError(f"la_parameterisation must be one of {LA_PARAMETERISATIONS}, "
                          f"got {value!r}")


def check_names(value: Any, key: str, *, empty: str | None = None,
                hint: str = "") -> tuple[str, ...]:
    """Return a list-of-names setting (``covariates``, ``services``, ...) as a tuple.

    A setting that names columns or services is a list of distinct names. Text is refused
    rather than read as one name (``"idaci, imd"`` would otherwise be one unknown name, and
    iterating text splits it into letters). To use every name in the data, leave the key
    out; an empty list is accepted only where it has a meaning of its own (a model's
    ``covariates = []``: a model without covariates), and refused elsewhere.

    Parameters
    ----------
    value
        The setting's value.
    key
        Its name, for messages.
    empty
        What an empty list means (for messages elsewhere); ``None`` refuses one.
    hint
        Added to the message refusing an empty list.

    Raises
    ------
    ConfigError
        Naming the key, if ``value`` is not a non-empty list of distinct, non-blank names.
    """
    if isinstance(value, str):
        raise ConfigError(f"{key} must be a list of names, got the text {value!r}; write "
                          f"{key} = [{', '.join(repr(v.strip()) for v in value.split(','))}]")
    if not isinstance(value, (list, tuple)):
        raise ConfigError(f"{key} must be a list of names, got {type(value).__name__} "
                          f"{value!r}")
    if not value and empty is None:
        raise ConfigError(f"{key} is an empty list; name at least one, or leave {key} out "
                          f"to use every one in the data{hint}")
    bad = [v for v in value if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ConfigError(f"{key} must be a list of names (text), got entries {bad!r}")
    repeated = sorted({v for v in value if list(value).count(v) > 1})
    if repeated:
        raise ConfigError(f"{key} lists {repeated} more than once")
    return tuple(value)


def _with_tuple_covariates(values: dict[str, Any]) -> dict[str, Any]:
    """Return ``values`` with ``covariates`` checked (:func:`check_names`) as a tuple."""
    if values.get("covariates") is not None:
        return {**values, "covariates": check_names(values["covariates"], "covariates",
                                                    empty=NO_COVARIATES)}
    return values


class AreaModelConfig(ModelConfig):
    """Structural choices of the area model.

    Parameters
    ----------
    family
        ``"negbin"``: LSOA counts overdispersed within their MSOA (Dirichlet-multinomial);
        ``"poisson"``: no LSOA-level extra variation (multinomial).
    la_effects
        Include LA ("policy") random effects.
    msoa_effects
        Include gamma MSOA random effects (integrated out analytically).
    correlated_la
        Correlate LA effects across services (LKJ prior ``la_corr``).
    covariates
        Covariate columns to use; ``None`` uses every covariate in the data.
    la_parameterisation
        How the sampler sees the (uncorrelated) LA effects. ``"adaptive"`` (default): each
        (LA, service) cell is partially centred with a weight ``w = sigma_la^2 /
        (sigma_la^2 + v)``, where ``v ~ 1/n + msoa_cv^2 * sum_m E_m^2 / (sum_m E_m)^2`` is the
        sampling variance of the LA's log rate from its ``n`` observed events and its MSOA
        noise. Cells the data pin down are centred (``w`` near 1), cells with little data,
        small ``sigma_la`` or large MSOA noise are non-centred (``w`` near 0), so neither the
        funnel nor the intercept ridge appears. ``"centred"``/``"noncentred"`` force ``w = 1``
        (cells with no data stay non-centred) or ``w = 0``. Every choice is the same model.
    """

    label: ClassVar[str] = "area"

    family: Literal["negbin", "poisson"] = "negbin"
    la_effects: bool = True
    msoa_effects: bool = True
    correlated_la: bool = False
    covariates: tuple[str, ...] | None = None
    la_parameterisation: LaParameterisation = "adaptive"

    @model_validator(mode="before")
    @classmethod
    def _check(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        v = cls._filled(values)
        if v["family"] not in AREA_FAMILIES:
            raise ConfigError(f"family must be 'negbin' or 'poisson', got {v['family']!r}")
        _check_booleans(v, ("la_effects", "msoa_effects", "correlated_la"))
        if v["correlated_la"] and not v["la_effects"]:
            raise ConfigError("correlated_la needs la_effects = true")
        _check_parameterisation(v["la_parameterisation"])
        return _with_tuple_covariates(values)


class PersonModelConfig(ModelConfig):
    """Structural choices of the person model.

    Parameters
    ----------
    family
        ``"poisson"``, ``"negbin"`` (NB1 child overdispersion) or ``"bernoulli"``.
    la_effects, msoa_effects
        Include LA and MSOA random effects.
    lsoa_effects
        Include Dirichlet LSOA effects within MSOAs (count families).
    covariates
        Area (LSOA) covariates to use; ``None`` uses all.
    la_parameterisation
        How the sampler sees the LA effects (:mod:`bayes_needs.models.la_effects`):
        ``"adaptive"`` (default) partially centres each (LA, service) cell on the LA's
        observed rate with weight ``sigma_la^2 / (sigma_la^2 + v)``, ``v`` the sampling
        variance of that rate (events, plus MSOA-level noise); ``"centred"`` and
        ``"noncentred"`` force the weight to 1 or 0. Every choice is the same model.
    row_level
        Evaluate the likelihood child by child, one term per record, instead of through the
        collapsed sufficient statistics. Same likelihood up to a constant; only for tests and
        benchmarks (give it cells made with ``keep_rows=True``).
    quadrature_nodes
        Gauss-Hermite nodes for logit-scale marginalisation (family ``"bernoulli"``).
    """

    label: ClassVar[str] = "person"

    family: Literal["poisson", "negbin", "bernoulli"] = "poisson"
    la_effects: bool = True
    msoa_effects: bool = True
    lsoa_effects: bool = False
    covariates: tuple[str, ...] | None = None
    la_parameterisation: LaParameterisation = "adaptive"
    row_level: bool = False
    quadrature_nodes: int = 20

    @model_validator(mode="before")
    @classmethod
    def _check(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        v = cls._filled(values)
        if v["family"] not in PERSON_FAMILIES:
            raise ConfigError(f"family must be one of {list(PERSON_FAMILIES)}, got "
                              f"{v['family']!r}")
        _check_booleans(v, ("la_effects", "msoa_effects", "lsoa_effects", "row_level"))
        if v["lsoa_effects"] and v["family"] == "bernoulli":
            raise ConfigError("lsoa_effects are only available for the count families "
                              "('poisson', 'negbin')")
        _check_parameterisation(v["la_parameterisation"])
        nodes = v["quadrature_nodes"]
        if isinstance(nodes, bool) or not isinstance(nodes, int) or not 1 <= nodes <= 100:
            raise ConfigError(f"quadrature_nodes must be a whole number in [1, 100], got "
                              f"{nodes!r}")
        return _with_tuple_covariates(values)


class PanelModelConfig(ModelConfig):
    """Structural choices of the panel model (:mod:`bayes_needs.models.panel`).

    Parameters
    ----------
    indicators
        Needs indicators (LSOA covariates) to use; ``None`` uses every one in the data.
    contextual
        Include the LA-level contextual needs term (LA means of the indicators, Mundlak).
    evidence
        Add the ``within_*`` external-evidence priors on the within-LA gradient (they must
        be given, e.g. by ``priors/panel_literature.toml``).
    la_volatility
        Give each LA and service its own innovation sd of the year-to-year deviations
        (log-normal around the service's, prior ``volatility_sd``); off, all LAs share one.
    volatility_trend
        Let the innovation sds change log-linearly over the years (prior
        ``volatility_trend``, per service and year); ``sigma_ar`` is then that of the last
        fitted year, and forecasts continue the trend. LA counts moved less from year to year
        after 2017 than before, and a constant sd fitted to all years makes next year's
        intervals too wide.
    count_noise
        Split each count's Poisson-sized noise, per service, into a part measured afresh every
        year (observation variance ``count_dispersion / y``; 1 is Poisson) and a part that
        persists (innovation variance ``count_innovation / n`` on top of ``sigma_ar``, with
        ``n`` the count expected from the national level and needs indicators). Stocks
        counted on a day (CLA on 31 March) carry almost no fresh noise: their changes are
        the year's flows in and out, which persist. On by default; off, every count is
        Poisson around the latent rate.
    correlated_services
        Let the persistent LA effects of the services correlate (an LKJ prior
        ``la_correlation``), so an LA's residual in one service informs the others.
    returns_family
        Likelihood of LSOA/MSOA returns (:mod:`bayes_needs.models.panel_returns`):
        ``"multinomial"`` split of each returned total, or ``"dirichlet_multinomial"`` with
        small-area variation beyond Poisson (prior ``returns_dispersion``).
    """

    label: ClassVar[str] = "panel"

    indicators: tuple[str, ...] | None = None
    contextual: bool = True
    evidence: bool = False
    la_volatility: bool = True
    volatility_trend: bool = True
    count_noise: bool = True
    correlated_services: bool = False
    returns_family: Literal["multinomial", "dirichlet_multinomial"] = "multinomial"

    @model_validator(mode="before")
    @classmethod
    def _check(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        v = cls._filled(values)
        _check_booleans(v, ("contextual", "evidence", "la_volatility", "volatility_trend",
                            "correlated_services"))
        if v["returns_family"] not in RETURNS_FAMILIES:
            raise ConfigError(f"returns_family must be one of {list(RETURNS_FAMILIES)}, got "
                              f"{v['returns_family']!r}")
        if v["indicators"] is not None:
            return {**values, "indicators": check_names(values["indicators"], "indicators",
                                                        empty=NO_COVARIATES)}
        return values

    def to_dict(self) -> dict[str, Any]:
        """Return a plain JSON-able mapping (what a fit stores)."""
        out = self.model_dump()
        if out["indicators"] is not None:
            out["indicators"] = list(out["indicators"])
        return out
