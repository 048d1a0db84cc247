"""The slow-marking rule (``tests/conftest.py``, plugin ``slow_marks``): a test made slow any
other way than by ``@pytest.mark.slow`` on its function, or an unmarked test in a
recovery/calibration file, stops collection; tests that follow the rule are collected and the
slow ones deselected.

Each case runs pytest in this process on scratch files with the ``slow_marks`` plugin.
"""

from __future__ import annotations

import pytest

INI = """[pytest]
markers =
    slow: long tests
"""

FAST = """
def test_fast():
    pass
"""
SLOW = """
import pytest


@pytest.mark.slow
def test_long():
    pass
"""
MODULE_MARK = """
import pytest

pytestmark = pytest.mark.slow


def test_long():
    pass
"""
CLASS_MARK = """
import pytest


@pytest.mark.slow
class TestLong:
    def test_long(self):
        pass
"""
PARAM_MARK = """
import pytest


@pytest.mark.parametrize("n", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_n(n):
    pass
"""


def collect(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
            **files: str) -> pytest.RunResult:
    """Collect ``files`` (module name: source) with the plugin, deselecting slow tests."""
    # Only the built-in plugins and ours: importing hypothesis's again would take seconds.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makeini(INI)
    pytester.makepyfile(**files)
    return pytester.runpytest("-p", "slow_marks", "--collect-only", "-q", "-m", "not slow",
                              "-p", "no:cacheprovider")


@pytest.mark.parametrize(("name", "source", "offender"), [
    ("test_model_recovery", FAST, "test_model_recovery.py::test_fast"),
    ("test_model_calibration", SLOW + FAST, "test_model_calibration.py::test_fast"),
    ("test_model_calibration", MODULE_MARK, "test_model_calibration.py::test_long"),
    ("test_model", MODULE_MARK, "test_model.py::test_long"),
    ("test_model", CLASS_MARK, "test_model.py::TestLong::test_long"),
    ("test_model", PARAM_MARK, "test_model.py::test_n[2]"),
], ids=["unmarked-recovery", "one-unmarked-calibration", "pytestmark-calibration",
        "pytestmark", "class", "param"])
def test_breaking_the_rule_stops_collection(pytester, monkeypatch, name, source, offender):
    result = collect(pytester, monkeypatch, **{name: source})
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "slow tests must be marked one way" in result.stderr.str()
    # The offender, and only it, is named: a correctly marked neighbour is not.
    named = [line.strip() for line in result.stderr.lines if "::" in line]
    assert len(named) == 1 and named[0].startswith(f"{offender}: "), named


def test_following_the_rule_collects_and_deselects_the_slow_tests(pytester, monkeypatch):
    result = collect(pytester, monkeypatch, test_model_recovery=SLOW, test_model=FAST + SLOW)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["test_model.py::test_fast",
                                 "*1/3 tests collected (2 deselected)*"])


def test_this_suite_runs_with_the_rule(pytestconfig):
    assert pytestconfig.pluginmanager.has_plugin("slow_marks")
