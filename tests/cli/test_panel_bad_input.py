"""Bad real panel input through the command line (issue #15).

Each case copies the few public files an ``england_panel`` run reads into ``tmp_path``,
damages the copy the way a careless user might (a dropped population row, an unknown LA code,
a negative, fractional or thousands-separated count, ...) and runs ``bayes-needs backtest``
in this process. The run must stop while loading the data with exit code 2, one message on
stderr naming the file, the LA code, the year and the line (where the row exists), no
traceback and no output files.

The backtest runs only the persistence model, which does not sample: an input that wrongly
passed validation would finish in seconds (and then fail on its exit code), never start NUTS.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from clitools import run_cli

from bayes_needs.data.readers.england import england_files
from bayes_needs.data.readers.england_panel import england_panel_data

pytestmark = pytest.mark.realdata

POPULATION = "dfe_csc/ons_mid-year_population_estimates_2012_to_2024.csv"
CIN = "dfe_csc/b1_children_in_need_2013_to_2025.csv"
CLA = "dfe_csc/cla_number_and_rate_per_10k_children_2019_2025_combined.csv"
#: Every file the panel of CONFIG reads, laid out as in the data directory's README.
FILES = england_files(("cin", "cla"))
CONFIG = """schema_version = 1
[data]
source = "england_panel"
first_year = 2019
services = ["cin", "cla"]
covariates = ["idaci"]
[sampling]
draws = 10
tune = 10
chains = 1
random_seed = 5
"""
HARTLEPOOL = "E06000001"
CLA_ON_31_MARCH = "Children looked after on 31 March each year"


@dataclass
class Damage:
    """What a case did to its copy: the file, and the line of the row changed (if kept)."""

    file: Path
    line: int | None = None
    expected: list[str] = field(default_factory=list)


def copy_data(source: Path, target: Path) -> Path:
    """Copy only the files an England panel run reads from ``source`` into ``target``."""
    for relative in FILES:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / relative, target / relative)
    return target


def read(path: Path) -> pd.DataFrame:
    """A DfE CSV as text, every cell as written (so writing it back changes nothing else)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")


def la_row(frame: pd.DataFrame, la_code: str, year: int, **filters: str) -> int:
    """Position of the local-authority row of ``la_code`` in ``year`` (exactly one)."""
    mask = ((frame["geographic_level"] == "Local authority") & (frame["new_la_code"] == la_code)
            & (frame["time_period"] == str(year)))
    for column, value in filters.items():
        mask &= frame[column] == value
    rows = list(mask.to_numpy().nonzero()[0])
    assert len(rows) == 1, (la_code, year, rows)
    return int(rows[0])


def set_cell(root: Path, relative: str, la_code: str, year: int, column: str, value: str,
             **filters: str) -> Damage:
    """Overwrite one cell of an LA's row; the damage names the row's file line."""
    path = root / relative
    frame = read(path)
    i = la_row(frame, la_code, year, **filters)
    frame.iloc[i, frame.columns.get_loc(column)] = value
    frame.to_csv(path, index=False)
    return Damage(path, line=i + 2)  # the header is line 1


def drop_rows(root: Path, relative: str, keep: Callable[[pd.DataFrame], pd.Series]) -> Damage:
    """Keep only the rows ``keep`` selects."""
    path = root / relative
    frame = read(path)
    frame[keep(frame)].to_csv(path, index=False)
    return Damage(path)


# ---------------------------------------------------------------------- the cases
def population_row_dropped(root: Path) -> Damage:
    frame = read(root / POPULATION)
    i = la_row(frame, HARTLEPOOL, 2020)
    damage = drop_rows(root, POPULATION, lambda f: f.index != i)
    # Mid-2020 is DfE's denominator for the reporting year to 31 March 2021.
    damage.expected = [f"{HARTLEPOOL} (Hartlepool)", "time_period 2020", "reporting year 2021"]
    return damage


def population_year_dropped(root: Path) -> Damage:
    damage = drop_rows(root, POPULATION, lambda f: f["time_period"] != "2020")
    damage.expected = ["time_period (mid-year) [2020]", "reporting year(s) [2021]"]
    return damage


