"""Plots of the decision-maker section (see :data:`bayes_needs.report.inputs.DECISION_PLOTS`).

* a hex map of the LAs: money per child (left) and the change of share against the baseline
  (right, diverging colours centred on no change; hatched where the change's interval
  includes zero). England's LAs are drawn as their districts' hexes
  (:mod:`bayes_needs.data.hexmap`); LAs with other codes on a grid in code order;
* money per child against LA deprivation, with the interval of each LA as an error bar.

Each function draws from the decision table (:func:`bayes_needs.report.decision.decision_table`)
on a fresh :class:`matplotlib.figure.Figure` and returns it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch, RegularPolygon
from matplotlib.patheffects import withStroke

from bayes_needs.allocation import Allocation
from bayes_needs.core.intervals import describe_interval
from bayes_needs.report.decision import DecisionInputs, decision_table
from bayes_needs.report.diagnostic_plots import REPORT_DPI
from bayes_needs.report.figures import figure_png
from bayes_needs.report.inputs import DECISION_PLOTS

#: Colour of a hex whose LA is not in the run.
_MISSING_COLOUR = "0.88"
#: Radius of a pointy-topped hex whose neighbours in a row are one unit apart.
_HEX_RADIUS = 1.0 / np.sqrt(3.0)


def plot_hex_map(table: pd.DataFrame, inputs: DecisionInputs) -> Figure:
    """Draw the hex map: money per child, and change of share against the baseline."""
    layout = inputs.layout
    x, y = layout.centres()
    rows = table.set_index("la_code")
    hex_la = layout.hexes["la_code"].to_numpy()
    present = np.isin(hex_la, rows.index)
    per_child = rows["per_child_mean"].reindex(hex_la).to_numpy(dtype=float)
    change = rows["change_pct_mean"].reindex(hex_la).to_numpy(dtype=float)
    unclear = ((rows["change_lower"] <= 0) & (rows["change_upper"] >= 0)) \
        .reindex(hex_la).fillna(False).to_numpy(dtype=bool)
    width = max(4.0, float(np.ptp(x)) * 0.26 + 1.5)
    height = max(3.5, float(np.ptp(y)) * 0.26 + 1.8)
    fig = Figure(figsize=(2 * width + 1.5, height), layout="constrained")
    left, right = fig.subplots(1, 2)
    limit = float(np.nanmax(np.abs(change))) if np.isfinite(change).any() else 1.0
    limit = max(limit, 1e-9)
    panels = (
        (left, per_child, Normalize(np.nanmin(per_child), np.nanmax(per_child)), "viridis",
         f"{inputs.symbol} per child", np.zeros_like(unclear)),
        (right, change, TwoSlopeNorm(0.0, -limit, limit), "RdBu",
         "change of share (%)", unclear),
    )
    for ax, values, norm, cmap_name, label, hatched in panels:
        cmap = colormaps[cmap_name]
        _draw_hexes(ax, x, y, values, present, hatched, cmap, norm)
        if not layout.geographic:
            for xi, yi, code in zip(x, y, hex_la, strict=True):
                ax.text(xi, yi, code, ha="center", va="center", fontsize="x-small",
                        color="0.1", path_effects=[withStroke(linewidth=2, foreground="white")])
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, shrink=0.7, label=label)
    interval = describe_interval(table.attrs["interval_prob"], table.attrs["interval_kind"])
    handles = [Patch(facecolor="white", edgecolor="0.3", hatch="///",
                     label=f"{interval} interval of the change includes 0")]
    if not present.all():
        handles.append(Patch(facecolor=_MISSING_COLOUR, edgecolor="white",
                             label="not in this run"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
               fontsize="small", frameon=False)
    where = "England's districts, each coloured as its LA" if layout.geographic else \
        "LAs on a grid in code order (not geography: the LA codes are not English LA codes)"
    left.set_title("Money per child (posterior mean)", fontsize="medium")
    right.set_title("Change of share against the baseline (posterior mean)",
                    fontsize="medium")
    fig.suptitle(f"Hex map: {where}\nbaseline: {inputs.baseline_label}")
    return fig


def _draw_hexes(ax: Axes, x: np.ndarray, y: np.ndarray, values: np.ndarray,
                present: np.ndarray, hatched: np.ndarray, cmap, norm) -> None:
    """Add one hex per centre, coloured by value (grey when its LA is not in the run)."""
    for xi, yi, value, shown, hatch in zip(x, y, values, present, hatched, strict=True):
        colour = cmap(norm(value)) if shown and np.isfinite(value) else _MISSING_COLOUR
        ax.add_patch(RegularPolygon((xi, yi), numVertices=6, radius=_HEX_RADIUS * 0.97,
                                    orientation=0.0, facecolor=colour, edgecolor="white",
                                    linewidth=0.4, hatch="///" if hatch else None))
    ax.set_xlim(x.min() - 1, x.max() + 1)
    ax.set_ylim(y.min() - 1, y.max() + 1)
    ax.set_aspect("equal")
    ax.set_axis_off()


def plot_deprivation(table: pd.DataFrame, inputs: DecisionInputs) -> Figure:
    """Draw money per child against LA deprivation, each LA with its interval."""
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    if inputs.deprivation is None:
        ax.set_axis_off()
        ax.text(0.5, 0.5, "not available: the run has no deprivation measure",
                ha="center", va="center")
        return fig
    deprivation = inputs.deprivation.reindex(table["la_code"]).to_numpy(dtype=float)
    mean = table["per_child_mean"].to_numpy(dtype=float)
    errors = np.vstack([mean - table["per_child_lower"].to_numpy(dtype=float),
                        table["per_child_upper"].to_numpy(dtype=float) - mean])
    ax.errorbar(deprivation, mean, yerr=errors, fmt="o", markersize=3.5, color="C0",
                ecolor="C0", elinewidth=0.9, alpha=0.8, label="LA: mean and interval")
    national = inputs.pot / float(inputs.children.sum())
    ax.axhline(national, color="0.4", linestyle="--", linewidth=1,
               label=f"all LAs of the run: {inputs.money(national)} per child")
    for i in _extremes(mean):
        ax.annotate(str(table["la_name"].iloc[i])[:24], (deprivation[i], mean[i]),
                    textcoords="offset points", xytext=(4, 2), fontsize="x-small")
    interval = describe_interval(table.attrs["interval_prob"], table.attrs["interval_kind"])
    ax.set_xlabel(f"deprivation: {inputs.deprivation_label} (higher = more deprived)")
    ax.set_ylabel(f"money per child ({inputs.currency}), {interval} interval")
    ax.legend(fontsize="small")
    ax.set_title("Money per child against LA deprivation")
    return fig


def _extremes(values: np.ndarray, count: int = 3) -> list[int]:
    """Positions of the ``count`` lowest and highest values, to label them."""
    order = np.argsort(values, kind="stable")
    return sorted(set(order[:count].tolist()) | set(order[-count:].tolist()))


def render_decision_plots(allocation: Allocation, inputs: DecisionInputs) -> dict[str, bytes]:
    """Draw every plot of :data:`~bayes_needs.report.inputs.DECISION_PLOTS` as PNG bytes.

    Parameters
    ----------
    allocation
        The allocation (its share draws).
    inputs
        Pot, baseline, child populations, deprivation and map layout.

    Returns
    -------
    dict of str to bytes
        File stem -> PNG bytes, in section order.
    """
    table = decision_table(allocation, inputs)
    functions = {"hex_map": plot_hex_map, "per_child_vs_deprivation": plot_deprivation}
    return {stem: figure_png(functions[stem](table, inputs), dpi=REPORT_DPI)
            for stem, _ in DECISION_PLOTS}
