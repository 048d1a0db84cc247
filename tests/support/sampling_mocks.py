"""PyMC's mock sampler for tier-2 tests: ``pm.sample`` returns prior draws in seconds."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import numpy as np
import pymc as pm
import pytest
from pymc.testing import mock_sample

#: Area priors so narrow that mocked "posterior" (prior) draws look like a converged fit's
#: output: realistic rates, small LA and MSOA effects.
CONCENTRATED_PRIORS = """
schema_version = 1
[priors.intercept]
dist = "Normal"
kwargs = { mu = -4.5, sigma = 0.1 }
dims = ["service"]
[priors.beta]
dist = "Normal"
kwargs = { mu = 0.5, sigma = 0.05 }
dims = ["service", "covariate"]
[priors.sigma_la]
dist = "HalfNormal"
kwargs = { sigma = 0.1 }
dims = ["service"]
[priors.msoa_cv]
dist = "HalfNormal"
kwargs = { sigma = 0.1 }
dims = ["service"]
[priors.lsoa_dispersion]
dist = "HalfNormal"
kwargs = { sigma = 0.5 }
dims = ["service"]
"""


@contextlib.contextmanager
def patched_sample(**sample_stats: Callable[[tuple[int, ...]], np.ndarray]) -> Iterator[None]:
    """Within the block ``pm.sample`` is PyMC's mock sampler (prior draws, no divergences);
    ``sample_stats`` adds further sampler statistics by name.
    """
    stats = {"diverging": lambda size: np.zeros(size, dtype=bool), **sample_stats}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pm, "sample", functools.partial(mock_sample, sample_stats=stats))
        yield
