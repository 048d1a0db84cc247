"""The decision-maker's table: each LA's money, money per child and change against a baseline.

Everything is computed from the allocation's share draws (``chain``, ``draw``) and summarised
only at the end, with intervals from :mod:`bayes_needs.core.intervals`:

* ``allocation = share * pot`` (in the pot's currency);
* ``per_child = allocation / children`` (the LA's child population in the run's data);
* ``change = (share - baseline_share) * pot``: the money gained or lost against the
  baseline at this run's pot, and ``change_pct = 100 * (share / baseline_share - 1)``;
* ``prob_gain``: the posterior probability that the share exceeds the baseline share.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation import Allocation
from bayes_needs.core import dims
from bayes_needs.core.intervals import check_interval, credible_interval, describe_interval
from bayes_needs.data.hexmap import HexLayout

#: Symbols of the currencies the report writes amounts in; others are written as codes.
CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$"}
#: Quantities of the table with a mean and an interval, from draws of the same name.
SUMMARISED = ("allocation", "per_child", "change", "change_pct")


@dataclass
class DecisionInputs:
    """What the decision-maker section shows besides the allocation.

    Attributes
    ----------
    pot, currency
        The pot shared out and its ISO 4217 currency code.
    baseline_share
        Baseline share per LA code (summing to 1).
    baseline_label
        Where the baseline comes from, in words.
    children
        Child population per LA code (the run's exposure).
    deprivation
        Deprivation per LA code (higher = more deprived), or ``None`` when the run has none.
    deprivation_label
        What ``deprivation`` measures, in words.
    layout
        The hexes of the map.
    notes
        Notes shown in the section (e.g. the pot was not recorded).
    """

    pot: float
    currency: str
    baseline_share: pd.Series
    baseline_label: str
    children: pd.Series
    deprivation: pd.Series | None
    deprivation_label: str
    layout: HexLayout
    notes: list[str]

    @property
    def symbol(self) -> str:
        """The currency's symbol (``£``), or its code for a currency without one here."""
        return CURRENCY_SYMBOLS.get(self.currency, self.currency)

    def money(self, value: float, *, decimals: int = 0, signed: bool = False,
              short: bool = False) -> str:
        """Format an amount in the pot's currency, e.g. ``£1,234``, ``-£12`` or ``+£3``.

        ``short`` writes millions and billions with one decimal and ``m`` / ``bn``
        (``£512.2m``), as tables for decision-makers do.
        """
        symbol = self.symbol if self.currency in CURRENCY_SYMBOLS else f"{self.currency} "
        sign = "-" if value < 0 else ("+" if signed and value > 0 else "")
        size = abs(value)
        for scale, suffix in ((1e9, "bn"), (1e6, "m")):
            if short and size >= scale:
                return f"{sign}{symbol}{size / scale:,.1f}{suffix}"
        return f"{sign}{symbol}{size:,.{decimals}f}"


def decision_draws(allocation: Allocation, inputs: DecisionInputs) -> xr.Dataset:
    """Per-draw amount, money per child and change against the baseline.

    Parameters
    ----------
    allocation
        The allocation (its ``share`` draws).
    inputs
        Pot, baseline shares and child populations, indexed by LA code.

    Returns
    -------
    xarray.Dataset
        ``allocation``, ``per_child``, ``change``, ``change_pct`` and ``gain`` (share above the
        baseline share), dims ``(chain, draw, la)``.
    """
    share = allocation.draws["share"]
    codes = [str(c) for c in share[dims.LA].to_numpy()]
    baseline = xr.DataArray(inputs.baseline_share.loc[codes].to_numpy(dtype=float),
                            dims=(dims.LA,), coords={dims.LA: share[dims.LA]})
    children = xr.DataArray(inputs.children.loc[codes].to_numpy(dtype=float),
                            dims=(dims.LA,), coords={dims.LA: share[dims.LA]})
    amount = share * inputs.pot
    with np.errstate(divide="ignore", invalid="ignore"):
        per_child = amount / children.where(children > 0)
        change_pct = 100.0 * (share / baseline.where(baseline > 0) - 1.0)
    return xr.Dataset({"allocation": amount, "per_child": per_child,
                       "change": (share - baseline) * inputs.pot, "change_pct": change_pct,
                       "gain": share > baseline})


def decision_table(allocation: Allocation, inputs: DecisionInputs) -> pd.DataFrame:
    """Summarise :func:`decision_draws` per LA with the allocation's interval.

    Parameters
    ----------
    allocation
        The allocation; its ``interval_prob`` and ``interval_kind`` set the intervals.
    inputs
        Pot, baseline and child populations.

    Returns
    -------
    pandas.DataFrame
        One row per LA, largest mean amount first: ``la_code, la_name, children,
        allocation_mean, allocation_lower, allocation_upper, per_child_*, baseline_share,
        baseline_allocation, change_*, change_pct_*, prob_gain``. ``attrs`` records
        ``interval_prob``, ``interval_kind``, ``pot``, ``currency``, ``baseline`` and
        ``comment``.
    """
    prob, kind = check_interval(allocation.interval_prob, allocation.interval_kind)
    draws = decision_draws(allocation, inputs)
    codes = [str(c) for c in allocation.la_codes]
    columns: dict[str, object] = {
        "la_code": codes,
        "la_name": allocation.draws[dims.LA_NAME].to_numpy().astype(str),
        "children": inputs.children.loc[codes].to_numpy(dtype=float),
    }
    baseline = inputs.baseline_share.loc[codes].to_numpy(dtype=float)
    for name in SUMMARISED:
        lower, upper = credible_interval(draws[name], interval_prob=prob, interval_kind=kind)
        columns[f"{name}_mean"] = draws[name].mean(dims.SAMPLE_DIMS).to_numpy()
        columns[f"{name}_lower"] = lower.to_numpy()
        columns[f"{name}_upper"] = upper.to_numpy()
        if name == "per_child":
            columns["baseline_share"] = baseline
            columns["baseline_allocation"] = baseline * inputs.pot
    columns["prob_gain"] = draws["gain"].mean(dims.SAMPLE_DIMS).to_numpy()
    table = pd.DataFrame(columns).sort_values("allocation_mean", ascending=False, kind="stable")
    table = table.reset_index(drop=True)
    interval = describe_interval(prob, kind)
    table.attrs.update({
        "interval_prob": prob, "interval_kind": kind, "pot": inputs.pot,
        "currency": inputs.currency, "baseline": inputs.baseline_label,
        "comment": f"amounts in {inputs.currency} of a pot of {inputs.pot:.10g}; intervals "
                   f"{interval} ({kind}); change against the baseline: "
                   f"{inputs.baseline_label}; prob_gain = P(share > baseline share)"})
    return table
