"""Tests for :class:`~bayes_needs.data.panel_returns.PanelReturns`: validation and hashing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import ConfigError, DataValidationError, MissingDataError
from bayes_needs.data.geography import Geography
from bayes_needs.data.panel import PanelData
from bayes_needs.data.panel_returns import TABLE_COLUMNS, PanelReturns, panel_data_hash

# E1: 2 MSOAs x 2 LSOAs; E2: 1 MSOA x 3 LSOAs (L7 has no children).
NESTING = {"E1": {"M1": ["L1", "L2"], "M2": ["L3", "L4"]},
           "E2": {"M3": ["L5", "L6", "L7"]}}


def make_panel(weight_l7: float = 0.0) -> PanelData:
    rows = [{"lsoa_code": lsoa, "msoa_code": msoa, "la_code": la}
            for la, msoas in NESTING.items() for msoa, lsoas in msoas.items() for lsoa in lsoas]
    geo = Geography.from_frame(pd.DataFrame(rows))
    n = geo.n_lsoa
    weight = 10.0 + np.arange(n)
    weight[-1] = weight_l7
    lsoa = pd.DataFrame({"lsoa_code": geo.lsoa_codes, "weight": weight,
                         "idaci": np.linspace(-1.0, 1.0, n)})
    exposure = pd.DataFrame([(la, y, 1000.0) for la in NESTING for y in (2020, 2021, 2022)],
                            columns=["la_code", "year", "exposure"])
    counts = pd.DataFrame([(s, la, y, 40.0) for s in ("cin", "cla") for la in NESTING
                           for y in (2020, 2021)],
                          columns=["service", "la_code", "year", "count"])
    return PanelData.from_frames(geo, lsoa, exposure, counts, covariates=["idaci"])


@pytest.fixture
def panel() -> PanelData:
    return make_panel()


def good_rows() -> pd.DataFrame:
    rows = [("cin", "lsoa", code, "E1", 2021, c)
            for code, c in (("L3", 4), ("L1", 2), ("L2", 0), ("L4", 7))]
    rows += [("cin", "msoa", "M3", "E2", 2020, 9), ("cla", "msoa", "M1", "E1", 2020, 3),
             ("cla", "msoa", "M2", "E1", 2020, 5)]
    return pd.DataFrame(rows, columns=["service", "level", "area_code", "la_code", "year",
                                       "count"])


def problems(excinfo) -> str:
    return "\n".join(excinfo.value.problems)


def test_valid_returns_are_sorted_with_their_la_and_typed(panel):
    returns = PanelReturns.from_frame(good_rows().drop(columns="la_code"), panel)
    t = returns.table
    assert tuple(t.columns) == TABLE_COLUMNS
    assert list(t["area_code"]) == ["M3", "L1", "L2", "L3", "L4", "M1", "M2"]
    assert list(t["la_code"]) == ["E2", "E1", "E1", "E1", "E1", "E1", "E1"]
    assert t["count"].dtype == np.int64 and t["year"].dtype == np.int64
    assert returns.services == ("cin", "cla") and returns.years == (2020, 2021)
    assert len(returns) == 7
    assert returns.summary()["levels"] == ["lsoa", "msoa"]


def test_every_problem_is_reported_at_once_naming_file_line_code_and_year(panel, tmp_path):
    frame = good_rows()
    bad = pd.DataFrame([
        ("cin", "lsoa", "L99", "E1", 2021, 1),      # unknown LSOA
        ("cin", "msoa", "M9", "E1", 2021, 1),       # unknown MSOA
        ("cin", "lsoa", "L5", "E1", 2022, 1),       # L5 lies in E2, not E1
        ("cin", "lsoa", "L6", "E2", 2020, -2),      # negative count
        ("cin", "lsoa", "L6", "E2", 2021, 1.5),     # non-integer count
        ("cin", "lsoa", "L1", "E1", 2021, 3),       # duplicate of a good row
        ("cpp", "lsoa", "L1", "E1", 2021, 3),       # service not in the panel
        ("cin", "lsoa", "L1", "E1", 2031, 3),       # year not in the panel
        ("cin", "la", "E1", "E1", 2020, 3),         # not a returns level
    ], columns=frame.columns)
    path = tmp_path / "returns.csv"
    pd.concat([frame, bad], ignore_index=True).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as excinfo:
        PanelReturns.from_csv(path, panel)
    text = problems(excinfo)
    assert excinfo.value.source == str(path)
    # CSV lines count the header as line 1: the bad rows are on lines 9 to 17.
    assert "LSOA code(s) not in the geography: ['L99'] (at line(s) [9])" in text
    assert "MSOA code(s) not in the geography: ['M9'] (at line(s) [10])" in text
    assert all(p.startswith(f"{path}: ") for p in excinfo.value.problems)
    assert "service 'cin', LSOA L5, year 2022 (line 11): the LSOA lies in LA E2, not in the " \
           "stated LA 'E1'" in text
    assert "service 'cin', LSOA L6, year 2020 (line 12): count must be a non-negative whole " \
           "number, got -2" in text
    assert "service 'cin', LSOA L6, year 2021 (line 13): count must be a non-negative whole " \
           "number, got 1.5" in text
    assert "duplicate row(s)" in text and "line(s) [3, 14]" in text
    assert "service 'cpp' is not a service of the panel; expected one of ['cin', 'cla'] (at " \
           "line(s) [15])" in text
    assert "year 2031 is not a year of the panel (2020-2022) (at line(s) [16])" in text
    assert "level 'la' is not a returns level" in text and "line(s) [17]" in text


def test_both_levels_for_one_service_la_and_year_are_refused(panel):
    frame = pd.concat([good_rows(), pd.DataFrame(
        [("cin", "msoa", "M1", "E1", 2021, 2)], columns=good_rows().columns)])
    with pytest.raises(DataValidationError, match="service 'cin', LA E1, year 2021 is "
                                                  "returned at both LSOA and MSOA level"):
        PanelReturns.from_frame(frame, panel)


def test_a_positive_count_in_an_area_without_children_is_named(panel):
    frame = pd.DataFrame([("cin", "lsoa", "L5", 2020, 3), ("cin", "lsoa", "L7", 2020, 2)],
                         columns=["service", "level", "area_code", "year", "count"])
    with pytest.raises(DataValidationError) as excinfo:
        PanelReturns.from_frame(frame, panel, source="my returns")
    assert "my returns: service 'cin', LSOA L7, year 2020 (row 1): count 2 in an area with no " \
           "children" in problems(excinfo)
    # A zero count there is fine.
    PanelReturns.from_frame(frame.assign(count=[3, 0]), panel)


def test_an_implausible_count_in_a_returns_file_is_named_by_line_la_and_service(panel,
                                                                              tmp_path):
    path = tmp_path / "returns.csv"
    good_rows().assign(count=[10**9, 2, 0, 7, 9, 3, 5]).to_csv(path, index=False)
    with pytest.raises(DataValidationError) as excinfo:
        PanelReturns.from_csv(path, panel)
    assert excinfo.value.source == str(path)
    assert "service 'cin', LSOA L3, year 2021 (line 2), LA E1: count 1000000000 is " \
           in problems(excinfo)
    assert "per child" in problems(excinfo)


def test_a_returns_row_with_a_thousands_separator_is_refused(panel, tmp_path):
    path = tmp_path / "returns.csv"
    good_rows().to_csv(path, index=False)
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0] + ",1,951"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataValidationError, match="line 4: 7 field"):
        PanelReturns.from_csv(path, panel)


def test_missing_columns_blank_counts_and_a_missing_file_are_named(panel, tmp_path):
    with pytest.raises(DataValidationError, match=r"missing required column\(s\) \['count'\]"):
        PanelReturns.from_frame(good_rows().drop(columns="count"), panel)
    with pytest.raises(DataValidationError, match="count must be a non-negative whole number, "
                                                  "got nan"):
        PanelReturns.from_frame(good_rows().assign(count=np.nan), panel)
    with pytest.raises(MissingDataError, match=r"nope\.csv"):
        PanelReturns.from_csv(tmp_path / "nope.csv", panel)


def test_hash_depends_on_counts_not_on_the_label_and_joins_the_panel_hash(panel):
    a = PanelReturns.from_frame(good_rows(), panel, source="a")
    b = PanelReturns.from_frame(good_rows().iloc[::-1], panel, source="b")
    c = PanelReturns.from_frame(good_rows().assign(count=1), panel)
    assert a.data_hash() == b.data_hash() != c.data_hash()
    assert panel_data_hash(panel, None) == panel.data_hash()
    assert panel_data_hash(panel, a) not in (panel.data_hash(), panel_data_hash(panel, c))


def test_restrict_and_geography_check(panel):
    returns = PanelReturns.from_frame(good_rows(), panel)
    kept = returns.restrict(["cin"], [2021])
    assert set(kept.table["area_code"]) == {"L1", "L2", "L3", "L4"}
    assert returns.checked_for(make_panel(weight_l7=1.0)) is returns  # same geography
    rows = [{"lsoa_code": "X1", "msoa_code": "Y1", "la_code": "E9"}]
    other = PanelData.from_frames(
        Geography.from_frame(pd.DataFrame(rows)),
        pd.DataFrame({"lsoa_code": ["X1"], "weight": [1.0], "idaci": [0.0]}),
        pd.DataFrame({"la_code": ["E9"], "year": [2020], "exposure": [5.0]}),
        pd.DataFrame({"service": ["cin"], "la_code": ["E9"], "year": [2020], "count": [1.0]}),
        covariates=["idaci"])
    with pytest.raises(ConfigError, match="another geography"):
        returns.checked_for(other)
