"""Tests of the backtest figure (:mod:`bayes_needs.report.backtest_plots`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_needs.checks.forecast_scores import score_forecasts, summarise_scores
from bayes_needs.core.errors import ConfigError
from bayes_needs.report.backtest_plots import PANELS, backtest_figure
from bayes_needs.report.figures import figure_png

MODELS = ("panel", "persistence")
SERVICES = ("cin", "cla", "cpp")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    """Scores of Poisson draws about the truth (panel) and about a biased mean."""
    rng = np.random.default_rng(4)
    frames = []
    for model, bias in zip(MODELS, (1.0, 1.3), strict=True):
        for service in SERVICES:
            for horizon in (1, 2):
                truth = rng.integers(20, 200, size=30).astype(float)
                draws = rng.poisson(bias * truth[:, None], size=(30, 100)).astype(float)
                observed = rng.poisson(truth).astype(float)
                labels = pd.DataFrame({"model": model, "service": service,
                                       "horizon": horizon}, index=range(30))
                frames.append(score_forecasts(draws, observed, labels=labels))
    return summarise_scores(pd.concat(frames, ignore_index=True),
                            by=["model", "service", "horizon"])


def test_one_column_per_service_one_row_per_score(summary):
    fig = backtest_figure(summary)
    axes = np.asarray(fig.axes).reshape(len(PANELS), len(SERVICES))
    assert [ax.get_title() for ax in axes[0]] == list(SERVICES)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == [label for _, _, label in PANELS]
    for ax in axes.ravel():
        # Two horizons x two models, side by side.
        assert len(ax.patches) == 2 * len(MODELS)


def test_nominal_lines_and_bar_heights(summary):
    fig = backtest_figure(summary)
    axes = np.asarray(fig.axes).reshape(len(PANELS), len(SERVICES))
    for row, nominal in ((0, 0.5), (1, 0.9)):
        lines = [line.get_ydata()[0] for line in axes[row, 0].get_lines()
                 if line.get_linestyle() == "--"]
        assert lines == [nominal]
    heights = sorted(p.get_height() for p in axes[1, 1].patches)
    expected = summary[summary["service"] == "cla"]["coverage_90"].sort_values()
    np.testing.assert_allclose(heights, expected.to_numpy())
    assert axes[2, 0].get_yscale() == "log"
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == list(MODELS)


def test_renders_a_png(summary):
    assert figure_png(backtest_figure(summary))[:8] == PNG_SIGNATURE


def test_refuses_an_empty_or_incomplete_summary(summary):
    with pytest.raises(ConfigError, match="no scored cases"):
        backtest_figure(summary.iloc[:0])
    with pytest.raises(ConfigError, match="interval_score_90"):
        backtest_figure(summary.drop(columns="interval_score_90"))
