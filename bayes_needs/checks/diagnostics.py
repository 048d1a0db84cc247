"""Model diagnostics of an area fit beyond R-hat and ESS: LOO per LA, LOO-PIT, power-scaling.

All of them reuse the posterior draws; nothing is refitted.

* :func:`log_densities` adds ``log_likelihood`` (pointwise, per observation) and ``log_prior``
  groups, which the others need.
* :func:`loo_by_la` sums the pointwise log-likelihood of every observation in an LA (all
  services and levels: LSOA, MSOA and LA-total returns) and runs PSIS-LOO on those LA sums, so
  each LA gets one Pareto k: how influential or badly predicted the LA's data are as a whole.
  The LSOA split likelihood stores each MSOA's normalising term on its first LSOA, which is
  exact once summed within an LA (every MSOA lies in one LA).
* :func:`loo_pit` gives randomised LOO-PIT values for count data (PIT is discrete for counts,
  so a uniform draw fills each jump; Czado, Gneiting & Held 2009). Only the MSOA and LA-total
  negative-binomial observations are used: LSOA terms of the split likelihood are not
  per-observation densities.
* :func:`power_scaling` is ArviZ's power-scaling sensitivity (``arviz.psens``; Kallioinen et
  al. 2023) of every hyperparameter to its prior and to the likelihood, flagged as priorsense
  does (threshold 0.05). Only the hyperpriors are power-scaled: the LA effects' normal
  distribution is part of the hierarchical model, not a prior choice.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy import sparse

from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.data.geography import as_level
from bayes_needs.models.area import HYPERPARAMETERS, AreaDemandModel

#: priorsense's threshold on the power-scaling sensitivity.
PSENS_THRESHOLD = 0.05
#: Fewest posterior draws (chains x draws) PSIS can smooth: it fits the tail of the
#: importance weights beyond the largest one, so one draw leaves nothing to fit.
MIN_PSIS_DRAWS = 2
#: Free variables whose prior is power-scaled (``la_chol`` carries ``sigma_la`` and the
#: correlations when LA effects are correlated).
PRIOR_VARIABLES: tuple[str, ...] = ("intercept", "beta", "sigma_la", "msoa_cv",
                                    "lsoa_dispersion", "la_chol")
CONFLICT = "potential prior-data conflict"
STRONG_PRIOR = "potential strong prior / weak likelihood"


def log_densities(model: AreaDemandModel, idata: az.InferenceData) -> az.InferenceData:
    """Add pointwise ``log_likelihood`` and ``log_prior`` groups to a fit.

    Parameters
    ----------
    model, idata
        An area model and its fit (unchanged).

    Returns
    -------
    arviz.InferenceData
        A copy of ``idata`` with both groups.
    """
    return idata_io.with_log_densities(idata, model.model or model.build_model())


def posterior_predictive(model: AreaDemandModel, idata: az.InferenceData, *,
                         random_seed: int) -> xr.Dataset:
    """Draw from the posterior predictive of every observed variable (seeded).

    Parameters
    ----------
    model, idata
        An area model and its fit.
    random_seed
        Seed of the draws.

    Returns
    -------
    xarray.Dataset
        One variable per observed variable of the model.
    """
    pymc_model = model.model or model.build_model()
    pp = pm.sample_posterior_predictive(idata, model=pymc_model, random_seed=random_seed,
                                        progressbar=False, extend_inferencedata=False)
    predictive = idata_io.posterior_predictive(pp)
    if predictive is None:
        raise ValueError("PyMC returned no posterior_predictive group")
    return predictive


def observed_variables(model: AreaDemandModel) -> list[tuple[str, str, str]]:
    """List ``(variable, service, level)`` of every observed variable of the model, in order.

    Parameters
    ----------
    model
        An area model (built if it was not).

    Returns
    -------
    list of tuple
        One entry per observed variable, by service then LSOA, MSOA, LA.
    """
    pymc_model = model.model or model.build_model()
    names = {rv.name for rv in pymc_model.observed_RVs}
    out = []
    for service in model.services:
        for level in (dims.LSOA, dims.MSOA, dims.LA):
            name = f"obs_{level}_{service}"
            if name in names:
                out.append((name, service, level))
    return out


def _la_index(model: AreaDemandModel, level: str, codes: np.ndarray) -> np.ndarray:
    """Position of the LA of each area code at ``level``."""
    geo = model.data.geography
    checked = as_level(level)
    position = geo.position(checked, np.asarray(codes), what=f"{level} code")
    return position if checked == dims.LA else geo.parent_index(checked, dims.LA)[position]


def log_likelihood_by_la(model: AreaDemandModel, idata: az.InferenceData) -> xr.DataArray:
    """Sum the log-likelihood of each LA's data per draw.

    Parameters
    ----------
    model
        The area model.
    idata
        Its fit. Its ``log_likelihood`` group is used when it holds the model's own
        per-service terms (:func:`log_densities`); otherwise (no group, or the per-level
        layout a saved ``fit.nc`` carries for ArviZ, thinned) they are recomputed.

    Returns
    -------
    xarray.DataArray
        Dims (chain, draw, la); LAs with no observations get 0.
    """
    ll = idata_io.log_likelihood(idata)
    if ll is None or any(name not in ll for name, _, _ in observed_variables(model)):
        ll = idata_io.log_likelihood(log_densities(model, idata))
        assert ll is not None  # log_densities always adds the group
    geo = model.data.geography
    post = idata_io.posterior(idata)
    total = np.zeros((post.sizes[dims.CHAIN], post.sizes[dims.DRAW], geo.n_la))
    for name, service, level in observed_variables(model):
        values = ll[name]
        obs_dim = dims.observation_dim(service, level)
        la = _la_index(model, level, values[obs_dim].to_numpy())
        cube = values.transpose(dims.CHAIN, dims.DRAW, obs_dim).to_numpy()
        onehot = sparse.csr_matrix((np.ones(len(la)), (np.arange(len(la)), la)),
                                   shape=(len(la), geo.n_la))
        total += (onehot.T @ cube.reshape(-1, len(la)).T).T.reshape(total.shape)
    return xr.DataArray(total, dims=(dims.CHAIN, dims.DRAW, dims.LA),
                        coords={dims.CHAIN: post[dims.CHAIN].to_numpy(),
                                dims.DRAW: post[dims.DRAW].to_numpy(),
                                **geo.coords(dims.LA)}, name="la_log_likelihood")


@dataclass(frozen=True)
class LooByLA:
    """PSIS-LOO with each LA's data left out as a block.

    Attributes
    ----------
    elpd
        ArviZ's ``ELPDData`` (pointwise, with ``pareto_k`` over ``la``).
    table
        One row per LA with data: ``la_code, la_name, pareto_k, elpd_loo, flag``; ``flag`` is
        ``"ok"``, ``"high"`` (k above ArviZ's sample-size-dependent threshold ``good_k``:
        the LOO estimate for the LA is unreliable, the LA is influential or badly predicted)
        or ``"very high"`` (k > 1). Sorted by ``pareto_k``, largest first.
    good_k
        The threshold used.
    """

    elpd: az.ELPDData
    table: pd.DataFrame
    good_k: float


def loo_by_la(model: AreaDemandModel, idata: az.InferenceData) -> LooByLA:
    """Run PSIS-LOO with each LA's data left out as a block (see the module docstring).

    Parameters
    ----------
    model
        The area model.
    idata
        Its fit (its per-service log-likelihood terms recomputed when it lacks them, as
        :func:`log_likelihood_by_la` says).

    Returns
    -------
    LooByLA
        The ELPD and one row per LA with data (LAs without data are left out).
    """
    by_la = log_likelihood_by_la(model, idata)
    observed = model.data.la_totals().notna().to_numpy().any(axis=1)
    by_la = by_la.isel({dims.LA: np.flatnonzero(observed)})
    grouped = idata_io.with_groups(
        az.InferenceData(posterior=idata_io.posterior(idata)),
        log_likelihood=xr.Dataset({"la_log_likelihood": by_la}))
    with warnings.catch_warnings():
        # High Pareto k is the finding here (reported per LA), not a warning to print.
        warnings.filterwarnings("ignore", message=".*Pareto distribution.*")
        elpd = az.loo(grouped, pointwise=True, var_name="la_log_likelihood")
    k = elpd.pareto_k.to_numpy()
    good_k = float(getattr(elpd, "good_k", 0.7))
    flag = np.where(k > 1.0, "very high", np.where(k > good_k, "high", "ok"))
    table = pd.DataFrame({
        "la_code": by_la[dims.LA].to_numpy().astype(str),
        "la_name": by_la[dims.LA_NAME].to_numpy().astype(str) if dims.LA_NAME in by_la.coords
        else by_la[dims.LA].to_numpy().astype(str),
        "pareto_k": k, "elpd_loo": elpd.loo_i.to_numpy(), "flag": flag})
    table = table.sort_values("pareto_k", ascending=False, kind="stable").reset_index(drop=True)
    return LooByLA(elpd, table, good_k)


def loo_pit(model: AreaDemandModel, idata: az.InferenceData, predictive: xr.Dataset, *,
            random_seed: int) -> dict[str, np.ndarray]:
    """Compute randomised LOO-PIT values per service from its MSOA and LA-total observations.

    Parameters
    ----------
    idata
        Fit with a pointwise ``log_likelihood`` group.
    predictive
        Posterior predictive draws (:func:`posterior_predictive`).
    random_seed
        Seed of the uniform draws that randomise the discrete PIT.

    Returns
    -------
    dict
        Service -> PIT values in [0, 1] (uniform if the model is calibrated).
    """
    ll = idata_io.log_likelihood(idata)
    if ll is None:
        raise ValueError("idata has no log_likelihood group; call log_densities() first")
    observed = idata_io.observed_data(idata)
    rng = np.random.default_rng(random_seed)
    out: dict[str, list[np.ndarray]] = {}
    for name, service, level in observed_variables(model):
        if level == dims.LSOA:
            continue
        obs_dim = dims.observation_dim(service, level)
        y = observed_values(model, name, observed)
        lik = ll[name].stack(__sample__=(dims.CHAIN, dims.DRAW)).transpose(obs_dim, "__sample__")
        rep = predictive[name].stack(__sample__=(dims.CHAIN, dims.DRAW)) \
            .transpose(obs_dim, "__sample__").to_numpy()
        log_w, _ = az.psislw(-lik.to_numpy(), reff=1.0)
        w = np.exp(log_w)
        w /= w.sum(axis=1, keepdims=True)
        below = (w * (rep < y[:, None])).sum(axis=1)
        equal = (w * (rep == y[:, None])).sum(axis=1)
        pit = np.clip(below + rng.uniform(size=len(y)) * equal, 0.0, 1.0)
        out.setdefault(service, []).append(pit)
    return {s: np.concatenate(v) for s, v in out.items()}


def observed_values(model: AreaDemandModel, name: str, observed: xr.Dataset | None
                     ) -> np.ndarray:
    """Return the observed values of the model's variable ``name``.

    From ``observed`` (a fit's observed_data group) when it holds ``name``; a saved fit
    holds one variable per level instead (:mod:`bayes_needs.models.area_inspection`), so
    otherwise from the model's data.
    """
    if observed is not None and name in observed:
        return observed[name].to_numpy()
    pymc_model = model.model or model.build_model()
    return np.asarray(pymc_model.rvs_to_values[pymc_model[name]].data)


def power_scaling(idata: az.InferenceData, *, threshold: float = PSENS_THRESHOLD
                  ) -> pd.DataFrame:
    """Compute each hyperparameter's power-scaling sensitivity to prior and likelihood.

    Parameters
    ----------
    idata
        Fit with ``log_prior`` and pointwise ``log_likelihood`` groups (:func:`log_densities`).
    threshold
        Sensitivity above which a component counts as influential (priorsense: 0.05).

    Returns
    -------
    pandas.DataFrame
        One row per hyperparameter element: ``parameter`` (e.g. ``sigma_la[cla]``),
        ``variable``, ``prior``, ``likelihood`` (the sensitivities) and ``diagnosis``:
        ``"potential prior-data conflict"`` (both >= threshold), ``"potential strong prior /
        weak likelihood"`` (prior >= threshold > likelihood) or ``"-"``.
    """
    post = idata_io.posterior(idata)
    prior_group = idata_io.log_prior(idata)
    if prior_group is None or idata_io.log_likelihood(idata) is None:
        raise ValueError("idata needs log_prior and log_likelihood groups; call "
                         "log_densities() first")
    var_names = [v for v in HYPERPARAMETERS if v in post]
    prior_vars = [v for v in PRIOR_VARIABLES if v in prior_group]
    prior = az.psens(idata, component="prior", component_var_names=prior_vars,
                     var_names=var_names)
    likelihood = az.psens(idata, component="likelihood", var_names=var_names)
    rows = []
    for name in var_names:
        p, lik = prior[name], likelihood[name]
        for index in np.ndindex(p.shape):
            label = name
            if p.ndim:
                parts = [str(p[d].to_numpy()[i]) for d, i in zip(p.dims, index, strict=True)]
                label = f"{name}[{', '.join(parts)}]"
                if name == "la_corr" and parts[0] == parts[1]:
                    continue  # the diagonal is 1 by construction
            ps, ls = float(p.to_numpy()[index]), float(lik.to_numpy()[index])
            rows.append({"parameter": label, "variable": name, "prior": ps,
                         "likelihood": ls, "diagnosis": diagnose(ps, ls, threshold)})
    frame = pd.DataFrame(rows, columns=["parameter", "variable", "prior", "likelihood",
                                        "diagnosis"])
    frame.attrs["comment"] = (
        f"power-scaling sensitivity (arviz.psens, delta 0.01) of each hyperparameter to "
        f"power-scaling its prior ({', '.join(prior_vars)}) and the likelihood; threshold "
        f"{threshold}")
    return frame


def diagnose(prior: float, likelihood: float, threshold: float = PSENS_THRESHOLD) -> str:
    """Diagnose one pair of sensitivities as priorsense does.

    Parameters
    ----------
    prior, likelihood
        Power-scaling sensitivities to the prior and to the likelihood.
    threshold
        Sensitivity at or above which a component counts as influential.

    Returns
    -------
    str
        :data:`CONFLICT`, :data:`STRONG_PRIOR` or ``"-"``.
    """
    if not (math.isfinite(prior) and math.isfinite(likelihood)):
        return "-"
    if prior >= threshold and likelihood >= threshold:
        return CONFLICT
    if prior >= threshold > likelihood:
        return STRONG_PRIOR
    return "-"
