"""Seeded random streams of the synthetic generator, one per stage.

Each stage draws from its own stream, keyed by the seed and a stage number, so the geography
of a seed is the same whether built alone or inside
:func:`bayes_needs.simulate.area.generate_area`, and one service's draws do not depend on which
other services are requested.
"""

from __future__ import annotations

import numpy as np

from bayes_needs.core.errors import ConfigError

__all__ = ["DESIGN_CHOICE", "DESIGN_DATA", "DESIGN_FIT", "DESIGN_PARAMETERS", "GEOGRAPHY",
           "LA_EFFECT", "OBSERVATION_FIX", "PERSON_CHUNK", "PERSON_SETUP",
           "SERVICE", "SPEND", "check_seed", "stage_rng"]

#: Stage keys of the area generator.
GEOGRAPHY, LA_EFFECT, SERVICE, OBSERVATION_FIX, SPEND = 1, 2, 3, 4, 5
#: Stage keys of the person generator.
PERSON_SETUP, PERSON_CHUNK = 11, 12
#: Stage keys of a design replicate (``bayes-needs design``): the posterior draw, the choice
#: of returning LAs, the simulated return and the refit's seed.
DESIGN_PARAMETERS, DESIGN_CHOICE, DESIGN_DATA, DESIGN_FIT = 21, 22, 23, 24


def stage_rng(random_seed: int, *stage: int) -> np.random.Generator:
    """Return the independent stream of one stage of a seed.

    Parameters
    ----------
    random_seed
        The generator's seed (checked with :func:`check_seed`).
    *stage
        Stage key and any sub-keys (a service's position, a chunk's first LSOA).

    Returns
    -------
    numpy.random.Generator
        ``default_rng([random_seed, *stage])``.
    """
    return np.random.default_rng([int(random_seed), *stage])


def check_seed(random_seed: object) -> int:
    """Validate a seed.

    Parameters
    ----------
    random_seed
        The value given.

    Returns
    -------
    int
        The seed as a Python int.

    Raises
    ------
    ConfigError
        Unless it is a non-negative integer (``bool`` is refused).
    """
    if isinstance(random_seed, bool) or not isinstance(random_seed, int | np.integer) \
            or random_seed < 0:
        raise ConfigError(f"random_seed must be a non-negative integer, got {random_seed!r}")
    return int(random_seed)
