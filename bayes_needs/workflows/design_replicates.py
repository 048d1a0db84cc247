"""One replicate of a candidate design: a pure function of (context, design, replicate).

A replicate draws a parameter set from the current posterior (its ``msoa_cv`` and
``lsoa_dispersion`` from their priors when the fit has none: a fit to LA totals alone cannot
identify them), simulates the design's return from it
(:mod:`bayes_needs.simulate.design_data`), refits the area model to the data with the return
by the approximate (Laplace) path and summarises the refit
(:func:`bayes_needs.checks.design.fit_summary`). Every random step has its own stream of
``(seed, stage, replicate)`` (:mod:`bayes_needs.simulate.streams`), the same for every design,
so designs are compared on common random numbers, and the executor that runs a replicate
does not change its result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr

from bayes_needs.checks.design import FitSummary, fit_summary
from bayes_needs.config.designs import Design
from bayes_needs.config.run import RunConfig
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.data.area import AreaData
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.models.laplace import ApproximationError
from bayes_needs.simulate.design_data import ParameterSet, simulate_breakdown, with_returns
from bayes_needs.simulate.streams import (
    DESIGN_CHOICE,
    DESIGN_FIT,
    DESIGN_PARAMETERS,
    stage_rng,
)
from bayes_needs.workflows.fits import FitResult, convergence
from bayes_needs.workflows.pipeline import need_and_allocation

__all__ = ["DesignContext", "base_summary", "choose_las", "parameter_set", "refit_seed",
           "refit_summary", "run_replicate"]


@dataclass(frozen=True)
class DesignContext:
    """Everything a replicate needs, sent whole to the worker that runs it.

    Attributes
    ----------
    data
        The run's data.
    model_config
        The refits' model options (the run's, with MSOA effects when a design returns areas).
    base_model_config
        The run's own model options, those of the baseline refit.
    priors
        The run's priors (config form).
    run_config
        The run's config: need and allocation settings.
    cost_weights
        Fixed cost weight per service.
    posterior
        The current posterior's parameters, flattened over draws: ``intercept``, ``beta``,
        ``la_effect`` and, when the fit has them, ``msoa_cv`` and ``lsoa_dispersion``.
    contrast, gradient_service
        The gradient's covariate contrast and service (:mod:`bayes_needs.checks.design`).
    la_deprivation, la_children
        Per LA: child-weighted mean deprivation and child population (the LA rules).
    seed, draws
        Base seed and posterior draws per refit.
    base_width
        (la,) share-interval widths before any return (the ``widest`` rule); ``None`` until
        the base fit is made.
    """

    data: AreaData
    model_config: dict[str, Any]
    base_model_config: dict[str, Any]
    priors: dict[str, Any]
    run_config: RunConfig
    cost_weights: dict[str, float]
    posterior: dict[str, np.ndarray]
    contrast: np.ndarray
    gradient_service: str
    la_deprivation: np.ndarray
    la_children: np.ndarray
    seed: int
    draws: int
    base_width: np.ndarray | None = None


def refit_seed(seed: int, replicate: int) -> int:
    """Seed of a replicate's refit (the same for every design)."""
    return int(stage_rng(seed, DESIGN_FIT, replicate).integers(2**31))


def _approximate_fit(model: AreaDemandModel, *, random_seed: int, draws: int
                     ) -> az.InferenceData:
    """Fit ``model`` by the Laplace approximation (its k̂ in the fit's convergence record)."""
    return model.fit(random_seed=random_seed, draws=draws, chains=1, method="laplace")


def refit_summary(context: DesignContext, data: AreaData, returning: np.ndarray,
               random_seed: int, model_config: dict[str, Any]) -> FitSummary:
    """Refit ``data`` approximately with ``model_config`` and summarise it.

    Parameters
    ----------
    context
        The run (priors, need and allocation settings, gradient, draws).
    data
        The data to fit.
    returning
        (la,) which LAs returned (recorded in the summary).
    random_seed
        Seed of the approximation's draws.
    model_config
        Area-model options.

    Returns
    -------
    FitSummary
        k̂ is ``inf`` when no approximation could be made.
    """
    model = AreaDemandModel(data, model_config, priors=context.priors)
    try:
        idata = _approximate_fit(model, random_seed=random_seed, draws=context.draws)
    except ApproximationError:
        n = data.geography.n_la
        return FitSummary(np.full(n, np.nan), np.full(n, np.nan), np.nan, np.nan, np.inf,
                          returning)
    _need, allocation = need_and_allocation(FitResult(model, idata, context.run_config),
                                            cost_weights=context.cost_weights)
    post = idata_io.posterior(idata)
    if "beta" in post and context.gradient_service in model.services:
        beta = post["beta"].sel({dims.SERVICE: context.gradient_service})
    else:
        beta = xr.DataArray(np.full((1, 2, 0), np.nan), dims=(*dims.SAMPLE_DIMS, "covariate"))
    a = context.run_config.allocation
    return fit_summary(allocation, beta, context.contrast, interval_prob=a.interval_prob,
                       interval_kind=a.interval_kind,
                       pareto_k=float(convergence(idata)["pareto_k"]), returning=returning)


