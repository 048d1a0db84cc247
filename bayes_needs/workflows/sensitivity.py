"""Sensitivity testing: run a scenario set on any executor and compare it with the base.

From a script::

    from bayes_needs import sensitivity

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

Comparison with the base (:func:`compare`), on the base's interval settings:

* ``change_pp``: change of the posterior mean share, in percentage points of the pot;
  per scenario the maximum and mean absolute change;
* Spearman rank correlation of the posterior mean shares with the base's;
* LAs whose share interval no longer overlaps the base's;
* ``prob_fall``: P(share under the scenario < share under the base), treating the two
  posteriors as independent (ties count one half), so 0.5 means no evidence of a move;
* the number of hyperparameters power-scaling flags (:func:`bayes_needs.checks.diagnostics.power_scaling`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, as_completed
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.checks.gate import evaluate
from bayes_needs.config.run import RunConfig
from bayes_needs.config.scenarios import BASE, Scenario, ScenarioSet, load_scenarios
from bayes_needs.core import dims
from bayes_needs.core.errors import BayesNeedsError, ConfigError
from bayes_needs.core.intervals import credible_interval, describe_interval
from bayes_needs.core.outputs import write_atomic, write_csv

SENSITIVITY_CSV = "sensitivity.csv"
SUMMARY_CSV = "sensitivity_summary.csv"
POWER_SCALING_CSV = "power_scaling.csv"
TORNADO_PNG = "tornado.png"
RESULTS_NC = "sensitivity.nc"
OUTPUT_FILES = (SENSITIVITY_CSV, SUMMARY_CSV, POWER_SCALING_CSV, TORNADO_PNG, RESULTS_NC)
PARAMETER = "parameter"
#: Per-scenario convergence figures carried in the results.
CONVERGENCE_VARS = ("rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "bfmi_min")

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
        ``ess_tail_min``, ``divergences``, ``bfmi_min``, ``converged``, ``fit_seconds``;
        with ``power_scaling``, ``psens_prior`` and ``psens_likelihood`` over ``parameter``.
        attrs: ``scenario``, ``config`` (JSON), ``gate_failures`` (JSON), ``fit_from``.
    """
    return run_group([scenario], power_scaling=power_scaling)[0]


def fit_key(config: RunConfig) -> str:
    """What the posterior depends on: scenarios with equal keys can share one fit.

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
    with _quiet():
        return _run_group(scenarios, power_scaling)


def _run_group(scenarios: list[Scenario], power_scaling: bool) -> list[xr.Dataset]:
    from bayes_needs.workflows import pipeline

    first = scenarios[0]
    config = first.config.with_overrides(sampling={"cores": 1, "progressbar": False})
    fit = pipeline.fit_area(config)
    conv = pipeline.convergence(fit.idata)
    gate = evaluate(conv)
    common = xr.Dataset()
    for key in CONVERGENCE_VARS:
        common[key] = float(conv[key])
    common["converged"] = gate.passed
    common["fit_seconds"] = float(fit.seconds)
    if power_scaling:
        from bayes_needs.checks.diagnostics import log_densities
        from bayes_needs.checks.diagnostics import power_scaling as psens

        table = psens(log_densities(fit.model, fit.idata))
        labels = {PARAMETER: np.asarray(table["parameter"], dtype=str)}
        for column in ("prior", "likelihood"):
            common[f"psens_{column}"] = xr.DataArray(table[column].to_numpy(dtype=float),
                                                     dims=PARAMETER, coords=labels)
    results = []
    for scenario in scenarios:
        own = scenario.config.with_overrides(sampling={"cores": 1, "progressbar": False})
        fit.config = own  # need and allocation settings are read from here
        _, allocation = pipeline.need_and_allocation(fit)
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


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence library chatter of a scenario run (its figures are reported instead)."""
    import pymc  # noqa: F401  (importing PyMC sets its logger's level; set ours after)

    loggers = [logging.getLogger(n) for n in ("pymc", "pytensor", "arviz")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.CRITICAL)  # PyMC logs convergence warnings as errors
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


