"""LA ("policy") random effects, adaptively partially centred.

Shared by the area and person models.

With an LA's expected linear predictor ``m`` given the fixed effects, its observed value ``c``
(a data constant) and a weight ``w`` that may depend on other parameters, the sampler sees::

    la_latent ~ Normal(w * (m - c), sigma_la^w)
    la_effect = sigma_la^(1 - w) * (la_latent - w * (m - c))

so ``la_effect ~ Normal(0, sigma_la)`` exactly for every ``w`` (partial centring; Gorinova,
Moore & Hoffman 2020). ``w = 1`` makes ``la_latent`` the LA's own linear predictor less ``c``,
which its data pin down directly, so the intercept and coefficients are not tied to every LA
effect by a posterior ridge; ``w = 0`` is the non-centred form, right where the data say
little. The adaptive weight is ``w = sigma_la^2 / (sigma_la^2 + v)`` with ``v`` the sampling
variance of the LA's observed linear predictor. Subtracting ``c`` keeps the location near zero,
so a change of ``w`` with ``sigma_la`` barely moves it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from bayes_needs.config.models import LA_PARAMETERISATIONS
from bayes_needs.core import dims


def partially_centred_la_effects(sigma, *, has_data: np.ndarray, sampling_variance,
                                 location_gap: Callable[[], pt.TensorVariable], mode: str):
    """Create ``la_latent`` and the deterministic ``la_effect``, dims ``(la, service)``.

    Parameters
    ----------
    sigma
        ``sigma_la`` with shape ``(1, service)``.
    has_data
        Boolean ``(la, service)``: cells with data; the others are always non-centred.
    sampling_variance
        Tensor ``(la, service)``: ``v`` where there are data (any finite value elsewhere).
    location_gap
        Builds the tensor ``m - c`` (only called when some cell may be centred; any finite
        value where there are no data).
    mode
        ``"adaptive"``, ``"centred"`` (``w = 1`` where there are data) or ``"noncentred"``.
    """
    if mode not in LA_PARAMETERISATIONS:
        raise ValueError(f"mode must be one of {LA_PARAMETERISATIONS}, got {mode!r}")
    if mode == "noncentred" or not has_data.any():
        weight = pt.zeros(has_data.shape)
        location = pt.zeros(has_data.shape)
    else:
        if mode == "centred":
            weight = pt.as_tensor(has_data.astype(float))
        else:
            weight = pt.switch(has_data, pt.sqr(sigma) / (pt.sqr(sigma) + sampling_variance),
                               0.0)
        location = weight * location_gap()
    latent = pm.Normal("la_latent", location, sigma ** weight, dims=(dims.LA, dims.SERVICE))
    effect = sigma ** (1.0 - weight) * (latent - location)
    return pm.Deterministic("la_effect", effect, dims=(dims.LA, dims.SERVICE))


def log_rate_variance(events: np.ndarray) -> np.ndarray:
    """Return the sampling variance of an observed log rate from ``events``: ``1/(n + 0.5)``."""
    return 1.0 / (np.asarray(events, float) + 0.5)


def exposure_concentration(unit_exposure: np.ndarray, unit_la: np.ndarray,
                           n_la: int) -> np.ndarray:
    """Return ``sum_m E_m^2 / (sum_m E_m)^2`` per LA over its units ``m``.

    That is the factor by which a unit-level effect variance enters the LA's rate (1 for an
    LA without exposure).
    """
    total = np.bincount(unit_la, weights=unit_exposure, minlength=n_la)
    square = np.bincount(unit_la, weights=np.square(unit_exposure), minlength=n_la)
    return np.divide(square, total ** 2, out=np.ones_like(square), where=total > 0)
