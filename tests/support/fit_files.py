"""Edit saved fits (``fit.nc``) and run files (``run.json``) as a careless or hostile user
would, for the tests that check a loaded fit is never trusted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np

#: Posterior attributes a fit stores (kept here literally: a test must not take them from
#: the code it checks).
CONVERGENCE = "bayes_needs_convergence"
CONFIG = "bayes_needs_config"


def rewrite_fit(path: Path, edit: Callable[[az.InferenceData], az.InferenceData | None]) -> None:
    """Load ``path``, apply ``edit`` (in place, or returning a new fit) and write it back."""
    idata = az.from_netcdf(path, engine="h5netcdf")
    idata.load()
    edited = edit(idata)
    idata = idata if edited is None else edited
    path.unlink()
    idata.to_netcdf(str(path), engine="h5netcdf")


def set_attr(name: str, value: Any) -> Callable[[az.InferenceData], None]:
    """An edit setting the posterior attribute ``name`` to ``value``."""
    def edit(idata: az.InferenceData) -> None:
        idata.posterior.attrs[name] = value
    return edit


def edit_json_attr(name: str, change: Callable[[dict], None]) -> Callable[[az.InferenceData],
                                                                           None]:
    """An edit applying ``change`` to the JSON object stored in the attribute ``name``."""
    def edit(idata: az.InferenceData) -> None:
        record = json.loads(idata.posterior.attrs[name])
        change(record)
        idata.posterior.attrs[name] = json.dumps(record)
    return edit


def looks_converged(record: dict) -> None:
    """Rewrite a convergence record to pass the gate: R-hat 1, ESS 5000, no divergences."""
    record.update(rhat_max=1.0, ess_bulk_min=5000.0, ess_tail_min=5000.0, divergences=0)
    per = record["per_variable"]
    for key, value in (("rhat_max", 1.0), ("ess_bulk_min", 5000.0), ("ess_tail_min", 5000.0)):
        per[key] = dict.fromkeys(per[key], value)


def drop_variable(name: str) -> Callable[[az.InferenceData], None]:
    """An edit removing the posterior variable ``name`` (its attributes kept)."""
    def edit(idata: az.InferenceData) -> None:
        attrs = dict(idata.posterior.attrs)
        posterior = idata.posterior.drop_vars(name)
        posterior.attrs = attrs
        idata.posterior = posterior
    return edit


def nan_variable(name: str) -> Callable[[az.InferenceData], None]:
    """An edit setting the first draw of the posterior variable ``name`` to NaN."""
    def edit(idata: az.InferenceData) -> None:
        values = idata.posterior[name].values
        values[0, 0, ...] = np.nan
    return edit


def reversed_coordinate(dim: str) -> Callable[[az.InferenceData], None]:
    """An edit reversing the posterior's labels of ``dim`` (e.g. swapping two services)."""
    def edit(idata: az.InferenceData) -> None:
        posterior = idata.posterior
        idata.posterior = posterior.assign_coords({dim: posterior[dim].values[::-1]})
    return edit


def without_group(group: str) -> Callable[[az.InferenceData], az.InferenceData]:
    """An edit removing a whole group (e.g. ``sample_stats``)."""
    def edit(idata: az.InferenceData) -> az.InferenceData:
        return az.InferenceData(**{g: idata[g] for g in idata.groups() if g != group})
    return edit
