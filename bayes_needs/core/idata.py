"""All access to :class:`arviz.InferenceData` groups lives here.

A move to ArviZ 1.x (``xarray.DataTree``) should only need changes in this module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import xarray as xr

from bayes_needs.core.errors import BayesNeedsError, DataHashMismatchError, MissingDataError
from bayes_needs.core.outputs import write_atomic

CONFIG_ATTR = "bayes_needs_config"
DATA_HASH_ATTR = "bayes_needs_data_hash"
KIND_ATTR = "bayes_needs_kind"
VERSION_ATTR = "bayes_needs_version"


def posterior(idata: az.InferenceData) -> xr.Dataset:
    """The posterior group."""
    return idata.posterior


def sample_stats(idata: az.InferenceData) -> xr.Dataset | None:
    """The sample_stats group, or ``None``."""
    return getattr(idata, "sample_stats", None)


def observed_data(idata: az.InferenceData) -> xr.Dataset | None:
    """The observed_data group, or ``None``."""
    return getattr(idata, "observed_data", None)


def log_likelihood(idata: az.InferenceData) -> xr.Dataset | None:
    """The log_likelihood group, or ``None``."""
    return getattr(idata, "log_likelihood", None)


def group(idata: az.InferenceData, name: str) -> xr.Dataset | None:
    """Any group by name, or ``None``."""
    return getattr(idata, name, None) if name in idata.groups() else None


def log_prior(idata: az.InferenceData) -> xr.Dataset | None:
    """The log_prior group, or ``None``."""
    return group(idata, "log_prior")


def posterior_predictive(idata: az.InferenceData) -> xr.Dataset | None:
    """The posterior_predictive group, or ``None``."""
    return group(idata, "posterior_predictive")


def with_groups(idata: az.InferenceData, **groups: xr.Dataset) -> az.InferenceData:
    """A new InferenceData with ``idata``'s groups plus (or replacing) ``groups``.

    The group datasets are shared, not copied, so this is cheap; ``idata`` is unchanged (a
    fit written later does not grow the extra groups).
    """
    merged = {name: getattr(idata, name) for name in idata.groups()}
    merged.update(groups)
    return az.InferenceData(**merged)


def thinned(idata: az.InferenceData, max_draws: int) -> az.InferenceData:
    """``idata`` with every group's draws thinned evenly to at most ``max_draws`` in total
    (chains x draws); unchanged when it already has no more. Deterministic (no seed)."""
    post = posterior(idata)
    total = post.sizes.get("chain", 1) * post.sizes.get("draw", 1)
    if max_draws < 1 or total <= max_draws:
        return idata
    step = int(np.ceil(total / max_draws))
    return idata.isel(draw=slice(None, None, step), groups=[
        g for g in idata.groups() if "draw" in getattr(idata, g).dims])


def with_log_densities(idata: az.InferenceData, model, *, prior: bool = True,
                       likelihood: bool = True) -> az.InferenceData:
    """``idata`` plus ``log_likelihood`` and ``log_prior`` groups evaluated at every draw.

    Parameters
    ----------
    idata
        A fit of ``model`` (posterior group).
    model
        The :class:`pymc.Model` the posterior came from.
    prior, likelihood
        Which groups to compute. ``log_likelihood`` is pointwise: one value per observation
        of every observed variable; ``log_prior`` has one array per free variable.
    """
    import pymc as pm

    extra = {}
    if likelihood:
        extra["log_likelihood"] = pm.compute_log_likelihood(
            idata, model=model, extend_inferencedata=False, progressbar=False)
    if prior:
        extra["log_prior"] = pm.compute_log_prior(
            idata, model=model, extend_inferencedata=False, progressbar=False)
    return with_groups(idata, **extra)


def add_group(idata: az.InferenceData, name: str, data: xr.Dataset) -> None:
    """Add or replace a group."""
    if name in idata.groups():
        idata.extend(az.InferenceData(**{name: data}), join="right")
        setattr(idata, name, data)
    else:
        idata.add_groups({name: data})


def set_metadata(idata: az.InferenceData, *, kind: str, config: dict[str, Any],
                 data_hash: str) -> None:
    """Store config (as JSON), data hash and kind in the posterior attrs."""
    from bayes_needs.core.version import __version__

    attrs = idata.posterior.attrs
    attrs[KIND_ATTR] = kind
    attrs[CONFIG_ATTR] = json.dumps(config, sort_keys=True, default=_json_default)
    attrs[DATA_HASH_ATTR] = data_hash
    attrs[VERSION_ATTR] = __version__


def get_config(idata: az.InferenceData) -> dict[str, Any]:
    """The config stored by :func:`set_metadata`."""
    raw = idata.posterior.attrs.get(CONFIG_ATTR)
    if raw is None:
        raise BayesNeedsError("this file was not written by bayes_needs (no stored config)")
    return json.loads(raw)


def get_data_hash(idata: az.InferenceData) -> str | None:
    """The data hash stored with the fit."""
    return idata.posterior.attrs.get(DATA_HASH_ATTR)


def get_kind(idata: az.InferenceData) -> str | None:
    """The kind of fit ('area', 'person', 'cost_weights')."""
    return idata.posterior.attrs.get(KIND_ATTR)


def check_data_hash(idata: az.InferenceData, data_hash: str, source: str = "fit") -> None:
    """Raise :class:`DataHashMismatchError` if the fit was made on other data."""
    stored = get_data_hash(idata)
    if stored != data_hash:
        raise DataHashMismatchError(
            f"{source} was fitted to data with hash {stored}, but the data given now hash to "
            f"{data_hash}; refit, or load it with the data it was fitted to")


def save(idata: az.InferenceData, path: str | Path) -> Path:
    """Write ``idata`` to netCDF atomically."""
    return write_atomic(path, lambda tmp: idata.to_netcdf(str(tmp), engine="h5netcdf"))


def load(path: str | Path, *, expected_kind: str | None = None) -> az.InferenceData:
    """Read a netCDF InferenceData written by :func:`save`.

    Raises
    ------
    MissingDataError
        If the file does not exist.
    BayesNeedsError
        If it is not a readable bayes_needs file, or not of ``expected_kind``.
    """
    path = Path(path)
    if not path.is_file():
        raise MissingDataError(f"{path}: file does not exist")
    try:
        idata = az.from_netcdf(str(path), engine="h5netcdf")
        idata.load()
    except Exception as exc:  # h5py/netCDF raise many types for corrupt files
        raise BayesNeedsError(f"{path}: not a readable netCDF InferenceData file "
                              f"({type(exc).__name__}: {exc})") from None
    if "posterior" not in idata.groups():
        raise BayesNeedsError(f"{path}: has no posterior group")
    kind = get_kind(idata)
    if expected_kind is not None and kind != expected_kind:
        raise BayesNeedsError(f"{path}: holds a '{kind}' result, expected '{expected_kind}'")
    return idata


def convergence_summary(idata: az.InferenceData, var_names: list[str] | None = None
                        ) -> dict[str, Any]:
    """R-hat, bulk and tail ESS, divergences and BFMI of a fit.

    Parameters
    ----------
    var_names
        Variables to summarise (defaults to all posterior variables).
    """
    post = posterior(idata)
    names = var_names or list(post.data_vars)
    rhat = az.rhat(post, var_names=names)
    ess_bulk = az.ess(post, var_names=names, method="bulk")
    ess_tail = az.ess(post, var_names=names, method="tail")
    stats = sample_stats(idata)
    divergences = int(stats["diverging"].sum()) if stats is not None and \
        "diverging" in stats else 0
    try:
        bfmi = np.atleast_1d(az.bfmi(idata)).tolist()
    except Exception:  # no energy (e.g. mocked sampler)
        bfmi = []

    def extreme(ds: xr.Dataset, fn) -> dict[str, float]:
        return {k: float(fn(v.values)) for k, v in ds.data_vars.items() if v.size}

    per_var = {
        "rhat_max": extreme(rhat, np.nanmax),
        "ess_bulk_min": extreme(ess_bulk, np.nanmin),
        "ess_tail_min": extreme(ess_tail, np.nanmin),
    }
    return {
        "rhat_max": max(per_var["rhat_max"].values(), default=float("nan")),
        "ess_bulk_min": min(per_var["ess_bulk_min"].values(), default=float("nan")),
        "ess_tail_min": min(per_var["ess_tail_min"].values(), default=float("nan")),
        "divergences": divergences,
        "bfmi_min": min(bfmi, default=float("nan")),
        "n_chains": int(post.sizes.get("chain", 0)),
        "n_draws": int(post.sizes.get("draw", 0)),
        "per_variable": per_var,
    }


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
