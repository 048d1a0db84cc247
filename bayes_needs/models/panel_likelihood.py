"""The panel model's likelihood with the LA-year log rates integrated out exactly.

For one service and LA, the log rates over the ``T`` fitted years are
``theta = m + u 1 + d`` (see :mod:`bayes_needs.models.panel`): ``m`` the needs and national
terms, ``u ~ N(0, sigma_u^2)`` the persistent LA effect and ``d`` a stationary AR(1) with
innovation sd ``sigma`` and autocorrelation ``rho``. The observed log rate of a year is
``y_hat = log((y + 1/2) / E) ~ N(theta, 1 / (y + 1/2))``: the Gaussian approximation of the
Poisson count on the log scale, accurate for the tens to thousands of children an LA counts
in a year. Missing years carry no observation.

Everything is then Gaussian and the ``T + 1`` latent values of each LA and service integrate
out in closed form. With ``r = y_hat - m`` (0 where missing), ``H`` the diagonal observation
precision (0 where missing), ``Q`` the tridiagonal AR(1) precision and ``g = Q 1``::

    Q_u = Q - c_u g g',  c_u = sigma_u^2 / (1 + sigma_u^2 1'Q1)     (u integrated out)
    P   = Q + H          (tridiagonal; Thomas algorithm, vectorised over LAs and services)
    log L = -1/2 r'Hr + 1/2 b'P_u^{-1} b - 1/2 log det P_u + 1/2 log det Q_u
            - 1/2 sum log v - n/2 log 2 pi,   b = H r,  P_u = P - c_u g g'

and ``P_u`` is handled with the Sherman-Morrison formula on top of two tridiagonal solves.
So the sampler sees only the ~100 hyperparameters and national terms, never the 600 LA
effects and 7,000 LA-year states; :mod:`bayes_needs.need.panel` draws those afterwards from
their exact Gaussian conditional.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

LOG_2PI = float(np.log(2.0 * np.pi))


def ar1_precision(rho, sigma, n_years: int) -> tuple:
    """Diagonal and off-diagonal of the stationary AR(1) precision over ``n_years``.

    Parameters
    ----------
    rho, sigma
        Tensors ``(service,)``: autocorrelation and innovation sd.
    n_years
        Number of years.

    Returns
    -------
    diag, off
        ``diag`` ``(service, year)`` and ``off`` ``(service,)`` (constant off-diagonal).
    """
    s2 = pt.sqr(sigma)
    inner = (1.0 + pt.sqr(rho)) / s2
    ends = 1.0 / s2
    if n_years == 1:
        return ((1.0 - pt.sqr(rho)) / s2)[:, None], -rho / s2
    cols = [ends] + [inner] * (n_years - 2) + [ends]
    return pt.stack(cols, axis=-1), -rho / s2


def tridiagonal_solve(diag, off, rhs, n_years: int) -> tuple:
    """Solve ``P x = rhs`` for symmetric positive-definite tridiagonal ``P`` (Thomas).

    Parameters
    ----------
    diag
        Tensor ``(..., year)``: the diagonal.
    off
        Tensor broadcasting against ``diag[..., 0]``: the constant off-diagonal.
    rhs
        Tensor ``(..., k, year)``: ``k`` right-hand sides.
    n_years
        Length of the last axis.

    Returns
    -------
    x, logdet
        The solutions (like ``rhs``) and ``log det P`` (like ``diag[..., 0]``).
    """
    pivots, ratios, partial = [], [], []
    pivot = diag[..., 0]
    pivots.append(pivot)
    partial.append(rhs[..., 0] / pivot[..., None])
    for t in range(1, n_years):
        ratio = off / pivot
        ratios.append(ratio)
        pivot = diag[..., t] - off * ratio
        pivots.append(pivot)
        partial.append((rhs[..., t] - off[..., None] * partial[-1]) / pivot[..., None])
    x = [partial[-1]]
    for t in range(n_years - 2, -1, -1):
        x.append(partial[t] - ratios[t][..., None] * x[-1])
    logdet = pt.sum(pt.log(pt.stack(pivots, axis=-1)), axis=-1)
    return pt.stack(x[::-1], axis=-1), logdet


def marginal_log_likelihood(resid, precision, rho, sigma, sigma_u, log_var_sum, n_obs):
    """Log-likelihood of each LA and service with its latent log rates integrated out.

    Parameters
    ----------
    resid
        Tensor ``(la, service, year)``: ``y_hat - m``, 0 where missing.
    precision
        Array ``(la, service, year)``: observation precision ``y + 1/2``, 0 where missing.
    rho, sigma, sigma_u
        Tensors ``(service,)``.
    log_var_sum
        Array ``(la, service)``: sum of the log observation variances.
    n_obs
        Array ``(la, service)``: number of observed years.

    Returns
    -------
    Tensor
        ``(la, service)`` log-likelihoods.
    """
    n_years = int(np.shape(precision)[-1])
    q_diag, q_off = ar1_precision(rho, sigma, n_years)              # (s, t), (s,)
    one = pt.ones((n_years,))
    # g = Q 1 and 1'Q1, per service.
    if n_years == 1:
        g = q_diag
    else:
        shifted = pt.concatenate([q_off[:, None] * pt.ones((1, n_years - 1)),
                                  pt.zeros_like(q_off)[:, None]], axis=1)
        g = q_diag + shifted + pt.concatenate([pt.zeros_like(q_off)[:, None],
                                               q_off[:, None] * pt.ones((1, n_years - 1))],
                                              axis=1)
    one_q_one = pt.dot(g, one)                                       # (s,)
    q_logdet = n_years * pt.log(pt.sqr(sigma)) * -1.0 + pt.log(1.0 - pt.sqr(rho))
    c_u = pt.sqr(sigma_u) / (1.0 + pt.sqr(sigma_u) * one_q_one)       # (s,)
    b = precision * resid                                            # (l, s, t)
    p_diag = q_diag[None] + precision                                # (l, s, t)
    rhs = pt.stack([b, pt.broadcast_to(g[None], b.shape)], axis=2)   # (l, s, 2, t)
    sol, p_logdet = tridiagonal_solve(p_diag, q_off[None, :], rhs, n_years)
    pb, pg = sol[:, :, 0], sol[:, :, 1]
    g_pb = pt.sum(g[None] * pb, axis=-1)                             # (l, s)
    g_pg = pt.sum(g[None] * pg, axis=-1)
    denom = 1.0 - c_u[None] * g_pg
    quad = pt.sum(b * pb, axis=-1) + c_u[None] * pt.sqr(g_pb) / denom
    logdet_pu = p_logdet + pt.log(denom)
    logdet_qu = q_logdet - pt.log(1.0 + pt.sqr(sigma_u) * one_q_one)
    data_quad = pt.sum(precision * pt.sqr(resid), axis=-1)
    return (-0.5 * data_quad + 0.5 * quad - 0.5 * logdet_pu + 0.5 * logdet_qu[None]
            - 0.5 * log_var_sum - 0.5 * n_obs * LOG_2PI)
