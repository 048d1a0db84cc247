"""The panel model's numpy generative process: dynamics, national levels and counts.

One implementation serves the synthetic panels (:func:`simulate_panel_counts`, used by the
recovery and calibration tests), and the forecasts and need draws of
:mod:`bayes_needs.need.panel`: LA deviations follow a stationary AR(1), national levels a
Gaussian random walk, and counts scatter around ``exposure * exp(log rate)`` with variance
``count_dispersion`` times the mean (:func:`dispersed_counts`; Poisson at 1). See
:mod:`bayes_needs.models.panel` for the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.data.covariates import standardise
from bayes_needs.data.panel import PanelData
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.geography import Scale


def ar1_forward(last: np.ndarray, rho: np.ndarray, sigma: np.ndarray, horizon: int,
                rng: np.random.Generator, growth: np.ndarray | float = 1.0,
                extra_var: np.ndarray | None = None) -> np.ndarray:
    """Continue AR(1) deviations ``horizon`` years past their last value.

    Parameters
    ----------
    last
        ``(..., service)`` deviations in the last year.
    rho, sigma
        Autocorrelation and innovation sd of the last year, broadcasting against ``last``.
    horizon
        Years ahead.
    rng
        Random generator.
    growth
        Yearly factor of the innovation sd (``exp(volatility_trend)``): the innovation into
        year ``h`` ahead has sd ``sigma * growth**h``.
    extra_var
        ``(..., horizon, service)`` innovation variance added in each year ahead (the
        count-scaled part, ``count_innovation / n``); ``None`` adds none.

    Returns
    -------
    numpy.ndarray
        ``(..., horizon, service)``: years 1..horizon ahead.
    """
    out = []
    current = last
    for step in range(1, horizon + 1):
        sd = sigma * np.power(growth, step)
        if extra_var is not None:  # hypot(x, 0) is exactly x
            sd = np.hypot(sd, np.sqrt(extra_var[..., step - 1, :]))
        current = rho * current + sd * rng.standard_normal(np.shape(last))
        out.append(current)
    return np.stack(out, axis=-2)


def random_walk_forward(last: np.ndarray, sigma: np.ndarray, horizon: int,
                        rng: np.random.Generator) -> np.ndarray:
    """Continue a Gaussian random walk ``horizon`` steps: ``(..., horizon, service)``."""
    steps = np.asarray(sigma)[..., None, :] * rng.standard_normal(
        (*np.shape(last)[:-1], horizon, np.shape(last)[-1]))
    return last[..., None, :] + np.cumsum(steps, axis=-2)


def stationary_ar1(n: tuple[int, ...], n_years: int, rho: np.ndarray, sigma: np.ndarray,
                   rng: np.random.Generator, growth: np.ndarray | float = 1.0,
                   reference: int = 0, extra_var: np.ndarray | None = None) -> np.ndarray:
    """Draw AR(1) paths ``(*n, n_years, service)`` started at stationarity.

    ``sigma`` is the innovation sd of year ``reference`` (an index); year ``t``'s is ``sigma *
    growth**(t - reference)``, with ``extra_var[..., t, :]`` added to its variance if given,
    and the first year is drawn from the stationary variance of its own sd
    (:func:`ar1_variance` gives each year's variance).
    """
    first_sd = sigma * np.power(growth, -reference)
    start_sd = first_sd if extra_var is None else np.hypot(first_sd,
                                                            np.sqrt(extra_var[..., 0, :]))
    first = start_sd / np.sqrt(1.0 - rho ** 2) * rng.standard_normal((*n, rho.shape[-1]))
    if n_years == 1:
        return first[..., None, :]
    rest = ar1_forward(first, rho, first_sd, n_years - 1, rng, growth,
                       None if extra_var is None else extra_var[..., 1:, :])
    return np.concatenate([first[..., None, :], rest], axis=-2)


def volatility_path(sigma: np.ndarray, trend: np.ndarray, offsets: np.ndarray,
                    extra_var: np.ndarray | None = None) -> np.ndarray:
    """Innovation sds ``(..., service, year)``: ``sigma * exp(trend * offset)`` per year.

    ``sigma`` is ``(..., service)`` (the sd in the reference year), ``trend`` broadcasts
    against it, and ``offsets`` are the years' distances from the reference year.
    ``extra_var`` (broadcasting to the result) is added to each year's variance.
    """
    path = sigma[..., None] * np.exp(np.asarray(trend)[..., None] * np.asarray(offsets))
    return path if extra_var is None else np.hypot(path, np.sqrt(extra_var))


#: Expected count below which the count-scaled innovation variance stops growing. A
#: log-normal change of variance ``count_innovation / n`` describes a stock's flows only
#: while ``n`` is more than a handful; at the Isles of Scilly's ~2 CLA children it gave a
#: stationary log-sd near 1.8, and need draws 80 times the median.
MIN_EXPECTED_COUNT: float = 10.0


def count_innovation_variance(per_count: Any, log_expected: Any, xp: Any = np) -> Any:
    """Count-scaled innovation variance ``count_innovation / max(n, MIN_EXPECTED_COUNT)``.

    ``n = exp(log_expected)`` is the count expected from exposure, national level and needs
    terms; ``per_count`` broadcasts against it. ``xp`` is the array module: numpy here and
    in need draws, ``pytensor.tensor`` in the model graph, so both use this one formula.
    """
    return per_count * xp.exp(-xp.maximum(log_expected, math.log(MIN_EXPECTED_COUNT)))


def dispersed_counts(rng: np.random.Generator, mean: np.ndarray,
                     dispersion: np.ndarray | float | None = None) -> np.ndarray:
    """Draw counts with the given ``mean`` and variance ``dispersion * mean``.

    Poisson where ``dispersion`` is 1 (or ``None``: Poisson throughout); above 1 a
    gamma-Poisson mixture (NB1); below 1 a binomial with success probability ``1 -
    dispersion`` and ``mean / (1 - dispersion)`` trials (rounded), so 0 gives the mean
    itself, rounded: a stock counted on a day, with no fresh noise.
    """
    mean = np.asarray(mean, dtype=float)
    if dispersion is None:
        return rng.poisson(mean).astype(float)
    phi = np.broadcast_to(np.asarray(dispersion, dtype=float), mean.shape)
    out = np.empty(mean.shape)
    over, under = phi > 1.0 + 1e-9, phi < 1.0 - 1e-9
    plain = ~(over | under)
    out[plain] = rng.poisson(mean[plain])
    if over.any():
        excess = phi[over] - 1.0
        shape = np.maximum(mean[over], 1e-12) / excess
        out[over] = rng.poisson(rng.gamma(shape, excess))
    if under.any():
        success = 1.0 - phi[under]
        out[under] = rng.binomial(np.rint(mean[under] / success).astype(np.int64), success)
    return out


def ar1_variance(rho: np.ndarray, sigma_path: np.ndarray) -> np.ndarray:
    """Prior variance ``(..., year)`` of AR(1) deviations in each year.

    ``sigma_path`` is ``(..., year)`` innovation sds and ``rho`` broadcasts against its
    leading dims: ``v_0 = sigma_0^2 / (1 - rho^2)``, ``v_t = rho^2 v_t-1 + sigma_t^2``.
    """
    rho2 = np.asarray(rho) ** 2
    out = np.array(sigma_path, dtype=float)
    n_years = out.shape[-1]
    out[..., 0] = out[..., 0] ** 2 / (1.0 - rho2)
    for t in range(1, n_years):
        out[..., t] = rho2 * out[..., t - 1] + sigma_path[..., t] ** 2
    return out


def needs_terms(beta: np.ndarray, contextual: np.ndarray | None, point_z: np.ndarray,
                point_share: np.ndarray, point_la: np.ndarray, la_mean: np.ndarray,
                n_la: int) -> tuple[np.ndarray, np.ndarray]:
    """Needs-indicator and contextual log-rate terms per LA and service.

    Parameters
    ----------
    beta, contextual
        ``(..., service, indicator)`` within-LA and contextual coefficients (``None``: none).
    point_z, point_share, point_la
        LSOA clusters (indicators centred on the LA mean, share, LA index).
    la_mean
        ``(la, indicator)`` LA means of the indicators.
    n_la
        Number of LAs.

    Returns
    -------
    indicators, context
        ``(..., la, service)`` each: ``log sum_i w_i exp(z_i . beta)`` and ``zbar . gamma``.
    """
    lead = beta.shape[:-2]
    flat = beta.reshape(-1, *beta.shape[-2:])
    spread = np.exp(np.einsum("pk,bsk->bps", point_z, flat)) * point_share[None, :, None]
    # One LA at a time: a scatter-add over the cluster axis, vectorised over draws.
    summed = np.stack([spread[:, point_la == la].sum(axis=1) for la in range(n_la)], axis=1)
    indicators = np.log(summed) + np.einsum("lk,bsk->bls", la_mean, flat)
    context = np.zeros_like(indicators) if contextual is None else np.einsum(
        "lk,bsk->bls", la_mean, contextual.reshape(flat.shape))
    shape = (*lead, n_la, flat.shape[1])
    return indicators.reshape(shape), context.reshape(shape)


@dataclass(frozen=True)
class PanelTruth:
    """Parameters of a synthetic panel (per service unless stated)."""

    level: np.ndarray          # (service, year) national log rates
    beta: np.ndarray           # (service, indicator)
    contextual: np.ndarray     # (service, indicator)
    sigma_la: np.ndarray
    rho: np.ndarray
    sigma_ar: np.ndarray
    sigma_year: np.ndarray
    la_effect: np.ndarray      # (la, service)
    deviation: np.ndarray      # (la, year, service)
    log_rate: np.ndarray       # (la, year, service)
    sigma_ar_la: np.ndarray    # (la, service) each LA's innovation sd in the reference year
    volatility_trend: np.ndarray  # (service,) per-year change of the log innovation sds
    count_dispersion: np.ndarray  # (service,) fresh noise of a count, as a multiple of Poisson
    count_innovation: np.ndarray  # (service,) innovation variance per expected child counted


def simulate_panel_counts(truth_params: dict[str, np.ndarray], *, point_z: np.ndarray,
                          point_share: np.ndarray, point_la: np.ndarray, la_mean: np.ndarray,
                          exposure: np.ndarray, rng: np.random.Generator,
                          reference_year: int = -1) -> tuple[np.ndarray, PanelTruth]:
    """Draw LA effects, dynamics and Poisson counts of a panel from given parameters.

    Parameters
    ----------
    truth_params
        ``level0`` (service,), ``sigma_year``, ``beta``, ``contextual``, ``sigma_la``,
        ``rho``, ``sigma_ar``; optionally ``volatility_sd`` (the spread of LAs' log
        innovation sds around ``sigma_ar``; absent, every LA has ``sigma_ar``),
        ``volatility_trend`` (per-year change of the log innovation sds; ``sigma_ar`` is
        then the sd of year ``reference_year``), ``count_dispersion`` and
        ``count_innovation`` (the count-scaled noise; absent, Poisson counts and none) and
        ``level``
        (service, k): the national log rates of the first ``k`` years, replacing ``level0``
        and the walk there (later years continue the walk from the last given year).
    point_z, point_share, point_la, la_mean
        The indicator layout (as in :func:`needs_terms`).
    exposure
        ``(la, year)`` child populations; every year is simulated.
    rng
        Random generator.
    reference_year
        Index of the year whose innovation sd is ``sigma_ar`` (default the last; a fit's
        ``sigma_ar`` is that of its last year).

    Returns
    -------
    counts, truth
        ``(la, year, service)`` counts and the :class:`PanelTruth`.
    """
    n_la, n_years = exposure.shape
    p = truth_params
    n_services = len(p["rho"])
    steps = p["sigma_year"][None, :] * rng.standard_normal((n_years - 1, n_services))
    walk = np.concatenate([np.zeros((1, n_services)), np.cumsum(steps, axis=0)])
    if "level" in p:
        given = np.asarray(p["level"], dtype=float)
        k = given.shape[1]
        level = np.concatenate([given, given[:, -1:] + (walk[k:] - walk[k - 1]).T], axis=1)
    else:
        level = (p["level0"][None, :] + walk).T
    indicators, context = needs_terms(p["beta"], p["contextual"], point_z, point_share,
                                      point_la, la_mean, n_la)
    la_effect = p["sigma_la"] * rng.standard_normal((n_la, n_services))
    sigma_ar_la = p["sigma_ar"] * np.exp(p["volatility_sd"] * rng.standard_normal(
        (n_la, n_services))) if "volatility_sd" in p else np.broadcast_to(
        p["sigma_ar"], (n_la, n_services))
    trend = np.asarray(p.get("volatility_trend", np.zeros(n_services)), dtype=float)
    reference = reference_year % n_years
    zeros = np.zeros(n_services)
    dispersion = np.asarray(p.get("count_dispersion", zeros + 1.0), dtype=float)
    per_count = np.asarray(p.get("count_innovation", zeros), dtype=float)
    log_expected = np.log(exposure)[:, :, None] + level.T[None] + (indicators + context)[:, None]
    deviation = stationary_ar1((n_la,), n_years, p["rho"], sigma_ar_la, rng,
                               growth=np.exp(trend), reference=reference,
                               extra_var=count_innovation_variance(per_count, log_expected)
                               if per_count.any() else None)
    log_rate = (level.T[None] + (indicators + context + la_effect)[:, None, :] + deviation)
    counts = dispersed_counts(rng, exposure[:, :, None] * np.exp(log_rate),
                              None if np.all(dispersion == 1.0) else dispersion)
    truth = PanelTruth(level=level, beta=p["beta"], contextual=p["contextual"],
                       sigma_la=p["sigma_la"], rho=p["rho"], sigma_ar=p["sigma_ar"],
                       sigma_year=p["sigma_year"], la_effect=la_effect, deviation=deviation,
                       log_rate=log_rate, sigma_ar_la=np.asarray(sigma_ar_la),
                       volatility_trend=trend, count_dispersion=dispersion,
                       count_innovation=per_count)
    return counts, truth


def _replaced(values: dict[str, np.ndarray], given: Mapping[str, np.ndarray],
              n_years: int) -> dict[str, np.ndarray]:
    """Return ``values`` with ``given`` replacing them, checking names and shapes."""
    problems = []
    out = dict(values)
    for name, value in given.items():
        array = np.asarray(value, dtype=float)
        if name == "level":
            ok = array.ndim == 2 and array.shape[0] == len(values["rho"]) \
                and 1 <= array.shape[1] <= n_years
            expected = f"(service, 1..{n_years} years)"
        elif name in values:
            ok = array.shape == values[name].shape
            expected = str(values[name].shape)
        else:
            problems.append(f"unknown parameter {name!r}; known: {[*values, 'level']}")
            continue
        if not ok:
            problems.append(f"parameter {name!r} has shape {array.shape}, expected {expected}")
        out[name] = array
    if problems:
        raise ConfigError("generate_panel params: " + "; ".join(problems))
    return out


#: Parameters of :func:`generate_panel` unless given (per service, in the order given).
DEFAULT_PANEL_PARAMS: dict[str, float] = {
    "level0": -4.0, "sigma_year": 0.03, "sigma_la": 0.2, "rho": 0.7, "sigma_ar": 0.12,
    "volatility_sd": 0.3, "volatility_trend": -0.03, "count_dispersion": 1.0,
    "count_innovation": 0.0, "beta": 0.3, "contextual": 0.1}


def generate_panel(scale: Scale = "tiny", *, n_years: int = 8, first_year: int = 2015,
                   services: Sequence[str] = (dims.CIN, dims.CLA), random_seed: int,
                   extra_years: int = 1,
                   params: Mapping[str, np.ndarray] | None = None
                   ) -> tuple[PanelData, PanelTruth]:
    """Generate a synthetic LA x year panel from the panel model's generative process.

    Parameters
    ----------
    scale
        Geography size of :func:`bayes_needs.simulate.area.generate_area`.
    n_years
        Years with counts.
    first_year
        The first reporting year.
    services
        Service names.
    random_seed
        Seed; equal arguments give identical panels.
    extra_years
        Years after the last count year with an exposure only (to be forecast); their true
        log rates are in the returned truth.
    params
        Parameters replacing those derived from :data:`DEFAULT_PANEL_PARAMS`, by the names
        of :func:`simulate_panel_counts` (arrays per service; ``beta`` and ``contextual``
        per service and indicator; ``level`` for given national log rates). The geography,
        exposure and random streams do not depend on them.

    Returns
    -------
    panel, truth
        The panel (counts NaN after the count years) and the :class:`PanelTruth` over every
        year.

    Raises
    ------
    ConfigError
        If ``params`` has unknown names or arrays of the wrong shape.
    """
    streams = np.random.SeedSequence(random_seed).spawn(3)
    area = generate_area(scale, random_seed=int(streams[0].generate_state(1)[0]),
                         services=(dims.CIN,)).data
    geo = area.geography
    rng = np.random.default_rng(streams[1])
    total_years = n_years + extra_years
    la_children = geo.aggregate(area.exposure, dims.LSOA, dims.LA)
    growth = np.cumprod(1.0 + 0.01 * rng.standard_normal((geo.n_la, total_years)), axis=1)
    exposure = la_children[:, None] * growth
    names = area.covariate_names
    z, _, _ = standardise(area.covariates[list(names)])
    zv = z.to_numpy(dtype=float)
    share = area.exposure / la_children[geo.lsoa_to_la]
    la_mean = np.stack([np.bincount(geo.lsoa_to_la, weights=share * zv[:, k],
                                    minlength=geo.n_la) for k in range(zv.shape[1])], axis=1)
    n_s, n_k = len(services), zv.shape[1]
    p = DEFAULT_PANEL_PARAMS
    loading = np.exp(np.linspace(-0.3, 0.3, n_s))
    values = {"level0": np.full(n_s, p["level0"]), "sigma_year": np.full(n_s, p["sigma_year"]),
              "sigma_la": np.full(n_s, p["sigma_la"]), "rho": np.full(n_s, p["rho"]),
              "sigma_ar": np.full(n_s, p["sigma_ar"]),
              "volatility_sd": np.full(n_s, p["volatility_sd"]),
              "volatility_trend": np.full(n_s, p["volatility_trend"]),
              "count_dispersion": np.full(n_s, p["count_dispersion"]),
              "count_innovation": np.full(n_s, p["count_innovation"]),
              "beta": loading[:, None] * np.full((n_s, n_k), p["beta"]),
              "contextual": loading[:, None] * np.full((n_s, n_k), p["contextual"])}
    if params is not None:
        values = _replaced(values, params, total_years)
    counts, truth = simulate_panel_counts(
        values, point_z=zv - la_mean[geo.lsoa_to_la], point_share=share,
        point_la=geo.lsoa_to_la, la_mean=la_mean, exposure=exposure,
        rng=np.random.default_rng(streams[2]), reference_year=n_years - 1)
    years = np.arange(first_year, first_year + total_years)
    codes = geo.la_codes
    exposure_frame = pd.DataFrame({"la_code": np.repeat(codes, total_years),
                                   "year": np.tile(years, geo.n_la),
                                   "exposure": exposure.ravel()})
    rows = [(s, codes[la], int(years[t]), counts[la, t, j])
            for j, s in enumerate(services) for la in range(geo.n_la) for t in range(n_years)]
    counts_frame = pd.DataFrame(rows, columns=["service", "la_code", "year", "count"])
    lsoa_frame = area.covariates.reset_index(names="lsoa_code").assign(weight=area.exposure)
    panel = PanelData.from_frames(geo, lsoa_frame, exposure_frame, counts_frame,
                                  covariates=names, services=services,
                                  source=f"synthetic panel (seed {random_seed})")
    return panel, truth
