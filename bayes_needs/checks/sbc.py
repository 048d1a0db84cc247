"""Simulation-based calibration (SBC) of the area demand model: settings and statistics.

Each replicate (run by :mod:`bayes_needs.workflows.sbc`) is a pure function of ``(index,
base_seed, settings)``:

1. draw every parameter from the priors through the model itself and simulate counts
   following the model's likelihood (:mod:`bayes_needs.checks.sbc_simulation`);
2. refit (with NUTS, or the approximation ``method`` names) and rank each true value among
   ``n_rank_draws`` evenly thinned posterior draws (Talts et al. 2018,
   :func:`rank_replicate`). Calibrated inference gives ranks uniform on
   ``0..n_rank_draws``, which :func:`summarise` tests per quantity
   (:func:`rank_uniformity_pvalue`, Holm-adjusted by :func:`holm`).

Tracked quantities (:func:`tracked_draws`) are every element of ``intercept``, ``beta``,
``sigma_la``, ``msoa_cv`` and ``lsoa_dispersion`` and each LA's needs share.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from scipy import stats

from bayes_needs.allocation.shares import allocate
from bayes_needs.config.models import STANDARDISATIONS, Standardisation
from bayes_needs.config.run import METHODS, SamplingMethod
from bayes_needs.core import defaults, dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.simulate.geography import Scale

__all__ = ["SHARE", "TRACKED_PARAMETERS", "SBCResult", "SBCSettings", "cost_weights", "holm",
           "rank_bins", "rank_replicate", "rank_uniformity_pvalue", "summarise",
           "tracked_draws"]

#: Parameters whose every element is a tracked quantity (those present in the model).
TRACKED_PARAMETERS: tuple[str, ...] = ("intercept", "beta", "sigma_la", "msoa_cv",
                                       "lsoa_dispersion")
SHARE = "share"


@dataclass(frozen=True)
class SBCSettings:
    """What each replicate simulates and how it refits.

    Parameters
    ----------
    scale
        Synthetic geography (see :func:`bayes_needs.simulate.geography.generate_geography`).
    services
        Services simulated and fitted.
    covariates
        Covariates of the model (a subset of ``idaci``, ``imd``).
    data_seed
        Seed of the synthetic geography and observation layout, shared by all replicates.
    priors
        Prior file overriding the default area priors (``None``: the defaults).
    model
        :class:`~bayes_needs.config.models.AreaModelConfig` options.
    draws, tune, chains
        NUTS settings per replicate (chains run one after another in each worker). With
        only a handful of LAs ``sigma_la`` mixes slowly (bulk ESS ~0.1 per draw), so the
        default 2 x 1000 draws keep the 99 thinned rank draws close to independent.
    target_accept
        NUTS target acceptance rate.
    n_rank_draws
        Posterior draws each prior draw is ranked among (evenly thinned from
        ``draws * chains``, which must be at least this); ranks run from 0 to this.
    standardise
        Needs standardisation of the tracked shares.
    cost_weights
        Fixed cost weight per service for the shares (``None``: the pipeline defaults).
    method
        How each replicate refits: ``"nuts"`` or ``"laplace"`` (its ``chains x draws``
        independent draws; ``tune`` and ``target_accept`` unused). Each replicate records
        its approximation's Pareto k̂ and whether the convergence gate would pass it.
    """

    scale: Scale = "tiny"
    services: tuple[str, ...] = (dims.CIN, dims.CLA)
    covariates: tuple[str, ...] = ("idaci",)
    data_seed: int = 0
    priors: str | None = None
    model: dict[str, Any] = field(default_factory=dict)
    draws: int = 1000
    tune: int = 500
    chains: int = 2
    target_accept: float = defaults.TARGET_ACCEPT
    n_rank_draws: int = 99
    standardise: Standardisation = "la"
    cost_weights: dict[str, float] | None = None
    method: SamplingMethod = defaults.SAMPLING_METHOD

    def __post_init__(self) -> None:
        """Validate the settings and freeze the sequences as tuples."""
        object.__setattr__(self, "services", tuple(self.services))
        object.__setattr__(self, "covariates", tuple(self.covariates))
        for name in ("draws", "tune", "chains", "n_rank_draws"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"SBC {name} must be a whole number >= 1, got {value!r}")
        if self.draws * self.chains < self.n_rank_draws:
            raise ConfigError(f"SBC needs draws x chains >= n_rank_draws to thin from, got "
                              f"{self.draws} x {self.chains} < {self.n_rank_draws}")
        if self.standardise not in STANDARDISATIONS:
            raise ConfigError(f"standardise must be 'la', 'none' or 'all', got "
                              f"{self.standardise!r}")
        if self.method not in METHODS:
            raise ConfigError(f"SBC method must be one of {list(METHODS)}, got "
                              f"{self.method!r}")
        if not 0 < self.target_accept < 1:
            raise ConfigError(f"target_accept must be in (0, 1), got {self.target_accept!r}")

    def to_dict(self) -> dict[str, Any]:
        """Return the settings as a plain JSON-able mapping."""
        out = asdict(self)
        out["services"], out["covariates"] = list(self.services), list(self.covariates)
        return out


@dataclass
class SBCResult:
    """Outcome of an SBC run (:func:`bayes_needs.workflows.sbc.run_sbc`).

    Attributes
    ----------
    summary
        One row per quantity (the contents of ``sbc.csv``).
    ranks
        Long table ``replicate, quantity, rank, inside_50, inside_90``.
    replicates
        One row per replicate: seeds, convergence (an approximation's ``pareto_k`` and
        ``importance_ess``), whether the convergence gate passes it (``gate_passed``), wall
        time and any error.
    settings
        The settings used.
    """

    summary: pd.DataFrame
    ranks: pd.DataFrame
    replicates: pd.DataFrame
    settings: SBCSettings


def cost_weights(settings: SBCSettings) -> dict[str, float]:
    """Return the fixed cost weight of each simulated service.

    Parameters
    ----------
    settings
        Its ``cost_weights``, or :data:`bayes_needs.core.defaults.COST_WEIGHTS` when unset.

    Returns
    -------
    dict of str to float
        Weight per service of ``settings.services``.

    Raises
    ------
    ConfigError
        When a service has no weight.
    """
    weights = settings.cost_weights or defaults.COST_WEIGHTS
    missing = sorted(set(settings.services) - set(weights))
    if missing:
        raise ConfigError(f"SBC cost_weights has no weight for service(s) {missing}")
    return {s: float(weights[s]) for s in settings.services}


def _flatten(values: xr.DataArray, name: str) -> tuple[list[str], np.ndarray]:
    """Label the elements ``name[a,b]`` and reshape to (sample, element) over the sample dims."""
    sample_dims = [d for d in (dims.CHAIN, dims.DRAW) if d in values.dims]
    other = [d for d in values.dims if d not in sample_dims]
    values = values.transpose(*sample_dims, *other)
    labels = [name] if not other else [
        f"{name}[{','.join(str(v) for v in combo)}]"
        for combo in pd.MultiIndex.from_product([values[d].values for d in other])]
    n_sample = int(np.prod([values.sizes[d] for d in sample_dims])) if sample_dims else 1
    return labels, values.to_numpy().reshape(n_sample, -1)


def tracked_draws(posterior: xr.Dataset, params: Mapping[str, xr.DataArray],
                  need: xr.DataArray, truth_need: xr.DataArray,
                  weights: Mapping[str, float]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Collect the posterior draws and true values of every tracked quantity.

    Parameters
    ----------
    posterior
        Posterior of the refit.
    params
        The prior draw the data were simulated from.
    need
        Posterior need draws (chain, draw, la, service).
    truth_need
        The true need with the same dims (one chain, one draw).
    weights
        Fixed cost weight per service, turning need into LA shares.

    Returns
    -------
    tuple of dict
        ``(draws, truths)``: quantity label (``intercept[cin]``, ``share[E06000001]``...) to
        its flattened posterior draws and to its true value.
    """
    draws: dict[str, np.ndarray] = {}
    truths: dict[str, float] = {}
    for name in TRACKED_PARAMETERS:
        if name in posterior and name in params:
            labels, values = _flatten(posterior[name], name)
            _, truth = _flatten(params[name], name)
            for k, label in enumerate(labels):
                draws[label], truths[label] = values[:, k], float(truth[0, k])
    labels, share_draws = _flatten(allocate(need, dict(weights)).draws[SHARE], SHARE)
    _, share_truth = _flatten(allocate(truth_need, dict(weights)).draws[SHARE], SHARE)
    for k, label in enumerate(labels):
        draws[label], truths[label] = share_draws[:, k], float(share_truth[0, k])
    return draws, truths


