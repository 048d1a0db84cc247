"""The panel model's likelihood with the LA effects and LA-year states integrated out.

For LA ``l``, the observed log rates of service ``s`` over the ``T`` fitted years are::

    y_hat_ls = m_ls + u_ls 1 + d_ls + e_ls

``m`` the needs and national terms, ``u_l ~ N(0, Omega)`` the persistent LA effects (``Omega``
diagonal unless services are correlated), ``d_ls`` an AR(1) with autocorrelation ``rho_s``,
started at stationarity, whose innovation sd ``sigma_lst`` may differ by year (a volatility
trend), and ``e`` the Gaussian approximation of the
Poisson count on the log scale: ``y_hat = log((y + 1/2) / E)`` with variance
``1 / (y + 1/2)``, accurate for the tens to thousands of children an LA counts in a year.
Missing years carry no observation.

So ``y_hat_l`` is Gaussian with covariance ``A + U Omega U'``: ``A`` block-diagonal over
services and ``U`` the service indicator. Each block ``A_s`` (the AR(1) plus noise) is
handled in precision form, ``M_s = Q_s + H_s`` with ``Q_s`` the tridiagonal AR(1) precision
and ``H_s`` the diagonal observation precision (0 where missing), by one ``O(T)`` LDL' pass.
With ``K = diag(1' A_s^-1 1)``, ``q = U'A^-1 r`` and ``S = I + K^1/2 Omega K^1/2``, Woodbury's
identity integrates the LA effects out with ``service x service`` algebra only::

    log L = -1/2 (r'A^-1 r - q'C q) - 1/2 (sum_s log det A_s + log det S) - n/2 log 2 pi
    C = (Omega^-1 + K)^-1,  log det A_s = log det M_s - log det Q_s - sum log h

``C`` and ``C q`` are the posterior covariance and mean of ``u_l``
(:mod:`bayes_needs.models.panel_states` draws the states back from them afterwards).

The gradient is analytic. In the residuals it is ``-H (r - E[u|y] - E[d|y])``; in ``Omega``
``(p p' - K + K C K) / 2`` with ``p = U' Sigma^-1 r``; in the AR(1) parameters, Fisher's
identity ``dL/dQ = (Q^-1 - E[d d'|y]) / 2`` needs only the band of the posterior second moment
of ``d``, which Takahashi's recursion gives from the same LDL' pass. One compiled pass (numba)
gives the per-LA log-likelihoods and every gradient piece in ``O(LA x service x year)``, so
NUTS sees only the ~100 hyperparameters and national terms, never the 600 LA effects and
7,000 LA-year states. The per-LA values are the pointwise log-likelihood (one LA's whole
series is the unit).
"""

from __future__ import annotations

from typing import cast

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import DisconnectedType, grad_not_implemented
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from bayes_needs.models.panel_states import FAST_MATH, la_effect_posterior

LOG_2PI = float(np.log(2.0 * np.pi))


