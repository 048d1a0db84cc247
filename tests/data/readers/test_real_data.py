"""Readers of the real public data, checked against the data README and against independent
sums of the raw files computed here with plain pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.readers.dfe import read_dfe_service
from bayes_needs.data.readers.england import available_years, england_area_data, la_service_counts
from bayes_needs.data.readers.harmonise import harmonise_to_utla23
from bayes_needs.data.readers.iod import read_iod2019
from bayes_needs.data.readers.lookups import (
    england_geography,
    read_la_numbers,
    read_predecessor_crosswalk,
)
from bayes_needs.data.readers.population import read_la_child_population, read_lsoa_child_population
from bayes_needs.data.readers.ro3 import read_ro3

pytestmark = pytest.mark.realdata

CODES = {"c", "z", "x", "u", ""}
#: Raw DfE file and column of each service, written out here independently of the readers.
RAW = {
    "referrals": ("dfe_csc/c1_children_in_need_referrals_and_rereferrals_2013_to_2025.csv",
                  "referral_count"),
    "cin": ("dfe_csc/b1_children_in_need_2013_to_2025.csv", "At31_episodes"),
    "cpp": ("dfe_csc/d5_cpps_at31march_by_duration_2013_to_2025.csv", "CPP_At31"),
    "cla": ("dfe_csc/cla_number_and_rate_per_10k_children_2019_2025_combined.csv",
            "children_count"),
}


def raw_la_rows(data_dir, service: str, year: int) -> pd.DataFrame:
    """LA rows of a raw DfE file for one year, cells as text."""
    path, column = RAW[service]
    raw = pd.read_csv(data_dir / path, dtype=str, keep_default_na=False)
    raw = raw[(raw["geographic_level"] == "Local authority") & (raw["time_period"] == str(year))]
    if service == "cla":
        raw = raw[raw["population_type"] == "Children looked after on 31 March each year"]
    return raw.assign(value=pd.to_numeric(raw[column], errors="coerce"), cell=raw[column])


@pytest.fixture(scope="module")
def utla_codes(data_dir) -> set[str]:
    lookup = pd.read_csv(data_dir / "lookups/lookup_lsoa11_msoa11_lad19_lad23_utla23_dfe.csv.gz",
                         dtype=str)
    return set(lookup["utla23cd"])


@pytest.fixture(scope="module")
def england_2024(data_dir):
    return england_area_data(data_dir, 2024)


# ---------------------------------------------------------------------- geography
def test_geography_has_documented_unit_counts(data_dir):
    geo = england_geography(data_dir)
    assert (geo.n_lsoa, geo.n_msoa, geo.n_la) == (32_844, 6_791, 153)
    assert geo.lsoa_codes[0].startswith("E01") and geo.la_codes[0].startswith("E0")


def test_la_numbers_are_unique_and_match_the_lookup_example(data_dir):
    las = read_la_numbers(data_dir)
    assert len(las) == 153 and las["la_code"].is_unique and las["dfe_la_number"].is_unique
    hartlepool = las.set_index("la_code").loc["E06000001"]
    assert hartlepool["dfe_la_number"] == 805
    assert hartlepool["la_name"] == "Hartlepool"


def test_crosswalk_shares_add_to_one_and_name_utla23_successors(data_dir, utla_codes):
    crosswalk = read_predecessor_crosswalk(data_dir, la_codes=sorted(utla_codes))
    assert len(crosswalk) == 11
    totals = crosswalk.groupby("predecessor_code")["share"].sum()
    np.testing.assert_allclose(totals.to_numpy(), 1.0, atol=1e-12)
    northants = crosswalk[crosswalk["predecessor_code"] == "E10000021"]
    assert set(northants["la_code"]) == {"E06000061", "E06000062"}


# ---------------------------------------------------------------------- covariates
def test_iod_covariates_finite_for_every_lsoa(data_dir):
    iod = read_iod2019(data_dir)
    assert len(iod) == 32_844 and iod["lsoa_code"].is_unique
    for column in ("idaci", "imd_score", "income_score", "employment_score", "idaci_decile"):
        assert np.isfinite(iod[column].to_numpy()).all(), column
    # README: the IDACI numerator is suppressed for 4,553 LSOAs.
    assert int(iod["idaci_suppressed"].sum()) == 4_553
    assert iod["idaci"].between(0, 1).all()
    assert iod["income_score"].between(0, 1).all()


def test_idaci_equals_file_approximation_where_published(data_dir):
    raw = pd.read_csv(data_dir / "iod2019/iod2019_lsoa11_merged.csv.gz",
                      usecols=["lsoa11cd", "idaci_score_approx"])
    iod = read_iod2019(data_dir).set_index("lsoa_code")
    published = raw.dropna()
    np.testing.assert_allclose(iod.loc[published["lsoa11cd"], "idaci"].to_numpy(),
                               published["idaci_score_approx"].to_numpy(), atol=1e-4)


def test_imputed_idaci_reproduces_official_deciles_at_least_as_well_as_zero(data_dir):
    iod = read_iod2019(data_dir)
    rank = (-iod["idaci"]).rank(method="first")
    decile = np.ceil(rank / len(iod) * 10).astype(int)
    official = iod["idaci_decile"].astype(int)
    # README: counting suppressed numerators as 0 gives 81.8% exact and 99.1% within one.
    assert (decile == official).mean() >= 0.818
    assert ((decile - official).abs() <= 1).mean() >= 0.991


def test_imd_score_reproduces_official_lad_average(data_dir):
    iod = read_iod2019(data_dir)
    official = pd.read_csv(data_dir / "iod2019/iod2019_lad19_summary_measures_long.csv")
    official = official[official["index_domain"] == "Index of Multiple Deprivation"]
    weighted = (iod["imd_score"] * iod["population_mid2015"]).groupby(iod["lad19_code"]).sum()
    mean = weighted / iod.groupby("lad19_code")["population_mid2015"].sum()
    expected = official.set_index("lad19cd")["average_score"].reindex(mean.index)
    assert len(mean) == 317
    assert np.abs(mean - expected).max() < 1e-3


# ---------------------------------------------------------------------- populations
def test_lsoa_population_is_england_only_with_documented_total(data_dir):
    pop = read_lsoa_child_population(data_dir)
    assert len(pop) == 32_844 and pop["lsoa_code"].str.startswith("E01").all()
    assert pop["population_0_17"].sum() == 12_023_568  # README


def test_la_population_reader_keeps_suppression_codes(data_dir):
    pop = read_la_child_population(data_dir, 2015)
    assert set(pop.loc[pop["code"].notna(), "la_code"]) == {"E06000028", "E06000029",
                                                            "E10000009"}
    assert set(pop["code"].dropna()) == {"x"}


# ---------------------------------------------------------------------- DfE counts
@pytest.mark.parametrize("service", ["referrals", "cin", "cpp", "cla"])
def test_2024_counts_match_raw_file_cell_by_cell(data_dir, england_2024, service, utla_codes):
    area, _ = england_2024
    raw = raw_la_rows(data_dir, service, 2024).set_index("new_la_code")
    assert set(raw.index) >= utla_codes
    expected = raw.loc[sorted(utla_codes), "value"].dropna()
    got = area.la_totals()[service].dropna()
    pd.testing.assert_series_equal(got.sort_index(), expected.sort_index().astype(float),
                                   check_names=False, check_index_type=False)


def test_2024_observed_las_and_suppression_report(data_dir, england_2024, utla_codes):
    _, report = england_2024
    assert (report.n_lsoa, report.n_msoa, report.n_la) == (32_844, 6_791, 153)
    expected_missing = set()
    for service in RAW:
        raw = raw_la_rows(data_dir, service, 2024)
        raw = raw[raw["new_la_code"].isin(utla_codes)]
        suppressed = raw[raw["value"].isna()]
        assert set(suppressed["cell"]) <= CODES
        expected_missing |= {(service, code, cell) for code, cell in
                             zip(suppressed["new_la_code"], suppressed["cell"], strict=True)}
        assert report.observed[service] == raw["value"].notna().sum() >= 150
    got = set(zip(report.missing["service"], report.missing["la_code"],
                  report.missing["code"], strict=True))
    assert got == expected_missing
    # README: CLA on 31 March 2024 has numbers for 152 UTLAs; Isles of Scilly is 'z'.
    assert report.observed[dims.CLA] == 152
    assert ("cla", "E06000053", "z") in got
    assert report.suppressed == {s: len(report.missing[report.missing["service"] == s])
                                 for s in report.services}


def test_2024_area_data_structure(england_2024):
    area, report = england_2024
    assert area.services == (dims.REFERRALS, dims.CIN, dims.CPP, dims.CLA)
    assert set(area.observations["level"]) == {dims.LA}
    assert area.covariate_names == ("idaci", "imd_score")
    assert area.year == 2024 and report.harmonised.empty


def test_exposure_sums_to_dfe_la_population_of_previous_mid_year(england_2024, data_dir):
    area, report = england_2024
    raw = pd.read_csv(data_dir / "dfe_csc/ons_mid-year_population_estimates_2012_to_2024.csv",
                      dtype=str, keep_default_na=False)
    raw = raw[(raw["geographic_level"] == "Local authority") & (raw["time_period"] == "2023")]
    expected = pd.to_numeric(raw.set_index("new_la_code")["population_estimate"])
    geo = area.geography
    per_la = pd.Series(geo.aggregate(area.exposure), index=geo.la_codes)
    np.testing.assert_allclose(per_la.to_numpy(), expected.reindex(per_la.index).to_numpy(),
                               rtol=1e-9)
    assert report.exposure_population_year == 2023
    assert (area.exposure > 0).all()


def test_counts_match_independently_built_panel(data_dir, england_2024):
    area, _ = england_2024
    panel = pd.read_csv(data_dir / "dfe_csc/la_csc_panel_2013_2025.csv")
    panel = panel[panel["time_period"] == 2024].set_index("new_la_code")
    totals = area.la_totals()
    for service, column in (("cla", "cla_at31"), ("cin", "cin_at31"), ("cpp", "cpp_at31"),
                            ("referrals", "referrals")):
        expected = panel[column].reindex(totals.index)
        np.testing.assert_array_equal(totals[service].to_numpy(), expected.to_numpy())


@pytest.mark.parametrize("year", [2019, 2020, 2021, 2022, 2023])
def test_harmonised_england_totals_conserve_raw_la_sums(data_dir, year):
    counts, missing, _ = la_service_counts(data_dir, year)
    for service in RAW:
        raw = raw_la_rows(data_dir, service, year)
        mine = counts.loc[counts["service"] == service, "count"]
        assert mine.sum() == raw["value"].sum(), service
        # Every UTLA is either counted or reported missing.
        assert len(mine) + (missing["service"] == service).sum() == 153
    national = pd.read_csv(data_dir / RAW["cla"][0], dtype=str, keep_default_na=False)
    national = national[(national["geographic_level"] == "National")
                        & (national["time_period"] == str(year))
                        & (national["population_type"]
                           == "Children looked after on 31 March each year")]
    cla_total = counts.loc[counts["service"] == "cla", "count"].sum()
    # The national figure is rounded to the nearest 10; suppressed LAs are tiny.
    assert abs(cla_total - int(national["children_count"].iloc[0])) <= 10


def test_2019_predecessors_are_apportioned_by_crosswalk_shares(data_dir):
    counts, _, harmonised = la_service_counts(data_dir, 2019, services=("cla",))
    got = counts.set_index("area_code")["count"]
    raw = raw_la_rows(data_dir, "cla", 2019).set_index("new_la_code")["value"]
    crosswalk = pd.read_csv(data_dir / "lookups/predecessor_upper_tier_la_to_utla23_crosswalk.csv")
    share = crosswalk.set_index(["predecessor_la_code", "utla23cd"])[
        "share_of_predecessor_children"]
    # Northamptonshire is split in two; parts are whole and add up exactly.
    north, west = got["E06000061"], got["E06000062"]
    assert north + west == raw["E10000021"]
    assert abs(north - raw["E10000021"] * share[("E10000021", "E06000061")]) < 1
    # BCP = Bournemouth + Poole + Christchurch's share of Dorset county.
    dorset_part = got["E06000058"] - raw["E06000028"] - raw["E06000029"]
    assert dorset_part + got["E06000059"] == raw["E10000009"]
    assert abs(dorset_part - raw["E10000009"] * share[("E10000009", "E06000058")]) < 1
    # One-to-one successors take the predecessor count unchanged.
    assert got["E06000065"] == raw["E10000023"] and got["E06000066"] == raw["E10000027"]
    origins = harmonised.set_index("la_code")["origin"]
    assert origins["E06000061"] == "apportioned" and origins["E06000065"] == "predecessor"


def test_raw_service_reader_keeps_codes_as_published(data_dir):
    table = read_dfe_service(data_dir, "cla", 2024)
    coded = table[table["code"].notna()]
    assert set(coded["code"]) <= CODES - {""} | {"(blank)"}
    assert np.isnan(coded["count"]).all()
    assert {"E10000006", "E10000021"} <= set(coded["la_code"])  # predecessors marked 'z'


def test_unavailable_year_lists_available_years(data_dir):
    assert available_years(data_dir) == list(range(2019, 2026))
    with pytest.raises(ConfigError, match=r"2016.*available years: \[2019, 2020"):
        england_area_data(data_dir, 2016)
    with pytest.raises(ConfigError, match="unknown covariate"):
        england_area_data(data_dir, 2024, covariates=("idaci", "bogus"))


# ---------------------------------------------------------------------- RO3
@pytest.mark.parametrize("financial_year", ["2023-24", "2024-25"])
def test_ro3_reads_all_las_and_reports_bracket_codes(data_dir, financial_year, utla_codes):
    spend, report = read_ro3(data_dir, financial_year)
    raw = pd.read_csv(data_dir / "dfe_csc/ro3_childrens_social_care_expenditure_2023-24_"
                      "2024-25_long.csv", dtype=str, keep_default_na=False)
    raw = raw[(raw["financial_year"] == financial_year) & (raw["ons_code"] != "E92000001")]
    assert set(spend["la_code"]) == utla_codes
    assert len(spend) == len(raw) == 153 * 13 * 2
    assert spend["category"].nunique() == 13
    bracketed = raw["value_raw"].str.startswith("[")
    assert len(report) == bracketed.sum() > 0
    assert set(report["code"]) == set(raw.loc[bracketed, "value_raw"])
    totals = spend[spend["category"] == "total"].set_index(["la_code", "measure"])
    expected = raw[raw["service"] == "TOTAL CHILDREN SOCIAL CARE"].set_index(
        ["ons_code", "measure"])["value_gbp_thousands"].replace("", np.nan).astype(float)
    np.testing.assert_allclose(totals["spend_gbp_thousands"].reindex(expected.index),
                               expected.to_numpy())


def test_ro3_unknown_year_lists_available(data_dir):
    with pytest.raises(ConfigError, match=r"2022-23.*'2023-24', '2024-25'"):
        read_ro3(data_dir, "2022-23")


# ---------------------------------------------------------------------- harmonisation rules
SMALL_CROSSWALK = pd.DataFrame({
    "predecessor_code": ["P1", "P1", "P1", "P2"],
    "la_code": ["A", "B", "C", "C"],
    "share": [1 / 3, 1 / 3, 1 / 3, 1.0],
})


def small_table(rows) -> pd.DataFrame:
    codes, values, cells = zip(*rows, strict=True)
    return pd.DataFrame({"la_code": codes, "count": np.array(values, dtype=float),
                         "code": pd.Series(cells, dtype=object), "line": range(2, 2 + len(rows))})


def test_split_counts_are_whole_and_add_up():
    table = small_table([("P1", 10, None), ("P2", 5, None)])
    out = harmonise_to_utla23(table, SMALL_CROSSWALK, ["A", "B", "C", "D"], source="t",
                              value="count").set_index("la_code")
    parts = out.loc[["A", "B"], "count"].to_numpy()
    assert set(parts) <= {3.0, 4.0}
    c_from_p1 = out.loc["C", "count"] - 5
    assert parts.sum() + c_from_p1 == 10
    assert out.loc["C", "origin"] == "apportioned"
    assert np.isnan(out.loc["D", "count"]) and out.loc["D", "code"] == "absent"


def test_missing_part_makes_successor_missing_with_its_code():
    table = small_table([("P1", 9, None), ("P2", np.nan, "c")])
    out = harmonise_to_utla23(table, SMALL_CROSSWALK, ["A", "B", "C"], source="t",
                              value="count").set_index("la_code")
    assert out.loc["A", "count"] == 3 and out.loc["B", "count"] == 3
    assert np.isnan(out.loc["C", "count"]) and out.loc["C", "code"] == "c"


def test_own_rows_take_precedence_and_suppressed_own_rows_are_not_rebuilt():
    table = small_table([("A", 7, None), ("B", np.nan, "c"), ("C", np.nan, "z"),
                         ("P1", 30, None), ("P2", 4, None)])
    out = harmonise_to_utla23(table, SMALL_CROSSWALK, ["A", "B", "C"], source="t",
                              value="count").set_index("la_code")
    assert out.loc["A", "count"] == 7 and out.loc["A", "origin"] == "published"
    assert np.isnan(out.loc["B", "count"]) and out.loc["B", "code"] == "c"
    assert out.loc["C", "count"] == 10 + 4  # 'z' (did not exist yet): rebuilt


def test_unknown_code_is_named_with_its_line():
    table = small_table([("A", 1, None), ("Q9", 2, None)])
    with pytest.raises(DataValidationError, match=r"'Q9' \(line 3\)"):
        harmonise_to_utla23(table, SMALL_CROSSWALK, ["A", "B", "C"], source="t",
                            value="count")
