"""Sensitivity testing: run a scenario set on any executor and compare it with the base.

From a script::

    from bayes_needs.workflows import sensitivity

    if __name__ == "__main__":          # needed: worker processes re-import the script
        results = sensitivity.run("examples/scenarios.toml", workers=2)
        comparison = sensitivity.compare(results)
        sensitivity.write_outputs(results, comparison, "sensitivity_out")

On a cluster, pass a ``dask.distributed`` client (or its ``get_executor()``)::

    from dask.distributed import Client
    with Client("tcp://scheduler:8786") as client:
        results = sensitivity.run("examples/scenarios.toml", executor=client)

Every scenario is a pure function of its config (:func:`run_scenario`): seeds come from the
config, chains are sampled one after another in the worker (PyMC's draws do not depend on
how many processes sample them), so the same file gives identical results on a local process
pool and on a cluster. Scenarios that differ only in need and allocation settings
(standardisation, cost weights, baseline, damping) share one fit (:func:`fit_key`,
:func:`run_group`), which saves time and changes nothing. Results are one
:class:`xarray.Dataset` with a ``scenario`` dim.

The comparison with the base (:func:`compare`: change of the mean shares, rank correlation,
non-overlapping intervals, ``prob_fall``, power-scaling flags) is
:mod:`bayes_needs.checks.sensitivity`, the tornado plot
:func:`bayes_needs.report.sensitivity_plots.tornado_figure`; both are re-exported here, so a
script needs only this module. :func:`write_outputs` writes every output file as one set.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import Any

import numpy as np
import pymc  # noqa: F401  (importing PyMC sets its logger's level; quiet sets ours after)
import xarray as xr

from bayes_needs.checks import diagnostics
from bayes_needs.checks.gate import evaluate
from bayes_needs.checks.sensitivity import (
    CONVERGENCE_VARS,
    PARAMETER,
    Comparison,
    compare,
    power_scaling_table,
)
from bayes_needs.config.run import RunConfig
from bayes_needs.config.scenarios import BASE, Scenario, ScenarioSet, load_scenarios
from bayes_needs.core import dims
from bayes_needs.core.errors import BayesNeedsError, ConfigError
from bayes_needs.core.executors import available_cpus, completed, make_executor
from bayes_needs.core.outputs import (
    output_set,
    with_sidecars,
    write_bytes,
    write_csv,
    write_netcdf,
)
from bayes_needs.core.progress import progress_bar
from bayes_needs.core.units import annotate
from bayes_needs.report.figures import figure_png
from bayes_needs.report.sensitivity_plots import TORNADO_TOP, tornado_figure
from bayes_needs.workflows import pipeline
from bayes_needs.workflows.fits import quiet
from bayes_needs.workflows.inputs import load_area_data
from bayes_needs.workflows.preflight import check_allocation_inputs

# The comparison and the figure are re-exported: scripts use ``sensitivity.compare`` etc.
__all__ = ["CONVERGENCE_VARS", "OUTPUT_FILES", "PARAMETER", "Comparison", "Progress", "combine",
           "compare", "elapsed", "figure_png", "fit_key", "power_scaling_table",
           "run", "run_group", "run_scenario", "scenario_note", "tornado_figure",
           "write_outputs"]

SENSITIVITY_CSV = "sensitivity.csv"
SUMMARY_CSV = "sensitivity_summary.csv"
POWER_SCALING_CSV = "power_scaling.csv"
TORNADO_PNG = "tornado.png"
RESULTS_NC = "sensitivity.nc"
#: The kind of output set these files form (:func:`bayes_needs.core.outputs.output_set`).
SENSITIVITY_SET = "sensitivity"
OUTPUT_FILES = with_sidecars((SENSITIVITY_CSV, SUMMARY_CSV, POWER_SCALING_CSV, TORNADO_PNG,
                              RESULTS_NC))

#: ``progress(done, total, scenario_name, result)`` after each scenario finishes.
Progress = Callable[[int, int, str, xr.Dataset], None]


# ====================================================================== one scenario
def run_scenario(scenario: Scenario, *, power_scaling: bool = True) -> xr.Dataset:
    """Fit one scenario and allocate; return its share draws and diagnostics.

    A pure function of ``scenario.config`` (seeds included), safe to run in any worker
    process. Chains are sampled sequentially (``sampling.cores = 1``): parallelism comes from
    running scenarios side by side, and worker processes of a cluster may not fork.

    Parameters
    ----------
    scenario
        The scenario to run.
    power_scaling
        Also compute power-scaling sensitivity of the hyperparameters (no refit; costs the
        evaluation of the log prior and log likelihood at every draw).

    Returns
    -------
    xarray.Dataset
        ``share`` (chain, draw, la) with ``la_name``; scalars ``rhat_max``, ``ess_bulk_min``,
        ``ess_tail_min``, ``divergences``, ``bfmi_min``, ``pareto_k`` (of an approximate fit,
        ``sampling.method = "laplace"``), ``converged``, ``fit_seconds``;
        with ``power_scaling``, ``psens_prior`` and ``psens_likelihood`` over ``parameter``.
        attrs: ``scenario``, ``config`` (JSON), ``gate_failures`` (JSON), ``fit_from``.
    """
    return run_group([scenario], power_scaling=power_scaling)[0]


def fit_key(config: RunConfig) -> str:
    """Describe what the posterior depends on: scenarios with equal keys share one fit.

    Data, model, priors and sampling settings (apart from progress bars and the number of
    processes, which do not change the draws); need and allocation settings are applied
    after the fit.
    """
    values = config.model_dump()
    sampling = {k: v for k, v in values["sampling"].items() if k not in ("progressbar", "cores")}
    return json.dumps({"data": values["data"], "model": values["model"],
                       "priors": values["priors"], "sampling": sampling}, sort_keys=True)


def run_group(scenarios: Sequence[Scenario], *, power_scaling: bool = True
              ) -> list[xr.Dataset]:
    """Fit once and allocate for every scenario of a group sharing one :func:`fit_key`.

    Each result equals what :func:`run_scenario` gives for that scenario alone (the fit is a
    pure function of the key), so sharing only saves time.

    Raises
    ------
    ConfigError
        If the scenarios do not share one fit key.
    """
    scenarios = list(scenarios)
    if not scenarios or len({fit_key(s.config) for s in scenarios}) != 1:
        raise ConfigError("run_group needs scenarios that differ only in their need and "
                          "allocation settings")
    with quiet():
        return _run_group(scenarios, power_scaling)


def _run_group(scenarios: list[Scenario], power_scaling: bool) -> list[xr.Dataset]:
    """Fit the group's shared posterior once, then allocate for each scenario."""
    first = scenarios[0]
    config = first.config.with_overrides(sampling={"cores": 1, "progressbar": False})
    data, data_info = load_area_data(config.data)
    check_before_fitting(scenarios, {_data_key(config): (data, data_info)})
    fit = pipeline.fit_area(config, data, data_info)
    conv = pipeline.convergence(fit.idata)
    gate = evaluate(conv)
    common = xr.Dataset()
    for key in CONVERGENCE_VARS:
        common[key] = float(conv.get(key, np.nan))
    common["converged"] = gate.passed
    common["fit_seconds"] = float(fit.seconds)
    if power_scaling:
        table = diagnostics.power_scaling(diagnostics.log_densities(fit.model, fit.idata))
        labels = {PARAMETER: np.asarray(table["parameter"], dtype=str)}
        for column in ("prior", "likelihood"):
            common[f"psens_{column}"] = xr.DataArray(table[column].to_numpy(dtype=float),
                                                     dims=PARAMETER, coords=labels)
    results = []
    for scenario in scenarios:
        own = scenario.config.with_overrides(sampling={"cores": 1, "progressbar": False})
        # The scenario's need and allocation settings on the shared fit, without mutating it.
        _, allocation = pipeline.need_and_allocation(dataclasses.replace(fit, config=own))
        share = allocation.draws["share"].transpose(dims.CHAIN, dims.DRAW, dims.LA)
        keep = (dims.CHAIN, dims.DRAW, dims.LA, dims.LA_NAME)
        out = xr.Dataset({"share": share.drop_vars([c for c in share.coords
                                                    if c not in keep])})
        out = out.merge(common)
        out.attrs.update({"scenario": scenario.name,
                          "config": json.dumps(own.model_dump(), sort_keys=True),
                          "gate_failures": json.dumps(list(gate.failures)),
                          "fit_from": first.name})
        results.append(out)
    return results