# ---------------------------------------------------------------------- likelihood kernel
@numba.njit(cache=True, error_model="numpy")
def _finite(x, scratch):
    """Whether ``x`` is finite, from its exponent bits (``scratch``: a length-1 array).

    Inlined into the fast-math kernels, ``np.isfinite`` was folded to True for infinities,
    so the test reads the IEEE 754 exponent as an integer, which no float flag touches.
    """
    scratch[0] = x
    return (scratch.view(np.int64)[0] >> 52) & 0x7FF != 0x7FF


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def _ar1_precision(rho, sigma, t):
    """Diagonal ``Q_tt`` and super-diagonal ``Q_t,t+1`` of the AR(1) precision at year ``t``.

    ``sigma[0]`` sets the stationary start, ``d_0 ~ N(0, sigma_0^2 / (1 - rho^2))``, and
    ``sigma[t]`` the innovation into year ``t``: ``d_t = rho d_t-1 + sigma_t e_t``.
    """
    n = sigma.shape[0]
    q_tt = (1.0 - rho * rho) / (sigma[0] * sigma[0]) if t == 0 \
        else 1.0 / (sigma[t] * sigma[t])
    if t < n - 1:
        a_next = 1.0 / (sigma[t + 1] * sigma[t + 1])
        return q_tt + rho * rho * a_next, -rho * a_next
    return q_tt, 0.0


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def _ar1_series(r, h, rho, sigma, xhat, zeta, band_d, band_o, pivots, mult):
    """Tridiagonal pass over one series with ``M = Q + H``.

    ``sigma`` holds the innovation sd of every year (see :func:`_ar1_precision`). Fills
    ``xhat = M^-1 H r``, ``zeta = M^-1 h`` and the band of ``M^-1`` (``band_d`` diagonal,
    ``band_o`` first off-diagonal); ``pivots`` and ``mult`` are scratch. Returns
    ``(log det M - sum log h, r'Hr - (Hr)'xhat, 1'A^-1 1, 1'A^-1 r, observed years)``.
    """
    n = r.shape[0]
    # LDL' of M; logs of products, not sums of logs (a log costs more than the pass).
    det_m, det_h, rhr, seen = 1.0, 1.0, 0.0, 0
    off = 0.0
    for t in range(n):
        q_tt, q_next = _ar1_precision(rho, sigma, t)
        m_tt = q_tt + h[t]
        if t > 0:
            mult[t] = off / pivots[t - 1]
            m_tt -= mult[t] * off
        off = q_next
        pivots[t] = m_tt
        det_m *= m_tt
        if h[t] > 0.0:
            seen += 1
            det_h *= h[t]
            rhr += h[t] * r[t] * r[t]
    # Forward then backward substitution for both right-hand sides.
    for t in range(n):
        xhat[t] = h[t] * r[t]
        zeta[t] = h[t]
        if t > 0:
            xhat[t] -= mult[t] * xhat[t - 1]
            zeta[t] -= mult[t] * zeta[t - 1]
    xhat[n - 1] /= pivots[n - 1]
    zeta[n - 1] /= pivots[n - 1]
    for t in range(n - 2, -1, -1):
        xhat[t] = xhat[t] / pivots[t] - mult[t + 1] * xhat[t + 1]
        zeta[t] = zeta[t] / pivots[t] - mult[t + 1] * zeta[t + 1]
    # Band of M^-1 (Takahashi's recursion).
    band_d[n - 1] = 1.0 / pivots[n - 1]
    for t in range(n - 2, -1, -1):
        band_o[t] = -mult[t + 1] * band_d[t + 1]
        band_d[t] = 1.0 / pivots[t] - mult[t + 1] * band_o[t]
    bx, k, q = 0.0, 0.0, 0.0
    for t in range(n):
        bx += h[t] * r[t] * xhat[t]
        k += h[t] * (1.0 - zeta[t])
        q += h[t] * (r[t] - xhat[t])
    return np.log(det_m / det_h), rhr - bx, k, q, seen


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def panel_kernel(resid, precision, rho, sigma, omega):
    """Per-LA marginal log-likelihoods and the per-LA gradient pieces.

    Parameters
    ----------
    resid, precision
        ``(la, service, year)``: ``y_hat - m`` and ``y + 1/2`` (0 where missing).
    rho
        ``(service,)``: autocorrelation of the AR(1) deviations.
    sigma
        ``(la, service, year)``: their innovation sd into each year, the first year's
        setting the stationary start (LAs differ in volatility, which may trend over years).
    omega
        ``(service, service)``: covariance of the persistent LA effects.

    Returns
    -------
    loglik, d_resid, d_precision, d_rho, d_sigma, d_omega
        ``(la,)`` log-likelihoods and their gradients per LA: ``(la, service, year)`` (twice),
        ``(la, service)``, ``(la, service, year)`` and ``(la, service, service)``.
    """
    n_la, n_s, n_t = resid.shape
    loglik = np.empty(n_la)
    d_resid = np.zeros((n_la, n_s, n_t))
    d_precision = np.zeros((n_la, n_s, n_t))
    d_rho = np.zeros((n_la, n_s))
    d_sigma = np.zeros((n_la, n_s, n_t))
    d_omega = np.zeros((n_la, n_s, n_s))
    xhat = np.empty((n_s, n_t))
    zeta = np.empty((n_s, n_t))
    band_d = np.empty((n_s, n_t))
    band_o = np.zeros((n_s, n_t))
    k = np.empty(n_s)
    q = np.empty(n_s)
    cov = np.empty((n_s, n_s))
    scratch = np.empty((2, n_s, n_s))
    pivots = np.empty(n_t)
    mult = np.empty(n_t)
    mean_u = np.empty(n_s)
    bits = np.empty(1)
    for la in range(n_la):
        logdet, quad, seen = 0.0, 0.0, 0
        for s in range(n_s):
            ld, qd, k[s], q[s], n_seen = _ar1_series(
                resid[la, s], precision[la, s], rho[s], sigma[la, s], xhat[s], zeta[s],
                band_d[s], band_o[s], pivots, mult)
            log_sigma = 0.0
            for t in range(n_t):
                log_sigma += np.log(sigma[la, s, t])
            logdet += ld + 2.0 * log_sigma - np.log(1.0 - rho[s] * rho[s])
            quad += qd
            seen += n_seen
        logdet += la_effect_posterior(k, omega, cov, scratch)
        for i in range(n_s):
            mean_u[i] = 0.0
            for j in range(n_s):
                mean_u[i] += cov[i, j] * q[j]
            quad -= q[i] * mean_u[i]
        loglik[la] = -0.5 * quad - 0.5 * logdet - 0.5 * seen * LOG_2PI
        if not _finite(loglik[la], bits):  # overflow far out (NUTS's first steps): -inf
            loglik[la] = -np.inf
            continue
        p = q - k * mean_u
        for i in range(n_s):
            for j in range(n_s):
                kck = k[i] * cov[i, j] * k[j] - (k[i] if i == j else 0.0)
                d_omega[la, i, j] = 0.5 * (p[i] * p[j] + kck)
        for s in range(n_s):
            d_rho[la, s] = _ar1_gradient(
                resid[la, s], precision[la, s], rho[s], sigma[la, s], mean_u[s], cov[s, s],
                xhat[s], zeta[s], band_d[s], band_o[s], d_resid[la, s], d_precision[la, s],
                d_sigma[la, s])
    return loglik, d_resid, d_precision, d_rho, d_sigma, d_omega


