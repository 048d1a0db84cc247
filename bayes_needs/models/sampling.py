"""The one NUTS call every model uses: argument checks, sampler settings, interrupts.

The default sampler (:data:`bayes_needs.core.defaults.SAMPLER`) is nutpie: it compiles the
model with numba (pytensor's numba backend, compiled functions cached on disk) and samples in
Rust, with its own mass-matrix adaptation. :data:`NUTPIE_SETTINGS` are the settings that
paid on the area model (benchmarks/README.md). nutpie takes no ``initvals``, so a model's
start values are set on the PyMC model while nutpie samples it (:func:`start_values`).

PyMC and nutpie catch Ctrl-C / SIGTERM during sampling and return the draws made so far (or
fail with "Not enough samples"); :func:`sample_nuts` re-raises the interrupt instead, so a
truncated posterior never becomes a result.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import arviz as az
import pymc as pm

from bayes_needs.core import defaults, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.interrupts import InterruptWatch, RunInterrupted
from bayes_needs.core.library_warnings import sampling_filters

#: NUTS implementations (``pymc.sample(nuts_sampler=...)``) and the package each needs
#: (nutpie is a dependency of bayes-needs; numpyro comes with ``bayes-needs[fast]``).
SAMPLERS: dict[str, str | None] = {"pymc": None, "nutpie": "nutpie", "numpyro": "numpyro"}
#: nutpie's settings: the mass matrix is the diagonal plus a low-rank correction fitted to
#: the draws and gradients of the warm-up (about twice the bulk ESS per gradient on the
#: area model), and the warm-up draws are not kept (as with PyMC's own sampler).
NUTPIE_SETTINGS: dict[str, Any] = {"low_rank_modified_mass_matrix": True,
                                   "save_warmup": False}


def check_sampling_arguments(*, draws: Any, tune: Any, chains: Any,
                             sampler: str = defaults.SAMPLER) -> None:
    """Raise :class:`~bayes_needs.core.errors.ConfigError` naming a bad argument."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    module = SAMPLERS[sampler]
    if module is not None:
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(f"sampler '{sampler}' needs the package '{module}': "
                              f"pip install 'bayes-needs[fast]'") from None
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")


@contextlib.contextmanager
def start_values(model: pm.Model, initvals: dict[str, Any] | None) -> Iterator[None]:
    """Make ``initvals`` (by variable name) the model's start values within the block.

    nutpie starts each chain at the model's initial point, jittered; the model's own start
    values are put back afterwards, because a model with changed start values cannot be
    transformed by PyMC (``pymc.model.fgraph``), which predictions rely on.
    """
    previous = dict(model.rvs_to_initial_values)
    try:
        for name, value in (initvals or {}).items():
            model.set_initval(model[name], value)
        yield
    finally:
        model.rvs_to_initial_values.clear()
        model.rvs_to_initial_values.update(previous)


def sample_nuts(model: pm.Model, *, random_seed: int, draws: int, tune: int, chains: int,
                cores: int | None = None, sampler: str = defaults.SAMPLER,
                target_accept: float = defaults.TARGET_ACCEPT,
                progressbar: bool = False, initvals: dict[str, Any] | None = None,
                **sample_kwargs) -> az.InferenceData:
    """Run :func:`pymc.sample` with an explicit seed; an interrupt always propagates.

    ``initvals`` (start values by variable name, jittered per chain) are used by PyMC's
    sampler and nutpie (:func:`start_values`), not numpyro. ``cores`` (chains sampled in
    parallel) defaults to ``min(chains, 2)``. Other keywords go to :func:`pymc.sample`; for
    nutpie, ``nuts_sampler_kwargs`` are added to :data:`NUTPIE_SETTINGS`.
    """
    check_sampling_arguments(draws=draws, tune=tune, chains=chains, sampler=sampler)
    cores = cores if cores is not None else min(chains, 2)
    if sampler == "pymc":
        sample_kwargs.setdefault("idata_kwargs", {"log_likelihood": False})
    elif sampler == "nutpie":
        # pm.sample does not pass cores to nutpie; nutpie computes no log-likelihood.
        sample_kwargs["nuts_sampler_kwargs"] = {
            **NUTPIE_SETTINGS, "cores": cores, **sample_kwargs.get("nuts_sampler_kwargs", {})}
    # sampling_filters: NumPy's NaN warnings of rejected trajectories, here and in workers.
    with InterruptWatch() as watch, model, sampling_filters(), \
            start_values(model, initvals if sampler == "nutpie" else None):
        try:
            idata = pm.sample(draws=draws, tune=tune, chains=chains, cores=cores,
                              random_seed=random_seed, nuts_sampler=sampler,
                              target_accept=target_accept, progressbar=progressbar,
                              initvals=initvals if sampler == "pymc" else None,
                              **sample_kwargs)
        except Exception:
            watch.raise_if_interrupted("sampling")
            raise
    watch.raise_if_interrupted("sampling")
    post = idata_io.posterior(idata)
    if post.sizes.get(dims.DRAW) != draws or post.sizes.get(dims.CHAIN) != chains:
        raise RunInterrupted(message=f"sampling was interrupted: got "
                                     f"{post.sizes.get(dims.CHAIN)} chains x "
                                     f"{post.sizes.get(dims.DRAW)} draws of {chains} x "
                                     f"{draws}")
    return idata
