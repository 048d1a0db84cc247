"""Figures of a sensitivity comparison (:mod:`bayes_needs.checks.sensitivity`)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from bayes_needs.checks.sensitivity import Comparison
from bayes_needs.core.errors import ConfigError

#: LAs shown in the tornado plot unless the caller says.
TORNADO_TOP = 15
_MARKERS = "o^sDvP*Xh<>"


def tornado_figure(comparison: Comparison, *, top: int = TORNADO_TOP) -> Figure:
    """Draw a tornado plot of the LAs whose share moves most across scenarios.

    For each of the ``top`` LAs with the largest absolute change in any scenario, a bar spans
    the smallest to the largest change (percentage points) over the variations and a marker
    shows each variation; the largest range is at the top.

    Parameters
    ----------
    comparison
        The comparison with the base (its first scenario is the base).
    top
        Number of LAs shown.

    Returns
    -------
    matplotlib.figure.Figure
        The plot.

    Raises
    ------
    ConfigError
        If the comparison has no variation besides the base.
    """
    table = comparison.per_la
    base = table["scenario"].iloc[0]
    moves = table[table["scenario"] != base]
    if moves.empty:
        raise ConfigError("no variations to plot")
    spread = moves.groupby("la_code")["change_pp"].agg(["min", "max"])
    spread["range"] = spread["max"].clip(lower=0) - spread["min"].clip(upper=0)
    chosen = spread.sort_values("range", ascending=False).head(top)
    chosen = chosen.iloc[::-1]  # largest at the top of the plot
    names = moves.drop_duplicates("la_code").set_index("la_code")["la_name"]
    scenarios = list(dict.fromkeys(moves["scenario"]))
    fig = Figure(figsize=(10.5, 1.6 + 0.38 * len(chosen)), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(chosen))
    ax.barh(y, chosen["max"].clip(lower=0) - chosen["min"].clip(upper=0),
            left=chosen["min"].clip(upper=0), color="0.85", edgecolor="0.6", height=0.7)
    for j, scenario in enumerate(scenarios):
        values = moves[moves["scenario"] == scenario].set_index("la_code")["change_pp"]
        ax.scatter(values.reindex(chosen.index).to_numpy(), y, s=28, zorder=3,
                   marker=_MARKERS[j % len(_MARKERS)], label=scenario)
    ax.axvline(0.0, color="black", linewidth=0.8)
    ax.margins(x=0.05)
    ax.set_yticks(y, [f"{c} {names.get(c, '')}"[:40] for c in chosen.index])
    ax.set_xlabel("change in posterior mean share vs base (percentage points)")
    ax.set_title(f"Largest movers across {len(scenarios)} variation(s)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
              title="variation", title_fontsize="small")
    return fig
