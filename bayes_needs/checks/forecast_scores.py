"""Scores of probabilistic count forecasts: interval coverage, width, interval score and CRPS.

A *case* is one forecast of one count (an LA x service x origin x horizon of a rolling-origin
backtest) given as predictive draws, scored against the count later observed.
:func:`score_forecasts` scores every case; :func:`summarise_scores` averages the scores by
groups (model, service, horizon, ...), giving the columns of the backtest table.

Per case and interval probability ``p`` (column suffix ``pct``, e.g. ``90``):

* the equal-tailed ``p`` interval ``[lower, upper]`` of the draws, from
  :func:`bayes_needs.core.intervals.credible_interval` with ``integer=True``: the lower bound
  is the ``(1 - p)/2`` sample quantile rounded down to a draw, the upper the ``(1 + p)/2``
  quantile rounded up to a draw (numpy quantile methods ``"lower"`` / ``"higher"``), so for
  count draws both bounds are whole numbers that could be observed, and the interval is
  never narrower than ``p``;
* ``covered_{pct}``: ``lower <= y <= upper``;
* ``width_{pct}`` = ``upper - lower`` and ``rel_width_{pct}`` = width / max(y, 1);
* ``interval_score_{pct}`` (Gneiting & Raftery 2007, eq. 43, :func:`scoringrules.interval_score`):
  ``(u - l) + 2/a (l - y) 1{y < l} + 2/a (y - u) 1{y > u}`` with ``a = 1 - p``, lower is
  better; ``rel_interval_score_{pct}`` = interval score / max(y, 1), which is scale-free;
* ``crps``: continuous ranked probability score of the draws as an ensemble
  (:func:`scoringrules.crps_ensemble`, estimator ``"pwm"``, which equals the *fair* estimator
  ``E|X - y| - sum|x_i - x_j| / (2 m (m - 1))``: unbiased for the CRPS of the distribution
  the draws come from, so models scored with different numbers of draws compare fairly).

A case is left out when its observed count is missing (NaN) or it has no forecast (all draws
NaN, e.g. a persistence forecast of an LA without a past count).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scoringrules as sr
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.core.intervals import IntervalKind, check_interval, credible_interval

#: Interval probabilities scored unless the caller names others.
SCORE_PROBS: tuple[float, ...] = (0.5, 0.9)
#: Interval kind of every scored interval (equal-tailed).
SCORE_INTERVAL_KIND: IntervalKind = "eti"
#: CRPS estimator of :func:`scoringrules.crps_ensemble` (PWM form of the fair estimator).
CRPS_ESTIMATOR = "pwm"

#: Column naming the forecasting model (the panel model, persistence, ...).
MODEL = "model"
#: Per-case columns that do not depend on the interval probability.
OBSERVED = "observed"
CRPS = "crps"
#: Summary column: number of scored cases in the group.
N = "n"

#: Columns the backtest table must have (at least).
BACKTEST_COLUMNS: tuple[str, ...] = (
    MODEL, dims.SERVICE, dims.HORIZON, N, "coverage_50", "coverage_90", "rel_width_90",
    "interval_score_90", CRPS,
)

_SOURCE = "forecast scores"
# Summary means of per-case columns: summary stem <- per-case stem.
_MEANS = {"coverage": "covered", "rel_width": "rel_width", "interval_score": "interval_score",
          "rel_interval_score": "rel_interval_score"}
_SHOWN = 5  # case positions named in an error message


def prob_label(prob: float) -> str:
    """Column suffix of an interval probability: ``0.9`` gives ``"90"``, ``0.975`` ``"97_5"``.

    Parameters
    ----------
    prob
        Interval probability in (0, 1).

    Returns
    -------
    str
        The percentage in ``%g`` format with any decimal point replaced by ``_``.
    """
    return f"{prob * 100:g}".replace(".", "_")


def summary_columns(probs: Sequence[float] = SCORE_PROBS) -> list[str]:
    """Score columns of :func:`summarise_scores` (after the group columns), in order.

    Parameters
    ----------
    probs
        Interval probabilities scored.

    Returns
    -------
    list of str
        ``n``; per probability ``coverage_{pct}``, ``coverage_{pct}_se``, ``rel_width_{pct}``,
        ``interval_score_{pct}``, ``rel_interval_score_{pct}``; then ``crps``.
    """
    return _summary_columns([prob_label(prob) for prob in probs])


def _summary_columns(pcts: list[str]) -> list[str]:
    """Score columns of a summary of the probability labels ``pcts``."""
    columns = [N]
    for pct in pcts:
        columns += [f"coverage_{pct}", f"coverage_{pct}_se", f"rel_width_{pct}",
                    f"interval_score_{pct}", f"rel_interval_score_{pct}"]
    return [*columns, CRPS]


def _check_probs(probs: Sequence[float]) -> list[float]:
    """Validate interval probabilities: each in (0, 1), at least one, no repeats."""
    checked = [check_interval(prob, SCORE_INTERVAL_KIND)[0] for prob in probs]
    if not checked:
        raise ConfigError("probs must name at least one interval probability, got none")
    labels = [prob_label(prob) for prob in checked]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"probs must not repeat a probability, got {list(probs)!r}")
    return checked


def _positions(mask: np.ndarray) -> str:
    """Name the first few case positions where ``mask`` holds, for an error message."""
    where = np.flatnonzero(mask)
    shown = ", ".join(str(int(i)) for i in where[:_SHOWN])
    return shown + (f" and {where.size - _SHOWN} more" if where.size > _SHOWN else "")


def _check_inputs(draws: np.ndarray, observed: np.ndarray,
                  labels: pd.DataFrame | None) -> list[str]:
    """Every problem with the shapes and values of the draws, observations and labels."""
    problems = []
    if draws.ndim != 2:
        problems.append(f"draws must be 2-D (case, draw), got shape {draws.shape}")
    elif draws.shape[1] < 2:
        problems.append(f"draws must hold at least 2 draws per case, got {draws.shape[1]}")
    if observed.ndim != 1:
        problems.append(f"observed must be 1-D (case,), got shape {observed.shape}")
    if problems:
        return problems
    n_cases = observed.shape[0]
    if draws.shape[0] != n_cases:
        problems.append(f"draws have {draws.shape[0]} cases (rows) but observed has "
                        f"{n_cases}")
    if labels is not None and len(labels) != n_cases:
        problems.append(f"labels have {len(labels)} rows but observed has {n_cases} cases")
    if problems:
        return problems
    if np.isinf(observed).any() or (observed < 0).any():
        problems.append("observed must be non-negative counts or NaN; bad at case(s) "
                        + _positions(np.isinf(observed) | (observed < 0)))
    if np.isinf(draws).any() or (draws < 0).any():
        problems.append("draws must be non-negative counts or NaN; bad at case(s) "
                        + _positions((np.isinf(draws) | (draws < 0)).any(axis=1)))
    n_nan = np.isnan(draws).sum(axis=1)
    partial = (n_nan > 0) & (n_nan < draws.shape[1])
    if partial.any():
        problems.append("draws of a case must be all NaN (no forecast) or none NaN; some "
                        "are NaN at case(s) " + _positions(partial))
    return problems


def _bounds(kept: np.ndarray, prob: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed ``prob`` interval bounds of each row of draws, outward to a draw."""
    if kept.shape[0] == 0:
        return np.empty(0), np.empty(0)
    # One chain per case, so each interval is taken over that case's draws only.
    values = xr.DataArray(kept[:, np.newaxis, :], dims=(dims.CASE, dims.CHAIN, dims.DRAW))
    lower, upper = credible_interval(values, interval_prob=prob,
                                     interval_kind=SCORE_INTERVAL_KIND, integer=True)
    return np.asarray(lower.values, dtype=float), np.asarray(upper.values, dtype=float)