def base_summary(context: DesignContext) -> FitSummary:
    """Refit the data as they are with the run's model by the replicates' approximation.

    This is the designs' baseline: "the fit without the return". It keeps the run's model
    options; a run without MSOA effects has none here either, even when the replicates add
    them: LA totals alone leave their variance unidentified, and neither NUTS nor the Laplace
    approximation then fits (see :mod:`bayes_needs.workflows.design`).
    """
    return refit_summary(context, context.data, np.zeros(context.data.geography.n_la, bool),
                      refit_seed(context.seed, 0), context.base_model_config)


def choose_las(design: Design, context: DesignContext, replicate: int) -> list[str]:
    """Return the codes of the LAs that return under ``design`` in ``replicate``.

    ``random`` and ``stratified`` draw from the stream ``(seed, DESIGN_CHOICE, replicate)``,
    so each replicate averages over the random choice too.
    """
    codes = np.asarray(context.data.geography.la_codes)
    k = design.k
    if design.rule == "listed":
        return list(design.las)
    if design.rule == "largest":
        return list(codes[np.argsort(-context.la_children, kind="stable")[:k]])
    if design.rule == "widest":
        if context.base_width is None:
            raise ValueError("the 'widest' rule needs the base fit's widths")
        return list(codes[np.argsort(-context.base_width, kind="stable")[:k]])
    rng = stage_rng(context.seed, DESIGN_CHOICE, replicate)
    if design.rule == "random":
        return list(codes[np.sort(rng.choice(len(codes), size=k, replace=False))])
    # stratified: k groups of LAs ranked by deprivation, one drawn from each
    ranked = np.argsort(context.la_deprivation, kind="stable")
    return [str(codes[rng.choice(group)]) for group in np.array_split(ranked, k) if len(group)]


def parameter_set(context: DesignContext, model: AreaDemandModel, replicate: int
                  ) -> ParameterSet:
    """Draw a replicate's parameters from the current posterior (and ``model``'s priors)."""
    rng = stage_rng(context.seed, DESIGN_PARAMETERS, replicate)
    post = context.posterior
    index = int(rng.integers(len(post["intercept"])))
    services = context.data.services

    def value(name: str) -> np.ndarray:
        if name in post:
            return np.asarray(post[name][index], dtype=float)
        prior = model.priors[name]
        with pm.Model(coords={dims.SERVICE: list(services)}):
            variable = prior.create_variable(name)
        return np.asarray(pm.draw(variable, random_seed=rng), dtype=float)

    negbin = context.model_config.get("family", "negbin") == "negbin"
    msoa = bool(context.model_config.get("msoa_effects"))
    return ParameterSet(value("intercept"), value("beta") if "beta" in post else
                        np.zeros((len(services), 0)), value("la_effect"),
                        value("msoa_cv") if msoa else None,
                        value("lsoa_dispersion") if negbin else None)


def run_replicate(context: DesignContext, design: Design, replicate: int) -> FitSummary:
    """Run one replicate of ``design`` (see the module docstring).

    Parameters
    ----------
    context
        The run and its current posterior (:class:`DesignContext`).
    design
        The candidate design.
    replicate
        Replicate number (1, 2, ...).

    Returns
    -------
    FitSummary
        The refit's summary; k̂ is ``inf`` when the approximation could not be made.
    """
    las = choose_las(design, context, replicate)
    geo = context.data.geography
    returning = np.isin(np.asarray(geo.la_codes), las)
    model = AreaDemandModel(context.data, context.model_config, priors=context.priors)
    params = parameter_set(context, model, replicate)
    breakdown = simulate_breakdown(context.data, model.z, params, seed=context.seed,
                                   replicate=replicate)
    data = with_returns(context.data, breakdown, las, design.level, design.services)
    return refit_summary(context, data, returning, refit_seed(context.seed, replicate),
                      context.model_config)
