"""The panel likelihood with latent log rates integrated out equals the dense Gaussian one."""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt
import pytest
from scipy.stats import multivariate_normal

from bayes_needs.models.panel_likelihood import marginal_log_likelihood, tridiagonal_solve


def _dense(resid, precision, rho, sigma, sigma_u):
    n_la, n_s, n_t = resid.shape
    lag = np.abs(np.subtract.outer(np.arange(n_t), np.arange(n_t)))
    out = np.zeros((n_la, n_s))
    for la in range(n_la):
        for s in range(n_s):
            cov = sigma[s] ** 2 / (1 - rho[s] ** 2) * rho[s] ** lag + sigma_u[s] ** 2
            seen = precision[la, s] > 0
            if not seen.any():
                continue  # no data: likelihood 1
            cov = cov[np.ix_(seen, seen)] + np.diag(1 / precision[la, s][seen])
            out[la, s] = multivariate_normal(np.zeros(seen.sum()), cov).logpdf(
                resid[la, s][seen])
    return out


@pytest.mark.parametrize("n_years", [1, 2, 7])
def test_marginal_log_likelihood_matches_dense_gaussian(n_years):
    rng = np.random.default_rng(11)
    n_la, n_s = 4, 3
    rho, sigma, sigma_u = np.array([0.2, 0.7, 0.95]), np.array([0.3, 0.1, 0.05]), \
        np.array([0.4, 0.2, 0.01])
    precision = rng.uniform(5, 500, size=(n_la, n_s, n_years))
    precision[rng.random(precision.shape) < 0.25] = 0.0   # missing years
    precision[0, 0] = 0.0                                 # a series with no data
    precision[1, 1, 0] = 3.0
    resid = rng.normal(0, 0.4, size=precision.shape) * (precision > 0)
    log_var = np.where(precision > 0, -np.log(np.where(precision > 0, precision, 1)), 0).sum(-1)
    got = marginal_log_likelihood(pt.as_tensor(resid), precision, pt.as_tensor(rho),
                                  pt.as_tensor(sigma), pt.as_tensor(sigma_u), log_var,
                                  (precision > 0).sum(-1)).eval()
    np.testing.assert_allclose(got, _dense(resid, precision, rho, sigma, sigma_u), atol=1e-9)


def test_tridiagonal_solve_matches_numpy():
    rng = np.random.default_rng(2)
    n = 6
    diag = rng.uniform(3, 5, size=(2, n))
    off = np.array([-1.0, 0.5])
    rhs = rng.normal(size=(2, 3, n))
    x, logdet = tridiagonal_solve(pt.as_tensor(diag), pt.as_tensor(off), pt.as_tensor(rhs), n)
    for b in range(2):
        dense = np.diag(diag[b]) + off[b] * (np.eye(n, k=1) + np.eye(n, k=-1))
        np.testing.assert_allclose(x.eval()[b], np.linalg.solve(dense, rhs[b].T).T)
        np.testing.assert_allclose(logdet.eval()[b], np.linalg.slogdet(dense)[1])
