"""Figures of a simulation-based calibration run (:mod:`bayes_needs.checks.sbc`)."""

from __future__ import annotations

import math

import arviz as az
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

__all__ = ["plot_rank_ecdf"]


def plot_rank_ecdf(ranks: pd.DataFrame, n_rank_draws: int, *, random_seed: int = 0,
                   ncols: int = 6) -> Figure:
    """Plot each quantity's rank ECDF minus the discrete uniform's, with 95% bands.

    The simultaneous confidence bands are simulated by :func:`arviz.plot_ecdf`; a calibrated
    quantity's curve stays inside its band.

    Parameters
    ----------
    ranks
        Long table with columns ``replicate, quantity, rank``
        (:attr:`bayes_needs.checks.sbc.SBCResult.ranks`).
    n_rank_draws
        The largest possible rank.
    random_seed
        Seed of the band simulation.
    ncols
        Panels per row.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per quantity (no pyplot state).
    """
    quantities = list(dict.fromkeys(ranks["quantity"]))
    nrows = max(1, math.ceil(len(quantities) / ncols))
    fig = Figure(figsize=(2.6 * ncols, 2.2 * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    uniform = stats.randint(0, n_rank_draws + 1)
    points = np.arange(n_rank_draws + 1)
    for ax, quantity in zip(axes, quantities, strict=False):
        values = ranks.loc[ranks["quantity"] == quantity, "rank"].to_numpy(copy=True)
        az.plot_ecdf(values, cdf=uniform.cdf, rvs=uniform.rvs, eval_points=points,
                     difference=True, confidence_bands="simulated", ci_prob=0.95,
                     random_state=random_seed, ax=ax, show=False)
        ax.set_title(quantity, fontsize=8)
        ax.tick_params(labelsize=6)
    for ax in axes[len(quantities):]:
        ax.set_axis_off()
    fig.suptitle(f"SBC rank ECDF - uniform (95% simultaneous bands), "
                 f"{ranks['replicate'].nunique()} replicates", fontsize=9)
    return fig
