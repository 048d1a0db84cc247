"""Checks of a fit read back from a file (models/fit_checks.py): the posterior against the
rebuilt model, and the stored convergence record against the one recomputed from it.

The fits here are built directly (seeded normal draws in the shape a small PyMC model gives),
so each check is seen on its own; tests/cli/test_bad_inputs.py edits real saved fits.
"""

from __future__ import annotations

import json

import arviz as az
import numpy as np
import pymc as pm
import pytest
import xarray as xr
from fit_files import looks_converged

from bayes_needs.core import dims
from bayes_needs.core.errors import BayesNeedsError, DataValidationError
from bayes_needs.models.fit_checks import (
    CONVERGENCE_ATTR,
    check_posterior,
    record_differences,
    stored_record,
    verified_convergence,
)

SERVICES = ("cin", "cla")
MONITORED = ("sigma", "mu")


def small_model() -> pm.Model:
    """A model with a free variable per service, a scalar and a deterministic."""
    with pm.Model(coords={dims.SERVICE: SERVICES}) as model:
        mu = pm.Normal("mu", dims=dims.SERVICE)
        sigma = pm.HalfNormal("sigma")
        pm.Deterministic("scaled", mu * sigma, dims=dims.SERVICE)
    return model


def fit(seed: int = 0, *, chains: int = 2, draws: int = 50, shift: float = 0.0,
        diverging: int = 0) -> az.InferenceData:
    """Draws shaped as :func:`small_model`'s posterior; ``shift`` moves the second chain."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(chains, draws, len(SERVICES)))
    mu[1:] += shift
    sigma = np.abs(rng.normal(size=(chains, draws)))
    coords = {dims.CHAIN: np.arange(chains), dims.DRAW: np.arange(draws),
              dims.SERVICE: list(SERVICES)}
    posterior = xr.Dataset({"mu": ((dims.CHAIN, dims.DRAW, dims.SERVICE), mu),
                            "sigma": ((dims.CHAIN, dims.DRAW), sigma),
                            "scaled": ((dims.CHAIN, dims.DRAW, dims.SERVICE),
                                       mu * sigma[..., None])}, coords=coords)
    flags = np.zeros((chains, draws), dtype=bool)
    flags.flat[:diverging] = True
    stats = xr.Dataset({"diverging": ((dims.CHAIN, dims.DRAW), flags)},
                       coords={dims.CHAIN: coords[dims.CHAIN], dims.DRAW: coords[dims.DRAW]})
    return az.InferenceData(posterior=posterior, sample_stats=stats)


def with_record(idata: az.InferenceData, record: dict | str) -> az.InferenceData:
    """``idata`` with a convergence record stored in its posterior attributes."""
    idata.posterior.attrs[CONVERGENCE_ATTR] = record if isinstance(record, str) \
        else json.dumps(record)
    return idata


def recomputed(idata: az.InferenceData) -> dict:
    """The record a fresh copy of ``idata`` verifies to (no stored record)."""
    copy = az.InferenceData(posterior=idata.posterior.copy(),
                            sample_stats=idata.sample_stats.copy())
    copy.posterior.attrs.pop(CONVERGENCE_ATTR, None)
    return verified_convergence(copy, MONITORED, "fresh")


# ====================================================================== convergence record
def test_an_intact_record_is_accepted_and_replaced_by_the_recomputed_one():
    unconverged = fit(shift=3.0)
    record = recomputed(unconverged)
    assert record["rhat_max"] > 1.5  # the chains disagree: the gate must see this
    with_record(unconverged, json.loads(json.dumps(record)))
    same = json.dumps(record, sort_keys=True)  # as text: NaN (no BFMI here) equals NaN
    assert json.dumps(verified_convergence(unconverged, MONITORED, "fit.nc"),
                      sort_keys=True) == same
    assert json.dumps(stored_record(unconverged, "fit.nc"), sort_keys=True) == same


def test_a_record_edited_to_look_converged_is_refused_naming_both_values():
    unconverged = fit(shift=3.0)
    record = recomputed(unconverged)
    edited = json.loads(json.dumps(record))
    looks_converged(edited)
    with_record(unconverged, edited)
    with pytest.raises(BayesNeedsError) as info:
        verified_convergence(unconverged, MONITORED, "runs/a/fit.nc")
    message = str(info.value)
    assert "runs/a/fit.nc" in message and "disagrees" in message
    assert f"max R-hat: stored 1, recomputed {record['rhat_max']:.6g}" in message
    assert f"R-hat of mu: stored 1, recomputed " \
           f"{record['per_variable']['rhat_max']['mu']:.6g}" in message


def test_hidden_divergences_are_found():
    diverging = fit(diverging=3)
    record = recomputed(diverging)
    assert record["divergences"] == 3
    with_record(diverging, {**record, "divergences": 0})
    with pytest.raises(BayesNeedsError, match="divergences: stored 0, recomputed 3"):
        verified_convergence(diverging, MONITORED, "fit.nc")


def test_a_fit_without_divergence_statistics_is_refused():
    idata = fit()
    bare = az.InferenceData(posterior=idata.posterior)
    with pytest.raises(BayesNeedsError, match=r"fit\.nc: .*sample_stats 'diverging'"):
        verified_convergence(bare, MONITORED, "fit.nc")


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", "3", "[" * 100_000])
def test_a_malformed_record_is_named(raw):
    idata = with_record(fit(), raw)
    with pytest.raises(BayesNeedsError, match=f"fit.nc: attribute '{CONVERGENCE_ATTR}'"):
        verified_convergence(idata, MONITORED, "fit.nc")


def test_record_differences_lists_missing_and_wrongly_typed_entries():
    record = recomputed(fit())
    broken = {**record, "n_draws": "50", "per_variable": None}
    broken.pop("ess_tail_min")
    differences = record_differences(broken, record)
    assert "min tail ESS: stored (missing), recomputed " \
           f"{record['ess_tail_min']:.6g}" in differences
    assert "draws: stored '50', recomputed 50" in differences
    assert any(d.startswith("bulk ESS of sigma: stored (missing)") for d in differences)
    assert record_differences(record, record) == []


def test_nan_statistics_agree_with_nan():
    one_chain = fit(chains=1, draws=3)
    record = recomputed(one_chain)
    assert np.isnan(record["rhat_max"])
    with_record(one_chain, json.loads(json.dumps(record)))
    verified_convergence(one_chain, MONITORED, "fit.nc")


# ====================================================================== posterior
def test_a_posterior_matching_the_model_passes():
    check_posterior(fit(), small_model(), "fit.nc")


def test_every_posterior_problem_is_listed():
    idata = fit()
    posterior = idata.posterior.drop_vars("sigma")
    posterior["mu"].values[0, 0, 1] = np.nan
    posterior["scaled"] = posterior["scaled"].transpose(dims.CHAIN, dims.SERVICE, dims.DRAW)
    idata.posterior = posterior
    with pytest.raises(DataValidationError) as info:
        check_posterior(idata, small_model(), "fit.nc")
    problems = info.value.problems
    assert info.value.source == "fit.nc (posterior)"
    assert "posterior variable 'sigma' is missing" in problems
    assert "posterior variable 'mu' has 1 NaN or infinite value(s)" in problems
    assert any(p.startswith("posterior variable 'scaled' has dims ['chain', 'service', "
                            "'draw']") for p in problems)


def test_relabelled_coordinates_are_refused():
    idata = fit()
    idata.posterior = idata.posterior.assign_coords({dims.SERVICE: list(SERVICES[::-1])})
    with pytest.raises(DataValidationError, match="coordinate 'service'"):
        check_posterior(idata, small_model(), "fit.nc")
