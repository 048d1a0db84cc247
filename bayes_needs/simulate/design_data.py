"""Simulated LSOA/MSOA returns of a candidate design, from one parameter set.

A design's return is what the data already hold, broken down: the LA totals are published,
so given a parameter set (a posterior draw) each LA's total is split over its areas as the
one generative model (:mod:`bayes_needs.simulate.generative`) splits it. Per service, with
``lambda`` the LSOA rates (:func:`~bayes_needs.simulate.generative.area_rates`) and
``Lambda_m`` their MSOA sums, from the stream of ``(seed, DESIGN_DATA, replicate, service)``:

1. MSOA effects ``g_m ~ Gamma(a, rate=a)``, ``a = 1 / msoa_cv**2``
   (:func:`~bayes_needs.simulate.generative.mean_one_gamma`; ``g_m = 1`` without MSOA
   effects);
2. an LA total ``Poisson(exp(u_la) sum_m g_m Lambda_m)`` for LAs without a published one;
3. each LA total split over its MSOAs, multinomial with probabilities ``g_m Lambda_m``
   (Poisson counts given their sum);
4. each MSOA total split over its LSOAs
   (:func:`~bayes_needs.simulate.generative.split_within_msoa`, Dirichlet-multinomial with
   ``lsoa_dispersion``).

Every LA is split, whichever return: replicates of different designs share their draws
(common random numbers), and a design only chooses which LAs' breakdowns it reveals. The MSOA
effects are drawn from their prior given the parameters, not tilted by the LA total they
split (the total is a sum over many MSOAs, so the tilt is small).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.segments import multinomial_split
from bayes_needs.data.area import AreaData
from bayes_needs.data.geography import as_level
from bayes_needs.simulate import generative
from bayes_needs.simulate.streams import DESIGN_DATA, stage_rng

__all__ = ["Breakdown", "ParameterSet", "simulate_breakdown", "with_returns"]


@dataclass(frozen=True)
class ParameterSet:
    """One draw of the area model's parameters, services in the model's order.

    Attributes
    ----------
    intercept
        (service,) log rates at the covariate means.
    beta
        (service, covariate) covariate effects on the standardised covariates.
    la_effect
        (la, service) LA effects.
    msoa_cv
        (service,) coefficient of variation of the MSOA effects; ``None`` for none.
    lsoa_dispersion
        (service,) within-MSOA overdispersion; ``None`` for the multinomial split.
    """

    intercept: np.ndarray
    beta: np.ndarray
    la_effect: np.ndarray
    msoa_cv: np.ndarray | None
    lsoa_dispersion: np.ndarray | None


@dataclass(frozen=True)
class Breakdown:
    """One service's simulated counts in every LA, MSOA and LSOA.

    Attributes
    ----------
    la_total, msoa_total, lsoa_count
        Counts per LA (the published total where there is one), MSOA and LSOA; each level
        sums to the one above.
    """

    la_total: np.ndarray
    msoa_total: np.ndarray
    lsoa_count: np.ndarray


def simulate_breakdown(data: AreaData, z: np.ndarray, params: ParameterSet, *, seed: int,
                       replicate: int) -> dict[str, Breakdown]:
    """Split every LA's total of every service over its MSOAs and LSOAs.

    Parameters
    ----------
    data
        The run's data (its LA totals are kept).
    z
        (lsoa, covariate) the model's standardised covariates.
    params
        The parameter set, services in ``data.services`` order.
    seed, replicate
        Key of the random streams (one per service).

    Returns
    -------
    dict
        Service -> :class:`Breakdown`.
    """
    geo = data.geography
    rates = generative.area_rates(data.exposure, params.intercept, z, params.beta)
    published = data.la_totals()
    out = {}
    for j, service in enumerate(data.services):
        rng = stage_rng(seed, DESIGN_DATA, replicate, j)
        rate = rates[:, j]
        msoa_rate = geo.aggregate(rate, dims.LSOA, dims.MSOA)
        effect = np.ones(geo.n_msoa) if params.msoa_cv is None else \
            generative.mean_one_gamma(1.0 / params.msoa_cv[j] ** 2, rng, geo.n_msoa)
        weight = effect * msoa_rate
        simulated = rng.poisson(np.exp(params.la_effect[:, j])
                                * geo.aggregate(weight, dims.MSOA, dims.LA))
        known = published[service].to_numpy()
        la_total = np.where(np.isfinite(known), np.nan_to_num(known), simulated).astype(np.int64)
        msoa_total = multinomial_split(la_total, weight, geo.msoa_to_la, rng)
        dispersion = None if params.lsoa_dispersion is None else \
            float(params.lsoa_dispersion[j])
        lsoa_count = generative.split_within_msoa(msoa_total, rate, geo.lsoa_to_msoa, rng,
                                                  dispersion)
        out[service] = Breakdown(la_total, msoa_total, lsoa_count)
    return out


def with_returns(data: AreaData, breakdown: dict[str, Breakdown], las: Sequence[str],
                 level: str, services: Sequence[str]) -> AreaData:
    """Return ``data`` with the returning LAs' services observed at ``level``.

    Parameters
    ----------
    data
        The run's data.
    breakdown
        From :func:`simulate_breakdown`.
    las
        Codes of the returning LAs.
    level
        ``"lsoa"`` or ``"msoa"``.
    services
        Services returned.

    Returns
    -------
    AreaData
        The same data except that each returning LA's total of each returned service is
        replaced by its areas' counts (they sum to it). An LA already observed below LA level
        keeps its own counts.
    """
    geo, area_level = data.geography, as_level(level)
    levels = data.observation_level
    obs = data.observations
    added, dropped = [], np.zeros(len(obs), dtype=bool)
    parent = geo.parent_index(area_level, dims.LA)
    codes = geo.codes(area_level)
    for service in services:
        returning = [c for c in las if levels.loc[c, service] in (dims.LA, dims.NONE)]
        if not returning:
            continue
        dropped |= ((obs["service"] == service) & (obs["level"] == dims.LA)
                    & obs["area_code"].isin(returning)).to_numpy()
        rows = np.isin(parent, geo.position(dims.LA, np.asarray(returning)))
        counts = breakdown[service].lsoa_count if level == dims.LSOA else \
            breakdown[service].msoa_total
        added.append(pd.DataFrame({"service": service, "level": level,
                                   "area_code": codes[rows], "count": counts[rows]}))
    table = pd.concat([obs.loc[~dropped, ["service", "level", "area_code", "count"]],
                       *added], ignore_index=True)
    table["count"] = table["count"].astype(np.int64)
    table = table.sort_values(["service", "level", "area_code"]).reset_index(drop=True)
    return AreaData(data.geography, data.covariates, data.exposure, table, data.services,
                    data.year, f"{data.source} with simulated {level} returns")
