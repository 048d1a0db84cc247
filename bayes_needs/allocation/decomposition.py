"""Split each LA's share uncertainty into the part from demand and the part from cost weights."""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation.inputs import (
    PerLA,
    aligned_cost_weights,
    area_cost_multipliers,
    check_need,
)
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.intervals import (
    IntervalKind,
    check_interval,
    credible_interval,
    describe_interval,
)


def decompose_interval_width(
    need: xr.DataArray,
    cost_weight_draws: xr.DataArray,
    *,
    interval_prob: float,
    interval_kind: IntervalKind,
    random_seed: int,
    weight_draws_per_demand_draw: int = 50,
    area_cost_adjustment: PerLA | None = None,
) -> pd.DataFrame:
    """Measure how much of each LA's share uncertainty comes from demand vs cost weights.

    Three samples of shares are compared, all built on the same demand draws:

    * ``total``: every demand draw paired with ``weight_draws_per_demand_draw`` cost-weight
      draws (drawn with replacement, seeded), so both sources are uncertain;
    * ``demand``: cost weights fixed at their posterior mean (demand uncertainty only);
    * ``cost``: demand fixed at its posterior mean, with every cost-weight draw.

    Pooling many weight draws per demand draw matters: cost weights typically add a few per
    cent to a share's width, less than the Monte Carlo error of a tail quantile, so widths
    from one weight draw per demand draw cannot be ordered reliably; pooled, the demand
    draws are shared exactly and the cost part is averaged over.

    The two parts need **not** sum to the total: widths do not add (for independent sources
    they add roughly in quadrature) and the sources can interact. ``demand_fraction`` and
    ``cost_fraction`` are each part divided by the sum of the two parts; ``parts_over_total``
    is that sum divided by the total width. ``sd_fixed`` and ``sd_uncertain`` are the
    posterior sds of the ``demand`` and ``total`` samples. Uncertain weights make the sd
    larger, but not necessarily every interval wider: weight uncertainty mostly rescales the
    demand spread of a share, and such a scale mixture has heavier tails and more mass near
    the centre, which can narrow a 90% interval slightly while the sd grows.

    Parameters
    ----------
    need
        Demand draws, dims ``(chain, draw, la, service)``.
    cost_weight_draws
        Cost-weight draws, dims ``(chain, draw, service)`` or ``(sample, service)``.
    interval_prob, interval_kind
        The share interval, as in :func:`bayes_needs.core.intervals.credible_interval`.
    random_seed
        Seed for drawing the cost weights paired with each demand draw.
    weight_draws_per_demand_draw
        Cost-weight draws pooled with each demand draw for ``total``.
    area_cost_adjustment
        Optional per-LA multipliers, as in :func:`bayes_needs.allocation.allocate`.

    Returns
    -------
    pandas.DataFrame
        One row per LA: ``la_code, la_name, width_total, width_demand, width_cost,
        demand_fraction, cost_fraction, parts_over_total, sd_fixed, sd_uncertain,
        sd_ratio``; ``attrs`` holds the interval settings and a ``comment`` line.

    Raises
    ------
    DataValidationError
        For invalid ``need``, ``cost_weight_draws`` or ``area_cost_adjustment``.
    ConfigError
        For an invalid interval, seed or ``weight_draws_per_demand_draw``, or fixed weights.
    """
    interval_prob, interval_kind = check_interval(interval_prob, interval_kind)
    need = check_need(need)
    if isinstance(random_seed, bool) or not isinstance(random_seed, int | np.integer):
        raise ConfigError(f"random_seed must be an integer, got {random_seed!r}")
    replicates = weight_draws_per_demand_draw
    if isinstance(replicates, bool) or not isinstance(replicates, int | np.integer) \
            or replicates < 1:
        raise ConfigError(f"weight_draws_per_demand_draw must be an integer >= 1, "
                          f"got {replicates!r}")
    weights = aligned_cost_weights(cost_weight_draws, need)
    if not set(weights.dims) - {dims.SERVICE}:
        raise ConfigError("cost_weight_draws must hold draws (dims (chain, draw, service) or "
                          "(sample, service)); with fixed weights the cost part is zero")
    services = need[dims.SERVICE].to_numpy()
    flat_weights = weights.transpose(..., dims.SERVICE).to_numpy().reshape(-1, len(services))
    demand = need.transpose(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE).to_numpy()
    if area_cost_adjustment is not None:
        demand = demand * area_cost_multipliers(
            area_cost_adjustment, need[dims.LA].to_numpy())[:, None]
    demand = demand.reshape(-1, *demand.shape[2:])  # (draw, la, service)

    rng = np.random.default_rng(random_seed)
    pooled = [_shares(demand, flat_weights[rng.integers(0, len(flat_weights), len(demand))])
              for _ in range(replicates)]
    mean_weight = np.broadcast_to(flat_weights.mean(axis=0), (len(demand), len(services)))
    mean_need = np.broadcast_to(demand.mean(axis=0), (len(flat_weights), *demand.shape[1:]))
    samples = {"total": xr.concat(pooled, dim=dims.CHAIN),
               "demand": _shares(demand, mean_weight),
               "cost": _shares(mean_need, flat_weights)}
    width, sd = {}, {}
    for key, share in samples.items():
        lower, upper = credible_interval(share, interval_prob=interval_prob,
                                         interval_kind=interval_kind)
        width[key] = (upper - lower).to_numpy()
        # ddof 0, so repeating each demand draw in the pooled sample changes nothing.
        sd[key] = share.std(dims.SAMPLE_DIMS).to_numpy()
    parts = width["demand"] + width["cost"]
    with np.errstate(divide="ignore", invalid="ignore"):
        frame = pd.DataFrame({
            "la_code": need[dims.LA].to_numpy(),
            "la_name": need[dims.LA_NAME].to_numpy(),
            "width_total": width["total"],
            "width_demand": width["demand"],
            "width_cost": width["cost"],
            "demand_fraction": width["demand"] / parts,
            "cost_fraction": width["cost"] / parts,
            "parts_over_total": parts / width["total"],
            "sd_fixed": sd["demand"],
            "sd_uncertain": sd["total"],
            "sd_ratio": sd["total"] / sd["demand"],
        })
    frame.attrs.update({
        "interval_prob": interval_prob, "interval_kind": interval_kind,
        "weight_draws_per_demand_draw": int(replicates),
        "comment": (f"share interval width: {describe_interval(interval_prob, interval_kind)}; "
                    f"uncertain weights: each demand draw with {replicates} cost-weight draws "
                    f"(random_seed={random_seed}); fixed weights: their posterior mean; "
                    f"parts need not sum to the total"),
    })
    return frame


def _shares(need_draws: np.ndarray, weight_draws: np.ndarray) -> xr.DataArray:
    """Shares per draw as one chain: need ``(n, la, service)`` weighted by ``(n, service)``."""
    weighted = np.einsum("nls,ns->nl", need_draws, weight_draws)
    return xr.DataArray((weighted / weighted.sum(axis=1, keepdims=True))[None],
                        dims=(dims.CHAIN, dims.DRAW, dims.LA))
