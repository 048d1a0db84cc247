"""Tests of :mod:`bayes_needs.data.readers.return_sheets`: a return's cells and their places."""

from __future__ import annotations

import zipfile

import openpyxl

from bayes_needs.data.readers.return_sheets import is_workbook, read_return_sheet


def workbook(path, sheets: dict[str, list[list]]) -> None:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)


def test_a_workbook_is_known_by_its_content_and_read_with_sheet_rows(tmp_path):
    path = tmp_path / "return.csv"  # a workbook whatever its name
    workbook(path, {"return": [["area_code", "cin"], [], ["L1", 3], ["L2", None, None]],
                    "metadata": [["key", "value"], ["year", 2021]]})
    assert is_workbook(path)
    sheet, problems = read_return_sheet(path)
    assert problems == []
    assert sheet.sheet == "return" and sheet.header == ["area_code", "cin"]
    assert sheet.rows == [["L1", 3], ["L2", None]] and sheet.row_numbers == [3, 4]
    assert sheet.metadata["year"] == (2021, 2)
    assert sheet.place(4, 1) == f"file {path}, sheet 'return', row 4, column 'cin' (B)"


def test_a_csv_file_keeps_its_lines(tmp_path):
    path = tmp_path / "return.csv"
    path.write_text("area_code, cin\n\nL1,3\n", encoding="utf-8")
    assert not is_workbook(path)
    sheet, problems = read_return_sheet(path)
    assert problems == [] and sheet.sheet is None and sheet.metadata is None
    assert sheet.header == ["area_code", "cin"] and sheet.row_numbers == [3]
    assert sheet.place(3, 1) == f"file {path}, line 3, column 'cin' (field 2)"


def test_what_cannot_be_read_is_a_problem_naming_the_file(tmp_path):
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("xl/workbook.xml", "not xml")
    no_sheet = tmp_path / "no_sheet.xlsx"
    workbook(no_sheet, {"Sheet1": [["a"]]})
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    found = {path.name: read_return_sheet(path) for path in (broken, no_sheet, empty,
                                                              tmp_path / "gone.csv")}
    assert {name: [p.kind for p in problems] for name, (_, problems) in found.items()} == {
        "broken.xlsx": ["unreadable_file"], "no_sheet.xlsx": ["missing_sheet", "missing_sheet"],
        "empty.csv": ["empty_file"], "gone.csv": ["missing_file"]}
    assert all(sheet is None for sheet, _ in found.values())
    assert all(str(tmp_path / name) in p.message for name, (_, problems) in found.items()
               for p in problems)
