"""``bayes-needs data england`` on the real data, and a catalogue of malformed inputs that must
each fail with exit code 2 and a message naming the culprit, never a traceback.
"""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from clitools import run_cli

from bayes_needs.cli import main
from bayes_needs.data.readers.dfe import read_dfe_service

pytestmark = pytest.mark.realdata

LOOKUP = "lookups/lookup_lsoa11_msoa11_lad19_lad23_utla23_dfe.csv.gz"
CROSSWALK = "lookups/predecessor_upper_tier_la_to_utla23_crosswalk.csv"
IOD = "iod2019/iod2019_lsoa11_merged.csv.gz"
LSOA_POP = "population/ons_mye2019_lsoa11_population_ages_0_17.csv.gz"
LA_POP = "dfe_csc/ons_mid-year_population_estimates_2012_to_2024.csv"
REFERRALS = "dfe_csc/c1_children_in_need_referrals_and_rereferrals_2013_to_2025.csv"
CIN = "dfe_csc/b1_children_in_need_2013_to_2025.csv"
CPP = "dfe_csc/d5_cpps_at31march_by_duration_2013_to_2025.csv"
CLA = "dfe_csc/cla_number_and_rate_per_10k_children_2019_2025_combined.csv"
NEEDED = [LOOKUP, CROSSWALK, IOD, LSOA_POP, LA_POP, REFERRALS, CIN, CPP, CLA]


# ---------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def json_run(data_dir):
    """One run of the installed CLI in a fresh interpreter, listing its imports."""
    return subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "bayes_needs", "data", "england",
         "--data-dir", str(data_dir), "--year", "2024", "--json"],
        capture_output=True, text=True, timeout=120, check=False)


def test_subprocess_json_is_one_object_with_expected_counts(json_run):
    assert json_run.returncode == 0, json_run.stderr[-2000:]
    lines = json_run.stdout.strip().splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    assert (summary["n_lsoa"], summary["n_msoa"], summary["n_la"]) == (32_844, 6_791, 153)
    assert summary["year"] == 2024
    assert summary["covariates"] == ["idaci", "imd_score"]
    assert set(summary["observed"]) == {"referrals", "cin", "cpp", "cla"}
    assert all(n >= 150 for n in summary["observed"].values())
    assert all(summary["observed"][s] + summary["suppressed"][s] == 153
               for s in summary["observed"])


def test_data_command_does_not_import_pymc(json_run):
    imported = {m.group(1) for m in re.finditer(r"\|\s+([\w.]+)\s*$", json_run.stderr,
                                                re.MULTILINE)}
    assert "bayes_needs.data.readers.england" in imported  # the listing is really there
    assert not {m for m in imported if m.split(".")[0] in {"pymc", "pytensor", "arviz"}}


def test_readable_summary(capsys, data_dir):
    code, out, err = run_cli(capsys, "data", "england", "--data-dir", str(data_dir),
                             "--year", "2024")
    assert code == 0, err
    assert "32,844 LSOAs in 6,791 MSOAs in 153" in out
    for service in ("referrals", "cin", "cpp", "cla"):
        assert re.search(rf"^\s+{service}\s+\d+\s+\d+", out, re.MULTILINE), service
    assert "Isles of Scilly" in out  # CLA 'z' in 2024


def test_subprocess_error_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bayes_needs", "data", "england", "--data-dir",
         str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "nowhere" in result.stderr and "Traceback" not in result.stderr


def test_bom_in_dfe_file_is_accepted(tmp_path, data_dir):
    target = tmp_path / CLA
    target.parent.mkdir(parents=True)
    target.write_bytes(b"\xef\xbb\xbf" + (data_dir / CLA).read_bytes())
    table = read_dfe_service(tmp_path, "cla", 2024)
    assert len(table) == len(read_dfe_service(data_dir, "cla", 2024)) > 150


# ---------------------------------------------------------------------- malformed inputs
def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _write(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False)


def _first_la_row(frame: pd.DataFrame, year: str = "2024") -> int:
    rows = (frame["geographic_level"] == "Local authority") & (frame["time_period"] == year)
    return int(rows.to_numpy().nonzero()[0][0])


def set_cell(column: str, value: str, *, population_type: bool = False):
    """Set ``column`` of the first 2024 LA row; returns the expected file line."""
    def corrupt(path: Path) -> str:
        frame = _read(path)
        pos = _first_la_row(frame)
        if population_type:  # the CLA file is long: pick the 31 March stock row
            rows = ((frame["geographic_level"] == "Local authority")
                    & (frame["time_period"] == "2024")
                    & frame["population_type"].str.contains("on 31 March"))
            pos = int(rows.to_numpy().nonzero()[0][0])
        frame.loc[pos, column] = value
        _write(frame, path)
        return f"line {pos + 2}"
    return corrupt


def drop_column(column: str):
    def corrupt(path: Path) -> str:
        _write(_read(path).drop(columns=column), path)
        return column
    return corrupt


def duplicate_la_row(path: Path) -> str:
    frame = _read(path)
    pos = _first_la_row(frame)
    _write(pd.concat([frame, frame.iloc[[pos]]], ignore_index=True), path)
    return frame.loc[pos, "new_la_code"]


