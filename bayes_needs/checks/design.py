"""What a fit says about each LA's share and the within-LA gradient, and what a design changes.

:func:`fit_summary` reduces one fit (its allocation and CLA gradient draws) to the few numbers
``bayes-needs design`` compares; :func:`design_table` turns the replicates of every design
into expectations with Monte Carlo errors (sd over replicates / sqrt(replicates)).

The gradient is the CLA rate ratio between the most and least deprived decile of LSOAs
implied by the covariate effects: ``RR = exp(beta_cla . (zbar_top - zbar_bottom))``, the
``zbar`` child-weighted means of the standardised covariates over the decile's LSOAs (ranked
by IMD score). Its uncertainty is the posterior sd of ``log RR``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation.result import Allocation
from bayes_needs.core import dims
from bayes_needs.core.intervals import IntervalKind, credible_interval

__all__ = ["FitSummary", "design_table", "fit_summary", "gradient_contrast"]

#: Column ``scope`` of a design's summary row (the others are ``la`` rows).
DESIGN_SCOPE, LA_SCOPE = "design", "la"


@dataclass(frozen=True)
class FitSummary:
    """One fit, as ``design`` compares fits.

    Attributes
    ----------
    width
        (la,) width of each LA's share interval.
    share_mean
        (la,) posterior mean shares.
    log_gradient_mean, log_gradient_sd
        Posterior mean and sd of the log decile rate ratio.
    pareto_k
        The approximate fit's k̂ (``nan`` for a sampled fit).
    returning
        (la,) whether the LA returned in this replicate.
    """

    width: np.ndarray
    share_mean: np.ndarray
    log_gradient_mean: float
    log_gradient_sd: float
    pareto_k: float
    returning: np.ndarray


def gradient_contrast(z: np.ndarray, exposure: np.ndarray, ranking: np.ndarray) -> np.ndarray:
    """Return ``zbar_top - zbar_bottom`` over the most and least deprived LSOA deciles.

    Parameters
    ----------
    z
        (lsoa, covariate) standardised covariates.
    exposure
        (lsoa,) child populations (the weights).
    ranking
        (lsoa,) the deprivation measure (larger: more deprived).

    Returns
    -------
    numpy.ndarray
        (covariate,) the contrast.
    """
    order = np.argsort(ranking, kind="stable")
    tenth = max(1, len(order) // 10)
    bottom, top = order[:tenth], order[-tenth:]

    def mean(rows: np.ndarray) -> np.ndarray:
        weight = exposure[rows]
        return np.asarray(weight @ z[rows] / weight.sum()) if weight.sum() > 0 \
            else z[rows].mean(axis=0)

    return mean(top) - mean(bottom)


def fit_summary(allocation: Allocation, beta: xr.DataArray, contrast: np.ndarray, *,
                interval_prob: float, interval_kind: IntervalKind, pareto_k: float,
                returning: np.ndarray) -> FitSummary:
    """Summarise one fit.

    Parameters
    ----------
    allocation
        Its allocation (share draws).
    beta
        Draws ``(chain, draw, covariate)`` of the gradient service's covariate effects.
    contrast
        From :func:`gradient_contrast`.
    interval_prob, interval_kind
        The share interval.
    pareto_k
        The fit's k̂.
    returning
        (la,) mask of returning LAs.

    Returns
    -------
    FitSummary
    """
    share = allocation.draws["share"]
    lower, upper = credible_interval(share, interval_prob=interval_prob,
                                     interval_kind=interval_kind)
    log_rr = (beta.to_numpy() @ contrast).ravel()
    return FitSummary(width=np.asarray((upper - lower).to_numpy(), dtype=float),
                      share_mean=share.mean(dims.SAMPLE_DIMS).to_numpy(),
                      log_gradient_mean=float(log_rr.mean()),
                      log_gradient_sd=float(log_rr.std(ddof=1)),
                      pareto_k=float(pareto_k), returning=np.asarray(returning, dtype=bool))


def _ranks(share_mean: np.ndarray) -> np.ndarray:
    """Rank 1 for the largest mean share."""
    return pd.Series(-share_mean).rank(method="min").to_numpy()


def _mean_se(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over replicates (axis 0) and its Monte Carlo error."""
    n = values.shape[0]
    if n == 0:
        nan = np.full(values.shape[1:], np.nan)
        return nan, nan
    sd = values.std(axis=0, ddof=1) if n > 1 else np.full(values.shape[1:], np.nan)
    return values.mean(axis=0), sd / np.sqrt(n)


