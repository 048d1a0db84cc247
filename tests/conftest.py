"""Shared fixtures. Real public data are read from ``../shared/data`` beside the checkout
(or ``$BAYES_NEEDS_DATA_DIR``); tests that need them are skipped when they are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sampling_mocks import patched_sample

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """The real-data directory, or ``None`` when it is not available."""
    env = os.environ.get("BAYES_NEEDS_DATA_DIR")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if (path / "README.md").is_file():
            return path
    return None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """Path of the real public data; skips the test when absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("real data directory ../shared/data not available")
    return path


@pytest.fixture(scope="module")
def mocked_sampler():
    """``pm.sample`` replaced by the mock sampler for the rest of the test module."""
    with patched_sample():
        yield
