"""The numpy forward model of area counts, in small pure functions.

One generative model serves the synthetic generator
(:func:`bayes_needs.simulate.area.generate_area`), simulation-based calibration
(:mod:`bayes_needs.checks.sbc`) and the posterior need draws (:mod:`bayes_needs.need`): per
service ``s``, with ``E_i`` the child population of LSOA ``i`` and ``z_i`` its standardised
covariates::

    lambda_i       = E_i * exp(intercept_s) * exp(z_i @ beta_s)              (area_rates)
    g_m            ~ Gamma(a, rate=a),  a = 1 / msoa_cv**2       (mean_one_gamma)
    Y_m            ~ Poisson(g_m * exp(u_la(m)) * Lambda_m)                   (simulate_service)
    y_{i in m}     ~ Multinomial(Y_m, Dirichlet(lambda_i / lsoa_dispersion))  (split_within_msoa)
    Y_la           ~ Poisson(exp(u_la) * (own_la + h_la * rest_la))          (la_totals)
    h_la           ~ Gamma(a_la, rate=a_la),  a_la = moment-matched shape    (moment_matched_shape)

``own_la`` is the expected count of the LA's MSOAs with their own counts, ``rest_la =
sum Lambda_m`` over its other MSOAs and ``h_la`` their rate-weighted mean effect, whose gamma
shape matches the first two moments of ``sum_m g_m Lambda_m / rest_la``. Need follows
:func:`need_from_small_area`.

Every function takes its random numbers from an explicit :class:`numpy.random.Generator` and
draws them in a documented order, so a caller that owns a stream keeps its draws. Arrays have
the geographic unit on the last axis (as :meth:`bayes_needs.data.geography.Geography.aggregate`
expects); any leading axes (service, posterior draw) broadcast.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from bayes_needs.config.models import Standardisation
from bayes_needs.core import dims
from bayes_needs.core.segments import multinomial_split
from bayes_needs.data.geography import Geography

__all__ = ["SimulatedService", "area_rates", "gamma_posterior", "la_totals", "mean_one_gamma",
           "moment_matched_shape", "need_from_small_area", "rest_moments", "simulate_service",
           "split_weights", "split_within_msoa"]


def area_rates(exposure: np.ndarray, intercept: np.ndarray, z: np.ndarray,
               beta: np.ndarray) -> np.ndarray:
    """Compute the fixed-part expected counts ``lambda`` of every LSOA and service.

    Parameters
    ----------
    exposure
        (lsoa,) child population.
    intercept
        (service,) log rate per child at the covariate means.
    z
        (lsoa, covariate) standardised covariates (zero columns for none).
    beta
        (service, covariate) log rate ratios per standard deviation.

    Returns
    -------
    numpy.ndarray
        (lsoa, service) ``exposure * exp(intercept) * exp(z @ beta.T)``; the two exponentials
        are taken separately, which is the synthetic generator's arithmetic.
    """
    return exposure[:, None] * np.exp(intercept) * np.exp(z @ beta.T)


def mean_one_gamma(shape: np.ndarray | float, rng: np.random.Generator,
                   size: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Draw mean-one gamma effects ``Gamma(shape, rate=shape)``.

    Parameters
    ----------
    shape
        Gamma shape (``1 / cv**2``), broadcast against ``size``.
    rng
        Stream the draws come from (one gamma draw per element).
    size
        Output shape; ``None`` takes the shape of ``shape``.

    Returns
    -------
    numpy.ndarray
        Effects with mean one and variance ``1 / shape``.
    """
    return rng.gamma(shape, 1.0 / shape, size)


def gamma_posterior(prior_shape: np.ndarray, count: np.ndarray, rate: np.ndarray,
                    rng: np.random.Generator) -> np.ndarray:
    """Draw mean-one gamma effects from their conjugate posterior given Poisson counts.

    With the prior ``g ~ Gamma(a, rate=a)`` and ``count ~ Poisson(g * rate)``, the posterior is
    ``Gamma(a + count, rate=a + rate)``. A unit without a count (``count = rate = 0``) gets a
    prior draw. Use it for MSOAs with their own counts (``a = 1 / msoa_cv**2``) and for the
    rate-weighted mean effect of an LA's other MSOAs given its total (``a`` from
    :func:`moment_matched_shape`, ``rate = exp(u_la) * rest``).

    Parameters
    ----------
    prior_shape
        Prior shape and rate ``a``.
    count
        Observed counts (zero where unobserved).
    rate
        Expected count per unit effect (zero where unobserved).
    rng
        Stream the draws come from (one gamma draw per element of the broadcast shape).

    Returns
    -------
    numpy.ndarray
        Posterior draws of the effects.
    """
    return rng.gamma(prior_shape + count, 1.0 / (prior_shape + rate))


