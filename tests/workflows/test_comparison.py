"""``bayes-needs compare`` outputs: written as one set, interval settings checked up front.

The comparison itself (fitting both approaches on synthetic data) is covered end to end by
the slow ``tests/cli/test_person_demo.py``; here small hand-made results are written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import ConfigError
from bayes_needs.core.outputs import SET_FILES
from bayes_needs.workflows import comparison
from bayes_needs.workflows.comparison import (
    ComparisonResult,
    ComparisonSettings,
    write_comparison,
)


class WriteFailed(RuntimeError):
    """The failure injected into a writer."""


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones too) by relative name, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def fake_result(seed: int) -> ComparisonResult:
    """A comparison result with random numbers in the shape :func:`run_comparison` gives."""
    rng = np.random.default_rng(seed)
    approaches = ["area", "person", "stacked"]
    table = pd.DataFrame({
        "approach": approaches, "elpd_heldout_la": rng.normal(-100, 5, 3),
        "elpd_se": rng.uniform(1, 3, 3), "elpd_diff_vs_best": [0.0, -2.0, -1.0],
        "elpd_diff_se": [0.0, 1.5, 1.0], "n_heldout_points": [40, 40, 40],
        "stacking_weight": [0.4, 0.6, 1.0], "share_rmse": rng.uniform(0, 0.01, 3),
        "share_mae": rng.uniform(0, 0.01, 3), "share_max_abs_error": rng.uniform(0, 0.02, 3),
        "share_coverage": [0.9, 0.8, 0.9], "interval_width_mean": rng.uniform(0, 0.02, 3),
        "relative_interval_width_mean": rng.uniform(0, 0.2, 3)})
    pointwise = pd.DataFrame({"la_code": ["A", "A", "B", "B"], "service": ["cin", "cla"] * 2,
                              "fold": [1, 1, 2, 2], "observed": [120.0, 3.0, 80.0, 7.0],
                              "lpd_area": rng.normal(-3, 1, 4),
                              "lpd_person": rng.normal(-3, 1, 4),
                              "lpd_stacked": rng.normal(-3, 1, 4)})
    return ComparisonResult(table, pointwise, {"area": 0.4, "person": 0.6},
                            ComparisonSettings(data_seed=seed), 12.0)


def test_write_comparison_writes_every_file_with_small_counts_suppressed(tmp_path):
    paths = write_comparison(fake_result(1), tmp_path / "out")
    assert [p.name for p in paths] == [comparison.COMPARISON_CSV, "comparison.meta.json",
                                       comparison.POINTWISE_CSV, "cv_pointwise.meta.json",
                                       comparison.SUMMARY_TXT]
    assert sorted(snapshot(tmp_path / "out")) == sorted([*(p.name for p in paths), *SET_FILES])
    pointwise = pd.read_csv(tmp_path / "out" / comparison.POINTWISE_CSV)
    assert pointwise["observed"].isna().tolist() == [False, True, False, False]
    assert "90% equal-tailed intervals" in paths[-1].read_text(encoding="utf-8")


def test_a_failure_while_writing_leaves_the_previous_files(tmp_path, monkeypatch):
    out = tmp_path / "out"
    write_comparison(fake_result(1), out)
    before = snapshot(out)

    def fail(path, text):
        raise WriteFailed(f"injected failure writing {Path(path).name}")

    # comparison.txt is written after comparison.csv and cv_pointwise.csv.
    monkeypatch.setattr(comparison, "write_text", fail)
    with pytest.raises(WriteFailed):
        write_comparison(fake_result(2), out)
    assert snapshot(out) == before
    with pytest.raises(WriteFailed):
        write_comparison(fake_result(2), tmp_path / "new")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize("interval_prob", [0.0, 1.0, 1.5, float("nan")])
def test_interval_probability_is_checked_when_the_settings_are_made(interval_prob):
    with pytest.raises(ConfigError, match="interval_prob"):
        ComparisonSettings(interval_prob=interval_prob)
