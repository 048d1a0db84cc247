"""Does needs-standardised demand follow deprivation? The deprivation gradient of need.

A needs formula should give more to more deprived LAs: once the policy part of each LA's
effect is removed, the rate of need per child should rise with the LA's deprivation. Per
service and posterior draw, for one year (by default the allocation year):

* ``rate`` = need / exposure: the needs-standardised rate per child of each LA;
* ``spearman``: the Spearman rank correlation across LAs of ``rate`` with the LA deprivation
  score (average ranks for ties; NaN in a draw where every LA has the same rate);
* ``quintile_ratio``: the unweighted mean ``rate`` of the most deprived fifth of LAs over
  that of the least deprived fifth. Each fifth holds ``n // 5`` LAs (30 of England's 153),
  taken from the ends of the LAs sorted by score; ties in the score are broken by the LAs'
  order in the need draws.

Each statistic is summarised over the draws by its median and a credible interval from
:func:`bayes_needs.core.intervals.credible_interval` (defaults
:data:`bayes_needs.core.defaults.INTERVAL_PROB` and ``INTERVAL_KIND``).

The LA score is an input: the England panel run uses the IMD 2019 score
(:func:`bayes_needs.data.readers.iod_scores.read_la_imd_scores`), a synthetic panel the
composite of its needs indicators (:func:`indicator_composite`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import rankdata

from bayes_needs.core import defaults, dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.core.intervals import check_interval, credible_interval, describe_interval

SPEARMAN = "spearman"
QUINTILE_RATIO = "quintile_ratio"
#: Statistics of :func:`need_gradient`, in table order.
STATISTICS: tuple[str, ...] = (SPEARMAN, QUINTILE_RATIO)
#: Column naming the statistic of a row.
STATISTIC = "statistic"
#: Columns of :func:`need_gradient`.
COLUMNS: tuple[str, ...] = (dims.SERVICE, STATISTIC, "median", "lower", "upper")
#: Groups the LAs are split into by score (quintiles).
N_GROUPS = 5
_SHOWN = 5  # LA codes named in an error message


def need_rates(need: xr.Dataset | xr.DataArray, exposure: pd.Series, *,
               year: int | None = None) -> xr.DataArray:
    """Needs-standardised rate per child of each LA: need draws over the year's exposure.

    Parameters
    ----------
    need
        Need draws: the Dataset of :func:`bayes_needs.need.panel.expected_need` (its
        ``need``) or a DataArray, over ``(chain, draw, la[, year], service)``.
    exposure
        Child population of each LA in ``year``, indexed by LA code (any order; extra LAs
        are ignored).
    year
        Year to take from a ``year`` dim (default: ``need.attrs["allocation_year"]``, else
        the last year).

    Returns
    -------
    xarray.DataArray
        ``rate`` over ``(chain, draw, la, service)``.

    Raises
    ------
    ConfigError
        If ``year`` is not among the need's years.
    DataValidationError
        Naming the LA codes whose exposure is missing, non-finite or not positive.
    """
    draws = need["need"] if isinstance(need, xr.Dataset) else need
    if dims.YEAR in draws.dims:
        years = [int(y) for y in draws[dims.YEAR].values]
        if year is None:
            year = int(need.attrs.get("allocation_year", years[-1]))
        if year not in years:
            raise ConfigError(f"year {year} is not among the need's years {years}")
        draws = draws.sel({dims.YEAR: year}, drop=True)
    values = _aligned(exposure, draws, "exposure", positive=True)
    rate = draws / xr.DataArray(values, dims=[dims.LA], coords={dims.LA: draws[dims.LA]})
    return rate.transpose(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE).rename("rate")


def gradient_draws(rate: xr.DataArray, score: pd.Series) -> xr.Dataset:
    """Spearman correlation and most/least deprived quintile ratio per draw and service.

    Parameters
    ----------
    rate
        Rates over ``(chain, draw, la, service)`` (:func:`need_rates`).
    score
        LA deprivation score (higher = more deprived), indexed by LA code.

    Returns
    -------
    xarray.Dataset
        :data:`STATISTICS` over ``(chain, draw, service)``; ``attrs["n_la"]`` and
        ``attrs["n_quintile"]`` (LAs in each end fifth).

    Raises
    ------
    DataValidationError
        Naming LA codes without a finite score, or if there are fewer than five LAs or the
        score is the same for every LA.
    """
    rate = rate.transpose(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)
    values = _aligned(score, rate, "LA deprivation score", positive=False)
    n_la = values.size
    problems = []
    if n_la < N_GROUPS:
        problems.append(f"{n_la} LA(s) cannot be split into {N_GROUPS} groups; need at least "
                        f"{N_GROUPS}")
    elif np.ptp(values) == 0:
        problems.append("the score is the same for every LA, so no gradient can be measured")
    if problems:
        raise DataValidationError("LA deprivation score", problems)
    r = rate.to_numpy().astype(float)                                    # (c, d, la, s)
    score_rank = rankdata(values)
    score_c = (score_rank - score_rank.mean())[None, None, :, None]
    rate_rank = rankdata(r, axis=2)
    rate_c = rate_rank - rate_rank.mean(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (rate_c * score_c).sum(axis=2) / np.sqrt(
            (rate_c ** 2).sum(axis=2) * (score_c ** 2).sum(axis=2))
    k = n_la // N_GROUPS
    order = np.argsort(values, kind="stable")
    ratio = r[:, :, order[-k:], :].mean(axis=2) / r[:, :, order[:k], :].mean(axis=2)
    coords = {d: rate[d].values for d in (dims.CHAIN, dims.DRAW, dims.SERVICE)}
    frame = (dims.CHAIN, dims.DRAW, dims.SERVICE)
    out = xr.Dataset({SPEARMAN: (frame, rho), QUINTILE_RATIO: (frame, ratio)}, coords=coords)
    out.attrs.update(n_la=n_la, n_quintile=k)
    return out


def need_gradient(need: xr.Dataset | xr.DataArray, exposure: pd.Series, score: pd.Series, *,
                  year: int | None = None, interval_prob: float = defaults.INTERVAL_PROB,
                  interval_kind: str = defaults.INTERVAL_KIND) -> pd.DataFrame:
    """Summarise the deprivation gradient of need per service (see the module docstring).

    Parameters
    ----------
    need
        Need draws (:func:`bayes_needs.need.panel.expected_need`).
    exposure
        Child population of each LA in ``year``, indexed by LA code.
    score
        LA deprivation score (higher = more deprived), indexed by LA code.
    year
        Year of the need to check (default: the allocation year).
    interval_prob, interval_kind
        The credible interval of each statistic.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`: one row per service and statistic (:data:`STATISTICS`),
        with the median over draws and the interval bounds. ``attrs`` holds
        ``interval_prob``, ``interval_kind``, ``n_draws``, ``n_la``, ``n_quintile`` and
        ``comment`` (a header line for the CSV).

    Raises
    ------
    ConfigError
        For an invalid interval or a year the need does not cover.
    DataValidationError
        For missing or invalid exposures or scores (see :func:`need_rates` and
        :func:`gradient_draws`).
    """
    prob, kind = check_interval(interval_prob, interval_kind)
    stats = gradient_draws(need_rates(need, exposure, year=year), score)
    lower, upper = credible_interval(stats, interval_prob=prob, interval_kind=kind)
    median = stats.median(dims.SAMPLE_DIMS)
    rows = [{dims.SERVICE: str(service), STATISTIC: name,
             "median": float(median[name].sel({dims.SERVICE: service})),
             "lower": float(lower[name].sel({dims.SERVICE: service})),
             "upper": float(upper[name].sel({dims.SERVICE: service}))}
            for service in stats[dims.SERVICE].values for name in STATISTICS]
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    n_draws = int(stats.sizes[dims.CHAIN] * stats.sizes[dims.DRAW])
    table.attrs.update(
        interval_prob=prob, interval_kind=kind, n_draws=n_draws, n_la=stats.attrs["n_la"],
        n_quintile=stats.attrs["n_quintile"],
        comment=f"interval: {describe_interval(prob, kind)} ({kind}) over {n_draws} posterior "
                f"draws; {stats.attrs['n_la']} LAs, {stats.attrs['n_quintile']} per end "
                f"quintile")
    return table


def indicator_composite(la_means: pd.DataFrame) -> pd.Series:
    """LA score of a panel without IoD data: the mean of the standardised indicator means.

    Parameters
    ----------
    la_means
        LA means of the needs indicators, one column each, indexed by LA code
        (:meth:`bayes_needs.data.panel.PanelData.la_indicator_means`).

    Returns
    -------
    pandas.Series
        Per LA, the mean over indicators of the LA mean standardised across LAs (mean 0,
        population standard deviation 1), so each indicator counts equally.

    Raises
    ------
    DataValidationError
        Naming every indicator whose LA mean is the same in every LA (or not finite).
    """
    std = la_means.std(axis=0, ddof=0)
    flat = [str(c) for c in la_means.columns if not np.isfinite(std[c]) or std[c] <= 0]
    if flat or la_means.empty:
        raise DataValidationError("LA indicator means", [
            f"indicator '{c}' has the same LA mean in every LA (or a non-finite one), so it "
            f"cannot be standardised" for c in flat] or ["there are no indicators"])
    z = (la_means - la_means.mean(axis=0)) / std
    return z.mean(axis=1).rename("indicator_composite")


def summary_lines(table: pd.DataFrame, *, score_name: str) -> list[str]:
    """Two lines per service for ``summary.txt``: the Spearman and the quintile ratio.

    Parameters
    ----------
    table
        Output of :func:`need_gradient`.
    score_name
        What the LA score is, e.g. ``"IMD 2019 score"``.

    Returns
    -------
    list of str
        Medians with their intervals, described as :func:`need_gradient`'s ``attrs`` say.
    """
    interval = describe_interval(table.attrs["interval_prob"], table.attrs["interval_kind"])
    what = {SPEARMAN: f"Spearman of the needs-standardised rate with the LA {score_name}",
            QUINTILE_RATIO: "most/least deprived LA-quintile rate ratio"}
    return [f"need gradient, {row[dims.SERVICE]}: {what[row[STATISTIC]]}: median "
            f"{row['median']:.3f} ({interval} {row['lower']:.3f} to {row['upper']:.3f})"
            for _, row in table.iterrows()]


def _aligned(values: pd.Series, draws: xr.DataArray, what: str, *,
             positive: bool) -> np.ndarray:
    """``values`` in the order of ``draws``'s LAs, naming every missing or invalid LA."""
    codes = [str(c) for c in draws[dims.LA].values]
    series = pd.Series(values).copy()
    series.index = series.index.astype(str)
    problems = []
    if series.index.duplicated().any():
        problems.append(f"LA code(s) {_names(series.index[series.index.duplicated()])} "
                        f"appear more than once")
        series = series[~series.index.duplicated()]
    aligned = pd.to_numeric(series.reindex(codes), errors="coerce").to_numpy(dtype=float)
    absent = [c for c in codes if c not in series.index]
    if absent:
        problems.append(f"no value for LA code(s) {_names(absent)}")
    bad = ~np.isfinite(aligned) & np.isin(codes, absent, invert=True)
    if bad.any():
        problems.append(f"LA code(s) {_names(np.asarray(codes)[bad])} have a non-finite "
                        f"value")
    if positive:
        low = np.isfinite(aligned) & (aligned <= 0)
        if low.any():
            problems.append(f"LA code(s) {_names(np.asarray(codes)[low])} have a value <= 0")
    if problems:
        raise DataValidationError(what, problems)
    return aligned


def _names(codes) -> str:
    """Name the first few LA codes, and how many more."""
    codes = [str(c) for c in codes]
    more = len(codes) - _SHOWN
    return str(codes[:_SHOWN]) + (f" and {more} more" if more > 0 else "")
