"""End-to-end runs: data -> fit -> expected need -> allocation -> files.

Used by ``bayes-needs demo``, ``fit`` and ``allocate``, and callable from scripts. Every file
in a run directory is written atomically:

* ``fit.nc`` — the posterior (InferenceData) with config, data hash and convergence in attrs;
* ``run.json`` — the run config and how the data were obtained, so the data can be reloaded;
* ``allocation.nc`` — per-draw needs, shares and ranks (xarray);
* ``allocations.csv`` — one row per LA with shares, ranks and allocations (in the pot's
  currency) and their intervals;
* ``demand.csv`` — one row per LA x service: child population (``exposure``), observed,
  needs-standardised and fitted demand, as counts and per 10,000 children;
* ``summary.txt`` — convergence figures and settings, the pot and its currency.

Each CSV table comes with its metadata sidecar (``allocations.meta.json``, ...: interval,
pot, each column's units; :func:`bayes_needs.core.writers.write_csv`), so the CSV itself
holds only the table.

The files of one call are written as a set (:func:`bayes_needs.core.outputs.output_set`): an
interrupted or failed run leaves the directory's previous complete set or the new one, never
a mixture. A run (:data:`~bayes_needs.core.outputs.RUN`: a fit, with or without allocation)
removes the allocation and report files of the previous fit in its directory; an allocation
(:data:`~bayes_needs.core.outputs.ALLOCATION`) removes those of the previous allocation.

Fitting, writing and reloading a fit (:class:`FitResult`, :func:`fit_area`,
:func:`write_fit`, :func:`load_fit`) live in :mod:`bayes_needs.workflows.fits` and are
re-exported here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from bayes_needs.allocation import Allocation, CostWeights, allocate
from bayes_needs.config.run import RunConfig
from bayes_needs.core import defaults, dims
from bayes_needs.core.convergence import describe_method, inference_record, is_approximate
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.intervals import IntervalKind, credible_interval, describe_interval
from bayes_needs.core.outputs import (
    ALLOCATION,
    RUN,
    output_set,
    with_sidecars,
    write_csv,
    write_text,
)
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.need import expected_need
from bayes_needs.workflows import allocation_inputs
from bayes_needs.workflows.decomposition import write_decomposition
from bayes_needs.workflows.fits import (
    FIT_FILE,
    RUN_FILE,
    DemandModel,
    FitResult,
    convergence,
    fit_area,
    load_fit,
    read_run_config,
    stage_fit,
    write_fit,
)

ALLOCATION_FILE = "allocation.nc"
ALLOCATIONS_CSV = "allocations.csv"
DEMAND_CSV = "demand.csv"
SUMMARY_FILE = "summary.txt"
#: The files of a run; each CSV table comes with its metadata sidecar (``*.meta.json``).
OUTPUT_FILES = with_sidecars((ALLOCATIONS_CSV, DEMAND_CSV, FIT_FILE, ALLOCATION_FILE,
                              SUMMARY_FILE, RUN_FILE))
#: Children per rate of ``demand.csv``'s ``*_rate_per_10k`` columns.
RATE_PER = 10_000

__all__ = [
    "ALLOCATIONS_CSV",
    "ALLOCATION_FILE",
    "DEMAND_CSV",
    "FIT_FILE",
    "OUTPUT_FILES",
    "RATE_PER",
    "RUN_FILE",
    "SUMMARY_FILE",
    "FitResult",
    "convergence",
    "cost_weights_for",
    "demand_table",
    "fit_area",
    "load_fit",
    "need_and_allocation",
    "rates_per_10k",
    "read_run_config",
    "stage_fit",
    "stage_run",
    "summary_text",
    "write_allocation",
    "write_fit",
    "write_run",
]

def cost_weights_for(config: RunConfig, data_info: dict[str, Any],
                     services: tuple[str, ...]) -> dict[str, float]:
    """Choose fixed cost weights: the config's, else the synthetic truth's, else the defaults.

    Parameters
    ----------
    config
        The run config (``allocation.cost_weights``).
    data_info
        How the data were obtained; synthetic data bring their true unit costs.
    services
        Services that need a weight.

    Returns
    -------
    dict
        Service -> weight.

    Raises
    ------
    ConfigError
        If the configured weights miss a service.
    """
    weights = config.allocation.cost_weights
    if weights is None and "synthetic" in data_info:
        truth = data_info["synthetic"].truth
        weights = {s: float(truth["unit_cost"].sel({dims.SERVICE: s})) for s in services}
    if weights is None:
        weights = {s: defaults.COST_WEIGHTS[s] for s in services if s in defaults.COST_WEIGHTS}
    missing = sorted(set(services) - set(weights))
    if missing:
        raise ConfigError(f"allocation.cost_weights has no weight for service(s) {missing}")
    return {s: float(weights[s]) for s in services}


def need_and_allocation(fit: FitResult[DemandModel], *, cost_weights: CostWeights | None = None,
                        need: xr.Dataset | None = None) -> tuple[xr.Dataset, Allocation]:
    """Draw expected need for a fit and allocate the pot with the fit's config.

    Parameters
    ----------
    fit
        An area or person fit; its config gives the need and allocation settings.
    cost_weights
        Fixed weights (mapping) or weight draws (DataArray with a ``service`` dim); by default
        the config's cost-weight file or unit-cost table
        (:func:`bayes_needs.workflows.allocation_inputs.configured_cost_weights`), else
        :func:`cost_weights_for`. The config's baseline and damping are applied.
    need
        Expected-need draws already made for this fit with its config's need settings
        (default: drawn here).

    Returns
    -------
    need, allocation
        The expected-need draws (:func:`bayes_needs.need.expected_need`) and the allocation.
    """
    if need is None:
        need = expected_need(fit.model, fit.idata, random_seed=fit.config.need.random_seed,
                             standardise=fit.config.need.standardise)
    a = fit.config.allocation
    if cost_weights is None:
        cost_weights = allocation_inputs.configured_cost_weights(
            a, fit.model.services, random_seed=fit.config.need.random_seed)
    if cost_weights is None:
        cost_weights = cost_weights_for(fit.config, fit.data_info, fit.model.services)
    allocation = allocate(need["need"], cost_weights, pot=a.pot, currency=a.currency,
                          interval_prob=a.interval_prob, interval_kind=a.interval_kind,
                          random_seed=fit.config.need.random_seed,
                          baseline=allocation_inputs.baseline_shares(a, fit.model.data),
                          damping=allocation_inputs.configured_damping(a))
    # How the posterior was computed travels with the allocation (approximate or not).
    allocation.draws.attrs.update(inference_record(convergence(fit.idata)))
    return need, allocation


def demand_table(need: xr.Dataset, *, interval_prob: float, interval_kind: IntervalKind,
                 rated: tuple[str, ...] = ("observed", "needs", "fitted")) -> pd.DataFrame:
    """Summarise demand per LA x service: observed, needs-standardised and fitted.

    Parameters
    ----------
    need
        Expected-need draws (``need``, ``fitted``, ``observed``, ``exposure``).
    interval_prob, interval_kind
        The credible intervals of the needs and fitted demand.
    rated
        The counts also given per 10,000 children of the exposure (a person run's observed
        and fitted counts cover only the children in the records, not the exposure).

    Returns
    -------
    pandas.DataFrame
        ``la_code, service, exposure, observed, needs_mean, needs_lower, needs_upper,
        fitted_mean, fitted_lower, fitted_upper``, then each ``rated`` count per 10,000
        children (:func:`rates_per_10k`).
    """
    rows: dict[str, xr.DataArray | xr.Dataset] = {}
    for name, prefix in (("need", "needs"), ("fitted", "fitted")):
        lower, upper = credible_interval(need[name], interval_prob=interval_prob,
                                         interval_kind=interval_kind)
        rows[f"{prefix}_mean"] = need[name].mean((dims.CHAIN, dims.DRAW))
        rows[f"{prefix}_lower"] = lower
        rows[f"{prefix}_upper"] = upper
    table = xr.Dataset({"observed": need["observed"], **rows})
    frame = table.drop_vars([c for c in table.coords if c not in (dims.LA, dims.SERVICE)]) \
        .to_dataframe().reset_index()
    frame = frame.rename(columns={dims.LA: "la_code"})
    exposure = need["exposure"].to_series()
    frame.insert(2, "exposure", exposure.loc[frame["la_code"]].to_numpy())
    columns = ["la_code", "service", "exposure", "observed", "needs_mean", "needs_lower",
               "needs_upper", "fitted_mean", "fitted_lower", "fitted_upper"]
    return rates_per_10k(frame[columns], rated)


def rates_per_10k(frame: pd.DataFrame, prefixes: tuple[str, ...]) -> pd.DataFrame:
    """Add ``<prefix>_rate_per_10k[_stat]``: each count column over ``exposure`` x 10,000.

    A positive multiple of a count, so a rate's interval is its count's interval scaled.

    Parameters
    ----------
    frame
        A demand table with an ``exposure`` column.
    prefixes
        The counts to rate: ``observed`` (one column), ``needs`` (``needs_mean``,
        ``needs_lower``, ``needs_upper``), ...

    Returns
    -------
    pandas.DataFrame
        ``frame`` with the rate columns appended (NaN where the exposure is 0).
    """
    out = frame.copy()
    per_child = RATE_PER / out["exposure"].where(out["exposure"] > 0)
    for prefix in prefixes:
        for column in [c for c in frame.columns if c == prefix or c.startswith(prefix + "_")]:
            out[f"{prefix}_rate_per_10k{column.removeprefix(prefix)}"] = out[column] * per_child
    return out


def summary_text(fit: FitResult[DemandModel], allocation: Allocation, *,
                 extra: dict[str, Any]) -> str:
    """Write the human-readable run summary, with the convergence figures.

    Parameters
    ----------
    fit
        The fit (data, model, sampling and allocation settings).
    allocation
        Its allocation.
    extra
        Further ``label: value`` lines of the convergence section.

    Returns
    -------
    str
        The text of ``summary.txt``.
    """
    conv = convergence(fit.idata)
    a = fit.config.allocation
    lines = [
        "bayes_needs run summary",
        "=======================",
        f"data: {fit.model.data.source} ({fit.model.data.geography.n_lsoa} LSOAs, "
        f"{fit.model.data.geography.n_msoa} MSOAs, {fit.model.data.geography.n_la} LAs)",
        f"data hash: {fit.model.data.data_hash()}",
        f"services: {', '.join(fit.model.services)}",
        f"covariates: {', '.join(fit.model.covariate_names) or '(none)'}",
        f"model: {json.dumps(fit.model.config.to_dict(), sort_keys=True)}",
        _sampling_line(fit.config, conv),
        f"standardisation: {fit.config.need.standardise}",
        f"intervals: {describe_interval(a.interval_prob, a.interval_kind)}",
        f"pot: {allocation.pot:,.2f} {allocation.currency}" if allocation.pot is not None
        else "pot: none (shares only)",
        "",
    ]
    lines += _approximation_lines(conv) if is_approximate(conv) else [
        "convergence (hyperparameters)",
        f"  max R-hat:        {conv['rhat_max']:.4f}",
        f"  min bulk ESS:     {conv['ess_bulk_min']:.0f}",
        f"  min tail ESS:     {conv['ess_tail_min']:.0f}",
        f"  divergences:      {conv['divergences']}",
        f"  min BFMI:         {conv['bfmi_min']:.3f}",
    ]
    for key, value in extra.items():
        lines.append(f"  {key + ':':<18}{value}")
    per = conv.get("per_variable", {})
    if per.get("rhat_max"):
        lines += ["", "per hyperparameter (max R-hat / min bulk ESS / min tail ESS)"]
    for name in per.get("rhat_max", {}):
        lines.append(f"  {name:<18}{per['rhat_max'][name]:.4f} / "
                     f"{per['ess_bulk_min'][name]:.0f} / {per['ess_tail_min'][name]:.0f}")
    share = allocation.draws["share"].sum(dims.LA)
    lines += ["", f"shares sum to 1 on every draw: max |sum - 1| = "
                  f"{float(abs(share - 1).max()):.2e}"]
    return "\n".join(lines) + "\n"


def _sampling_line(config: RunConfig, conv: dict[str, Any]) -> str:
    """Say how the posterior was computed: NUTS's settings, or the approximation."""
    s = config.sampling
    if is_approximate(conv):
        return (f"method: {describe_method(conv)}; {conv['n_chains']} x {conv['n_draws']} "
                f"importance-resampled draws, seed {s.random_seed}; results are approximate")
    return (f"sampler: {s.sampler}, {conv['n_chains']} chains x {conv['n_draws']} draws after "
            f"{s.tune} tuning steps, seed {s.random_seed}")


