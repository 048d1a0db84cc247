"""Panel runs: load the LA x year panel, fit the panel model, forecast need and allocate.

``fit --year T --horizon H`` with a panel data source fits every year up to ``T`` and
forecasts ``T+1 .. T+H``; the allocation is for ``T+H``. The run directory holds the usual
files (``fit.nc``, ``run.json``, ``allocation.nc``, ``allocations.csv``, ``summary.txt``),
``demand.csv`` with a ``year`` column over the forecast years, and
``need_decomposition.csv`` (needs indicators, contextual term, LA residual kept and removed,
per LA and service, on the log-rate scale) and ``need_gradient.csv`` (per service, the
Spearman correlation of the needs-standardised rate with the LA deprivation score and the
most/least deprived quintile rate ratio; :mod:`bayes_needs.checks.need_gradient`), written
as one set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation import Allocation, CostWeights, allocate
from bayes_needs.checks import need_gradient as gradient
from bayes_needs.config.run import PANEL_SOURCES, RunConfig
from bayes_needs.core import dims
from bayes_needs.core.convergence import describe_method, inference_record
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.intervals import credible_interval, describe_interval
from bayes_needs.core.outputs import ALLOCATION, RUN, output_set, write_csv, write_text
from bayes_needs.data.panel import PanelData
from bayes_needs.data.panel_returns import PanelReturns
from bayes_needs.data.readers.england import DEFAULT_SERVICES
from bayes_needs.data.readers.england_panel import DEFAULT_INDICATORS, england_panel_data
from bayes_needs.data.readers.iod_scores import IMD_SCORE, read_la_imd_scores
from bayes_needs.data.return_validation import read_returns
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.need import panel as panel_need
from bayes_needs.simulate.panel import generate_panel
from bayes_needs.workflows.decomposition import write_decomposition
from bayes_needs.workflows.fits import FitResult, convergence, load_fit, sample_model, stage_fit
from bayes_needs.workflows.pipeline import RATE_PER, rates_per_10k

DEMAND_CSV = "demand.csv"
DECOMPOSITION_CSV = "need_decomposition.csv"
GRADIENT_CSV = "need_gradient.csv"
#: First reporting year of the England panel unless ``data.first_year`` says otherwise.
ENGLAND_FIRST_YEAR = 2013


def is_panel(config: RunConfig) -> bool:
    """Return whether ``config`` describes a panel run."""
    return config.data.source in PANEL_SOURCES


def load_panel_data(config: RunConfig) -> tuple[PanelData, dict[str, Any]]:
    """Load the panel ``config.data`` describes, cut at ``data.year`` if given.

    Parameters
    ----------
    config
        The run config.

    Returns
    -------
    panel, info
        The panel (exposure extended, carried forward, to cover the forecast years) and a
        JSON-able description of how it was built.
    """
    spec = config.data
    if spec.source == "england_panel":
        if spec.data_dir is None:
            raise ConfigError("the England panel needs --data-dir DIR")
        first = spec.first_year or ENGLAND_FIRST_YEAR
        panel, report = england_panel_data(
            Path(spec.data_dir), years=None if spec.year is None and first ==
            ENGLAND_FIRST_YEAR else range(first, 2026),
            services=tuple(spec.services) if spec.services is not None else DEFAULT_SERVICES,
            indicators=tuple(spec.covariates) if spec.covariates is not None
            else DEFAULT_INDICATORS, cla_from_flows=spec.cla_from_flows)
        info: dict[str, Any] = {"report": report.to_dict()}
    elif spec.source == "synthetic_panel":
        panel, _ = generate_panel(spec.scale, random_seed=spec.data_seed,
                                  services=tuple(spec.services) if spec.services is not None
                                  else (dims.CIN, dims.CLA), extra_years=3)
        info = {"synthetic_panel": {"scale": spec.scale, "seed": spec.data_seed}}
    else:
        raise ConfigError(f"data.source {spec.source!r} is not a panel source "
                          f"{list(PANEL_SOURCES)}")
    if spec.year is not None:
        panel = panel.up_to(spec.year)
    target = panel.last_count_year + config.need.horizon
    if target > panel.years[-1]:
        panel = panel.extend_exposure(target)
    return panel, info


def load_panel_returns(config: RunConfig, panel: PanelData) -> PanelReturns | None:
    """Read the LSOA/MSOA returns ``data.lsoa_returns`` names, validated against ``panel``.

    Long CSVs and filled return templates (CSV or XLSX) alike, with the checks of
    ``bayes-needs validate-return``
    (:func:`~bayes_needs.data.return_validation.read_returns`).

    Parameters
    ----------
    config
        The run config.
    panel
        The panel the returns belong to.

    Returns
    -------
    PanelReturns or None
        The returns, or ``None`` when the config names none.
    """
    paths = config.data.lsoa_returns
    return None if paths is None else read_returns(paths, panel)


def fit_panel(config: RunConfig, data: PanelData | None = None,
              data_info: dict[str, Any] | None = None, *,
              returns: PanelReturns | None = None) -> FitResult[Any]:
    """Load the panel (unless given), build the panel model and sample it.

    Parameters
    ----------
    config
        The run config.
    data
        The panel; by default loaded with :func:`load_panel_data`.
    data_info
        How ``data`` were obtained.
    returns
        LSOA/MSOA returns; by default read with :func:`load_panel_returns` (only those of
        the fitted years enter, so a fit of ``data.up_to(year)`` sees no later returns).

    Returns
    -------
    FitResult
        The fit, with its wall time.
    """
    if data is None:
        data, data_info = load_panel_data(config)
    if returns is None:
        returns = load_panel_returns(config, data)
    if returns is not None:
        data_info = {**(data_info or {}), "lsoa_returns": returns.summary()}
    model = PanelDemandModel(data, config.model, priors=config.priors, returns=returns)
    return sample_model(model, config, data_info)


def load_panel_fit(run_dir: Path, config: RunConfig) -> FitResult[Any]:
    """Reload a panel fit written by a panel run, rebuilding and hash-checking its data.

    Parameters
    ----------
    run_dir
        The run directory.
    config
        The config the reloaded fit carries (see :func:`bayes_needs.workflows.fits.load_fit`).

    Returns
    -------
    FitResult
        The fit.
    """
    def rebuild(cfg: RunConfig, fit_path: Path) -> tuple[Any, Any, dict[str, Any]]:
        data, data_info = load_panel_data(cfg)
        model, idata = PanelDemandModel.load(fit_path, data, load_panel_returns(cfg, data))
        return model, idata, data_info

    return load_fit(run_dir, config, rebuild=rebuild)


def panel_need_and_allocation(fit: FitResult[Any], cost_weights: CostWeights
                              ) -> tuple[xr.Dataset, Allocation, Allocation]:
    """Forecast need and allocate the pot for the last forecast year, and at the ``"la"`` end.

    Parameters
    ----------
    fit
        A panel fit; its config gives the need and allocation settings.
    cost_weights
        Relative cost per unit of each service: fixed, or draws (as
        :func:`bayes_needs.allocation.allocate` takes them).

    Returns
    -------
    need, allocation, la_end
        The need draws, the allocation with the config's standardisation, and the allocation
        with every persistent LA residual removed (policy share 1). The latter reuses the
        same draws: need at the ``"la"`` end is need without its kept LA residual.
    """
    cfg = fit.config
    need = panel_need.expected_need(fit.model, fit.idata, random_seed=cfg.need.random_seed,
                                    horizon=cfg.need.horizon, standardise=cfg.need.standardise)
    year = {dims.YEAR: int(need.attrs["allocation_year"])}
    a = cfg.allocation

    def share_out(demand: xr.DataArray) -> Allocation:
        allocation = allocate(demand, cost_weights, pot=a.pot, currency=a.currency,
                              interval_prob=a.interval_prob, interval_kind=a.interval_kind,
                              random_seed=cfg.need.random_seed)
        allocation.draws.attrs.update(inference_record(convergence(fit.idata)))
        return allocation

    need_year = need["need"].sel(year, drop=True)
    la_end = need_year * np.exp(-need["la_residual_kept"])
    return need, share_out(need_year), share_out(la_end)


def median_relative_width(allocation: Allocation) -> float:
    """Median over LAs of the share interval's width relative to the share's mean."""
    table = allocation.summary()
    width = table["share_upper"] - table["share_lower"]
    return float(np.median(width / table["share_mean"]))


def panel_demand_table(need: xr.Dataset, *, interval_prob: float, interval_kind
                       ) -> pd.DataFrame:
    """Per LA, forecast year and service: exposure, observed (if known), need and forecast.

    Counts are also given per 10,000 children of the exposure
    (:func:`bayes_needs.workflows.pipeline.rates_per_10k`).
    """
    rows: dict[str, Any] = {"exposure": need["exposure"].broadcast_like(need["observed"]),
                            "observed": need["observed"]}
    for name, prefix in (("need", "needs"), ("fitted", "forecast")):
        lower, upper = credible_interval(need[name], interval_prob=interval_prob,
                                         interval_kind=interval_kind)
        rows[f"{prefix}_mean"] = need[name].mean((dims.CHAIN, dims.DRAW))
        rows[f"{prefix}_lower"], rows[f"{prefix}_upper"] = lower, upper
    frame = xr.Dataset(rows).to_dataframe().reset_index().rename(columns={dims.LA: "la_code"})
    keep = ["la_code", dims.YEAR, dims.SERVICE, "exposure", "observed", "needs_mean",
            "needs_lower", "needs_upper", "forecast_mean", "forecast_lower", "forecast_upper"]
    return rates_per_10k(frame[keep], ("observed", "needs", "forecast"))


def decomposition_table(need: xr.Dataset, *, interval_prob: float, interval_kind
                        ) -> pd.DataFrame:
    """Per LA and service: each need component's mean and interval (log-rate scale)."""
    parts: dict[str, Any] = {}
    for name in panel_need.COMPONENTS:
        lower, upper = credible_interval(need[name], interval_prob=interval_prob,
                                         interval_kind=interval_kind)
        parts[name] = need[name].mean((dims.CHAIN, dims.DRAW))
        parts[f"{name}_lower"], parts[f"{name}_upper"] = lower, upper
    frame = xr.Dataset(parts).to_dataframe().reset_index()
    return frame.rename(columns={dims.LA: "la_code"})


