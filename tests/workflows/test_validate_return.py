"""Tests of :mod:`bayes_needs.workflows.validate_return`: the report, written as one set."""

from __future__ import annotations

import json

import pandas as pd
from small_panel import small_panel

from bayes_needs.data.return_template import template_table
from bayes_needs.workflows.validate_return import (
    OUTPUT_FILES,
    PROBLEMS_CSV,
    REPORT_JSON,
    validate_return_files,
)


def test_the_report_lists_every_problem_with_its_place_even_when_invalid(tmp_path):
    panel = small_panel()
    table = template_table(panel, "E1", "msoa", ["cin"], 2021)
    table["cin"] = [20, "ten"]
    path = tmp_path / "e1.csv"
    table.to_csv(path, index=False)
    result = validate_return_files([path], "unused", out_dir=tmp_path / "report", panel=panel)
    assert [p.kind for p in result.errors] == ["count_not_a_number"]
    assert sorted(p.name for p in (tmp_path / "report").iterdir()
                  if not p.name.startswith(".")) == sorted(OUTPUT_FILES)
    report = json.loads((tmp_path / "report" / REPORT_JSON).read_text(encoding="utf-8"))
    assert report["valid"] is False and report["errors"] == 1
    assert report["tolerance"] == {"relative": 0.05, "children": 5}
    problems = pd.read_csv(tmp_path / "report" / PROBLEMS_CSV)
    row = problems.iloc[0]
    assert (row["severity"], row["kind"], row["file"], row["row"], row["column"]) == \
        ("error", "count_not_a_number", str(path), 3, "cin")
    assert f"file {path}, line 3, column 'cin'" in row["message"]


def test_without_an_output_directory_nothing_is_written(tmp_path):
    panel = small_panel()
    table = template_table(panel, "E2", "msoa", ["cla"], 2020)
    table["cla"] = [40]
    path = tmp_path / "e2.csv"
    table.to_csv(path, index=False)
    result = validate_return_files([path], "unused", panel=panel)
    assert result.problems == () and len(result.returns) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e2.csv"]
