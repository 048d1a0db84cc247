"""How far a fit can be trusted: NUTS's convergence, or an approximation's own diagnostic.

Every fit carries one record (:data:`bayes_needs.models.fit_checks.CONVERGENCE_ATTR`):

* a NUTS fit's :func:`convergence_summary`: R-hat, bulk and tail ESS, divergences and BFMI,
  recomputed from the posterior whenever the fit is read back;
* an approximate fit's :func:`approximation_summary`: the method and the Pareto k̂ and
  effective sample size of its importance weights (Yao et al. 2018). Its draws are
  independent (importance-resampled), so R-hat and ESS say nothing about them and are NaN;
  it has no trajectories, so no divergences.

The convergence gate (:mod:`bayes_needs.checks.gate`) reads either.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io

#: The record's R-hat and ESS entries, summarised per variable too.
PER_VARIABLE: tuple[str, ...] = ("rhat_max", "ess_bulk_min", "ess_tail_min")


def convergence_summary(idata: az.InferenceData, var_names: list[str] | None = None
                        ) -> dict[str, Any]:
    """Summarise R-hat, bulk and tail ESS, divergences and BFMI of a fit.

    Parameters
    ----------
    idata
        The fit (posterior group; sample_stats when sampled by NUTS).
    var_names
        Variables to summarise (defaults to all posterior variables).

    Returns
    -------
    dict
        ``rhat_max``, ``ess_bulk_min``, ``ess_tail_min``, ``divergences``, ``bfmi_min``
        (NaN without energy), ``n_chains``, ``n_draws`` and ``per_variable`` (the first three
        per variable).
    """
    post = idata_io.posterior(idata)
    names = var_names or [str(name) for name in post.data_vars]
    rhat = az.rhat(post, var_names=names)
    ess_bulk = az.ess(post, var_names=names, method="bulk")
    ess_tail = az.ess(post, var_names=names, method="tail")
    stats = idata_io.sample_stats(idata)
    divergences = int(stats["diverging"].sum()) if stats is not None and \
        "diverging" in stats else 0
    try:
        bfmi = np.atleast_1d(az.bfmi(idata)).tolist()
    except Exception:  # no energy (e.g. mocked sampler)
        bfmi = []
    per_var = {
        "rhat_max": _per_variable(rhat, np.nanmax),
        "ess_bulk_min": _per_variable(ess_bulk, np.nanmin),
        "ess_tail_min": _per_variable(ess_tail, np.nanmin),
    }
    return {
        "rhat_max": max(per_var["rhat_max"].values(), default=float("nan")),
        "ess_bulk_min": min(per_var["ess_bulk_min"].values(), default=float("nan")),
        "ess_tail_min": min(per_var["ess_tail_min"].values(), default=float("nan")),
        "divergences": divergences,
        "bfmi_min": min(bfmi, default=float("nan")),
        "n_chains": int(post.sizes.get(dims.CHAIN, 0)),
        "n_draws": int(post.sizes.get(dims.DRAW, 0)),
        "per_variable": per_var,
    }


def approximation_summary(*, method: str, pareto_k: float, importance_ess: float,
                          n_chains: int, n_draws: int, variant: str = "gaussian",
                          hyper_points: int = 0) -> dict[str, Any]:
    """Return the record of an approximate fit (see the module docstring).

    Parameters
    ----------
    method
        The approximation (``"laplace"``).
    pareto_k, importance_ess
        Pareto k̂ and effective sample size of the importance weights of its draws.
    n_chains, n_draws
        The shape of the draws handed on.
    variant, hyper_points
        ``"gaussian"`` (one Gaussian at the mode) or ``"nested"`` (hyperparameters
        integrated over ``hyper_points`` lattice points).

    Returns
    -------
    dict
        ``method``, ``approximate`` (true), ``pareto_k``, ``importance_ess``, ``n_chains``,
        ``n_draws``, ``variant``, ``hyper_points``; the NUTS entries are there (NaN, no
        divergences) so tables of fits of either kind keep their columns.
    """
    nan = float("nan")
    return {"method": method, "approximate": True, "pareto_k": float(pareto_k),
            "importance_ess": float(importance_ess), "n_chains": int(n_chains),
            "n_draws": int(n_draws), "variant": str(variant),
            "hyper_points": int(hyper_points), "rhat_max": nan, "ess_bulk_min": nan,
            "ess_tail_min": nan, "divergences": 0, "bfmi_min": nan,
            "per_variable": {key: {} for key in PER_VARIABLE}}


def is_approximate(summary: Mapping[str, Any]) -> bool:
    """Whether a record is an approximate fit's (:func:`approximation_summary`)."""
    return summary.get("approximate") is True


def method_of(summary: Mapping[str, Any]) -> str:
    """Return the method a record describes (``"nuts"`` for a convergence summary)."""
    return str(summary.get("method", "nuts")) if is_approximate(summary) else "nuts"


def describe_method(summary: Mapping[str, Any]) -> str:
    """Say how the fit was computed, e.g. for ``summary.txt`` and the netCDF attributes.

    Returns
    -------
    str
        ``"nuts"``, or e.g. ``"laplace (approximate; PSIS k̂ = 0.52, importance ESS 168 of
        2000)"`` or ``"laplace (approximate, nested over 45 hyperparameter points; PSIS
        k̂ = 0.31, ...)"``.
    """
    if not is_approximate(summary):
        return "nuts"
    total = int(summary.get("n_chains", 0)) * int(summary.get("n_draws", 0))
    k, ess = float(summary.get("pareto_k", math.nan)), float(summary.get("importance_ess",
                                                                         math.nan))
    how = f"approximate, nested over {int(summary.get('hyper_points', 0))} hyperparameter " \
        "points" if summary.get("variant") == "nested" else "approximate"
    return (f"{method_of(summary)} ({how}; PSIS k̂ = {k:.2f}, importance ESS {ess:.0f} "
            f"of {total})")


def inference_record(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Return how a fit was computed, for ``run.json`` and the attributes of outputs.

    Returns
    -------
    dict
        ``method``, ``approximate`` (0 or 1, as netCDF attributes hold no booleans),
        ``inference`` (:func:`describe_method`) and, for an approximate fit, ``pareto_k``,
        ``importance_ess``, ``variant`` and ``hyper_points``.
    """
    record = {"method": method_of(summary), "approximate": int(is_approximate(summary)),
              "inference": describe_method(summary)}
    if is_approximate(summary):
        record.update(pareto_k=float(summary["pareto_k"]),
                      importance_ess=float(summary["importance_ess"]),
                      variant=str(summary.get("variant", "gaussian")),
                      hyper_points=int(summary.get("hyper_points", 0)))
    return record


def _per_variable(ds: xr.Dataset, reduce: Callable[[np.ndarray], Any]) -> dict[str, float]:
    """Reduce each non-empty variable of ``ds`` to one float, keyed by variable name."""
    # str(): xarray types variable names as any hashable.
    return {str(k): float(reduce(v.values)) for k, v in ds.data_vars.items() if v.size}