@numba.njit(cache=True, error_model="numpy", fastmath=FAST_MATH)
def _ar1_gradient(r, h, rho, sigma, mean_u, var_u, xhat, zeta, band_d, band_o, d_r, d_h,
                  d_sigma):
    """Gradient of one series: fill ``d_r``, ``d_h``, ``d_sigma`` (per year); return ``dL/drho``.

    By Fisher's identity ``dL/dQ = (Q^-1 - E[d d' | y]) / 2``, and ``Q`` is tridiagonal, so
    only the band of the posterior second moment of ``d`` is needed: ``E[d | y] = xhat -
    mean_u zeta`` and ``Cov[d | y] = M^-1 + var_u zeta zeta'``. The band of ``Q^-1`` is the
    prior: ``var d_t = v_t`` (``v_t = rho^2 v_t-1 + sigma_t^2``) and ``cov(d_t, d_t+1) =
    rho v_t``. In the observation precision ``h_t``, likewise ``(1/h_t - E[e_t^2 | y]) / 2``
    with the noise ``e_t = r_t - u - d_t``: ``u + d_t`` has mean ``mean_u + m_t`` and variance
    ``M^-1_tt + var_u (1 - zeta_t)^2`` given ``y``.
    """
    n = r.shape[0]
    g_rho = 0.0
    var_t = sigma[0] * sigma[0] / (1.0 - rho * rho)
    g_prev, g_off_prev = 0.0, 0.0
    for t in range(n):
        if t > 0:
            var_t = rho * rho * var_t + sigma[t] * sigma[t]
        m_t = xhat[t] - mean_u * zeta[t]
        e_t = r[t] - mean_u - m_t
        d_r[t] = -h[t] * e_t
        if h[t] > 0.0:
            spread = 1.0 - zeta[t]
            d_h[t] = 0.5 * (1.0 / h[t] - e_t * e_t - band_d[t] - var_u * spread * spread)
        g_diag = 0.5 * (var_t - (m_t * m_t + band_d[t] + var_u * zeta[t] * zeta[t]))
        g_off = 0.0
        if t < n - 1:
            m_next = xhat[t + 1] - mean_u * zeta[t + 1]
            g_off = 0.5 * (rho * var_t - (m_t * m_next + band_o[t]
                                          + var_u * zeta[t] * zeta[t + 1]))
            a_next = 1.0 / (sigma[t + 1] * sigma[t + 1])
            # Q_tt gains rho^2 a_t+1; both off-diagonals are -rho a_t+1.
            g_rho += g_diag * 2.0 * rho * a_next - 2.0 * g_off * a_next
        if t == 0:
            s2 = sigma[0] * sigma[0]
            g_rho += g_diag * (-2.0 * rho / s2)
            d_sigma[0] = -2.0 * (1.0 - rho * rho) / (s2 * sigma[0]) * g_diag
        else:
            # a_t = sigma_t^-2 enters Q_tt, rho^2 Q_t-1,t-1 and -rho Q_t-1,t (twice).
            a_t = 1.0 / (sigma[t] * sigma[t])
            d_sigma[t] = -2.0 * a_t / sigma[t] * (g_diag + rho * rho * g_prev
                                                   - 2.0 * rho * g_off_prev)
        g_prev, g_off_prev = g_diag, g_off
    return g_rho


