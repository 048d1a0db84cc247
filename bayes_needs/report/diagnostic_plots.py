"""Plots of the diagnostic report (see :data:`bayes_needs.report.inputs.PLOTS`).

* trace and rank plots of the hyperparameters and the energy plot (ArviZ);
* a hanging rootogram per service: observed counts against the posterior predictive, on a
  square-root scale, suited to counts (Kleiber & Zeileis 2016);
* randomised LOO-PIT per service (ECDF difference with simultaneous 99% bands);
* Pareto k per LA from PSIS-LOO with each LA's data left out as a block;
* a forest plot of LA shares with their credible intervals and an LA ranking plot.

Every function draws from a :class:`~bayes_needs.report.inputs.ReportInputs` on a fresh
:class:`matplotlib.figure.Figure` (no pyplot state) and returns it.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from itertools import pairwise
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy.stats import uniform

from bayes_needs.checks.diagnostics import observed_values, observed_variables
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.models.area import HYPERPARAMETERS
from bayes_needs.report.figures import figure_png
from bayes_needs.report.inputs import PLOTS, UNAVAILABLE_TEXT, ReportInputs

#: Resolution of the report's PNGs (small enough to embed every plot in one page).
REPORT_DPI = 90
_MAX_ROOTOGRAM_BINS = 40
_MIN_ROOTOGRAM_BINS = 5
#: Line style of each chain and colour of each element in the trace plot (cycled).
_TRACE_CHAIN_STYLES: list[Any] = ["solid", "dashed", "dotted", "dashdot"]
_TRACE_COLOURS = [f"C{i}" for i in range(10)]
#: Probability of the simultaneous LOO-PIT bands (a plot setting, not a credible interval).
_PIT_BAND_PROB = 0.99
#: Finest level with proper per-observation counts first: MSOA, then LSOA, then LA.
_ROOTOGRAM_LEVEL_ORDER = {dims.MSOA: 0, dims.LSOA: 1, dims.LA: 2}


def render_plots(inputs: ReportInputs) -> dict[str, bytes]:
    """Draw every plot of :data:`~bayes_needs.report.inputs.PLOTS` as PNG bytes, in order.

    Parameters
    ----------
    inputs
        The report's inputs.

    Returns
    -------
    dict of str to bytes
        File stem -> PNG bytes.
    """
    images: dict[str, bytes] = {}
    for stem, _ in PLOTS:
        with warnings.catch_warnings():
            # ArviZ 0.23 calls a matplotlib API deprecated in 3.11; nothing for users to do.
            warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
            images[stem] = figure_png(PLOT_FUNCTIONS[stem](inputs), dpi=REPORT_DPI)
    return images


def energy_available(inputs: ReportInputs) -> bool:
    """Whether the fit recorded the sampler energy (a mocked sampler may not)."""
    stats = idata_io.sample_stats(inputs.fit.idata)
    return stats is not None and "energy" in stats


def _hyperparameters(inputs: ReportInputs) -> list[str]:
    """Hyperparameters to plot (correlations left out: their diagonal is constant)."""
    post = idata_io.posterior(inputs.fit.idata)
    return [v for v in HYPERPARAMETERS if v in post and v != "la_corr"]


def plot_trace(inputs: ReportInputs) -> Figure:
    """Draw the ArviZ trace plot of the hyperparameters, all elements of one in a panel."""
    names = _hyperparameters(inputs)
    fig = Figure(figsize=(11, 2.0 * len(names)), layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False)
    az.plot_trace(inputs.fit.idata, var_names=names, compact=True, axes=axes, show=False,
                  chain_prop={"linestyle": _TRACE_CHAIN_STYLES},
                  compact_prop={"color": _TRACE_COLOURS})
    post = idata_io.posterior(inputs.fit.idata)
    for row, name in zip(axes, names, strict=True):
        _label_trace_row(row[0], post[name])
    styles = [Line2D([], [], color="0.3", linestyle=style, label=f"chain {chain}")
              for chain, style in zip(post[dims.CHAIN].to_numpy(),
                                      _TRACE_CHAIN_STYLES * post.sizes[dims.CHAIN],
                                      strict=False)]
    fig.legend(handles=styles, loc="outside lower center", ncols=min(len(styles), 8),
               fontsize="small", title="line style: chain; colour: element of the parameter")
    fig.suptitle("Trace plot: hyperparameters (left: density per chain; right: draws)")
    return fig


def _label_trace_row(ax: Axes, values: xr.DataArray) -> None:
    """Legend of one parameter's colours: one entry per element (e.g. per service)."""
    element_dims = [d for d in values.dims if d not in dims.SAMPLE_DIMS]
    if not element_dims:
        return
    stacked = values.stack(__element__=element_dims)
    labels = [", ".join(map(str, key)) if isinstance(key, tuple) else str(key)
              for key in stacked["__element__"].to_numpy()]
    handles = [Line2D([], [], color=_TRACE_COLOURS[i % len(_TRACE_COLOURS)], label=label)
               for i, label in enumerate(labels)]
    ax.legend(handles=handles, fontsize="x-small", ncols=min(len(handles), 3),
              loc="upper right", framealpha=0.7)