def design_table(base: FitSummary, replicates: Mapping[str, Sequence[FitSummary]], *,
                 la_codes: Sequence[str], la_names: Sequence[str], move: float,
                 pareto_k_threshold: float) -> pd.DataFrame:
    """Return the expected effect of each design, per LA and overall, with Monte Carlo errors.

    Replicates whose k̂ exceeds ``pareto_k_threshold`` are counted but left out
    (``replicates_flagged``); those whose approximation failed (k̂ infinite) among them
    (``replicates_failed``).

    Parameters
    ----------
    base
        The fit of the data as they are (same model and method as the refits).
    replicates
        Design name -> its replicates' summaries.
    la_codes, la_names
        The LAs, in the summaries' order.
    move
        Relative change of an LA's mean share that counts as moving.
    pareto_k_threshold
        Largest k̂ of a replicate kept.

    Returns
    -------
    pandas.DataFrame
        One row per design x LA (``scope = "la"``) then one per design (``scope =
        "design"``: medians over LAs, the gradient, the chance that any LA moves).
    """
    base_rank = _ranks(base.share_mean)
    rows = []
    for name, fits in replicates.items():
        # The baseline itself (a design that collects nothing) is always its own result.
        kept = [f for f in fits if f is base or (np.isfinite(f.pareto_k)
                                                 and f.pareto_k <= pareto_k_threshold)]
        n = len(kept)
        width = np.array([f.width for f in kept]).reshape(n, len(la_codes))
        reduction = base.width - width
        relative = reduction / base.width
        moved = np.array([np.abs(f.share_mean / base.share_mean - 1.0) > move
                          for f in kept]).reshape(n, len(la_codes))
        rank_change = np.array([np.abs(_ranks(f.share_mean) - base_rank)
                                for f in kept]).reshape(n, len(la_codes))
        returning = np.array([f.returning for f in fits]).reshape(len(fits), len(la_codes))
        red, red_se = _mean_se(reduction)
        rel, rel_se = _mean_se(relative)
        rank, rank_se = _mean_se(rank_change)
        rows.append(pd.DataFrame({
            "design": name, "scope": LA_SCOPE, "la_code": list(la_codes),
            "la_name": list(la_names), "returning": returning.mean(axis=0),
            "width_before": base.width, "width_after": _mean_se(width)[0],
            "width_reduction": red, "width_reduction_se": red_se,
            "relative_reduction": rel, "relative_reduction_se": rel_se,
            "prob_move": moved.mean(axis=0) if n else np.nan,
            "rank_change": rank, "rank_change_se": rank_se}))
        median_rel, median_rel_se = _mean_se(np.median(relative, axis=1))
        median_red, median_red_se = _mean_se(np.median(reduction, axis=1))
        sd, sd_se = _mean_se(np.array([f.log_gradient_sd for f in kept]))
        ratio = _mean_se(np.exp(np.array([f.log_gradient_mean for f in kept])))[0]
        any_move = moved.any(axis=1).mean() if n else np.nan
        mean_rank, mean_rank_se = _mean_se(rank_change.mean(axis=1))
        ks = np.array([f.pareto_k for f in fits if f is not base] or [base.pareto_k])
        rows.append(pd.DataFrame([{
            "design": name, "scope": DESIGN_SCOPE, "la_code": "", "la_name": "all LAs",
            "returning": returning.sum(axis=1).mean() if len(fits) else 0.0,
            "width_before": float(np.median(base.width)),
            "width_after": float(np.median(_mean_se(width)[0])) if n else np.nan,
            "width_reduction": median_red, "width_reduction_se": median_red_se,
            "relative_reduction": median_rel, "relative_reduction_se": median_rel_se,
            "prob_move": any_move,
            "prob_move_se": np.sqrt(any_move * (1 - any_move) / n) if n else np.nan,
            "rank_change": mean_rank, "rank_change_se": mean_rank_se,
            "gradient_sd_before": base.log_gradient_sd, "gradient_sd_after": sd,
            "gradient_sd_after_se": sd_se, "gradient_ratio_before":
                float(np.exp(base.log_gradient_mean)), "gradient_ratio_after": ratio,
            "replicates": len(fits), "replicates_kept": n,
            "replicates_flagged": len(fits) - n,
            "replicates_failed": int((~np.isfinite(ks)).sum()),
            "max_pareto_k": float(ks[np.isfinite(ks)].max()) if np.isfinite(ks).any()
            else np.nan}]))
    return pd.concat(rows, ignore_index=True)
