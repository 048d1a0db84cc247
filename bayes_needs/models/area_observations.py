"""Observation layout of the area model: which counts of a service enter which likelihood.

Each service's returns are held as index arrays into the geography (``*_pos``) with their
counts: LSOA returns are split within their MSOA (their MSOA totals join the MSOA-level
likelihood), MSOA returns and those totals enter the MSOA likelihood, LA returns the LA-total
likelihood. Areas with zero exposure carry no information and are left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from bayes_needs.core import dims
from bayes_needs.data.area import AreaData
from bayes_needs.models.la_effects import exposure_concentration, log_rate_variance


def _no_positions() -> np.ndarray:
    return np.zeros(0, np.int64)


@dataclass
class ServiceObservations:
    """Observation index arrays of one service, in the model's compact form."""

    msoa_pos: np.ndarray = field(default_factory=_no_positions)
    msoa_count: np.ndarray = field(default_factory=_no_positions)
    la_pos: np.ndarray = field(default_factory=_no_positions)
    la_count: np.ndarray = field(default_factory=_no_positions)
    lsoa_pos: np.ndarray = field(default_factory=_no_positions)
    lsoa_count: np.ndarray = field(default_factory=_no_positions)
    #: for each observed LSOA, index into ``split_msoa_pos``
    lsoa_group: np.ndarray = field(default_factory=_no_positions)
    split_msoa_pos: np.ndarray = field(default_factory=_no_positions)
    split_msoa_count: np.ndarray = field(default_factory=_no_positions)


def service_observations(data: AreaData, service: str) -> ServiceObservations:
    """Lay out the observations of ``service`` for the likelihood terms.

    Parameters
    ----------
    data
        Validated area data.
    service
        One of ``data.services``.

    Returns
    -------
    ServiceObservations
        MSOA positions sorted, LSOA-split MSOA totals included in the MSOA terms, and areas
        without exposure dropped.
    """
    geo = data.geography
    obs = ServiceObservations()
    exposure_msoa = geo.aggregate(data.exposure, dims.LSOA, dims.MSOA)
    lsoa_pos, lsoa_count = data.observed(service, dims.LSOA)
    msoa_pos, msoa_count = data.observed(service, dims.MSOA)
    if len(lsoa_pos):
        keep = data.exposure[lsoa_pos] > 0  # zero-exposure LSOAs carry no information
        lsoa_pos, lsoa_count = lsoa_pos[keep], lsoa_count[keep]
        parent = geo.lsoa_to_msoa[lsoa_pos]
        split_msoa, group = np.unique(parent, return_inverse=True)
        split_count = np.bincount(group, weights=lsoa_count).astype(np.int64)
        obs.lsoa_pos, obs.lsoa_count, obs.lsoa_group = lsoa_pos, lsoa_count, group
        obs.split_msoa_pos, obs.split_msoa_count = split_msoa, split_count
        # Their MSOA totals enter the MSOA-level likelihood.
        msoa_pos = np.concatenate([msoa_pos, split_msoa])
        msoa_count = np.concatenate([msoa_count, split_count])
    order = np.argsort(msoa_pos, kind="stable")
    msoa_pos, msoa_count = msoa_pos[order], msoa_count[order]
    keep = exposure_msoa[msoa_pos] > 0
    obs.msoa_pos, obs.msoa_count = msoa_pos[keep], msoa_count[keep]
    obs.la_pos, obs.la_count = data.observed(service, dims.LA)
    return obs


def initial_intercepts(data: AreaData) -> np.ndarray:
    """Return each service's log overall rate among LAs with data (a start point for NUTS).

    Parameters
    ----------
    data
        Validated area data.
    """
    totals = data.la_totals()
    la_exposure = data.geography.aggregate(data.exposure, dims.LSOA, dims.LA)
    out = []
    for service in data.services:
        seen = totals[service].notna().to_numpy()
        count, expo = totals[service].to_numpy()[seen].sum(), la_exposure[seen].sum()
        out.append(np.log(max(count, 0.5) / expo) if expo > 0 else -4.0)
    return np.asarray(out)


def la_data_summaries(data: AreaData) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Compute the data constants of the LA-effect parameterisation, per (LA, service).

    Parameters
    ----------
    data
        Validated area data.

    Returns
    -------
    tuple of numpy.ndarray
        ``(poisson, msoa, empirical)``: the sampling variance of an LA's log rate is about
        ``poisson + msoa_cv^2 * msoa`` with ``poisson = 1/(n + 0.5)`` from its ``n``
        observed events (``inf`` where the LA has no data for the service or no children)
        and ``msoa = sum_m E_m^2 / (sum_m E_m)^2`` the MSOA-noise factor of its exposure;
        ``empirical = log((n + 0.5) / E_l)`` is its observed log rate (0 without data).
    """
    geo = data.geography
    totals = data.la_totals().to_numpy(dtype=float)
    msoa_exposure = geo.aggregate(data.exposure, dims.LSOA, dims.MSOA)
    la_exposure = geo.aggregate(msoa_exposure, dims.MSOA, dims.LA)
    msoa = exposure_concentration(msoa_exposure, geo.msoa_to_la, geo.n_la)
    usable = ~np.isnan(totals) & (la_exposure[:, None] > 0)
    poisson = np.full(totals.shape, np.inf)
    poisson[usable] = log_rate_variance(totals[usable])
    empirical = np.zeros(totals.shape)
    rate = (totals + 0.5) / np.broadcast_to(la_exposure[:, None], totals.shape)
    empirical[usable] = np.log(rate[usable])
    return poisson, msoa, empirical
