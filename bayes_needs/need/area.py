"""Expected need per LA and service from an area-model fit, draw by draw.

Need is the expected demand of each LA given its characteristics. With ``standardise="la"``
(the default, needs-standardised) LA effects are marginalised with the lognormal mean
correction ``exp(sigma_la^2 / 2)`` — funding follows expected need given an area's
characteristics, not an LA's own practice — while small-area effects, which reflect
unmeasured local need, are kept. ``"none"`` keeps LA effects (actual-style expected demand);
``"all"`` marginalises small-area effects too (purely covariate-driven need).

Small-area effects are posterior draws, by the one generative model
(:mod:`bayes_needs.simulate.generative`): exact gamma-Poisson for MSOAs with their own counts;
for an LA's other MSOAs, their rate-weighted mean effect is gamma with the moment-matched
shape of the LA-total likelihood, updated by the LA total where there is one and a prior
draw where there is none, so the need interval includes what the data cannot pin down.
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import xarray as xr

from bayes_needs.config.models import Standardisation, check_standardisation
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.simulate import generative


@dataclass
class _Draws:
    """Posterior draws of the area model flattened over (chain, draw)."""

    n_chain: int
    n_draw: int
    intercept: np.ndarray  # (sample, service)
    beta: np.ndarray | None  # (sample, service, covariate)
    la_effect: np.ndarray  # (sample, la, service)
    sigma_la: np.ndarray  # (sample, service)
    msoa_shape: np.ndarray | None  # (sample, service): 1 / msoa_cv^2


def _draws(model: AreaDemandModel, post: xr.Dataset) -> _Draws:
    n_chain, n_draw = post.sizes[dims.CHAIN], post.sizes[dims.DRAW]
    n_sample, n_service = n_chain * n_draw, len(model.services)
    n_la = model.data.geography.n_la

    def flat(name: str, trailing: list[str]) -> np.ndarray:
        values = post[name].transpose(dims.CHAIN, dims.DRAW, *trailing).to_numpy()
        return values.reshape(n_sample, *values.shape[2:])

    cfg = model.config
    intercept = flat("intercept", [dims.SERVICE])
    beta = flat("beta", [dims.SERVICE, dims.COVARIATE]) if model.covariate_names else None
    if cfg.la_effects:
        la_effect = flat("la_effect", [dims.LA, dims.SERVICE])
        sigma_la = flat("sigma_la", [dims.SERVICE])
    else:
        la_effect = np.zeros((n_sample, n_la, n_service))
        sigma_la = np.zeros((n_sample, n_service))
    shape = 1.0 / flat("msoa_cv", [dims.SERVICE]) ** 2 if cfg.msoa_effects else None
    return _Draws(n_chain, n_draw, intercept, beta, la_effect, sigma_la, shape)


@dataclass
class _Observed:
    """Which MSOAs and LAs have their own counts, per service, and those counts."""

    msoa_mask: np.ndarray  # (service, msoa) bool
    msoa_total: np.ndarray  # (service, msoa)
    la_mask: np.ndarray  # (service, la) bool
    la_total: np.ndarray  # (service, la)


def _observed(model: AreaDemandModel) -> _Observed:
    geo, n_service = model.data.geography, len(model.services)
    observed = _Observed(np.zeros((n_service, geo.n_msoa), bool),
                         np.zeros((n_service, geo.n_msoa)),
                         np.zeros((n_service, geo.n_la), bool), np.zeros((n_service, geo.n_la)))
    for j, service in enumerate(model.services):
        obs = model.observations[service]
        observed.msoa_mask[j, obs.msoa_pos] = True
        observed.msoa_total[j, obs.msoa_pos] = obs.msoa_count
        observed.la_mask[j, obs.la_pos] = True
        observed.la_total[j, obs.la_pos] = obs.la_count
    return observed


def expected_need(model: AreaDemandModel, idata: az.InferenceData, *, random_seed: int,
                  standardise: Standardisation = "la", chunk_size: int = 64) -> xr.Dataset:
    """Draw expected demand per LA and service from the posterior of an area-model fit.

    Parameters
    ----------
    model
        The :class:`~bayes_needs.models.area.AreaDemandModel` that was fitted.
    idata
        Its fit.
    random_seed
        Seed for the posterior draws of MSOA effects and predictive counts.
    standardise
        ``"la"`` (default), ``"none"`` or ``"all"`` (see the module docstring).
    chunk_size
        Posterior draws processed at once (bounds memory at national scale).

    Returns
    -------
    xarray.Dataset
        ``need`` and ``fitted`` with dims (chain, draw, la, service). ``fitted`` is the
        posterior predictive count with LA effects, including count noise; ``observed`` holds
        the LA totals of the data and ``exposure`` each LA's child population.
    """
    check_standardisation(standardise)
    post = idata_io.posterior(idata)
    geo, data = model.data.geography, model.data
    draws = _draws(model, post)
    n_sample, n_service = draws.n_chain * draws.n_draw, len(model.services)
    observed = _observed(model)
    observed_mask, observed_total = observed.msoa_mask, observed.msoa_total
    la_observed, la_total = observed.la_mask, observed.la_total
    unobserved = ~observed_mask

    rng = np.random.default_rng(random_seed)
    need = np.empty((n_sample, geo.n_la, n_service))
    fitted = np.empty_like(need)
    for start in range(0, n_sample, chunk_size):
        sl = slice(start, min(start + chunk_size, n_sample))
        eta = draws.intercept[sl, None, :]
        if draws.beta is not None:
            eta = eta + np.einsum("lk,bsk->bls", model.z, draws.beta[sl])
        fixed = data.exposure[None, :, None] * np.exp(eta)                # (b, lsoa, s)
        msoa_fixed = geo.aggregate(fixed.transpose(0, 2, 1), dims.LSOA, dims.MSOA)
        la_mult = np.exp(draws.la_effect[sl].transpose(0, 2, 1))           # (b, s, la)
        # Split each LA into MSOAs with their own counts and the rest.
        rest, rest_sq = generative.rest_moments(msoa_fixed, unobserved, geo)
        if draws.msoa_shape is None:
            own = geo.aggregate(msoa_fixed * observed_mask, dims.MSOA, dims.LA)
            rest_effect = np.ones_like(rest)
        else:
            a = draws.msoa_shape[sl][:, :, None]
            # MSOAs with counts: exact gamma-Poisson posterior of their effect.
            g_post = generative.gamma_posterior(
                a, observed_total[None],
                observed_mask[None] * la_mult[:, :, geo.msoa_to_la] * msoa_fixed, rng)
            own = geo.aggregate(g_post * msoa_fixed * observed_mask, dims.MSOA, dims.LA)
            # The rest: the rate-weighted mean of their effects, gamma with the
            # moment-matched shape the LA-total likelihood uses, updated by the LA total
            # where there is one (conjugate) and drawn from its prior otherwise.
            rest_shape = generative.moment_matched_shape(a, rest, rest_sq)
            rest_effect = generative.gamma_posterior(
                rest_shape, la_observed[None] * la_total[None],
                la_observed[None] * la_mult * rest, rng)
        small_area = own + rest_effect * rest                              # (b, s, la)
        contribution = generative.need_from_small_area(
            small_area, standardise, sigma_la=draws.sigma_la[sl][:, :, None],
            la_multiplier=la_mult,
            covariate_only=(geo.aggregate(msoa_fixed, dims.MSOA, dims.LA)
                            if standardise == "all" else None))
        need[sl] = contribution.transpose(0, 2, 1)
        fitted[sl] = rng.poisson(small_area * la_mult).transpose(0, 2, 1)

    shape4 = (draws.n_chain, draws.n_draw, geo.n_la, n_service)
    coords = {dims.CHAIN: post[dims.CHAIN].values, dims.DRAW: post[dims.DRAW].values,
              **geo.coords(dims.LA), dims.SERVICE: list(model.services)}
    dim_names = (dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)
    out = xr.Dataset(
        {"need": (dim_names, need.reshape(shape4)),
         "fitted": (dim_names, fitted.reshape(shape4))}, coords=coords)
    out["observed"] = (dims.LA, dims.SERVICE), data.la_totals().to_numpy()
    out["exposure"] = (dims.LA,), geo.aggregate(data.exposure, dims.LSOA, dims.LA)
    out.attrs.update({"standardise": standardise, "random_seed": random_seed,
                      "data_hash": data.data_hash()})
    return out
