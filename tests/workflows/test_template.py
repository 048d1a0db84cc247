"""Tests of :mod:`bayes_needs.workflows.template`: the files of a template, as one set."""

from __future__ import annotations

import json

import openpyxl
import pandas as pd
import pytest
from small_panel import small_panel

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.return_template import DEFINITIONS, SUPPRESSION_MARKS, TEMPLATE_VERSION
from bayes_needs.workflows.template import template_files, write_template


def test_the_csv_and_the_workbook_hold_the_same_table_with_metadata_and_notes(tmp_path):
    panel = small_panel()
    written = write_template("unused", "E2", "lsoa", ["cla", "cin"], 2021, tmp_path,
                             panel=panel)
    assert written["areas"] == 3 and written["la_name"] == "E2 name"
    csv_name, sidecar, xlsx_name = template_files("E2", "lsoa", 2021)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == \
        sorted([csv_name, sidecar, xlsx_name])
    table = pd.read_csv(tmp_path / csv_name)
    assert list(table.columns) == ["template_version", "la_code", "level", "year",
                                   "area_code", "area_name", "cla", "cin"]
    assert list(table["area_code"]) == ["L5", "L6", "L7"]
    assert list(table["area_name"]) == ["L5 name", "L6 name", "L7 name"]
    assert (table["template_version"] == TEMPLATE_VERSION).all()
    assert table[["cla", "cin"]].isna().all().all()
    book = openpyxl.load_workbook(tmp_path / xlsx_name)
    assert book.sheetnames == ["return", "metadata", "notes"]
    rows = list(book["return"].iter_rows(values_only=True))
    assert list(rows[0]) == list(table.columns)
    assert [r[4] for r in rows[1:]] == ["L5", "L6", "L7"]
    (rule,) = book["return"].data_validations.dataValidation
    assert str(rule.sqref) == "G2:H4" and '"c"' in rule.formula1  # the count cells
    metadata = {k: v for k, v in book["metadata"].iter_rows(min_row=2, values_only=True)}
    assert metadata["la_code"] == "E2" and metadata["year"] == 2021
    assert metadata["services"] == "cla, cin" and metadata["level"] == "lsoa"
    notes = {k: v for k, v in book["notes"].iter_rows(min_row=2, values_only=True)}
    assert notes["cla"] == DEFINITIONS["cla"] and "31 March" in notes["year"]
    assert all(f"mark '{m}'" in notes for m in SUPPRESSION_MARKS)
    meta = json.loads((tmp_path / sidecar).read_text(encoding="utf-8"))
    assert meta["template"]["la_code"] == "E2"
    assert any(DEFINITIONS["cin"] in line for line in meta["comment"])


def test_templates_of_two_las_share_a_directory(tmp_path):
    panel = small_panel()
    write_template("unused", "E1", "msoa", ["cin"], 2020, tmp_path, panel=panel)
    write_template("unused", "E2", "msoa", ["cin"], 2020, tmp_path, panel=panel)
    for la in ("E1", "E2"):
        assert all((tmp_path / name).is_file() for name in template_files(la, "msoa", 2020))


def test_bad_arguments_are_named_at_once_and_nothing_is_written(tmp_path):
    with pytest.raises(DataValidationError) as excinfo:
        write_template("unused", "E9", "la", ["cin", "adoption"], 2031, tmp_path / "out",
                       panel=small_panel())
    text = "\n".join(excinfo.value.problems)
    for option in ("--la 'E9'", "--level 'la'", "--services", "--year 2031"):
        assert option in text
    assert not (tmp_path / "out").exists()
