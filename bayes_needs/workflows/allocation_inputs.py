"""Allocation inputs a run config names: cost-weight source, baseline shares and damping.

:func:`bayes_needs.workflows.pipeline.need_and_allocation` calls these, so every choice a
scenario file can vary (see :mod:`bayes_needs.config.scenarios`) is made from the config
alone:

* cost weights from a ``cost_weights.nc`` written by ``bayes-needs costs`` (uncertain, joint
  draws), or from a unit-cost table (fixed at its medians, or drawn from its lognormal
  uncertainty), mapped onto services with the England cost design's service map;
* a baseline: ``"population"`` (shares proportional to the child population, the exposure)
  or a CSV of ``la_code`` and ``share`` or ``allocation`` (money; ``amount`` is read too);
* budget-neutral damping of the change of share against that baseline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation import Damping
from bayes_needs.config.run import AllocationSpec
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError, MissingDataError
from bayes_needs.data._container_checks import rows_where
from bayes_needs.data.area import AreaData
from bayes_needs.data.person.design import PersonModelData
from bayes_needs.data.readers._csv import read_csv_rows
from bayes_needs.data.readers.costs import england_cost_design
from bayes_needs.data.unit_costs import load_unit_costs
from bayes_needs.workflows.costs import load_service_weights

POPULATION_BASELINE = "population"
DEFAULT_UNIT_COSTS = "default"
#: Columns a baseline CSV may give its values in, in order of preference: shares, or money
#: (``share_mean``/``allocation_mean``: the ``allocations.csv`` of an earlier run; ``amount``
#: is the name money had before it was called ``allocation`` everywhere).
BASELINE_VALUE_COLUMNS: tuple[str, ...] = ("share", "share_mean", "allocation",
                                           "allocation_mean", "amount", "amount_mean")
#: Draws of unit-cost weights taken when ``unit_cost_uncertainty`` is set; allocation pairs
#: a seeded random subset of them with the demand draws.
UNIT_COST_DRAWS = 4000


def configured_cost_weights(spec: AllocationSpec, services: Sequence[str], *,
                            random_seed: int) -> xr.DataArray | dict[str, float] | None:
    """Cost weights from ``cost_weights_file`` or ``unit_costs``, or ``None`` when neither is set.

    Parameters
    ----------
    spec
        The allocation section of a run config.
    services
        Services that need a weight.
    random_seed
        Seed of the unit-cost draws (``unit_cost_uncertainty``).

    Raises
    ------
    DataValidationError, MissingDataError, ConfigError
        If a file is missing or invalid, or does not cover every service.
    """
    for key, value, what in (("cost_weights_file", spec.cost_weights_file,
                              "a cost_weights.nc written by 'bayes-needs costs'"),
                             ("unit_costs", spec.unit_costs,
                              f"'{DEFAULT_UNIT_COSTS}' or a unit-cost table")):
        if value is not None and value != DEFAULT_UNIT_COSTS and not Path(value).is_file():
            raise MissingDataError(f"allocation.{key}: file {value} does not exist (give "
                                   f"{what})")
    if spec.cost_weights_file is not None:
        return load_service_weights(spec.cost_weights_file, services)
    if spec.unit_costs is not None:
        path = None if spec.unit_costs == DEFAULT_UNIT_COSTS else spec.unit_costs
        return unit_cost_weights(path, services,
                                 n_draws=UNIT_COST_DRAWS if spec.unit_cost_uncertainty else None,
                                 random_seed=random_seed)
    return None


def unit_cost_weights(path: str | Path | None, services: Sequence[str], *,
                      n_draws: int | None = None, random_seed: int = 0,
                      service_map: Mapping[str, Mapping[str, float]] | None = None
                      ) -> xr.DataArray | dict[str, float]:
    """Per-service weights from a unit-cost table (see :mod:`bayes_needs.data.unit_costs`).

    A service's weight is ``sum_a coefficient[s, a] * unit_cost[a]`` over the activities the
    service map gives it (default: the England cost design, e.g. ``cla`` = 52 weeks of the
    foster/residential/other placement mix).

    Parameters
    ----------
    path
        A unit-cost file; ``None`` for the packaged table.
    services
        Services that need a weight.
    n_draws
        ``None``: fixed weights at the table's medians. Otherwise this many joint draws, each
        activity's unit cost lognormal around its median with the table's ``sd_log``
        (independent between activities).
    random_seed
        Seed of the draws.
    service_map
        Service -> {activity: coefficient}; default the England design's.

    Returns
    -------
    dict or xarray.DataArray
        Fixed weights by service, or draws with dims ``(sample, service)``.
    """
    table = load_unit_costs(path)
    if service_map is None:
        service_map = england_cost_design().service_map
    costs = table.unit_costs.table.set_index("activity")
    problems = []
    for service in services:
        if service not in service_map:
            problems.append(f"service '{service}' has no activities in the cost design; "
                            f"mapped services: {sorted(service_map)}")
            continue
        missing = sorted(set(service_map[service]) - set(costs.index))
        if missing:
            problems.append(f"service '{service}' needs activity/activities {missing}, which "
                            f"the table does not have")
    if problems:
        raise DataValidationError(table.source, problems)
    activities = sorted({a for s in services for a in service_map[s]})
    coefficient = np.array([[float(service_map[s].get(a, 0.0)) for a in activities]
                            for s in services])                       # (service, activity)
    median = costs.loc[activities, "unit_cost"].to_numpy(dtype=float)
    if n_draws is None:
        return dict(zip(services, (coefficient @ median).tolist(), strict=True))
    sd_log = costs.loc[activities, "sd_log"].to_numpy(dtype=float)
    rng = np.random.default_rng(random_seed)
    draws = median * np.exp(sd_log * rng.standard_normal((n_draws, len(activities))))
    return xr.DataArray(draws @ coefficient.T, dims=(dims.SAMPLE, dims.SERVICE),
                        coords={dims.SERVICE: list(services)}, name="service_weight")


def baseline_shares(spec: AllocationSpec, data: AreaData | PersonModelData
                    ) -> pd.Series | None:
    """Return the configured baseline share per LA code (summing to 1), or ``None``.

    Parameters
    ----------
    spec
        The allocation section of a run config (``baseline``).
    data
        The data of the fit: its LAs, and for the ``"population"`` baseline the LSOA
        child populations of area data.

    Returns
    -------
    pandas.Series or None
        Baseline shares indexed by LA code, in the geography's order.

    Raises
    ------
    ConfigError
        If the ``"population"`` baseline is asked of person data (no LSOA populations).
    MissingDataError
        If the baseline CSV does not exist.
    DataValidationError
        If it lacks ``la_code`` and ``share``/``allocation``, repeats or misses LAs, or has
        negative or non-numeric values.
    """
    if spec.baseline is None:
        return None
    la_codes = list(data.geography.la_codes)
    if spec.baseline == POPULATION_BASELINE:
        if not isinstance(data, AreaData):
            raise ConfigError(f"allocation.baseline '{POPULATION_BASELINE}' needs area data "
                              f"(LSOA child populations); give a CSV la_code,share for a "
                              f"person-based run")
        exposure = data.geography.aggregate(data.exposure, dims.LSOA, dims.LA)
        return pd.Series(exposure / exposure.sum(), index=la_codes, name="baseline_share")
    return read_baseline_csv(spec.baseline, la_codes, setting="allocation.baseline")


def read_baseline_csv(path: str | Path, la_codes: Sequence[str], *, setting: str
                      ) -> pd.Series:
    """Read baseline shares per LA from a CSV: ``la_code`` and a share or money column.

    The value column is the first of :data:`BASELINE_VALUE_COLUMNS` the file has, so both a
    plain ``la_code, share`` (or ``allocation``) table and the ``allocations.csv`` of an earlier
    run (``share_mean``) are read; values are divided by their sum.

    Parameters
    ----------
    path
        The CSV file (``#`` lines are comments).
    la_codes
        The run's LAs: the file must have each exactly once, and no other.
    setting
        The option or setting that named the file, used in messages.

    Returns
    -------
    pandas.Series
        Baseline shares indexed by LA code, in the order of ``la_codes``, summing to 1.

    Raises
    ------
    MissingDataError
        If the file does not exist.
    DataValidationError
        Naming the file, and the line and column of each problem: no ``la_code`` or value
        column, negative or non-numeric values, repeated, missing or unknown LAs.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{setting}: file {path} does not exist (give "
                               f"'{POPULATION_BASELINE}' or a CSV la_code,share)")
    # '#' lines: comments of outputs written before the metadata sidecars.
    rows = read_csv_rows(path, comment="#")
    value = next((c for c in BASELINE_VALUE_COLUMNS if c in rows.header), None)
    if "la_code" not in rows.header or value is None:
        raise DataValidationError(str(path), [
            f"needs column 'la_code' and one of {list(BASELINE_VALUE_COLUMNS)}; found "
            f"{rows.header} in the header (line {rows.header_line})"])
    frame = rows.frame(["la_code", value])
    problems = []
    codes = frame["la_code"].astype(str)
    numbers = pd.to_numeric(frame[value], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(numbers) | (numbers < 0)
    for line in frame.index[bad][:10]:
        text = str(frame.loc[line, value])
        problems.append(f"line {line}, column '{value}': {text!r} is not a finite number >= 0")
    repeated = codes.duplicated(keep=False).to_numpy()
    if repeated.any():
        problems.append(f"la_code(s) {sorted(set(codes[repeated]))[:10]} appear more than "
                        f"once, at {rows_where(frame, repeated)}")
    missing = sorted(set(la_codes) - set(codes))
    if missing:
        problems.append(f"column 'la_code': no row for LA(s) {missing[:10]}"
                        f"{' ...' if len(missing) > 10 else ''}")
    extra = codes.isin(set(codes) - set(la_codes)).to_numpy()
    if extra.any():
        problems.append(f"column 'la_code': LA(s) {sorted(set(codes[extra]))[:10]} are not in "
                        f"the data ({rows_where(frame, extra)})")
    if problems:
        raise DataValidationError(str(path), problems)
    series = pd.Series(numbers, index=codes.to_numpy()).loc[list(la_codes)]
    if not series.sum() > 0:
        raise DataValidationError(str(path), [f"column '{value}': values sum to 0"])
    return (series / series.sum()).rename("baseline_share")


def configured_damping(spec: AllocationSpec) -> Damping | None:
    """Return the configured :class:`Damping`, or ``None`` when neither floor nor cap is set.

    Parameters
    ----------
    spec
        The allocation section of a run config (``damping_floor``, ``damping_cap``).

    Returns
    -------
    Damping or None
        The damping.
    """
    if spec.damping_floor is None and spec.damping_cap is None:
        return None
    return Damping(floor=spec.damping_floor, cap=spec.damping_cap)