def la_deprivation_score(fit: FitResult[Any]) -> tuple[pd.Series, str]:
    """Return the LA deprivation score the need gradient of a panel run is checked against.

    Parameters
    ----------
    fit
        A panel fit.

    Returns
    -------
    score, name
        Per LA code, higher = more deprived: the IMD 2019 score (child-weighted mean over
        the LA's LSOAs) for the England panel, else the composite of the panel's needs
        indicators (:func:`bayes_needs.checks.need_gradient.indicator_composite`); and what
        the score is, for the summary.
    """
    spec = fit.config.data
    if spec.source == "england_panel" and spec.data_dir is not None:
        scores = read_la_imd_scores(Path(spec.data_dir))
        return scores[IMD_SCORE], "IMD 2019 score (child-weighted LSOA mean)"
    return (gradient.indicator_composite(fit.model.data.la_indicator_means()),
            "needs-indicator composite")


def gradient_table(fit: FitResult[Any], need: xr.Dataset) -> tuple[pd.DataFrame, str]:
    """Check the deprivation gradient of need in the allocation year.

    Parameters
    ----------
    fit
        A panel fit.
    need
        Its need draws (:func:`bayes_needs.need.panel.expected_need`).

    Returns
    -------
    table, score_name
        The table of :func:`bayes_needs.checks.need_gradient.need_gradient` and what the
        LA score is.
    """
    a = fit.config.allocation
    year = int(need.attrs["allocation_year"])
    score, name = la_deprivation_score(fit)
    table = gradient.need_gradient(need, fit.model.data.exposure[year], score, year=year,
                                   interval_prob=a.interval_prob,
                                   interval_kind=a.interval_kind)
    return table, name