def plot_rank(inputs: ReportInputs) -> Figure:
    """Draw the ArviZ rank plot of every hyperparameter element (uniform bars = mixing)."""
    names = _hyperparameters(inputs)
    post = idata_io.posterior(inputs.fit.idata)
    n_panels = sum(int(np.prod([post[v].sizes[d] for d in post[v].dims
                                if d not in (dims.CHAIN, dims.DRAW)])) for v in names)
    cols = min(5, n_panels)
    rows = int(np.ceil(n_panels / cols))
    fig = Figure(figsize=(2.6 * cols, 2.0 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    az.plot_rank(inputs.fit.idata, var_names=names, ax=axes.ravel()[:n_panels], show=False)
    for ax in axes.ravel()[n_panels:]:
        ax.set_axis_off()
    fig.suptitle("Rank plot: rank histograms per chain (flat bars = chains agree)")
    return fig


def plot_energy(inputs: ReportInputs) -> Figure:
    """Draw the ArviZ energy plot, or say why it is not available."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    if not energy_available(inputs):
        ax.set_axis_off()
        ax.text(0.5, 0.5, UNAVAILABLE_TEXT["energy"], ha="center", va="center")
        return fig
    az.plot_energy(inputs.fit.idata, ax=ax, show=False)
    ax.set_title("Energy plot (similar distributions = efficient exploration)")
    return fig


def plot_rootogram(inputs: ReportInputs) -> Figure:
    """Draw a hanging rootogram per service: observed frequencies hang from the predicted."""
    model = inputs.fit.model
    observed = idata_io.observed_data(inputs.diagnostics_idata)
    chosen: dict[str, tuple[str, str]] = {}
    for name, service, level in observed_variables(model):
        if service not in chosen or \
                _ROOTOGRAM_LEVEL_ORDER[level] < _ROOTOGRAM_LEVEL_ORDER[chosen[service][1]]:
            chosen[service] = (name, level)
    services = list(chosen)
    cols = min(3, max(1, len(services)))
    rows = int(np.ceil(len(services) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.3 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, service in zip(axes, services, strict=False):
        name, level = chosen[service]
        y = observed_values(model, name, observed)
        rep = inputs.predictive[name].stack(__s__=(dims.CHAIN, dims.DRAW)) \
            .transpose("__s__", ...).to_numpy()
        edges = _count_bins(rep, y)
        top_count = edges[-1] - 1          # counts above it fall in the last bin
        observed_freq = np.histogram(np.minimum(y, top_count), edges)[0]
        expected = np.mean([np.histogram(np.minimum(r, top_count), edges)[0] for r in rep],
                           axis=0)
        position = np.arange(len(edges) - 1)
        top = np.sqrt(expected)
        ax.bar(position, np.sqrt(observed_freq), bottom=top - np.sqrt(observed_freq),
               width=0.8, color="0.75", edgecolor="0.45", label="observed (hanging)")
        ax.plot(position, top, "o-", color="C3", markersize=3, label="expected")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_xticks(position, _bin_labels(edges), rotation=90, fontsize="x-small")
        ax.set_title(f"{service} ({level} counts, n = {len(y)})", fontsize="medium")
        ax.set_xlabel("count (bins widening on a log scale)")
        ax.set_ylabel("sqrt(frequency)")
    for ax in axes[len(services):]:
        ax.set_axis_off()
    if services:
        axes[0].legend(fontsize="small")
    fig.suptitle("Posterior predictive check (rootogram) per service: bars not reaching 0 "
                 "mean too few predicted, bars below 0 too many")
    return fig


def _count_bins(replicated: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Integer bin edges widening on a log scale from 0 to the largest usual count.

    A few dozen observations spread over hundreds of counts leave most unit-width bins
    empty, so the bins are ``2 n^(1/3)`` (Rice's rule for ``n`` observations, between
    :data:`_MIN_ROOTOGRAM_BINS` and :data:`_MAX_ROOTOGRAM_BINS`) equal steps of
    ``log(1 + count)`` up to the largest observed count or the predictive 99% quantile;
    larger counts go in the last bin. Bin ``[a, b)`` holds the counts ``a, ..., b - 1``.
    """
    n_bins = int(np.clip(np.ceil(2.0 * observed.size ** (1.0 / 3.0)), _MIN_ROOTOGRAM_BINS,
                         _MAX_ROOTOGRAM_BINS))
    top = int(max(observed.max(), np.quantile(replicated, 0.99)))
    steps = np.round(np.expm1(np.linspace(0.0, np.log1p(top), n_bins + 1)))[1:-1]
    # At least one count per bin from 0, so small counts keep a bin each.
    inner = np.minimum(np.maximum(steps, np.arange(1, n_bins)), top)
    return np.unique(np.concatenate([[0], inner.astype(np.int64), [top + 1]]))


def _bin_labels(edges: np.ndarray) -> list[str]:
    """Label each bin ``"3-6"`` (``"0"`` for a single count), the open last one ``"≥ 120"``."""
    labels = [str(a) if b - a == 1 else f"{a}-{b - 1}" for a, b in pairwise(edges[:-1])]
    return [*labels, f"\u2265 {edges[-2]}"]


def plot_loo_pit(inputs: ReportInputs) -> Figure:
    """Draw the ECDF difference of randomised LOO-PIT values per service, with 99% bands."""
    services = list(inputs.pit)
    cols = min(3, max(1, len(services)))
    rows = max(1, int(np.ceil(len(services) / cols)))
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, service in zip(axes, services, strict=False):
        values = inputs.pit[service]
        az.plot_ecdf(values, cdf=uniform(0, 1).cdf, difference=True, confidence_bands=True,
                     ci_prob=_PIT_BAND_PROB, eval_points=np.linspace(0.0, 1.0, 101), ax=ax,
                     show=False, rvs=uniform(0, 1).rvs, random_state=inputs.random_seed)
        ax.set_title(f"{service} (n = {len(values)})", fontsize="medium")
        ax.set_xlabel("LOO-PIT")
    for ax in axes[len(services):]:
        ax.set_axis_off()
    fig.suptitle("LOO-PIT per service (MSOA and LA counts): inside the band = calibrated")
    return fig


def plot_pareto_k(inputs: ReportInputs) -> Figure:
    """Draw Pareto k per LA (ArviZ khat plot) with the high-k LAs labelled."""
    loo = inputs.loo
    n = len(loo.table)
    fig = Figure(figsize=(max(7, min(16, 0.09 * n + 6)), 4.2), layout="constrained")
    ax = fig.add_subplot()
    az.plot_khat(loo.elpd, ax=ax, show_hlines=True, threshold=None, show=False)
    ax.axhline(loo.good_k, color="C1", linestyle="--", linewidth=1)
    k = loo.elpd.pareto_k.to_numpy()
    codes = loo.elpd.pareto_k[dims.LA].to_numpy().astype(str)
    for i in np.flatnonzero(k > loo.good_k):
        ax.annotate(codes[i], (i, k[i]), textcoords="offset points", xytext=(3, 3),
                    fontsize="x-small")
    if len(codes) <= 40:
        ax.set_xticks(np.arange(len(codes)), codes, rotation=90, fontsize="small")
        ax.set_xlabel("LA")
    else:
        ax.set_xlabel("LA (data index; LAs above the threshold labelled)")
    ax.set_title(f"Pareto k per LA, each LA's data left out (threshold {loo.good_k:.2f})",
                 fontsize="medium")
    return fig


def _la_labels(table: pd.DataFrame) -> list[str]:
    """``"code name"`` tick labels, cut to fit the margin."""
    return [f"{c} {nm}"[:38] for c, nm in zip(table["la_code"], table["la_name"], strict=True)]


def plot_shares_forest(inputs: ReportInputs) -> Figure:
    """Draw each LA's posterior mean share with its credible interval."""
    table = inputs.allocation.summary().sort_values("share_mean", kind="stable")
    n = len(table)
    fig = Figure(figsize=(8, 1.4 + 0.16 * n), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)
    pct = 100.0
    ax.hlines(y, table["share_lower"] * pct, table["share_upper"] * pct, color="C0",
              linewidth=1.6)
    ax.plot(table["share_mean"] * pct, y, "o", color="C0", markersize=3.5)
    if "baseline_share" in table:
        ax.plot(table["baseline_share"] * pct, y, "|", color="C3", markersize=8,
                label="baseline share")
        ax.legend(fontsize="small")
    ax.set_yticks(y, _la_labels(table), fontsize="x-small" if n > 40 else "small")
    ax.set_ylim(-1, n)
    ax.set_xlabel("share of the pot (%)")
    ax.set_title(f"Forest plot of LA shares: mean and {inputs.interval_text} interval")
    return fig


def plot_la_ranking(inputs: ReportInputs) -> Figure:
    """Draw each LA's median rank (1 = largest share) with its credible interval."""
    table = inputs.allocation.summary().sort_values(["rank_median", "share_mean"],
                                                    ascending=[True, False], kind="stable")
    n = len(table)
    fig = Figure(figsize=(8, 1.4 + 0.16 * n), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    ax.hlines(y, table["rank_lower"], table["rank_upper"], color="C2", linewidth=1.6)
    ax.plot(table["rank_median"], y, "s", color="C2", markersize=3.5)
    ax.set_yticks(y, _la_labels(table), fontsize="x-small" if n > 40 else "small")
    ax.set_ylim(-1, n)
    ax.set_xlabel("rank of share (1 = largest)")
    ax.set_title(f"LA ranking plot: median rank and {inputs.interval_text} interval")
    return fig


#: The function drawing each plot of :data:`~bayes_needs.report.inputs.PLOTS`.
PLOT_FUNCTIONS: dict[str, Callable[[ReportInputs], Figure]] = {
    "trace": plot_trace, "rank": plot_rank, "energy": plot_energy,
    "ppc_rootogram": plot_rootogram, "loo_pit": plot_loo_pit, "pareto_k": plot_pareto_k,
    "shares_forest": plot_shares_forest, "la_ranking": plot_la_ranking,
}
