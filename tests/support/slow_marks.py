"""Pytest plugin: the one way a test is marked slow, checked at collection.

``tests/conftest.py`` loads this plugin (``pytest_plugins``); ``tests/test_slow_marks.py``
runs it on scratch files.

Rule: a slow test carries ``@pytest.mark.slow`` on its own test function, and nothing else
makes a test slow (no module ``pytestmark``, no mark on a class, no ``pytest.param(...,
marks=...)``). Every test in a ``test_*_recovery.py`` or ``test_*_calibration.py`` file is
slow. So ``grep -n "mark.slow"`` above a ``def test_`` tells what the default run leaves out.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

SLOW = "slow"
#: Files whose every test is slow: real-NUTS recovery and calibration studies.
SLOW_FILE_SUFFIXES = ("_recovery.py", "_calibration.py")


def marked_on_function(item: pytest.Item, name: str) -> bool:
    """Return whether the test function of ``item`` itself is decorated with mark ``name``.

    Parameters
    ----------
    item
        A collected test.
    name
        Mark name.

    Returns
    -------
    bool
        True when the mark sits in the function's own decorators, False when it is absent or
        comes only from the module, a class or a parameter set.
    """
    function = getattr(item, "function", None)
    return any(mark.name == name for mark in getattr(function, "pytestmark", []))


def slow_mark_problems(items: Iterable[pytest.Item]) -> list[str]:
    """Return one message per test that breaks the slow-marking rule of this module.

    Parameters
    ----------
    items
        Collected tests, before ``-m`` deselects any.

    Returns
    -------
    list of str
        ``"<node id>: <what is wrong>"``; empty when every test follows the rule.
    """
    problems = []
    for item in items:
        on_function = marked_on_function(item, SLOW)
        if item.get_closest_marker(SLOW) is not None and not on_function:
            problems.append(f"{item.nodeid}: slow through pytestmark, a class or "
                            "pytest.param; decorate the test function with @pytest.mark.slow")
        elif not on_function and item.path.name.endswith(SLOW_FILE_SUFFIXES):
            problems.append(f"{item.nodeid}: in a recovery/calibration file but not "
                            "decorated with @pytest.mark.slow")
    return problems


def check_slow_marks(items: Iterable[pytest.Item]) -> None:
    """Stop the run when a collected test breaks the slow-marking rule.

    Parameters
    ----------
    items
        Collected tests, before ``-m`` deselects any.

    Raises
    ------
    pytest.UsageError
        Listing every offending test.
    """
    problems = slow_mark_problems(items)
    if problems:
        raise pytest.UsageError("slow tests must be marked one way (tests/support/slow_marks.py):"
                                "\n  " + "\n  ".join(problems))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Stop the run when a collected test breaks the slow-marking rule.

    ``tryfirst`` so that the check sees every test before ``-m 'not slow'`` deselects any.

    Parameters
    ----------
    items
        Every collected test.
    """
    check_slow_marks(items)
