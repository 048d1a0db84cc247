"""Likelihood terms of the area model, one function per observation level.

See :mod:`bayes_needs.models.area` for the model: MSOA totals are negative binomial (gamma
MSOA effects integrated out), LA totals a moment-matched negative binomial, LSOA returns a
(Dirichlet-)multinomial split of their MSOA's total. Each function adds the observed
variable of one service to the PyMC model on the context stack.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pymc as pm
import pytensor.tensor as pt
from scipy.special import gammaln

from bayes_needs.core import dims
from bayes_needs.core.segments import multinomial_split
from bayes_needs.data.geography import Geography
from bayes_needs.models.area_observations import ServiceObservations
from bayes_needs.models.count_likelihoods import log_rising_factorial, negative_binomial_logp
from bayes_needs.models.kernels import segment_sum


def negative_binomial(name: str, mu, alpha, counts: np.ndarray, dim: str) -> None:
    """Add observed NB counts.

    The log-density is :func:`~bayes_needs.models.count_likelihoods.negative_binomial_logp`
    (fast, every backend); predictive draws come from PyMC's negative binomial.

    Parameters
    ----------
    name
        Variable name.
    mu, alpha
        Mean and shape tensors (PyMC's parameterisation).
    counts
        Observed counts.
    dim
        Name of the observation dim.
    """

    def logp(value, mu, alpha):
        return negative_binomial_logp(counts, mu, alpha)

    def dist(mu, alpha, size):
        return pm.NegativeBinomial.dist(mu=mu, alpha=alpha, size=size)

    pm.CustomDist(name, mu, alpha, logp=logp, dist=dist, observed=counts, dims=dim)


def msoa_likelihood(geo: Geography, service: str, j: int, obs: ServiceObservations,
                    msoa_col, la_effect, msoa_shape) -> None:
    """Add the MSOA totals of ``service`` (Poisson without MSOA effects, else NB).

    Parameters
    ----------
    geo
        The geography.
    service, j
        Service name and its position.
    obs
        The service's observation layout.
    msoa_col
        Tensor ``(msoa,)``: the service's fixed-part MSOA rates.
    la_effect
        Tensor ``(la, service)`` or ``None``.
    msoa_shape
        Tensor ``(service,)``: gamma shape ``1/msoa_cv^2``, or ``None``.
    """
    if not len(obs.msoa_pos):
        return
    # Column first, then a 1-d gather: 2-d fancy indexing is slow in pytensor.
    mu = msoa_col[obs.msoa_pos]
    if la_effect is not None:
        mu = mu * pt.exp(la_effect[:, j][geo.msoa_to_la[obs.msoa_pos]])
    name, dim = f"obs_msoa_{service}", dims.observation_dim(service, dims.MSOA)
    if msoa_shape is None:
        pm.Poisson(name, mu=mu, observed=obs.msoa_count, dims=dim)
    else:
        negative_binomial(name, mu, msoa_shape[j], obs.msoa_count, dim)


def la_likelihood(geo: Geography, service: str, j: int, obs: ServiceObservations,
                  msoa_col, la_effect, msoa_shape) -> None:
    """Add the LA totals of ``service`` (Poisson, or the moment-matched NB).

    Parameters are those of :func:`msoa_likelihood`.
    """
    if not len(obs.la_pos):
        return
    sum1 = segment_sum(msoa_col, geo.msoa_to_la, geo.n_la)[obs.la_pos]
    mu = sum1
    if la_effect is not None:
        mu = mu * pt.exp(la_effect[:, j][obs.la_pos])
    name, dim = f"obs_la_{service}", dims.observation_dim(service, dims.LA)
    if msoa_shape is None:
        pm.Poisson(name, mu=mu, observed=obs.la_count, dims=dim)
    else:
        sum2 = segment_sum(pt.sqr(msoa_col), geo.msoa_to_la, geo.n_la)[obs.la_pos]
        alpha = msoa_shape[j] * pt.sqr(sum1) / sum2
        negative_binomial(name, mu, alpha, obs.la_count, dim)


def split_likelihood(exposure: np.ndarray, service: str, j: int, obs: ServiceObservations,
                     eta, fixed_rate, msoa_col, lsoa_dispersion) -> None:
    """Add the LSOA returns of ``service`` as a split of their observed MSOA totals.

    Parameters
    ----------
    exposure
        Exposure per LSOA.
    service, j
        Service name and its position.
    obs
        The service's observation layout.
    eta, fixed_rate
        Tensors ``(lsoa,)``: the service's fixed linear predictor and rate.
    msoa_col
        Tensor ``(msoa,)``: the service's fixed-part MSOA rates.
    lsoa_dispersion
        Tensor ``(service,)`` (Dirichlet-multinomial split), or ``None`` (multinomial).
    """
    if not len(obs.lsoa_pos):
        return
    # CustomDist parameters must broadcast with the LSOA vector, so MSOA totals are
    # repeated per LSOA and read back at each MSOA's first LSOA.
    msoa_total = msoa_col[obs.split_msoa_pos[obs.lsoa_group]]
    if lsoa_dispersion is None:
        log_rate = np.log(exposure[obs.lsoa_pos]) + eta[obs.lsoa_pos]
        params: tuple[Any, ...] = (log_rate, msoa_total)
        logp, random = _multinomial_split(obs)
    else:
        params = (fixed_rate[obs.lsoa_pos], msoa_total, lsoa_dispersion[j])
        logp, random = _dirichlet_multinomial_split(obs)
    # The split is conditional on the observed MSOA totals, so predictive draws keep them.
    pm.CustomDist(f"obs_lsoa_{service}", *params, logp=logp, random=random,
                  observed=obs.lsoa_count, dtype="int64",
                  dims=dims.observation_dim(service, dims.LSOA))


def _split_constants(obs: ServiceObservations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each MSOA's first LSOA and the parameter-free log-factorial terms of the split."""
    first = np.unique(obs.lsoa_group, return_index=True)[1]
    const_lsoa = -gammaln(np.asarray(obs.lsoa_count + 1.0, dtype=float))
    const_msoa = gammaln(np.asarray(obs.split_msoa_count + 1.0, dtype=float))
    return first, const_lsoa, const_msoa


def _multinomial_split(obs: ServiceObservations) -> tuple[Callable[..., Any],
                                                           Callable[..., Any]]:
    """Log-density and random draws of the multinomial split (family ``poisson``)."""
    first, const_lsoa, const_msoa = _split_constants(obs)
    group, group_count = obs.lsoa_group, obs.split_msoa_count

    def logp(value, log_rate, msoa_total):
        per_lsoa = value * log_rate + const_lsoa
        per_msoa = -group_count * pt.log(msoa_total[first]) + const_msoa
        return pt.inc_subtensor(per_lsoa[first], per_msoa)

    def random(log_rate, msoa_total, rng=None, size=None):
        weight = np.exp(log_rate - np.max(log_rate))
        return multinomial_split(group_count, weight, group, rng)

    return logp, random


def _dirichlet_multinomial_split(obs: ServiceObservations) -> tuple[Callable[..., Any],
                                                                     Callable[..., Any]]:
    """Log-density and random draws of the Dirichlet-multinomial split (family ``negbin``)."""
    first, const_lsoa, const_msoa = _split_constants(obs)
    group, group_count, lsoa_count = obs.lsoa_group, obs.split_msoa_count, obs.lsoa_count

    def logp(value, rate, msoa_total, delta):
        conc = rate / delta
        total_conc = msoa_total[first] / delta
        per_lsoa = log_rising_factorial(conc, lsoa_count) + const_lsoa
        per_msoa = const_msoa - log_rising_factorial(total_conc, group_count)
        return pt.inc_subtensor(per_lsoa[first], per_msoa)

    def random(rate, msoa_total, delta, rng=None, size=None):
        weight = rng.gamma(np.asarray(rate) / delta)
        return multinomial_split(group_count, weight, group, rng)

    return logp, random