def run(scenarios: ScenarioSet | str | Path | Sequence[Scenario], executor: Any = None, *,
        workers: int | None = None, progress: bool | Progress = False,
        power_scaling: bool = True, share_fits: bool = True) -> xr.Dataset:
    """Run every scenario (base first) and collect the results.

    Parameters
    ----------
    scenarios
        A :class:`ScenarioSet`, a scenario file, or scenarios with the base first.
    executor
        Any :class:`concurrent.futures.Executor`, or a ``dask.distributed.Client`` (its
        ``get_executor()`` is used). ``None``: :func:`bayes_needs.core.executors.make_executor`
        with ``workers`` processes (started with ``spawn``, so a script calling this needs an
        ``if __name__ == "__main__":`` guard; ``workers=1`` runs in this process). An
        executor passed in is not shut down.
    workers
        Size of the local pool (default: the number of scenarios, at most the CPUs).
    progress
        ``True``: show a progress bar on stderr (:mod:`bayes_needs.core.progress`); a
        function: called as ``progress(done, total, name, result)`` after each scenario;
        ``False`` (default): silent.
    power_scaling
        Compute power-scaling sensitivity in every scenario (see :func:`run_scenario`).
    share_fits
        Fit once for scenarios that differ only in need and allocation settings
        (standardisation, cost weights, baseline, damping; see :func:`fit_key`). Results are
        the same as with separate fits.

    Returns
    -------
    xarray.Dataset
        The :func:`run_scenario` results concatenated along ``scenario`` (base first; draws
        padded with NaN when scenarios differ in draws), with coords ``description`` and
        ``config`` (JSON) on ``scenario``; attrs ``base``, ``interval_prob``,
        ``interval_kind`` (the base's) and ``source``.

    Raises
    ------
    BayesNeedsError
        If a scenario fails; the message names it. Scenarios not yet started are cancelled.
    """
    scenario_set = _as_set(scenarios)
    items = list(scenario_set.scenarios)
    if executor is None:
        with make_executor(workers or min(len(items), available_cpus())) as pool:
            return run(scenario_set, pool, progress=progress, power_scaling=power_scaling,
                       share_fits=share_fits)
    if not isinstance(executor, Executor) and hasattr(executor, "get_executor"):
        executor = executor.get_executor()  # a dask.distributed Client
    if not isinstance(executor, Executor):
        raise ConfigError(f"executor must be a concurrent.futures.Executor or a dask "
                          f"distributed Client, got {type(executor).__name__}")
    check_before_fitting(items)
    groups: dict[str, list[Scenario]] = {}
    for scenario in items:
        key = fit_key(scenario.config) if share_fits else scenario.name
        groups.setdefault(key, []).append(scenario)
    # Largest groups first, so the longest jobs start early.
    ordered = sorted(groups.values(), key=len, reverse=True)
    futures: dict[Future, list[Scenario]] = {
        executor.submit(run_group, g, power_scaling=power_scaling): g for g in ordered}
    done: dict[str, xr.Dataset] = {}
    with progress_bar(len(items), "scenarios", enabled=progress is True) as advance:
        for group, results in completed(
                futures, lambda group: "scenario " + ", ".join(f"'{s.name}'" for s in group)):
            for scenario, result in zip(group, results, strict=True):
                done[scenario.name] = result
                if callable(progress):
                    progress(len(done), len(items), scenario.name, result)
                advance(scenario_note(scenario.name, result))
    return combine([done[s.name] for s in items], items, scenario_set.source)


