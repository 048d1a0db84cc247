"""Tests for :class:`~bayes_needs.data.area.AreaData`."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.area import AreaData
from bayes_needs.data.geography import Geography

# E1: 2 MSOAs x 2 LSOAs; E2: 1 MSOA x 3 LSOAs; E3: 2 MSOAs x 1 LSOA; E4: 1 MSOA x 1 LSOA.
NESTING = {"E1": {"M1": ["L1", "L2"], "M2": ["L3", "L4"]},
           "E2": {"M3": ["L5", "L6", "L7"]},
           "E3": {"M4": ["L8"], "M5": ["L9"]},
           "E4": {"M6": ["L10"]}}


@pytest.fixture
def geo() -> Geography:
    rows = [{"lsoa_code": lsoa, "msoa_code": msoa, "la_code": la}
            for la, msoas in NESTING.items() for msoa, lsoas in msoas.items() for lsoa in lsoas]
    return Geography.from_frame(pd.DataFrame(rows))


def lsoa_table(geo: Geography) -> pd.DataFrame:
    n = geo.n_lsoa
    return pd.DataFrame({"lsoa_code": geo.lsoa_codes, "children": 100.0 + np.arange(n),
                         "idaci": np.linspace(0.0, 0.5, n), "imd": np.linspace(5.0, 40.0, n)})


def counts_table() -> pd.DataFrame:
    """cla: LSOA level in E1, MSOA level in E2, LA total in E3, absent in E4; cin: E1 only."""
    rows = [("cla", "lsoa", code, n) for code, n in
            [("L1", 3), ("L2", 0), ("L3", 5), ("L4", 1)]]
    rows += [("cla", "msoa", "M3", 7), ("cla", "la", "E3", 4), ("cin", "la", "E1", 20)]
    return pd.DataFrame(rows, columns=["service", "level", "area_code", "count"])


def area(geo, lsoa=None, counts=None, **kwargs) -> AreaData:
    kwargs.setdefault("covariates", ["idaci", "imd"])
    return AreaData.from_frames(geo, lsoa_table(geo) if lsoa is None else lsoa,
                                counts_table() if counts is None else counts, **kwargs)


def test_observation_level(geo):
    levels = area(geo).observation_level
    assert list(levels.index) == ["E1", "E2", "E3", "E4"]
    assert list(levels.columns) == ["cin", "cla"]  # canonical service order
    assert levels["cla"].tolist() == ["lsoa", "msoa", "la", "none"]
    assert levels["cin"].tolist() == ["la", "none", "none", "none"]


def test_observed(geo):
    shuffled = counts_table().sample(frac=1.0, random_state=3)
    data = area(geo, counts=shuffled)
    pos, counts = data.observed("cla", "lsoa")
    assert pos.tolist() == [0, 1, 2, 3] and counts.tolist() == [3, 0, 5, 1]
    pos, counts = data.observed("cla", "msoa")
    assert geo.msoa_codes[pos].tolist() == ["M3"] and counts.tolist() == [7]
    pos, counts = data.observed("cin", "lsoa")
    assert len(pos) == 0 and len(counts) == 0


def test_la_totals(geo):
    totals = area(geo).la_totals()
    assert totals.loc["E1", "cla"] == 9 and totals.loc["E2", "cla"] == 7
    assert totals.loc["E3", "cla"] == 4 and np.isnan(totals.loc["E4", "cla"])
    assert totals.loc["E1", "cin"] == 20 and totals["cin"].isna().sum() == 3
    assert area(geo).n_observed_las() == {"cin": 1, "cla": 3}


def test_covariates_and_exposure_in_canonical_order(geo):
    table = lsoa_table(geo)
    data = area(geo, lsoa=table.sample(frac=1.0, random_state=1))
    assert list(data.covariates.index) == list(geo.lsoa_codes)
    assert data.covariate_names == ("idaci", "imd")
    np.testing.assert_allclose(data.covariates["imd"], table["imd"])
    np.testing.assert_allclose(data.exposure, table["children"])
    assert data.observations["count"].dtype == np.int64


def test_inputs_not_modified(geo):
    lsoa, counts = lsoa_table(geo), counts_table()
    counts["area_code"] = counts["area_code"] + " "
    before_l, before_c = lsoa.copy(), counts.copy()
    area(geo, lsoa=lsoa, counts=counts)
    pd.testing.assert_frame_equal(lsoa, before_l)
    pd.testing.assert_frame_equal(counts, before_c)


def test_text_numbers_and_padded_codes_accepted(geo):
    counts = counts_table()
    counts["count"] = counts["count"].astype(str)
    counts["area_code"] = "  " + counts["area_code"]
    data = area(geo, counts=counts)
    assert data.la_totals().loc["E1", "cla"] == 9


def test_data_hash_stable_and_sensitive(geo):
    base = area(geo).data_hash()
    assert isinstance(base, str) and len(base) == 16
    reordered = area(geo, lsoa=lsoa_table(geo).iloc[::-1],
                     counts=counts_table().sample(frac=1.0, random_state=5))
    assert reordered.data_hash() == base
    plus_one = counts_table()
    plus_one.loc[plus_one["area_code"] == "L4", "count"] += 1
    assert area(geo, counts=plus_one).data_hash() != base
    table = lsoa_table(geo)
    table.loc[2, "idaci"] += 1e-9
    assert area(geo, lsoa=table).data_hash() != base
    table = lsoa_table(geo)
    table.loc[0, "children"] += 1
    assert area(geo, lsoa=table).data_hash() != base


def test_data_hash_same_in_a_fresh_process(geo):
    """The hash must not depend on per-process state such as Python's string hash seed."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import test_area as t, pandas as pd;"
        "from bayes_needs.data.geography import Geography;"
        "rows = [{'lsoa_code': l, 'msoa_code': m, 'la_code': la}"
        " for la, ms in t.NESTING.items() for m, ls in ms.items() for l in ls];"
        "print(t.area(Geography.from_frame(pd.DataFrame(rows))).data_hash())"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", script, os.path.dirname(__file__)],
                         capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == area(geo).data_hash()


