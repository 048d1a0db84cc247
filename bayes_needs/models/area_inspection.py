"""The groups of a saved area fit that stock ArviZ reads: observations, predictions, LOO terms.

The PyMC graph keeps one observed variable per service and level
(:mod:`bayes_needs.models.area_likelihood`); a saved fit holds one variable per level, with
every service's observations stacked along one dim
(:func:`~bayes_needs.core.dims.level_observation_dim`, e.g. ``msoa_obs``) whose index
coordinate is the observation's service (sorted by service) and whose non-index coordinate
is the area's code (and, for LA totals, ``la_name``). So ``az.plot_ppc`` draws one panel per
level, ``coords={"msoa_obs": ["cin"]}`` picks one service, and no value is padded (ArviZ's
LOO turns a single NaN into a NaN elpd):

* ``observed_data`` and ``posterior_predictive``: ``obs_lsoa``, ``obs_msoa``, ``obs_la``;
* ``log_likelihood``: ``obs_msoa`` and ``obs_la`` per observation, and ``obs_lsoa`` per MSOA
  whose LSOA counts are split (dim :data:`~bayes_needs.core.dims.LSOA_SPLIT`). The split
  likelihood's per-LSOA terms are not densities of single counts (each MSOA's normalising
  term sits on its first LSOA), but their sum over an MSOA is the density of its LSOA counts
  given its total: a valid pointwise term for LOO. ``obs_lsoa`` therefore has no LOO-PIT
  (its observations are LSOAs); ``obs_msoa`` and ``obs_la`` do.

Pointwise groups hold at most :data:`~bayes_needs.core.defaults.SAVED_POINTWISE_DRAWS`
draws (thinned evenly). Every ``la`` dim carries ``la_name``, and the sampler's
reparameterisation variables move out of ``posterior``
(:data:`~bayes_needs.core.idata.INTERNAL_GROUP`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr
from scipy import sparse

from bayes_needs.core import defaults, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.data.geography import Level

if TYPE_CHECKING:
    from bayes_needs.models.area import AreaDemandModel

#: Observation levels of a saved fit, in order.
LEVELS: tuple[Level, ...] = (dims.LSOA, dims.MSOA, dims.LA)
#: What each saved log-likelihood variable is a density of (its ``description`` attribute).
LOG_LIKELIHOOD_DESCRIPTIONS: dict[str, str] = {
    dims.LSOA: "log density of each split MSOA's LSOA counts given its total (the LSOA "
               "split terms summed per MSOA); one value per MSOA and service",
    dims.MSOA: "log density of each MSOA total (MSOA effects integrated out)",
    dims.LA: "log density of each LA total (moment-matched negative binomial)",
}


def variable_name(level: str) -> str:
    """Name of the saved variable of ``level``'s observations (e.g. ``obs_msoa``)."""
    return f"obs_{level}"


def inspection_groups(model: AreaDemandModel, idata: az.InferenceData, *,
                      internal: tuple[str, ...], random_seed: int) -> az.InferenceData:
    """Return a fit laid out for stock ArviZ (see the module docstring).

    Parameters
    ----------
    model
        The area model the fit belongs to.
    idata
        Its fit, with every free variable in the posterior (or in the internal group).
    internal
        Posterior variables to move to :data:`~bayes_needs.core.idata.INTERNAL_GROUP`.
    random_seed
        Seed of the posterior predictive draws.

    Returns
    -------
    arviz.InferenceData
        A new InferenceData; ``idata`` is unchanged.
    """
    full = idata_io.with_internal(idata)
    pymc_model = model.built_model()
    pointwise = idata_io.thinned(full, defaults.SAVED_POINTWISE_DRAWS)
    log_lik = pm.compute_log_likelihood(pointwise, model=pymc_model, progressbar=False,
                                        extend_inferencedata=False)
    # PyMC logs the variables it samples at INFO; a saved fit always samples them all.
    forward_log = logging.getLogger("pymc.sampling.forward")
    level = forward_log.level
    forward_log.setLevel(logging.WARNING)
    try:
        predicted = idata_io.posterior_predictive(pm.sample_posterior_predictive(
            pointwise, model=pymc_model, random_seed=random_seed, progressbar=False,
            extend_inferencedata=False))
    finally:
        forward_log.setLevel(level)
    if predicted is None:
        raise ValueError("PyMC returned no posterior_predictive group")
    observed_data = xr.Dataset({rv.name: _observed(pymc_model, rv.name)
                                for rv in pymc_model.observed_RVs})
    groups = {
        "observed_data": _by_level(model, observed_data),
        "posterior_predictive": _by_level(model, predicted),
        "log_likelihood": _by_level(model, log_lik, split=True),
    }
    laid_out = idata_io.without_internal(idata_io.with_groups(full, **groups), internal)
    return idata_io.with_dim_labels(laid_out, dims.LA, dims.LA_NAME,
                                    model.data.geography.names(dims.LA))