def split_weights(rate: np.ndarray, lsoa_to_msoa: np.ndarray, n_msoa: int,
                  rng: np.random.Generator, dispersion: float | None = None) -> np.ndarray:
    """Draw the within-MSOA split weights of one service's LSOAs.

    Parameters
    ----------
    rate
        (lsoa,) expected counts ``lambda``.
    lsoa_to_msoa
        (lsoa,) MSOA index of each LSOA.
    n_msoa
        Number of MSOAs.
    rng
        Stream of the gamma draws (one per LSOA; none without ``dispersion``).
    dispersion
        ``lsoa_dispersion`` of the Dirichlet-multinomial split; ``None`` gives the
        multinomial split proportional to ``rate``.

    Returns
    -------
    numpy.ndarray
        (lsoa,) non-negative weights, to be normalised within each MSOA. With a dispersion
        they are ``Gamma(rate / dispersion, 1)`` draws, so the normalised weights are
        ``Dirichlet(rate / dispersion)``.

    Notes
    -----
    The one underflow guard of the package: a gamma draw with a tiny shape can underflow to
    exactly zero; an MSOA whose every weight underflowed falls back to weights proportional to
    ``rate`` (the Dirichlet mean) instead of an undefined split. This is the synthetic
    generator's historical guard, kept so its draws stay bit-for-bit identical.
    """
    if dispersion is None:
        return rate
    weight = rng.gamma(rate / dispersion)
    empty = np.bincount(lsoa_to_msoa, weights=weight, minlength=n_msoa)[lsoa_to_msoa] <= 0
    return np.where(empty, rate, weight)


def split_within_msoa(msoa_total: np.ndarray, rate: np.ndarray, lsoa_to_msoa: np.ndarray,
                      rng: np.random.Generator, dispersion: float | None = None
                      ) -> np.ndarray:
    """Split one service's MSOA totals over their LSOAs.

    Draws :func:`split_weights` then one multinomial per MSOA
    (:func:`bayes_needs.core.segments.multinomial_split`), in that order, from ``rng``.

    Parameters
    ----------
    msoa_total
        (msoa,) totals to split.
    rate
        (lsoa,) expected counts ``lambda``.
    lsoa_to_msoa
        (lsoa,) MSOA index of each LSOA.
    rng
        Stream of the draws.
    dispersion
        ``lsoa_dispersion`` (Dirichlet-multinomial); ``None`` for the multinomial split.

    Returns
    -------
    numpy.ndarray
        (lsoa,) int64 counts summing to ``msoa_total`` within each MSOA (when the MSOA has a
        positive ``rate``).
    """
    weight = split_weights(rate, lsoa_to_msoa, len(msoa_total), rng, dispersion)
    return multinomial_split(msoa_total, weight, lsoa_to_msoa, rng)


class SimulatedService(NamedTuple):
    """Counts of one service simulated by :func:`simulate_service`.

    Attributes
    ----------
    msoa_effect
        (msoa,) mean-one gamma effects (ones without MSOA effects).
    msoa_total
        (msoa,) Poisson MSOA totals.
    lsoa_count
        (lsoa,) split of the MSOA totals over LSOAs.
    """

    msoa_effect: np.ndarray
    msoa_total: np.ndarray
    lsoa_count: np.ndarray


def simulate_service(rate: np.ndarray, msoa_rate: np.ndarray, msoa_multiplier: np.ndarray,
                     lsoa_to_msoa: np.ndarray, rng: np.random.Generator, *,
                     msoa_shape: float | None, dispersion: float | None) -> SimulatedService:
    """Simulate one service's MSOA effects, MSOA totals and LSOA counts.

    Draws, in this order from ``rng``: the MSOA effects (:func:`mean_one_gamma`, skipped
    when ``msoa_shape`` is ``None``), the Poisson MSOA totals, then the within-MSOA split
    (:func:`split_within_msoa`).

    Parameters
    ----------
    rate
        (lsoa,) expected counts ``lambda``.
    msoa_rate
        (msoa,) ``Lambda_m``, the sum of ``rate`` within each MSOA.
    msoa_multiplier
        (msoa,) ``exp(u)`` of each MSOA's LA.
    lsoa_to_msoa
        (lsoa,) MSOA index of each LSOA.
    rng
        Stream of the draws.
    msoa_shape
        ``1 / msoa_cv**2``; ``None`` for no MSOA effects.
    dispersion
        ``lsoa_dispersion`` (Dirichlet-multinomial split); ``None`` for the multinomial split.

    Returns
    -------
    SimulatedService
    """
    if msoa_shape is None:
        effect = np.ones(len(msoa_rate))
    else:
        effect = mean_one_gamma(msoa_shape, rng, len(msoa_rate))
    msoa_total = rng.poisson(effect * msoa_multiplier * msoa_rate)
    lsoa_count = split_within_msoa(msoa_total, rate, lsoa_to_msoa, rng, dispersion)
    return SimulatedService(effect, msoa_total, lsoa_count)


