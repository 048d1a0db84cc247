"""Progress bars and informational lines on stderr, and ``--quiet``."""

from __future__ import annotations

import inspect

import pytest

from bayes_needs.config.run import RunConfig
from bayes_needs.core import progress
from bayes_needs.models.base import FittableModel
from bayes_needs.models.sampling import sample_nuts
from bayes_needs.workflows.backtest import run_backtest
from bayes_needs.workflows.costs import run_costs
from bayes_needs.workflows.report import build_report
from bayes_needs.workflows.sbc import run_sbc
from bayes_needs.workflows.sensitivity import run as run_sensitivity


@pytest.fixture(autouse=True)
def not_quiet():
    progress.set_quiet(False)
    yield
    progress.set_quiet(False)


def test_off_a_terminal_each_item_is_one_plain_line(capsys):
    with progress.progress_bar(3, "jobs") as advance:
        for name in "abc":
            advance(name)
    err = capsys.readouterr().err
    assert err.splitlines() == ["  [1/3] jobs: a", "  [2/3] jobs: b", "  [3/3] jobs: c"]
    assert "\x1b" not in err


def test_quiet_and_disabled_bars_print_nothing(capsys):
    with progress.progress_bar(2, "jobs", enabled=False) as advance:
        advance("a")
    progress.set_quiet(True)
    with progress.progress_bar(2, "jobs") as advance:
        advance("a")
    progress.info("loading ...")
    assert capsys.readouterr().err == ""
    progress.set_quiet(False)
    progress.info("loading ...")
    assert capsys.readouterr().err == "loading ...\n"


def test_on_a_terminal_a_bar_is_drawn(capsys, monkeypatch):
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    with progress.progress_bar(2, "scenarios") as advance:
        advance("base")
        advance("low")
    err = capsys.readouterr().err
    assert "scenarios" in err and "2/2" in err
    assert "[1/2]" not in err  # not the plain lines


def test_sampler_bar_only_on_a_terminal_and_not_quiet(monkeypatch):
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: True)
    assert progress.sampler_bar_wanted()
    assert not progress.sampler_bar_wanted(False)
    progress.set_quiet(True)
    assert not progress.sampler_bar_wanted()
    progress.set_quiet(False)
    monkeypatch.setattr(progress, "stderr_is_terminal", lambda: False)
    assert not progress.sampler_bar_wanted()


@pytest.mark.parametrize("function", [run_sensitivity, run_backtest, run_sbc, build_report])
def test_python_progress_is_off_by_default(function):
    assert inspect.signature(function).parameters["progress"].default is False


@pytest.mark.parametrize("function", [FittableModel.fit, sample_nuts, run_costs])
def test_python_fits_show_no_sampler_bar_by_default(function):
    assert inspect.signature(function).parameters["progressbar"].default is False
    assert RunConfig().sampling.progressbar is False