def score_forecasts(draws: np.ndarray, observed: np.ndarray, *,
                    probs: Sequence[float] = SCORE_PROBS,
                    labels: pd.DataFrame | None = None) -> pd.DataFrame:
    """Score predictive count draws against the observed counts, one row per case.

    Parameters
    ----------
    draws
        Predictive draws, shape ``(n_cases, n_draws)`` with ``n_draws >= 2``; a case with all
        draws NaN has no forecast and is left out.
    observed
        Observed counts, shape ``(n_cases,)``; a NaN case is left out.
    probs
        Probabilities of the equal-tailed intervals scored, each in (0, 1).
    labels
        Optional case labels (e.g. ``model``, ``service``, ``la``, ``origin``, ``horizon``),
        one row per case in the order of ``draws``; their columns lead the result.

    Returns
    -------
    pandas.DataFrame
        One row per scored case, indexed by the case's position in ``draws``: the label
        columns, ``observed``, per probability ``lower_{pct}``, ``upper_{pct}``,
        ``covered_{pct}``, ``width_{pct}``, ``rel_width_{pct}``, ``interval_score_{pct}``,
        ``rel_interval_score_{pct}`` (see the module docstring), then ``crps``.

    Raises
    ------
    DataValidationError
        Listing every problem with the shapes or values (negative or infinite counts, a case
        with some but not all draws NaN).
    ConfigError
        If ``probs`` is empty, repeats a probability or has one outside (0, 1).
    """
    checked = _check_probs(probs)
    draws = np.asarray(draws, dtype=float)
    observed = np.asarray(observed, dtype=float)
    problems = _check_inputs(draws, observed, labels)
    if problems:
        raise DataValidationError(_SOURCE, problems)
    keep = ~np.isnan(observed) & ~np.isnan(draws).all(axis=1)
    y = observed[keep]
    kept = draws[keep]
    table = pd.DataFrame(index=pd.Index(np.flatnonzero(keep), name=dims.CASE))
    if labels is not None:
        for column in labels.columns:
            table[column] = labels[column].to_numpy()[keep]
    table[OBSERVED] = y
    scale = np.maximum(y, 1.0)
    for prob in checked:
        pct = prob_label(prob)
        lower, upper = _bounds(kept, prob)
        score = np.asarray(sr.interval_score(y, lower, upper, 1.0 - prob, backend="numpy"),
                           dtype=float)
        table[f"lower_{pct}"] = lower
        table[f"upper_{pct}"] = upper
        table[f"covered_{pct}"] = (lower <= y) & (y <= upper)
        table[f"width_{pct}"] = upper - lower
        table[f"rel_width_{pct}"] = (upper - lower) / scale
        table[f"interval_score_{pct}"] = score
        table[f"rel_interval_score_{pct}"] = score / scale
    table[CRPS] = np.asarray(sr.crps_ensemble(y, kept, m_axis=-1, estimator=CRPS_ESTIMATOR,
                                              backend="numpy"), dtype=float)
    return table


