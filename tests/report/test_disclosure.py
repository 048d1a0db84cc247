"""Disclosure control: small counts suppressed and marked, person-level tables refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from csv_meta import description

from bayes_needs.core.errors import ConfigError
from bayes_needs.report.disclosure import (
    DisclosureError,
    check_aggregate,
    suppress_counts,
    write_safe_csv,
)


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame({"la_code": ["A", "B", "C", "D", "E"],
                         "children": [0, 1, 4, 5, 120],
                         "rate": [0.1, 0.2, 0.3, 0.4, 0.5]})


def test_counts_below_threshold_are_suppressed_and_marked(table):
    out = suppress_counts(table, ["children"])
    assert out["children"].isna().tolist() == [True, True, True, False, False]
    assert out["children_suppressed"].tolist() == [True, True, True, False, False]
    assert list(out.columns) == ["la_code", "children", "children_suppressed", "rate"]
    pd.testing.assert_series_equal(out["rate"], table["rate"])  # not a count: untouched
    assert table["children"].tolist() == [0, 1, 4, 5, 120]  # input left alone


def test_threshold_and_zeros_are_configurable(table):
    out = suppress_counts(table, ["children"], threshold=10, keep_zeros=True)
    assert out["children_suppressed"].tolist() == [False, True, True, True, False]
    assert out.loc[0, "children"] == 0
    with pytest.raises(ConfigError, match="threshold"):
        suppress_counts(table, ["children"], threshold=0)


def test_person_level_tables_are_refused(table):
    with pytest.raises(DisclosureError, match="child_id"):
        check_aggregate(table.assign(child_id=np.arange(5)))
    with pytest.raises(DisclosureError):
        suppress_counts(table.assign(UPN="x"), ["children"])


def test_written_csv_holds_no_small_count(table, tmp_path):
    path = write_safe_csv(tmp_path / "t.csv", table, count_columns=["children"],
                          comment="example")
    assert description(path).startswith("example\ndisclosure control: counts below 5")
    back = pd.read_csv(path)
    shown = back["children"].dropna()
    assert (shown >= 5).all() and back["children_suppressed"].sum() == 3
