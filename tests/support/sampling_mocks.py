"""PyMC's mock sampler for tier-2 tests: ``pm.sample`` returns prior draws in seconds.

:func:`pymc.testing.mock_sample` stands in for :func:`pymc.sample`: it takes prior draws of
the model and copies them to every chain. PyMC's ready fixture
:func:`pymc.testing.mock_sample_setup_and_teardown` is not used as is because it adds no
``sample_stats`` group, and the convergence summary and gate read ``diverging`` from it.

Every mocked fit goes through :func:`mock_sampler`:

* a test takes the function-scoped ``mocked_sampler`` fixture of ``tests/conftest.py``;
* a module-scoped fixture that fits under the mock (to share one fit between tests) patches
  itself with ``with patched_sample():`` (pytest forbids a module-scoped fixture to request a
  function-scoped one);
* a CLI subprocess runs ``clitools.MOCKED_DRIVER``, which imports this module.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from unittest import mock

import numpy as np
import pymc as pm
from arviz import InferenceData
from pymc.testing import mock_sample

#: Creates one sampler statistic of the given ``(chain, draw)`` shape.
StatCreator = Callable[[tuple[int, int]], np.ndarray]

#: Area priors so narrow that mocked "posterior" (prior) draws look like a converged fit's
#: output: realistic rates, small LA and MSOA effects.
CONCENTRATED_PRIOR_SPECS: dict[str, dict] = {
    "intercept": {"dist": "Normal", "kwargs": {"mu": -4.5, "sigma": 0.1}, "dims": ["service"]},
    "beta": {"dist": "Normal", "kwargs": {"mu": 0.5, "sigma": 0.05},
             "dims": ["service", "covariate"]},
    "sigma_la": {"dist": "HalfNormal", "kwargs": {"sigma": 0.1}, "dims": ["service"]},
    "msoa_cv": {"dist": "HalfNormal", "kwargs": {"sigma": 0.1}, "dims": ["service"]},
    "lsoa_dispersion": {"dist": "HalfNormal", "kwargs": {"sigma": 0.5}, "dims": ["service"]},
}


def no_divergences(size: tuple[int, int]) -> np.ndarray:
    """Return a ``diverging`` statistic of ``size`` with no divergent transition."""
    return np.zeros(size, dtype=bool)


def mock_sampler(**sample_stats: StatCreator) -> Callable[..., InferenceData]:
    """Return :func:`pymc.testing.mock_sample` with sampler statistics, to be ``pm.sample``.

    Parameters
    ----------
    **sample_stats
        Further statistics by name, besides ``diverging`` (none), each made by a function of
        the ``(chain, draw)`` shape.

    Returns
    -------
    callable
        Takes :func:`pymc.sample`'s arguments and returns prior draws as the posterior.
    """
    return functools.partial(mock_sample,
                             sample_stats={"diverging": no_divergences, **sample_stats})


@contextlib.contextmanager
def patched_sample(**sample_stats: StatCreator) -> Iterator[None]:
    """Make ``pm.sample`` the mock sampler of :func:`mock_sampler` within the block.

    Parameters
    ----------
    **sample_stats
        Further sampler statistics, as for :func:`mock_sampler`.

    Yields
    ------
    None
        ``pm.sample`` is restored when the block ends, even on an error.
    """
    with mock.patch.object(pm, "sample", mock_sampler(**sample_stats)):
        yield


def concentrated_priors_toml(table: str = "priors") -> str:
    """Return :data:`CONCENTRATED_PRIOR_SPECS` as TOML tables ``[<table>.<parameter>]``.

    Parameters
    ----------
    table
        Dotted name of the enclosing table: ``"priors"`` in a prior file, ``"base.priors"``
        in a scenario file.

    Returns
    -------
    str
        The tables, one line per key.
    """
    lines = []
    for name, spec in CONCENTRATED_PRIOR_SPECS.items():
        kwargs = ", ".join(f"{k} = {v}" for k, v in spec["kwargs"].items())
        lines += [f"[{table}.{name}]", f'dist = "{spec["dist"]}"',
                  f"kwargs = {{ {kwargs} }}", f"dims = {json.dumps(spec['dims'])}"]
    return "\n".join(lines) + "\n"


#: A complete prior file of the concentrated area priors (for ``--priors``).
CONCENTRATED_PRIORS = "schema_version = 1\n" + concentrated_priors_toml()


def write_concentrated_priors(directory: Path, name: str = "priors.toml") -> Path:
    """Write :data:`CONCENTRATED_PRIORS` to ``directory / name``.

    Parameters
    ----------
    directory
        An existing directory.
    name
        File name.

    Returns
    -------
    Path
        The prior file written.
    """
    path = directory / name
    path.write_text(CONCENTRATED_PRIORS, encoding="utf-8")
    return path
