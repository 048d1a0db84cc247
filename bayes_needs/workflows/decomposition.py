"""How much of each share interval is due to uncertain cost weights (``decomposition.csv``).

``bayes-needs allocate RUN --cost-weights cost_weights.nc`` allocates with cost-weight draws
paired draw by draw with demand. :func:`decomposition_table` splits each LA's share-interval
width into demand and cost-weight uncertainty and compares the share's posterior sd with
fixed (posterior-mean) and with uncertain weights; :func:`write_decomposition` writes it into
the allocation's output set and :func:`decomposition_text` gives the printed comparison.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation import decompose_interval_width
from bayes_needs.core.intervals import IntervalKind
from bayes_needs.core.outputs import write_csv

DECOMPOSITION_CSV = "decomposition.csv"


def decomposition_text(frame: pd.DataFrame, *, top: int = 10) -> str:
    """Compare share-interval widths with fixed and with uncertain weights, for printing.

    Parameters
    ----------
    frame
        :func:`decomposition_table`.
    top
        Rows of the table of the widest intervals.

    Returns
    -------
    str
        The comparison.
    """
    wider = (frame["width_total"] > frame["width_demand"]).mean()
    ratio = (frame["width_total"] / frame["width_demand"]).replace([np.inf, -np.inf], np.nan)
    lines = [f"share intervals: {frame.attrs['comment']}",
             f"fixed weights (posterior mean) vs uncertain weights, same demand draws: "
             f"median width {frame['width_demand'].median():.3e} -> "
             f"{frame['width_total'].median():.3e} (median ratio {ratio.median():.3f}); "
             f"wider for {wider:.0%} of {len(frame)} LAs",
             f"median share of the width due to demand {frame['demand_fraction'].median():.2f}, "
             f"due to cost weights {frame['cost_fraction'].median():.2f}"]
    lines.append(f"share posterior sd, uncertain vs fixed weights: larger for "
                 f"{(frame['sd_ratio'] > 1).mean():.0%} of LAs, median ratio "
                 f"{frame['sd_ratio'].median():.4f}, min {frame['sd_ratio'].min():.4f}")
    lines += ["",
             f"widest {top} intervals (width of the share interval; fixed = demand only, "
             f"cost only = demand at its mean)",
             f"{'la_code':<11}{'la_name':<26}{'fixed':>11}{'uncertain':>11}{'cost only':>11}"
             f"{'demand_frac':>12}{'cost_frac':>10}"]
    for row in frame.nlargest(top, "width_total").itertuples(index=False):
        lines.append(f"{row.la_code:<11}{str(row.la_name)[:25]:<26}{row.width_demand:11.3e}"
                     f"{row.width_total:11.3e}{row.width_cost:11.3e}"
                     f"{row.demand_fraction:12.2f}{row.cost_fraction:10.2f}")
    return "\n".join(lines) + "\n"


def decomposition_table(need: xr.DataArray, weights: xr.DataArray, *, interval_prob: float,
                        interval_kind: IntervalKind, random_seed: int) -> pd.DataFrame:
    """Decompose each LA's share-interval width into demand and cost-weight uncertainty.

    Parameters
    ----------
    need
        Expected-need draws.
    weights
        Cost-weight draws (:func:`load_service_weights`).
    interval_prob, interval_kind
        The share intervals.
    random_seed
        Seed of the pairing of weight and demand draws.

    Returns
    -------
    pandas.DataFrame
        :func:`bayes_needs.allocation.decompose_interval_width`; ``attrs["comment"]``
        describes it.
    """
    return decompose_interval_width(need, weights, interval_prob=interval_prob,
                                    interval_kind=interval_kind, random_seed=random_seed)


def write_decomposition(frame: pd.DataFrame, directory: str | Path) -> Path:
    """Write :func:`decomposition_table` to ``decomposition.csv`` in ``directory``.

    Parameters
    ----------
    frame
        The decomposition.
    directory
        Where to write (an allocation's output set).

    Returns
    -------
    pathlib.Path
        The file written.
    """
    comment = (f"{frame.attrs['comment']}\nsd_fixed / sd_uncertain: posterior sd of the share "
               f"with weights fixed at their mean / uncertain")
    return write_csv(Path(directory) / DECOMPOSITION_CSV, frame, comment=comment)
