"""The panel likelihood with latent log rates integrated out equals the dense Gaussian one."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.stats import multivariate_normal

from bayes_needs.models.panel_likelihood import marginal_log_likelihood
from bayes_needs.models.panel_states import conditional_draws
from bayes_needs.simulate.panel import ar1_variance, volatility_path


def _ar_cov(variance, rho):
    """AR(1) covariance over years from each year's variance: ``v_min(t,u) rho^|t-u|``."""
    n_t = variance.shape[0]
    years = np.arange(n_t)
    lag = np.abs(np.subtract.outer(years, years))
    return variance[np.minimum.outer(years, years)] * rho ** lag


def _dense_cov(precision_la, variance, rho, omega):
    """Covariance of one LA's stacked (service, year) log rates, and the observed mask.

    ``variance`` is that LA's ``(service, year)`` prior variances of the deviations.
    """
    n_s, n_t = precision_la.shape
    cov = np.kron(omega, np.ones((n_t, n_t)))
    for s in range(n_s):
        block = slice(s * n_t, (s + 1) * n_t)
        cov[block, block] += _ar_cov(variance[s], rho[s])
    seen = precision_la.ravel() > 0
    noise = np.where(seen, 1 / np.where(seen, precision_la.ravel(), 1), 0)
    return cov + np.diag(noise), seen


def _dense(resid, precision, gamma, rho, omega):
    out = np.zeros(resid.shape[0])
    for la in range(resid.shape[0]):
        cov, seen = _dense_cov(precision[la], gamma[la], rho, omega)
        if seen.any():
            out[la] = multivariate_normal(np.zeros(seen.sum()), cov[np.ix_(seen, seen)]
                                          ).logpdf(resid[la].ravel()[seen])
    return out


def _case(n_years, correlated, seed=11):
    rng = np.random.default_rng(seed)
    n_la, n_s = 4, 3
    rho = np.array([0.2, 0.7, 0.95])
    # LAs differ in volatility, which trends over the years: (la, service, year) sds.
    current = np.array([0.3, 0.1, 0.05]) * np.exp(0.3 * rng.standard_normal((n_la, n_s)))
    sigma = volatility_path(current, np.array([-0.1, 0.0, 0.08]),
                            np.arange(n_years) - (n_years - 1.0))
    gamma = ar1_variance(rho, sigma)
    sd = np.array([0.4, 0.2, 0.01])
    corr = np.array([[1, 0.6, -0.3], [0.6, 1, 0.2], [-0.3, 0.2, 1]]) if correlated \
        else np.eye(n_s)
    omega = sd[:, None] * corr * sd[None, :]
    precision = rng.uniform(5, 500, size=(n_la, n_s, n_years))
    precision[rng.random(precision.shape) < 0.25] = 0.0   # missing years
    precision[0, 0] = 0.0                                 # a series with no data
    precision[1, 1, 0] = 3.0
    resid = rng.normal(0, 0.4, size=precision.shape) * (precision > 0)
    return resid, precision, gamma, rho, sigma, omega


@pytest.mark.parametrize("correlated", [False, True])
@pytest.mark.parametrize("n_years", [1, 2, 7])
def test_marginal_log_likelihood_matches_dense_gaussian(n_years, correlated):
    resid, precision, gamma, rho, sigma, omega = _case(n_years, correlated)
    got = marginal_log_likelihood(pt.as_tensor(resid), pt.as_tensor(precision),
                                  pt.as_tensor(rho),
                                  pt.as_tensor(sigma), pt.as_tensor(omega)).eval()
    np.testing.assert_allclose(got, _dense(resid, precision, gamma, rho, omega), atol=1e-9)


