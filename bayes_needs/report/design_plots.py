"""The figure of ``bayes-needs design``: share-interval width against returning LAs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_needs.checks.design import DESIGN_SCOPE


def width_figure(table: pd.DataFrame) -> Figure:
    """Plot each design's median share-interval width against the LAs that return.

    Designs are grouped by level and services (one line each, in order of returning LAs),
    with Monte Carlo error bars; a second panel shows the CLA gradient's posterior log-sd.

    Parameters
    ----------
    table
        ``design.csv``'s table (:func:`bayes_needs.workflows.design.run`).

    Returns
    -------
    matplotlib.figure.Figure
        The plot.
    """
    rows = table[table["scope"] == DESIGN_SCOPE].sort_values("returning")
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    width_ax, gradient_ax = fig.subplots(1, 2)
    base = rows["width_before"].iloc[0] if len(rows) else np.nan
    for (level, services), group in rows.groupby(["level", "services"], sort=False):
        label = f"{level}: {services}"
        width_ax.errorbar(group["returning"], 100 * group["width_after"],
                          yerr=100 * group["width_reduction_se"], marker="o", capsize=3,
                          label=label)
        gradient_ax.errorbar(group["returning"], group["gradient_sd_after"],
                             yerr=group["gradient_sd_after_se"], marker="o", capsize=3,
                             label=label)
    width_ax.axhline(100 * base, color="0.5", linewidth=0.8, linestyle="--",
                     label="no return")
    width_ax.set(xlabel="LAs returning", ylabel="median share-interval width (pp)",
                 title="Share uncertainty")
    if len(rows):
        gradient_ax.axhline(rows["gradient_sd_before"].iloc[0], color="0.5", linewidth=0.8,
                            linestyle="--", label="no return")
    gradient_ax.set(xlabel="LAs returning", ylabel="posterior sd of log rate ratio",
                    title="Within-LA gradient (decile rate ratio)")
    width_ax.legend(fontsize="small")
    gradient_ax.legend(fontsize="small")
    return fig