def _observed(pymc_model: pm.Model, name: str) -> xr.DataArray:
    """Return the observed values of one variable of ``pymc_model``, with its dim."""
    (dim,) = pymc_model.named_vars_to_dims[name]
    values = np.asarray(pymc_model.rvs_to_values[pymc_model[name]].data)
    return xr.DataArray(values, dims=dim, coords={dim: list(pymc_model.coords[dim])})


def _by_level(model: AreaDemandModel, per_service: xr.Dataset, *,
              split: bool = False) -> xr.Dataset:
    """Stack the per-service variables of each level into one variable (module docstring)."""
    geo = model.data.geography
    out = {}
    for level in LEVELS:
        parts = []
        for service in model.services:
            name = f"obs_{level}_{service}"
            if name not in per_service:
                continue
            var = per_service[name]
            source = dims.observation_dim(service, level)
            if split and level == dims.LSOA:
                parts.append(_split_per_msoa(model, service, var, source))
                continue
            target = dims.level_observation_dim(level)
            codes = var[source].to_numpy()
            coords = {target: np.full(len(codes), service), level: (target, codes)}
            if level == dims.LA:
                names = geo.names(dims.LA)[geo.position(dims.LA, codes, what="LA code")]
                coords[dims.LA_NAME] = (target, names)
            parts.append(var.drop_vars(source, errors="ignore")
                         .rename({source: target}).assign_coords(coords))
        if parts:
            lsoa_split = split and level == dims.LSOA
            stacked = xr.concat(parts, dim=dims.LSOA_SPLIT if lsoa_split
                                else dims.level_observation_dim(level), coords="minimal",
                                compat="override")
            if split:
                stacked.attrs["description"] = LOG_LIKELIHOOD_DESCRIPTIONS[level]
            out[variable_name(level)] = stacked
    return xr.Dataset(out, attrs=per_service.attrs)


def _split_per_msoa(model: AreaDemandModel, service: str, var: xr.DataArray,
                    source: str) -> xr.DataArray:
    """Sum one service's LSOA split terms over each split MSOA's LSOAs."""
    obs = model.observations[service]
    n_split = len(obs.split_msoa_pos)
    cube = var.transpose(dims.CHAIN, dims.DRAW, source).to_numpy()
    onehot = sparse.csr_matrix((np.ones(len(obs.lsoa_group)),
                                (obs.lsoa_group, np.arange(len(obs.lsoa_group)))),
                               shape=(n_split, len(obs.lsoa_group)))
    summed = (onehot @ cube.reshape(-1, cube.shape[-1]).T).T.reshape(*cube.shape[:2], n_split)
    msoa_codes = model.data.geography.codes(dims.MSOA)[obs.split_msoa_pos]
    return xr.DataArray(summed, dims=(dims.CHAIN, dims.DRAW, dims.LSOA_SPLIT), coords={
        dims.CHAIN: var[dims.CHAIN].to_numpy(), dims.DRAW: var[dims.DRAW].to_numpy(),
        dims.LSOA_SPLIT: np.full(n_split, service), dims.SPLIT_MSOA: (dims.LSOA_SPLIT,
                                                                      msoa_codes)})
