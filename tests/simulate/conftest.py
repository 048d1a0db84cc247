"""Synthetic worlds shared by the tests of the simulate layer (built once per session)."""

from __future__ import annotations

import pytest

from bayes_needs.simulate.area import SyntheticArea, generate_area
from bayes_needs.simulate.person import SyntheticPersons, generate_persons


@pytest.fixture(scope="session")
def tiny() -> SyntheticArea:
    return generate_area("tiny", random_seed=11)


@pytest.fixture(scope="session")
def region() -> SyntheticArea:
    return generate_area("region", random_seed=5)


@pytest.fixture(scope="session")
def england() -> SyntheticArea:
    return generate_area("england", random_seed=2024)


@pytest.fixture(scope="session")
def tiny_persons(tiny) -> SyntheticPersons:
    return generate_persons(tiny, random_seed=3, coverage=0.8)
