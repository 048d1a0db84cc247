"""A seeded synthetic England that returns its own truth.

The generator builds an LSOA -> MSOA -> LA geography with spatially structured deprivation
covariates, simulates area counts for each service from a known hierarchical model, hides
some of them behind LA/MSOA aggregation (or not at all) the way published statistics do, and
returns the data together with every parameter used (:attr:`SyntheticArea.truth`). A
person-level version (:func:`generate_persons`) streams child records consistent with the
same truth.

Generative process of :func:`generate_area` (per service ``s``; ``z`` =
:func:`bayes_needs.data.covariates.standardise` (re-exported here) of the LSOA covariates
``idaci, imd``; ``E_i`` = child population)::

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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr
from scipy.optimize import brentq
from scipy.special import expit

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.outputs import atomic_path
from bayes_needs.core.segments import multinomial_split
from bayes_needs.data.containers import AreaData, PersonData, SpendData, UnitCosts
from bayes_needs.data.covariates import standardise
from bayes_needs.data.geography import Geography

__all__ = ["COVARIATES", "SERVICE_PARAMETERS", "SyntheticArea", "SyntheticGeography",
           "SyntheticPersons", "generate_area", "generate_geography", "generate_persons",
           "standardise"]

Scale = Literal["tiny", "region", "england"]
Family = Literal["negbin", "poisson"]

COVARIATES: tuple[str, ...] = ("idaci", "imd")
EXPOSURE_COLUMN = "children"
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

AGE_BANDS: tuple[str, ...] = ("0-4", "5-9", "10-15", "16-17")
AGE_BAND_SHARE = np.array([5, 5, 6, 2]) / 18  # single years of age in each band
SEXES: tuple[str, ...] = ("F", "M")
SEX_SHARE = np.array([0.488, 0.512])
FSM_LEVELS: tuple[str, ...] = ("N", "Y")
FSM = dims.FSM
#: Log relative risks of a child, per service (rows) and category (columns); the first
#: category of each is the reference.
GAMMA_AGE = np.array([[0.0, -0.20, -0.15, -0.40],
                      [0.0, -0.05, 0.10, 0.00],
                      [0.0, -0.30, -0.50, -1.10],
                      [0.0, -0.20, 0.30, 0.55],
                      [0.0, -0.20, 0.30, 0.55]])
GAMMA_SEX = np.array([[0.0, 0.05], [0.0, 0.10], [0.0, 0.00], [0.0, 0.10], [0.0, 0.10]])
GAMMA_FSM = np.array([[0.0, 0.9], [0.0, 1.0], [0.0, 1.1], [0.0, 1.2], [0.0, 1.2]])
#: Share of children observed for the whole year; the rest are observed for U(0, 1] of it.
FULL_YEAR_SHARE = 0.9
#: LA coverage of the person records is the requested coverage +- this half-width.
COVERAGE_HALF_WIDTH = 0.1
#: :meth:`SyntheticPersons.to_person_data` refuses more children than this.
MAX_IN_MEMORY_CHILDREN = 2_000_000

# Stage keys so each stage has its own stream: the geography of a seed is the same whether
# built alone or inside generate_area, and one service's draws do not depend on the others.
_GEOGRAPHY, _LA_EFFECT, _SERVICE, _OBSERVATION_FIX, _SPEND = 1, 2, 3, 4, 5
_PERSON_SETUP, _PERSON_CHUNK = 11, 12


@dataclass(frozen=True)
class _ScaleSpec:
    n_la: int
    n_msoa: int  # target total
    msoa_per_la_sd: float  # sd of log MSOAs per LA
    min_msoa_per_la: int
    max_msoa_per_la: int


_SCALES: dict[str, _ScaleSpec] = {
    "tiny": _ScaleSpec(8, 60, 0.3, 4, 20),
    "region": _ScaleSpec(12, 530, 0.6, 2, 215),
    "england": _ScaleSpec(153, 6790, 0.6, 2, 215),
}
#: Probabilities of 3..8 LSOAs per MSOA (mean 4.85, as in England).
_LSOAS_PER_MSOA = np.arange(3, 9)
_LSOAS_PER_MSOA_P = np.array([0.12, 0.32, 0.29, 0.16, 0.08, 0.03])
_MEAN_CHILDREN = 365.0
_MIN_CHILDREN = 20


def _rng(random_seed: int, *stage: int) -> np.random.Generator:
    return np.random.default_rng([int(random_seed), *stage])


def _check_seed(random_seed) -> int:
    if isinstance(random_seed, bool) or not isinstance(random_seed, int | np.integer) \
            or random_seed < 0:
        raise ConfigError(f"random_seed must be a non-negative integer, got {random_seed!r}")
    return int(random_seed)


def _scale_spec(scale: str) -> _ScaleSpec:
    if scale not in _SCALES:
        raise ConfigError(f"unknown scale {scale!r}; expected one of {list(_SCALES)}")
    return _SCALES[scale]


# ====================================================================== geography
class SyntheticGeography(NamedTuple):
    """A synthetic nesting and its LSOA table.

    Attributes
    ----------
    geography
        The LSOA -> MSOA -> LA nesting, canonical order.
    lsoa_table
        One row per LSOA in canonical order: ``lsoa_code, msoa_code, la_code, children``
        (child population 0-17, int64), ``idaci`` (proportion of children in income-deprived
        families) and ``imd`` (IMD-like score, 0-90).
    """

    geography: Geography
    lsoa_table: pd.DataFrame


def generate_geography(scale: Scale = "tiny", *, random_seed: int) -> SyntheticGeography:
    """Generate a synthetic geography with child populations and deprivation covariates.

    Parameters
    ----------
    scale
        ``"tiny"`` (8 LAs, ~60 MSOAs, ~300 LSOAs), ``"region"`` (12 LAs, ~530 MSOAs) or
        ``"england"`` (153 LAs, ~6,800 MSOAs, ~33,000 LSOAs).
    random_seed
        Seed; the same seed always gives the same geography.

    Returns
    -------
    SyntheticGeography
        ``(geography, lsoa_table)``; unpack it or use the attributes.

    Notes
    -----
    MSOAs per LA are lognormal (normalised to the scale's national total, so about 190 LSOAs
    per LA at the median at ``england`` scale), LSOAs per MSOA are 3-8 with mean 4.85. The
    deprivation latent is a sum of independent LA, MSOA and LSOA normal components; ``idaci``
    is its logistic transform (mean ~0.17, right-skewed, max ~0.7) and ``imd`` a logistic
    transform of a latent with correlation 0.87 to it (raw correlation ~0.85). Child
    populations are lognormal (mean ~365, log sd ~0.3) rising slightly with deprivation.
    """
    spec = _scale_spec(scale)
    rng = _rng(_check_seed(random_seed), _GEOGRAPHY)

    weight = rng.lognormal(0.0, spec.msoa_per_la_sd, spec.n_la)
    msoa_per_la = np.clip(np.rint(weight / weight.sum() * spec.n_msoa).astype(np.int64),
                          spec.min_msoa_per_la, spec.max_msoa_per_la)
    msoa_to_la = np.repeat(np.arange(spec.n_la), msoa_per_la)
    n_msoa = len(msoa_to_la)
    lsoa_per_msoa = rng.choice(_LSOAS_PER_MSOA, size=n_msoa, p=_LSOAS_PER_MSOA_P)
    lsoa_to_msoa = np.repeat(np.arange(n_msoa), lsoa_per_msoa)
    lsoa_to_la = msoa_to_la[lsoa_to_msoa]
    n_lsoa = len(lsoa_to_msoa)

    # Variance shares of the deprivation latent: LA, MSOA, LSOA.
    component_sd = np.array([0.45, 0.5, 0.45])
    component_sd /= np.sqrt(np.sum(component_sd**2))

    def spatial_latent() -> np.ndarray:
        return (component_sd[0] * rng.standard_normal(spec.n_la)[lsoa_to_la]
                + component_sd[1] * rng.standard_normal(n_msoa)[lsoa_to_msoa]
                + component_sd[2] * rng.standard_normal(n_lsoa))

    deprivation = spatial_latent()
    imd_latent = 0.87 * deprivation + np.sqrt(1 - 0.87**2) * spatial_latent()
    idaci = expit(-1.7 + 0.6 * deprivation)
    imd = 90.0 * expit(np.log(0.2 / 0.8) + 0.9 * imd_latent)

    log_children_sd = np.array([0.08, 0.10, 0.27])  # deprivation, LA, LSOA
    log_median = np.log(_MEAN_CHILDREN) - 0.5 * np.sum(log_children_sd**2)
    log_children = (log_median + log_children_sd[0] * deprivation
                    + log_children_sd[1] * rng.standard_normal(spec.n_la)[lsoa_to_la]
                    + log_children_sd[2] * rng.standard_normal(n_lsoa))
    children = np.maximum(np.rint(np.exp(log_children)), _MIN_CHILDREN).astype(np.int64)

    la_codes = np.array([f"SLA{i + 1:04d}" for i in range(spec.n_la)], dtype=object)
    msoa_codes = np.array([f"SMS{i + 1:05d}" for i in range(n_msoa)], dtype=object)
    lsoa_codes = np.array([f"SLS{i + 1:06d}" for i in range(n_lsoa)], dtype=object)
    frame = pd.DataFrame({
        "lsoa_code": lsoa_codes,
        "lsoa_name": [f"Synthetic LSOA {i + 1:06d}" for i in range(n_lsoa)],
        "msoa_code": msoa_codes[lsoa_to_msoa],
        "msoa_name": np.array([f"Synthetic MSOA {i + 1:05d}" for i in range(n_msoa)],
                              dtype=object)[lsoa_to_msoa],
        "la_code": la_codes[lsoa_to_la],
        "la_name": np.array([f"Synthetic LA {i + 1:03d}" for i in range(spec.n_la)],
                            dtype=object)[lsoa_to_la],
    })
    geography = Geography.from_frame(frame, lsoa_name="lsoa_name", msoa_name="msoa_name",
                                     la_name="la_name", source=f"synthetic {scale} geography")
    lsoa_table = pd.DataFrame({
        "lsoa_code": frame["lsoa_code"], "msoa_code": frame["msoa_code"],
        "la_code": frame["la_code"], EXPOSURE_COLUMN: children, "idaci": idaci, "imd": imd,
    })
    return SyntheticGeography(geography, lsoa_table)


# ====================================================================== area truth
@dataclass(frozen=True, eq=False)
class SyntheticArea:
    """Synthetic area data with the truth that generated it.

    Attributes
    ----------
    data
        Validated :class:`~bayes_needs.data.containers.AreaData` (counts at the observation levels).
    truth
        Every parameter and latent quantity; see :func:`generate_area`.
    spend
        LA spend per category with activity volumes (:class:`~bayes_needs.data.containers.SpendData`).
    """

    data: AreaData
    truth: xr.Dataset
    spend: SpendData

    def unit_costs(self, sd_log: float = 0.2) -> UnitCosts:
        """The true unit costs as a :class:`~bayes_needs.data.containers.UnitCosts` table.

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
    """``beta`` along :data:`BETA_DIRECTION` giving the target top/bottom decile rate ratio."""
    decile = pd.qcut(idaci, 10, labels=False)
    top, bottom = decile == 9, decile == 0
    gradient = z @ BETA_DIRECTION

    def log_ratio(length: float) -> float:
        weight = exposure * np.exp(length * (gradient - gradient.max()))
        return (np.log(weight[top].sum() / exposure[top].sum())
                - np.log(weight[bottom].sum() / exposure[bottom].sum()) - np.log(rate_ratio))

    return brentq(log_ratio, 0.0, 10.0, xtol=1e-12) * BETA_DIRECTION


