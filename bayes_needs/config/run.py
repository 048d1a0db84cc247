"""Run configuration: what data to load, how to model, sample, standardise and allocate.

A run config is a TOML or YAML file (see ``examples/``) validated with pydantic, so every
mistake is reported at once with the path of the offending key. Data locations given on the
command line (``--data-dir``, ``--year``) override the file; nothing machine-specific needs to
be committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bayes_needs.config.files import read_config_file, schema_version_problem
from bayes_needs.config.models import NO_COVARIATES, Standardisation, check_names
from bayes_needs.config.prior_specs import AREA_PRIORS, PANEL_PRIORS
from bayes_needs.config.priors import SCHEMA_VERSION as PRIOR_SCHEMA
from bayes_needs.config.priors import parse_priors
from bayes_needs.core import defaults
from bayes_needs.core.errors import ConfigError, ConfigFileError, DataValidationError

SCHEMA_VERSION: Final = 1
#: Model options that are lists of names (of covariates or needs indicators).
NAME_LIST_OPTIONS: tuple[str, ...] = ("covariates", "indicators")
#: Data sources that feed the panel model (the others feed the area model).
PANEL_SOURCES: tuple[str, ...] = ("england_panel", "synthetic_panel")
#: Largest accepted draws (and tuning steps) per chain, and number of chains.
MAX_DRAWS = 1_000_000
MAX_CHAINS = 64
#: How a fit computes its posterior (:data:`bayes_needs.core.defaults.SAMPLING_METHOD`):
#: ``"nuts"`` samples it exactly; ``"laplace"`` approximates it (:mod:`bayes_needs.models.laplace`).
SamplingMethod = Literal["nuts", "laplace"]
METHODS: tuple[str, ...] = get_args(SamplingMethod)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    """Where the area data come from.

    ``source = "england"`` reads the real public data (``data_dir``, ``year``);
    ``"synthetic"`` generates synthetic England (``scale``, ``data_seed``);
    ``"files"`` reads three CSV files (``geography``, ``lsoa_table``, ``counts``);
    ``"england_panel"`` reads the real LA x year panel (``data_dir``; years ``first_year`` to
    ``year``) and ``"synthetic_panel"`` generates one (``scale``, ``data_seed``), for the
    panel model (:mod:`bayes_needs.models.panel`). A panel source may add ``lsoa_returns``:
    one or several files of counts per LSOA or MSOA that inform the model's within-LA needs
    gradient, each a long CSV (``service, level, area_code, year, count``, optional
    ``la_code``; :class:`~bayes_needs.data.panel_returns.PanelReturns`) or an LA's filled
    return template, CSV or XLSX (``bayes-needs template``), checked as
    ``bayes-needs validate-return`` checks them
    (:mod:`bayes_needs.data.return_validation`). ``cla_from_flows`` rebuilds the England panel's
    missing CLA stocks (31 March 2018 above all) from the next year's stock, starts and
    ceases (:mod:`bayes_needs.data.readers.cla_flows`).
    """

    source: Literal["england", "synthetic", "files", "england_panel",
                    "synthetic_panel"] = "england"
    # Lists of names (an empty list is a mistake, not "the defaults"; see check_names).
    services: list[str] | None = None
    covariates: list[str] | None = None
    data_dir: str | None = None
    year: int | None = Field(default=None, ge=2000, le=2100)
    first_year: int | None = Field(default=None, ge=2000, le=2100)
    scale: Literal["tiny", "region", "england"] = "tiny"
    data_seed: int = Field(default=0, ge=0)
    geography: str | None = None
    lsoa_table: str | None = None
    counts: str | None = None
    exposure: str = "children"
    lsoa_returns: str | list[str] | None = None
    cla_from_flows: bool = defaults.CLA_FROM_FLOWS

    @field_validator("services", "covariates", mode="before")
    @classmethod
    def _names(cls, value: Any, info: ValidationInfo) -> Any:
        key = str(info.field_name)
        hint = " (for a model without covariates, set model.covariates = [])" \
            if key == "covariates" else ""
        return None if value is None else list(check_names(value, key, hint=hint))

    @model_validator(mode="after")
    def _returns_for_panels(self) -> DataSpec:
        if self.lsoa_returns is not None and self.source not in PANEL_SOURCES:
            raise ValueError(f"lsoa_returns are read only for the panel sources "
                             f"'england_panel' and 'synthetic_panel', not {self.source!r}")
        return self


class SamplingSpec(_Strict):
    """How the posterior is computed: NUTS settings (always seeded), or an approximation.

    ``method = "laplace"`` approximates the posterior instead of sampling it
    (:mod:`bayes_needs.models.laplace`): ``draws``, ``chains`` and ``random_seed`` shape and
    seed its draws; ``tune``, ``sampler`` and ``target_accept`` are NUTS's only.
    """

    method: SamplingMethod = defaults.SAMPLING_METHOD

    # Upper bounds catch typos (an extra 000) before hours of sampling or memory errors.
    draws: int = Field(default=defaults.DRAWS, ge=1, le=MAX_DRAWS)
    tune: int = Field(default=defaults.TUNE, ge=1, le=MAX_DRAWS)
    chains: int = Field(default=defaults.CHAINS, ge=1, le=MAX_CHAINS)
    sampler: Literal["nutpie", "pymc", "numpyro"] = defaults.SAMPLER
    target_accept: float = Field(default=defaults.TARGET_ACCEPT, gt=0, lt=1)
    random_seed: int = Field(default=defaults.RANDOM_SEED, ge=0)
    #: The sampler's bar on stderr; off by default in Python (the CLI shows it on a terminal).
    progressbar: bool = False
    #: Processes sampling chains in parallel (``None``: up to 2). Draws do not depend on it.
    cores: int | None = Field(default=None, ge=1)


class NeedSpec(_Strict):
    """Expected-need settings; see :mod:`bayes_needs.need`."""

    standardise: Standardisation = "la"
    random_seed: int = Field(default=defaults.NEED_RANDOM_SEED, ge=0)
    #: Panel model: years forecast after the last data year; need is for the last one.
    horizon: int = Field(default=defaults.FORECAST_HORIZON, ge=1, le=10)


class AllocationSpec(_Strict):
    """Allocation settings.

    Cost weights come from at most one source: ``cost_weights`` (fixed relative weights per
    service), ``cost_weights_file`` (a ``cost_weights.nc`` written by ``bayes-needs costs``:
    uncertain weights paired draw by draw with demand) or ``unit_costs`` (a unit-cost table,
    ``"default"`` for the packaged one, mapped onto services with the England cost design;
    fixed at the table's medians, or drawn from its lognormal uncertainty when
    ``unit_cost_uncertainty``). With none, :func:`bayes_needs.workflows.pipeline.cost_weights_for`
    chooses. ``baseline`` (``"population"``: shares proportional to the child population, or
    a CSV ``la_code, share`` / ``la_code, allocation``) with ``damping_floor``/``damping_cap``
    limits each LA's relative change of share (see :class:`bayes_needs.allocation.Damping`).
    ``pot`` (default :data:`~bayes_needs.core.defaults.POT`) is shared out in ``currency``
    (an ISO 4217 code, default ``"GBP"``).
    """

    interval_prob: float = Field(default=defaults.INTERVAL_PROB, gt=0, lt=1)
    interval_kind: Literal["eti", "hdi"] = defaults.INTERVAL_KIND
    #: The national pot, in ``currency``; the default is recorded like any setting.
    pot: float = Field(default=defaults.POT, gt=0, allow_inf_nan=False)
    #: ISO 4217 code of the pot's currency (the ``units`` of every money column).
    currency: str = Field(default=defaults.CURRENCY, pattern=r"^[A-Z]{3}$")
    cost_weights: dict[str, float] | None = None
    cost_weights_file: str | None = None
    unit_costs: str | None = None
    unit_cost_uncertainty: bool = False
    baseline: str | None = None
    damping_floor: float | None = Field(default=None, ge=-1, le=0)
    damping_cap: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> AllocationSpec:
        sources = [k for k in ("cost_weights", "cost_weights_file", "unit_costs")
                   if getattr(self, k) is not None]
        if len(sources) > 1:
            raise ValueError(f"give at most one cost-weight source, got {sources}")
        if self.unit_cost_uncertainty and self.unit_costs is None:
            raise ValueError("unit_cost_uncertainty needs unit_costs (a unit-cost table or "
                             "'default')")
        if (self.damping_floor is not None or self.damping_cap is not None) and \
                self.baseline is None:
            raise ValueError("damping_floor/damping_cap limit the change against a baseline: "
                             "set allocation.baseline ('population' or a CSV la_code,share)")
        return self

    @field_validator("pot", mode="before")
    @classmethod
    def _default_pot(cls, value: Any) -> Any:
        # Run files written before the pot was recorded hold null for the default pot.
        return defaults.POT if value is None else value

    @field_validator("cost_weights")
    @classmethod
    def _non_negative(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None:
            bad = {k: v for k, v in value.items() if not v >= 0 or v == float("inf")}
            if bad:
                raise ValueError(f"cost weights must be finite and >= 0: {bad}")
            if not any(value.values()):
                raise ValueError("at least one cost weight must be positive")
        return value


class RunConfig(_Strict):
    """A whole run: data, model options, priors, sampling, need and allocation."""

    schema_version: Literal[1] = SCHEMA_VERSION
    description: str = ""
    data: DataSpec = DataSpec()
    model: dict[str, Any] = Field(default_factory=dict)
    #: A prior file path, or an inline table of model variable name -> prior dict.
    priors: str | dict[str, Any] | None = None
    sampling: SamplingSpec = SamplingSpec()
    need: NeedSpec = NeedSpec()
    allocation: AllocationSpec = AllocationSpec()

    @field_validator("model")
    @classmethod
    def _model_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The model options are checked in full by the model's config class once the model
        # is chosen; lists of names are checked here, so a mistake names the file.
        for key in NAME_LIST_OPTIONS:
            if value.get(key) is not None:
                value = {**value, key: list(check_names(value[key], key, empty=NO_COVARIATES))}
        return value

    @model_validator(mode="after")
    def _inline_priors(self) -> RunConfig:
        # Checked against the declarations of the model the data source feeds.
        if isinstance(self.priors, dict):
            declared = PANEL_PRIORS if self.data.source in PANEL_SOURCES else AREA_PRIORS
            try:
                parse_priors({"schema_version": PRIOR_SCHEMA, "priors": self.priors},
                             source="priors", expected=declared)
            except DataValidationError as exc:
                raise ValueError("; ".join(exc.problems)) from None
        return self

    def with_overrides(self, **sections: dict[str, Any]) -> RunConfig:
        """Return a copy with keys of sections replaced (``None`` values are ignored).

        Parameters
        ----------
        **sections
            Section name -> keys to replace.
        """
        merged = self.model_dump()
        for section, values in sections.items():
            clean = {k: v for k, v in values.items() if v is not None}
            if isinstance(merged.get(section), dict):
                merged[section] = {**merged[section], **clean}
            elif clean:
                raise ConfigError(f"cannot override section '{section}'")
        return parse_run_config(merged, source="run config with command-line overrides")


def parse_run_config(values: dict[str, Any], *, source: str = "run config") -> RunConfig:
    """Validate a run-config mapping, reporting every problem at once."""
    try:
        return RunConfig.model_validate(values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            # A whole-config check (the inline priors) names its keys in the message.
            problems.append(f"{where}: {message}" if where else message)
        raise ConfigFileError(source, problems) from None


#: File paths in a run config, by section; relative ones are resolved against the file.
#: ``"default"``/``"population"`` are keywords, not paths.
PATH_KEYS: dict[str, tuple[str, ...]] = {
    "data": ("data_dir", "geography", "lsoa_table", "counts", "lsoa_returns"),
    "allocation": ("cost_weights_file", "unit_costs", "baseline"),
}
_PATH_KEYWORDS = {"default", "population"}


def resolve_paths(values: dict[str, Any], root: Path) -> dict[str, Any]:
    """Return a copy of a run-config mapping with relative paths made absolute from ``root``.

    Parameters
    ----------
    values
        A run-config mapping.
    root
        Directory the relative paths are relative to.
    """
    out = dict(values)

    def fix(value: Any) -> Any:
        if isinstance(value, list):  # several files (lsoa_returns)
            return [fix(v) for v in value]
        if isinstance(value, str) and value not in _PATH_KEYWORDS and \
                not Path(value).is_absolute():
            return str((root / value).resolve())
        return value

    if isinstance(out.get("priors"), str):
        out["priors"] = fix(out["priors"])
    for section, keys in PATH_KEYS.items():
        if isinstance(out.get(section), dict):
            out[section] = {k: fix(v) if k in keys else v for k, v in out[section].items()}
    return out


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate a run-config file; relative paths in it are resolved against it."""
    path = Path(path)
    values = read_config_file(path, what="run config")
    # Required in the file (as in prior and scenario files), though a config built in code
    # may leave it out: a file outlives the code that wrote it.
    version_problem = schema_version_problem(values, SCHEMA_VERSION)
    if version_problem:
        raise ConfigFileError(str(path), [version_problem])
    config = parse_run_config(resolve_paths(values, path.parent), source=str(path))
    # Checked here rather than in the model, so a typo fails before any data are loaded
    # (a stored run.json is not checked: its fit keeps its own priors).
    if isinstance(config.priors, str) and not Path(config.priors).is_file():
        raise ConfigFileError(str(path), [f"priors: prior file {config.priors} does not "
                                          f"exist"])
    return config
