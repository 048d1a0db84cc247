"""Tests of the numpy forward model shared by the synthetic generator, SBC and need draws."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from bayes_needs.core import dims
from bayes_needs.data.covariates import standardise
from bayes_needs.simulate import generative, streams

# Three MSOAs of 2, 3 and 1 LSOAs.
LSOA_TO_MSOA = np.array([0, 0, 1, 1, 1, 2])


# ---------------------------------------------------------------- the split and its guard
def test_split_with_tiny_shapes_has_no_nan_and_keeps_msoa_totals():
    """Gamma weights of shape ~1e-300 underflow to zero; the guard falls back to the rates."""
    rng = np.random.default_rng(0)
    rate = np.array([1e-300, 3e-300, 2.0, 5.0, 3.0, 1e-300])
    totals = np.array([40, 25, 7])
    for _ in range(50):
        weight = generative.split_weights(rate, LSOA_TO_MSOA, 3, np.random.default_rng(1),
                                          dispersion=1.0)
        assert np.isfinite(weight).all() and (weight >= 0).all()
        counts = generative.split_within_msoa(totals, rate, LSOA_TO_MSOA, rng, dispersion=1.0)
        assert counts.dtype == np.int64 and (counts >= 0).all()
        np.testing.assert_array_equal(np.bincount(LSOA_TO_MSOA, weights=counts), totals)
    # The all-underflow MSOAs fell back to weights proportional to the rate ...
    np.testing.assert_array_equal(weight[[0, 1, 5]], rate[[0, 1, 5]])
    # ... the other kept its gamma draws.
    assert not np.array_equal(weight[2:5], rate[2:5])


def test_split_weights_are_dirichlet_and_poisson_split_uses_rates():
    rng = np.random.default_rng(2)
    rate = np.array([1.0, 3.0, 2.0, 2.0, 4.0, 1.0])
    draws = np.stack([generative.split_weights(rate, LSOA_TO_MSOA, 3, rng, dispersion=0.5)
                      for _ in range(4000)])
    # Gamma(rate / dispersion) weights, so their MSOA-normalised shares are Dirichlet with
    # mean rate / Lambda_m.
    assert stats.kstest(draws[:, 1], stats.gamma(rate[1] / 0.5).cdf).pvalue > 1e-3
    msoa_sum = np.stack([np.bincount(LSOA_TO_MSOA, weights=d) for d in draws])
    normalised = draws / msoa_sum[:, LSOA_TO_MSOA]
    np.testing.assert_allclose(normalised.mean(0), rate / np.bincount(
        LSOA_TO_MSOA, weights=rate)[LSOA_TO_MSOA], atol=0.02)
    # Without dispersion the split is proportional to the rates and draws nothing.
    before = rng.bit_generator.state
    assert generative.split_weights(rate, LSOA_TO_MSOA, 3, rng) is rate
    assert rng.bit_generator.state == before


# ---------------------------------------------------------------- gamma effects
def test_mean_one_gamma_and_its_conjugate_posterior():
    rng = np.random.default_rng(3)
    effect = generative.mean_one_gamma(4.0, rng, 20_000)
    assert effect.mean() == pytest.approx(1.0, abs=0.02)
    assert effect.var() == pytest.approx(0.25, rel=0.05)
    # No data: the posterior draw is the prior draw (same stream, same numbers).
    prior = generative.mean_one_gamma(np.full(5, 4.0), np.random.default_rng(4))
    same = generative.gamma_posterior(np.full(5, 4.0), np.zeros(5), np.zeros(5),
                                      np.random.default_rng(4))
    np.testing.assert_array_equal(prior, same)
    # With y events at rate r: Gamma(a + y, a + r).
    post = generative.gamma_posterior(np.full(20_000, 4.0), 10.0, 5.0, rng)
    assert post.mean() == pytest.approx(14.0 / 9.0, rel=0.02)


def test_moment_matched_shape_matches_the_mean_effect_of_many_msoas():
    """The rate-weighted mean of independent mean-one gammas has the moment-matched shape."""
    rng = np.random.default_rng(5)
    geo_rates = np.array([1.0, 4.0, 2.5, 0.5])
    a = 3.0
    effects = generative.mean_one_gamma(a, rng, (40_000, 4))
    mean_effect = effects @ geo_rates / geo_rates.sum()
    rest, rest_sq = np.array([geo_rates.sum(), 0.0]), np.array([(geo_rates ** 2).sum(), 0.0])
    shape = generative.moment_matched_shape(a, rest, rest_sq)
    assert shape[1] == a  # no unobserved MSOA: a finite placeholder
    assert mean_effect.var() == pytest.approx(1.0 / shape[0], rel=0.05)
    rest_effect, la_total = generative.la_totals(np.zeros(2), rest, shape, np.ones(2), rng)
    assert rest_effect.shape == la_total.shape == (2,)
    assert la_total[1] == 0  # nothing expected there


def test_la_totals_without_msoa_effects_draw_only_poisson():
    rng = np.random.default_rng(6)
    own, rest, mult = np.full(20_000, 3.0), np.full(20_000, 2.0), np.full(20_000, 1.5)
    effect, total = generative.la_totals(own, rest, None, mult, rng)
    np.testing.assert_array_equal(effect, 1.0)
    assert total.mean() == pytest.approx(7.5, rel=0.02)
    assert total.var() == pytest.approx(7.5, rel=0.05)


# ---------------------------------------------------------------- need
def test_need_formula_under_each_standardisation():
    small_area = np.array([[10.0, 20.0]])
    sigma = np.array([0.2, 0.4])
    mult = np.array([[1.5, 0.5]])
    covariate_only = np.array([[8.0, 25.0]])
    correction = np.exp(sigma ** 2 / 2)
    kwargs = {"sigma_la": sigma, "la_multiplier": mult, "covariate_only": covariate_only}
    np.testing.assert_allclose(generative.need_from_small_area(small_area, "la", **kwargs),
                               small_area * correction)
    np.testing.assert_allclose(generative.need_from_small_area(small_area, "none", **kwargs),
                               small_area * mult)
    np.testing.assert_allclose(generative.need_from_small_area(small_area, "all", **kwargs),
                               covariate_only * correction)
    with pytest.raises(ValueError, match="la_multiplier"):
        generative.need_from_small_area(small_area, "none", sigma_la=sigma)
    with pytest.raises(ValueError, match="covariate_only"):
        generative.need_from_small_area(small_area, "all", sigma_la=sigma)
    with pytest.raises(ValueError, match="standardise"):
        generative.need_from_small_area(small_area, "some", sigma_la=sigma)  # type: ignore[arg-type]


# ---------------------------------------------------------------- the generator uses them
def test_synthetic_generator_draws_are_the_generative_functions(tiny):
    """Rebuild tiny's truth with the generative functions on the generator's own streams."""
    truth, data = tiny.truth, tiny.data
    geo = data.geography
    z = standardise(data.covariates)[0].to_numpy()
    rates = generative.area_rates(data.exposure, truth["intercept"].to_numpy(), z,
                                  truth["beta"].to_numpy())
    np.testing.assert_array_equal(rates, truth["lambda"].to_numpy())
    msoa_rate = geo.aggregate(rates.T, dims.LSOA, dims.MSOA)
    la_effect = truth["la_effect"].to_numpy()
    for j, service in enumerate(data.services):
        rng = streams.stage_rng(11, streams.SERVICE, dims.SERVICES.index(service))
        drawn = generative.simulate_service(
            rates[:, j], msoa_rate[j], np.exp(la_effect[geo.msoa_to_la, j]), geo.lsoa_to_msoa,
            rng, msoa_shape=1.0 / float(truth["msoa_cv"][j]) ** 2,
            dispersion=float(truth["lsoa_dispersion"][j]))
        np.testing.assert_array_equal(drawn.msoa_effect, truth["msoa_effect"][:, j])
        np.testing.assert_array_equal(drawn.lsoa_count, truth["count"][:, j])
        np.testing.assert_array_equal(
            drawn.msoa_total, geo.aggregate(truth["count"][:, j].to_numpy(), dims.LSOA,
                                            dims.MSOA))
    small_area = geo.aggregate(truth["msoa_effect"].to_numpy().T * msoa_rate, dims.MSOA,
                               dims.LA)
    need = generative.need_from_small_area(small_area, "la",
                                           sigma_la=truth["sigma_la"].to_numpy()[:, None])
    np.testing.assert_array_equal(need.T, truth["need"].to_numpy())