def _observation_mix(observation_mix: Mapping[str, float] | None) -> np.ndarray:
    mix = dict(DEFAULT_OBSERVATION_MIX if observation_mix is None else observation_mix)
    unknown = sorted(set(mix) - set(dims.OBSERVATION_LEVELS))
    weights = np.array([float(mix.get(level, 0.0)) for level in dims.OBSERVATION_LEVELS])
    if unknown or not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ConfigError(f"observation_mix must map levels {list(dims.OBSERVATION_LEVELS)} "
                          f"to non-negative weights with a positive sum, got {mix!r}")
    return weights / weights.sum()


def _ensure_levels(levels: np.ndarray, mix: np.ndarray, rng: np.random.Generator) -> None:
    """Make every level with positive weight appear for every service, and ``none`` at least
    once overall, when there are enough LAs (in place; a no-op when already true)."""
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


def _split_within_msoa(msoa_total: np.ndarray, weight: np.ndarray, geo: Geography,
                       rng: np.random.Generator) -> np.ndarray:
    """Multinomial split of MSOA totals over their LSOAs with probabilities ``weight``."""
    return multinomial_split(msoa_total, weight, geo.lsoa_to_msoa, rng)


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
    seed = _check_seed(random_seed)
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
    lam = exposure[:, None] * np.exp(intercept) * relative

    # LA effects for all canonical services jointly, then the requested ones (a sub-vector
    # of a multivariate normal has the sub-covariance, so a subset changes nothing).
    all_sd = SERVICE_PARAMETERS["sigma_la"].to_numpy()
    n_all = len(dims.SERVICES)
    corr_all = np.full((n_all, n_all), LA_EFFECT_CORRELATION)
    np.fill_diagonal(corr_all, 1.0)
    chol = np.linalg.cholesky(all_sd[:, None] * corr_all * all_sd[None, :])
    la_effect = (_rng(seed, _LA_EFFECT).standard_normal((geo.n_la, n_all)) @ chol.T)
    la_effect = la_effect[:, service_pos]
    la_corr = corr_all[np.ix_(service_pos, service_pos)]

    lam_msoa = geo.aggregate(lam.T, dims.LSOA, dims.MSOA).T  # (msoa, service)
    msoa_effect = np.empty((geo.n_msoa, n_service))
    counts = np.empty((geo.n_lsoa, n_service), dtype=np.int64)
    level_codes = np.empty((geo.n_la, n_service), dtype=np.int64)
    for j, s_pos in enumerate(service_pos):
        rng = _rng(seed, _SERVICE, s_pos)
        shape = 1.0 / msoa_cv[j] ** 2
        msoa_effect[:, j] = rng.gamma(shape, 1.0 / shape, geo.n_msoa)
        msoa_mean = msoa_effect[:, j] * np.exp(la_effect[geo.msoa_to_la, j]) * lam_msoa[:, j]
        msoa_total = rng.poisson(msoa_mean)
        if family == "negbin":
            weight = rng.gamma(lam[:, j] / dispersion[j])
            # A gamma draw can underflow to 0 for tiny shapes; fall back to lambda then.
            empty = geo.aggregate(weight, dims.LSOA, dims.MSOA)[geo.lsoa_to_msoa] <= 0
            weight = np.where(empty, lam[:, j], weight)
        else:
            weight = lam[:, j]
        counts[:, j] = _split_within_msoa(msoa_total, weight, geo, rng)
        level_codes[:, j] = rng.choice(len(dims.OBSERVATION_LEVELS), size=geo.n_la, p=mix)
    _ensure_levels(level_codes, mix, _rng(seed, _OBSERVATION_FIX))
    levels = np.asarray(dims.OBSERVATION_LEVELS, dtype=object)[level_codes]

    observations = _observation_table(geo, counts, levels, services)
    data = AreaData.from_frames(
        geo, lsoa_table, observations, covariates=list(COVARIATES), exposure=EXPOSURE_COLUMN,
        services=services, source=f"synthetic {scale} area data (seed {seed})")

    expected = msoa_effect[geo.lsoa_to_msoa] * np.exp(la_effect[geo.lsoa_to_la]) * lam
    need = np.exp(sigma_la**2 / 2) * geo.aggregate(
        (msoa_effect * lam_msoa).T, dims.MSOA, dims.LA).T
    need_actual = geo.aggregate(expected.T, dims.LSOA, dims.LA).T
    la_count = geo.aggregate(counts.T, dims.LSOA, dims.LA).T
    unit_cost = params["unit_cost"].to_numpy()
    observed_or_filled = np.where(levels != dims.NONE, la_count, need_actual)
    spend, price_factor = _spend(geo, la_count, params, _rng(seed, _SPEND))

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
    """Values over their total; NaN when every value is zero (only zero-cost services)."""
    total = values.sum()
    return values / total if total > 0 else np.full_like(values, np.nan, dtype=float)


