"""Rolling-origin backtest: how well forecasts of the next years' counts hold up.

For each origin year ``T`` and each model (:mod:`bayes_needs.workflows.backtest_models`:
the panel model, persistence, the single-year area model carried forward), the counts up
to ``T`` forecast the counts of ``T + 1 ... T + H``; every LA-year-service whose count was
later observed (``T + h`` up to the last count year) is a case, scored by
:func:`bayes_needs.checks.forecast_scores.score_forecasts` (coverage of the 50% and 90%
equal-tailed intervals, relative width, interval score, CRPS) and averaged by model,
service and horizon (:func:`~bayes_needs.checks.forecast_scores.summarise_scores`).

Each (origin, model) is one job (:func:`run_case`), a pure function of the run config, the
panel, the origin, the model and the seed, so the jobs can run in any order on any executor
(:mod:`bayes_needs.core.executors`: this process, local processes or a dask cluster) and give
the same result. :func:`write_backtest` writes the tables, the figure and a summary as one
set.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.checks.forecast_scores import (
    MODEL,
    SCORE_INTERVAL_KIND,
    SCORE_PROBS,
    summarise_scores,
)
from bayes_needs.config.run import RunConfig
from bayes_needs.core import defaults, dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.executors import SerialExecutor, completed
from bayes_needs.core.outputs import (
    output_set,
    with_sidecars,
    write_bytes,
    write_csv,
    write_text,
)
from bayes_needs.core.progress import progress_bar
from bayes_needs.data.panel import PanelData
from bayes_needs.report.backtest_plots import backtest_figure
from bayes_needs.report.figures import figure_png
from bayes_needs.workflows.backtest_models import LABELS, MODELS, CaseResult, run_case

#: Column of the summary saying which cases a row scores: every case the model forecast
#: (``all``) or only those every compared model forecast (``common``, a fair comparison).
CASES, ALL_CASES, COMMON_CASES = "cases", "all", "common"

__all__ = ["BACKTEST_CSV", "BACKTEST_PNG", "CASES_CSV", "LABELS", "MODELS", "OUTPUT_FILES",
           "SUMMARY_TXT", "BacktestResult", "CaseResult", "Progress", "case_note", "check_models",
           "check_origins", "run_backtest", "run_case", "write_backtest"]

BACKTEST_CSV = "backtest.csv"
CASES_CSV = "backtest_cases.csv"
BACKTEST_PNG = "backtest.png"
SUMMARY_TXT = "summary.txt"
#: The kind of output set these files form (:func:`bayes_needs.core.outputs.output_set`).
BACKTEST_SET = "backtest"
OUTPUT_FILES = with_sidecars((BACKTEST_CSV, CASES_CSV, BACKTEST_PNG, SUMMARY_TXT))
#: Years of counts an origin needs before it (persistence fits its spread on past pairs).
MIN_HISTORY = 2
#: Columns of :attr:`BacktestResult.timings`.
TIMING_COLUMNS: tuple[str, ...] = (dims.ORIGIN, MODEL, "seconds", "fit_seconds", "n_cases",
                                   "converged", "rhat_max", "divergences", "pareto_k")


@dataclass(frozen=True)
class BacktestResult:
    """Scores of a rolling-origin backtest.

    Attributes
    ----------
    cases
        One row per scored case: :data:`LABELS`, ``observed``, per interval probability the
        bounds, coverage, widths and interval scores, then ``crps``.
    summary
        :func:`summarise_scores` by model, service and horizon (at least
        :data:`~bayes_needs.checks.forecast_scores.BACKTEST_COLUMNS`), with :data:`CASES`
        ``"all"`` over every case a model forecast and, when models are compared,
        ``"common"`` over the cases all of them forecast.
    timings
        One row per origin and model: :data:`TIMING_COLUMNS`.
    origins, horizon, models, n_draws, random_seed
        The settings.
    source
        The panel's description.
    notes
        Forecasts not made, and unconverged fits.
    """

    cases: pd.DataFrame
    summary: pd.DataFrame
    timings: pd.DataFrame
    origins: tuple[int, ...]
    horizon: int
    models: tuple[str, ...]
    n_draws: int
    random_seed: int
    source: str = "panel data"
    notes: tuple[str, ...] = ()


#: ``progress(done, total, result)`` after each origin and model finishes.
Progress = Callable[[int, int, CaseResult], None]


# ====================================================================== checks
def _whole(name: str, value: object, minimum: int) -> int:
    """Validate a whole-number setting of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be a whole number of at least {minimum}, got "
                          f"{value!r}")
    return int(value)


