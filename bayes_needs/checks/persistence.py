"""Persistence baseline of the rolling-origin backtest: the last count, with an NB interval.

The baseline a forecasting model has to beat says that an LA's count of a service stays
where it was, scaled by the change of its child population:

* **Mean.** The forecast of year ``origin + h`` for LA ``l`` has mean
  ``y[l, s] * E[l, origin + h] / E[l, s]``, where ``s`` is the last year up to the origin
  with an observed count of the LA (the origin itself unless its count is missing) and
  ``E`` the exposure (child population), known for the target year.
* **Spread.** Counts are negative binomial (NB2) about that mean,
  ``Var = mu + mu**2 / r``, with one shape ``r`` per service and horizon. ``r`` is the
  maximum-likelihood estimate (:func:`scipy.optimize.minimize_scalar` on ``log r``) over the
  past pairs of counts ``h`` years apart, pooled over LAs: ``y[l, t]`` given the mean
  ``y[l, t - h] * E[l, t] / E[l, t - h]``, for every ``t <= origin`` of the history. Only
  the history enters, so nothing after the origin is used (no look-ahead). Pairs whose
  earlier count is zero carry no information on ``r`` (a mean-zero NB is a point mass at
  zero) and are left out. The search for ``r`` is bounded by :data:`SHAPE_BOUNDS`; data as
  regular as a Poisson (or more) give the upper bound, a Poisson in effect.
* **Draws.** ``n_draws`` draws per LA from ``NB(mu, r)`` as a gamma-Poisson mixture
  (rate ``Gamma(r, mu / r)``, then Poisson), from an explicit seed. An LA without an observed
  count in the history, or without the exposure the mean needs, gets NaN draws: no forecast,
  left out of the scores (:func:`bayes_needs.checks.forecast_scores.score_forecasts`).

Counts and exposures are plain arrays over ``(la, year)``: one service at a time, the years
consecutive, NaN where missing.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import gammaln, xlogy

from bayes_needs.core.errors import ConfigError, DataValidationError

#: Bounds of the search for the NB2 shape ``r``; the upper one is a Poisson in effect.
SHAPE_BOUNDS: tuple[float, float] = (1.0e-3, 1.0e8)
# Tolerance of the search on log(r): far below the sampling error of any real fit.
_LOG_SHAPE_TOL = 1.0e-6
_SOURCE = "persistence baseline"
_SHOWN = 5  # LA rows named in an error message


def _check_whole(name: str, value: int, minimum: int) -> int:
    """Validate a whole-number argument of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be a whole number of at least {minimum}, "
                          f"got {value!r}")
    return int(value)


def _rows(mask: np.ndarray) -> str:
    """Name the first few LA rows where ``mask`` holds, for an error message."""
    where = np.flatnonzero(mask)
    shown = ", ".join(str(int(i)) for i in where[:_SHOWN])
    return shown + (f" and {where.size - _SHOWN} more" if where.size > _SHOWN else "")