def _approximation_lines(conv: dict[str, Any]) -> list[str]:
    """Return the summary's section on an approximate fit's diagnostic (for convergence's)."""
    return ["approximation (results are approximate, not NUTS)",
            f"  method:           {conv['method']}",
            f"  Pareto k̂:         {conv['pareto_k']:.3f}",
            f"  importance ESS:   {conv['importance_ess']:.0f} of "
            f"{conv['n_chains'] * conv['n_draws']}"]


def _stage_allocation(fit: FitResult[AreaDemandModel], need: xr.Dataset, allocation: Allocation,
                      directory: Path, extra: dict[str, Any] | None) -> None:
    """Write the allocation files of :data:`OUTPUT_FILES` into ``directory``."""
    a = fit.config.allocation
    allocation.to_netcdf(directory / ALLOCATION_FILE)
    allocation.to_csv(directory / ALLOCATIONS_CSV)
    demand = demand_table(need, interval_prob=a.interval_prob, interval_kind=a.interval_kind)
    write_csv(directory / DEMAND_CSV, demand,
              comment=f"interval: {describe_interval(a.interval_prob, a.interval_kind)} "
                      f"({a.interval_kind}); needs standardisation: "
                      f"{fit.config.need.standardise}; rates per {RATE_PER:,} children of "
                      f"the exposure",
              metadata={"interval_prob": a.interval_prob, "interval_kind": a.interval_kind})
    extra = {"fit wall time": f"{fit.seconds:.1f} s", **(extra or {})}
    write_text(directory / SUMMARY_FILE, summary_text(fit, allocation, extra=extra))


