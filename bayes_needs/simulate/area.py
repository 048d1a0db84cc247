"""A seeded synthetic England that returns its own truth.

:func:`generate_area` simulates area counts for each service from a known hierarchical
model on a synthetic geography (:func:`bayes_needs.simulate.geography.generate_geography`),
hides some of them behind LA/MSOA aggregation (or not at all) the way published statistics
do, and returns the data together with every parameter used (:attr:`SyntheticArea.truth`).
Child-level records consistent with the same truth come from
:func:`bayes_needs.simulate.person.generate_persons`.

Generative process (per service ``s``; ``z`` = :func:`bayes_needs.data.covariates.standardise`
of the LSOA covariates ``idaci, imd``; ``E_i`` = child population); the draws are those of
:mod:`bayes_needs.simulate.generative`::

    lambda_i        = E_i * exp(intercept_s + z_i @ beta_s)
    la_effect[la]   ~ MvNormal(0, diag(sigma_la) R diag(sigma_la)),  R_jk = 0.5 (j != k)
    msoa_effect[m]  ~ Gamma(shape=1/msoa_cv**2, rate=1/msoa_cv**2)          (mean one)
    Y_m             ~ Poisson(msoa_effect[m] * exp(la_effect[la(m)]) * Lambda_m),
                      Lambda_m = sum_{i in m} lambda_i
    p_{i in m}      ~ Dirichlet(lambda_i / lsoa_dispersion_s)   (family "negbin")
                    = lambda_i / Lambda_m                        (family "poisson")
    y_{i in m}      ~ Multinomial(Y_m, p)

``intercept_s`` is solved analytically so the expected national rate per 10,000 children hits
:data:`SERVICE_PARAMETERS` ``rate_per_10k`` (allowing for ``E[exp(u)] = exp(sigma_la**2/2)``);
``beta_s`` is a fixed direction (mostly IDACI) scaled numerically so the rate ratio between
the most and least deprived IDACI deciles of LSOAs, in the fixed part, hits ``rate_ratio``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy.optimize import brentq

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.data.area import AreaData
from bayes_needs.data.covariates import standardise
from bayes_needs.data.geography import Geography
from bayes_needs.data.spend import SpendData, UnitCosts
from bayes_needs.simulate import generative, streams
from bayes_needs.simulate.geography import (
    COVARIATES,
    EXPOSURE_COLUMN,
    Scale,
    generate_geography,
)

__all__ = ["DEFAULT_OBSERVATION_MIX", "SERVICE_PARAMETERS", "SyntheticArea", "generate_area"]

Family = Literal["negbin", "poisson"]

#: Name of the second service dim of ``truth["la_corr"]``.
SERVICE_B = dims.SERVICE_B
#: Off-diagonal correlation of the LA effects between services.
LA_EFFECT_CORRELATION = 0.5
#: Default share of LA x service cells observed at each level.
DEFAULT_OBSERVATION_MIX: Mapping[str, float] = {
    dims.LSOA: 0.25, dims.MSOA: 0.25, dims.LA: 0.45, dims.NONE: 0.05}

#: Per-service truth. ``rate_per_10k``: expected national rate per 10,000 children (for
#: ``cla_weeks``, weeks in care in the year). ``rate_ratio``: most / least deprived IDACI decile.
#: ``unit_cost``: £ per unit of activity (referral and assessment; CIN case-year; CPP-year; a
#: looked-after child costs nothing by itself because the cost is carried by its weeks in
#: care; CLA week). ``spend_category``: the spend line the activity is paid from.
SERVICE_PARAMETERS = pd.DataFrame(
    {
        "rate_per_10k": [530.0, 330.0, 41.0, 70.0, 3400.0],
        "rate_ratio": [3.5, 5.0, 6.0, 10.0, 10.0],
        "sigma_la": [0.20, 0.22, 0.30, 0.25, 0.27],
        "msoa_cv": [0.15, 0.18, 0.22, 0.20, 0.22],
        "lsoa_dispersion": [0.5, 0.5, 0.5, 0.5, 30.0],
        "unit_cost": [1500.0, 3000.0, 5000.0, 0.0, 1000.0],
        "spend_category": ["safeguarding", "safeguarding", "safeguarding", "looked_after",
                           "looked_after"],
    },
    index=pd.Index(dims.SERVICES, name=dims.SERVICE),
)
#: Direction of ``beta`` in (idaci, imd) z-units; its length is calibrated per service.
BETA_DIRECTION = np.array([1.0, 0.2])
#: Sd of the log LA price/efficiency factor and of the log spend noise per LA x category.
PRICE_FACTOR_SD = 0.15
SPEND_NOISE_SD = 0.05


@dataclass(frozen=True, eq=False)
class SyntheticArea:
    """Synthetic area data with the truth that generated it.

    Attributes
    ----------
    data
        Validated :class:`~bayes_needs.data.area.AreaData` (counts at the observation levels).
    truth
        Every parameter and latent quantity; see :func:`generate_area`.
    spend
        LA spend per category with activity volumes (:class:`~bayes_needs.data.spend.SpendData`).
    """

    data: AreaData
    truth: xr.Dataset
    spend: SpendData

    def unit_costs(self, sd_log: float = 0.2) -> UnitCosts:
        """Return the true unit costs as a :class:`~bayes_needs.data.spend.UnitCosts` table.

        Services with zero unit cost (``cla``: its cost is carried by ``cla_weeks``) are left
        out because a unit-cost table needs positive costs.
        """
        cost = self.truth["unit_cost"].to_series()
        cost = cost[cost > 0]
        return UnitCosts.from_frame(pd.DataFrame({
            "activity": cost.index.astype(str), "unit_cost": cost.to_numpy(),
            "sd_log": float(sd_log), "price_base": "synthetic"}), source="synthetic unit costs")


def _calibrate_beta(z: np.ndarray, idaci: np.ndarray, exposure: np.ndarray,
                    rate_ratio: float) -> np.ndarray:
    """Scale :data:`BETA_DIRECTION` to give the target top/bottom decile rate ratio."""
    decile = pd.qcut(idaci, 10, labels=False)
    top, bottom = decile == 9, decile == 0
    gradient = z @ BETA_DIRECTION

    def log_ratio(length: float) -> float:
        weight = exposure * np.exp(length * (gradient - gradient.max()))
        return (np.log(weight[top].sum() / exposure[top].sum())
                - np.log(weight[bottom].sum() / exposure[bottom].sum()) - np.log(rate_ratio))

    return brentq(log_ratio, 0.0, 10.0, xtol=1e-12) * BETA_DIRECTION


def _observation_mix(observation_mix: Mapping[str, float] | None) -> np.ndarray:
    """Validate the observation mix; probabilities in :data:`dims.OBSERVATION_LEVELS` order."""
    mix = dict(DEFAULT_OBSERVATION_MIX if observation_mix is None else observation_mix)
    unknown = sorted(set(mix) - set(dims.OBSERVATION_LEVELS))
    weights = np.array([float(mix.get(level, 0.0)) for level in dims.OBSERVATION_LEVELS])
    if unknown or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(f"observation_mix must map levels {list(dims.OBSERVATION_LEVELS)} "
                          f"to non-negative weights with a positive sum, got {mix!r}")
    return weights / weights.sum()


def _ensure_levels(levels: np.ndarray, mix: np.ndarray, rng: np.random.Generator) -> None:
    """Make every level with positive weight appear for every service.

    Also make ``none`` appear at least once overall, when there are enough LAs (in place; a
    no-op when already true).
    """
    n_la, n_service = levels.shape
    observed = [k for k in range(3) if mix[k] > 0]  # lsoa, msoa, la
    none = dims.OBSERVATION_LEVELS.index(dims.NONE)
    if n_la <= len(observed):
        return
    for s in range(n_service):
        if not set(observed) <= set(levels[:, s]):
            levels[rng.permutation(n_la)[:len(observed)], s] = observed
    if mix[none] > 0 and not (levels == none).any():
        # Hide a cell whose level is not the only one of its kind in its service.
        counts = np.stack([(levels == k).sum(axis=0) for k in range(4)])
        candidates = np.argwhere(counts[levels, np.arange(n_service)] > 1)
        la, s = candidates[rng.integers(len(candidates))]
        levels[la, s] = none


def generate_area(
    scale: Scale = "tiny",
    *,
    random_seed: int,
    services: Sequence[str] = dims.SERVICES,
    observation_mix: Mapping[str, float] | None = None,
    family: Family = "negbin",
) -> SyntheticArea:
    """Generate synthetic area counts, spend and the truth behind them.

    Parameters
    ----------
    scale
        Geography size, see :func:`generate_geography`.
    random_seed
        Seed; the same arguments always give identical data and truth. The geography only
        depends on ``scale`` and ``random_seed``, and each service's draws (except the
        guarantee of every observation level, below) do not depend on which other services
        are requested.
    services
        Services to simulate, a subset of :data:`bayes_needs.core.dims.SERVICES`.
    observation_mix
        Probabilities of each LA x service being observed at ``lsoa``, ``msoa``, ``la`` level
        or ``none``; default :data:`DEFAULT_OBSERVATION_MIX`. With more LAs than observed
        levels, every level of positive weight is forced to occur for every service, and
        ``none`` at least once overall.
    family
        ``"negbin"``: Dirichlet-multinomial split within MSOAs (LSOA counts NB1-like, variance
        about mean * (1 + lsoa_dispersion)); ``"poisson"``: multinomial split proportional to
        ``lambda`` (LSOA counts Poisson given the MSOA and LA effects).

    Returns
    -------
    SyntheticArea
        ``data`` (AreaData with covariates ``idaci, imd`` and exposure ``children``),
        ``spend`` and ``truth``, an :class:`xarray.Dataset` with
        ``intercept(service)``, ``beta(service, covariate)``, ``sigma_la(service)``,
        ``la_corr(service, service_b)``, ``la_effect(la, service)``, ``msoa_cv(service)``,
        ``msoa_effect(msoa, service)``, ``lsoa_dispersion(service)``,
        ``lambda(lsoa, service)`` (fixed part), ``expected(lsoa, service)`` (``msoa_effect *
        exp(la_effect) * lambda``), ``count(lsoa, service)`` (realised counts, observed or
        not), ``la_count(la, service)``, ``need(la, service)`` (needs-standardised expected
        demand ``exp(sigma_la**2/2) * sum_m msoa_effect * Lambda_m``), ``need_actual(la,
        service)`` (``sum_m msoa_effect * exp(la_effect) * Lambda_m``),
        ``observation_level(la, service)``, ``unit_cost(service)`` (£), ``needs_share(la)``
        (normalised ``sum_s unit_cost * need``), ``observed_share(la)`` (the same with
        realised LA counts where observed and ``need_actual`` filling unobserved cells; both
        shares are NaN when every requested service has zero unit cost, e.g. ``["cla"]``),
        ``price_factor(la)``, ``rate_per_10k(service)`` and ``rate_ratio(service)`` (targets),
        ``covariate_mean`` and ``covariate_std(covariate)``; attrs ``scale``, ``seed``,
        ``family``.

    Notes
    -----
    Spend per LA is ``sum over the category's services of realised LA count * unit_cost``,
    times an LA price/efficiency factor (lognormal, median one, log sd 0.15) and noise
    (lognormal, median one, log sd 0.05 per LA x category). Categories: ``safeguarding``
    (referrals, cin, cpp) and ``looked_after`` (cla, cla_weeks). Volumes are the realised LA
    counts of every service, observed or not.
    """
    seed = streams.check_seed(random_seed)
    services = tuple(services)
    unknown = sorted(set(services) - set(dims.SERVICES))
    if unknown or not services or len(set(services)) != len(services):
        raise ConfigError(f"services must be distinct names from {list(dims.SERVICES)}, "
                          f"got {list(services)}")
    if family not in ("negbin", "poisson"):
        raise ConfigError(f"family must be 'negbin' or 'poisson', got {family!r}")
    mix = _observation_mix(observation_mix)
    geo, lsoa_table = generate_geography(scale, random_seed=seed)
    params = SERVICE_PARAMETERS.loc[list(services)]
    service_pos = [dims.SERVICES.index(s) for s in services]
    n_service = len(services)

    covariates = lsoa_table[list(COVARIATES)].set_index(lsoa_table["lsoa_code"])
    z_frame, cov_mean, cov_std = standardise(covariates)
    z = z_frame.to_numpy()
    exposure = lsoa_table[EXPOSURE_COLUMN].to_numpy(dtype=float)
    idaci = lsoa_table["idaci"].to_numpy()

    sigma_la = params["sigma_la"].to_numpy()
    msoa_cv = params["msoa_cv"].to_numpy()
    dispersion = params["lsoa_dispersion"].to_numpy()
    beta = np.stack([_calibrate_beta(z, idaci, exposure, r) for r in params["rate_ratio"]])
    relative = np.exp(z @ beta.T)  # (lsoa, service)
    national_relative = (exposure @ relative) / exposure.sum()
    intercept = (np.log(params["rate_per_10k"].to_numpy() / 1e4) - sigma_la**2 / 2
                 - np.log(national_relative))
    lam = generative.area_rates(exposure, intercept, z, beta)  # (lsoa, service)

    # LA effects for all canonical services jointly, then the requested ones (a sub-vector
    # of a multivariate normal has the sub-covariance, so a subset changes nothing).
    all_sd = SERVICE_PARAMETERS["sigma_la"].to_numpy()
    n_all = len(dims.SERVICES)
    corr_all = np.full((n_all, n_all), LA_EFFECT_CORRELATION)
    np.fill_diagonal(corr_all, 1.0)
    chol = np.linalg.cholesky(all_sd[:, None] * corr_all * all_sd[None, :])
    la_effect = (streams.stage_rng(seed, streams.LA_EFFECT).standard_normal((geo.n_la, n_all))
                 @ chol.T)
    la_effect = la_effect[:, service_pos]
    la_corr = corr_all[np.ix_(service_pos, service_pos)]

    lam_msoa = geo.aggregate(lam.T, dims.LSOA, dims.MSOA).T  # (msoa, service)
    msoa_effect = np.empty((geo.n_msoa, n_service))
    counts = np.empty((geo.n_lsoa, n_service), dtype=np.int64)
    level_codes = np.empty((geo.n_la, n_service), dtype=np.int64)
    for j, s_pos in enumerate(service_pos):
        rng = streams.stage_rng(seed, streams.SERVICE, s_pos)
        simulated = generative.simulate_service(
            lam[:, j], lam_msoa[:, j], np.exp(la_effect[geo.msoa_to_la, j]), geo.lsoa_to_msoa,
            rng, msoa_shape=1.0 / msoa_cv[j] ** 2,
            dispersion=dispersion[j] if family == "negbin" else None)
        msoa_effect[:, j], counts[:, j] = simulated.msoa_effect, simulated.lsoa_count
        level_codes[:, j] = rng.choice(len(dims.OBSERVATION_LEVELS), size=geo.n_la, p=mix)
    _ensure_levels(level_codes, mix, streams.stage_rng(seed, streams.OBSERVATION_FIX))
    levels = np.asarray(dims.OBSERVATION_LEVELS, dtype=object)[level_codes]

    observations = _observation_table(geo, counts, levels, services)
    data = AreaData.from_frames(
        geo, lsoa_table, observations, covariates=list(COVARIATES), exposure=EXPOSURE_COLUMN,
        services=services, source=f"synthetic {scale} area data (seed {seed})")

    expected = msoa_effect[geo.lsoa_to_msoa] * np.exp(la_effect[geo.lsoa_to_la]) * lam
    small_area = geo.aggregate((msoa_effect * lam_msoa).T, dims.MSOA, dims.LA).T
    need = generative.need_from_small_area(small_area, "la", sigma_la=sigma_la)
    need_actual = geo.aggregate(expected.T, dims.LSOA, dims.LA).T
    la_count = geo.aggregate(counts.T, dims.LSOA, dims.LA).T
    unit_cost = params["unit_cost"].to_numpy()
    observed_or_filled = np.where(levels != dims.NONE, la_count, need_actual)
    spend, price_factor = _spend(geo, la_count, params, streams.stage_rng(seed, streams.SPEND))

    truth = _truth_dataset(
        geo, services, scale=scale, seed=seed, family=family,
        intercept=intercept, beta=beta, sigma_la=sigma_la, la_corr=la_corr,
        la_effect=la_effect, msoa_cv=msoa_cv, msoa_effect=msoa_effect,
        lsoa_dispersion=dispersion, lam=lam, expected=expected, counts=counts,
        la_count=la_count, need=need, need_actual=need_actual, levels=levels,
        unit_cost=unit_cost, needs_share=_share(need @ unit_cost),
        observed_share=_share(observed_or_filled @ unit_cost), price_factor=price_factor,
        params=params, cov_mean=cov_mean, cov_std=cov_std)
    return SyntheticArea(data=data, truth=truth, spend=spend)


def _share(values: np.ndarray) -> np.ndarray:
    """Divide values by their total; NaN when every value is zero (only zero-cost services)."""
    total = values.sum()
    return values / total if total > 0 else np.full_like(values, np.nan, dtype=float)


def _observation_table(geo: Geography, counts: np.ndarray, levels: np.ndarray,
                       services: tuple[str, ...]) -> pd.DataFrame:
    """Build the long ``service, level, area_code, count`` table of what each LA publishes."""
    pieces = []
    for j, service in enumerate(services):
        for level in (dims.LSOA, dims.MSOA, dims.LA):
            values = geo.aggregate(counts[:, j], dims.LSOA, level)
            keep = levels[geo.parent_index(level, dims.LA), j] == level
            pieces.append(pd.DataFrame({"service": service, "level": level,
                                        "area_code": geo.codes(level)[keep],
                                        "count": values[keep]}))
    return pd.concat(pieces, ignore_index=True)


def _spend(geo: Geography, la_count: np.ndarray, params: pd.DataFrame,
           rng: np.random.Generator) -> tuple[SpendData, np.ndarray]:
    """Draw LA spend per category from the realised LA counts; also the LA price factors."""
    price_factor = rng.lognormal(0.0, PRICE_FACTOR_SD, geo.n_la)
    categories = np.asarray(pd.unique(params["spend_category"]), dtype=object)
    membership = np.asarray(params["spend_category"], dtype=object)[:, None] == categories
    cost = (la_count * params["unit_cost"].to_numpy()) @ membership  # (la, category)
    noise = rng.lognormal(0.0, SPEND_NOISE_SD, cost.shape)
    spend = pd.DataFrame({
        "la_code": np.repeat(geo.la_codes, len(categories)),
        "category": np.tile(categories, geo.n_la),
        "spend": (cost * price_factor[:, None] * noise).ravel(),
    })
    volumes = pd.DataFrame({
        "la_code": np.repeat(geo.la_codes, len(params)),
        "activity": np.tile(params.index.to_numpy(), geo.n_la),
        "volume": la_count.ravel().astype(float),
    })
    return SpendData.from_frames(spend, volumes, source="synthetic spend",
                                 la_codes=geo.la_codes), price_factor


def _truth_dataset(geo: Geography, services: tuple[str, ...], *, scale: str, seed: int,
                   family: str, params: pd.DataFrame, cov_mean: pd.Series, cov_std: pd.Series,
                   **values: np.ndarray) -> xr.Dataset:
    """Assemble :attr:`SyntheticArea.truth` from the generator's arrays (``values``)."""
    v = values
    svc, la, msoa, lsoa = dims.SERVICE, dims.LA, dims.MSOA, dims.LSOA
    data_vars = {
        "intercept": ([svc], v["intercept"]),
        "beta": ([svc, dims.COVARIATE], v["beta"]),
        "sigma_la": ([svc], v["sigma_la"]),
        "la_corr": ([svc, SERVICE_B], v["la_corr"]),
        "la_effect": ([la, svc], v["la_effect"]),
        "msoa_cv": ([svc], v["msoa_cv"]),
        "msoa_effect": ([msoa, svc], v["msoa_effect"]),
        "lsoa_dispersion": ([svc], v["lsoa_dispersion"]),
        "lambda": ([lsoa, svc], v["lam"]),
        "expected": ([lsoa, svc], v["expected"]),
        "count": ([lsoa, svc], v["counts"]),
        "la_count": ([la, svc], v["la_count"]),
        "need": ([la, svc], v["need"]),
        "need_actual": ([la, svc], v["need_actual"]),
        "observation_level": ([la, svc], v["levels"].astype(str)),
        "unit_cost": ([svc], v["unit_cost"]),
        "needs_share": ([la], v["needs_share"]),
        "observed_share": ([la], v["observed_share"]),
        "price_factor": ([la], v["price_factor"]),
        "spend_category": ([svc], params["spend_category"].to_numpy().astype(str)),
        "rate_per_10k": ([svc], params["rate_per_10k"].to_numpy()),
        "rate_ratio": ([svc], params["rate_ratio"].to_numpy()),
        "covariate_mean": ([dims.COVARIATE], cov_mean.to_numpy()),
        "covariate_std": ([dims.COVARIATE], cov_std.to_numpy()),
    }
    coords = {svc: list(services), SERVICE_B: list(services), dims.COVARIATE: list(COVARIATES),
              **geo.coords(dims.LA), **geo.coords(dims.MSOA), **geo.coords(dims.LSOA)}
    truth = xr.Dataset(data_vars, coords=coords,
                       attrs={"scale": scale, "seed": seed, "family": family,
                              "la_corr_second_dim": SERVICE_B})
    truth["unit_cost"].attrs["units"] = "GBP per unit of activity"
    truth["rate_per_10k"].attrs["units"] = "per 10,000 children (cla_weeks: weeks in care)"
    return truth