def _check_arrays(history: np.ndarray, exposure: np.ndarray,
                  horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate the counts and exposures as arrays of floats, collecting every problem."""
    horizon = _check_whole("horizon", horizon, 1)
    history = np.asarray(history, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    problems = []
    if history.ndim != 2 or history.shape[1] == 0:
        problems.append(f"history must be 2-D (la, year) with at least one year, got shape "
                        f"{history.shape}")
    elif exposure.shape != (history.shape[0], history.shape[1] + horizon):
        problems.append(
            f"exposure must have shape (la, year + horizon) = {history.shape[0]} x "
            f"({history.shape[1]} + {horizon}), got {exposure.shape}")
    if problems:
        raise DataValidationError(_SOURCE, problems)
    bad_count = np.isinf(history) | (history < 0)
    if bad_count.any():
        problems.append("history counts must be non-negative or NaN; bad in LA row(s) "
                        + _rows(bad_count.any(axis=1)))
    bad_exposure = np.isinf(exposure) | (exposure <= 0)
    if bad_exposure.any():
        problems.append("exposure must be positive or NaN; bad in LA row(s) "
                        + _rows(bad_exposure.any(axis=1)))
    if problems:
        raise DataValidationError(_SOURCE, problems)
    return history, exposure


def _pairs(history: np.ndarray, exposure: np.ndarray,
           horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Later counts and their persistence means over all pairs ``horizon`` years apart."""
    n_year = history.shape[1]
    if n_year <= horizon:
        return np.empty(0), np.empty(0)
    earlier, later = history[:, :n_year - horizon], history[:, horizon:]
    mean = earlier * exposure[:, horizon:n_year] / exposure[:, :n_year - horizon]
    # NaN comparisons are False, so missing counts or exposures drop out here too.
    usable = np.isfinite(later) & (mean > 0)
    return later[usable], mean[usable]


def _nb2_loglik(shape: float, counts: np.ndarray, mean: np.ndarray) -> float:
    """Log-likelihood of counts under NB2(mean, shape), summed."""
    terms = (gammaln(counts + shape) - gammaln(shape) - gammaln(counts + 1.0)
             - shape * np.log1p(mean / shape) + xlogy(counts, mean / (mean + shape)))
    return float(np.sum(terms))


def fit_persistence_dispersion(history: np.ndarray, exposure: np.ndarray,
                               horizon: int) -> float:
    """Maximum-likelihood NB2 shape of counts ``horizon`` years apart, pooled over LAs.

    Parameters
    ----------
    history
        Counts of one service, shape ``(la, year)`` over consecutive years up to the origin;
        NaN where missing.
    exposure
        Exposures (child populations), shape ``(la, year + horizon)``: the history's years,
        then the ``horizon`` years after the origin; NaN where missing.
    horizon
        Years between the counts of a pair, at least 1.

    Returns
    -------
    float
        The shape ``r`` of ``y[l, t] ~ NB2(y[l, t - h] * E[l, t] / E[l, t - h], r)``
        (variance ``mu + mu**2 / r``), within :data:`SHAPE_BOUNDS`.

    Raises
    ------
    ConfigError
        If ``horizon`` is not a whole number of at least 1.
    DataValidationError
        On bad shapes, negative or infinite counts, non-positive exposures, or when no LA
        has two usable counts ``horizon`` years apart.
    """
    history, exposure = _check_arrays(history, exposure, horizon)
    counts, mean = _pairs(history, exposure, horizon)
    if counts.size == 0:
        raise DataValidationError(_SOURCE, [
            f"no LA has a positive count and a count {horizon} year(s) later (with both "
            f"exposures) in a history of {history.shape[1]} year(s): the dispersion of a "
            f"{horizon}-year persistence forecast cannot be fitted"])
    low, high = np.log(SHAPE_BOUNDS[0]), np.log(SHAPE_BOUNDS[1])
    fit = minimize_scalar(lambda log_shape: -_nb2_loglik(float(np.exp(log_shape)), counts,
                                                         mean),
                          bounds=(low, high), method="bounded",
                          options={"xatol": _LOG_SHAPE_TOL})
    return float(np.exp(np.clip(fit.x, low, high)))


def persistence_means(history: np.ndarray, exposure: np.ndarray, horizon: int) -> np.ndarray:
    """Means of the persistence forecast ``horizon`` years after the last history year.

    Parameters
    ----------
    history
        Counts of one service, shape ``(la, year)`` up to the origin; NaN where missing.
    exposure
        Exposures, shape ``(la, year + horizon)``; NaN where missing.
    horizon
        Years ahead of the origin, at least 1.

    Returns
    -------
    numpy.ndarray
        Shape ``(la,)``: the LA's last observed count times the ratio of the target year's
        exposure to that year's; NaN for an LA without an observed count or an exposure.

    Raises
    ------
    ConfigError
        If ``horizon`` is not a whole number of at least 1.
    DataValidationError
        On bad shapes, negative or infinite counts or non-positive exposures.
    """
    history, exposure = _check_arrays(history, exposure, horizon)
    n_la, n_year = history.shape
    observed = np.isfinite(history)
    # Index of the last observed year per LA (0 for an LA with none, masked below).
    last = n_year - 1 - np.argmax(observed[:, ::-1], axis=1)
    rows = np.arange(n_la)
    target = n_year - 1 + horizon
    mean = history[rows, last] * exposure[rows, target] / exposure[rows, last]
    return np.where(observed.any(axis=1), mean, np.nan)


def persistence_forecast(history: np.ndarray, exposure: np.ndarray, horizon: int,
                         n_draws: int, random_seed: int) -> np.ndarray:
    """Draws of the persistence forecast ``horizon`` years after the origin.

    The method is in the module docstring: mean from :func:`persistence_means`, negative
    binomial spread with the shape of :func:`fit_persistence_dispersion`.

    Parameters
    ----------
    history
        Counts of one service, shape ``(la, year)`` over consecutive years up to and
        including the origin; NaN where missing.
    exposure
        Exposures (child populations), shape ``(la, year + horizon)``: the history's years,
        then the ``horizon`` years after the origin; NaN where missing.
    horizon
        Years ahead of the origin, at least 1.
    n_draws
        Draws per LA, at least 1.
    random_seed
        Seed of :func:`numpy.random.default_rng`, a non-negative whole number.

    Returns
    -------
    numpy.ndarray
        Shape ``(la, n_draws)``, whole-number counts as floats; all NaN for an LA without an
        observed count (or the exposure its mean needs) in the history.

    Raises
    ------
    ConfigError
        If ``horizon`` or ``n_draws`` is not a whole number of at least 1, or
        ``random_seed`` not a non-negative whole number.
    DataValidationError
        On bad shapes or values, or when the dispersion cannot be fitted (see
        :func:`fit_persistence_dispersion`).
    """
    n_draws = _check_whole("n_draws", n_draws, 1)
    random_seed = _check_whole("random_seed", random_seed, 0)
    shape = fit_persistence_dispersion(history, exposure, horizon)
    mean = persistence_means(history, exposure, horizon)
    rows = np.flatnonzero(np.isfinite(mean))
    rng = np.random.default_rng(random_seed)
    # NB2 as a gamma-Poisson mixture: exact even when r is huge (the Poisson limit).
    rate = rng.gamma(shape, mean[rows, np.newaxis] / shape, size=(rows.size, n_draws))
    draws = np.full((mean.size, n_draws), np.nan)
    draws[rows] = rng.poisson(rate)
    return draws