def check_before_fitting(scenarios: Sequence[Scenario],
                         loaded: dict[str, tuple[Any, dict[str, Any]]] | None = None) -> None:
    """Load each scenario's data and check its allocation inputs before anything is fitted.

    Data are loaded once per distinct data section. A scenario whose data or allocation
    inputs are bad (a missing baseline file, a service without a cost weight, ...) is
    reported before any fit starts, so no other scenario's fit is lost to it.

    Parameters
    ----------
    scenarios
        The scenarios to run.
    loaded
        Data already loaded, by :func:`_data_key` (added to as data are loaded).

    Raises
    ------
    BayesNeedsError
        Naming the first scenario at fault and what is wrong.
    """
    loaded = {} if loaded is None else loaded
    for scenario in scenarios:
        config = scenario.config
        try:
            key = _data_key(config)
            if key not in loaded:
                loaded[key] = load_area_data(config.data)
            data, data_info = loaded[key]
            check_allocation_inputs(config, data, data_info, data.services)
        except BayesNeedsError as exc:
            raise BayesNeedsError(f"scenario '{scenario.name}' (found before any fit): "
                                  f"{exc}") from None


def _data_key(config: RunConfig) -> str:
    """Describe a config's data section: configs with equal keys load the same data."""
    return json.dumps(config.data.model_dump(), sort_keys=True)