def population_not_available(root: Path) -> Damage:
    damage = set_cell(root, POPULATION, HARTLEPOOL, 2020, "population_estimate", "x")
    damage.expected = [HARTLEPOOL, "time_period 2020", "reporting year 2021", "'x'"]
    return damage


def population_zero(root: Path) -> Damage:
    damage = set_cell(root, POPULATION, HARTLEPOOL, 2021, "population_estimate", "0")
    damage.expected = [HARTLEPOOL, "time_period 2021", "must be > 0"]
    return damage


def population_negative(root: Path) -> Damage:
    damage = set_cell(root, POPULATION, HARTLEPOOL, 2022, "population_estimate", "-1200")
    damage.expected = [f"LA {HARTLEPOOL}", "year 2022", "negative", "'-1200'"]
    return damage


def population_unknown_la(root: Path) -> Damage:
    damage = set_cell(root, POPULATION, HARTLEPOOL, 2018, "new_la_code", "E10999999")
    # Mid-2018 is the population of reporting year 2019, the first one loaded.
    damage.expected = ["'E10999999'", "time_period 2018", "neither one of the 153 upper-tier"]
    return damage


def count_unknown_la(root: Path) -> Damage:
    damage = set_cell(root, CIN, HARTLEPOOL, 2020, "new_la_code", "E10999999")
    damage.expected = ["'E10999999'", "(Hartlepool)", "time_period 2020", "crosswalk"]
    return damage


def count_negative(root: Path) -> Damage:
    damage = set_cell(root, CIN, HARTLEPOOL, 2020, "At31_episodes", "-3")
    damage.expected = [f"LA {HARTLEPOOL}", "year 2020", "negative", "'-3'"]
    return damage


def count_fractional(root: Path) -> Damage:
    damage = set_cell(root, CIN, HARTLEPOOL, 2016, "At31_episodes", "12.5")
    # A year before first_year is still read, and still checked.
    damage.expected = [f"LA {HARTLEPOOL}", "year 2016", "whole numbers", "'12.5'"]
    return damage


def count_with_thousands_separator(root: Path) -> Damage:
    damage = set_cell(root, CIN, HARTLEPOOL, 2020, "At31_episodes", "1,951")
    damage.expected = [f"LA {HARTLEPOOL}", "year 2020", "not numbers", "'1,951'"]
    return damage


def cla_count_negative(root: Path) -> Damage:
    # The CLA file holds several quantities per LA-year; only one row is the count used.
    damage = set_cell(root, CLA, HARTLEPOOL, 2023, "children_count", "-40",
                      population_type=CLA_ON_31_MARCH)
    damage.expected = [f"LA {HARTLEPOOL}", "year 2023", "negative", "'-40'"]
    return damage


def year_not_a_number(root: Path) -> Damage:
    damage = set_cell(root, CIN, HARTLEPOOL, 2020, "time_period", "2019/20")
    damage.expected = [f"LA {HARTLEPOOL}", "time_period", "not numbers", "'2019/20'"]
    return damage


def year_not_whole(root: Path) -> Damage:
    damage = set_cell(root, CIN, HARTLEPOOL, 2020, "time_period", "2020.5")
    # Every other cell of the column is a number, so the column is read as numbers.
    damage.expected = [f"LA {HARTLEPOOL}", "time_period", "whole numbers", "2020.5"]
    return damage


def duplicate_la_year(root: Path) -> Damage:
    path = root / CIN
    frame = read(path)
    i = la_row(frame, HARTLEPOOL, 2020)
    pd.concat([frame, frame.iloc[[i]]], ignore_index=True).to_csv(path, index=False)
    # Both lines are named: the original row and the copy appended at the end.
    return Damage(path, expected=["duplicate", f"[{i + 2}, {len(frame) + 2}]", HARTLEPOOL,
                                  "'time_period': 2020"])


def value_column_renamed(root: Path) -> Damage:
    path = root / CIN
    read(path).rename(columns={"At31_episodes": "at31_episodes"}).to_csv(path, index=False)
    return Damage(path, expected=["missing required column(s) ['At31_episodes']"])


