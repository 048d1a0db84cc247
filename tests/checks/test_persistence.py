"""Persistence baseline: means by hand, NB shape recovered from simulated panels, draw
spread, seeds, no look-ahead, and errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_needs.checks.persistence import (
    SHAPE_BOUNDS,
    fit_persistence_dispersion,
    persistence_forecast,
    persistence_means,
)
from bayes_needs.core.errors import BayesNeedsError, ConfigError, DataValidationError


def simulate_panel(shape, horizon, *, n_la=150, n_year=10, extra_years=3, seed=0):
    """Counts whose pairs ``horizon`` years apart follow the persistence model exactly.

    Returns counts ``(la, n_year + extra_years)`` and exposures of the same shape.
    """
    rng = np.random.default_rng(seed)
    n_total = n_year + extra_years
    growth = np.cumprod(rng.uniform(0.97, 1.04, size=(n_la, n_total)), axis=1)
    exposure = rng.uniform(2e4, 8e4, size=(n_la, 1)) * growth
    counts = np.empty((n_la, n_total))
    counts[:, :horizon] = rng.poisson(0.01 * exposure[:, :horizon])
    for t in range(horizon, n_total):
        mean = counts[:, t - horizon] * exposure[:, t] / exposure[:, t - horizon]
        counts[:, t] = rng.poisson(rng.gamma(shape, mean / shape))
    return counts, exposure


@pytest.mark.parametrize("horizon", [1, 2])
def test_dispersion_recovers_the_simulated_nb_shape(horizon):
    counts, exposure = simulate_panel(30.0, horizon, seed=horizon)
    n_year = 10
    shape = fit_persistence_dispersion(counts[:, :n_year], exposure[:, :n_year + horizon],
                                       horizon)
    # 150 LAs x (10 - h) pairs: the sampling sd of log(shape) is about 0.05.
    assert abs(np.log(shape / 30.0)) < 0.2


def test_poisson_counts_give_a_large_shape_and_overdispersed_a_small_one():
    counts, exposure = simulate_panel(SHAPE_BOUNDS[1], 1, seed=7)
    assert fit_persistence_dispersion(counts[:, :10], exposure[:, :11], 1) > 1_000
    counts, exposure = simulate_panel(3.0, 1, seed=8)
    assert fit_persistence_dispersion(counts[:, :10], exposure[:, :11], 1) < 5


def test_means_are_the_last_count_scaled_by_exposure():
    history = np.array([[10.0, 20.0, 30.0],
                        [10.0, 20.0, np.nan],  # origin missing: last observed is year 1
                        [np.nan, np.nan, np.nan],  # never observed: no forecast
                        [0.0, 5.0, 0.0]])
    exposure = np.array([[1.0, 2.0, 4.0, 8.0, 16.0],
                         [1.0, 2.0, 4.0, 8.0, 16.0],
                         [1.0, 1.0, 1.0, 1.0, 1.0],
                         [3.0, 3.0, 3.0, 3.0, 6.0]])
    np.testing.assert_allclose(persistence_means(history, exposure, 2),
                               [30.0 * 16 / 4, 20.0 * 16 / 2, np.nan, 0.0])
    # The exposure of a year between origin and target does not matter.
    moved = exposure.copy()
    moved[:, 3] = 99.0
    np.testing.assert_array_equal(persistence_means(history, moved, 2),
                                  persistence_means(history, exposure, 2))


def test_draws_are_nb_counts_about_the_persistence_mean():
    counts, exposure = simulate_panel(30.0, 1, n_la=100, seed=3)
    history, future_exposure = counts[:, :10], exposure[:, :11]
    draws = persistence_forecast(history, future_exposure, 1, 4000, 11)
    shape = fit_persistence_dispersion(history, future_exposure, 1)
    mean = history[:, -1] * future_exposure[:, -1] / future_exposure[:, -2]
    assert draws.shape == (100, 4000)
    np.testing.assert_array_equal(draws, np.round(draws))
    assert (draws >= 0).all()
    se_mean = np.sqrt(mean + mean**2 / shape) / np.sqrt(4000)
    assert np.all(np.abs(draws.mean(axis=1) - mean) < 5 * se_mean)
    variance_ratio = draws.var(axis=1) / (mean + mean**2 / shape)
    # Sample variances of 4000 draws are within about 5% of the truth.
    assert abs(np.mean(variance_ratio) - 1) < 0.03
    assert np.all(np.abs(variance_ratio - 1) < 0.2)


def test_seeds_reproduce_draws_and_unforecastable_las_get_nan():
    counts, exposure = simulate_panel(30.0, 1, n_la=20, seed=4)
    history = counts[:, :8].copy()
    history[5] = np.nan
    first = persistence_forecast(history, exposure[:, :9], 1, 50, 1)
    np.testing.assert_array_equal(first, persistence_forecast(history, exposure[:, :9], 1,
                                                              50, 1))
    assert not np.array_equal(first, persistence_forecast(history, exposure[:, :9], 1, 50, 2))
    assert np.isnan(first[5]).all()
    assert not np.isnan(np.delete(first, 5, axis=0)).any()


def test_nothing_after_the_origin_changes_the_forecast():
    counts, exposure = simulate_panel(20.0, 2, n_la=60, n_year=8, extra_years=4, seed=5)
    origin, horizon = 7, 2  # history years 0..7, target year 9

    def forecast(panel, population):
        return persistence_forecast(panel[:, :origin + 1],
                                    population[:, :origin + 1 + horizon], horizon, 200, 9)

    base = forecast(counts, exposure)
    changed_counts, changed_exposure = counts.copy(), exposure.copy()
    changed_counts[:, origin + 1:] *= 3.0  # the counts being forecast, and beyond
    changed_exposure[:, origin + 1] *= 2.0  # between origin and target: not needed
    changed_exposure[:, origin + horizon + 1:] *= 2.0  # after the target
    np.testing.assert_array_equal(base, forecast(changed_counts, changed_exposure))
    # The fit does depend on the counts it is given: with the later years it changes.
    history_only = fit_persistence_dispersion(counts[:, :origin + 1],
                                              exposure[:, :origin + 1 + horizon], horizon)
    with_future = fit_persistence_dispersion(changed_counts[:, :origin + 3],
                                             changed_exposure[:, :origin + 3 + horizon],
                                             horizon)
    assert history_only != pytest.approx(with_future, rel=0.05)


def test_bad_input_raises_a_clear_error():
    history, exposure = np.full((3, 4), 10.0), np.full((3, 5), 100.0)
    with pytest.raises(DataValidationError, match=r"history must be 2-D \(la, year\)"):
        persistence_forecast(np.ones(4), exposure, 1, 10, 0)
    with pytest.raises(DataValidationError, match=r"exposure must have shape .* 3 x \(4 \+ 2\)"):
        persistence_forecast(history, exposure, 2, 10, 0)
    with pytest.raises(ConfigError, match="horizon must be a whole number"):
        persistence_forecast(history, exposure, 0, 10, 0)
    with pytest.raises(ConfigError, match="n_draws must be a whole number"):
        persistence_forecast(history, exposure, 1, 0, 0)
    with pytest.raises(ConfigError, match="random_seed must be a whole number"):
        persistence_forecast(history, exposure, 1, 10, None)
    bad_history, bad_exposure = history.copy(), exposure.copy()
    bad_history[1, 2] = -1.0
    bad_exposure[2, 0] = 0.0
    with pytest.raises(DataValidationError) as excinfo:
        fit_persistence_dispersion(bad_history, bad_exposure, 1)
    assert isinstance(excinfo.value, BayesNeedsError)
    assert excinfo.value.problems == [
        "history counts must be non-negative or NaN; bad in LA row(s) 1",
        "exposure must be positive or NaN; bad in LA row(s) 2"]
    with pytest.raises(DataValidationError, match="no LA has a positive count and a count 3"):
        fit_persistence_dispersion(history[:, :2], np.full((3, 5), 100.0), 3)
