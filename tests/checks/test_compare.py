"""Approach comparison: held-out LA densities against direct calculations, ELPD, stacking
weights, folds, stacked draws and share metrics.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from scipy import integrate, stats

from bayes_needs.checks.compare import (
    elpd,
    la_folds,
    la_total_log_density,
    mixture_log_density,
    share_metrics,
    stack_draws,
    stacking_weights,
)
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError


def nb(y, mu, alpha):
    """Scipy's negative binomial with mean ``mu`` and shape ``alpha``."""
    return stats.nbinom.pmf(y, alpha, alpha / (alpha + mu))


def test_single_msoa_without_la_effect_is_the_negative_binomial():
    s1 = np.array([[[40.0]], [[55.0]]])  # two draws, one LA, one service
    shape = np.array([[8.0], [12.0]])
    got = la_total_log_density(s1, s1**2, shape, np.zeros((2, 1)), np.array([[47.0]]))
    want = np.log(np.mean([nb(47, 40.0, 8.0), nb(47, 55.0, 12.0)]))
    assert got[0, 0] == pytest.approx(want, rel=1e-10)


def test_la_effect_is_integrated_out():
    s1, s2, shape, sigma, y = 60.0, 1500.0, 5.0, 0.3, 71
    alpha = shape * s1**2 / s2

    def integrand(u):
        return nb(y, s1 * np.exp(u), alpha) * stats.norm.pdf(u, 0, sigma)

    want = np.log(integrate.quad(integrand, -3, 3, epsabs=0, epsrel=1e-12)[0])
    got = la_total_log_density(np.full((1, 1, 1), s1), np.full((1, 1, 1), s2),
                               np.full((1, 1), shape), np.full((1, 1), sigma),
                               np.array([[y]]))
    assert got[0, 0] == pytest.approx(want, rel=1e-8)


def test_poisson_case_and_missing_observations():
    s1 = np.full((1, 2, 1), 30.0)
    got = la_total_log_density(s1, s1**2, None, np.zeros((1, 1)), np.array([[25.0], [np.nan]]))
    assert got[0, 0] == pytest.approx(stats.poisson.logpmf(25, 30.0))
    assert np.isnan(got[1, 0])


def test_elpd_and_its_standard_error():
    values = np.array([-3.0, -4.0, np.nan, -5.5])
    total, se = elpd(values)
    assert total == pytest.approx(-12.5)
    assert se == pytest.approx(np.sqrt(3 * np.var([-3.0, -4.0, -5.5], ddof=1)))


def test_stacking_weights_maximise_the_log_score():
    rng = np.random.default_rng(1)
    lpd = np.stack([rng.normal(-3, 1, 200), rng.normal(-3.2, 1, 200)], axis=1)
    weights = stacking_weights(lpd)
    assert weights.sum() == pytest.approx(1.0)
    grid = np.linspace(0, 1, 2001)
    scores = [mixture_log_density(lpd, np.array([w, 1 - w])).sum() for w in grid]
    best = grid[int(np.argmax(scores))]
    assert weights[0] == pytest.approx(best, abs=2e-3)


def test_dominant_approach_gets_all_the_weight():
    lpd = np.stack([np.full(50, -2.0), np.full(50, -9.0)], axis=1)
    assert stacking_weights(lpd)[0] > 0.99


def test_folds_partition_the_las_reproducibly():
    codes = [f"E{i:02d}" for i in range(11)]
    folds = la_folds(codes, 4, random_seed=3)
    assert sorted(c for fold in folds for c in fold) == codes
    assert [len(f) for f in folds] == [3, 3, 3, 2]
    assert folds == la_folds(codes, 4, random_seed=3)
    assert folds != la_folds(codes, 4, random_seed=4)
    with pytest.raises(ConfigError, match="folds"):
        la_folds(codes, 1, random_seed=3)


def need_array(values: np.ndarray) -> xr.DataArray:
    n_chain, n_draw, n_la, n_service = values.shape
    return xr.DataArray(values, dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
                        coords={dims.CHAIN: np.arange(n_chain), dims.DRAW: np.arange(n_draw),
                                dims.LA: [f"L{i}" for i in range(n_la)],
                                dims.SERVICE: [f"s{j}" for j in range(n_service)],
                                dims.LA_NAME: (dims.LA, [f"LA {i}" for i in range(n_la)])})


def test_stacked_draws_come_whole_from_each_approach():
    rng = np.random.default_rng(2)
    a = need_array(rng.gamma(5, 1, (2, 50, 3, 2)))
    b = need_array(rng.gamma(5, 1, (2, 50, 3, 2)) + 100)
    mixed = stack_draws([a, b], np.array([0.3, 0.7]), random_seed=4)
    from_b = (mixed.to_numpy()[0] > 50).all(axis=(1, 2))
    assert (from_b | (mixed.to_numpy()[0] < 50).all(axis=(1, 2))).all()
    assert 0.55 < from_b.mean() < 0.85
    only_a = stack_draws([a, b], np.array([1.0, 0.0]), random_seed=4)
    assert (only_a < 50).all()


def test_share_metrics_against_a_hand_calculation():
    values = np.ones((1, 200, 3, 1))
    values[0, :, 0, 0] = np.linspace(1.0, 3.0, 200)  # LA 0's need varies
    need = need_array(values)
    truth = xr.DataArray([0.5, 0.25, 0.25], dims=(dims.LA,),
                         coords={dims.LA: ["L0", "L1", "L2"]})
    metrics = share_metrics(need, {"s0": 1.0}, truth, interval_prob=0.9)
    share = values[0, :, :, 0] / values[0, :, :, 0].sum(axis=1, keepdims=True)
    error = share.mean(axis=0) - truth.to_numpy()
    assert metrics["share_rmse"] == pytest.approx(np.sqrt(np.mean(error**2)))
    lower, upper = np.quantile(share, [0.05, 0.95], axis=0)
    assert metrics["interval_width_mean"] == pytest.approx(np.mean(upper - lower))
    inside = (lower <= truth.to_numpy()) & (truth.to_numpy() <= upper)
    assert metrics["share_coverage"] == pytest.approx(inside.mean())
