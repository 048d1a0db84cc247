"""Scores comparing the area-based and person-based approaches.

LA-grouped cross-validation scores, ELPD, stacking weights and needs-share accuracy.

Both approaches can predict one thing for an LA whose data were held out: its published
annual count of each service (all children, full year). Given a posterior draw, that total is
``sum_m Y_m`` over the LA's MSOAs with ``Y_m ~ NegativeBinomial(exp(u) Lambda_m, a)`` (gamma
MSOA effects of shape ``a``, a new LA effect ``u ~ Normal(0, sigma_la)``). Given ``u`` the
sum is approximated by the moment-matched negative binomial used for LA totals in the area
model (mean ``exp(u) S1``, shape ``a S1^2 / S2`` with ``S1 = sum Lambda_m``, ``S2 = sum
Lambda_m^2``), and ``u`` is integrated out by Gauss-Hermite quadrature. The log predictive
density of the held-out count is the log of its mean over posterior draws; summed over
held-out LAs and services it is the ELPD, with standard error ``sqrt(n var(lpd_i))``.

Stacking (Yao et al. 2018) picks weights ``w`` on the simplex maximising ``sum_i log sum_k
w_k exp(lpd_ik)`` over the same cross-validated points; the stacked prediction is the
mixture of the approaches' posterior predictive distributions.
"""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import numpy as np
import xarray as xr
from scipy.optimize import minimize
from scipy.special import gammaln, logsumexp, softmax

from bayes_needs.allocation import CostWeights, allocate
from bayes_needs.core import defaults, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.intervals import IntervalKind, credible_interval
from bayes_needs.models.area import AreaDemandModel


def la_folds(la_codes: Sequence[str], n_folds: int, *, random_seed: int) -> list[list[str]]:
    """Split LA codes into ``n_folds`` groups of near-equal size at random (seeded).

    Parameters
    ----------
    la_codes
        The LAs.
    n_folds
        Number of groups, between 2 and the number of LAs.
    random_seed
        Seed of the split.

    Returns
    -------
    list of list of str
        The folds, each sorted.

    Raises
    ------
    ConfigError
        If ``n_folds`` is out of range.
    """
    codes = np.asarray(list(la_codes), dtype=object)
    if isinstance(n_folds, bool) or not isinstance(n_folds, int) or \
            not 2 <= n_folds <= len(codes):
        raise ConfigError(f"folds must be a whole number between 2 and the number of LAs "
                          f"({len(codes)}), got {n_folds!r}")
    order = np.random.default_rng(random_seed).permutation(len(codes))
    return [sorted(codes[order[k::n_folds]].tolist()) for k in range(n_folds)]