def test_services_argument_and_subset(geo):
    data = area(geo, services=["cla", "cin", "cpp"])
    assert data.services == ("cla", "cin", "cpp")
    assert data.observation_level["cpp"].eq("none").all()
    sub = data.subset_services(["cla"])
    assert sub.services == ("cla",) and set(sub.observations["service"]) == {"cla"}
    with pytest.raises(DataValidationError, match="cpx"):
        data.subset_services(["cpx"])


def test_year_column(geo):
    counts = counts_table().assign(year=2024.0)  # e.g. read from CSV with missing values
    assert area(geo, counts=counts, year=2024).year == 2024
    counts = counts_table().assign(year=[2023] * 6 + [2024])
    with pytest.raises(DataValidationError, match="several years"):
        area(geo, counts=counts)


def test_all_problems_reported_together(geo):
    counts = counts_table().astype({"count": float})
    counts.loc[0, "count"] = -2.0
    counts.loc[4, "level"] = "ward"
    with pytest.raises(DataValidationError) as info:
        area(geo, counts=counts, counts_source="counts.csv")
    assert info.value.source == "counts.csv"
    assert len(info.value.problems) == 2
    assert "'count'" in str(info.value) and "'level'" in str(info.value)


@pytest.mark.parametrize(("zero", "named"), [(["L10"], "1 LA(s) ['E4']"),
                                             (["L8", "L9", "L10"], "2 LA(s) ['E3', 'E4']"),
                                             ([f"L{i}" for i in range(1, 11)], "every LA")])
def test_an_la_without_children_is_refused(geo, zero, named):
    lsoa = lsoa_table(geo)
    lsoa.loc[lsoa["lsoa_code"].isin(zero), "children"] = 0.0
    counts = counts_table()
    counts = counts[~counts["area_code"].isin(["E3", "M4", "M5", "L8", "L9"])]
    one_lsoa = lsoa_table(geo)
    one_lsoa.loc[one_lsoa["lsoa_code"] == "L2", "children"] = 0.0  # L2 has a count of 0
    assert area(geo, lsoa=one_lsoa, counts=counts).exposure[1] == 0.0  # an LSOA may be empty
    with pytest.raises(DataValidationError) as info:
        area(geo, lsoa=lsoa, counts=counts, lsoa_source="lsoa.csv")
    assert info.value.source == "lsoa.csv"
    assert info.value.problems == [f"column 'children' is 0 in every LSOA of {named}; each "
                                   f"LA needs a child population, since demand is modelled "
                                   f"per child"]


LOOKUP = "lookup_lsoa11_msoa11_lad19_lad23_utla23_dfe.csv.gz"


@pytest.mark.realdata
def test_real_lsoa_covariates(data_dir):
    lookup = pd.read_csv(data_dir / "lookups" / LOOKUP)
    geo = Geography.from_frame(lookup, lsoa_code="lsoa11cd", msoa_code="msoa11cd",
                               la_code="utla23cd")
    merged = pd.read_csv(data_dir / "iod2019" / "iod2019_lsoa11_merged.csv.gz")
    table = pd.DataFrame({"lsoa_code": merged["lsoa11cd"],
                          "children": merged["pop_children_0_15_mid2015"],
                          "imd_score": merged["imd_score"]})
    la_totals = pd.DataFrame({"service": "cla", "level": "la", "area_code": geo.la_codes,
                              "count": 10})
    data = AreaData.from_frames(geo, table, la_totals, covariates=["imd_score"],
                                source="iod2019")
    assert data.observation_level["cla"].eq("la").all()
    assert data.exposure.sum() > 9e6  # about 10 million children aged 0-15
