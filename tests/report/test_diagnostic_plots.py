"""Tests for :mod:`bayes_needs.report.diagnostic_plots`: rootogram bins and the trace legend."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.figure import Figure

from bayes_needs.report.diagnostic_plots import _bin_labels, _count_bins, _label_trace_row


def test_rootogram_bins_cover_every_count_in_few_widening_bins():
    rng = np.random.default_rng(7)
    observed = rng.negative_binomial(2, 0.02, size=30)
    replicated = rng.negative_binomial(2, 0.02, size=(200, 30))
    edges = _count_bins(replicated, observed)
    assert edges[0] == 0 and np.all(np.diff(edges) > 0)
    assert edges.dtype.kind == "i" and edges[-1] > observed.max()
    assert 5 <= len(edges) - 1 <= 8            # 2 * 30^(1/3) = 6.2, rounded up: 7 at most
    widths = np.diff(edges)
    assert widths[-1] > widths[0]               # wider bins where counts are sparse
    top = edges[-1] - 1
    counts = np.histogram(np.minimum(replicated, top), edges)[0]
    assert counts.sum() == replicated.size       # nothing falls outside the bins
    labels = _bin_labels(np.array([0, 1, 3, 7, 20]))
    assert labels == ["0", "1-2", "3-6", "\u2265 7"]


def test_small_counts_keep_one_count_per_bin():
    edges = _count_bins(np.array([[0, 1, 2, 3]]), np.array([0, 1, 2, 3]))
    assert list(edges) == [0, 1, 2, 3, 4]


def test_trace_rows_label_each_element_of_a_parameter():
    values = xr.DataArray(np.zeros((2, 5, 3)), dims=("chain", "draw", "service"),
                          coords={"service": ["cin", "cla", "cpp"]})
    ax = Figure().add_subplot()
    _label_trace_row(ax, values)
    legend = ax.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["cin", "cla", "cpp"]
    scalar = Figure().add_subplot()
    _label_trace_row(scalar, xr.DataArray(np.zeros((2, 5)), dims=("chain", "draw")))
    assert scalar.get_legend() is None