# ---------------------------------------------------------------------- pytensor Op
class PanelMarginal(Op):
    """Per-LA marginal log-likelihoods of the panel (see the module docstring).

    Outputs the log-likelihoods and, from the same pass, their gradient pieces, which
    :meth:`L_op` contracts with the output gradient (first derivatives only).
    """

    __props__ = ()

    def make_node(self, resid, precision, rho, sigma, omega):
        """Check the inputs and describe the outputs."""
        ins = [pt.as_tensor_variable(x).astype("float64")
               for x in (resid, precision, rho, sigma, omega)]
        if [x.ndim for x in ins] != [3, 3, 1, 3, 2]:
            raise TypeError("PanelMarginal needs (la, service, year) residuals, precisions "
                            "and sigma, (service,) rho and a (service, service) omega")
        f64 = "float64"
        cube = (None,) * 3
        outs = [pt.tensor(dtype=f64, shape=(None,)), pt.tensor(dtype=f64, shape=cube),
                pt.tensor(dtype=f64, shape=cube), pt.tensor(dtype=f64, shape=(None, None)),
                pt.tensor(dtype=f64, shape=cube), pt.tensor(dtype=f64, shape=cube)]
        return Apply(self, ins, outs)

    def perform(self, node, inputs, output_storage):
        """Run the compiled kernel."""
        resid, precision, rho, sigma, omega = (np.ascontiguousarray(x) for x in inputs)
        if precision.shape != resid.shape or sigma.shape != resid.shape:
            # the compiled loop does not check bounds
            raise ValueError(f"precision has shape {precision.shape}, sigma {sigma.shape}, "
                             f"resid {resid.shape}")
        for store, value in zip(output_storage,
                                panel_kernel(resid, precision, rho, sigma, omega), strict=True):
            store[0] = value

    def infer_shape(self, fgraph, node, input_shapes):
        """Return the output shapes."""
        la, s, _t = input_shapes[0]
        return [(la,), input_shapes[0], input_shapes[0], (la, s), input_shapes[0], (la, s, s)]

    def L_op(self, inputs, outputs, output_grads):
        """Contract the per-LA gradient pieces with the log-likelihoods' output gradient."""
        if not all(isinstance(g.type, DisconnectedType) for g in output_grads[1:]):
            return [grad_not_implemented(self, i, x, "second derivatives of the panel "
                                         "likelihood") for i, x in enumerate(inputs)]
        g = output_grads[0]
        _, d_resid, d_precision, d_rho, d_sigma, d_omega = outputs
        return [g[:, None, None] * d_resid, g[:, None, None] * d_precision,
                pt.sum(g[:, None] * d_rho, axis=0), g[:, None, None] * d_sigma,
                pt.sum(g[:, None, None] * d_omega, axis=0)]


def marginal_log_likelihood(resid, precision, rho, sigma, omega):
    """Per-LA log-likelihood tensor ``(la,)`` with the latent log rates integrated out.

    Parameters
    ----------
    resid
        Tensor ``(la, service, year)``: ``y_hat - m``, 0 where missing.
    precision
        Tensor ``(la, service, year)``: observation precision (``(y + 1/2) /
        count_dispersion``), 0 where missing.
    rho
        Tensor ``(service,)``: autocorrelation of the deviations.
    sigma
        Tensor ``(la, service, year)``: innovation sd of the deviations into each year (the
        first year's sets the stationary start).
    omega
        Tensor ``(service, service)``: covariance of the persistent LA effects.

    Returns
    -------
    Tensor
        ``(la,)`` log-likelihoods.
    """
    outputs = cast(list, PanelMarginal()(resid, precision, rho, sigma, omega))
    return outputs[0]


@register_funcify_default_op_cache_key(PanelMarginal)
def _numba_panel_marginal(op, node, **kwargs):
    @numba.njit
    def panel_marginal_numba(resid, precision, rho, sigma, omega):
        return panel_kernel(resid, precision, rho, sigma, omega)

    return panel_marginal_numba
