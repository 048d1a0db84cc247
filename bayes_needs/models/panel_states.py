"""The integrated-out states of the panel model: small dense algebra and conditional draws.

:mod:`bayes_needs.models.panel_likelihood` integrates the persistent LA effects ``u`` and the
AR(1) deviations ``d`` out of the likelihood; :func:`conditional_draws` draws them back from
their exact Gaussian conditional given the data, per posterior draw (used by
:mod:`bayes_needs.need.panel`): ``u_l ~ N(C q, C)`` with ``C = (Omega^-1 + K)^-1``, then each
service's ``d`` given ``u`` from the Gaussian conditional of an AR(1) observed with noise.
The few ``service x service`` and ``year x year`` factorisations are written out as compiled
loops (numba): far faster than batched LAPACK calls at these sizes.
"""

from __future__ import annotations

import numba
import numpy as np

# Fast-math without "no NaNs/infs". Non-finite values are tested from their exponent bits
# (panel_likelihood._finite): inlined, np.isfinite was folded away.
FAST_MATH = {"nsz", "arcp", "contract", "afn", "reassoc"}


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def cholesky(a, n):
    """Lower Cholesky factor of ``a[:n, :n]`` in place; False if not positive definite."""
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
        for i in range(j):
            a[i, j] = 0.0
    return True


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def psd_cholesky(a, n):
    """Cholesky factor of a positive semi-definite ``a`` in place (zero columns where singular)."""
    scale = 0.0
    for j in range(n):
        scale = max(scale, abs(a[j, j]))
    tiny = 1e-14 * scale
    for j in range(n):
        s = a[j, j]
        for k in range(j):
            s -= a[j, k] * a[j, k]
        d = np.sqrt(s) if s > tiny else 0.0
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d if d > 0.0 else 0.0
        for i in range(j):
            a[i, j] = 0.0


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def inverse_from_cholesky(chol, n, out):
    """``out = (L L')^-1`` from the lower factor ``L``; returns ``log det (L L')``."""
    logdet = 0.0
    for j in range(n):
        logdet += 2.0 * np.log(chol[j, j])
    linv = np.zeros((n, n))
    for j in range(n):
        linv[j, j] = 1.0 / chol[j, j]
        for i in range(j + 1, n):
            s = 0.0
            for k in range(j, i):
                s -= chol[i, k] * linv[k, j]
            linv[i, j] = s / chol[i, i]
    for i in range(n):
        for j in range(i + 1):
            s = 0.0
            for k in range(i, n):
                s += linv[k, i] * linv[k, j]
            out[i, j] = s
            out[j, i] = s
    return logdet


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def _ar1_block(r, h, variance, power, work, ainv, a, w):
    """Factor one series' ``A_s``; fill the masked ``A_s^-1``, ``a = A^-1 r``, ``w = A^-1 1``.

    ``variance`` holds the prior variance of the deviation in each year and ``power``
    ``rho^|t - u|`` (precomputed: powers dominate the cost otherwise).

    Returns ``(log det A_s, r'a, number observed)``, or ``log det = nan`` if ``A_s`` is not
    positive definite.
    """
    n = r.shape[0]
    for t in range(n):
        for u in range(n):
            if h[t] > 0.0 and h[u] > 0.0:
                work[t, u] = variance[min(t, u)] * power[t, u]
            else:
                work[t, u] = 0.0
        work[t, t] += 1.0 / h[t] if h[t] > 0.0 else 1.0
    if not cholesky(work, n):
        return np.nan, 0.0, 0
    logdet = inverse_from_cholesky(work, n, ainv)
    seen = 0
    for t in range(n):
        if h[t] > 0.0:
            seen += 1
        else:
            for u in range(n):
                ainv[t, u] = 0.0
                ainv[u, t] = 0.0
    quad = 0.0
    for t in range(n):
        at, wt = 0.0, 0.0
        for u in range(n):
            at += ainv[t, u] * r[u]
            if h[u] > 0.0:
                wt += ainv[t, u]
        a[t], w[t] = at, wt
        quad += r[t] * at
    return logdet, quad, seen


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def la_effect_posterior(k, omega, cov, work):
    """Fill ``cov = C = (Omega^-1 + K)^-1``; return ``log det(I + K^1/2 Omega K^1/2)``.

    ``C = Omega - X'X`` with ``L X = K^1/2 Omega`` and ``L L' = I + K^1/2 Omega K^1/2``, which
    needs no inverse of ``Omega`` (its scales may approach 0). ``work`` is ``(2, n, n)``
    scratch. Returns nan if the matrix is not positive definite.
    """
    n = k.shape[0]
    chol, x = work[0], work[1]
    for i in range(n):
        for j in range(n):
            chol[i, j] = np.sqrt(k[i] * k[j]) * omega[i, j] + (1.0 if i == j else 0.0)
    if not cholesky(chol, n):
        return np.nan
    logdet = 0.0
    for i in range(n):
        logdet += 2.0 * np.log(chol[i, i])
    for j in range(n):          # forward substitution, one column of K^1/2 Omega at a time
        for i in range(n):
            v = np.sqrt(k[i]) * omega[i, j]
            for m in range(i):
                v -= chol[i, m] * x[m, j]
            x[i, j] = v / chol[i, i]
    for i in range(n):
        for j in range(n):
            v = 0.0
            for m in range(n):
                v += x[m, i] * x[m, j]
            cov[i, j] = omega[i, j] - v
    return logdet


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def conditional_draws(resid, precision, dispersion, variance, rho, omega, normal_u, normal_d):
    """Draw LA effects and deviations from their Gaussian conditional given the data.

    Parameters
    ----------
    resid
        ``(sample, la, service, year)`` ``y_hat - m`` per posterior draw (0 where missing).
    precision
        ``(la, service, year)`` ``y + 1/2`` (0 where missing).
    dispersion
        ``(sample, service)``: the observation variance is ``dispersion / precision``.
    variance
        ``(sample, la, service, year)``: prior variance of the deviations in each year
        (:func:`bayes_needs.simulate.panel.ar1_variance`); the AR(1) covariance of years
        ``t <= u`` is ``variance_t rho^(u - t)``.
    rho
        ``(sample, service)``.
    omega
        ``(sample, service, service)``.
    normal_u, normal_d
        Standard normal draws ``(sample, la, service)`` and ``(sample, la, service, year)``.

    Returns
    -------
    la_effect, deviation
        ``(sample, la, service)`` and ``(sample, la, service, year)``: ``u ~ N(C q, C)``, then
        ``d_s | u ~ N(R_s A_s^-1 (r_s - u_s 1), R_s - R_s A_s^-1 R_s)`` with ``R_s`` the AR(1)
        covariance over every fitted year, missing ones included.
    """
    n_b, n_la, n_s, n_t = resid.shape
    la_effect = np.empty((n_b, n_la, n_s))
    deviation = np.empty((n_b, n_la, n_s, n_t))
    work = np.empty((n_t, n_t))
    ainv = np.empty((n_s, n_t, n_t))
    a = np.empty((n_s, n_t))
    w = np.empty((n_s, n_t))
    k = np.empty(n_s)
    q = np.empty(n_s)
    cov = np.empty((n_s, n_s))
    scratch = np.empty((2, n_s, n_s))
    ar_cov = np.empty((n_t, n_t))
    gain = np.empty((n_t, n_t))
    power = np.empty((n_s, n_t, n_t))
    h = np.empty(n_t)
    for b in range(n_b):
        for s in range(n_s):
            for t in range(n_t):
                for v in range(n_t):
                    power[s, t, v] = rho[b, s] ** abs(t - v)
        for la in range(n_la):
            for s in range(n_s):
                for t in range(n_t):
                    h[t] = precision[la, s, t] / dispersion[b, s]
                _ar1_block(resid[b, la, s], h, variance[b, la, s], power[s],
                           work, ainv[s], a[s], w[s])
                k[s] = np.sum(w[s])
                q[s] = np.sum(a[s])
            la_effect_posterior(k, omega[b], cov, scratch)
            mean_u = cov @ q
            psd_cholesky(cov, n_s)
            u = mean_u + cov @ normal_u[b, la]
            la_effect[b, la] = u
            for s in range(n_s):
                for t in range(n_t):
                    for v in range(n_t):
                        ar_cov[t, v] = variance[b, la, s, min(t, v)] * power[s, t, v]
                gain[:, :] = ar_cov @ ainv[s]
                centred = resid[b, la, s] - u[s] * (precision[la, s] > 0.0)
                mean_d = gain @ centred
                post = ar_cov - gain @ ar_cov
                psd_cholesky(post, n_t)
                deviation[b, la, s] = mean_d + post @ normal_d[b, la, s]
    return la_effect, deviation
