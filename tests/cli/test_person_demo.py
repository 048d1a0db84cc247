"""``bayes-needs compare`` and ``demo --approach``: argument errors exit 2 with a message
before any fitting; the slow tests run both end to end at tiny scale.
"""

from __future__ import annotations

import pandas as pd
import pytest
from clitools import run_cli

FAST_SAMPLING = ["--draws", "150", "--tune", "150", "--chains", "2"]


def test_compare_is_registered_with_help(capsys):
    code, out, _ = run_cli(capsys, "compare", "--help")
    assert code == 0 and "--scale" in out and "comparison.csv" in out


@pytest.mark.parametrize(("args", "named"), [
    (["--scale", "moon"], "--scale"),
    (["--folds", "0"], "--folds"),
    (["--folds", "9"], "folds"),
    (["--services", "pizza"], "services"),
])
def test_compare_argument_errors_exit_2(capsys, tmp_path, args, named):
    code, _, err = run_cli(capsys, "compare", "--out", str(tmp_path / "out"), *args)
    assert code == 2
    assert named in err and "Traceback" not in err
    assert not (tmp_path / "out" / "comparison.csv").exists()


def test_demo_rejects_unknown_approach(capsys, tmp_path):
    code, _, err = run_cli(capsys, "demo", "--approach", "crystal", "--out", str(tmp_path))
    assert code == 2 and "--approach" in err


@pytest.mark.slow
def test_compare_tiny_end_to_end(capsys, tmp_path):
    code, _, err = run_cli(capsys, "compare", "--scale", "tiny", "--out", str(tmp_path),
                         "--folds", "2", *FAST_SAMPLING)
    assert code == 0, err
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert table["approach"].tolist() == ["area", "person", "stacked"]
    assert table["stacking_weight"].iloc[:2].sum() == pytest.approx(1.0)
    assert table["elpd_heldout_la"].notna().all()
    assert (table["n_heldout_points"] == 8 * 5).all()
    pointwise = pd.read_csv(tmp_path / "cv_pointwise.csv")
    assert (pointwise["observed"].dropna() >= 5).all()
    assert "predicted better by the" in (tmp_path / "comparison.txt").read_text()


@pytest.mark.slow
def test_demo_both_approaches_tiny(capsys, tmp_path):
    code, _, err = run_cli(capsys, "demo", "--scale", "tiny", "--approach", "both", "--out",
                       str(tmp_path), "--no-progress", *FAST_SAMPLING)
    assert code == 0, err
    for approach in ("area", "person"):
        shares = pd.read_csv(tmp_path / approach / "allocations.csv")
        assert shares["share_mean"].sum() == pytest.approx(1.0)
    demand = pd.read_csv(tmp_path / "person" / "demand.csv")
    assert "child_id" not in demand.columns
    assert (demand["observed_covered"].dropna() >= 5).all()
    assert demand["observed_covered_suppressed"].dtype == bool
