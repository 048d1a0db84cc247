"""The one NUTS call every model uses: argument checks, optional samplers, interrupts.

PyMC catches Ctrl-C / SIGTERM during sampling and returns the draws made so far (or fails
with "Not enough samples"); :func:`sample_nuts` re-raises the interrupt instead, so a
truncated posterior never becomes a result.
"""

from __future__ import annotations

from typing import Any

import arviz as az
import pymc as pm

from bayes_needs.core import defaults, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.interrupts import InterruptWatch, RunInterrupted
from bayes_needs.core.library_warnings import sampling_filters

#: NUTS implementations (``pymc.sample(nuts_sampler=...)``) and the package each needs.
SAMPLERS: dict[str, str | None] = {"pymc": None, "nutpie": "nutpie", "numpyro": "numpyro"}


def check_sampling_arguments(*, draws: Any, tune: Any, chains: Any,
                             sampler: str = "pymc") -> None:
    """Raise :class:`~bayes_needs.core.errors.ConfigError` naming a bad argument."""
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    module = SAMPLERS[sampler]
    if module is not None:
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(f"sampler '{sampler}' needs the optional package '{module}': "
                              f"pip install 'bayes-needs[fast]'") from None
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} must be a whole number >= 1, got {value!r}")


def sample_nuts(model: pm.Model, *, random_seed: int, draws: int, tune: int, chains: int,
                cores: int | None = None, sampler: str = "pymc",
                target_accept: float = defaults.TARGET_ACCEPT,
                progressbar: bool = False, initvals: dict[str, Any] | None = None,
                **sample_kwargs) -> az.InferenceData:
    """Run :func:`pymc.sample` with an explicit seed; an interrupt always propagates.

    ``initvals`` are used by PyMC's own sampler only (the others take no start point).
    ``cores`` defaults to ``min(chains, 2)``. Other keywords go to :func:`pymc.sample`.
    """
    check_sampling_arguments(draws=draws, tune=tune, chains=chains, sampler=sampler)
    sample_kwargs.setdefault("idata_kwargs", {"log_likelihood": False})
    # sampling_filters: NumPy's NaN warnings of rejected trajectories, here and in workers.
    with InterruptWatch() as watch, model, sampling_filters():
        try:
            idata = pm.sample(draws=draws, tune=tune, chains=chains,
                              cores=cores if cores is not None else min(chains, 2),
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