def write_panel_run(fit: FitResult[Any], need: xr.Dataset, allocation: Allocation,
                    out_dir: Path, *, la_end_width: float, extra: list[str],
                    cost_decomposition: pd.DataFrame | None = None,
                    include_fit: bool = True) -> None:
    """Write the fit, allocation, demand, decomposition, need gradient and summary as one set.

    ``cost_decomposition`` (an allocation with cost-weight draws) goes to
    ``decomposition.csv`` in the same set. ``include_fit=False`` (allocating from a saved
    fit into its own directory) leaves ``fit.nc`` and ``run.json`` as they are, as the area
    runs do. As for area runs, the set replaces the previous fit's or allocation's files
    (:data:`bayes_needs.core.outputs.REPLACES`).
    """
    a = fit.config.allocation
    interval = describe_interval(a.interval_prob, a.interval_kind)
    gradient_rows, score_name = gradient_table(fit, need)
    with output_set(out_dir, RUN if include_fit else ALLOCATION) as outputs:
        staging = outputs.staging
        if include_fit:
            stage_fit(fit, staging)
        allocation.to_netcdf(staging / "allocation.nc")
        allocation.to_csv(staging / "allocations.csv")
        write_csv(staging / DEMAND_CSV,
                  panel_demand_table(need, interval_prob=a.interval_prob,
                                     interval_kind=a.interval_kind),
                  comment=f"forecast years {[int(y) for y in need[dims.YEAR].values]}; interval: "
                          f"{interval}; needs standardisation: {need.attrs['standardise']}; "
                          f"rates per {RATE_PER:,} children of the exposure")
        write_csv(staging / DECOMPOSITION_CSV,
                  decomposition_table(need, interval_prob=a.interval_prob,
                                      interval_kind=a.interval_kind),
                  comment="log-rate terms of need in the allocation year "
                          f"{need.attrs['allocation_year']}; interval: {interval}")
        write_csv(staging / GRADIENT_CSV, gradient_rows,
                  comment=f"deprivation gradient of the needs-standardised rate per child in "
                          f"{need.attrs['allocation_year']} (need / exposure); LA score: "
                          f"{score_name}\n{gradient_rows.attrs['comment']}")
        width = median_relative_width(allocation)
        lines = ["bayes_needs panel run summary", "=============================",
                 f"data: {fit.model.data.source}; fitted years {fit.model.years[0]}-"
                 f"{fit.model.years[-1]}; allocation year {need.attrs['allocation_year']}",
                 f"services: {', '.join(fit.model.services)}",
                 f"indicators: {', '.join(fit.model.indicator_names)}",
                 f"method: {describe_method(convergence(fit.idata))}",
                 f"fit wall time: {fit.seconds:.1f} s",
                 f"pot: {a.pot:,.2f} {a.currency}",
                 f"median relative width of the {interval} share intervals: {width:.4f} "
                 f"(standardise = {need.attrs['standardise']}); {la_end_width:.4f} at the "
                 f"'la' end (policy_share = 1)",
                 *gradient.summary_lines(gradient_rows, score_name=score_name), *extra]
        write_text(staging / "summary.txt", "\n".join(lines) + "\n")
        if cost_decomposition is not None:
            write_decomposition(cost_decomposition, staging)
