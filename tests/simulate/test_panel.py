"""The panel model's numpy generative process."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_needs.core.errors import ConfigError
from bayes_needs.simulate.panel import (
    MIN_EXPECTED_COUNT,
    ar1_forward,
    ar1_variance,
    count_innovation_variance,
    dispersed_counts,
    generate_panel,
    random_walk_forward,
    stationary_ar1,
    volatility_path,
)


def test_stationary_ar1_has_the_stationary_variance_and_autocorrelation():
    rng = np.random.default_rng(5)
    rho, sigma = np.array([0.3, 0.9]), np.array([0.2, 0.1])
    paths = stationary_ar1((20_000,), 4, rho, sigma, rng)
    var = paths.var(axis=0)                              # (year, service)
    np.testing.assert_allclose(var, np.broadcast_to(sigma ** 2 / (1 - rho ** 2), var.shape),
                               rtol=0.05)
    lag1 = (paths[:, 1:] * paths[:, :-1]).mean(axis=0) / var[1:]
    np.testing.assert_allclose(lag1, np.broadcast_to(rho, lag1.shape), atol=0.03)


def test_forward_steps_have_the_right_conditional_spread():
    rng = np.random.default_rng(6)
    last = np.zeros((50_000, 1))
    ahead = ar1_forward(last, np.array([0.5]), np.array([0.2]), 2, rng)
    np.testing.assert_allclose(ahead.std(axis=0)[:, 0], [0.2, 0.2 * np.sqrt(1.25)], rtol=0.03)
    walk = random_walk_forward(np.zeros((50_000, 1)), np.full((50_000, 1), 0.1), 3, rng)
    np.testing.assert_allclose(walk.std(axis=0)[:, 0], 0.1 * np.sqrt([1, 2, 3]), rtol=0.03)


def test_trending_volatility_paths_have_the_variance_ar1_variance_gives():
    rng = np.random.default_rng(7)
    rho, sigma = np.array([0.3, 0.9]), np.array([0.2, 0.1])
    trend = np.array([-0.2, 0.15])
    n_years, reference = 5, 4
    paths = stationary_ar1((40_000,), n_years, rho, sigma, rng, growth=np.exp(trend),
                           reference=reference)
    path = volatility_path(sigma, trend, np.arange(n_years) - reference)   # (service, year)
    np.testing.assert_allclose(path[:, reference], sigma)
    expected = ar1_variance(rho, path)
    np.testing.assert_allclose(paths.var(axis=0).T, expected, rtol=0.04)
    # Without a trend every year has the stationary variance.
    flat = ar1_variance(rho, volatility_path(sigma, np.zeros(2), np.arange(n_years)))
    np.testing.assert_allclose(flat, np.broadcast_to((sigma ** 2 / (1 - rho ** 2))[:, None],
                                                     flat.shape))


def test_forward_steps_continue_the_volatility_trend():
    rng = np.random.default_rng(8)
    ahead = ar1_forward(np.zeros((50_000, 1)), np.array([0.0]), np.array([0.2]), 3, rng,
                        growth=np.array([0.5]))
    np.testing.assert_allclose(ahead.std(axis=0)[:, 0], 0.2 * 0.5 ** np.arange(1, 4),
                               rtol=0.03)


@pytest.mark.parametrize("dispersion", [0.0, 0.3, 1.0, 2.5])
def test_dispersed_counts_have_the_mean_and_variance_asked(dispersion):
    rng = np.random.default_rng(9)
    mean = np.array([40.0, 400.0])
    counts = dispersed_counts(rng, np.broadcast_to(mean, (40_000, 2)), dispersion)
    assert np.all(counts == np.rint(counts)) and np.all(counts >= 0)
    np.testing.assert_allclose(counts.mean(axis=0), mean, rtol=0.01)
    if dispersion == 0.0:
        np.testing.assert_array_equal(counts, np.broadcast_to(mean, counts.shape))
    else:
        np.testing.assert_allclose(counts.var(axis=0), dispersion * mean, rtol=0.04)


def test_count_scaled_innovations_add_their_variance_every_year():
    rng = np.random.default_rng(10)
    rho, sigma = np.array([0.5, 0.95]), np.array([0.1, 0.05])
    n_years = 4
    extra = np.array([[0.01, 0.002], [0.02, 0.002], [0.0, 0.004], [0.01, 0.001]])  # (year, s)
    paths = stationary_ar1((40_000,), n_years, rho, sigma, rng, growth=np.exp([0.1, -0.1]),
                           reference=n_years - 1, extra_var=extra)
    path = volatility_path(sigma, np.array([0.1, -0.1]), np.arange(n_years) - (n_years - 1),
                           extra.T)
    np.testing.assert_allclose(paths.var(axis=0).T, ar1_variance(rho, path), rtol=0.04)
    ahead = ar1_forward(np.zeros((50_000, 2)), rho, sigma, 2, rng, extra_var=extra[:2])
    np.testing.assert_allclose(ahead[:, 0].std(axis=0), np.sqrt(sigma ** 2 + extra[0]),
                               rtol=0.03)


def test_count_scaled_innovation_variance_stops_growing_below_the_minimum_count():
    per_count = np.array([1.0, 2.0])
    counts = np.array([1.0, 5.0, MIN_EXPECTED_COUNT, 400.0])
    variance = count_innovation_variance(per_count[:, None], np.log(counts)[None, :])
    np.testing.assert_allclose(variance[:, 2:], per_count[:, None] / counts[None, 2:])
    np.testing.assert_allclose(variance[:, :2], np.repeat(per_count[:, None], 2, axis=1)
                               / MIN_EXPECTED_COUNT)


def test_generate_panel_is_reproducible_and_leaves_forecast_years_empty():
    a, truth = generate_panel(random_seed=4, n_years=5, extra_years=2)
    b, _ = generate_panel(random_seed=4, n_years=5, extra_years=2)
    assert a.data_hash() == b.data_hash()
    assert a.years[-1] - a.last_count_year == 2
    counts = a.counts_array()
    assert np.isnan(counts[:, -2:]).all() and np.isfinite(counts[:, :-2]).all()
    assert truth.log_rate.shape == (a.geography.n_la, 7, len(a.services))
    c, _ = generate_panel(random_seed=5, n_years=5, extra_years=2)
    assert c.data_hash() != a.data_hash()


def test_generate_panel_params_replace_the_defaults_and_keep_the_layout():
    default, truth = generate_panel(random_seed=4, n_years=5, extra_years=2)
    same, _ = generate_panel(random_seed=4, n_years=5, extra_years=2,
                             params={"rho": np.full(2, 0.7)})
    assert same.data_hash() == default.data_hash()
    # Given national levels for the first 3 years: the walk continues from them.
    level = truth.level[:, :3] + np.array([[1.0], [-1.0]])
    _, moved = generate_panel(random_seed=4, n_years=5, extra_years=2,
                              params={"level": level, "sigma_la": np.zeros(2)})
    np.testing.assert_allclose(moved.level, truth.level + np.array([[1.0], [-1.0]]))
    assert (moved.la_effect == 0).all()
    other, _ = generate_panel(random_seed=4, n_years=5, extra_years=2,
                              params={"beta": np.zeros((2, 2))})
    np.testing.assert_array_equal(other.exposure.to_numpy(), default.exposure.to_numpy())
    assert other.data_hash() != default.data_hash()


def test_generate_panel_reports_every_bad_param_at_once():
    with pytest.raises(ConfigError, match="unknown parameter 'gamma'") as info:
        generate_panel(random_seed=4, n_years=5,
                       params={"gamma": np.ones(2), "rho": np.ones(3),
                               "level": np.zeros((2, 7))})
    message = str(info.value)
    assert "'rho' has shape (3,)" in message and "'level' has shape (2, 7)" in message
