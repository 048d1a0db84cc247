"""The SBC rank ECDF figure."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_needs.report.sbc import plot_rank_ecdf


def test_one_panel_per_quantity_and_the_rest_blank():
    rng = np.random.default_rng(0)
    ranks = pd.DataFrame({"replicate": np.tile(np.arange(40), 7),
                          "quantity": np.repeat([f"q{i}" for i in range(7)], 40),
                          "rank": rng.integers(0, 20, 280)})
    fig = plot_rank_ecdf(ranks, 19, ncols=4)
    axes = fig.axes
    assert len(axes) == 8
    assert [ax.get_title() for ax in axes[:7]] == [f"q{i}" for i in range(7)]
    assert not axes[7].axison and all(ax.axison for ax in axes[:7])
    assert "40 replicates" in fig.get_suptitle()
