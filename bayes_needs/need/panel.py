"""Panel-model posterior -> LA effects, dynamics, forecasts and expected need.

For each posterior draw, the persistent LA effects ``u`` and the LA-year deviations ``d``
that :mod:`bayes_needs.models.panel_likelihood` integrated out are drawn from their exact
Gaussian conditional given the observed log rates. Forecasts continue ``d`` (AR(1)) and the
national levels (random walk) with :mod:`bayes_needs.simulate.panel`; counts scatter with the
fitted count dispersion (Poisson without ``count_noise``).

**Need versus policy.** Expected need in a forecast year is the forecast rate with the
policy part of the persistent LA effect removed::

    need = E * exp(level + needs indicators + contextual + (1 - pi) u + d)

``pi`` is the policy share: a draw from the ``policy_share`` prior per posterior draw
(``standardise = "policy_share"``), 1 (``"la"``: every LA residual is policy) or 0
(``"none"``). The needs indicators and the contextual term always count as need, and the
forecast deviation ``d`` (a transient departure) is kept.
"""

from __future__ import annotations

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.models.panel import PanelDemandModel
from bayes_needs.models.panel_states import conditional_draws
from bayes_needs.simulate.panel import (
    ar1_forward,
    ar1_variance,
    count_innovation_variance,
    dispersed_counts,
    needs_terms,
    random_walk_forward,
    volatility_path,
)

#: Standardisations the panel model accepts.
PANEL_STANDARDISATIONS: tuple[str, ...] = ("policy_share", "la", "none")
#: Components of the need decomposition (log-rate terms per LA and service).
COMPONENTS: tuple[str, ...] = ("needs_indicators", "contextual", "la_residual_kept",
                               "la_residual_removed")


def _flat(post: xr.Dataset, name: str, trailing: list[str]) -> np.ndarray:
    return post[name].transpose(dims.CHAIN, dims.DRAW, *trailing).values.reshape(
        -1, *[post.sizes[d] for d in trailing])


def innovation_sd(post: xr.Dataset, n_la: int) -> np.ndarray:
    """``(sample, la, service)`` innovation sds of the last fitted year (per LA if modelled)."""
    if "sigma_ar_la" in post:
        return _flat(post, "sigma_ar_la", [dims.LA, dims.SERVICE])
    common = _flat(post, "sigma_ar", [dims.SERVICE])
    return np.repeat(common[:, None, :], n_la, axis=1)


def volatility_trend(post: xr.Dataset, n_services: int) -> np.ndarray:
    """``(sample, service)`` per-year change of the log innovation sds (0 if not modelled)."""
    if "volatility_trend" in post:
        return _flat(post, "volatility_trend", [dims.SERVICE])
    return np.zeros((post.sizes[dims.CHAIN] * post.sizes[dims.DRAW], n_services))


def count_noise(post: xr.Dataset, n_services: int) -> tuple[np.ndarray, np.ndarray]:
    """``(sample, service)`` count dispersion and innovation per count (1 and 0 if not modelled)."""
    n_sample = post.sizes[dims.CHAIN] * post.sizes[dims.DRAW]
    dispersion = _flat(post, "count_dispersion", [dims.SERVICE]) \
        if "count_dispersion" in post else np.ones((n_sample, n_services))
    per_count = _flat(post, "count_innovation", [dims.SERVICE]) \
        if "count_innovation" in post else np.zeros((n_sample, n_services))
    return dispersion, per_count


