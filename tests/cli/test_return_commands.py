"""``bayes-needs template`` and ``validate-return`` on the real geography and DfE totals.

A template for Hartlepool (E06000001, 58 LSOAs, columns G ``cin`` and H ``cla``, data in
sheet rows 2-59) is filled with synthetic counts consistent with the published 2024 totals,
then damaged one way per case. Each malformed return must stop ``validate-return`` with exit
code 2, no traceback, and a problem of the case's kind whose message names the file and the
place (sheet, row or line, column), on stderr and in the JSON report. The round trip
template -> filled -> validated -> fitted (mocked sampler) checks that a correct return
passes and reaches the model.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from clitools import run_cli
from return_files import (
    edit_workbook,
    fill_files,
    metadata_row,
    set_cells,
    set_column,
    synthetic_counts,
)

from bayes_needs.data.panel import PanelData
from bayes_needs.workflows import template, validate_return
from bayes_needs.workflows.template import template_files

pytestmark = pytest.mark.realdata

LA, OTHER_LA, YEAR = "E06000001", "E06000002", 2024
SERVICES = ("cin", "cla")


@dataclass
class World:
    """The real panel, pristine filled template files and codes the cases use."""

    panel: PanelData
    files: dict[str, Path]
    msoa_code: str          # an MSOA of the LA
    other_lsoa: str         # an LSOA of another LA
    msoa_files: dict[str, Path]


@pytest.fixture(scope="module")
def world(tmp_path_factory, data_dir) -> World:
    panel = template.returns_panel(data_dir)
    geo = panel.geography

    def made(level: str, services, out: Path) -> dict[str, Path]:
        template.write_template(data_dir, LA, level, services, YEAR, out, panel=panel)
        csv, _, xlsx = template_files(LA, level, YEAR)
        fill_files(out / csv, out / xlsx, panel, seed=18)
        return {"csv": out / csv, "xlsx": out / xlsx}

    root = tmp_path_factory.mktemp("returns")
    la = list(geo.la_codes).index(LA)
    other = list(geo.la_codes).index(OTHER_LA)
    return World(panel, made("lsoa", SERVICES, root / "lsoa"),
                 str(geo.codes("msoa")[geo.parent_index("msoa", "la") == la][0]),
                 str(geo.codes("lsoa")[geo.parent_index("lsoa", "la") == other][0]),
                 made("msoa", ("cin",), root / "msoa"))


def workbook(change: Callable[[openpyxl.Workbook], object]) -> Callable[..., list[Path]]:
    """A damage applied to the workbook."""
    def damage(world: World, tmp: Path) -> list[Path]:
        path = copy(world.files["xlsx"], tmp)
        edit_workbook(path, change)
        return [path]
    return damage


def csv_table(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[..., list[Path]]:
    """A damage applied to the CSV table (read and written back as text)."""
    def damage(world: World, tmp: Path) -> list[Path]:
        path = copy(world.files["csv"], tmp)
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        change(table).to_csv(path, index=False)
        return [path]
    return damage


def csv_text(change: Callable[[str], str]) -> Callable[..., list[Path]]:
    """A damage applied to the CSV file's text."""
    def damage(world: World, tmp: Path) -> list[Path]:
        path = copy(world.files["csv"], tmp)
        path.write_text(change(path.read_text(encoding="utf-8")), encoding="utf-8")
        return [path]
    return damage


def copy(source: Path, tmp: Path) -> Path:
    target = tmp / source.name
    shutil.copyfile(source, target)
    return target


def with_world(damage: Callable[[World, openpyxl.Workbook], None]) -> Callable[..., list[Path]]:
    """A workbook damage that needs the world's codes."""
    def apply(world: World, tmp: Path) -> list[Path]:
        return workbook(lambda book: damage(world, book))(world, tmp)
    return apply


