"""Forecast scores: interval bounds, coverage, widths, interval score and CRPS, checked
against the formulas computed here, on simulated calibrated and miscalibrated forecasts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_needs.checks.forecast_scores import (
    BACKTEST_COLUMNS,
    MODEL,
    prob_label,
    score_forecasts,
    summarise_scores,
    summary_columns,
)
from bayes_needs.core import dims
from bayes_needs.core.errors import BayesNeedsError, ConfigError, DataValidationError


def gneiting_raftery(lower, upper, y, alpha):
    """Interval score, eq. 43 of Gneiting & Raftery (2007), written out."""
    penalty_below = 2.0 / alpha * (lower - y) * (y < lower)
    penalty_above = 2.0 / alpha * (y - upper) * (y > upper)
    return (upper - lower) + penalty_below + penalty_above


def nb_draws(rng, mean, shape, size):
    """Negative binomial (NB2) counts with the given means as a gamma-Poisson mixture."""
    return rng.poisson(rng.gamma(shape, np.asarray(mean) / shape, size=size)).astype(float)


def test_interval_score_and_widths_match_formula_on_blocks_of_ties():
    # 10 draws at 2, 80 at 5, 10 at 9: the 50% interval is [5, 5], the 90% one [2, 9].
    block = np.repeat([2.0, 5.0, 9.0], [10, 80, 10])
    observed = np.array([1.0, 5.0, 12.0, 0.0])
    table = score_forecasts(np.tile(block, (4, 1)), observed)
    for prob, (lower, upper) in {0.5: (5.0, 5.0), 0.9: (2.0, 9.0)}.items():
        pct = prob_label(prob)
        np.testing.assert_array_equal(table[f"lower_{pct}"], lower)
        np.testing.assert_array_equal(table[f"upper_{pct}"], upper)
        expected = gneiting_raftery(lower, upper, observed, 1.0 - prob)
        np.testing.assert_allclose(table[f"interval_score_{pct}"], expected)
        scale = np.maximum(observed, 1.0)  # y = 0 divides by 1
        np.testing.assert_allclose(table[f"rel_interval_score_{pct}"], expected / scale)
        np.testing.assert_allclose(table[f"rel_width_{pct}"], (upper - lower) / scale)
        np.testing.assert_array_equal(table[f"covered_{pct}"],
                                      (lower <= observed) & (observed <= upper))
    # 12 above the 90% bound 9 by 3: width 7 plus 2/0.1 * 3.
    assert table["interval_score_90"].iloc[2] == pytest.approx(7 + 60)


def test_bounds_are_draws_taken_outward():
    rng = np.random.default_rng(1)
    draws = nb_draws(rng, 40.0, 5.0, (50, 101))
    table = score_forecasts(draws, draws[:, 0])
    step = 1 / draws.shape[1]
    for row, case in zip(draws, table.itertuples(), strict=True):
        # A whole draw; at most 5% of the draws beyond it, and the bound is no more than one
        # draw further out than the 5% (95%) order statistic.
        assert case.lower_90 in row and case.upper_90 in row
        assert (row < case.lower_90).mean() <= 0.05
        assert (row > case.upper_90).mean() <= 0.05
        assert (row <= case.lower_90).mean() >= 0.05 - step
        assert (row >= case.upper_90).mean() >= 0.05 - step


def test_crps_is_the_fair_ensemble_estimator():
    rng = np.random.default_rng(2)
    draws = nb_draws(rng, 20.0, 3.0, (6, 30))
    observed = np.array([0.0, 5.0, 20.0, 33.0, 60.0, 18.0])
    table = score_forecasts(draws, observed)
    m = draws.shape[1]
    spread = np.abs(draws[:, :, None] - draws[:, None, :]).sum(axis=(1, 2)) / (m * (m - 1))
    expected = np.abs(draws - observed[:, None]).mean(axis=1) - 0.5 * spread
    np.testing.assert_allclose(table["crps"], expected)
    # A point forecast's CRPS is its absolute error.
    point = score_forecasts(np.full((2, 10), 7.0), np.array([3.0, 10.0]))
    np.testing.assert_allclose(point["crps"], [4.0, 3.0])


def test_correct_forecasts_cover_at_nominal_rates_and_narrow_ones_do_not():
    rng = np.random.default_rng(3)
    n_cases, shape = 3000, 20.0
    mean = rng.lognormal(np.log(200.0), 0.8, size=n_cases)
    observed = nb_draws(rng, mean, shape, n_cases)
    correct = nb_draws(rng, mean[:, None], shape, (n_cases, 1000))
    summary = summarise_scores(score_forecasts(correct, observed), [])
    for prob in (0.5, 0.9):
        pct = prob_label(prob)
        tolerance = 4 * np.sqrt(prob * (1 - prob) / n_cases) + 0.01  # + discreteness
        assert abs(summary[f"coverage_{pct}"].iloc[0] - prob) < tolerance
    # Poisson forecasts ignore the overdispersion: their 90% intervals cover far too few.
    poisson = rng.poisson(mean[:, None], size=(n_cases, 1000)).astype(float)
    narrow = summarise_scores(score_forecasts(poisson, observed), [])
    assert narrow["coverage_90"].iloc[0] < 0.7
    assert narrow["rel_width_90"].iloc[0] < summary["rel_width_90"].iloc[0]


def test_crps_and_interval_score_prefer_the_correct_forecast_to_a_biased_one():
    rng = np.random.default_rng(4)
    n_cases, shape = 500, 30.0
    mean = rng.uniform(50.0, 500.0, size=n_cases)
    observed = nb_draws(rng, mean, shape, n_cases)
    labels = pd.DataFrame({MODEL: ["correct"] * n_cases})
    correct = score_forecasts(nb_draws(rng, mean[:, None], shape, (n_cases, 400)), observed,
                              labels=labels)
    biased = score_forecasts(nb_draws(rng, 1.3 * mean[:, None], shape, (n_cases, 400)),
                             observed, labels=labels.assign(**{MODEL: "biased"}))
    summary = summarise_scores(pd.concat([correct, biased]), [MODEL]).set_index(MODEL)
    assert summary.loc["correct", "crps"] < summary.loc["biased", "crps"]
    assert summary.loc["correct", "interval_score_90"] < summary.loc["biased",
                                                                     "interval_score_90"]


def test_missing_observations_and_forecasts_are_left_out():
    rng = np.random.default_rng(5)
    draws = nb_draws(rng, 30.0, 10.0, (8, 50))
    observed = nb_draws(rng, 30.0, 10.0, 8)
    observed[[1, 6]] = np.nan
    draws[3] = np.nan  # no forecast for this case
    labels = pd.DataFrame({dims.LA: [f"E{i}" for i in range(8)]})
    table = score_forecasts(draws, observed, labels=labels)
    assert list(table.index) == [0, 2, 4, 5, 7]
    assert list(table[dims.LA]) == ["E0", "E2", "E4", "E5", "E7"]
    assert not table.isna().any().any()
    assert summarise_scores(table, [])["n"].iloc[0] == 5


def test_summary_groups_means_and_binomial_standard_errors():
    rng = np.random.default_rng(6)
    n_cases = 60
    draws = nb_draws(rng, 100.0, 8.0, (n_cases, 200))
    observed = nb_draws(rng, 100.0, 8.0, n_cases)
    labels = pd.DataFrame({
        MODEL: np.repeat(["panel", "persistence"], n_cases // 2),
        dims.SERVICE: np.tile([dims.CIN, dims.CLA], n_cases // 2),
        dims.HORIZON: np.tile([1, 1, 2], n_cases // 3),
    })
    table = score_forecasts(draws, observed, labels=labels)
    by = [MODEL, dims.SERVICE, dims.HORIZON]
    summary = summarise_scores(table, by)
    assert set(BACKTEST_COLUMNS) <= set(summary.columns)
    assert list(summary.columns) == [*by, *summary_columns()]
    assert summary["n"].sum() == n_cases and len(summary) == 8
    for row in summary.itertuples():
        group = table[(table[MODEL] == row.model) & (table[dims.SERVICE] == row.service)
                      & (table[dims.HORIZON] == row.horizon)]
        coverage = group["covered_90"].mean()
        assert row.n == len(group)
        assert row.coverage_90 == pytest.approx(coverage)
        assert row.coverage_90_se == pytest.approx(np.sqrt(coverage * (1 - coverage)
                                                           / len(group)))
        ratio = group["interval_score_90"] / np.maximum(group["observed"], 1)
        assert row.rel_interval_score_90 == pytest.approx(ratio.mean())
        assert row.crps == pytest.approx(group["crps"].mean())


def test_bad_shapes_and_values_raise_one_error_listing_every_problem():
    draws = np.ones((4, 10))
    with pytest.raises(DataValidationError, match=r"draws must be 2-D \(case, draw\)"):
        score_forecasts(np.ones(10), np.ones(10))
    with pytest.raises(DataValidationError, match=r"draws have 4 cases .* observed has 3"):
        score_forecasts(draws, np.ones(3))
    with pytest.raises(DataValidationError, match="labels have 2 rows"):
        score_forecasts(draws, np.ones(4), labels=pd.DataFrame({MODEL: ["a", "b"]}))
    bad = draws.copy()
    bad[1, 0] = np.nan
    bad[2, 3] = -1.0
    observed = np.array([1.0, np.inf, 1.0, 1.0])
    with pytest.raises(DataValidationError) as excinfo:
        score_forecasts(bad, observed)
    assert len(excinfo.value.problems) == 3
    assert isinstance(excinfo.value, BayesNeedsError | ValueError)
    message = str(excinfo.value)
    assert "some are NaN at case(s) 1" in message and "bad at case(s) 2" in message
    for probs in [(), (0.9, 0.9), (1.5,)]:
        with pytest.raises(ConfigError):
            score_forecasts(draws, np.ones(4), probs=probs)
    table = score_forecasts(draws, np.ones(4))
    with pytest.raises(DataValidationError, match="column 'service' is missing"):
        summarise_scores(table, [dims.SERVICE])


def test_other_probabilities_name_their_columns():
    table = score_forecasts(np.tile(np.arange(200.0), (3, 1)), np.array([1.0, 100.0, 199.0]),
                            probs=(0.8, 0.975))
    assert {"covered_80", "interval_score_97_5"} <= set(table.columns)
    summary = summarise_scores(table, [])
    assert list(summary.columns) == summary_columns((0.8, 0.975))