# ====================================================================== many scenarios
def run(scenarios: ScenarioSet | str | Path | Sequence[Scenario], executor: Any = None, *,
        workers: int | None = None, progress: Progress | None = None,
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
        Called as ``progress(done, total, name, result)`` after each scenario.
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
        from bayes_needs.core.executors import available_cpus, make_executor

        with make_executor(workers or min(len(items), available_cpus())) as pool:
            return run(scenario_set, pool, progress=progress, power_scaling=power_scaling,
                       share_fits=share_fits)
    if not isinstance(executor, Executor) and hasattr(executor, "get_executor"):
        executor = executor.get_executor()  # a dask.distributed Client
    if not isinstance(executor, Executor):
        raise ConfigError(f"executor must be a concurrent.futures.Executor or a dask "
                          f"distributed Client, got {type(executor).__name__}")
    groups: dict[str, list[Scenario]] = {}
    for scenario in items:
        key = fit_key(scenario.config) if share_fits else scenario.name
        groups.setdefault(key, []).append(scenario)
    # Largest groups first, so the longest jobs start early.
    ordered = sorted(groups.values(), key=len, reverse=True)
    futures: dict[Future, list[Scenario]] = {
        executor.submit(run_group, g, power_scaling=power_scaling): g for g in ordered}
    done: dict[str, xr.Dataset] = {}
    for future in as_completed(futures):
        group = futures[future]
        try:
            results = future.result()
        except BaseException as exc:
            for other in futures:
                other.cancel()
            if isinstance(exc, BayesNeedsError):
                names = ", ".join(f"'{s.name}'" for s in group)
                raise BayesNeedsError(f"scenario {names} failed: {exc}") from None
            raise
        for scenario, result in zip(group, results, strict=True):
            done[scenario.name] = result
            if progress is not None:
                progress(len(done), len(items), scenario.name, result)
    return combine([done[s.name] for s in items], items, scenario_set.source)


def _as_set(scenarios) -> ScenarioSet:
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


# ====================================================================== comparison
@dataclass(frozen=True)
class Comparison:
    """Scenario-versus-base comparison tables.

    Attributes
    ----------
    per_la
        One row per scenario x LA (see :func:`compare`).
    summary
        One row per scenario.
    power_scaling
        One row per scenario x hyperparameter (empty without power-scaling results).
    interval
        Description of the intervals, e.g. ``"90% equal-tailed"``.
    """

    per_la: pd.DataFrame
    summary: pd.DataFrame
    power_scaling: pd.DataFrame
    interval: str


def compare(results: xr.Dataset, *, interval_prob: float | None = None,
            interval_kind: str | None = None) -> Comparison:
    """Compare every scenario with the base (the first scenario).

    Parameters
    ----------
    results
        Output of :func:`run`.
    interval_prob, interval_kind
        Interval settings (default: the base run's).

    Returns
    -------
    Comparison
        ``per_la`` columns: ``scenario, description, la_code, la_name, share_mean,
        share_lower, share_upper, base_share_mean, base_share_lower, base_share_upper,
        change_pp, abs_change_pp, rel_change, rank, base_rank, rank_change, overlaps_base,
        prob_fall``. ``summary`` columns: ``scenario, description, max_abs_change_pp,
        la_max_change, mean_abs_change_pp, spearman_rho, n_not_overlapping,
        not_overlapping, n_prob_fall_above_0.9, n_prob_fall_below_0.1, fit_from, converged,
        rhat_max, ess_bulk_min, ess_tail_min, divergences, bfmi_min, fit_seconds,
        n_psens_flagged``.
    """
    from scipy.stats import spearmanr

    prob = float(results.attrs["interval_prob"] if interval_prob is None else interval_prob)
    kind = str(results.attrs["interval_kind"] if interval_kind is None else interval_kind)
    names = [str(n) for n in results[dims.SCENARIO].to_numpy()]
    base_name = str(results.attrs.get("base", names[0]))
    la_codes = results[dims.LA].to_numpy().astype(str)
    la_names = results[dims.LA_NAME].to_numpy().astype(str) if dims.LA_NAME in results.coords \
        else la_codes

    def summarise(name: str):
        draws = _draws(results, name)
        lower, upper = credible_interval(draws, interval_prob=prob, interval_kind=kind)
        return draws, draws.mean((dims.CHAIN, dims.DRAW)).to_numpy(), lower.to_numpy(), \
            upper.to_numpy()

    base_draws, base_mean, base_lower, base_upper = summarise(base_name)
    base_rank = _rank(base_mean)
    base_sorted = np.sort(_flat(base_draws), axis=1)
    frames, rows = [], []
    from bayes_needs.checks.diagnostics import diagnose

    for name in names:
        draws, mean, lower, upper = summarise(name)
        change = (mean - base_mean) * 100.0
        overlaps = (lower <= base_upper) & (upper >= base_lower)
        prob_fall = _prob_below(_flat(draws), base_sorted)
        rank = _rank(mean)
        description = str(results["description"].sel({dims.SCENARIO: name}).item())
        frames.append(pd.DataFrame({
            "scenario": name, "description": description, "la_code": la_codes,
            "la_name": la_names, "share_mean": mean, "share_lower": lower,
            "share_upper": upper, "base_share_mean": base_mean,
            "base_share_lower": base_lower, "base_share_upper": base_upper,
            "change_pp": change, "abs_change_pp": np.abs(change),
            "rel_change": mean / base_mean - 1.0, "rank": rank, "base_rank": base_rank,
            "rank_change": rank - base_rank, "overlaps_base": overlaps,
            "prob_fall": prob_fall}))
        at = results.sel({dims.SCENARIO: name})
        worst = int(np.nanargmax(np.abs(change))) if np.isfinite(change).any() else 0
        rho = 1.0 if name == base_name else float(spearmanr(mean, base_mean).statistic)
        flagged = 0
        if "psens_prior" in at:
            pairs = zip(at["psens_prior"].to_numpy(), at["psens_likelihood"].to_numpy(),
                        strict=True)
            flagged = sum(diagnose(float(p), float(q)) != "-" for p, q in pairs)
        rows.append({
            "scenario": name, "description": description,
            "max_abs_change_pp": float(np.nanmax(np.abs(change))),
            "la_max_change": la_codes[worst],
            "mean_abs_change_pp": float(np.nanmean(np.abs(change))),
            "spearman_rho": rho,
            "n_not_overlapping": int((~overlaps).sum()),
            "not_overlapping": ";".join(la_codes[~overlaps]),
            "n_prob_fall_above_0.9": int((prob_fall > 0.9).sum()),
            "n_prob_fall_below_0.1": int((prob_fall < 0.1).sum()),
            "fit_from": str(at["fit_from"].item()) if "fit_from" in at.coords else name,
            "converged": bool(at["converged"].item()),
            **{k: float(at[k].item()) for k in CONVERGENCE_VARS},
            "fit_seconds": float(at["fit_seconds"].item()),
            "n_psens_flagged": int(flagged)})
    per_la = pd.concat(frames, ignore_index=True)
    summary = pd.DataFrame(rows)
    summary["divergences"] = summary["divergences"].astype(int)
    return Comparison(per_la, summary, power_scaling_table(results),
                      describe_interval(prob, kind))


def power_scaling_table(results: xr.Dataset) -> pd.DataFrame:
    """One row per scenario x hyperparameter: ``scenario, parameter, prior, likelihood,
    diagnosis`` (priorsense's flags)."""
    from bayes_needs.checks.diagnostics import diagnose

    columns = ["scenario", "parameter", "prior", "likelihood", "diagnosis"]
    if "psens_prior" not in results:
        return pd.DataFrame(columns=columns)
    rows = []
    for name in results[dims.SCENARIO].to_numpy():
        at = results.sel({dims.SCENARIO: name})
        for parameter, p, q in zip(at[PARAMETER].to_numpy(), at["psens_prior"].to_numpy(),
                                   at["psens_likelihood"].to_numpy(), strict=True):
            if np.isnan(p) and np.isnan(q):
                continue  # the parameter is not in this scenario's model
            rows.append({"scenario": str(name), "parameter": str(parameter), "prior": float(p),
                         "likelihood": float(q), "diagnosis": diagnose(float(p), float(q))})
    return pd.DataFrame(rows, columns=columns)


def _draws(results: xr.Dataset, name: str) -> xr.DataArray:
    share = results["share"].sel({dims.SCENARIO: name}, drop=True)
    # Scenarios with fewer draws or chains are NaN-padded by the concatenation.
    share = share.dropna(dims.DRAW, how="all").dropna(dims.CHAIN, how="all")
    return share.transpose(dims.CHAIN, dims.DRAW, dims.LA)


def _flat(draws: xr.DataArray) -> np.ndarray:
    """(la, sample) array."""
    values = draws.to_numpy()
    return values.reshape(-1, values.shape[-1]).T


def _prob_below(draws: np.ndarray, base_sorted: np.ndarray) -> np.ndarray:
    """Per LA, P(X < Y) + P(X = Y)/2 for independent X ~ draws, Y ~ base draws."""
    out = np.empty(draws.shape[0])
    n = base_sorted.shape[1]
    for i in range(draws.shape[0]):
        above = n - np.searchsorted(base_sorted[i], draws[i], side="right")
        ties = np.searchsorted(base_sorted[i], draws[i], side="right") - \
            np.searchsorted(base_sorted[i], draws[i], side="left")
        out[i] = float(np.mean((above + 0.5 * ties) / n))
    return out


def _rank(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(-values, method="min").astype(np.int64)


# ====================================================================== outputs
def tornado_figure(comparison: Comparison, *, top: int = 15):
    """Tornado plot of the LAs whose share moves most across scenarios.

    For each of the ``top`` LAs with the largest absolute change in any scenario, a bar spans
    the smallest to the largest change (percentage points) over the variations and a marker
    shows each variation; the largest range is at the top.
    """
    from matplotlib.figure import Figure

    table = comparison.per_la
    base = table["scenario"].iloc[0]
    moves = table[table["scenario"] != base]
    if moves.empty:
        raise ConfigError("no variations to plot")
    spread = moves.groupby("la_code")["change_pp"].agg(["min", "max"])
    spread["range"] = spread["max"].clip(lower=0) - spread["min"].clip(upper=0)
    chosen = spread.sort_values("range", ascending=False).head(top)
    chosen = chosen.iloc[::-1]  # largest at the top of the plot
    names = moves.drop_duplicates("la_code").set_index("la_code")["la_name"]
    scenarios = list(dict.fromkeys(moves["scenario"]))
    fig = Figure(figsize=(10.5, 1.6 + 0.38 * len(chosen)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(chosen))
    ax.barh(y, chosen["max"].clip(lower=0) - chosen["min"].clip(upper=0),
            left=chosen["min"].clip(upper=0), color="0.85", edgecolor="0.6", height=0.7)
    markers = "o^sDvP*Xh<>"
    for j, scenario in enumerate(scenarios):
        values = moves[moves["scenario"] == scenario].set_index("la_code")["change_pp"]
        ax.scatter(values.reindex(chosen.index).to_numpy(), y, s=28, zorder=3,
                   marker=markers[j % len(markers)], label=scenario)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.margins(x=0.05)
    ax.set_yticks(y, [f"{c} {names.get(c, '')}"[:40] for c in chosen.index])
    ax.set_xlabel("change in posterior mean share vs base (percentage points)")
    ax.set_title(f"Largest movers across {len(scenarios)} variation(s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              title="variation", title_fontsize="small")
    return fig


def figure_png(fig, *, dpi: int = 100) -> bytes:
    """PNG bytes of a matplotlib figure."""
    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def write_outputs(results: xr.Dataset, comparison: Comparison, out_dir: str | Path, *,
                  top: int = 15) -> list[Path]:
    """Write :data:`OUTPUT_FILES` atomically into ``out_dir``; return their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    comment = (f"interval: {comparison.interval}; base scenario "
               f"'{results.attrs.get('base', BASE)}'; scenarios from "
               f"{Path(str(results.attrs.get('source', 'scenarios'))).name}\n"
               f"change_pp: change of the posterior mean share in percentage points; "
               f"prob_fall: P(share under the scenario < share under the base), posteriors "
               f"taken as independent")
    paths = [write_csv(out / SENSITIVITY_CSV, comparison.per_la, comment=comment),
             write_csv(out / SUMMARY_CSV, comparison.summary, comment=comment),
             write_csv(out / POWER_SCALING_CSV, comparison.power_scaling,
                       comment="power-scaling sensitivity (arviz.psens) of each "
                               "hyperparameter; priorsense threshold 0.05")]
    png = figure_png(tornado_figure(comparison, top=top))
    paths.append(write_atomic(out / TORNADO_PNG, lambda p: p.write_bytes(png)))
    paths.append(write_atomic(out / RESULTS_NC, lambda p: results.to_netcdf(
        p, engine="h5netcdf")))
    return paths


def progress_line(done: int, total: int, name: str, result: xr.Dataset) -> str:
    """One progress line for the CLI."""
    flag = "" if bool(result["converged"].item()) else "  [misses convergence thresholds]"
    return (f"[{done}/{total}] {name}: {float(result['fit_seconds'].item()):.0f} s fit, max "
            f"R-hat {float(result['rhat_max'].item()):.3f}, min bulk ESS "
            f"{float(result['ess_bulk_min'].item()):.0f}, divergences "
            f"{int(result['divergences'].item())}{flag}")


def elapsed(start: float) -> str:
    """Seconds since ``start`` as text."""
    return f"{time.perf_counter() - start:.1f} s"
