"""The models a rolling-origin backtest compares, and its job: forecast one origin, score.

Each ``*_draws`` function forecasts the counts of the years ``origin + 1 ... origin +
horizon`` from the counts up to ``origin`` (and the exposures, known for every year) and
returns, per service, draws shaped ``(la, horizon, draw)`` over the panel's LAs, all NaN
where a model makes no forecast. :func:`run_case`, the job
:mod:`bayes_needs.workflows.backtest` submits once per origin and model, scores them against
the later counts.

* ``panel``: the multi-year panel model (:class:`~bayes_needs.models.panel.PanelDemandModel`)
  fitted on :meth:`PanelData.up_to(origin) <bayes_needs.data.panel.PanelData.up_to>` with the
  run's model, prior and sampling settings (``sampling.method`` included: ``"laplace"``
  approximates every refit, as it does the ``single_year`` ones); its predictive count draws
  (:func:`bayes_needs.need.panel.forecast`).
* ``persistence``: the last count scaled by the exposure, with a negative binomial spread
  fitted on the history (:func:`bayes_needs.checks.persistence.persistence_forecast`). A
  service without two counts ``h`` years apart up to the origin gets no forecast at ``h``.
* ``single_year``: what a user of the single-year area model would do. The area model
  (:class:`~bayes_needs.models.area.AreaDemandModel`) is fitted on the origin year alone
  (:meth:`~bayes_needs.data.panel.PanelData.to_area_data`) with the run's ``model`` options
  that apply to it (``msoa_effects`` false unless the run says otherwise, as in
  ``examples/england_area.toml``: the data are LA totals) and the default area priors (the
  run's priors are the panel model's). Per posterior draw, the LA's expected count with its
  LA effect kept (:func:`bayes_needs.need.area.expected_need` with ``standardise="none"``,
  the mean of its ``fitted`` predictive draws) is scaled by the exposure ratio
  ``E[origin + h] / E[origin]`` and a Poisson count drawn around it: the ``fitted``
  predictive of the origin year carried to the target year's child population. A service
  without counts in the origin year gets no forecast.

Every function takes explicit seeds, so a forecast is a pure function of its arguments.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.checks.forecast_scores import MODEL, score_forecasts
from bayes_needs.checks.gate import evaluate
from bayes_needs.checks.persistence import persistence_forecast
from bayes_needs.config.models import AreaModelConfig
from bayes_needs.config.run import RunConfig
from bayes_needs.core import dims
from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.panel import LA_CODE, PanelData
from bayes_needs.need.area import expected_need
from bayes_needs.need.panel import forecast as panel_forecast
from bayes_needs.workflows.fits import FitResult, convergence, fit_area, quiet
from bayes_needs.workflows.panel import fit_panel

PANEL, PERSISTENCE, SINGLE_YEAR = "panel", "persistence", "single_year"
#: The models a backtest can compare, in report order.
MODELS: tuple[str, ...] = (PANEL, PERSISTENCE, SINGLE_YEAR)

#: Service -> forecast draws shaped ``(la, horizon, draw)``.
Draws = dict[str, np.ndarray]
#: Label columns of every case, in order.
LABELS: tuple[str, ...] = (MODEL, dims.SERVICE, dims.ORIGIN, dims.HORIZON, LA_CODE,
                           dims.YEAR)


def model_seeds(random_seed: int, origin: int, model: str) -> tuple[int, int]:
    """Independent seeds of the fit and of the forecast draws of one origin and model.

    Parameters
    ----------
    random_seed
        The backtest's seed.
    origin
        The origin year.
    model
        One of :data:`MODELS`.

    Returns
    -------
    tuple of int
        ``(fit_seed, draw_seed)`` from :class:`numpy.random.SeedSequence` keyed by all three,
        so adding an origin or a model leaves the others' seeds unchanged.
    """
    state = np.random.SeedSequence([int(random_seed), int(origin), MODELS.index(model)])
    fit_seed, draw_seed = state.generate_state(2)
    return int(fit_seed), int(draw_seed)


def area_model_options(config: RunConfig) -> dict[str, Any]:
    """Choose the single-year area model's options: the run's that apply, else defaults.

    Parameters
    ----------
    config
        The backtest's run config (its ``model`` section is the panel model's).

    Returns
    -------
    dict
        Options of :class:`~bayes_needs.config.models.AreaModelConfig`, ``msoa_effects``
        false unless the run sets it (LA totals cannot identify MSOA effects), and the
        panel's ``indicators`` as its ``covariates`` unless the run names those, so both
        models see the same indicators.
    """
    known = AreaModelConfig.model_fields
    options = {"msoa_effects": False, **{k: v for k, v in config.model.items() if k in known}}
    if config.model.get("indicators") is not None and "covariates" not in config.model:
        options["covariates"] = list(config.model["indicators"])
    return options


def _sampling_config(config: RunConfig, fit_seed: int, cores: int | None) -> RunConfig:
    """Set the fit's seed, no progress bar and the worker's cores in the run config."""
    return config.with_overrides(sampling={"random_seed": fit_seed, "progressbar": False,
                                           "cores": cores})


def persistence_draws(panel: PanelData, origin: int, horizon: int, n_draws: int,
                      random_seed: int) -> tuple[Draws, list[str]]:
    """Forecast every service by persistence at horizons ``1 ... horizon``.

    Parameters
    ----------
    panel
        The whole panel (only counts up to ``origin`` are used).
    origin
        The last data year.
    horizon
        Years ahead; exposures must exist up to ``origin + horizon``.
    n_draws
        Draws per LA.
    random_seed
        Seed of the draws; each (service, horizon) gets its own stream.

    Returns
    -------
    draws, notes
        Draws per service and a note for each (service, horizon) without a forecast.
    """
    years = list(panel.years)
    end = years.index(origin) + 1
    exposure = panel.exposure_array()
    seeds = np.random.SeedSequence(random_seed).spawn(len(panel.services) * horizon)
    out: Draws = {}
    notes = []
    for j, service in enumerate(panel.services):
        history = panel.counts[service].to_numpy(dtype=float)[:, :end]
        draws = np.full((len(panel.la_codes), horizon, n_draws), np.nan)
        for h in range(1, horizon + 1):
            seed = int(seeds[j * horizon + h - 1].generate_state(1)[0])
            try:
                draws[:, h - 1] = persistence_forecast(history, exposure[:, :end + h], h,
                                                       n_draws, seed)
            except DataValidationError:
                # Only a history too short for pairs h years apart fails on valid panel data.
                notes.append(f"persistence: no {service} counts {h} year(s) apart up to "
                             f"{origin}; no {h}-year forecast of {service} from {origin}")
        out[service] = draws
    return out, notes


def single_year_draws(config: RunConfig, panel: PanelData, origin: int, horizon: int, *,
                      fit_seed: int, draw_seed: int, cores: int | None = None
                      ) -> tuple[Draws, FitResult | None, list[str]]:
    """Fit the single-year area model on ``origin`` and carry it forward by exposure.

    Parameters
    ----------
    config
        The backtest's run config (model options filtered by :func:`area_model_options`,
        its sampling settings with ``fit_seed``).
    panel
        The whole panel.
    origin
        The year fitted.
    horizon
        Years ahead.
    fit_seed, draw_seed
        Seeds of NUTS and of the need and Poisson draws.
    cores
        Processes sampling chains (``None``: the config's).

    Returns
    -------
    draws, fit, notes
        Draws per service with counts in ``origin``, the fit (``None`` when no service has
        a count that year) and notes on the services left out.
    """
    with_counts = [s for s in panel.services if panel.counts[s][origin].notna().any()]
    notes = [f"single_year: no {s} counts in {origin}; no forecast of {s} from {origin}"
             for s in panel.services if s not in with_counts]
    if not with_counts:
        return {}, None, notes
    area = panel.to_area_data(origin, with_counts)
    run = _sampling_config(config, fit_seed, cores).model_copy(
        update={"model": area_model_options(config), "priors": None})
    with quiet():
        fit = fit_area(run, data=area)
    # The fitted mean per draw: LA effects and small-area effects kept.
    mean = expected_need(fit.model, fit.idata, random_seed=draw_seed,
                         standardise="none")["need"]
    mean = mean.stack({dims.SAMPLE: (dims.CHAIN, dims.DRAW)}).sel(
        {dims.LA: list(panel.la_codes)})
    exposure = panel.exposure
    rng = np.random.default_rng(np.random.SeedSequence(draw_seed).spawn(1)[0])
    out: Draws = {}
    for service in with_counts:
        base = mean.sel({dims.SERVICE: service}).transpose(dims.LA, dims.SAMPLE).to_numpy()
        ratio = np.stack([(exposure[origin + h] / exposure[origin]).to_numpy(dtype=float)
                          for h in range(1, horizon + 1)], axis=1)       # (la, horizon)
        out[service] = rng.poisson(base[:, np.newaxis, :] * ratio[:, :, np.newaxis]
                                   ).astype(float)
    return out, fit, notes


def panel_draws(config: RunConfig, panel: PanelData, origin: int, horizon: int, *,
                fit_seed: int, draw_seed: int, cores: int | None = None
                ) -> tuple[Draws, FitResult]:
    """Fit the panel model on the counts up to ``origin`` and forecast ``horizon`` years.

    Parameters
    ----------
    config
        The backtest's run config (model, priors, sampling with ``fit_seed``).
    panel
        The whole panel; counts after ``origin`` are held out.
    origin
        The last data year of the fit.
    horizon
        Years ahead.
    fit_seed, draw_seed
        Seeds of NUTS and of the predictive draws.
    cores
        Processes sampling chains (``None``: the config's).

    Returns
    -------
    draws, fit
        Predictive count draws per service of the panel, and the fit.
    """
    with quiet():
        fit = fit_panel(_sampling_config(config, fit_seed, cores), panel.up_to(origin))
    years = [origin + h for h in range(1, horizon + 1)]
    predictive = panel_forecast(fit.model, fit.idata, horizon=horizon, random_seed=draw_seed)
    counts = predictive["count"].stack({dims.SAMPLE: (dims.CHAIN, dims.DRAW)}).sel(
        {dims.LA: list(panel.la_codes), dims.YEAR: years})
    out: Draws = {}
    for service in panel.services:
        if service in counts[dims.SERVICE].values:
            out[service] = counts.sel({dims.SERVICE: service}).transpose(
                dims.LA, dims.YEAR, dims.SAMPLE).to_numpy().astype(float)
    return out, fit


@dataclass(frozen=True)
class CaseResult:
    """The scored forecasts of one origin and model (one job).

    Attributes
    ----------
    origin, model
        Which job.
    cases
        Per-case scores (:func:`score_forecasts` with :data:`LABELS`).
    seconds
        Wall time of the job; ``fit_seconds`` that of its PyMC fit (NaN without one).
    convergence
        The fit's convergence summary and gate (``converged``, ``rhat_max``,
        ``divergences``, ``pareto_k`` of an approximate fit, ``failures``); empty without
        a fit.
    notes
        Services or horizons without a forecast, and why.
    """

    origin: int
    model: str
    cases: pd.DataFrame
    seconds: float
    fit_seconds: float = float("nan")
    convergence: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# ====================================================================== one job
def _score(panel: PanelData, origin: int, model: str, draws: Draws) -> pd.DataFrame:
    """Score the draws of one origin and model against the later counts."""
    la_codes = np.asarray(panel.la_codes, dtype=object)
    blocks, observed, labels = [], [], []
    for service, values in draws.items():
        for h in range(1, values.shape[1] + 1):
            year = origin + h
            blocks.append(values[:, h - 1, :])
            observed.append(panel.counts[service][year].to_numpy(dtype=float))
            labels.append(pd.DataFrame({MODEL: model, dims.SERVICE: service,
                                        dims.ORIGIN: origin, dims.HORIZON: h,
                                        LA_CODE: la_codes, dims.YEAR: year}))
    if not blocks:
        return pd.DataFrame(columns=list(LABELS))
    table = score_forecasts(np.concatenate(blocks), np.concatenate(observed),
                            labels=pd.concat(labels, ignore_index=True))
    return table.reset_index(drop=True)


def _fit_record(fit: FitResult | None) -> tuple[float, dict[str, Any]]:
    """Fit seconds and convergence gate of a fit."""
    if fit is None:
        return float("nan"), {}
    conv = convergence(fit.idata)
    gate = evaluate(conv)
    return float(fit.seconds), {"converged": gate.passed, "rhat_max": conv["rhat_max"],
                                "divergences": conv["divergences"],
                                "pareto_k": conv.get("pareto_k", float("nan")),
                                "failures": list(gate.failures)}


def run_case(config: RunConfig, panel: PanelData, origin: int, model: str, *, horizon: int,
             n_draws: int, random_seed: int, cores: int | None = 1) -> CaseResult:
    """Forecast from one origin with one model and score the forecasts (one job).

    A pure function of its arguments: safe to run in any worker process.

    Parameters
    ----------
    config
        The run config (model, priors and sampling settings of the fits).
    panel
        The whole panel; counts after ``origin`` are used only to score.
    origin
        The last year of counts the model sees.
    model
        One of :data:`MODELS`.
    horizon
        Years ahead; horizons after the last count year are not forecast.
    n_draws
        Draws per persistence forecast (the fitted models use their posterior draws).
    random_seed
        The backtest's seed; the job's seeds are derived from it, the origin and the model
        (:func:`~bayes_needs.workflows.backtest_models.model_seeds`).
    cores
        Processes sampling the chains of a fit (``None``: the config's).

    Returns
    -------
    CaseResult
        The scored cases, timings, convergence and notes.
    """
    start = time.perf_counter()
    steps = min(horizon, panel.last_count_year - origin)
    fit_seed, draw_seed = model_seeds(random_seed, origin, model)
    fit: FitResult | None = None
    notes: list[str] = []
    if model == PERSISTENCE:
        draws, notes = persistence_draws(panel, origin, steps, n_draws, draw_seed)
    elif model == PANEL:
        draws, fit = panel_draws(config, panel, origin, steps, fit_seed=fit_seed,
                                 draw_seed=draw_seed, cores=cores)
    else:
        draws, fit, notes = single_year_draws(config, panel, origin, steps,
                                              fit_seed=fit_seed, draw_seed=draw_seed,
                                              cores=cores)
    cases = _score(panel, origin, model, draws)
    fit_seconds, conv = _fit_record(fit)
    if conv and not conv["converged"]:
        notes.append(f"{model} fit of {origin} misses the convergence thresholds: "
                     f"{'; '.join(conv['failures'])}")
    return CaseResult(origin, model, cases, time.perf_counter() - start, fit_seconds, conv,
                      tuple(notes))