def check_origins(panel: PanelData, origins: Sequence[int]) -> tuple[int, ...]:
    """Check the origins lie within the data; return them sorted, without repeats.

    An origin ``T`` needs :data:`MIN_HISTORY` years of counts before it (``T >= first count
    year + 2``) and a count year after it (``T + 1 <= last count year``).

    Parameters
    ----------
    panel
        The panel.
    origins
        Origin years.

    Returns
    -------
    tuple of int
        The origins, ascending.

    Raises
    ------
    ConfigError
        Naming every origin outside the valid range, and the range.
    """
    years = panel.count_years
    first, last = years[0] + MIN_HISTORY, panel.last_count_year - 1
    span = f"counts of {years[0]}-{years[-1]} in {panel.source}"
    if first > last:
        raise ConfigError(f"no origin is possible with {span}: an origin needs "
                          f"{MIN_HISTORY} earlier years of counts and one later year")
    raw = list(origins)
    if not raw or any(isinstance(t, bool) or not isinstance(t, int | np.integer) for t in raw):
        raise ConfigError(f"origins must be whole years, at least one, got {origins!r}")
    bad = sorted({int(t) for t in raw if not first <= t <= last})
    if bad:
        raise ConfigError(f"origin(s) {', '.join(map(str, bad))} outside the valid range "
                          f"{first}-{last} ({span}: an origin needs {MIN_HISTORY} earlier "
                          f"years of counts and a later year to score)")
    return tuple(sorted({int(t) for t in raw}))


def check_models(models: Sequence[str]) -> tuple[str, ...]:
    """Check the model names; return them in :data:`MODELS` order.

    Raises
    ------
    ConfigError
        For none, an unknown name or a repeat, listing the choices.
    """
    chosen = [models] if isinstance(models, str) else list(models)
    unknown = [m for m in chosen if m not in MODELS]
    if not chosen or unknown or len(set(chosen)) != len(chosen):
        raise ConfigError(f"models must be distinct names from {list(MODELS)}, got "
                          f"{chosen}")
    return tuple(m for m in MODELS if m in chosen)


# ====================================================================== all jobs
def run_backtest(config: RunConfig, panel: PanelData, origins: Sequence[int], *,
                 horizon: int = defaults.BACKTEST_HORIZON, models: Sequence[str] = MODELS,
                 executor: Any = None, n_draws: int, random_seed: int,
                 progress: bool | Progress = False) -> BacktestResult:
    """Forecast from every origin with every model and score the forecasts.

    Parameters
    ----------
    config
        The run config: model, priors and sampling settings of the fits.
    panel
        The panel (all years; each fit sees only the counts up to its origin).
    origins
        Origin years (see :func:`check_origins`).
    horizon
        Years ahead, at least 1.
    models
        Names from :data:`MODELS`.
    executor
        A :class:`concurrent.futures.Executor` or a ``dask.distributed.Client`` running the
        jobs (:func:`run_case`); ``None`` runs them here, one after another. An executor
        passed in is not shut down.
    n_draws
        Draws per persistence forecast, at least 2.
    random_seed
        Seed of every job (see :func:`run_case`).
    progress
        ``True``: show a progress bar on stderr (:mod:`bayes_needs.core.progress`); a
        function: called as ``progress(done, total, case_result)`` after each job; ``False``
        (default): silent.

    Returns
    -------
    BacktestResult
        Per-case scores, the summary by model, service and horizon, and timings.

    Raises
    ------
    ConfigError
        For an origin outside the data (naming it and the valid range), unknown models, or
        a bad horizon, number of draws or seed.
    BayesNeedsError
        If a job fails; the message names its origin and model.
    """
    chosen = check_origins(panel, origins)
    models = check_models(models)
    horizon = _whole("horizon", horizon, 1)
    n_draws = _whole("n_draws", n_draws, 2)
    random_seed = _whole("random_seed", random_seed, 0)
    if executor is None:
        executor = SerialExecutor()
    elif not isinstance(executor, Executor) and hasattr(executor, "get_executor"):
        executor = executor.get_executor()  # a dask.distributed Client
    if not isinstance(executor, Executor):
        raise ConfigError(f"executor must be a concurrent.futures.Executor or a dask "
                          f"distributed Client, got {type(executor).__name__}")
    # In this process the fit may sample chains in parallel; in a pool, jobs are parallel.
    cores = None if isinstance(executor, SerialExecutor) else 1
    futures: dict[Future, tuple[int, str]] = {}
    for origin in chosen:
        for model in models:
            futures[executor.submit(run_case, config, panel, origin, model, horizon=horizon,
                                    n_draws=n_draws, random_seed=random_seed,
                                    cores=cores)] = (origin, model)
    done: list[CaseResult] = []
    with progress_bar(len(futures), "backtest jobs", enabled=progress is True) as advance:
        for _, result in completed(
                futures, lambda job: f"backtest of origin {job[0]}, model {job[1]}"):
            done.append(result)
            if callable(progress):
                progress(len(done), len(futures), result)
            advance(case_note(result))
    return _collect(done, panel, chosen, horizon, models, n_draws, random_seed)