def assign(column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda t: t.assign(**{column: value})


def rename_sheet(book: openpyxl.Workbook) -> None:
    book["return"].title = "Sheet1"


def drop_rows_below_header(book: openpyxl.Workbook) -> None:
    book["return"].delete_rows(2, 100)


def every_metadata(key: str, column: str, value: object) -> Callable[[openpyxl.Workbook], None]:
    def change(book: openpyxl.Workbook) -> None:
        set_column("return", column, value)(book)
        book["metadata"][f"B{metadata_row(book, key)}"] = value
    return change


def metadata_value(key: str, value: object) -> Callable[[openpyxl.Workbook], None]:
    return lambda book: book["metadata"].__setitem__(f"B{metadata_row(book, key)}", value)


def delete_metadata(key: str) -> Callable[[openpyxl.Workbook], None]:
    return lambda book: book["metadata"].delete_rows(metadata_row(book, key))


def msoa_file_too(world: World, tmp: Path) -> list[Path]:
    # The same LA, service and year returned at MSOA level in a second file.
    return [copy(world.files["xlsx"], tmp), copy(world.msoa_files["csv"], tmp)]


def missing_file(world: World, tmp: Path) -> list[Path]:
    return [copy(world.files["xlsx"], tmp), tmp / "no_such_return.xlsx"]


def long_csv_unknown_service(world: World, tmp: Path) -> list[Path]:
    path = tmp / "long.csv"
    path.write_text(f"service,level,area_code,year,count\nadoption,msoa,{world.msoa_code},"
                    f"{YEAR},3\n", encoding="utf-8")
    return [path]


def doubled_cin(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(cin=(table["cin"].astype(int) * 2).astype(str))


def duplicated_area(book: openpyxl.Workbook) -> None:
    book["return"]["E11"] = book["return"]["E10"].value


@dataclass
class Case:
    kind: str
    damage: Callable[..., list[Path]]
    where: tuple[str, ...]


CASES: dict[str, Case] = {
    "empty CSV file": Case("empty_file", csv_text(lambda _: ""), ()),
    "workbook without data rows": Case("empty_file", workbook(drop_rows_below_header),
                                       ("sheet 'return'", "row 1")),
    "CSV row with an unquoted comma": Case(
        "unreadable_file", csv_text(lambda s: s.replace("\n", ",1 234\n", 5).replace(
            ",1 234\n", "\n", 4)), ("line 5",)),
    "return sheet renamed": Case("missing_sheet", workbook(rename_sheet), ("sheet 'return'",)),
    "metadata sheet deleted": Case("missing_sheet", workbook(lambda b: b.remove(b["metadata"])),
                                   ("sheet 'metadata'",)),
    "area_name column deleted": Case("missing_column", workbook(
        lambda b: b["return"].delete_cols(6)), ("sheet 'return'", "row 1", "'area_name'")),
    "area_code column renamed": Case("missing_column", workbook(
        set_cells("return", {"E1": "Area Code"})), ("row 1", "'area_code'", "renamed")),
    "extra column": Case("unknown_column", workbook(
        set_cells("return", {"I1": "comments", "I2": "new estate"})),
        ("row 1", "column 'comments' (I)")),
    "service column twice": Case("duplicate_column", workbook(
        set_cells("return", {"I1": "cla", "I2": 3})), ("row 1", "column 'cla' (I)")),
    "values under no header": Case("unnamed_column", workbook(set_cells("return", {"I5": 4})),
                                   ("row 1", "(I)")),
    "no service column": Case("no_service_column", csv_table(
        lambda t: t.drop(columns=list(SERVICES))), ("line 1",)),
    "old template version": Case("wrong_template_version", workbook(
        every_metadata("template_version", "A", 0)), ("row 2", "column 'template_version' (A)")),
    "unknown LA": Case("unknown_la", workbook(every_metadata("la_code", "B", "E06999999")),
                       ("row 2", "column 'la_code' (B)")),
    "LA-level return": Case("unknown_level", csv_table(assign("level", "la")),
                            ("line 2", "column 'level'")),
    "financial year": Case("bad_year", csv_table(assign("year", "2023-24")),
                           ("line 2", "column 'year'")),
    "year without data": Case("year_outside_panel", csv_table(assign("year", "2031")),
                              ("line 2", "column 'year'")),
    "one row of another year": Case("inconsistent_metadata", workbook(
        set_cells("return", {"D7": 2023})), ("row 7", "column 'year' (D)")),
    "metadata row deleted": Case("missing_metadata", workbook(delete_metadata("level")),
                                 ("sheet 'metadata'", "'level'")),
    "metadata sheet disagrees": Case("metadata_mismatch", workbook(
        metadata_value("year", 2023)), ("sheet 'metadata'", "row 6")),
    "blank area code": Case("blank_area_code", workbook(set_cells("return", {"E10": None})),
                            ("row 10", "column 'area_code' (E)")),
    "MSOA code in an LSOA return": Case("wrong_level_code", with_world(
        lambda w, b: set_cells("return", {"E10": w.msoa_code})(b)), ("row 10", "(E)")),
    "unknown area code": Case("unknown_area_code", workbook(
        set_cells("return", {"E10": "E01999999"})), ("row 10", "column 'cin' (G)")),
    "area of another LA": Case("area_of_another_la", with_world(
        lambda w, b: set_cells("return", {"E10": w.other_lsoa})(b)), ("row 10",)),
    "area row deleted": Case("missing_area", workbook(lambda b: b["return"].delete_rows(10)),
                             ("sheet 'return'", "column 'area_code' (E)")),
    "area listed twice": Case("duplicate_area", workbook(duplicated_area),
                              ("row 10", "row 11")),
    "blank count": Case("blank_count", workbook(set_cells("return", {"H12": None})),
                        ("row 12", "column 'cla' (H)")),
    "text count": Case("count_not_a_number", workbook(set_cells("return", {"H12": "ten"})),
                       ("row 12", "column 'cla' (H)")),
    "negative count": Case("negative_count", workbook(set_cells("return", {"H12": -3})),
                           ("row 12", "column 'cla' (H)")),
    "fractional count": Case("count_not_whole", workbook(set_cells("return", {"H12": 2.5})),
                             ("row 12", "column 'cla' (H)")),
    "counts doubled": Case("total_mismatch", csv_table(doubled_cin), ("column 'cin'",)),
    "impossible count": Case("implausible_count", workbook(
        set_cells("return", {"G12": 10**6})), ("row 12", "column 'cin' (G)")),
    "LSOA and MSOA returns of one service": Case("mixed_levels", msoa_file_too,
                                                 ("line 2", "sheet 'return'")),
    "file missing": Case("missing_file", missing_file, ("no_such_return.xlsx",)),
    "long CSV with an unknown service": Case("unknown_service", long_csv_unknown_service,
                                             ("long.csv", "line 2")),
}


def test_the_cases_cover_twenty_kinds():
    assert len({case.kind for case in CASES.values()}) >= 20


@pytest.mark.parametrize("name", list(CASES))
def test_a_malformed_return_exits_2_naming_the_place(name, world, tmp_path, capsys,
                                                     monkeypatch):
    case = CASES[name]
    files = case.damage(world, tmp_path)
    # The real panel, loaded once for all cases (reading it takes seconds).
    monkeypatch.setattr(validate_return, "returns_panel", lambda _data_dir: world.panel)
    out = tmp_path / "report"
    code, stdout, err = run_cli(capsys, "validate-return", *files, "--data-dir", tmp_path,
                                "--out", out)
    assert code == 2, (stdout, err)
    assert "Traceback" not in err and err.startswith("bayes-needs: error: ")
    report = json.loads((out / validate_return.REPORT_JSON).read_text(encoding="utf-8"))
    assert not report["valid"]
    found = [p for p in report["problems"] if p["kind"] == case.kind]
    assert found, (case.kind, [p["kind"] for p in report["problems"]])
    message = found[0]["message"]
    assert message in err
    assert any(str(f) in message for f in files), message
    for text in case.where:
        assert text in message, (text, message)
    table = pd.read_csv(out / validate_return.PROBLEMS_CSV)
    assert case.kind in set(table["kind"])


def test_a_template_round_trips_through_validation_into_a_fit(data_dir, tmp_path, capsys,
                                                                mocked_sampler):
    code, stdout, err = run_cli(capsys, "template", "--la", LA, "--level", "lsoa",
                                "--services", "cin,cla", "--year", YEAR, "--data-dir",
                                data_dir, "--out", tmp_path / "template")
    assert code == 0, err
    code, _, err = run_cli(capsys, "template", "--la", OTHER_LA, "--level", "msoa",
                           "--services", "cla", "--year", YEAR - 1, "--data-dir", data_dir,
                           "--out", tmp_path / "template")
    assert code == 0, err
    panel = template.returns_panel(data_dir)
    lsoa_csv, _, lsoa_xlsx = template_files(LA, "lsoa", YEAR)
    msoa_csv, _, msoa_xlsx = template_files(OTHER_LA, "msoa", YEAR - 1)
    filled = fill_files(tmp_path / "template" / lsoa_csv, tmp_path / "template" / lsoa_xlsx,
                        panel, seed=7)
    fill_files(tmp_path / "template" / msoa_csv, tmp_path / "template" / msoa_xlsx, panel,
               seed=8)
    for service in SERVICES:
        assert filled[service].sum() == panel.counts[service].loc[LA, YEAR]
    returns = [tmp_path / "template" / lsoa_xlsx, tmp_path / "template" / msoa_csv]
    code, stdout, err = run_cli(capsys, "validate-return", *returns, "--data-dir", data_dir,
                                "--out", tmp_path / "report")
    assert code == 0, err
    assert stdout.startswith("valid: 2 file(s)")
    report = json.loads((tmp_path / "report" / validate_return.REPORT_JSON).read_text())
    assert report["valid"] and report["errors"] == 0
    config = tmp_path / "run.toml"
    config.write_text(f"""schema_version = 1
[data]
source = "england_panel"
first_year = 2019
services = ["cin", "cla"]
covariates = ["idaci"]
lsoa_returns = ["{returns[0].name}", "{returns[1].name}"]
[sampling]
draws = 10
tune = 10
chains = 1
random_seed = 5
""", encoding="utf-8")
    shutil.copyfile(returns[0], tmp_path / returns[0].name)
    shutil.copyfile(returns[1], tmp_path / returns[1].name)
    code, _, err = run_cli(capsys, "fit", "--config", config, "--data-dir", data_dir,
                           "--year", YEAR, "--out", tmp_path / "run", "--no-progress")
    assert code == 0, err
    run = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    fitted = run["data_info"]["lsoa_returns"]
    assert fitted["data_hash"] == report["returns"]["data_hash"]
    n_msoa = len(pd.read_csv(tmp_path / "template" / msoa_csv))
    assert fitted["rows"] == len(filled) * len(SERVICES) + n_msoa
    assert fitted["years"] == [YEAR - 1, YEAR] and fitted["las"] == 2


def test_synthetic_counts_are_seeded(world):
    table = pd.read_csv(world.files["csv"])
    a = synthetic_counts(table, world.panel, seed=3)
    assert a.equals(synthetic_counts(table, world.panel, seed=3))
    assert not a.equals(synthetic_counts(table, world.panel, seed=4))
