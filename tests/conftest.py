"""Shared fixtures and the rules every test file follows.

* Layout: tests mirror the package, ``tests/<layer>/test_<module>.py``; helpers used by more
  than one file live in ``tests/support/`` (on ``sys.path`` through pytest's ``pythonpath``).
* Slow tests: a slow test carries ``@pytest.mark.slow`` on its own test function, nothing
  else (no module ``pytestmark``, no class mark, no ``pytest.param`` marks), and every test
  in a ``test_*_recovery.py`` or ``test_*_calibration.py`` file is slow. The default run
  deselects them (``-m 'not slow'`` in ``pyproject.toml``); ``-m slow`` runs only them.
  The ``slow_marks`` plugin (``tests/support/slow_marks.py``) stops the run when a
  collected test breaks this rule.
* Mocked sampling: a test that fits under PyMC's mock sampler takes the function-scoped
  ``mocked_sampler`` fixture; a module-scoped fixture sharing one mocked fit between tests
  patches itself with ``with patched_sample():`` (both from ``sampling_mocks``).
* Signals: tests stop runs with SIGINT, SIGTERM and SIGHUP. A shell script that starts
  pytest in the background (``cmd &``) makes it inherit an *ignored* SIGINT, and ``nohup``
  an ignored SIGHUP, which the CLI rightly leaves alone (a run under ``nohup`` goes on when
  the terminal closes); :func:`pytest_configure` gives both their usual handling back, so
  this process and the CLI processes it starts (signals reset to default on exec) can be
  interrupted as on a terminal.
* Real public data are read from ``../shared/data`` beside the checkout (or
  ``$BAYES_NEEDS_DATA_DIR``); tests that need them take ``data_dir`` and are skipped when the
  data are absent.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sampling_mocks import patched_sample

#: ``slow_marks`` enforces the slow-marking rule above; ``pytester`` runs pytest on scratch
#: files (``tests/test_slow_marks.py``).
pytest_plugins = ("slow_marks", "pytester")

REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Undo a SIGINT or SIGHUP ignored by the launcher (see the module docstring)."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if signal.getsignal(signal.SIGHUP) == signal.SIG_IGN:
        signal.signal(signal.SIGHUP, signal.SIG_DFL)


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


@pytest.fixture
def mocked_sampler() -> Iterator[None]:
    """``pm.sample`` replaced by PyMC's mock sampler (prior draws) for this test only."""
    with patched_sample():
        yield