def case_note(result: CaseResult) -> str:
    """One job's origin, model, size, times and convergence, for its progress line."""
    fit = "" if math.isnan(result.fit_seconds) else f", fit {result.fit_seconds:.1f} s"
    flag = "" if result.convergence.get("converged", True) else \
        "  [misses convergence thresholds]"
    return (f"origin {result.origin} {result.model}: {len(result.cases)} cases in "
            f"{result.seconds:.1f} s{fit}{flag}")


def common_cases(cases: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Return the cases all ``models`` forecast (same service, origin, horizon, LA, year).

    Models do not all forecast the same cases (persistence needs two earlier counts), and a
    mean score over different cases does not compare models; over these it does.
    """
    keys = [k for k in LABELS if k != MODEL]
    present = cases.groupby(keys, observed=True)[MODEL].nunique()
    shared = present[present == len(models)].index
    return cases[pd.MultiIndex.from_frame(cases[keys]).isin(shared)]


def _summaries(cases: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    """Scores by model, service and horizon over every case (``all``) and the common ones."""
    by = [MODEL, dims.SERVICE, dims.HORIZON]
    parts = [summarise_scores(cases, by=by).assign(**{CASES: ALL_CASES})]
    if len(models) > 1:
        parts.append(summarise_scores(common_cases(cases, models), by=by).assign(
            **{CASES: COMMON_CASES}))
    table = pd.concat(parts, ignore_index=True)
    return table[[*by, CASES, *[c for c in table.columns if c not in (*by, CASES)]]]


def _collect(done: list[CaseResult], panel: PanelData, origins: tuple[int, ...],
             horizon: int, models: tuple[str, ...], n_draws: int,
             random_seed: int) -> BacktestResult:
    """Combine the jobs' results in origin and model order."""
    done = sorted(done, key=lambda r: (r.origin, models.index(r.model)))
    cases = pd.concat([r.cases for r in done if len(r.cases)], ignore_index=True) \
        if any(len(r.cases) for r in done) else pd.DataFrame(columns=list(LABELS))
    order = {MODEL: list(models), dims.SERVICE: list(panel.services)}
    keyed = cases.astype({k: pd.CategoricalDtype(v, ordered=True) for k, v in order.items()})
    summary = _summaries(keyed, models) if len(cases) else pd.DataFrame(
        columns=[MODEL, dims.SERVICE, dims.HORIZON, CASES])
    summary = summary.astype({MODEL: str, dims.SERVICE: str})
    timings = pd.DataFrame([{dims.ORIGIN: r.origin, MODEL: r.model, "seconds": r.seconds,
                             "fit_seconds": r.fit_seconds, "n_cases": len(r.cases),
                             "converged": r.convergence.get("converged"),
                             "rhat_max": r.convergence.get("rhat_max", np.nan),
                             "divergences": r.convergence.get("divergences"),
                             "pareto_k": r.convergence.get("pareto_k", np.nan)} for r in done],
                           columns=list(TIMING_COLUMNS)).astype(
        {"converged": "boolean", "divergences": "Int64"})
    notes = tuple(n for r in done for n in r.notes)
    return BacktestResult(cases, summary, timings, origins, horizon, models, n_draws,
                          random_seed, panel.source, notes)


# ====================================================================== outputs
def default_interval_note() -> str:
    """Describe the scored intervals (for the CSV headers and the summary)."""
    probs = " and ".join(f"{p:.0%}" for p in SCORE_PROBS)
    return (f"intervals: {probs} {SCORE_INTERVAL_KIND} (equal-tailed) predictive intervals, "
            f"bounds rounded outward to whole-count draws; coverage = share of cases whose "
            f"later count lies inside")


def summary_text(result: BacktestResult, *, command: str | None = None,
                 interval_prob_note: str | None = None) -> str:
    """Readable summary: settings, command, score table, timings and notes.

    Parameters
    ----------
    result
        The backtest.
    command
        The command that ran it, shown so it can be repeated.
    interval_prob_note
        Description of the intervals (default: :func:`default_interval_note`).

    Returns
    -------
    str
        The text of ``summary.txt``.
    """
    note = interval_prob_note or default_interval_note()
    columns = [c for c in (MODEL, dims.SERVICE, dims.HORIZON, CASES, "n", "coverage_50",
                           "coverage_90", "rel_width_90", "interval_score_90", "crps")
               if c in result.summary.columns]
    lines = ["bayes-needs backtest: rolling-origin forecasts scored against later counts",
             f"data: {result.source}",
             f"origins: {', '.join(map(str, result.origins))}; horizon: 1-{result.horizon} "
             f"year(s); models: {', '.join(result.models)}",
             f"persistence draws per case: {result.n_draws}; random seed: "
             f"{result.random_seed}", note]
    if command:
        lines += ["", "command:", f"  {command}"]
    table = result.summary[columns].to_string(index=False, float_format=lambda v: f"{v:.3f}")
    lines += ["", "scores by model, service and horizon (means over cases; lower interval "
              "score and CRPS are better; cases 'all' = every case the model forecast, "
              "'common' = those every model forecast, the fair comparison):", table, "",
              "seconds per origin and model:",
              result.timings.to_string(index=False, float_format=lambda v: f"{v:.2f}")]
    if result.notes:
        lines += ["", "notes:", *(f"- {n}" for n in result.notes)]
    return "\n".join(lines) + "\n"


def write_backtest(result: BacktestResult, out_dir: str | Path, *,
                   interval_prob_note: str | None = None,
                   command: str | None = None) -> list[Path]:
    """Write :data:`OUTPUT_FILES` into ``out_dir`` as one set (all of them or none).

    Parameters
    ----------
    result
        The backtest.
    out_dir
        Directory to write into (created if missing).
    interval_prob_note
        Description of the scored intervals for the CSV headers and the summary (default:
        :func:`default_interval_note`).
    command
        The command that ran the backtest, recorded in ``summary.txt``.

    Returns
    -------
    list of pathlib.Path
        The written files, in :data:`OUTPUT_FILES` order.
    """
    out = Path(out_dir)
    note = interval_prob_note or default_interval_note()
    comment = (f"{note}\norigins {', '.join(map(str, result.origins))}, horizon 1-"
               f"{result.horizon}, models {', '.join(result.models)}, seed "
               f"{result.random_seed}; data: {result.source}")
    every = result.summary
    if CASES in every.columns:
        every = every[every[CASES] == ALL_CASES]
    png = figure_png(backtest_figure(every))
    text = summary_text(result, command=command, interval_prob_note=note)
    with output_set(out, BACKTEST_SET) as outputs:
        staging = outputs.staging
        write_csv(staging / BACKTEST_CSV, result.summary, comment=comment)
        write_csv(staging / CASES_CSV, result.cases, comment=comment)
        write_bytes(staging / BACKTEST_PNG, png)
        write_text(staging / SUMMARY_TXT, text)
    return [out / name for name in OUTPUT_FILES]
