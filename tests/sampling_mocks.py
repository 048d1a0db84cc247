"""PyMC's mock sampler for tier-2 tests: ``pm.sample`` returns prior draws in seconds."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator

import numpy as np
import pymc as pm
import pytest
from pymc.testing import mock_sample


@contextlib.contextmanager
def patched_sample(**sample_stats: Callable[[tuple[int, ...]], np.ndarray]) -> Iterator[None]:
    """Within the block ``pm.sample`` is PyMC's mock sampler (prior draws, no divergences);
    ``sample_stats`` adds further sampler statistics by name."""
    stats = {"diverging": lambda size: np.zeros(size, dtype=bool), **sample_stats}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pm, "sample", functools.partial(mock_sample, sample_stats=stats))
        yield
