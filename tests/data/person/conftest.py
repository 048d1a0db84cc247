"""Fixtures of the person-record tests."""

from __future__ import annotations

import pytest
from person_records import small_geography

from bayes_needs.data.geography import Geography


@pytest.fixture(scope="module")
def geography() -> Geography:
    """Six LSOAs in three MSOAs in two LAs."""
    return small_geography()