def latent_states(model: PanelDemandModel, idata: az.InferenceData, *, random_seed: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Draw the LA effects and deviations from their conditional, per posterior draw.

    Parameters
    ----------
    model
        The fitted panel model.
    idata
        Its fit.
    random_seed
        Seed of the conditional draws.

    Returns
    -------
    indicators, context, la_effect, deviation
        ``(sample, la, service)`` needs and contextual terms and LA effects, and
        ``(sample, la, year, service)`` deviations over the fitted years.
    """
    post = idata_io.posterior(idata)
    inp = model.inputs
    n_la, n_services, n_years = model.data.geography.n_la, len(model.services), \
        len(model.years)
    n_sample = post.sizes[dims.CHAIN] * post.sizes[dims.DRAW]
    if model.indicator_names:
        beta = _flat(post, "beta", [dims.SERVICE, dims.COVARIATE])
        contextual = _flat(post, "beta_contextual", [dims.SERVICE, dims.COVARIATE]) \
            if "beta_contextual" in post else None
        indicators, context = needs_terms(beta, contextual, inp.point_z, inp.point_share,
                                          inp.point_la, inp.la_mean, n_la)
    else:
        indicators = context = np.zeros((n_sample, n_la, n_services))
    level = _flat(post, "national_level", [dims.SERVICE, dims.YEAR])
    rho = _flat(post, "rho", [dims.SERVICE])
    trend = volatility_trend(post, n_services)
    dispersion, per_count = count_noise(post, n_services)
    mean = (indicators + context)[:, :, :, None] + level[:, None]  # (b, la, s, t)
    extra = count_innovation_variance(per_count[:, None, :, None],
                                      inp.log_exposure[None, :, None] + mean)
    sigma_path = volatility_path(innovation_sd(post, n_la), trend[:, None, :],
                                 np.asarray(model.years, dtype=float) - model.years[-1],
                                 extra if "count_innovation" in post else None)
    variance = ar1_variance(rho[:, None, :], sigma_path)          # (b, la, s, t)
    sigma_u = _flat(post, "sigma_la", [dims.SERVICE])
    corr = _flat(post, "la_correlation_matrix", [dims.SERVICE, dims.SERVICE_B]) \
        if "la_correlation_matrix" in post else np.eye(n_services)[None]
    omega = sigma_u[:, :, None] * corr * sigma_u[:, None, :]
    h = inp.precision                                              # (la, s, t)
    resid = np.where(h[None] > 0, inp.log_rate[None] - mean, 0.0)
    rng = np.random.default_rng(random_seed)
    la_effect, deviation = conditional_draws(
        np.ascontiguousarray(resid), np.ascontiguousarray(h),
        np.ascontiguousarray(dispersion), np.ascontiguousarray(variance),
        np.ascontiguousarray(rho), np.ascontiguousarray(omega),
        rng.standard_normal((n_sample, n_la, n_services)),
        rng.standard_normal((n_sample, n_la, n_services, n_years)))
    deviation = np.swapaxes(deviation, 2, 3)                       # (b, la, t, s)
    return indicators, context, la_effect, deviation


def policy_share_draws(model: PanelDemandModel, standardise: str, n_sample: int,
                       random_seed: int) -> np.ndarray:
    """Draw the policy share per posterior draw (see the module docstring)."""
    if standardise not in PANEL_STANDARDISATIONS:
        raise ConfigError(f"need.standardise must be one of {list(PANEL_STANDARDISATIONS)} "
                          f"for the panel model, got {standardise!r}")
    if standardise == "la":
        return np.ones(n_sample)
    if standardise == "none":
        return np.zeros(n_sample)
    prior = model.priors["policy_share"]
    dist = getattr(pm, prior.distribution).dist(**prior.parameters)
    draws = np.asarray(pm.draw(dist, draws=n_sample, random_seed=random_seed), dtype=float)
    if not np.all((draws >= 0) & (draws <= 1)):
        raise ConfigError(f"the policy_share prior must lie in [0, 1]; "
                          f"{prior.distribution} gives values outside it")
    return draws.reshape(n_sample)


def expected_need(model: PanelDemandModel, idata: az.InferenceData, *, random_seed: int,
                  horizon: int = 1, standardise: str = "policy_share") -> xr.Dataset:
    """Forecast the years after the last data year and draw expected need in them.

    Parameters
    ----------
    model
        The fitted :class:`~bayes_needs.models.panel.PanelDemandModel`.
    idata
        Its fit.
    random_seed
        Seed of the latent-state draws, forecasts, counts and policy shares.
    horizon
        Years ahead (``T+1 .. T+horizon``); the panel must hold their exposure (see
        :meth:`~bayes_needs.data.panel.PanelData.extend_exposure`).
    standardise
        ``"policy_share"`` (default), ``"la"`` or ``"none"``.

    Returns
    -------
    xarray.Dataset
        Dims (chain, draw, la, year, service) over the forecast years: ``need`` (expected
        need), ``fitted`` (predictive counts: the forecast with every LA effect),
        ``log_rate`` (forecast log rate per child); ``observed`` (la, year, service) counts
        where the panel has them; ``exposure`` (la, year) the child population;
        ``policy_share`` (chain, draw); and per (chain, draw, la, service) the decomposition
        terms :data:`COMPONENTS` of the last forecast year.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError(f"horizon must be a whole number >= 1, got {horizon!r}")
    post = idata_io.posterior(idata)
    n_chain, n_draw = post.sizes[dims.CHAIN], post.sizes[dims.DRAW]
    n_sample = n_chain * n_draw
    last = model.years[-1]
    years = [last + h for h in range(1, horizon + 1)]
    missing = [y for y in years if y not in model.data.years]
    if missing:
        raise ConfigError(f"no exposure (child population) for forecast year(s) {missing}; "
                          f"the panel has years {model.data.years[0]}-{model.data.years[-1]}")
    seeds = np.random.SeedSequence(random_seed).spawn(3)
    indicators, context, la_effect, deviation = latent_states(
        model, idata, random_seed=int(seeds[0].generate_state(1)[0]))
    rng = np.random.default_rng(seeds[1])
    level = _flat(post, "national_level", [dims.SERVICE, dims.YEAR])[:, :, -1]
    future_level = random_walk_forward(level, _flat(post, "sigma_year", [dims.SERVICE]),
                                       horizon, rng)                        # (b, h, s)
    exposure = model.data.exposure[years].to_numpy(dtype=float)             # (la, h)
    expected = (indicators + context)[:, :, None, :] + future_level[:, None]  # (b, la, h, s)
    dispersion, per_count = count_noise(post, len(model.services))
    future_dev = ar1_forward(deviation[:, :, -1, :],
                             _flat(post, "rho", [dims.SERVICE])[:, None, :],
                             innovation_sd(post, model.data.geography.n_la), horizon,
                             rng, growth=np.exp(volatility_trend(post, len(model.services))
                                                )[:, None, :],
                             extra_var=count_innovation_variance(
                                 per_count[:, None, None, :],
                                 np.log(exposure)[None, :, :, None] + expected)
                             if "count_innovation" in post else None)  # (b, la, h, s)
    share = policy_share_draws(model, standardise, n_sample,
                               int(seeds[2].generate_state(1)[0]))
    base = expected + future_dev
    log_rate = base + la_effect[:, :, None, :]
    need_rate = base + ((1.0 - share)[:, None, None] * la_effect)[:, :, None, :]
    need = exposure[None, :, :, None] * np.exp(need_rate)
    fitted = dispersed_counts(rng, exposure[None, :, :, None] * np.exp(log_rate),
                              dispersion[:, None, None, :] if "count_dispersion" in post
                              else None)

    def frame(values: np.ndarray, trailing: tuple[str, ...]) -> xr.DataArray:
        return xr.DataArray(values.reshape(n_chain, n_draw, *values.shape[1:]),
                            dims=(dims.CHAIN, dims.DRAW, *trailing))

    lys = (dims.LA, dims.YEAR, dims.SERVICE)
    counts = model.data.counts_array(model.services)
    index = [model.data.years.index(y) for y in years]
    out = xr.Dataset(
        {"need": frame(need, lys), "fitted": frame(fitted, lys),
         "log_rate": frame(log_rate, lys),
         "observed": xr.DataArray(counts[:, index, :], dims=lys),
         "exposure": xr.DataArray(exposure, dims=(dims.LA, dims.YEAR)),
         "policy_share": frame(share, ()),
         "needs_indicators": frame(indicators, (dims.LA, dims.SERVICE)),
         "contextual": frame(context, (dims.LA, dims.SERVICE)),
         "la_residual_kept": frame((1.0 - share)[:, None, None] * la_effect,
                                   (dims.LA, dims.SERVICE)),
         "la_residual_removed": frame(share[:, None, None] * la_effect,
                                      (dims.LA, dims.SERVICE))},
        coords={dims.CHAIN: post[dims.CHAIN].values, dims.DRAW: post[dims.DRAW].values,
                dims.LA: list(model.data.la_codes), dims.YEAR: years,
                dims.SERVICE: list(model.services)})
    out.attrs.update(standardise=standardise, allocation_year=years[-1],
                     last_data_year=last)
    return out


def forecast(model: PanelDemandModel, idata: az.InferenceData, *, horizon: int = 1,
             random_seed: int) -> xr.Dataset:
    """Predictive count draws ``count`` (chain, draw, la, year, service) for the next years."""
    need = expected_need(model, idata, random_seed=random_seed, horizon=horizon,
                         standardise="none")
    return xr.Dataset({"count": need["fitted"], "log_rate": need["log_rate"]})
