"""The tornado plot of a sensitivity comparison: the largest movers, at the top."""

from __future__ import annotations

import numpy as np
import pytest
from scenario_results import fake_result, shares

from bayes_needs.checks.sensitivity import compare
from bayes_needs.config.run import RunConfig
from bayes_needs.config.scenarios import Scenario
from bayes_needs.core.errors import ConfigError
from bayes_needs.report.sensitivity_plots import tornado_figure
from bayes_needs.workflows.sensitivity import combine


def test_tornado_shows_the_largest_movers():
    rng = np.random.default_rng(1)
    codes = [f"L{i:02d}" for i in range(30)]
    centre = np.full(30, 1 / 30)
    shifted = centre.copy()
    shifted[[3, 17]] += [0.01, -0.01]
    config = RunConfig()
    results = combine([fake_result(shares(rng, centre, sd=1e-5), codes),
                       fake_result(shares(rng, shifted, sd=1e-5), codes)],
                      [Scenario("base", config), Scenario("shift", config)])
    fig = tornado_figure(compare(results), top=5)
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(labels) == 5
    assert {labels[-1].split()[0], labels[-2].split()[0]} == {"L03", "L17"}  # at the top
    assert labels[-1].endswith(f"name {labels[-1].split()[0]}")


def test_tornado_needs_a_variation():
    rng = np.random.default_rng(2)
    codes = ["A", "B"]
    results = combine([fake_result(shares(rng, [0.6, 0.4]), codes)],
                      [Scenario("base", RunConfig())])
    with pytest.raises(ConfigError, match="no variations"):
        tornado_figure(compare(results))
