"""Access :class:`arviz.InferenceData` groups and the metadata bayes_needs stores in them.

Every read or write of an InferenceData group in the package goes through this module, so a
move to ArviZ 1.x (``xarray.DataTree``) should only need changes here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pymc as pm
import xarray as xr
from pymc.backends.arviz import coords_and_dims_for_inferencedata, find_observations

from bayes_needs.core import dims
from bayes_needs.core.errors import BayesNeedsError, DataHashMismatchError, MissingDataError
from bayes_needs.core.units import annotate
from bayes_needs.core.version import __version__
from bayes_needs.core.writers import netcdf_bytes, write_bytes

#: Attribute holding the JSON settings a result was made with.
CONFIG_ATTR = "bayes_needs_config"
#: Attribute holding the hash of the data a fit was made on.
DATA_HASH_ATTR = "bayes_needs_data_hash"
#: Attribute naming what a saved file holds ("area", "person", "allocation", ...).
KIND_ATTR = "bayes_needs_kind"
#: Attribute holding the package version that wrote a file.
VERSION_ATTR = "bayes_needs_version"
#: Attributes saying how a fit's posterior was computed: the method (``"nuts"``,
#: ``"laplace"``), whether its draws are approximate (1) or exact MCMC (0), and in words.
METHOD_ATTR = "bayes_needs_method"
APPROXIMATE_ATTR = "bayes_needs_approximate"
INFERENCE_ATTR = "bayes_needs_inference"
#: Group of a saved fit holding the sampler's reparameterisation variables (e.g.
#: ``la_latent``), kept out of ``posterior`` so ArviZ summaries show model quantities only.
INTERNAL_GROUP = "internal_posterior"


def posterior(idata: az.InferenceData) -> xr.Dataset:
    """Return the posterior group."""
    return idata["posterior"]


def sample_stats(idata: az.InferenceData) -> xr.Dataset | None:
    """Return the sample_stats group, or ``None``."""
    return group(idata, "sample_stats")


def observed_data(idata: az.InferenceData) -> xr.Dataset | None:
    """Return the observed_data group, or ``None``."""
    return group(idata, "observed_data")


def log_likelihood(idata: az.InferenceData) -> xr.Dataset | None:
    """Return the log_likelihood group, or ``None``."""
    return group(idata, "log_likelihood")


def has_group(idata: az.InferenceData, name: str) -> bool:
    """Tell whether ``idata`` holds the group ``name``."""
    return name in idata.groups()


def group(idata: az.InferenceData, name: str) -> xr.Dataset | None:
    """Return any group by name, or ``None`` when ``idata`` does not hold it."""
    return idata[name] if has_group(idata, name) else None


def log_prior(idata: az.InferenceData) -> xr.Dataset | None:
    """Return the log_prior group, or ``None``."""
    return group(idata, "log_prior")


def posterior_predictive(idata: az.InferenceData) -> xr.Dataset | None:
    """Return the posterior_predictive group, or ``None``."""
    return group(idata, "posterior_predictive")


def prior(idata: az.InferenceData) -> xr.Dataset | None:
    """Return the prior group (e.g. of :func:`pymc.sample_prior_predictive`), or ``None``."""
    return group(idata, "prior")


def prior_predictive(idata: az.InferenceData) -> xr.Dataset | None:
    """Return the prior_predictive group, or ``None``."""
    return group(idata, "prior_predictive")


def constant_data(idata: az.InferenceData) -> xr.Dataset | None:
    """Return the constant_data group, or ``None``."""
    return group(idata, "constant_data")


def _from_groups(groups: dict[str, xr.Dataset]) -> az.InferenceData:
    """Build an InferenceData from named group datasets."""
    # ArviZ types **kwargs as groups but mypy also matches them against the ``attrs`` and
    # ``warn_on_custom_groups`` parameters.
    return az.InferenceData(**groups)  # type: ignore[arg-type]


def with_groups(idata: az.InferenceData, **groups: xr.Dataset) -> az.InferenceData:
    """Return a new InferenceData with ``idata``'s groups plus (or replacing) ``groups``.

    The group datasets are shared, not copied, so this is cheap; ``idata`` is unchanged (a
    fit written later does not grow the extra groups).

    Parameters
    ----------
    idata
        The source.
    **groups
        Groups to add or replace, by name.

    Returns
    -------
    arviz.InferenceData
        The merged groups.
    """
    merged = {name: idata[name] for name in idata.groups()}
    merged.update(groups)
    return _from_groups(merged)


def from_draws(draws: Mapping[str, np.ndarray], model: pm.Model) -> az.InferenceData:
    """Return the InferenceData of posterior ``draws`` of ``model``, laid out as a sampler's.

    Parameters
    ----------
    draws
        Variable name -> draws shaped ``(chain, draw, ...)`` (e.g. of an approximation).
    model
        The PyMC model: its dims and coordinates (``named_vars_to_dims``) label the draws,
        and its observations make the ``observed_data`` group, as :func:`pymc.sample` does.
    """
    coords, var_dims = coords_and_dims_for_inferencedata(model)
    return az.from_dict(posterior=dict(draws), observed_data=find_observations(model),
                        coords=coords, dims=var_dims)


def thinned(idata: az.InferenceData, max_draws: int) -> az.InferenceData:
    """Thin every group's draws evenly to at most ``max_draws`` in total (chains x draws).

    Deterministic (every ``step``-th draw of each chain, no seed).

    Parameters
    ----------
    idata
        The source, with a posterior group.
    max_draws
        Upper limit on chains x draws; below 1 means no thinning.

    Returns
    -------
    arviz.InferenceData
        ``idata`` itself when it already has no more draws, else a thinned copy.
    """
    post = posterior(idata)
    total = post.sizes.get(dims.CHAIN, 1) * post.sizes.get(dims.DRAW, 1)
    if max_draws < 1 or total <= max_draws:
        return idata
    step = int(np.ceil(total / max_draws))
    every_step: dict[str, Any] = {dims.DRAW: slice(None, None, step)}
    thin = idata.isel(groups=[g for g in idata.groups() if dims.DRAW in idata[g].dims],
                      **every_step)
    if thin is None:  # isel returns None only when inplace=True
        raise AssertionError("InferenceData.isel returned None without inplace")
    return thin


def with_log_densities(idata: az.InferenceData, model: pm.Model, *, prior: bool = True,
                       likelihood: bool = True) -> az.InferenceData:
    """Return ``idata`` plus ``log_likelihood`` and ``log_prior`` groups at every draw.

    Parameters
    ----------
    idata
        A fit of ``model`` (posterior group).
    model
        The :class:`pymc.Model` the posterior came from.
    prior, likelihood
        Which groups to compute. ``log_likelihood`` is pointwise: one value per observation
        of every observed variable; ``log_prior`` has one array per free variable.

    Returns
    -------
    arviz.InferenceData
        A new InferenceData (see :func:`with_groups`); ``idata`` is unchanged.
    """
    extra = {}
    if likelihood:
        extra["log_likelihood"] = pm.compute_log_likelihood(
            idata, model=model, extend_inferencedata=False, progressbar=False)
    if prior:
        extra["log_prior"] = pm.compute_log_prior(
            idata, model=model, extend_inferencedata=False, progressbar=False)
    return with_groups(idata, **extra)


def without_internal(idata: az.InferenceData, names: tuple[str, ...]) -> az.InferenceData:
    """Return ``idata`` with the posterior variables ``names`` in :data:`INTERNAL_GROUP`.

    The posterior keeps its attributes; ``idata`` is unchanged (returned as it is when its
    posterior holds none of ``names``).
    """
    post = posterior(idata)
    moved = [name for name in names if name in post.data_vars]
    if not moved:
        return idata
    internal = post[moved]
    internal.attrs = {"description": "reparameterisation variables of the sampler; the "
                                     "model's own quantities are in the posterior group"}
    return with_groups(idata, posterior=post.drop_vars(moved), **{INTERNAL_GROUP: internal})


def with_internal(idata: az.InferenceData) -> az.InferenceData:
    """Return ``idata`` with :data:`INTERNAL_GROUP`'s variables back in its posterior.

    PyMC needs every free variable there to recompute densities or predictions. ``idata``
    is unchanged (returned as it is without the group).
    """
    internal = group(idata, INTERNAL_GROUP)
    if internal is None:
        return idata
    post = posterior(idata)
    merged = post.assign({str(name): var for name, var in internal.data_vars.items()})
    merged.attrs = post.attrs
    groups = {name: idata[name] for name in idata.groups() if name != INTERNAL_GROUP}
    return _from_groups({**groups, "posterior": merged})


def with_dim_labels(idata: az.InferenceData, dim: str, name: str,
                    labels: Any) -> az.InferenceData:
    """Return ``idata`` with the non-index coordinate ``name`` on ``dim`` in every group.

    E.g. ``la_name`` on every ``la`` dim. ``idata`` is unchanged.
    """
    return _from_groups({
        group_name: ds.assign_coords({name: (dim, np.asarray(labels))}) if dim in ds.dims
        else ds for group_name, ds in ((g, idata[g]) for g in idata.groups())})


def add_group(idata: az.InferenceData, name: str, data: xr.Dataset) -> None:
    """Add the group ``name`` to ``idata`` in place, replacing any group of that name."""
    if has_group(idata, name):
        idata.extend(_from_groups({name: data}), join="right")
        setattr(idata, name, data)
    else:
        idata.add_groups({name: data})


def set_metadata(idata: az.InferenceData, *, kind: str, config: dict[str, Any],
                 data_hash: str, method: str = "nuts", approximate: bool = False,
                 inference: str | None = None) -> None:
    """Store the kind, config (as JSON), data hash and package version in the posterior attrs.

    Parameters
    ----------
    idata
        The fit, changed in place.
    kind
        What the fit is ("area", "person", "cost_weights").
    config
        Settings of the fit; numpy scalars and arrays and paths are converted for JSON.
    data_hash
        Hash of the data the fit was made on (see :func:`check_data_hash`).
    method, approximate, inference
        How the posterior was computed, whether it is approximate, and that in words
        (default: ``method``), e.g. ``"laplace (approximate; PSIS k̂ = 0.52, ...)"``.
    """
    attrs = posterior(idata).attrs
    attrs[METHOD_ATTR] = method
    attrs[APPROXIMATE_ATTR] = int(approximate)
    attrs[INFERENCE_ATTR] = inference or method
    attrs[KIND_ATTR] = kind
    attrs[CONFIG_ATTR] = json.dumps(config, sort_keys=True, default=_json_default)
    attrs[DATA_HASH_ATTR] = data_hash
    attrs[VERSION_ATTR] = __version__


def get_config(idata: az.InferenceData) -> dict[str, Any]:
    """Return the config stored by :func:`set_metadata`.

    Raises
    ------
    BayesNeedsError
        If ``idata`` holds no stored config.
    """
    raw = posterior(idata).attrs.get(CONFIG_ATTR)
    if raw is None:
        raise BayesNeedsError("this file was not written by bayes_needs (no stored config)")
    config: dict[str, Any] = json.loads(raw)
    return config


def get_method(idata: az.InferenceData) -> str:
    """Return how the fit was computed (``"nuts"`` for fits stored without the attribute)."""
    return str(posterior(idata).attrs.get(METHOD_ATTR, "nuts"))


def get_data_hash(idata: az.InferenceData) -> str | None:
    """Return the data hash stored with the fit, or ``None``."""
    return posterior(idata).attrs.get(DATA_HASH_ATTR)


def get_kind(idata: az.InferenceData) -> str | None:
    """Return the kind of fit ("area", "person", "cost_weights"), or ``None``."""
    return posterior(idata).attrs.get(KIND_ATTR)


def check_data_hash(idata: az.InferenceData, data_hash: str, source: str = "fit") -> None:
    """Check that the fit was made on the data with hash ``data_hash``.

    Parameters
    ----------
    idata
        The fit.
    data_hash
        Hash of the data given now.
    source
        What to call the fit in the error message.

    Raises
    ------
    DataHashMismatchError
        If the stored hash differs.
    """
    stored = get_data_hash(idata)
    if stored != data_hash:
        raise DataHashMismatchError(
            f"{source} was fitted to data with hash {stored}, but the data given now hash to "
            f"{data_hash}; refit, or load it with the data it was fitted to")


def save(idata: az.InferenceData, path: str | Path) -> Path:
    """Write ``idata`` to netCDF atomically and return ``path``.

    The file is laid out as :meth:`arviz.InferenceData.to_netcdf` lays it out (root
    attributes, one group per InferenceData group, numeric variables compressed), but is
    serialised in memory first, so a full disk is a clean error rather than an HDF5 crash
    (:mod:`bayes_needs.core.writers`). Variables and coordinates named in
    :data:`bayes_needs.core.units.VARIABLES` get CF ``units`` and ``long_name``.
    """
    groups = {name: annotate(idata[name]) for name in idata.groups()}
    return write_bytes(path, netcdf_bytes(groups, compress=True, root_attrs=idata.attrs))


def load(path: str | Path, *, expected_kind: str | None = None) -> az.InferenceData:
    """Read a netCDF InferenceData written by :func:`save`, fully into memory.

    Parameters
    ----------
    path
        The file.
    expected_kind
        The kind the file must hold (see :func:`set_metadata`); ``None`` accepts any.

    Returns
    -------
    arviz.InferenceData
        The loaded fit.

    Raises
    ------
    MissingDataError
        If the file does not exist.
    BayesNeedsError
        If it is not a readable bayes_needs file, or not of ``expected_kind``, or (when
        ``expected_kind`` is given) its stored config or data hash is missing or malformed.
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
    if not has_group(idata, "posterior"):
        raise BayesNeedsError(f"{path}: has no posterior group")
    kind = get_kind(idata)
    if expected_kind is not None and kind != expected_kind:
        raise BayesNeedsError(f"{path}: holds a '{kind}' result, expected '{expected_kind}'")
    if expected_kind is not None:
        _check_metadata(posterior(idata).attrs, path)
    return idata


def _check_metadata(attrs: dict[str, Any], path: Path) -> None:
    """Check the stored config is a JSON object and the data hash a string, naming the file."""
    if not isinstance(attrs.get(DATA_HASH_ATTR), str):
        raise BayesNeedsError(f"{path}: attribute '{DATA_HASH_ATTR}' is missing or not text; "
                              f"the file was altered or damaged")
    raw = attrs.get(CONFIG_ATTR)
    try:
        config = json.loads(raw) if isinstance(raw, str) else None
    except (ValueError, RecursionError):  # invalid or too deeply nested JSON
        config = None
    if not isinstance(config, dict):
        raise BayesNeedsError(f"{path}: attribute '{CONFIG_ATTR}' is missing or not a JSON "
                              f"object; the file was altered or damaged")


def _json_default(obj: object) -> Any:
    """Convert numpy values and paths for :func:`json.dumps`."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