@pytest.mark.parametrize("correlated", [False, True])
def test_gradient_matches_finite_differences(correlated):
    resid, precision, _gamma, rho, sigma, omega = _case(5, correlated, seed=3)
    rng = np.random.default_rng(5)
    weights = rng.uniform(0.5, 2.0, size=resid.shape[0])
    r, h, g, p, o = pt.dtensor3(), pt.dtensor3(), pt.dtensor3(), pt.dvector(), pt.dmatrix()
    total = pt.sum(pt.as_tensor(weights) * marginal_log_likelihood(r, h, p, g, o))
    value = pytensor.function([r, h, g, p, o], total)
    grads = pytensor.function([r, h, g, p, o], pytensor.grad(total, [r, h, g, p, o]))
    point = [resid, precision, sigma, rho, omega]
    analytic = grads(*point)
    for i, x in enumerate(point):
        numeric = np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            if i == 1 and x[idx] == 0.0:  # a missing year has no precision to vary
                continue
            step = 1e-6 * (x[idx] if i == 1 else 1.0)
            up, down = [v.copy() for v in point], [v.copy() for v in point]
            up[i][idx] += step
            down[i][idx] -= step
            numeric[idx] = (value(*up) - value(*down)) / (2 * step)
        if i == 4:  # the kernel reads omega as symmetric: compare the symmetric part
            numeric = (numeric + numeric.T) / 2
        np.testing.assert_allclose(analytic[i], numeric, rtol=1e-5, atol=1e-6)


def test_conditional_draws_match_the_dense_gaussian_conditional():
    resid, precision, gamma, rho, _sigma, omega = _case(4, True, seed=8)
    n_la, n_s, n_t = resid.shape
    n_b = 4000
    rng = np.random.default_rng(0)
    u, d = conditional_draws(np.broadcast_to(resid, (n_b, *resid.shape)).copy(), precision,
                             np.ones((n_b, n_s)), np.tile(gamma, (n_b, 1, 1, 1)),
                             np.tile(rho, (n_b, 1)),
                             np.tile(omega, (n_b, 1, 1)), rng.standard_normal((n_b, n_la, n_s)),
                             rng.standard_normal((n_b, n_la, n_s, n_t)))
    la = 1
    # Dense joint of latent z = (u, d) and the observed log rates.
    prior = np.zeros((n_s + n_s * n_t, n_s + n_s * n_t))
    prior[:n_s, :n_s] = omega
    for s in range(n_s):
        block = slice(n_s + s * n_t, n_s + (s + 1) * n_t)
        prior[block, block] = _ar_cov(gamma[la, s], rho[s])
    design = np.concatenate([np.kron(np.eye(n_s), np.ones((n_t, 1))), np.eye(n_s * n_t)], axis=1)
    obs_cov, seen = _dense_cov(precision[la], gamma[la], rho, omega)
    cross = (prior @ design.T)[:, seen]
    gain = cross @ np.linalg.inv(obs_cov[np.ix_(seen, seen)])
    mean = gain @ resid[la].ravel()[seen]
    cov = prior - gain @ cross.T
    draws = np.concatenate([u[:, la], d[:, la].reshape(n_b, -1)], axis=1)
    se = np.sqrt(np.diag(cov) / n_b)
    assert np.all(np.abs(draws.mean(0) - mean) < 4.5 * se + 1e-12)
    np.testing.assert_allclose(np.cov(draws.T), cov, atol=0.1 * np.sqrt(np.outer(
        np.diag(cov), np.diag(cov))).max() + 1e-12)


def test_overflowing_inputs_give_minus_infinity_never_plus():
    # NUTS's first trajectories reach innovation sds of 1e45 with the early years missing:
    # the determinant underflows, and a log-likelihood of +inf would be accepted as best.
    rng = np.random.default_rng(2)
    n_la, n_t = 3, 10
    precision = np.zeros((n_la, 1, n_t))
    precision[:, :, 6:] = 0.5
    resid = rng.normal(size=precision.shape) * (precision > 0)
    sigma = np.full(precision.shape, 1e45)
    value = marginal_log_likelihood(pt.as_tensor(resid), pt.as_tensor(precision),
                                    pt.as_tensor(np.array([1 - 1e-8])), pt.as_tensor(sigma),
                                    pt.as_tensor(np.array([[3e13]]))).eval()
    assert np.all(value == -np.inf)
