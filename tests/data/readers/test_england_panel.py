"""The England panel reader on the real public data, checked against the raw files read here
with plain pandas."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import ConfigError, DataValidationError, MissingDataError
from bayes_needs.data.readers.england import england_files
from bayes_needs.data.readers.england_panel import DEFAULT_INDICATORS, england_panel_data

pytestmark = pytest.mark.realdata

CUMBRIA = "E10000006"
CUMBRIA_SUCCESSORS = ["E06000063", "E06000064"]  # Cumberland, Westmorland and Furness
RAW = {
    "referrals": ("dfe_csc/c1_children_in_need_referrals_and_rereferrals_2013_to_2025.csv",
                  "referral_count"),
    "cin": ("dfe_csc/b1_children_in_need_2013_to_2025.csv", "At31_episodes"),
    "cpp": ("dfe_csc/d5_cpps_at31march_by_duration_2013_to_2025.csv", "CPP_At31"),
}
POPULATION = "dfe_csc/ons_mid-year_population_estimates_2012_to_2024.csv"


def raw_la_values(data_dir, path: str, column: str, **filters) -> pd.DataFrame:
    """LA rows of a raw DfE file: time_period, new_la_code and the numeric value."""
    raw = pd.read_csv(data_dir / path, dtype=str, keep_default_na=False)
    raw = raw[raw["geographic_level"] == "Local authority"]
    for key, value in filters.items():
        raw = raw[raw[key] == value]
    return pd.DataFrame({"year": raw["time_period"].astype(int),
                         "la_code": raw["new_la_code"],
                         "value": pd.to_numeric(raw[column], errors="coerce")})


@pytest.fixture(scope="module")
def england(data_dir):
    return england_panel_data(data_dir)


def test_shape_years_and_services(england):
    panel, report = england
    assert len(panel.la_codes) == 153 and report.n_la == 153
    assert panel.years == tuple(range(2013, 2026)) == report.years
    assert panel.last_count_year == 2025 and panel.forecast_years == ()
    assert panel.services == ("referrals", "cin", "cpp", "cla")
    assert panel.covariate_names == DEFAULT_INDICATORS
    assert panel.counts_array().shape == (153, 13, 4)


def test_cla_missing_before_2018_and_2018_rebuilt_from_2019s_flows(england, data_dir):
    panel, report = england
    cla = panel.counts["cla"]
    assert cla.loc[:, 2013:2017].isna().all().all()
    assert cla.loc[:, 2019:].notna().sum().min() >= 145
    assert report.service_years["cla"] == tuple(range(2018, 2026))
    assert any("cla: LA figures start in 2019" in n for n in panel.notes)
    assert any("rebuilt as the next year's stock - started + ceased" in n for n in panel.notes)
    absent = report.missing[(report.missing["service"] == "cla")
                            & (report.missing["year"] < 2018)]
    assert len(absent) == 153 * 5 and set(absent["code"]) == {"absent"}
    # 2018 = 2019's stock - started + ceased, from the raw file (LAs unchanged since 2019).
    path = "dfe_csc/cla_number_and_rate_per_10k_children_2019_2025_combined.csv"
    raw = {kind: raw_la_values(data_dir, path, "children_count", population_type=label)
           .query("year == 2019").set_index("la_code")["value"]
           for kind, label in [("stock", "Children looked after on 31 March each year"),
                               ("started", "Children starting to be looked after each year"),
                               ("ceased", "Children ceasing to be looked after each year")]}
    expected = (raw["stock"] - raw["started"] + raw["ceased"]).dropna()
    common = expected.index.intersection(cla.index)
    assert len(common) >= 140
    np.testing.assert_array_equal(cla.loc[common, 2018], expected[common])
    rebuilt = report.harmonisation.query("service == 'cla' and origin == 'reconstructed'")
    assert len(rebuilt) == cla[2018].notna().sum() and set(rebuilt["year"]) == {2018}


def test_the_flow_identity_reproduces_published_cla_stocks(data_dir):
    """Where both stocks are published, the identity the 2018 stock rests on holds closely."""
    panel, _ = england_panel_data(data_dir, services=("cla",), cla_from_flows=False)
    path = "dfe_csc/cla_number_and_rate_per_10k_children_2019_2025_combined.csv"
    flows = {kind: raw_la_values(data_dir, path, "children_count", population_type=label)
             .pivot(index="la_code", columns="year", values="value")
             for kind, label in [("started", "Children starting to be looked after each year"),
                                 ("ceased", "Children ceasing to be looked after each year")]}
    stock = panel.counts["cla"]
    errors = []
    for year in range(2020, 2026):
        rebuilt = stock[year] - flows["started"][year] + flows["ceased"][year]
        errors.append(np.log(rebuilt / stock[year - 1]).dropna())
    error = pd.concat(errors)
    assert len(error) > 800
    assert error.abs().median() < 0.01 and error.std() < 0.02


def test_a_fit_before_the_flows_year_does_not_see_the_rebuilt_stock(england):
    panel, _ = england
    assert panel.up_to(2018).counts["cla"].notna().sum().sum() == 0
    assert panel.up_to(2019).counts["cla"][2018].notna().sum() == 153


def test_published_counts_and_suppression_kept_missing(england, data_dir):
    panel, report = england
    for service, (path, column) in RAW.items():
        raw = raw_la_values(data_dir, path, column).set_index(["la_code", "year"])["value"]
        mine = panel.counts[service]
        for la, year in [("E06000001", 2013), ("E09000033", 2020), ("E08000025", 2025)]:
            assert mine.loc[la, year] == raw.loc[(la, year)]
        suppressed = report.missing[report.missing["service"] == service]
        for la, year in zip(suppressed["la_code"], suppressed["year"], strict=True):
            assert np.isnan(mine.loc[la, year])
    assert report.observed.loc["cin", 2025] == 153


def test_cumbria_successors_are_apportioned_and_add_up(england, data_dir):
    panel, report = england
    for service, (path, column) in RAW.items():
        raw = raw_la_values(data_dir, path, column)
        cumbria = raw[raw["la_code"] == CUMBRIA].set_index("year")["value"]
        built = report.harmonisation[(report.harmonisation["service"] == service)
                                     & report.harmonisation["la_code"].isin(CUMBRIA_SUCCESSORS)]
        years = sorted(set(built.loc[built["origin"] == "apportioned", "year"]))
        assert set(range(2013, 2023)) <= set(years)
        for year in years:
            parts = panel.counts[service].loc[CUMBRIA_SUCCESSORS, year]
            assert parts.sum() == cumbria.loc[year]
            assert (parts == np.round(parts)).all() and (parts > 0).all()
        assert all(built["detail"].str.contains(CUMBRIA))


def test_harmonisation_table_shows_every_reorganisation(england):
    _, report = england
    table = report.harmonisation
    assert list(table.columns) == ["service", "la_code", "la_name", "year", "origin",
                                   "value", "detail"]
    names = set(table["la_name"])
    for name in ("Cumberland", "North Northamptonshire", "West Northamptonshire",
                 "Buckinghamshire", "North Yorkshire", "Somerset", "Dorset",
                 "Bournemouth, Christchurch and Poole"):
        assert name in names
    yorkshire = table[(table["la_code"] == "E06000065") & (table["service"] == "cin")]
    assert set(yorkshire["origin"]) == {"predecessor"}
    assert set(table["origin"]) <= {"predecessor", "apportioned", "imputed", "reconstructed"}


def test_exposure_present_for_every_la_year_and_matches_dfe(england, data_dir):
    panel, report = england
    expo = panel.exposure_array()
    assert expo.shape == (153, 13) and np.isfinite(expo).all() and (expo > 0).all()
    raw = raw_la_values(data_dir, POPULATION, "population_estimate",
                        age_group="Children aged 0 to 17 years")
    raw = raw.set_index(["la_code", "year"])["value"]
    # Reporting year T uses the mid-year T-1 estimate.
    assert panel.exposure.loc["E06000001", 2020] == raw.loc[("E06000001", 2019)]
    assert panel.exposure.loc["E09000001", 2025] == raw.loc[("E09000001", 2024)]
    cumbria = panel.exposure.loc[CUMBRIA_SUCCESSORS, 2014].sum()
    assert cumbria == pytest.approx(raw.loc[(CUMBRIA, 2013)])
    imputed = report.harmonisation[report.harmonisation["origin"] == "imputed"]
    assert set(imputed["la_code"]) == {"E06000058", "E06000059"}  # BCP and Dorset
    assert set(imputed["year"]) == set(range(2013, 2020))
    np.testing.assert_allclose(panel.lsoa_exposure(2020).sum(), expo[:, 7].sum())


def test_indicators_finite_and_agree_with_imd(england, data_dir):
    panel, _ = england
    iod = pd.read_csv(data_dir / "iod2019/iod2019_lsoa11_merged.csv.gz",
                      usecols=["lsoa11cd", "imd_score"]).set_index("lsoa11cd")
    imd = iod["imd_score"].reindex(panel.covariates.index)
    assert np.isfinite(panel.covariates.to_numpy()).all()
    corr = panel.covariates.corrwith(imd, method="spearman")
    assert (corr > 0.1).all(), corr
    assert corr["income"] > 0.9 and corr["idaci"] > 0.8
    # Normal scores of national ranks: mean 0 and sd 1 over England's LSOAs.
    np.testing.assert_allclose(panel.covariates["income"].mean(), 0.0, atol=1e-9)
    assert panel.covariates["income"].std() == pytest.approx(1.0, abs=0.01)
    assert np.isfinite(panel.la_indicator_means().to_numpy()).all()


def test_report_is_json_ready_and_panel_hash_stable(england):
    panel, report = england
    text = json.dumps(report.to_dict())
    back = json.loads(text)
    assert back["service_years"]["cla"][0] == 2018
    assert back["observed_la_years"]["cin"] == int(report.observed.loc["cin"].sum())
    assert len(panel.data_hash()) == 16
    assert panel.up_to(2022).data_hash() != panel.data_hash()
    early = panel.up_to(2022)
    assert early.last_count_year == 2022 and early.forecast_years == (2023, 2024, 2025)
    assert np.isfinite(early.exposure_array()).all()


def test_year_range_and_raw_indicator(data_dir):
    panel, report = england_panel_data(data_dir, years=range(2020, 2023), services=["cla"],
                                       indicators=["imd", "imd_score"])
    assert panel.years == (2020, 2021, 2022) and panel.services == ("cla",)
    assert panel.covariate_names == ("imd", "imd_score")
    assert panel.covariates["imd"].corr(panel.covariates["imd_score"], method="spearman") \
        == pytest.approx(1.0, abs=1e-6)
    assert report.service_years == {"cla": (2020, 2021, 2022)}


@pytest.mark.parametrize(("kwargs", "pattern"), [
    ({"services": ["cin", "adoption"]}, r"adoption.*choose from"),
    ({"indicators": ["wealth"]}, r"wealth.*choose from"),
    ({"years": range(2024, 2028)}, r"\[2026, 2027\].*2013-2025.*extend_exposure"),
    ({"years": [2015, 2017]}, "consecutive"),
    ({"years": range(2013, 2016), "services": ["cla"]}, "no counts"),
    ({"years": range(2030, 2026)}, r"no reporting years asked for.*2013-2025"),
])
def test_bad_options_raise_config_errors(data_dir, kwargs, pattern):
    with pytest.raises(ConfigError, match=pattern):
        england_panel_data(data_dir, **kwargs)


def test_missing_data_dir(tmp_path):
    with pytest.raises(MissingDataError, match="required data file"):
        england_panel_data(tmp_path)


def damaged_population(data_dir, tmp_path, drop) -> Path:
    """A copy of the files a CIN panel reads, minus the population rows ``drop`` selects."""
    for relative in england_files(["cin"]):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_dir / relative, tmp_path / relative)
    raw = pd.read_csv(tmp_path / POPULATION, dtype=str, keep_default_na=False)
    raw[~drop(raw)].to_csv(tmp_path / POPULATION, index=False)
    return tmp_path


def test_a_missing_mid_year_names_the_file_by_default(data_dir, tmp_path):
    root = damaged_population(data_dir, tmp_path, lambda f: f["time_period"] == "2016")
    with pytest.raises(DataValidationError) as excinfo:
        england_panel_data(root, services=["cin"], indicators=["idaci"])
    assert excinfo.value.source == str(root / POPULATION)
    assert "time_period (mid-year) [2016]" in str(excinfo.value)
    assert "reporting year(s) [2017]" in str(excinfo.value)


def test_only_a_new_la_is_imputed_not_one_whose_predecessor_row_is_gone(data_dir, tmp_path):
    # Bournemouth, Christchurch and Poole before 2019 is rebuilt from its predecessors' rows
    # (all 'x'); with Bournemouth's mid-2015 row dropped that year is a hole, not imputed.
    root = damaged_population(data_dir, tmp_path, lambda f: (f["new_la_code"] == "E06000028")
                              & (f["time_period"] == "2015"))
    with pytest.raises(DataValidationError) as excinfo:
        england_panel_data(root, years=range(2015, 2021), services=["cin"],
                           indicators=["idaci"])
    problems = excinfo.value.problems
    assert len(problems) == 1, problems
    assert "LA E06000058 (Bournemouth, Christchurch and Poole) in time_period 2015" in \
        problems[0]
    assert "reporting year 2016" in problems[0] and "predecessor(s) E06000028" in problems[0]
