"""The count log-likelihood kernels against scipy, values and gradients."""

from __future__ import annotations

import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special, stats

from bayes_needs.models.count_likelihoods import log_rising_factorial, negative_binomial_logp


@pytest.fixture
def counts() -> np.ndarray:
    rng = np.random.default_rng(0)
    y = rng.negative_binomial(2, 0.2, 400)
    y[:5] = [0, 1, 60, 64, 900]  # zero, the smallest, either side of the loop limit, and far
    # above it
    return y


@pytest.mark.parametrize("high", [5.0, 500.0, 1e12, 1e40])
def test_log_rising_factorial_matches_gammaln_for_vector_base(counts, high):
    # A huge base makes the running product rescale, and above 1e25 leaves the batched loop;
    # counts above 64 take lgamma.
    base = np.random.default_rng(1).uniform(1e-3, high, len(counts))
    got = log_rising_factorial(pt.as_tensor(base), counts).eval()
    # The definition, summed exactly: a difference of gammaln loses digits for a huge base.
    expected = [math.fsum(np.log(b + np.arange(y))) for b, y in zip(base, counts, strict=True)]
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-9)


def test_log_rising_factorial_scalar_base_and_all_zero_counts(counts):
    got = log_rising_factorial(pt.as_tensor(2.7), counts).eval()
    np.testing.assert_allclose(got, special.gammaln(2.7 + counts) - special.gammaln(2.7),
                               rtol=1e-12)
    zeros = np.zeros(5, dtype=np.int64)
    np.testing.assert_array_equal(log_rising_factorial(pt.as_tensor(np.ones(5)), zeros).eval(),
                                  np.zeros(5))


def test_log_rising_factorial_gradient_is_digamma_difference(counts):
    base = pt.dvector("base")
    value = np.random.default_rng(2).uniform(0.05, 50.0, len(counts))
    grad = pytensor.function([base], pytensor.grad(
        log_rising_factorial(base, counts).sum(), base))(value)
    np.testing.assert_allclose(grad, special.digamma(value + counts) - special.digamma(value),
                               rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("alpha", [0.4, 3.3, np.linspace(0.5, 9.0, 400)])
def test_negative_binomial_logp_matches_scipy(counts, alpha):
    mu = np.random.default_rng(3).uniform(0.01, 80.0, len(counts))
    got = negative_binomial_logp(counts, pt.as_tensor(mu), pt.as_tensor(alpha)).eval()
    np.testing.assert_allclose(got, stats.nbinom.logpmf(counts, alpha, alpha / (alpha + mu)),
                               rtol=1e-10)


def test_negative_binomial_zero_count_with_zero_mean_is_certain():
    got = negative_binomial_logp(np.array([0, 0]), pt.as_tensor(np.array([0.0, 1.0])),
                                 pt.as_tensor(2.0)).eval()
    assert got[0] == 0.0 and np.isfinite(got[1])
