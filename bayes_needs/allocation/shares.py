"""Allocate a pot: posterior need draws x cost weights -> each LA's share, allocation, rank.

Everything here is xarray/numpy arithmetic over posterior draws, outside any PyMC graph.
Every quantity (weighted need, share, damped share, allocation, rank) is computed per draw and
only summarised at the very end (:meth:`Allocation.summary`), so every interval carries the
joint uncertainty of demand, cost weights and damping. How cost-weight draws meet demand
draws is described in :mod:`bayes_needs.allocation.inputs`.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import xarray as xr
from scipy.stats import rankdata

from bayes_needs.allocation.damping import Damping, damp_shares
from bayes_needs.allocation.inputs import (
    CostWeights,
    PerLA,
    area_cost_multipliers,
    baseline_shares,
    check_currency,
    check_need,
    check_pot,
    paired_cost_weights,
)
from bayes_needs.allocation.result import ALLOCATION_KIND, Allocation
from bayes_needs.core import dims
from bayes_needs.core.defaults import CURRENCY, INTERVAL_KIND, INTERVAL_PROB
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.core.idata import CONFIG_ATTR, KIND_ATTR, VERSION_ATTR
from bayes_needs.core.intervals import IntervalKind, check_interval
from bayes_needs.core.units import annotate
from bayes_needs.core.version import __version__


def allocate(
    need: xr.DataArray,
    cost_weights: CostWeights,
    *,
    pot: float | None = None,
    currency: str = CURRENCY,
    baseline: PerLA | None = None,
    area_cost_adjustment: PerLA | None = None,
    damping: Damping | None = None,
    interval_prob: float = INTERVAL_PROB,
    interval_kind: IntervalKind = INTERVAL_KIND,
    random_seed: int | None = None,
) -> Allocation:
    """Turn posterior demand draws and cost weights into each LA's share of a pot.

    Per draw: ``weighted_need[la] = ACA[la] * sum_service need[la, service] * weight[service]``,
    ``share = weighted_need / sum_la weighted_need`` (sums to 1 on every draw), optionally
    damped against the baseline (:func:`damp_shares`), ``allocation = share * pot`` and
    ``rank`` (1 = largest share; tied LAs share the smallest rank).

    Parameters
    ----------
    need
        Expected demand with dims ``(chain, draw, la, service)``; ``la`` labels are LA codes,
        an optional ``la_name`` coord on ``la`` is carried through. Finite and >= 0.
    cost_weights
        Relative cost weight per service, finite and >= 0: fixed (mapping, Series, or
        DataArray with only a ``service`` dim) or draws (DataArray with dims ``(chain, draw,
        service)`` or ``(sample, service)``), paired with the demand draws jointly as
        described in :mod:`bayes_needs.allocation.inputs`. Extra services are ignored.
    pot
        National total to share out, > 0; ``None`` gives shares only.
    currency
        ISO 4217 code of the pot's currency: the ``units`` of ``allocation``.
    baseline
        Baseline (e.g. last year's) share or amount per LA code, covering exactly the LAs of
        ``need``. Negative values are an error; otherwise values are normalised to sum to 1,
        so amounts in pounds can be given directly.
    area_cost_adjustment
        Positive multiplier per LA code applied to weighted need.
    damping
        Floor and cap on the relative change of share vs ``baseline``; requires ``baseline``.
    interval_prob
        Default interval probability of the summaries, in (0, 1).
    interval_kind
        Default interval kind of the summaries: ``"eti"`` or ``"hdi"``.
    random_seed
        Seed for pairing cost-weight draws with demand draws when their counts differ
        (required then).

    Returns
    -------
    Allocation
        The per-draw results and the settings used.

    Raises
    ------
    DataValidationError
        For invalid ``need``, ``cost_weights``, ``baseline`` or ``area_cost_adjustment``.
    ConfigError
        For invalid ``pot``, ``damping``, ``interval_prob``, ``interval_kind``, or a
        missing ``random_seed`` when one is needed.
    """
    interval_prob, interval_kind = check_interval(interval_prob, interval_kind)
    pot = check_pot(pot)
    currency = check_currency(currency)
    if damping is not None and not isinstance(damping, Damping):
        raise ConfigError(f"damping must be a Damping(floor=..., cap=...) or None, got "
                          f"{type(damping).__name__}")
    if damping is not None and baseline is None:
        raise ConfigError("damping limits the change of share against a baseline: pass "
                          "baseline= (e.g. last year's shares or amounts per LA)")
    need = check_need(need)
    la_codes = need[dims.LA].to_numpy()
    baseline_share = None if baseline is None else baseline_shares(baseline, la_codes)
    if damping is not None and damping.cap is not None and baseline_share is not None \
            and np.any(baseline_share <= 0):
        raise DataValidationError("baseline", [
            f"LA(s) {list(la_codes[baseline_share <= 0][:8])} have a zero baseline share, so "
            f"a cap on the relative change would hold them at 0; give them a baseline or "
            f"drop the cap"])
    aca = None if area_cost_adjustment is None else area_cost_multipliers(
        area_cost_adjustment, la_codes)
    weights, pairing = paired_cost_weights(cost_weights, need, random_seed)

    contribution, weighted, share = weighted_shares(need, weights, aca)
    data_vars: dict[str, xr.DataArray] = {
        "need": need, "cost_weight": weights, "contribution": contribution,
        "weighted_need": weighted,
    }
    if baseline_share is not None:
        data_vars["baseline_share"] = xr.DataArray(baseline_share, dims=(dims.LA,))
    if aca is not None:
        data_vars["area_cost_adjustment"] = xr.DataArray(aca, dims=(dims.LA,))
    if damping is not None:
        data_vars["share_undamped"] = share
        share = damp_shares(share, data_vars["baseline_share"].assign_coords(
            {dims.LA: la_codes}), damping)
    data_vars["share"] = share
    if pot is not None:
        data_vars["allocation"] = share * pot
    data_vars["rank"] = ranks(share)

    config = {
        "interval_prob": interval_prob, "interval_kind": interval_kind, "pot": pot,
        "currency": currency, "damping": None if damping is None else asdict(damping),
        "random_seed": random_seed, "cost_weight_pairing": pairing,
        "baseline": baseline is not None, "area_cost_adjustment": aca is not None,
    }
    attrs = {CONFIG_ATTR: json.dumps(config, sort_keys=True), KIND_ATTR: ALLOCATION_KIND,
             VERSION_ATTR: __version__, "interval_prob": interval_prob,
             "interval_kind": interval_kind, "cost_weight_pairing": pairing,
             "currency": currency}
    for key, value in (("pot", pot),
                       ("damping_floor", None if damping is None else damping.floor),
                       ("damping_cap", None if damping is None else damping.cap)):
        if value is not None:
            attrs[key] = value
    draws = annotate(xr.Dataset(data_vars, coords={dims.LA_NAME: need[dims.LA_NAME]},
                                attrs=attrs), currency=currency)
    return Allocation(draws.transpose(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE,
                                      missing_dims="ignore"))


def weighted_shares(need: xr.DataArray, weights: xr.DataArray, aca: np.ndarray | None
                    ) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Compute per-service contributions, weighted need per LA and shares, all per draw.

    Parameters
    ----------
    need
        Validated demand draws, dims ``(chain, draw, la, service)``.
    weights
        Cost weights aligned to ``need`` (dims ``(service,)`` or ``(chain, draw, service)``).
    aca
        Area cost multiplier per LA in the order of ``need``, or ``None``.

    Returns
    -------
    contribution, weighted_need, share : xarray.DataArray
        ``need x weight x aca``; its sum over services; that divided by its sum over LAs.

    Raises
    ------
    DataValidationError
        If weighted need is 0 for every LA on some draw (shares undefined).
    """
    contribution = need * weights
    if aca is not None:
        contribution = contribution * xr.DataArray(aca, dims=(dims.LA,))
    weighted = contribution.sum(dims.SERVICE)
    total = weighted.sum(dims.LA)
    empty = (total <= 0).to_numpy()
    if empty.any():
        raise DataValidationError("need", [
            f"weighted need is 0 for every LA on {int(empty.sum())} draw(s), so shares are "
            f"undefined; check that need and cost_weights are not all zero"])
    return contribution, weighted, weighted / total


def ranks(share: xr.DataArray) -> xr.DataArray:
    """Rank each LA's share per draw: 1 = largest; tied LAs take the smallest rank.

    Parameters
    ----------
    share
        Shares with an ``la`` dim.

    Returns
    -------
    xarray.DataArray
        Integer ranks named ``rank``, with ``la`` as the last dim.
    """
    ordered = share.transpose(..., dims.LA)
    rank = rankdata(-ordered.to_numpy(), method="min", axis=-1).astype(np.int64)
    return ordered.copy(data=rank).rename("rank")