def _observation_table(geo: Geography, counts: np.ndarray, levels: np.ndarray,
                       services: tuple[str, ...]) -> pd.DataFrame:
    """Long ``service, level, area_code, count`` table of what each LA publishes."""
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
                   **values) -> xr.Dataset:
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
              **geo.coords(la), **geo.coords(msoa), **geo.coords(lsoa)}
    truth = xr.Dataset(data_vars, coords=coords,
                       attrs={"scale": scale, "seed": seed, "family": family,
                              "la_corr_second_dim": SERVICE_B})
    truth["unit_cost"].attrs["units"] = "GBP per unit of activity"
    truth["rate_per_10k"].attrs["units"] = "per 10,000 children (cla_weeks: weeks in care)"
    return truth


# ====================================================================== persons
@dataclass(frozen=True, eq=False)
class SyntheticPersons:
    """Streamed synthetic child records consistent with an area truth.

    Use :meth:`chunks` to iterate, :meth:`to_parquet` to write, :meth:`to_person_data` (small
    scales only) to validate into a :class:`~bayes_needs.data.containers.PersonData`.

    Attributes
    ----------
    geography
        The nesting the children live in.
    services
        Outcome columns.
    population
        All children (covered or not) by ``la_code, age_band, sex`` (column ``population``).
    truth
        ``gamma_age(service, age_band)``, ``gamma_sex(service, sex)``,
        ``gamma_fsm(service, fsm)`` (log relative risks, first category the reference),
        ``coverage(la)`` (probability a child appears in the records),
        ``fsm_probability(lsoa)``, ``children(lsoa)`` and ``expected(lsoa, service)`` (the
        area truth's expected LSOA count, which the children's full-year expectations sum
        to); attrs ``seed``, ``chunk_size``, ``requested_coverage``.
    """

    geography: Geography
    services: tuple[str, ...]
    population: pd.DataFrame
    truth: xr.Dataset
    chunk_size: int
    random_seed: int
    _cell_counts: np.ndarray = field(repr=False)  # (lsoa, age x sex cell)
    _chunk_bounds: np.ndarray = field(repr=False)  # LSOA index where each chunk starts

    @property
    def n_children(self) -> int:
        """Number of children in the population (covered or not)."""
        return int(self._cell_counts.sum())

    def chunks(self, *, with_truth: bool = False) -> Iterator[pd.DataFrame]:
        """Yield the records in chunks of whole LSOAs, at most ``chunk_size`` children each
        (more only when one LSOA is larger).

        Parameters
        ----------
        with_truth
            Also yield the children the records miss, with columns ``in_records`` (bool) and
            ``mean_<service>`` (the child's expected count, exposure included).

        Yields
        ------
        pandas.DataFrame
            ``child_id`` (int64, unique), ``lsoa_code``, ``age_band``, ``sex``, ``fsm``
            (categoricals), ``exposure`` (fraction of the year observed, in (0, 1]) and one
            int64 outcome column per service (Poisson, no cap on ``cla_weeks``).
        """
        for k in range(len(self._chunk_bounds) - 1):
            yield self._chunk(k, with_truth)

    def _chunk(self, k: int, with_truth: bool) -> pd.DataFrame:
        first, stop = self._chunk_bounds[k], self._chunk_bounds[k + 1]
        rng = _rng(self.random_seed, _PERSON_CHUNK, int(first))
        cells = self._cell_counts[first:stop]
        n_cell = cells.shape[1]
        lsoa_local = np.repeat(np.arange(stop - first), cells.sum(axis=1))
        cell = np.repeat(np.tile(np.arange(n_cell), stop - first), cells.ravel())
        age, sex = np.divmod(cell, len(SEXES))
        lsoa = lsoa_local + first
        n = len(lsoa)
        child_offset = int(self._cell_counts[:first].sum())
        fsm = (rng.random(n) < self.truth["fsm_probability"].to_numpy()[lsoa]).astype(np.int8)
        exposure = np.where(rng.random(n) < FULL_YEAR_SHARE, 1.0, 1.0 - rng.random(n))
        log_rr = (self.truth["gamma_age"].to_numpy()[:, age]
                  + self.truth["gamma_sex"].to_numpy()[:, sex]
                  + self.truth["gamma_fsm"].to_numpy()[:, fsm])  # (service, child)
        risk = np.exp(log_rr)
        # Scale within each LSOA so the full-year expectations sum to the area truth.
        risk_total = np.stack([np.bincount(lsoa_local, weights=r, minlength=stop - first)
                               for r in risk])
        lsoa_scale = self.truth["expected"].to_numpy()[first:stop].T / risk_total
        mean = exposure * risk * lsoa_scale[:, lsoa_local]
        outcome = rng.poisson(mean)
        la = self.geography.lsoa_to_la[lsoa]
        in_records = rng.random(n) < self.truth["coverage"].to_numpy()[la]

        frame = pd.DataFrame({
            "child_id": np.arange(child_offset, child_offset + n, dtype=np.int64),
            "lsoa_code": pd.Categorical.from_codes(lsoa, dtype=_category(
                self.geography.lsoa_codes)),
            dims.AGE_BAND: pd.Categorical.from_codes(age, dtype=_category(AGE_BANDS)),
            dims.SEX: pd.Categorical.from_codes(sex, dtype=_category(SEXES)),
            FSM: pd.Categorical.from_codes(fsm, dtype=_category(FSM_LEVELS)),
            "exposure": exposure,
            **{s: outcome[j] for j, s in enumerate(self.services)},
        })
        if with_truth:
            frame["in_records"] = in_records
            for j, s in enumerate(self.services):
                frame[f"mean_{s}"] = mean[j]
            return frame
        return frame[in_records].reset_index(drop=True)

    def to_parquet(self, path: str | Path) -> Path:
        """Write the records to one Parquet file, a row group per chunk, atomically."""
        with atomic_path(path) as tmp:
            writer = None
            try:
                for chunk in self.chunks():
                    table = pa.Table.from_pandas(chunk, preserve_index=False,
                                                 schema=None if writer is None
                                                 else writer.schema)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
        return Path(path)

    def to_person_data(self) -> PersonData:
        """All records as a validated :class:`~bayes_needs.data.containers.PersonData` (small scales).

        Raises
        ------
        ConfigError
            When there are more than :data:`MAX_IN_MEMORY_CHILDREN` children; stream with
            :meth:`chunks` or :meth:`to_parquet` instead.
        """
        if self.n_children > MAX_IN_MEMORY_CHILDREN:
            raise ConfigError(f"{self.n_children:,} children are too many to hold in memory "
                              f"(limit {MAX_IN_MEMORY_CHILDREN:,}); use chunks() or "
                              f"to_parquet()")
        records = pd.concat(list(self.chunks()), ignore_index=True)
        return PersonData.from_frames(
            self.geography, records, self.population,
            covariates=(dims.AGE_BAND, dims.SEX, FSM), services=self.services,
            source=f"synthetic person data (seed {self.random_seed})")


