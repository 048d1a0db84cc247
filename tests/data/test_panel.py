"""Tests for :class:`~bayes_needs.data.panel.PanelData` and the normal-scores transform."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from bayes_needs.core.errors import BayesNeedsError, ConfigError, DataValidationError
from bayes_needs.data.covariates import normal_scores
from bayes_needs.data.geography import Geography
from bayes_needs.data.panel import KNOWN_IN, PanelData

# E1: 2 MSOAs x 2 LSOAs; E2: 1 MSOA x 3 LSOAs; E3: 1 MSOA x 1 LSOA.
NESTING = {"E1": {"M1": ["L1", "L2"], "M2": ["L3", "L4"]},
           "E2": {"M3": ["L5", "L6", "L7"]},
           "E3": {"M4": ["L8"]}}
YEARS = [2019, 2020, 2021, 2022]


@pytest.fixture
def geo() -> Geography:
    rows = [{"lsoa_code": lsoa, "msoa_code": msoa, "la_code": la}
            for la, msoas in NESTING.items() for msoa, lsoas in msoas.items() for lsoa in lsoas]
    return Geography.from_frame(pd.DataFrame(rows))


def lsoa_frame(geo: Geography) -> pd.DataFrame:
    n = geo.n_lsoa
    return pd.DataFrame({"lsoa_code": geo.lsoa_codes, "weight": 10.0 + np.arange(n),
                         "idaci": np.linspace(-1.0, 1.0, n), "crime": np.cos(np.arange(n))})


def exposure_frame(years=YEARS) -> pd.DataFrame:
    rows = [(la, y, 1000.0 * (i + 1) + y - 2019) for i, la in enumerate(NESTING) for y in years]
    return pd.DataFrame(rows, columns=["la_code", "year", "exposure"])


def counts_frame() -> pd.DataFrame:
    """cin in 2019-2021 (E3 suppressed in 2020), cla from 2020 only; 2022 has no counts."""
    rows = [("cin", la, y, 10.0 * (i + 1) + y - 2019) for i, la in enumerate(NESTING)
            for y in (2019, 2020, 2021)]
    rows = [r for r in rows if (r[1], r[2]) != ("E3", 2020)]
    rows += [("cin", "E3", 2020, np.nan)]
    rows += [("cla", la, y, 3.0) for la in NESTING for y in (2020, 2021)]
    frame = pd.DataFrame(rows, columns=["service", "la_code", "year", "count"])
    return frame.assign(line=np.arange(2, len(frame) + 2))


def panel(geo, lsoa=None, exposure=None, counts=None, **kwargs) -> PanelData:
    kwargs.setdefault("covariates", ["idaci", "crime"])
    return PanelData.from_frames(geo, lsoa_frame(geo) if lsoa is None else lsoa,
                                 exposure_frame() if exposure is None else exposure,
                                 counts_frame() if counts is None else counts, **kwargs)


def problems_of(excinfo) -> str:
    return "\n".join(excinfo.value.problems)


# ---------------------------------------------------------------------- structure
def test_years_services_and_count_years(geo):
    data = panel(geo)
    assert data.years == (2019, 2020, 2021, 2022)
    assert data.services == ("cin", "cla")  # canonical service order
    assert data.count_years == (2019, 2020, 2021)
    assert data.last_count_year == 2021
    assert data.forecast_years == (2022,)
    assert list(data.la_codes) == ["E1", "E2", "E3"]
    assert data.covariate_names == ("idaci", "crime")
    assert data.exposure.index.name == "la_code"
    assert list(data.exposure.columns) == YEARS


def test_counts_array_shape_and_missing_kept_as_nan(geo):
    data = panel(geo)
    arr = data.counts_array()
    assert arr.shape == (3, 4, 2)
    assert np.isnan(arr[2, 1, 0])  # E3 cin 2020 suppressed: NaN, not zero
    assert np.isnan(arr[:, 0, 1]).all()  # cla before 2020
    assert np.isnan(arr[:, 3, :]).all()  # 2022: exposure only
    assert arr[0, 0, 0] == 10.0 and arr[1, 2, 0] == 22.0
    assert data.counts_array(["cla"]).shape == (3, 4, 1)
    assert data.exposure_array().shape == (3, 4)
    assert data.exposure_array()[1, 3] == 2003.0
    with pytest.raises(ConfigError, match="referrals"):
        data.counts_array(["referrals"])


def test_lsoa_share_and_exposure(geo):
    data = panel(geo)
    share = data.lsoa_share
    np.testing.assert_allclose(geo.aggregate(share), 1.0)
    expo = data.lsoa_exposure(2021)
    np.testing.assert_allclose(geo.aggregate(expo), data.exposure[2021].to_numpy())
    # L1 has weight 10 of E1's 10+11+12+13.
    assert expo[0] == pytest.approx(1002.0 * 10 / 46)
    with pytest.raises(ConfigError, match="2019-2022"):
        data.lsoa_exposure(2030)


def test_la_indicator_means_are_weighted(geo):
    data = panel(geo)
    means = data.la_indicator_means()
    cov = lsoa_frame(geo)
    e2 = cov.iloc[4:7]
    expected = np.average(e2["idaci"], weights=e2["weight"])
    assert means.loc["E2", "idaci"] == pytest.approx(expected)
    assert means.loc["E3", "crime"] == pytest.approx(cov["crime"].iloc[7])
    assert list(means.columns) == ["idaci", "crime"]


def test_to_long(geo):
    long = panel(geo).to_long()
    assert list(long.columns) == ["service", "la_code", "year", "count", "exposure"]
    assert len(long) == 2 * 3 * 4
    row = long[(long["service"] == "cin") & (long["la_code"] == "E2") & (long["year"] == 2020)]
    assert row["count"].item() == 21.0 and row["exposure"].item() == 2001.0
    cell = long[(long["service"] == "cin") & (long["la_code"] == "E3") & (long["year"] == 2020)]
    assert np.isnan(cell["count"].item())


# ---------------------------------------------------------------------- derived panels
def test_up_to_holds_out_later_counts_and_keeps_exposure(geo):
    data = panel(geo)
    early = data.up_to(2020)
    assert early.years == data.years
    assert early.last_count_year == 2020
    assert np.isnan(early.counts_array()[:, 2:, :]).all()
    np.testing.assert_array_equal(early.counts_array()[:, :2], data.counts_array()[:, :2])
    pd.testing.assert_frame_equal(early.exposure, data.exposure)
    assert early.data_hash() != data.data_hash()
    assert "counts after 2020 held out" in early.notes
    for bad in (2018, 2022):
        with pytest.raises(ConfigError, match=rf"year {bad}.*2019-2021"):
            data.up_to(bad)


def test_up_to_also_holds_out_values_built_from_a_later_years_data(geo):
    # E2's 2019 CIN count was rebuilt from 2020's figures (known in 2020).
    origins = pd.DataFrame({"service": ["cin", "cin"], "la_code": ["E2", "E1"],
                            "year": [2019, 2019], "origin": ["reconstructed", "published"],
                            "detail": ["", ""], KNOWN_IN: [2020.0, np.nan]})
    data = panel(geo, origins=origins)
    assert not np.isnan(data.counts["cin"].loc["E2", 2019])
    early = data.up_to(2019)
    assert np.isnan(early.counts["cin"].loc["E2", 2019])
    assert early.counts["cin"].loc["E1", 2019] == data.counts["cin"].loc["E1", 2019]
    assert early.origins is not None and list(early.origins["la_code"]) == ["E1"]
    later = data.up_to(2020)
    assert later.counts["cin"].loc["E2", 2019] == data.counts["cin"].loc["E2", 2019]


def test_extend_exposure_carries_last_year_forward(geo):
    data = panel(geo, origins=pd.DataFrame(columns=["service", "la_code", "year", "origin",
                                                    "detail"]))
    longer = data.extend_exposure(2024)
    assert longer.years == (2019, 2020, 2021, 2022, 2023, 2024)
    np.testing.assert_array_equal(longer.exposure[2024], data.exposure[2022])
    assert longer.counts_array().shape == (3, 6, 2)
    assert np.isnan(longer.counts_array()[:, 4:]).all()
    assert any("carried forward" in n for n in longer.notes)
    assert longer.origins is not None and len(longer.origins) == 3 * 2
    assert data.extend_exposure(2022) is data


def test_subset_services_and_with_covariates(geo):
    data = panel(geo)
    cla = data.subset_services(["cla"])
    assert cla.services == ("cla",) and cla.count_years == (2020, 2021)
    with pytest.raises(ConfigError, match="choose from"):
        data.subset_services(["cpp"])
    one = data.with_covariates(["crime"])
    assert one.covariate_names == ("crime",)
    assert one.data_hash() != data.data_hash()
    with pytest.raises(ConfigError, match=r"\['idaci', 'crime'\]"):
        data.with_covariates(["income"])


def test_to_area_data_takes_one_years_la_counts_and_exposure(geo):
    data = panel(geo)
    area = data.to_area_data(2020)
    assert area.year == 2020 and area.services == ("cin", "cla")
    assert area.covariate_names == ("idaci", "crime")
    pd.testing.assert_frame_equal(area.covariates, data.covariates, check_names=False)
    np.testing.assert_allclose(area.exposure, data.lsoa_exposure(2020))
    totals = area.la_totals()
    assert totals.loc["E1", "cin"] == 11.0 and totals.loc["E2", "cla"] == 3.0
    assert np.isnan(totals.loc["E3", "cin"])  # suppressed in 2020: not observed, not zero
    assert (area.observations["level"] == "la").all()
    assert area.observation_level.loc["E3", "cin"] == "none"
    cla = data.to_area_data(2021, ["cla"])
    assert cla.services == ("cla",) and len(cla.observations) == 3
    with pytest.raises(ConfigError, match="2019-2022"):
        data.to_area_data(2030)
    with pytest.raises(ConfigError, match="cpp"):
        data.to_area_data(2020, ["cpp"])
    with pytest.raises(DataValidationError):
        data.to_area_data(2019, ["cla"])  # no cla count in 2019


def test_data_hash_is_stable_and_sensitive(geo):
    base = panel(geo)
    assert base.data_hash() == panel(geo).data_hash()
    assert len(base.data_hash()) == 16
    counts = counts_frame()
    counts.loc[0, "count"] += 1
    assert panel(geo, counts=counts).data_hash() != base.data_hash()
    exposure = exposure_frame()
    exposure.loc[5, "exposure"] += 0.5
    assert panel(geo, exposure=exposure).data_hash() != base.data_hash()
    lsoa = lsoa_frame(geo)
    lsoa.loc[2, "weight"] += 1
    assert panel(geo, lsoa=lsoa).data_hash() != base.data_hash()
    # A missing count differs from a zero count.
    zero = counts_frame()
    zero.loc[zero["count"].isna(), "count"] = 0.0
    assert panel(geo, counts=zero).data_hash() != base.data_hash()


# ---------------------------------------------------------------------- validation
def test_bad_counts_name_service_la_year_and_line(geo):
    counts = counts_frame().astype({"count": object})
    counts.loc[1, "count"] = -2.0
    counts.loc[3, "count"] = 2.5
    counts.loc[4, "count"] = "lots"
    with pytest.raises(DataValidationError) as excinfo:
        panel(geo, counts=counts)
    text = problems_of(excinfo)
    assert "service 'cin', LA E1, year 2020 (line 3)" in text and "-2.0" in text
    assert "service 'cin', LA E2, year 2019 (line 5)" in text and "2.5" in text
    assert "'lots'" in text


def test_file_column_is_named_in_messages(geo):
    counts = counts_frame().assign(file="dfe_b1.csv")
    counts.loc[0, "count"] = -1
    with pytest.raises(DataValidationError, match=r"file dfe_b1\.csv, line 2"):
        panel(geo, counts=counts)


def test_a_row_without_a_line_names_its_file_not_a_row_of_the_table(geo):
    # A reader's value built from several file rows (a predecessor's) has no line of its own.
    counts = counts_frame().assign(file="dfe_b1.csv")
    counts["line"] = pd.array(counts["line"], dtype="Int64")
    counts.loc[1, "line"] = pd.NA
    counts.loc[1, "count"] = -1
    counts.loc[[0, 1], "la_code"] = "E99"
    with pytest.raises(DataValidationError) as excinfo:
        panel(geo, counts=counts)
    text = problems_of(excinfo)
    assert "service 'cin', LA E99, year 2020 (file dfe_b1.csv): count must be" in text
    assert "line(s) [2]" in text
    assert "<NA>" not in text and "row 1" not in text


def test_unknown_la_codes_are_named(geo):
    counts = counts_frame()
    counts.loc[0, "la_code"] = "E99"
    exposure = exposure_frame()
    exposure.loc[0, "la_code"] = "E98"
    with pytest.raises(DataValidationError) as excinfo:
        panel(geo, counts=counts, exposure=exposure)
    text = problems_of(excinfo)
    assert "'E99'" in text and "line(s) [2]" in text
    assert "'E98'" in text
    assert "LA E1 has no valid exposure" in text and "[2019]" in text


def test_count_without_exposure_names_la_and_year(geo):
    counts = pd.concat([counts_frame(), pd.DataFrame(
        {"service": ["cin"], "la_code": ["E2"], "year": [2023], "count": [4.0], "line": [99]})],
        ignore_index=True)
    with pytest.raises(DataValidationError) as excinfo:
        panel(geo, counts=counts)
    text = problems_of(excinfo)
    assert "no exposure (child population) for LA E2 in year 2023" in text
    assert "line 99" in text


def test_bad_exposure_names_la_and_year_and_all_problems_reported_at_once(geo):
    exposure = exposure_frame()
    exposure.loc[(exposure["la_code"] == "E2") & (exposure["year"] == 2021), "exposure"] = 0.0
    exposure = exposure[~((exposure["la_code"] == "E3") & (exposure["year"] == 2019))]
    counts = counts_frame()
    counts.loc[0, "count"] = -5
    with pytest.raises(DataValidationError) as excinfo:
        panel(geo, exposure=exposure, counts=counts)
    text = problems_of(excinfo)
    assert "LA E2, year 2021" in text and "exposure must be a finite number > 0" in text
    assert "LA E3 has no valid exposure (child population) for year(s) [2019]" in text
    assert "has a count but no exposure (child population) for LA E2 in year 2021" in text
    assert "LA E3 in year 2019" in text
    assert "-5" in text  # the bad count is reported in the same error


def test_year_gap_and_duplicates(geo):
    exposure = exposure_frame([2019, 2020, 2022])
    counts = pd.concat([counts_frame(), counts_frame().iloc[[0]]], ignore_index=True)
    with pytest.raises(DataValidationError) as excinfo:
        panel(geo, exposure=exposure, counts=counts)
    text = problems_of(excinfo)
    assert "consecutive" in text and "[2021]" in text
    assert "duplicate row(s) on ['service', 'la_code', 'year']" in text
    assert "service cin, la_code E1, year 2019" in text


def test_lsoa_table_problems(geo):
    lsoa = lsoa_frame(geo)
    lsoa.loc[0, "idaci"] = np.nan
    lsoa.loc[1, "weight"] = -1.0
    with pytest.raises(DataValidationError) as excinfo:
        panel(geo, lsoa=lsoa)
    text = problems_of(excinfo)
    assert "idaci" in text and "weight" in text
    zero = lsoa_frame(geo)
    zero.loc[zero["lsoa_code"] == "L8", "weight"] = 0.0
    with pytest.raises(DataValidationError, match=r"LA\(s\) \[.E3.\]"):
        panel(geo, lsoa=zero)


def test_undeclared_service_and_no_counts(geo):
    with pytest.raises(DataValidationError, match="'cla' is not among the services"):
        panel(geo, services=["cin"])
    empty = counts_frame().assign(count=np.nan)
    with pytest.raises(DataValidationError, match="every count is missing"):
        panel(geo, counts=empty)


def test_errors_are_bayes_needs_errors(geo):
    with pytest.raises(BayesNeedsError):
        panel(geo, counts=counts_frame().drop(columns="year"))


# ---------------------------------------------------------------------- normal scores
def test_normal_scores_blom_and_ties():
    z = normal_scores([3.0, 1.0, 2.0, 2.0, 5.0])
    # Ranks 4, 1, 2.5, 2.5, 5 of n = 5.
    expected = norm.ppf((np.array([4, 1, 2.5, 2.5, 5]) - 0.375) / 5.25)
    np.testing.assert_allclose(z, expected)
    assert z[2] == z[3]


def test_normal_scores_orientation_for_ranks():
    rank = pd.Series([1, 2, 3, 4], index=list("abcd"), name="income_rank")
    z = normal_scores(rank, reverse=True)
    assert list(z.index) == list("abcd") and z.name == "income_rank"
    assert z["a"] == z.max()  # rank 1 = most deprived = highest score
    np.testing.assert_allclose(z.to_numpy(), -normal_scores(rank).to_numpy())


def test_normal_scores_are_standard_normal_for_many_values():
    rng = np.random.default_rng(20240331)
    z = normal_scores(rng.exponential(size=20_000))
    assert abs(z.mean()) < 1e-10 and abs(z.std() - 1) < 0.01


def test_normal_scores_reject_non_finite():
    with pytest.raises(DataValidationError, match="position"):
        normal_scores([1.0, np.nan])
