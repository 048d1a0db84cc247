"""Tests for the checks shared by the data containers, in ``data/_container_checks.py``."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from bayes_needs.data._container_checks import (
    check_names,
    check_year,
    first_rows,
    hash_frame,
    year_label,
)


def test_check_names():
    assert check_names(["cla", "cla_weeks", "x2"], "service") == []
    problems = check_names(["CLA", "cla", "cla", 3, "2x"], "service")
    assert problems == ["service name(s) ['CLA', 3, '2x'] must be lower-case identifiers like "
                        "'cla_weeks'", "service name(s) ['cla'] are listed more than once"]


@pytest.mark.parametrize("value", [2024, np.int64(2024), 2024.0, np.float32(2024), "2024",
                                   " 2024 "])
def test_year_label_reads_one_year_many_ways(value):
    assert year_label(value) == "2024"


def test_year_label_keeps_other_text():
    assert year_label("2024-25") == "2024-25"
    assert year_label(2024.5) == "2024.5"
    assert year_label(True) == "True"


def test_first_rows():
    assert first_rows([False, True, False, True]) == [1, 3]
    assert first_rows(np.ones(9, bool)) == [0, 1, 2, 3, 4]
    assert all(type(i) is int for i in first_rows(pd.Series([True, True])))


def test_check_year():
    frame = pd.DataFrame({"year": [2024.0, 2024.0, np.nan, 2023.0]})
    assert check_year(pd.DataFrame({"x": [1]}), 2024, "t") == []
    problems = check_year(frame, 2024, "counts.csv")
    assert problems == [
        "column 'year' is empty at 1 row(s), first at row(s) [2]",
        "column 'year' holds ['2023', '2024'] but the data are declared for year 2024 "
        "(mismatched years in counts.csv, first at row(s) [3])"]
    assert check_year(frame.iloc[:2], "2024", "t") == []
    assert "several years" in check_year(frame.dropna(), None, "t")[0]


def test_hash_frame_sees_names_and_values_not_index():
    def digest(frame: pd.DataFrame) -> str:
        h = hashlib.sha256()
        hash_frame(h, frame)
        return h.hexdigest()

    base = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    assert digest(base) == digest(base.set_axis([7, 9]))
    assert digest(base) != digest(base.rename(columns={"b": "c"}))
    assert digest(base) != digest(base.assign(a=[1.0, 2.5]))