def empty_file(path: Path) -> str:
    path.write_bytes(b"")
    return "empty"


def header_only(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        header = fh.readline()
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(header)
    return "no data rows"


def utf16(path: Path) -> str:
    path.write_text(path.read_text(encoding="utf-8"), encoding="utf-16")
    return "UTF-8"


def truncated_gzip(path: Path) -> str:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return "corrupt"


def remove(path: Path) -> str:
    path.unlink()
    return "missing"


def blank_imd_score(path: Path) -> str:
    frame = _read(path)
    frame.loc[10, "imd_score"] = ""
    _write(frame, path)
    return "line 12"


def msoa_in_two_las(path: Path) -> str:
    frame = _read(path)
    msoa = frame.loc[0, "msoa11cd"]
    other = frame.loc[frame["utla23cd"] != frame.loc[0, "utla23cd"]].iloc[0]
    frame.loc[0, ["utla23cd", "utla23nm"]] = [other["utla23cd"], other["utla23nm"]]
    _write(frame, path)
    return msoa


def drop_iod_lsoa(path: Path) -> str:
    frame = _read(path)
    _write(frame.drop(index=5), path)
    return frame.loc[5, "lsoa11cd"]


def shares_not_one(path: Path) -> str:
    frame = _read(path)
    frame.loc[frame["predecessor_la_code"] == "E10000021", "share_of_predecessor_children"] = "0.7"
    _write(frame, path)
    return "E10000021"


@dataclass(frozen=True)
class Case:
    name: str
    file: str | None  # file to corrupt (None: the arguments are wrong)
    corrupt: Callable[[Path], str] | None
    expected: tuple[str, ...]  # fragments the message must contain, besides corrupt()'s
    args: tuple[str, ...] = ("--year", "2024", "--json")


CASES = [
    Case("missing file", CLA, remove, ("cla_number_and_rate_per_10k",)),
    Case("missing column", CIN, drop_column("At31_episodes"),
         ("b1_children_in_need", "missing required column")),
    Case("non-numeric count", CPP, set_cell("CPP_At31", "abc"), ("CPP_At31", "'abc'")),
    Case("negative count", REFERRALS, set_cell("referral_count", "-5"),
         ("referral_count", "negative")),
    Case("fractional count", CLA, set_cell("children_count", "12.5", population_type=True),
         ("children_count", "whole numbers")),
    Case("unknown LA code", CLA, set_cell("new_la_code", "E06999999", population_type=True),
         ("E06999999", "new_la_code")),
    Case("duplicate LA row", CIN, duplicate_la_row, ("duplicate", "b1_children_in_need")),
    Case("empty file", CROSSWALK, empty_file, ("predecessor_upper_tier",)),
    Case("header only", LSOA_POP, header_only, ("ons_mye2019_lsoa11",)),
    Case("wrong encoding", LA_POP, utf16, ("ons_mid-year_population",)),
    Case("corrupt gzip", LOOKUP, truncated_gzip, ("lookup_lsoa11_msoa11",)),
    Case("blank covariate", IOD, blank_imd_score, ("imd_score", "iod2019_lsoa11_merged")),
    Case("MSOA in two LAs", LOOKUP, msoa_in_two_las, ("MSOA",)),
    Case("LSOA missing from IoD", IOD, drop_iod_lsoa, ("iod2019_lsoa11_merged", "no row")),
    Case("crosswalk shares", CROSSWALK, shares_not_one, ("share_of_predecessor_children",)),
    Case("year not available", None, None, ("2016", "available years: [2019"),
         ("--year", "2016")),
    Case("bad --year", None, None, ("--year", "'abc'"), ("--year", "abc")),
    Case("unknown service", None, None, ("bogus", "referrals"),
         ("--services", "cla,bogus")),
    Case("unknown covariate", None, None, ("nonsense", "idaci"),
         ("--covariates", "idaci,nonsense")),
]


@pytest.fixture
def data_copy(tmp_path, data_dir) -> Path:
    """A copy of just the files ``data england`` reads."""
    root = tmp_path / "data"
    for relative in NEEDED:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / relative, root / relative)
    return root


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed_input_exits_2_naming_culprit(capsys, data_copy, case):
    expected = list(case.expected)
    if case.corrupt is not None:
        expected.append(case.corrupt(data_copy / case.file))
    code, out, err = run_cli(capsys, "data", "england", "--data-dir", str(data_copy), *case.args)
    assert code == 2
    assert out == ""
    assert "Traceback" not in err
    for fragment in expected:
        assert fragment in err, (fragment, err)


def test_nonexistent_data_dir(capsys, tmp_path):
    code, _, err = run_cli(capsys, "data", "england", "--data-dir", str(tmp_path / "absent"))
    assert code == 2 and "absent" in err and "Traceback" not in err


def test_data_without_source_is_a_user_error(capsys):
    assert main(["data"]) == 2
    err = capsys.readouterr().err
    assert "data england" in err and "Traceback" not in err