def write_allocation(fit: FitResult[AreaDemandModel], need: xr.Dataset, allocation: Allocation,
                     out_dir: Path, *, extra: dict[str, Any] | None = None,
                     decomposition: pd.DataFrame | None = None,
                     include_fit: bool = False) -> tuple[str, ...]:
    """Write ``allocation.nc``, ``allocations.csv``, ``demand.csv`` and ``summary.txt`` as one set.

    Parameters
    ----------
    fit
        The fit allocated from.
    need, allocation
        Output of :func:`need_and_allocation`.
    out_dir
        The directory (created if missing).
    extra
        Further lines of ``summary.txt``.
    decomposition
        The interval-width decomposition of an allocation with uncertain cost weights
        (:func:`bayes_needs.workflows.costs.decomposition_table`): written to
        ``decomposition.csv`` in the same set.
    include_fit
        Write ``fit.nc`` and ``run.json`` in the same set, making ``out_dir`` a complete run
        directory (allocating into another directory than the fit's).

    Returns
    -------
    tuple of str
        Files of the directory's previous outputs that the set replaced without writing them
        again (e.g. a ``decomposition.csv`` the new allocation has none of).
    """
    with output_set(out_dir, RUN if include_fit else ALLOCATION) as outputs:
        if include_fit:
            stage_fit(fit, outputs.staging)
        _stage_allocation(fit, need, allocation, outputs.staging, extra)
        if decomposition is not None:
            write_decomposition(decomposition, outputs.staging)
    return outputs.removed