def _scored_probs(per_case: pd.DataFrame) -> list[str]:
    """Probability labels (``"50"``, ``"90"``, ...) scored in a per-case table."""
    prefix = "covered_"
    return [str(c)[len(prefix):] for c in per_case.columns if str(c).startswith(prefix)]


def _summarise_group(group: pd.DataFrame, pcts: list[str]) -> dict[str, float]:
    """Means of the scores of one group and binomial standard errors of its coverages."""
    n = len(group)
    row: dict[str, float] = {N: float(n)}
    for pct in pcts:
        for stem, case_stem in _MEANS.items():
            row[f"{stem}_{pct}"] = float(group[f"{case_stem}_{pct}"].mean()) if n else np.nan
        coverage = row[f"coverage_{pct}"]
        # Binomial standard error of the observed coverage: cases are the trials.
        row[f"coverage_{pct}_se"] = float(np.sqrt(coverage * (1.0 - coverage) / n)) if n \
            else np.nan
    row[CRPS] = float(group[CRPS].mean()) if n else np.nan
    return row


def summarise_scores(per_case: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Average per-case scores over groups of cases.

    Parameters
    ----------
    per_case
        Result of :func:`score_forecasts` (with its label columns).
    by
        Columns to group by, e.g. ``["model", "service", "horizon"]``; ``[]`` gives one row
        over all cases.

    Returns
    -------
    pandas.DataFrame
        One row per group: the ``by`` columns, then :func:`summary_columns` of the
        probabilities scored: ``n`` (cases), ``coverage_{pct}`` (share of cases covered),
        ``coverage_{pct}_se`` (its binomial standard error ``sqrt(c (1 - c) / n)``, exact
        given the cases, no Monte Carlo), the mean ``rel_width_{pct}``,
        ``interval_score_{pct}`` and ``rel_interval_score_{pct}``, and the mean ``crps``.

    Raises
    ------
    DataValidationError
        Naming every ``by`` or score column missing from ``per_case``.
    """
    pcts = _scored_probs(per_case)
    needed = [*by, CRPS] + [f"{stem}_{pct}" for pct in pcts for stem in _MEANS.values()]
    problems = [f"column {c!r} is missing" for c in needed if c not in per_case.columns]
    if not pcts:
        problems.append("no covered_{pct} column: not a score_forecasts table")
    if problems:
        raise DataValidationError(_SOURCE, problems)
    rows: list[dict[str, object]] = []
    if by:
        for key, group in per_case.groupby(by, sort=True, dropna=False, observed=True):
            keys = key if isinstance(key, tuple) else (key,)
            rows.append({**dict(zip(by, keys, strict=True)), **_summarise_group(group, pcts)})
    else:
        rows.append({**_summarise_group(per_case, pcts)})
    summary = pd.DataFrame(rows, columns=[*by, *_summary_columns(pcts)])
    summary[N] = summary[N].astype(int)
    return summary