def rank_replicate(draws: Mapping[str, np.ndarray], truths: Mapping[str, float],
                   keep: np.ndarray, rng: np.random.Generator
                   ) -> tuple[dict[str, int], dict[str, bool], dict[str, bool]]:
    """Rank each true value among thinned posterior draws and check interval coverage.

    Parameters
    ----------
    draws, truths
        From :func:`tracked_draws`.
    keep
        Indices of the thinned draws the truth is ranked among.
    rng
        Breaks ties uniformly at random (one integer per quantity, in order).

    Returns
    -------
    tuple of dict
        ``(ranks, inside_50, inside_90)``: the rank (number of thinned draws below the truth,
        ties split at random), and whether the truth lies in the central 50% and 90%
        intervals of all the draws.
    """
    ranks, inside_50, inside_90 = {}, {}, {}
    for label, values in draws.items():
        truth, thinned = truths[label], values[keep]
        ties = int((thinned == truth).sum())
        ranks[label] = int((thinned < truth).sum()) + int(rng.integers(0, ties + 1))
        q = np.quantile(values, [0.05, 0.25, 0.75, 0.95])
        inside_50[label] = bool(q[1] <= truth <= q[2])
        inside_90[label] = bool(q[0] <= truth <= q[3])
    return ranks, inside_50, inside_90


