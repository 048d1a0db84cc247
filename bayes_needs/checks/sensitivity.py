"""Comparison of scenario posteriors with the base posterior (sensitivity testing).

Works on the results of :func:`bayes_needs.workflows.sensitivity.run`: one
:class:`xarray.Dataset` with ``share`` draws over ``(scenario, chain, draw, la)``, per-scenario
convergence figures and, optionally, power-scaling sensitivities. On the base's interval
settings (:func:`compare`):

* ``change_pp``: change of the posterior mean share, in percentage points of the pot;
  per scenario the maximum and mean absolute change;
* Spearman rank correlation of the posterior mean shares with the base's;
* LAs whose share interval no longer overlaps the base's;
* ``prob_fall``: P(share under the scenario < share under the base), treating the two
  posteriors as independent (ties count one half), so 0.5 means no evidence of a move;
* the number of hyperparameters power-scaling flags
  (:func:`bayes_needs.checks.diagnostics.power_scaling`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy.stats import rankdata, spearmanr

from bayes_needs.checks.diagnostics import diagnose
from bayes_needs.core import dims
from bayes_needs.core.intervals import check_interval, credible_interval, describe_interval

#: Dim of the power-scaling results: one hyperparameter element each.
PARAMETER = "parameter"
#: Per-scenario convergence figures carried in the results (``pareto_k``: of an approximate
#: fit, NaN for NUTS; R-hat, ESS and BFMI are NaN for an approximate fit).
CONVERGENCE_VARS = ("rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "bfmi_min",
                    "pareto_k")
#: ``prob_fall`` above this counts as evidence the LA's share falls (below the low one: rises).
PROB_FALL_HIGH = 0.9
PROB_FALL_LOW = 0.1
_POWER_SCALING_COLUMNS = ["scenario", "parameter", "prior", "likelihood", "diagnosis"]


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
        Output of :func:`bayes_needs.workflows.sensitivity.run`.
    interval_prob, interval_kind
        Interval settings (default: the base run's, in ``results.attrs``).

    Returns
    -------
    Comparison
        ``per_la`` columns: ``scenario, description, la_code, la_name, share_mean,
        share_lower, share_upper, base_share_mean, base_share_lower, base_share_upper,
        change_pp, abs_change_pp, rel_change, rank, base_rank, rank_change, overlaps_base,
        prob_fall``. ``summary`` columns: ``scenario, description, max_abs_change_pp,
        la_max_change, mean_abs_change_pp, spearman_rho, n_not_overlapping,
        not_overlapping, n_prob_fall_above_0.9, n_prob_fall_below_0.1, fit_from, converged,
        rhat_max, ess_bulk_min, ess_tail_min, divergences, bfmi_min, pareto_k, fit_seconds,
        n_psens_flagged``.
    """
    prob, kind = check_interval(
        float(results.attrs["interval_prob"] if interval_prob is None else interval_prob),
        str(results.attrs["interval_kind"] if interval_kind is None else interval_kind))
    names = [str(n) for n in results[dims.SCENARIO].to_numpy()]
    base_name = str(results.attrs.get("base", names[0]))
    la_codes = results[dims.LA].to_numpy().astype(str)
    la_names = results[dims.LA_NAME].to_numpy().astype(str) if dims.LA_NAME in results.coords \
        else la_codes

    def summarise(name: str) -> tuple[xr.DataArray, np.ndarray, np.ndarray, np.ndarray]:
        draws = _draws(results, name)
        lower, upper = credible_interval(draws, interval_prob=prob, interval_kind=kind)
        return draws, draws.mean((dims.CHAIN, dims.DRAW)).to_numpy(), lower.to_numpy(), \
            upper.to_numpy()

    base_draws, base_mean, base_lower, base_upper = summarise(base_name)
    base_rank = _rank(base_mean)
    base_sorted = np.sort(_flat(base_draws), axis=1)
    frames, rows = [], []
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
        rows.append({
            "scenario": name, "description": description,
            "max_abs_change_pp": float(np.nanmax(np.abs(change))),
            "la_max_change": la_codes[worst],
            "mean_abs_change_pp": float(np.nanmean(np.abs(change))),
            "spearman_rho": rho,
            "n_not_overlapping": int((~overlaps).sum()),
            "not_overlapping": ";".join(la_codes[~overlaps]),
            f"n_prob_fall_above_{PROB_FALL_HIGH:g}": int((prob_fall > PROB_FALL_HIGH).sum()),
            f"n_prob_fall_below_{PROB_FALL_LOW:g}": int((prob_fall < PROB_FALL_LOW).sum()),
            **_fit_figures(at, name)})
    per_la = pd.concat(frames, ignore_index=True)
    summary = pd.DataFrame(rows)
    summary["divergences"] = summary["divergences"].astype(int)
    return Comparison(per_la, summary, power_scaling_table(results),
                      describe_interval(prob, kind))


def _fit_figures(at: xr.Dataset, name: str) -> dict[str, Any]:
    """Summary columns describing one scenario's fit: shared fit, convergence, psens flags."""
    flagged = 0
    if "psens_prior" in at:
        pairs = zip(at["psens_prior"].to_numpy(), at["psens_likelihood"].to_numpy(),
                    strict=True)
        flagged = sum(diagnose(float(p), float(q)) != "-" for p, q in pairs)
    return {"fit_from": str(at["fit_from"].item()) if "fit_from" in at.coords else name,
            "converged": bool(at["converged"].item()),
            **{k: float(at[k].item()) if k in at else float("nan") for k in CONVERGENCE_VARS},
            "fit_seconds": float(at["fit_seconds"].item()),
            "n_psens_flagged": int(flagged)}


def power_scaling_table(results: xr.Dataset) -> pd.DataFrame:
    """Tabulate power-scaling sensitivity per scenario and hyperparameter.

    Parameters
    ----------
    results
        Output of :func:`bayes_needs.workflows.sensitivity.run`.

    Returns
    -------
    pandas.DataFrame
        One row per scenario x hyperparameter: ``scenario, parameter, prior, likelihood,
        diagnosis`` (priorsense's flags); empty if the results have no power-scaling.
    """
    if "psens_prior" not in results:
        return pd.DataFrame(columns=_POWER_SCALING_COLUMNS)
    rows = []
    for name in results[dims.SCENARIO].to_numpy():
        at = results.sel({dims.SCENARIO: name})
        for parameter, p, q in zip(at[PARAMETER].to_numpy(), at["psens_prior"].to_numpy(),
                                   at["psens_likelihood"].to_numpy(), strict=True):
            if np.isnan(p) and np.isnan(q):
                continue  # the parameter is not in this scenario's model
            rows.append({"scenario": str(name), "parameter": str(parameter), "prior": float(p),
                         "likelihood": float(q), "diagnosis": diagnose(float(p), float(q))})
    return pd.DataFrame(rows, columns=_POWER_SCALING_COLUMNS)


def _draws(results: xr.Dataset, name: str) -> xr.DataArray:
    """One scenario's share draws as ``(chain, draw, la)``, without concatenation padding."""
    share = results["share"].sel({dims.SCENARIO: name}, drop=True)
    # Scenarios with fewer draws or chains are NaN-padded by the concatenation.
    share = share.dropna(dims.DRAW, how="all").dropna(dims.CHAIN, how="all")
    return share.transpose(dims.CHAIN, dims.DRAW, dims.LA)


def _flat(draws: xr.DataArray) -> np.ndarray:
    """Reshape ``(chain, draw, la)`` draws to an ``(la, sample)`` array."""
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
    """Rank 1 = largest value; ties share the smallest rank."""
    return rankdata(-values, method="min").astype(np.int64)
