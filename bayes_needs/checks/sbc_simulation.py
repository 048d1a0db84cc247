"""The SBC simulator: prior draws through the area model and counts from its likelihood.

For one replicate of :mod:`bayes_needs.checks.sbc`:

1. draw every parameter from the priors *through the model itself* (the model built on a
   fixed synthetic geography and observation layout, :func:`draw_prior`), so priors are
   resolved exactly as in a real fit;
2. simulate counts with the numpy forward model :mod:`bayes_needs.simulate.generative`
   following the model's likelihood (:func:`simulate_counts`): mean-one gamma MSOA effects
   and Poisson MSOA totals (exactly the marginal negative binomial of the model), a
   Dirichlet-multinomial (or multinomial) split of those totals over LSOAs where an LA
   reports LSOAs, and LA totals from the model's *moment-matched* negative binomial where an
   LA only reports totals (drawn as Poisson given a gamma mean effect of the LA's MSOAs,
   which the true need also uses). The LA likelihood is an approximation to a sum of MSOA
   negative binomials; simulating from it makes SBC test the inference, not that
   approximation (which the recovery test covers).

The "true" need of a replicate (:func:`true_need`) follows the formula of
:func:`bayes_needs.need.area.expected_need`: with ``standardise="la"`` (the default) the true
gamma effects of MSOAs with their own counts and, for each LA's other MSOAs, their true
rate-weighted mean effect (the gamma variable its LA total was drawn with); ``"all"``
ignores MSOA effects, ``"none"`` also keeps the LA effects. The posterior of that quantity is
exactly what ``expected_need`` draws, so its ranks are uniform if the fit is calibrated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr

from bayes_needs.checks.sbc import TRACKED_PARAMETERS, SBCSettings
from bayes_needs.config.models import Standardisation
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.data.area import AreaData
from bayes_needs.data.geography import Level
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.area_observations import service_observations
from bayes_needs.simulate import generative
from bayes_needs.simulate.area import generate_area

__all__ = ["SimulatedCounts", "draw_prior", "fixed_rates", "observed_msoa_mask",
           "simulate_counts", "template_model", "true_need"]


def template_model(settings: SBCSettings) -> AreaDemandModel:
    """Build the model on the fixed synthetic geography and observation layout.

    Parameters
    ----------
    settings
        Scale, services, data seed, covariates, model options and priors.

    Returns
    -------
    AreaDemandModel
        The model every replicate draws its prior from and refits (with new counts).
    """
    data = generate_area(settings.scale, random_seed=settings.data_seed,
                         services=settings.services).data
    config = {**settings.model, "covariates": list(settings.covariates)}
    return AreaDemandModel(data, config, priors=settings.priors)


def draw_prior(model: AreaDemandModel, random_seed: int) -> dict[str, xr.DataArray]:
    """Draw the model's parameters and LA effects once, jointly, from its priors.

    Parameters
    ----------
    model
        The model (built here if it has not been).
    random_seed
        Seed of the prior draw.

    Returns
    -------
    dict of str to xarray.DataArray
        The tracked parameters present in the model and ``la_effect``, without chain/draw
        dims.
    """
    pm_model = model.model or model.build_model()
    names = [v for v in (*TRACKED_PARAMETERS, "la_effect") if v in pm_model.named_vars]
    prior = idata_io.prior(pm.sample_prior_predictive(draws=1, model=pm_model,
                                                      var_names=names, random_seed=random_seed))
    if prior is None:  # PyMC always returns the group; this keeps the type narrow
        raise RuntimeError("pymc.sample_prior_predictive returned no prior group")
    return {name: prior[name].isel({dims.CHAIN: 0, dims.DRAW: 0}, drop=True)
            for name in names}


def observed_msoa_mask(data: AreaData) -> np.ndarray:
    """Mark the MSOAs with their own counts (MSOA or LSOA level), per service.

    They are the MSOAs the area model's MSOA likelihood sees
    (:func:`bayes_needs.models.area_observations.service_observations`): areas without
    children are left out.

    Parameters
    ----------
    data
        Area data.

    Returns
    -------
    numpy.ndarray
        (service, msoa) boolean mask.
    """
    mask = np.zeros((len(data.services), data.geography.n_msoa), dtype=bool)
    for j, service in enumerate(data.services):
        mask[j, service_observations(data, service).msoa_pos] = True
    return mask


class SimulatedCounts(NamedTuple):
    """One simulated data set (arrays are (unit, service) in canonical geography order).

    Attributes
    ----------
    observations
        Like ``AreaData.observations`` (the template's layout) with simulated counts.
    msoa_effect
        True mean-one gamma MSOA effects (all ones when the model has no MSOA effects); used
        for MSOAs with their own counts.
    rest_effect
        (la, service) true rate-weighted mean effect of each LA's MSOAs without their own
        counts: gamma with the moment-matched shape, the quantity LA totals are drawn from
        and :func:`bayes_needs.need.area.expected_need` draws.
    lsoa_count, msoa_total, la_total
        Simulated counts of every unit: LSOA splits of the MSOA totals, MSOA totals, and LA
        totals from the moment-matched negative binomial. Only the units in
        ``observations`` are used.
    """

    observations: pd.DataFrame
    msoa_effect: np.ndarray
    rest_effect: np.ndarray
    lsoa_count: np.ndarray
    msoa_total: np.ndarray
    la_total: np.ndarray


def fixed_rates(model: AreaDemandModel, params: Mapping[str, xr.DataArray]) -> np.ndarray:
    """Compute the fixed-part rates ``lambda`` of a parameter draw.

    Parameters
    ----------
    model
        The model (its exposure and standardised covariates).
    params
        ``intercept`` and, when the model has covariates, ``beta``.

    Returns
    -------
    numpy.ndarray
        (lsoa, service) :func:`bayes_needs.simulate.generative.area_rates`.
    """
    beta = params["beta"].transpose(dims.SERVICE, dims.COVARIATE).to_numpy() \
        if model.covariate_names else np.zeros((len(model.services), 0))
    return generative.area_rates(model.data.exposure, params["intercept"].to_numpy(),
                                 model.z, beta)


def _la_multiplier(model: AreaDemandModel, params: Mapping[str, xr.DataArray]) -> np.ndarray:
    """Return the (service, la) LA effect multipliers ``exp(u)`` (ones without LA effects)."""
    if "la_effect" not in params:
        return np.ones((len(model.services), model.data.geography.n_la))
    return np.exp(params["la_effect"].transpose(dims.SERVICE, dims.LA).to_numpy())


def simulate_counts(model: AreaDemandModel, params: Mapping[str, xr.DataArray],
                    random_seed: int) -> SimulatedCounts:
    """Simulate counts at the observation layout of ``model.data`` for a parameter draw.

    The counts follow the model's likelihood (see the module docstring), drawn with
    :func:`bayes_needs.simulate.generative.simulate_service` per service (MSOA effects, MSOA
    totals, LSOA split) and then :func:`bayes_needs.simulate.generative.la_totals`.

    Parameters
    ----------
    model
        The template model (its data fix the layout, its config the likelihood).
    params
        A prior draw (:func:`draw_prior`).
    random_seed
        Seed of the simulation.

    Returns
    -------
    SimulatedCounts
    """
    data, cfg = model.data, model.config
    geo = data.geography
    rng = np.random.default_rng(random_seed)
    rates = fixed_rates(model, params)  # (lsoa, service)
    msoa_rate = geo.aggregate(rates.T, dims.LSOA, dims.MSOA)  # (service, msoa)
    la_mult = _la_multiplier(model, params)  # (service, la)
    shape = 1.0 / params["msoa_cv"].to_numpy() ** 2 if cfg.msoa_effects else None

    per_service = []
    for j in range(len(model.services)):
        dispersion = None
        if cfg.family == "negbin":
            dispersion = float(params["lsoa_dispersion"][j]) \
                if "lsoa_dispersion" in params else 1.0
        per_service.append(generative.simulate_service(
            rates[:, j], msoa_rate[j], la_mult[j, geo.msoa_to_la], geo.lsoa_to_msoa, rng,
            msoa_shape=None if shape is None else float(shape[j]), dispersion=dispersion))
    msoa_effect = np.stack([s.msoa_effect for s in per_service])  # (service, msoa)

    # LA totals: the LA-total likelihood's moment-matched negative binomial, drawn as
    # Poisson given the mean effect of the LA's MSOAs without own counts (in an LA that only
    # reports totals, that is all of them).
    observed = observed_msoa_mask(data)
    rest, rest_sq = generative.rest_moments(msoa_rate, ~observed, geo)
    own = geo.aggregate(msoa_effect * msoa_rate * observed, dims.MSOA, dims.LA)
    rest_shape = None if shape is None else \
        generative.moment_matched_shape(shape[:, None], rest, rest_sq)
    rest_effect, la_total = generative.la_totals(own, rest, rest_shape, la_mult, rng)

    lsoa_count = np.stack([s.lsoa_count for s in per_service], axis=1)
    msoa_total = np.stack([s.msoa_total for s in per_service], axis=1)
    obs = data.observations.copy()
    by_level: dict[Level, np.ndarray] = {dims.LSOA: lsoa_count, dims.MSOA: msoa_total,
                                         dims.LA: la_total.T}
    counts = np.zeros(len(obs), dtype=np.int64)
    for j, service in enumerate(model.services):
        for level, values in by_level.items():
            rows = np.flatnonzero((obs["service"].to_numpy() == service)
                                  & (obs["level"].to_numpy() == level))
            pos = geo.position(level, obs["area_code"].to_numpy()[rows])
            counts[rows] = values[pos, j]
    obs["count"] = counts
    return SimulatedCounts(obs, msoa_effect.T, rest_effect.T, lsoa_count, msoa_total,
                           la_total.T)


def true_need(model: AreaDemandModel, params: Mapping[str, xr.DataArray],
              simulated: SimulatedCounts, standardise: Standardisation) -> np.ndarray:
    """Compute the needs of a prior draw by the formula of ``expected_need``.

    True gamma effects of MSOAs with their own counts plus, for each LA's other MSOAs, their
    true mean effect (see the module docstring), combined by
    :func:`bayes_needs.simulate.generative.need_from_small_area`.

    Parameters
    ----------
    model
        The template model.
    params
        The prior draw the counts were simulated from.
    simulated
        Its simulation (:func:`simulate_counts`).
    standardise
        ``"la"``, ``"none"`` or ``"all"``.

    Returns
    -------
    numpy.ndarray
        (la, service) need.
    """
    geo = model.data.geography
    msoa_rate = geo.aggregate(fixed_rates(model, params).T, dims.LSOA, dims.MSOA)
    observed = observed_msoa_mask(model.data)
    own = geo.aggregate(simulated.msoa_effect.T * msoa_rate * observed, dims.MSOA, dims.LA)
    rest, _ = generative.rest_moments(msoa_rate, ~observed, geo)
    small_area = own + simulated.rest_effect.T * rest
    sigma = params["sigma_la"].to_numpy() if model.config.la_effects \
        else np.zeros(len(model.services))
    need = generative.need_from_small_area(
        small_area, standardise, sigma_la=sigma[:, None],
        la_multiplier=_la_multiplier(model, params),
        covariate_only=geo.aggregate(msoa_rate, dims.MSOA, dims.LA))
    return need.T
