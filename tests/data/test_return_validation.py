"""Tests of :mod:`bayes_needs.data.return_validation`: templates and long CSVs, one check."""

from __future__ import annotations

import pandas as pd
import pytest
from small_panel import small_panel

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.panel_returns import PanelReturns
from bayes_needs.data.return_template import template_table
from bayes_needs.data.return_validation import read_returns, validate_returns


@pytest.fixture
def panel():
    return small_panel()


def filled(panel, counts: dict[str, list], level: str = "lsoa", year: int = 2021,
           la: str = "E1") -> pd.DataFrame:
    table = template_table(panel, la, level, list(counts), year)
    for service, values in counts.items():
        table[service] = values
    return table


def write(table: pd.DataFrame, path) -> str:
    table.to_csv(path, index=False)
    return str(path)


def kinds(result) -> list[str]:
    return [p.kind for p in result.problems]


def test_a_filled_template_gives_the_returns_the_long_table_gives(panel, tmp_path):
    path = write(filled(panel, {"cin": [10, 12, 8, 10], "cla": [0, 30, 5, 5]}),
                 tmp_path / "e1.csv")
    result = validate_returns([path], panel)
    assert result.problems == () and result.returns is not None
    long = result.returns.table.drop(columns="la_code")
    same = PanelReturns.from_frame(long, panel)
    assert same.data_hash() == result.returns.data_hash()
    assert list(result.returns.table["count"][result.returns.table["service"] == "cin"]) == \
        [10, 12, 8, 10]


def test_dfe_marks_are_warnings_and_leave_the_area_out(panel, tmp_path):
    path = write(filled(panel, {"cin": [10, "c", 8, 10]}), tmp_path / "e1.csv")
    result = validate_returns([path], panel)
    assert result.errors == []
    assert kinds(result) == ["suppressed_count", "total_incomplete"]
    assert result.warnings[0].row == 3 and result.warnings[0].column == "cin"
    assert list(result.returns.table["area_code"]) == ["L1", "L3", "L4"]


def test_the_total_is_checked_with_the_stated_tolerance(panel, tmp_path):
    # Published 40: 46 is 6 children (15%) off, more than 5 children and 5%; 43 is 3 off.
    off = write(filled(panel, {"cin": [10, 12, 8, 16]}), tmp_path / "off.csv")
    near = write(filled(panel, {"cin": [10, 12, 8, 13]}), tmp_path / "near.csv")
    assert kinds(validate_returns([off], panel)) == ["total_mismatch"]
    assert validate_returns([near], panel).problems == ()
    assert kinds(validate_returns([near], panel, tolerance=0.0, min_difference=2)) == \
        ["total_mismatch"]
    assert validate_returns([off], panel, tolerance=0.2).problems == ()


def test_a_year_without_a_published_total_is_a_warning(panel, tmp_path):
    path = write(filled(panel, {"cin": [1, 2, 3, 4]}, year=2022), tmp_path / "e1.csv")
    result = validate_returns([path], panel)
    assert kinds(result) == ["no_published_total"] and result.returns is not None


def test_every_problem_of_every_file_is_reported_at_once(panel, tmp_path):
    bad = filled(panel, {"cin": [10, -1, 8, None]})
    bad.loc[2, "area_code"] = "M1"
    long = tmp_path / "long.csv"
    long.write_text("service,level,area_code,year,count\ncin,msoa,M3,2021,x\n",
                    encoding="utf-8")
    result = validate_returns([write(bad, tmp_path / "e1.csv"), long,
                               tmp_path / "gone.csv"], panel)
    assert result.returns is None
    assert sorted(kinds(result)) == ["blank_count", "count_not_a_number", "missing_area",
                                     "missing_file", "negative_count", "wrong_level_code"]
    by_kind = {p.kind: p for p in result.problems}
    assert (by_kind["negative_count"].row, by_kind["negative_count"].column) == (3, "cin")
    assert by_kind["count_not_a_number"].file == str(long)
    with pytest.raises(DataValidationError, match="line 3, column 'cin'"):
        read_returns([tmp_path / "e1.csv"], panel)


def test_a_renamed_column_is_reported_and_the_rest_still_checked(panel, tmp_path):
    table = filled(panel, {"cin": [10, 12, 8, -10]}).rename(
        columns={"area_code": "Area Code", "cin": "CIN"})
    table.loc[0, "year"] = 2020
    result = validate_returns([write(table, tmp_path / "e1.csv")], panel)
    assert sorted(kinds(result)) == ["inconsistent_metadata", "missing_column",
                                     "negative_count", "unknown_column"]
    by_kind = {p.kind: p for p in result.problems}
    assert by_kind["missing_column"].column == "area_code"
    assert "renamed" in by_kind["missing_column"].message
    assert (by_kind["negative_count"].row, by_kind["negative_count"].column) == (5, "cin")
    assert "column 'CIN' (field 7)" in by_kind["negative_count"].message