def rest_moments(msoa_rate: np.ndarray, unobserved: np.ndarray,
                 geo: Geography) -> tuple[np.ndarray, np.ndarray]:
    """Sum the rates, and squared rates, of each LA's MSOAs without their own counts.

    Parameters
    ----------
    msoa_rate
        (..., msoa) ``Lambda_m``.
    unobserved
        (..., msoa) mask of MSOAs without their own counts.
    geo
        The nesting.

    Returns
    -------
    tuple of numpy.ndarray
        ``(rest, rest_sq)``, each (..., la): ``sum Lambda_m`` and ``sum Lambda_m**2`` over
        the LA's unobserved MSOAs.
    """
    rest = geo.aggregate(msoa_rate * unobserved, dims.MSOA, dims.LA)
    rest_sq = geo.aggregate(msoa_rate ** 2 * unobserved, dims.MSOA, dims.LA)
    return rest, rest_sq


def moment_matched_shape(msoa_shape: np.ndarray, rest: np.ndarray,
                         rest_sq: np.ndarray) -> np.ndarray:
    """Compute the gamma shape of the rate-weighted mean effect of an LA's unobserved MSOAs.

    ``sum_m g_m Lambda_m / rest`` has mean one and variance ``rest_sq / (a rest**2)``; the
    gamma with the same moments has shape ``a * rest**2 / rest_sq``. This is the negative
    binomial the area model's LA-total likelihood uses.

    Parameters
    ----------
    msoa_shape
        ``a = 1 / msoa_cv**2``, broadcast against ``rest``.
    rest, rest_sq
        From :func:`rest_moments`.

    Returns
    -------
    numpy.ndarray
        The shape; ``a`` itself where the LA has no unobserved MSOA (``rest_sq = 0``), a
        guard that only keeps the value finite (its ``rest`` is zero, so it is never used).
    """
    return msoa_shape * np.divide(rest ** 2, rest_sq, out=np.ones_like(rest),
                                  where=rest_sq > 0)


def la_totals(own: np.ndarray, rest: np.ndarray, rest_shape: np.ndarray | None,
              la_multiplier: np.ndarray, rng: np.random.Generator
              ) -> tuple[np.ndarray, np.ndarray]:
    """Simulate LA totals from the moment-matched negative binomial.

    Draws, in this order from ``rng``: the rest effects ``h ~ Gamma(rest_shape,
    rate=rest_shape)`` (skipped without MSOA effects), then ``Poisson(la_multiplier * (own +
    h * rest))``.

    Parameters
    ----------
    own
        (..., la) expected count of the LA's MSOAs with their own counts (their effects
        included, LA effect excluded).
    rest
        (..., la) ``sum Lambda_m`` over the LA's other MSOAs.
    rest_shape
        (..., la) :func:`moment_matched_shape`; ``None`` without MSOA effects (``h = 1``).
    la_multiplier
        (..., la) ``exp(u_la)``.
    rng
        Stream of the draws.

    Returns
    -------
    tuple of numpy.ndarray
        ``(rest_effect, la_total)``, each (..., la).
    """
    if rest_shape is None:
        rest_effect = np.ones_like(rest)
    else:
        rest_effect = mean_one_gamma(rest_shape, rng)
    la_total = rng.poisson(la_multiplier * (own + rest_effect * rest))
    return rest_effect, la_total


def need_from_small_area(small_area: np.ndarray, standardise: Standardisation, *,
                         sigma_la: np.ndarray, la_multiplier: np.ndarray | None = None,
                         covariate_only: np.ndarray | None = None) -> np.ndarray:
    """Compute expected need per LA from its small-area expectation.

    Parameters
    ----------
    small_area
        (..., la) expected count with small-area effects, without LA effects: ``sum_m g_m
        Lambda_m`` (or ``own + h * rest`` when some effects are summarised by ``h``).
    standardise
        ``"la"``: ``small_area * exp(sigma_la**2 / 2)`` (LA effects marginalised with the
        lognormal mean correction); ``"none"``: ``small_area * la_multiplier`` (LA effects
        kept); ``"all"``: ``covariate_only * exp(sigma_la**2 / 2)`` (small-area effects
        marginalised too).
    sigma_la
        Sd of the LA effects, broadcast against ``small_area`` (zeros without LA effects).
    la_multiplier
        (..., la) ``exp(u_la)``; needed for ``"none"``.
    covariate_only
        (..., la) ``sum_m Lambda_m``; needed for ``"all"``.

    Returns
    -------
    numpy.ndarray
        (..., la) need.

    Raises
    ------
    ValueError
        For an unknown ``standardise`` or a missing input it needs.
    """
    if standardise == "none":
        if la_multiplier is None:
            raise ValueError("standardise='none' needs la_multiplier")
        return small_area * la_multiplier
    correction = np.exp(sigma_la ** 2 / 2.0)
    if standardise == "la":
        return small_area * correction
    if standardise == "all":
        if covariate_only is None:
            raise ValueError("standardise='all' needs covariate_only")
        return covariate_only * correction
    raise ValueError(f"standardise must be 'la', 'none' or 'all', got {standardise!r}")
