"""Checks of a fit read back from a file: its posterior, and its stored convergence record.

A saved fit comes from outside the process: it may be damaged, edited by hand or written for
another model. Nothing it states about itself is trusted:

* :func:`check_posterior` compares the posterior with the rebuilt model: every free and
  deterministic variable present, with the model's dims and coordinates, and finite;
* :func:`verified_convergence` recomputes the convergence summary (R-hat, ESS, divergences,
  BFMI) from the loaded posterior and sample statistics, and refuses a fit whose stored
  record disagrees, naming both values. The recomputed record replaces the stored one, so
  the convergence gate (:mod:`bayes_needs.checks.gate`) only ever sees recomputed numbers.
  An approximate fit's record (:func:`~bayes_needs.core.convergence.approximation_summary`)
  cannot be recomputed: its Pareto k̂ came from proposals the resampled draws no longer
  hold. It is checked instead (:func:`verified_approximation`): present, finite, of the
  method the stored config and attributes name, and of the posterior's shape.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import arviz as az
import numpy as np
import pymc as pm

from bayes_needs.core import convergence, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.convergence import is_approximate, method_of
from bayes_needs.core.errors import BayesNeedsError, DataValidationError

#: Posterior attribute holding the JSON convergence summary of a fit.
CONVERGENCE_ATTR = "bayes_needs_convergence"
#: Statistics of a convergence record compared on load, with their names in messages.
RECORD_FIELDS: dict[str, str] = {
    "rhat_max": "max R-hat", "ess_bulk_min": "min bulk ESS", "ess_tail_min": "min tail ESS",
    "divergences": "divergences", "bfmi_min": "min BFMI", "n_chains": "chains",
    "n_draws": "draws"}
#: Per-variable statistics of a record, with their names in messages.
PER_VARIABLE_FIELDS: dict[str, str] = {"rhat_max": "R-hat", "ess_bulk_min": "bulk ESS",
                                       "ess_tail_min": "tail ESS"}
#: Relative tolerance of the comparison: another machine may differ in the last digits.
RECORD_RTOL = 1e-6
#: Disagreements listed in a message before "and N more".
MAX_LISTED = 6


def record_json(summary: Mapping[str, Any]) -> str:
    """Return a convergence summary as the JSON stored in :data:`CONVERGENCE_ATTR`."""
    return json.dumps(summary, default=float)


def stored_record(idata: az.InferenceData, source: str) -> dict[str, Any] | None:
    """Return the convergence record stored with a fit, or ``None`` when it has none.

    Parameters
    ----------
    idata
        The fit.
    source
        The file, as named in the error.

    Raises
    ------
    BayesNeedsError
        If the attribute is not a JSON object.
    """
    raw = idata_io.posterior(idata).attrs.get(CONVERGENCE_ATTR)
    if raw is None:
        return None
    try:
        record = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):
        record = None
    if not isinstance(record, dict):
        raise BayesNeedsError(f"{source}: attribute '{CONVERGENCE_ATTR}' is not a convergence "
                              f"record (a JSON object); the file was altered or damaged")
    return record


def verified_convergence(idata: az.InferenceData, monitored: Sequence[str],
                         source: str) -> dict[str, Any]:
    """Recompute a loaded fit's convergence summary and check the stored record against it.

    Parameters
    ----------
    idata
        The loaded fit; its stored record is replaced by the recomputed one.
    monitored
        The variables the record summarises (the model's ``MONITORED``).
    source
        The file, as named in the error.

    Returns
    -------
    dict
        The recomputed summary (:func:`bayes_needs.core.convergence.convergence_summary`).

    Raises
    ------
    BayesNeedsError
        If the fit has no divergence statistics, or the stored record is malformed or
        disagrees with the posterior, listing each disagreement with its stored and
        recomputed values.
    """
    stored = stored_record(idata, source)
    if stored_method(idata) != "nuts" or (stored is not None and is_approximate(stored)):
        return verified_approximation(idata, stored, source)
    stats = idata_io.sample_stats(idata)
    if stats is None or "diverging" not in stats:
        # Every sampler records divergences; without them a fit could hide its own.
        raise BayesNeedsError(f"{source}: the fit has no sampler statistics (sample_stats "
                              f"'diverging'), so its divergences cannot be counted; the file "
                              f"was altered or damaged")
    post = idata_io.posterior(idata)
    recomputed = convergence.convergence_summary(idata, [v for v in monitored if v in post])
    if stored is not None:
        differences = record_differences(stored, recomputed)
        if differences:
            shown = differences[:MAX_LISTED]
            more = len(differences) - len(shown)
            raise BayesNeedsError(
                f"{source}: the convergence record stored with the fit disagrees with the "
                f"convergence recomputed from its posterior ({'; '.join(shown)}"
                f"{f'; and {more} more' if more else ''}); the file was altered or damaged, "
                f"so it is not used. Refit, or restore the file the fit wrote")
    post.attrs[CONVERGENCE_ATTR] = record_json(recomputed)
    return recomputed


def stored_method(idata: az.InferenceData) -> str:
    """Return the method the stored config's ``"run"`` entry names (``"nuts"`` without one)."""
    try:
        run = idata_io.get_config(idata).get("run")
    except (BayesNeedsError, ValueError):  # no stored config: read back as it always was
        return "nuts"
    method = run.get("method", "nuts") if isinstance(run, dict) else "nuts"
    return str(method)


def verified_approximation(idata: az.InferenceData, stored: Mapping[str, Any] | None,
                           source: str) -> dict[str, Any]:
    """Check an approximate fit's stored record (it cannot be recomputed; module docstring).

    Parameters
    ----------
    idata
        The loaded fit.
    stored
        Its stored record (``None`` when it has none).
    source
        The file, as named in the error.

    Returns
    -------
    dict
        The record.

    Raises
    ------
    BayesNeedsError
        Naming every problem: no record, a record that is not an approximation's, a method
        other than the stored config's and attributes', a missing or non-finite Pareto k̂ or
        importance ESS or one other than the stored config's, or another shape than the
        posterior's.
    """
    method, named = stored_method(idata), idata_io.get_method(idata)
    if stored is None or not is_approximate(stored):
        problems = [f"the stored config names method '{method}', but the fit has "
                    f"{'no convergence record' if stored is None else 'a NUTS record'}"]
    else:
        problems = [] if method_of(stored) == method == named else [
            f"the record's method is '{method_of(stored)}', the stored config's '{method}' "
            f"and the attributes' '{named}'"]
        post = idata_io.posterior(idata)
        run = idata_io.get_config(idata).get("run")
        run = run if isinstance(run, dict) else {}
        for key, label in (("pareto_k", "Pareto k̂"), ("importance_ess", "importance ESS")):
            if not (_number(stored.get(key)) and math.isfinite(stored[key])):
                problems.append(f"{label}: stored {_shown(stored.get(key))}, not a number")
            elif not _same(stored[key], run.get(key)):
                problems.append(f"{label}: the record's {_shown(stored[key])}, the stored "
                                f"config's {_shown(run.get(key))}")
        for key, dim in (("n_chains", dims.CHAIN), ("n_draws", dims.DRAW)):
            if not _same(stored.get(key), post.sizes.get(dim, 0)):
                problems.append(f"{RECORD_FIELDS[key]}: stored {_shown(stored.get(key))}, "
                                f"the posterior has {post.sizes.get(dim, 0)}")
    if problems or stored is None:
        raise BayesNeedsError(
            f"{source}: the approximation record stored with the fit is not consistent "
            f"({'; '.join(problems[:MAX_LISTED])}); the file was altered or damaged, so it "
            f"is not used. Refit, or restore the file the fit wrote")
    return dict(stored)


def record_differences(stored: Mapping[str, Any], recomputed: Mapping[str, Any]) -> list[str]:
    """List where a stored convergence record differs from the recomputed one.

    Parameters
    ----------
    stored, recomputed
        Convergence summaries (the stored one may be malformed).

    Returns
    -------
    list of str
        One ``"<statistic>: stored X, recomputed Y"`` per difference (empty when they agree).
    """
    differences = [f"{label}: stored {_shown(stored.get(key))}, recomputed "
                   f"{_shown(recomputed.get(key))}"
                   for key, label in RECORD_FIELDS.items()
                   if not _same(stored.get(key), recomputed.get(key))]
    stored_per = stored.get("per_variable")
    stored_per = stored_per if isinstance(stored_per, dict) else {}
    for key, label in PER_VARIABLE_FIELDS.items():
        old = stored_per.get(key)
        old = old if isinstance(old, dict) else {}
        new = recomputed["per_variable"][key]
        differences += [f"{label} of {name}: stored {_shown(old.get(name))}, recomputed "
                        f"{_shown(new.get(name))}"
                        for name in sorted(set(old) | set(new))
                        if not _same(old.get(name), new.get(name))]
    return differences


def check_posterior(idata: az.InferenceData, model: pm.Model, source: str) -> None:
    """Check a loaded posterior holds every variable of ``model``, shaped as it, and finite.

    Parameters
    ----------
    idata
        The loaded fit.
    model
        The PyMC model rebuilt from the fit's stored config.
    source
        The file, as named in the error.

    Raises
    ------
    DataValidationError
        Naming every variable that is missing, has other dims or coordinates than the
        model's, or holds NaN or infinite values.
    """
    post = idata_io.posterior(idata)
    problems = [f"the posterior has no '{dim}' dimension" for dim in (dims.CHAIN, dims.DRAW)
                if post.sizes.get(dim, 0) < 1]
    names = [v.name for v in (*model.free_RVs, *model.deterministics)]
    for name in names:
        if name not in post.data_vars:
            problems.append(f"posterior variable '{name}' is missing")
            continue
        var = post[name]
        problem = _shape_problem(name, var, model)
        if problem is None:
            bad = int(np.count_nonzero(~np.isfinite(var.to_numpy())))
            problem = None if not bad else \
                f"posterior variable '{name}' has {bad} NaN or infinite value(s)"
        if problem is not None:
            problems.append(problem)
    if problems:
        raise DataValidationError(f"{source} (posterior)", problems)


def _shape_problem(name: str, var: Any, model: pm.Model) -> str | None:
    """Say how a posterior variable's dims or coordinates differ from the model's, if they do."""
    model_dims = model.named_vars_to_dims.get(name)
    if model_dims is None:
        return None
    want = (dims.CHAIN, dims.DRAW, *model_dims)
    if tuple(var.dims) != want:
        return f"posterior variable '{name}' has dims {list(var.dims)}; the model's are " \
               f"{list(want)}"
    for dim in model_dims:
        expected = model.coords.get(dim)
        if expected is None:
            continue
        found = [str(v) for v in var[dim].to_numpy()]
        if found != [str(v) for v in expected]:
            return f"posterior variable '{name}': coordinate '{dim}' has {len(found)} " \
                   f"value(s) {found[:4]}..., the model's {len(expected)} " \
                   f"{[str(v) for v in expected][:4]}..."
    return None


def _number(value: Any) -> bool:
    """Whether ``value`` is a real number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(stored: Any, recomputed: Any) -> bool:
    """Whether two record values agree (NaN equals NaN; within :data:`RECORD_RTOL`)."""
    if not (_number(stored) and _number(recomputed)):
        return stored is None and recomputed is None
    if math.isnan(stored) or math.isnan(recomputed):
        return math.isnan(stored) and math.isnan(recomputed)
    return math.isclose(stored, recomputed, rel_tol=RECORD_RTOL, abs_tol=1e-12)


def _shown(value: Any) -> str:
    """Write a record value as a message shows it."""
    if value is None:
        return "(missing)"
    if _number(value):
        return f"{value:.6g}"
    return repr(value)[:40]