def summarise(results: Sequence[Mapping[str, Any]], settings: SBCSettings) -> SBCResult:
    """Tabulate replicate results: ranks, replicate diagnostics and a per-quantity summary.

    Parameters
    ----------
    results
        One mapping per replicate with ``index``, ``ranks``, ``inside_50``, ``inside_90``
        (quantity to value; empty for a failed replicate) and ``diagnostics``.
    settings
        The settings of the run.

    Returns
    -------
    SBCResult
        The summary has one row per quantity: ``n_sims``, ``mean_rank_fraction``, the rank
        uniformity ``p_value`` (:func:`rank_uniformity_pvalue`), ``p_value_holm``
        (:func:`holm`) and the 50% and 90% interval coverage.
    """
    rows = [{"replicate": r["index"], "quantity": q, "rank": rank,
             "inside_50": r["inside_50"][q], "inside_90": r["inside_90"][q]}
            for r in results for q, rank in r["ranks"].items()]
    ranks = pd.DataFrame(rows, columns=["replicate", "quantity", "rank", "inside_50",
                                        "inside_90"])
    replicates = pd.DataFrame([r["diagnostics"] for r in results])
    order = list(dict.fromkeys(ranks["quantity"]))
    summary_rows = []
    for quantity in order:
        group = ranks[ranks["quantity"] == quantity]
        values = group["rank"].to_numpy()
        summary_rows.append({
            "quantity": quantity,
            "n_sims": len(values),
            "n_rank_draws": settings.n_rank_draws,
            "mean_rank_fraction": float(values.mean() / settings.n_rank_draws),
            "p_value": rank_uniformity_pvalue(values, settings.n_rank_draws),
            "coverage_50": float(group["inside_50"].mean()),
            "coverage_90": float(group["inside_90"].mean()),
        })
    summary = pd.DataFrame(summary_rows, columns=["quantity", "n_sims", "n_rank_draws",
                                                  "mean_rank_fraction", "p_value",
                                                  "coverage_50", "coverage_90"])
    summary.insert(5, "p_value_holm", holm(summary["p_value"].to_numpy()))
    return SBCResult(summary, ranks, replicates, settings)


def rank_bins(n_sims: int, n_rank_draws: int) -> int:
    """Choose the histogram bins of the uniformity test: about 5+ ranks per bin, at most 20."""
    return int(max(2, min(20, n_sims // 5, n_rank_draws + 1)))


def rank_uniformity_pvalue(ranks: np.ndarray, n_rank_draws: int,
                           n_bins: int | None = None) -> float:
    """Test ranks in ``0..n_rank_draws`` against the discrete uniform (chi-square p-value).

    Ranks are grouped into ``n_bins`` contiguous bins (default :func:`rank_bins`); a bin's
    expected count is exactly proportional to the number of rank values it holds, so
    unequal bins are handled exactly.

    Parameters
    ----------
    ranks
        Integer ranks.
    n_rank_draws
        The largest possible rank.
    n_bins
        Number of bins.

    Returns
    -------
    float
        The p-value; NaN without ranks.

    Raises
    ------
    ValueError
        When a rank lies outside ``0..n_rank_draws``.
    """
    ranks = np.asarray(ranks, dtype=np.int64)
    n_values = n_rank_draws + 1
    if len(ranks) == 0:
        return float("nan")
    if ranks.min() < 0 or ranks.max() > n_rank_draws:
        raise ValueError(f"ranks must lie in 0..{n_rank_draws}")
    n_bins = n_bins or rank_bins(len(ranks), n_rank_draws)
    edges = np.floor(np.linspace(0, n_values, n_bins + 1)).astype(np.int64)
    observed = np.histogram(ranks, bins=edges)[0]
    expected = len(ranks) * np.diff(edges) / n_values
    return float(stats.chisquare(observed, expected).pvalue)


def holm(p_values: np.ndarray) -> np.ndarray:
    """Adjust p-values by Holm's step-down method (family-wise error over all quantities).

    Parameters
    ----------
    p_values
        Unadjusted p-values.

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the same order, capped at one.
    """
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty_like(p)
    out[order] = adjusted
    return out
