"""Influence of each LA on the cost weights: PSIS-LOO by LA, with exact refits where needed.

For every LA, its log-likelihood is summed over its spend categories, so "leave one out"
leaves out the whole authority. :func:`arviz.loo` gives each LA's Pareto ``k``. Where
``k < k_threshold`` (0.7, Vehtari et al. 2024), the leave-LA-out posterior mean of every weight
is estimated by Pareto-smoothed importance sampling (:func:`arviz.psislw`) of the full
posterior draws. Where ``k >= k_threshold`` the importance weights are unreliable, so the model
is refitted exactly without that LA, up to ``max_refits`` refits (largest ``k`` first); beyond
the cap the PSIS estimate is reported with method ``psis_unreliable`` and a note.

``max_rel_change`` is the largest ``|E_loo[w_k] - E[w_k]| / E[w_k]`` over the activities other
than the reference (whose weight is 1 by definition); ``max_change_in_sd`` the largest
``|E_loo[w_k] - E[w_k]| / sd[w_k]`` (posterior sd), a scale-free view of the same shift. An
exact refit carries Monte Carlo error of both fits (reported in ``mc_noise``: the largest
``sqrt(2) * MCSE / E[w_k]``), so changes of that size are noise.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.models.cost_weights import CostWeightModel

K_THRESHOLD = 0.7
COLUMNS = ["la_code", "la_name", "pareto_k", "max_rel_change", "activity_with_max_change",
           "method", "max_change_in_sd", "mc_noise", "note"]


def _flat(values: xr.DataArray, *trailing: str) -> np.ndarray:
    """Flatten a (chain, draw, ...) DataArray into a (sample, ...) array."""
    ordered = values.transpose(dims.CHAIN, dims.DRAW, *trailing).to_numpy()
    return ordered.reshape(-1, *ordered.shape[2:])


def _max_change(new: np.ndarray, base: np.ndarray, sd: np.ndarray, activities: list[str],
                reference: str) -> tuple[float, str, float]:
    """Find the largest relative change, its activity, and the largest change in sds."""
    change = np.abs(new - base) / base
    ref = activities.index(reference)
    change[ref] = -np.inf
    k = int(np.argmax(change))
    in_sd = np.abs(new - base) / np.where(sd > 0, sd, np.inf)
    in_sd[ref] = 0.0
    return float(change[k]), activities[k], float(in_sd.max())


def la_influence(model: CostWeightModel, idata: az.InferenceData, *,
                 max_refits: int = 5, k_threshold: float = K_THRESHOLD,
                 refit: Callable[[CostWeightModel], az.InferenceData] | None = None,
                 ) -> pd.DataFrame:
    """Measure each LA's influence on the cost weights (Pareto k, largest relative change).

    One row per LA: its Pareto k and the largest relative change of any weight when it is
    left out.

    Parameters
    ----------
    model, idata
        A cost-weight model and its fit (with the ``log_likelihood`` group).
    max_refits
        Cap on exact refits for LAs with ``k >= k_threshold`` (0 disables refits).
    k_threshold
        Pareto k at or above which PSIS is not trusted.
    refit
        Function fitting a model without one LA (default: ``m.fit`` with the settings stored
        in ``idata``).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`COLUMNS`; ``attrs["comment"]`` describes the method and any cap.
    """
    if isinstance(max_refits, bool) or not isinstance(max_refits, int) or max_refits < 0:
        raise ConfigError(f"max_refits must be a whole number >= 0, got {max_refits!r}")
    if not 0 < k_threshold:
        raise ConfigError(f"k_threshold must be > 0, got {k_threshold!r}")
    ll = model.la_log_likelihood(idata)
    # Relative efficiency as arviz computes it, but from the unit costs: the reference weight
    # is constant, so its ESS is undefined.
    costs = idata_io.posterior(idata)[["unit_cost"]]
    n_sample = costs.sizes[dims.CHAIN] * costs.sizes[dims.DRAW]
    reff = 1.0
    if costs.sizes[dims.CHAIN] > 1:
        reff = float(np.nanmean(az.ess(costs, method="mean")["unit_cost"].to_numpy())
                     / n_sample)
    loo_data = az.InferenceData(posterior=costs,
                                log_likelihood=xr.Dataset({"la_log_likelihood": ll}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # arviz warns when some k are high: reported below
        loo = az.loo(loo_data, pointwise=True, reff=reff)
        stacked = ll.stack(__sample__=(dims.CHAIN, dims.DRAW)).transpose(dims.LA, "__sample__")
        log_w, _ = az.psislw(-stacked, reff=reff)
    pareto_k = np.asarray(loo.pareto_k).ravel()
    weight = idata_io.posterior(idata)["weight"]
    activities = [str(a) for a in weight[dims.ACTIVITY].values]
    draws = _flat(weight, dims.ACTIVITY)                     # (sample, activity)
    base, sd = draws.mean(axis=0), draws.std(axis=0)
    mcse = az.mcse(idata_io.posterior(idata)[["weight"]])["weight"].to_numpy()
    ref_pos = activities.index(model.reference)
    noise = np.sqrt(2.0) * mcse / base
    noise[ref_pos] = 0.0
    mc_noise = float(np.nanmax(noise))
    w = np.exp(log_w.transpose(dims.LA, "__sample__").to_numpy())  # normalised per LA
    psis_means = w @ draws                                    # (la, activity)

    rows, per_activity = [], []
    order = np.argsort(-pareto_k)
    to_refit = [i for i in order if pareto_k[i] >= k_threshold][:max_refits]
    high = int((pareto_k >= k_threshold).sum())
    fit = refit or _default_refit(idata)
    for i, (code, name) in enumerate(zip(model.la_codes, model.la_names, strict=True)):
        if i in to_refit:
            refit_idata = fit(model.without_las([code]))
            new = _flat(idata_io.posterior(refit_idata)["weight"], dims.ACTIVITY).mean(axis=0)
            method, note, noise_i = "refit", "exact refit without this LA", mc_noise
        else:
            new = psis_means[i]
            method, noise_i = "psis", float("nan")
            note = "PSIS estimate of the leave-LA-out posterior mean"
            if pareto_k[i] >= k_threshold:
                method = "psis_unreliable"
                note = (f"k >= {k_threshold}: refit cap of {max_refits} reached, PSIS "
                        f"estimate shown but unreliable")
        change, activity, in_sd = _max_change(new, base, sd, activities, model.reference)
        rows.append((code, name, float(pareto_k[i]), change, activity, method, in_sd, noise_i,
                     note))
        per_activity.append(np.abs(new - base) / base)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    capped = max(high - len(to_refit), 0)
    frame.attrs["comment"] = (
        f"Influence of each LA on the posterior mean cost weights (relative to "
        f"{model.reference} = 1); PSIS-LOO by LA (Pareto k from arviz.loo); LAs with "
        f"k >= {k_threshold}: {high}, refitted exactly: {len(to_refit)} (cap {max_refits})"
        + (f"; {capped} left as psis_unreliable because the cap was reached" if capped else "")
        + f"; Monte Carlo noise of an exact refit (max sqrt(2) MCSE / mean): {mc_noise:.4f}")
    changes = np.asarray(per_activity)
    frame.attrs.update({
        "n_high_k": high, "n_refits": len(to_refit), "mc_noise": mc_noise,
        # activity -> (largest relative change over LAs, the LA causing it)
        "per_activity_max": {a: (float(changes[:, j].max()),
                                 str(model.la_codes[int(changes[:, j].argmax())]))
                             for j, a in enumerate(activities) if a != model.reference}})
    return frame


def _default_refit(idata: az.InferenceData) -> Callable[[CostWeightModel], az.InferenceData]:
    """Refit function using the sampling settings stored in ``idata``."""
    run = idata_io.get_config(idata).get("run", {})
    settings = {k: run[k] for k in ("draws", "tune", "chains", "target_accept") if k in run}
    seed = int(run.get("random_seed", 0))

    def refit(model: CostWeightModel) -> az.InferenceData:
        """Fit ``model`` (an LA left out) with the stored settings and seed."""
        return model.fit(random_seed=seed, progressbar=False, **settings)
    return refit