def _nb_logpmf(y: np.ndarray, mu: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Negative binomial log pmf with mean ``mu`` and shape ``alpha`` (PyMC's convention)."""
    return (gammaln(y + alpha) - gammaln(alpha) - gammaln(y + 1.0)
            + alpha * (np.log(alpha) - np.log(alpha + mu)) + y * (np.log(mu)
                                                                   - np.log(alpha + mu)))


def la_total_log_density(s1: np.ndarray, s2: np.ndarray, shape: np.ndarray | None,
                         sigma: np.ndarray, observed: np.ndarray, *,
                         nodes: int = 32) -> np.ndarray:
    """Compute the log posterior predictive density of observed LA totals (module docstring).

    Parameters
    ----------
    s1, s2
        ``(sample, la, service)`` sums of the MSOAs' expected counts (no random effects) and
        of their squares.
    shape
        ``(sample, service)`` gamma shape of the MSOA effects, or ``None`` (Poisson).
    sigma
        ``(sample, service)`` sd of the LA effects (zeros: no LA effects).
    observed
        ``(la, service)`` observed totals; NaN entries give NaN.
    nodes
        Gauss-Hermite nodes for the LA effect.

    Returns
    -------
    numpy.ndarray
        ``(la, service)`` log predictive densities.
    """
    x, w = np.polynomial.hermite.hermgauss(nodes)
    y = np.nan_to_num(observed)[None, :, :, None]
    u = np.sqrt(2.0) * sigma[:, None, :, None] * x  # (sample, 1, service, node)
    mu = np.maximum(s1[..., None] * np.exp(u), 1e-300)
    if shape is None:
        logp = y * np.log(mu) - mu - gammaln(y + 1.0)
    else:
        alpha = np.broadcast_to((shape[:, None, :] * s1**2 / s2)[..., None], mu.shape)
        logp = _nb_logpmf(y, mu, alpha)
    per_draw = logsumexp(logp + np.log(w / np.sqrt(np.pi)), axis=-1)
    out = logsumexp(per_draw, axis=0) - np.log(per_draw.shape[0])
    return np.where(np.isnan(observed), np.nan, out)


def area_la_moments(model: AreaDemandModel, idata: az.InferenceData
                    ) -> dict[str, np.ndarray | None]:
    """Compute the :func:`la_total_log_density` inputs of an area-model fit (all LAs).

    ``Lambda_m = sum_{i in m} E_i exp(intercept + z_i beta)`` per draw.

    Parameters
    ----------
    model, idata
        An area model and its fit.

    Returns
    -------
    dict
        ``s1``, ``s2`` ``(sample, la, service)``, ``shape`` ``(sample, service)`` or ``None``
        without MSOA effects, and ``sigma`` ``(sample, service)``.
    """
    post = idata_io.posterior(idata)
    geo = model.data.geography
    n_sample = post.sizes[dims.CHAIN] * post.sizes[dims.DRAW]

    def flat(name: str, *trailing: str) -> np.ndarray:
        values = post[name].transpose(dims.CHAIN, dims.DRAW, *trailing).to_numpy()
        return values.reshape(n_sample, *values.shape[2:])

    eta = flat("intercept", dims.SERVICE)[:, :, None]
    if model.covariate_names:
        eta = eta + np.einsum("lk,bsk->bsl", model.z, flat("beta", dims.SERVICE,
                                                            dims.COVARIATE))
    msoa = geo.aggregate(model.data.exposure * np.exp(eta), dims.LSOA, dims.MSOA)
    s1 = geo.aggregate(msoa, dims.MSOA, dims.LA).transpose(0, 2, 1)
    s2 = geo.aggregate(msoa**2, dims.MSOA, dims.LA).transpose(0, 2, 1)
    cfg = model.config
    shape = 1.0 / flat("msoa_cv", dims.SERVICE) ** 2 if cfg.msoa_effects else None
    sigma = flat("sigma_la", dims.SERVICE) if cfg.la_effects else \
        np.zeros((n_sample, len(model.services)))
    return {"s1": s1, "s2": s2, "shape": shape, "sigma": sigma}


def elpd(pointwise: np.ndarray) -> tuple[float, float]:
    """Sum pointwise log predictive densities into the ELPD, with its standard error.

    Parameters
    ----------
    pointwise
        Log predictive densities; NaN entries are dropped.

    Returns
    -------
    elpd, se
        The sum and ``sqrt(n var)`` (NaN with fewer than two points).
    """
    values = np.asarray(pointwise, dtype=float).ravel()
    values = values[np.isfinite(values)]
    return float(values.sum()), float(np.sqrt(len(values) * values.var(ddof=1))) \
        if len(values) > 1 else float("nan")


def stacking_weights(lpd: np.ndarray) -> np.ndarray:
    """Fit stacking weights of K approaches to ``(n_points, K)`` pointwise log densities.

    Maximises ``sum_i log sum_k w_k exp(lpd_ik)`` over the simplex (softmax
    parameterisation, BFGS); rows with a non-finite entry are ignored.

    Parameters
    ----------
    lpd
        Pointwise log densities, one column per approach.

    Returns
    -------
    numpy.ndarray
        ``(K,)`` weights summing to 1.
    """
    lpd = np.asarray(lpd, dtype=float)
    lpd = lpd[np.isfinite(lpd).all(axis=1)]
    k = lpd.shape[1]
    if k == 1:
        return np.ones(1)

    def objective(theta: np.ndarray) -> float:
        log_w = np.log(softmax(np.concatenate([theta, [0.0]])))
        return -logsumexp(lpd + log_w, axis=1).sum()

    result = minimize(objective, np.zeros(k - 1), method="BFGS")
    return softmax(np.concatenate([result.x, [0.0]]))


def mixture_log_density(lpd: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Compute the pointwise log density of a mixture: ``log sum_k w_k exp(lpd_ik)``.

    Parameters
    ----------
    lpd
        ``(n_points, K)`` log densities of the components.
    weights
        ``(K,)`` mixture weights.

    Returns
    -------
    numpy.ndarray
        ``(n_points,)`` log densities.
    """
    with np.errstate(divide="ignore"):
        return logsumexp(np.asarray(lpd) + np.log(np.asarray(weights))[None, :], axis=1)


def stack_draws(needs: Sequence[xr.DataArray], weights: np.ndarray, *,
                random_seed: int) -> xr.DataArray:
    """Mix need draws of several approaches with the given weights.

    Each output draw comes from approach ``k`` with probability ``w_k``, whole, so every LA's
    and service's need stays jointly consistent.

    Parameters
    ----------
    needs
        Need draws (chain, draw, la, service) per approach.
    weights
        Mixture weights.
    random_seed
        Seed of the choice of approach and draw.

    Returns
    -------
    xarray.DataArray
        ``need`` with one chain and as many draws as the smallest input.
    """
    stacked = [n.stack({dims.SAMPLE: (dims.CHAIN, dims.DRAW)}).transpose(dims.SAMPLE, ...)
               for n in needs]
    n = min(s.sizes[dims.SAMPLE] for s in stacked)
    rng = np.random.default_rng(random_seed)
    choice = rng.choice(len(needs), size=n, p=np.asarray(weights) / np.sum(weights))
    picks = [rng.permutation(s.sizes[dims.SAMPLE])[:n] for s in stacked]
    values = np.stack([s.to_numpy()[p] for s, p in zip(stacked, picks, strict=True)])
    mixed = values[choice, np.arange(n)]
    template = needs[0]
    la, service = template[dims.LA], template[dims.SERVICE]
    return xr.DataArray(mixed[None], dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
                        coords={dims.CHAIN: [0], dims.DRAW: np.arange(n), dims.LA: la.values,
                                dims.SERVICE: service.values,
                                dims.LA_NAME: (dims.LA, template[dims.LA_NAME].values)},
                        name="need")


def share_metrics(need: xr.DataArray, cost_weights: CostWeights, true_share: xr.DataArray, *,
                  interval_prob: float = defaults.INTERVAL_PROB,
                  interval_kind: IntervalKind = defaults.INTERVAL_KIND) -> dict[str, float]:
    """Score the needs shares of need draws against the true shares.

    Parameters
    ----------
    need
        Need draws (chain, draw, la, service).
    cost_weights
        Cost weights turning need into shares.
    true_share
        The true share per LA.
    interval_prob, interval_kind
        The share intervals.

    Returns
    -------
    dict
        ``share_rmse``, ``share_mae``, ``share_max_abs_error`` (of the posterior mean
        share), ``share_coverage`` (fraction of LAs whose true share is inside the
        interval), ``interval_width_mean`` (mean interval width, in share units) and
        ``relative_interval_width_mean`` (width over the mean share).
    """
    allocation = allocate(need, cost_weights, interval_prob=interval_prob,
                          interval_kind=interval_kind)
    share = allocation.draws["share"]
    truth = xr.DataArray(np.asarray(true_share.sel({dims.LA: share[dims.LA].values})),
                         dims=(dims.LA,))
    mean = share.mean((dims.CHAIN, dims.DRAW)).to_numpy()
    lower_bound, upper_bound = credible_interval(share, interval_prob=interval_prob,
                                                 interval_kind=interval_kind)
    lower, upper = np.asarray(lower_bound, dtype=float), np.asarray(upper_bound, dtype=float)
    t = truth.to_numpy()
    error = mean - t
    return {"share_rmse": float(np.sqrt(np.mean(error**2))),
            "share_mae": float(np.mean(np.abs(error))),
            "share_max_abs_error": float(np.max(np.abs(error))),
            "share_coverage": float(np.mean((lower <= t) & (t <= upper))),
            "interval_width_mean": float(np.mean(upper - lower)),
            "relative_interval_width_mean": float(np.mean((upper - lower) / mean))}
