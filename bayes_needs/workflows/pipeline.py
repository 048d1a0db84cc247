"""End-to-end runs: data -> fit -> expected need -> allocation -> files.

Used by ``bayes-needs demo``, ``fit`` and ``allocate``, and callable from scripts. Every file
in a run directory is written atomically:

* ``fit.nc`` — the posterior (InferenceData) with config, data hash and convergence in attrs;
* ``run.json`` — the run config and how the data were obtained, so the data can be reloaded;
* ``allocation.nc`` — per-draw needs, shares and ranks (xarray);
* ``allocations.csv`` — one row per LA with shares, ranks and amounts and their intervals;
* ``demand.csv`` — one row per LA x service: observed, needs-standardised and fitted demand;
* ``summary.txt`` — convergence figures and settings.

The files of one call are written as a set (:func:`bayes_needs.core.outputs.output_set`): an
interrupted or failed run leaves all of them or none of them, never a mixture.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation import Allocation, allocate
from bayes_needs.config.run import RunConfig, parse_run_config
from bayes_needs.core import defaults, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import BayesNeedsError, ConfigError, MissingDataError
from bayes_needs.core.intervals import credible_interval, describe_interval
from bayes_needs.core.outputs import output_set, write_csv, write_text
from bayes_needs.data.containers import AreaData
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.workflows.inputs import load_area_data

FIT_FILE = "fit.nc"
RUN_FILE = "run.json"
ALLOCATION_FILE = "allocation.nc"
ALLOCATIONS_CSV = "allocations.csv"
DEMAND_CSV = "demand.csv"
SUMMARY_FILE = "summary.txt"
OUTPUT_FILES = (ALLOCATIONS_CSV, DEMAND_CSV, FIT_FILE, ALLOCATION_FILE, SUMMARY_FILE, RUN_FILE)



@dataclass
class FitResult:
    """A fitted area model with its data and run description."""

    model: AreaDemandModel
    idata: az.InferenceData
    config: RunConfig
    data_info: dict[str, Any] = field(default_factory=dict)
    seconds: float = float("nan")


def fit_area(config: RunConfig, data: AreaData | None = None,
             data_info: dict[str, Any] | None = None) -> FitResult:
    """Load the data (unless given), build the area model and sample it."""
    if data is None:
        data, data_info = load_area_data(config.data)
    model = AreaDemandModel(data, config.model, priors=config.priors)
    s = config.sampling
    start = time.perf_counter()
    idata = model.fit(random_seed=s.random_seed, draws=s.draws, tune=s.tune, chains=s.chains,
                      sampler=s.sampler, target_accept=s.target_accept,
                      progressbar=s.progressbar, cores=s.cores)
    return FitResult(model, idata, config, data_info or {}, time.perf_counter() - start)


def cost_weights_for(config: RunConfig, data_info: dict[str, Any],
                     services: tuple[str, ...]) -> dict[str, float]:
    """Fixed cost weights: the config's, else the synthetic truth's, else the defaults."""
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


def need_and_allocation(fit: FitResult, *, cost_weights=None) -> tuple[xr.Dataset, Allocation]:
    """Expected need draws and the allocation for a fit.

    Parameters
    ----------
    cost_weights
        Fixed weights (mapping) or weight draws (DataArray with a ``service`` dim); by default
        the config's cost-weight file or unit-cost table
        (:func:`bayes_needs.workflows.allocation_inputs.configured_cost_weights`), else
        :func:`cost_weights_for`. The config's baseline and damping are applied.
    """
    from bayes_needs.workflows import allocation_inputs

    need = fit.model.expected_need(fit.idata, random_seed=fit.config.need.random_seed,
                                   standardise=fit.config.need.standardise)
    a = fit.config.allocation
    if cost_weights is None:
        cost_weights = allocation_inputs.configured_cost_weights(
            a, fit.model.services, random_seed=fit.config.need.random_seed)
    if cost_weights is None:
        cost_weights = cost_weights_for(fit.config, fit.data_info, fit.model.services)
    allocation = allocate(need["need"], cost_weights, pot=a.pot or defaults.POT,
                          interval_prob=a.interval_prob, interval_kind=a.interval_kind,
                          random_seed=fit.config.need.random_seed,
                          baseline=allocation_inputs.baseline_shares(a, fit.model.data),
                          damping=allocation_inputs.configured_damping(a))
    return need, allocation


def demand_table(need: xr.Dataset, *, interval_prob: float, interval_kind: str) -> pd.DataFrame:
    """One row per LA x service: observed, needs-standardised and fitted demand summaries."""
    rows = {}
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
    columns = ["la_code", "service", "observed", "needs_mean", "needs_lower", "needs_upper",
               "fitted_mean", "fitted_lower", "fitted_upper"]
    return frame[columns]


def convergence(idata: az.InferenceData) -> dict[str, Any]:
    """The convergence summary stored with a fit."""
    raw = idata_io.posterior(idata).attrs.get("bayes_needs_convergence")
    return json.loads(raw) if raw else idata_io.convergence_summary(idata)


def summary_text(fit: FitResult, allocation: Allocation, *, extra: dict[str, Any]) -> str:
    """Human-readable run summary with the convergence figures."""
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
        f"sampler: {fit.config.sampling.sampler}, {conv['n_chains']} chains x "
        f"{conv['n_draws']} draws after {fit.config.sampling.tune} tuning steps, seed "
        f"{fit.config.sampling.random_seed}",
        f"standardisation: {fit.config.need.standardise}",
        f"intervals: {describe_interval(a.interval_prob, a.interval_kind)}",
        "",
        "convergence (hyperparameters)",
        f"  max R-hat:        {conv['rhat_max']:.4f}",
        f"  min bulk ESS:     {conv['ess_bulk_min']:.0f}",
        f"  min tail ESS:     {conv['ess_tail_min']:.0f}",
        f"  divergences:      {conv['divergences']}",
        f"  min BFMI:         {conv['bfmi_min']:.3f}",
    ]
    for key, value in extra.items():
        lines.append(f"  {key + ':':<18}{value}")
    lines += ["", "per hyperparameter (max R-hat / min bulk ESS / min tail ESS)"]
    per = conv.get("per_variable", {})
    for name in per.get("rhat_max", {}):
        lines.append(f"  {name:<18}{per['rhat_max'][name]:.4f} / "
                     f"{per['ess_bulk_min'][name]:.0f} / {per['ess_tail_min'][name]:.0f}")
    share = allocation.draws["share"].sum(dims.LA)
    lines += ["", f"shares sum to 1 on every draw: max |sum - 1| = "
                  f"{float(abs(share - 1).max()):.2e}"]
    return "\n".join(lines) + "\n"


def _stage_fit(fit: FitResult, directory: Path) -> None:
    fit.model.save(fit.idata, directory / FIT_FILE)
    info = {k: v for k, v in fit.data_info.items() if k != "synthetic"}
    run = {"config": fit.config.model_dump(), "data_info": info,
           "data_hash": fit.model.data.data_hash(), "fit_seconds": fit.seconds}
    write_text(directory / RUN_FILE, json.dumps(run, indent=2, sort_keys=True, default=str))


def _stage_allocation(fit: FitResult, need: xr.Dataset, allocation: Allocation,
                      directory: Path, extra: dict[str, Any] | None) -> None:
    a = fit.config.allocation
    allocation.to_netcdf(directory / ALLOCATION_FILE)
    allocation.to_csv(directory / ALLOCATIONS_CSV)
    demand = demand_table(need, interval_prob=a.interval_prob, interval_kind=a.interval_kind)
    write_csv(directory / DEMAND_CSV, demand,
              comment=f"interval: {describe_interval(a.interval_prob, a.interval_kind)} "
                      f"({a.interval_kind}); needs standardisation: "
                      f"{fit.config.need.standardise}")
    extra = {"fit wall time": f"{fit.seconds:.1f} s", **(extra or {})}
    write_text(directory / SUMMARY_FILE, summary_text(fit, allocation, extra=extra))


def write_fit(fit: FitResult, out_dir: Path) -> None:
    """Write ``fit.nc`` and ``run.json`` as one set (both or neither, see
    :func:`bayes_needs.core.outputs.output_set`)."""
    with output_set(out_dir) as staging:
        _stage_fit(fit, staging)


def write_allocation(fit: FitResult, need: xr.Dataset, allocation: Allocation, out_dir: Path,
                     *, extra: dict[str, Any] | None = None) -> None:
    """Write ``allocation.nc``, ``allocations.csv``, ``demand.csv`` and ``summary.txt`` as one
    set."""
    with output_set(out_dir) as staging:
        _stage_allocation(fit, need, allocation, staging, extra)


def write_run(fit: FitResult, need: xr.Dataset, allocation: Allocation, out_dir: Path,
              *, extra: dict[str, Any] | None = None) -> None:
    """Write every file of a run (:data:`OUTPUT_FILES`) as one set: an interrupted run leaves
    all of them or none of them."""
    with output_set(out_dir) as staging:
        _stage_fit(fit, staging)
        _stage_allocation(fit, need, allocation, staging, extra)


def load_fit(run_dir: Path) -> FitResult:
    """Reload a fit written by :func:`write_fit`, rebuilding and hash-checking its data."""
    run_file, fit_file = run_dir / RUN_FILE, run_dir / FIT_FILE
    for path in (run_file, fit_file):
        if not path.is_file():
            raise MissingDataError(f"{path} does not exist; run 'bayes-needs fit --out "
                                   f"{run_dir}' first")
    try:
        run = json.loads(run_file.read_text(encoding="utf-8"))
        config = parse_run_config(run["config"], source=str(run_file))
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise BayesNeedsError(f"{run_file}: not a bayes_needs run file ({exc})") from None
    data, data_info = load_area_data(config.data)
    model, idata = AreaDemandModel.load(fit_file, data)
    return FitResult(model, idata, config, data_info, float(run.get("fit_seconds", np.nan)))