def _as_set(scenarios: ScenarioSet | str | Path | Sequence[Scenario]) -> ScenarioSet:
    """Make a :class:`ScenarioSet` of the scenarios (a file is loaded, a list checked)."""
    if isinstance(scenarios, ScenarioSet):
        return scenarios
    if isinstance(scenarios, str | Path):
        return load_scenarios(scenarios)
    items = list(scenarios)
    if not items or not all(isinstance(s, Scenario) for s in items):
        raise ConfigError("scenarios must be a ScenarioSet, a scenario file or a non-empty "
                          "list of Scenario objects with the base first")
    names = [s.name for s in items]
    if len(set(names)) != len(names):
        raise ConfigError(f"scenario names must be unique, got {names}")
    return ScenarioSet(items[0], tuple(items[1:]), source="scenarios")


def combine(results: Sequence[xr.Dataset], scenarios: Sequence[Scenario],
            source: str = "scenarios") -> xr.Dataset:
    """Concatenate per-scenario results along ``scenario`` (first = base)."""
    names = [s.name for s in scenarios]
    combined = xr.concat(list(results), dim=dims.SCENARIO, join="outer",
                         combine_attrs="drop", data_vars="all")
    combined = combined.assign_coords({
        dims.SCENARIO: np.asarray(names, dtype=str),
        "description": (dims.SCENARIO, [s.description for s in scenarios]),
        "config": (dims.SCENARIO, [r.attrs.get("config", "") for r in results]),
        "gate_failures": (dims.SCENARIO, [r.attrs.get("gate_failures", "[]")
                                          for r in results]),
        "fit_from": (dims.SCENARIO, [r.attrs.get("fit_from", s.name)
                                     for r, s in zip(results, scenarios, strict=True)])})
    allocation = scenarios[0].config.allocation
    combined.attrs.update({"base": names[0], "interval_prob": allocation.interval_prob,
                           "interval_kind": allocation.interval_kind, "source": str(source)})
    return combined


# ====================================================================== outputs
def write_outputs(results: xr.Dataset, comparison: Comparison, out_dir: str | Path, *,
                  top: int = TORNADO_TOP) -> list[Path]:
    """Write :data:`OUTPUT_FILES` into ``out_dir`` as one set.

    Either every file is replaced or, if anything fails or the process is interrupted, none
    is: the previous outputs stay as they were and no new file is left behind
    (:func:`bayes_needs.core.outputs.output_set`).

    Parameters
    ----------
    results
        Output of :func:`run`.
    comparison
        Output of :func:`compare` on ``results``.
    out_dir
        Directory to write into (created if missing).
    top
        LAs shown in the tornado plot.

    Returns
    -------
    list of pathlib.Path
        The written files, in :data:`OUTPUT_FILES` order.
    """
    out = Path(out_dir)
    comment = (f"interval: {comparison.interval}; base scenario "
               f"'{results.attrs.get('base', BASE)}'; scenarios from "
               f"{Path(str(results.attrs.get('source', 'scenarios'))).name}\n"
               f"change_pp: change of the posterior mean share in percentage points; "
               f"prob_fall: P(share under the scenario < share under the base), posteriors "
               f"taken as independent")
    png = figure_png(tornado_figure(comparison, top=top))
    with output_set(out, SENSITIVITY_SET) as outputs:
        staging = outputs.staging
        write_csv(staging / SENSITIVITY_CSV, comparison.per_la, comment=comment)
        write_csv(staging / SUMMARY_CSV, comparison.summary, comment=comment)
        write_csv(staging / POWER_SCALING_CSV, comparison.power_scaling,
                  comment=f"power-scaling sensitivity (arviz.psens) of each "
                          f"hyperparameter; priorsense threshold "
                          f"{diagnostics.PSENS_THRESHOLD:g}")
        write_bytes(staging / TORNADO_PNG, png)
        write_netcdf(staging / RESULTS_NC, annotate(results))
    return [out / name for name in OUTPUT_FILES]


def scenario_note(name: str, result: xr.Dataset) -> str:
    """One scenario's fit time and convergence, for its progress line."""
    flag = "" if bool(result["converged"].item()) else "  [misses convergence thresholds]"
    k = float(result["pareto_k"].item()) if "pareto_k" in result else float("nan")
    health = f"approximate, Pareto k̂ {k:.2f}" if np.isfinite(k) else \
        f"max R-hat {float(result['rhat_max'].item()):.3f}, min bulk ESS " \
        f"{float(result['ess_bulk_min'].item()):.0f}, divergences " \
        f"{int(result['divergences'].item())}"
    return f"{name}: {float(result['fit_seconds'].item()):.0f} s fit, {health}{flag}"


def elapsed(start: float) -> str:
    """Seconds since ``start`` as text."""
    return f"{time.perf_counter() - start:.1f} s"