def _category(values) -> pd.CategoricalDtype:
    return pd.CategoricalDtype(pd.Index(list(values), dtype=str))


def generate_persons(synthetic: SyntheticArea, *, random_seed: int, coverage: float = 0.8,
                     chunk_size: int = 500_000) -> SyntheticPersons:
    """Child-level records consistent with an area truth, generated lazily in chunks.

    Each LSOA has ``children`` children with age band and sex drawn from national shares,
    ``fsm`` = "Y" with probability ``expit(logit(idaci) + 0.4)`` and ``exposure`` = 1 for
    90% of children, U(0, 1] for the rest. A child's expected count of a service is
    ``exposure * exp(gamma_age + gamma_sex + gamma_fsm) * c_i`` where ``c_i`` makes the LSOA's
    full-year (exposure 1) expectations sum to the area truth ``expected`` (``msoa_effect *
    exp(la_effect) * lambda``); outcomes are Poisson. Each LA's records cover a fraction
    ``coverage + U(-0.1, 0.1)`` (clipped to (0, 1]) of its children.

    Parameters
    ----------
    synthetic
        Output of :func:`generate_area`.
    random_seed
        Seed; with the same ``synthetic`` and ``chunk_size`` the records are identical.
    coverage
        Mean share of children present in the records, in (0, 1].
    chunk_size
        Target children per chunk; memory use is bounded by it, not by the population.

    Returns
    -------
    SyntheticPersons
    """
    seed = _check_seed(random_seed)
    if not 0 < coverage <= 1:
        raise ConfigError(f"coverage must be in (0, 1], got {coverage!r}")
    if int(chunk_size) < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    geo = synthetic.data.geography
    services = synthetic.data.services
    children = np.rint(synthetic.data.exposure).astype(np.int64)
    rng = _rng(seed, _PERSON_SETUP)
    cell_share = (AGE_BAND_SHARE[:, None] * SEX_SHARE[None, :]).ravel()
    cell_counts = rng.multinomial(children, cell_share)  # (lsoa, age x sex)
    la_coverage = np.clip(coverage + rng.uniform(-COVERAGE_HALF_WIDTH, COVERAGE_HALF_WIDTH,
                                                 geo.n_la), 0.01, 1.0)
    idaci = synthetic.data.covariates["idaci"].to_numpy()
    fsm_probability = expit(np.log(idaci / (1 - idaci)) + 0.4)

    by_la = geo.aggregate(cell_counts.T, dims.LSOA, dims.LA)  # (cell, la)
    age_of_cell, sex_of_cell = np.divmod(np.arange(len(cell_share)), len(SEXES))
    population = pd.DataFrame({
        "la_code": np.repeat(geo.la_codes, len(cell_share)).astype(str),
        dims.AGE_BAND: np.tile(np.asarray(AGE_BANDS)[age_of_cell], geo.n_la),
        dims.SEX: np.tile(np.asarray(SEXES)[sex_of_cell], geo.n_la),
        "population": by_la.T.ravel(),
    })

    rows = np.asarray(SERVICE_PARAMETERS.index.get_indexer(list(services)))
    truth = xr.Dataset(
        {
            "gamma_age": ([dims.SERVICE, dims.AGE_BAND], GAMMA_AGE[rows]),
            "gamma_sex": ([dims.SERVICE, dims.SEX], GAMMA_SEX[rows]),
            "gamma_fsm": ([dims.SERVICE, FSM], GAMMA_FSM[rows]),
            "coverage": ([dims.LA], la_coverage),
            "fsm_probability": ([dims.LSOA], fsm_probability),
            "children": ([dims.LSOA], children),
            "expected": ([dims.LSOA, dims.SERVICE],
                         synthetic.truth["expected"].sel({dims.SERVICE: list(services)})
                         .transpose(dims.LSOA, dims.SERVICE).to_numpy()),
        },
        coords={dims.SERVICE: list(services), dims.AGE_BAND: list(AGE_BANDS),
                dims.SEX: list(SEXES), FSM: list(FSM_LEVELS), **geo.coords(dims.LA),
                **geo.coords(dims.LSOA)},
        attrs={"seed": seed, "chunk_size": int(chunk_size), "requested_coverage": coverage},
    )
    return SyntheticPersons(geo, services, population, truth, int(chunk_size), seed,
                            cell_counts, _chunk_bounds(children, int(chunk_size)))


def _chunk_bounds(children: np.ndarray, chunk_size: int) -> np.ndarray:
    """LSOA indices where chunks start (plus the end): greedy runs of whole LSOAs."""
    cumulative = np.cumsum(children)
    bounds = [0]
    while bounds[-1] < len(children):
        done = cumulative[bounds[-1] - 1] if bounds[-1] else 0
        stop = int(np.searchsorted(cumulative, done + chunk_size, side="right"))
        bounds.append(max(stop, bounds[-1] + 1))
    return np.asarray(bounds)