def stage_run(fit: FitResult[AreaDemandModel], need: xr.Dataset, allocation: Allocation,
              directory: Path, *, extra: dict[str, Any] | None = None) -> None:
    """Write every file of a run (:data:`OUTPUT_FILES`) into ``directory`` (a set's staging).

    Parameters
    ----------
    fit
        The fit.
    need, allocation
        Output of :func:`need_and_allocation`.
    directory
        Where to write.
    extra
        Further lines of ``summary.txt``.
    """
    stage_fit(fit, directory)
    _stage_allocation(fit, need, allocation, directory, extra)


def write_run(fit: FitResult[AreaDemandModel], need: xr.Dataset, allocation: Allocation,
              out_dir: Path, *, extra: dict[str, Any] | None = None) -> tuple[str, ...]:
    """Write every file of a run (:data:`OUTPUT_FILES`) as one set.

    An interrupted or failed run leaves the previous set or the new one, never a mixture.

    Parameters
    ----------
    fit
        The fit.
    need, allocation
        Output of :func:`need_and_allocation`.
    out_dir
        The run directory (created if missing).
    extra
        Further lines of ``summary.txt``.

    Returns
    -------
    tuple of str
        Files of the previous outputs replaced without being written again.
    """
    with output_set(out_dir, RUN) as outputs:
        stage_run(fit, need, allocation, outputs.staging, extra=extra)
    return outputs.removed