CASES = [population_row_dropped, population_year_dropped, population_not_available,
         population_zero, population_negative, population_unknown_la, count_unknown_la,
         count_negative, count_fractional, count_with_thousands_separator, cla_count_negative,
         year_not_a_number, year_not_whole, duplicate_la_year, value_column_renamed]


def backtest(capsys: pytest.CaptureFixture[str], root: Path) -> tuple[int, str, str]:
    """Run a persistence-only backtest (no sampling) on the copy at ``root``."""
    config = root / "run.toml"
    config.write_text(CONFIG, encoding="utf-8")
    return run_cli(capsys, "backtest", "--config", config, "--data-dir", root, "--origins",
                   "2021:2022", "--models", "persistence", "--workers", "1", "--out",
                   root / "out")


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_bad_panel_input_exits_2_naming_file_la_year_and_line(capsys, tmp_path, data_dir,
                                                               case):
    root = copy_data(data_dir, tmp_path / "data")
    damage = case(root)
    code, stdout, err = backtest(capsys, root)
    assert code == 2, err
    assert "Traceback" not in err and stdout == ""
    assert err.count("bayes-needs: error:") == 1
    assert str(damage.file) in err, err
    if damage.line is not None:
        assert f"line {damage.line}" in err, err
    for text in damage.expected:
        assert text in err, (text, err)
    assert not (root / "out").exists()


def test_a_copy_rewritten_unchanged_loads(tmp_path, data_dir):
    # The control: reading and writing back the files as the cases do changes nothing, so
    # each failure above is the damage's alone.
    root = copy_data(data_dir, tmp_path / "data")
    for relative in (POPULATION, CIN, CLA):
        read(root / relative).to_csv(root / relative, index=False)
    panel, _ = england_panel_data(root, years=range(2019, 2026), services=("cin", "cla"),
                                  indicators=("idaci",))
    assert panel.years == tuple(range(2019, 2026))
    population = read(root / POPULATION)
    raw = population.iloc[la_row(population, HARTLEPOOL, 2020)]["population_estimate"]
    assert panel.exposure.loc[HARTLEPOOL, 2021] == float(raw)
    cin = read(root / CIN)
    assert panel.counts["cin"].loc[HARTLEPOOL, 2020] == float(
        cin.iloc[la_row(cin, HARTLEPOOL, 2020)]["At31_episodes"])


def test_fit_stops_while_loading_a_year_with_no_population(capsys, tmp_path, data_dir,
                                                           mocked_sampler):
    # The mock sampler only keeps a wrongly accepted input from running NUTS for minutes.
    root = copy_data(data_dir, tmp_path / "data")
    damage = population_row_dropped(root)
    config = root / "run.toml"
    config.write_text(CONFIG, encoding="utf-8")
    code, stdout, err = run_cli(capsys, "fit", "--config", config, "--data-dir", root,
                                "--out", root / "out", "--no-progress")
    assert code == 2, err
    assert "Traceback" not in err and stdout == ""
    assert str(damage.file) in err
    for text in damage.expected:
        assert text in err, (text, err)
    # Nothing was built or sampled: the error came while loading.
    assert "NUTS" not in err and "Sampling" not in err
    assert not (root / "out").exists()


def test_origin_outside_the_real_panel_exits_2_naming_the_range(capsys, tmp_path, data_dir):
    root = copy_data(data_dir, tmp_path / "data")
    config = root / "run.toml"
    config.write_text(CONFIG, encoding="utf-8")
    code, stdout, err = run_cli(capsys, "backtest", "--config", config, "--data-dir", root,
                                "--origins", "2020,2030", "--models", "persistence",
                                "--workers", "1", "--out", root / "out")
    assert code == 2, err
    assert "Traceback" not in err and stdout == ""
    # The config's panel starts in 2019: an origin needs two earlier years of counts.
    assert "origin(s) 2020, 2030 outside the valid range 2021-2024" in err
    assert not (root / "out").exists()
