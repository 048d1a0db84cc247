"""Run configuration: what data to load, how to model, sample, standardise and allocate.

A run config is a TOML or YAML file (see ``examples/``) validated with pydantic, so every
mistake is reported at once with the path of the offending key. Data locations given on the
command line (``--data-dir``, ``--year``) override the file; nothing machine-specific needs to
be committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bayes_needs.configfile import read_config_file
from bayes_needs.errors import ConfigError, ConfigFileError

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataSpec(_Strict):
    """Where the area data come from.

    ``source = "england"`` reads the real public data (``data_dir``, ``year``);
    ``"synthetic"`` generates synthetic England (``scale``, ``data_seed``);
    ``"files"`` reads three CSV files (``geography``, ``lsoa_table``, ``counts``).
    """

    source: Literal["england", "synthetic", "files"] = "england"
    services: list[str] | None = None
    covariates: list[str] | None = None
    data_dir: str | None = None
    year: int | None = Field(default=None, ge=2000, le=2100)
    scale: Literal["tiny", "region", "england"] = "tiny"
    data_seed: int = Field(default=0, ge=0)
    geography: str | None = None
    lsoa_table: str | None = None
    counts: str | None = None
    exposure: str = "children"


class SamplingSpec(_Strict):
    """NUTS settings (always seeded)."""

    draws: int = Field(default=1000, ge=1)
    tune: int = Field(default=1000, ge=1)
    chains: int = Field(default=2, ge=1)
    sampler: Literal["pymc", "nutpie", "numpyro"] = "pymc"
    target_accept: float = Field(default=0.9, gt=0, lt=1)
    random_seed: int = Field(default=20240331, ge=0)
    progressbar: bool = True


class NeedSpec(_Strict):
    """Expected-need settings; see :meth:`AreaDemandModel.expected_need`."""

    standardise: Literal["la", "none", "all"] = "la"
    random_seed: int = Field(default=1, ge=0)


class AllocationSpec(_Strict):
    """Allocation settings. ``cost_weights`` are fixed relative weights per service."""

    interval_prob: float = Field(default=0.9, gt=0, lt=1)
    interval_kind: Literal["eti", "hdi"] = "eti"
    pot: float | None = Field(default=None, gt=0)
    cost_weights: dict[str, float] | None = None

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
    priors: str | None = None
    sampling: SamplingSpec = SamplingSpec()
    need: NeedSpec = NeedSpec()
    allocation: AllocationSpec = AllocationSpec()

    def with_overrides(self, **sections: dict[str, Any]) -> RunConfig:
        """A copy with keys of sections replaced (``None`` values are ignored)."""
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
            where = ".".join(str(p) for p in err["loc"]) or "<top level>"
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key"
            problems.append(f"{where}: {message}")
        raise ConfigFileError(source, problems) from None


def load_run_config(path: str | Path) -> RunConfig:
    """Read and validate a run-config file; a relative ``priors`` path is resolved against it."""
    path = Path(path)
    config = parse_run_config(read_config_file(path, what="run config"), source=str(path))
    if config.priors and not Path(config.priors).is_absolute():
        resolved = (path.parent / config.priors).resolve()
        config = config.model_copy(update={"priors": str(resolved)})
    return config
