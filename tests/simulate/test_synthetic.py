"""Tests of the seeded synthetic England and the truth it returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.containers import AreaData, PersonData, SpendData
from bayes_needs.simulate.synthetic import (
    COVARIATES,
    SERVICE_PARAMETERS,
    SyntheticArea,
    generate_area,
    generate_geography,
    generate_persons,
    standardise,
)


@pytest.fixture(scope="module")
def tiny() -> SyntheticArea:
    return generate_area("tiny", random_seed=11)


@pytest.fixture(scope="module")
def region() -> SyntheticArea:
    return generate_area("region", random_seed=5)


@pytest.fixture(scope="module")
def england() -> SyntheticArea:
    return generate_area("england", random_seed=2024)


@pytest.fixture(scope="module")
def tiny_persons(tiny):
    return generate_persons(tiny, random_seed=3, coverage=0.8)


def _lsoa_frame(area: SyntheticArea) -> pd.DataFrame:
    """One row per LSOA with its MSOA and LA codes, built from the geography table."""
    return area.data.geography.to_frame()[["lsoa_code", "msoa_code", "la_code"]]


def _frames(area: SyntheticArea) -> list[pd.DataFrame]:
    return [area.data.observations, area.data.covariates.reset_index(),
            pd.DataFrame({"exposure": area.data.exposure}), area.spend.spend,
            area.spend.volumes]


# ---------------------------------------------------------------- determinism
def test_same_seed_gives_identical_data_and_truth(tiny):
    again = generate_area("tiny", random_seed=11)
    for first, second in zip(_frames(tiny), _frames(again), strict=True):
        pd.testing.assert_frame_equal(first, second)
        np.testing.assert_array_equal(pd.util.hash_pandas_object(first, index=True),
                                      pd.util.hash_pandas_object(second, index=True))
    assert tiny.data.data_hash() == again.data.data_hash()
    assert tiny.truth.identical(again.truth)


def test_different_seeds_differ(tiny):
    other = generate_area("tiny", random_seed=12)
    assert tiny.data.data_hash() != other.data.data_hash()
    assert not np.allclose(tiny.truth["la_effect"].to_numpy(),
                           other.truth["la_effect"].to_numpy())


def test_geography_alone_matches_geography_in_area(tiny):
    geography, lsoa_table = generate_geography("tiny", random_seed=11)
    assert geography.fingerprint() == tiny.data.geography.fingerprint()
    np.testing.assert_array_equal(lsoa_table["children"].to_numpy(), tiny.data.exposure)
    np.testing.assert_array_equal(lsoa_table[list(COVARIATES)].to_numpy(),
                                  tiny.data.covariates.to_numpy())


def test_service_draws_do_not_depend_on_other_services(tiny):
    alone = generate_area("tiny", random_seed=11, services=["cla"])
    for name in ("count", "la_effect", "msoa_effect", "lambda", "need"):
        xr.testing.assert_allclose(alone.truth[name].sel(service="cla"),
                                   tiny.truth[name].sel(service="cla"))


# ---------------------------------------------------------------- geography
@pytest.mark.parametrize(("scale", "n_la", "msoa_range", "lsoa_range"), [
    ("tiny", (8, 8), (40, 80), (200, 400)),
    ("region", (10, 15), (400, 700), (1900, 3400)),
])
def test_unit_counts_small_scales(scale, n_la, msoa_range, lsoa_range):
    geo = generate_geography(scale, random_seed=1).geography
    assert n_la[0] <= geo.n_la <= n_la[1]
    assert msoa_range[0] <= geo.n_msoa <= msoa_range[1]
    assert lsoa_range[0] <= geo.n_lsoa <= lsoa_range[1]


def test_england_unit_counts_and_nesting(england):
    geo = england.data.geography
    assert geo.n_la == 153
    assert 6000 <= geo.n_msoa <= 7500
    assert 30_000 <= geo.n_lsoa <= 36_000
    lsoas_per_msoa = _lsoa_frame(england).groupby("msoa_code").size()
    assert lsoas_per_msoa.between(3, 8).all()
    assert 4.6 <= lsoas_per_msoa.mean() <= 5.1
    lsoas_per_la = _lsoa_frame(england).groupby("la_code").size()
    assert lsoas_per_la.between(5, 1100).all()
    assert 150 <= lsoas_per_la.median() <= 240
    assert all(code.startswith("SLA") for code in geo.la_codes)
    assert geo.la_names[0] == "Synthetic LA 001"


def test_england_covariates_and_population_are_realistic(england):
    cov = england.data.covariates
    children = england.data.exposure
    assert ((cov["idaci"] > 0) & (cov["idaci"] < 1)).all()
    assert 0.15 <= cov["idaci"].mean() <= 0.19
    assert cov["idaci"].mean() > cov["idaci"].median()  # right-skewed
    assert 0.55 <= cov["idaci"].max() <= 0.8
    assert ((cov["imd"] >= 0) & (cov["imd"] <= 90)).all()
    assert 0.8 <= np.corrcoef(cov["idaci"], cov["imd"])[0, 1] <= 0.9
    assert children.min() >= 20
    np.testing.assert_array_equal(children, np.round(children))
    assert 340 <= children.mean() <= 390
    assert 0.25 <= np.std(np.log(children)) <= 0.35
    # Spatial structure: LSOAs in the same LA resemble each other.
    la_share = cov["idaci"].groupby(_lsoa_frame(england)["la_code"].to_numpy()).transform(
        "mean").var() / cov["idaci"].var()
    assert la_share > 0.1


# ---------------------------------------------------------------- realistic strengths
def test_england_cla_rate_and_deprivation_gradient(england):
    counts = england.truth["count"].to_pandas()
    children = england.data.exposure
    national = counts.sum() / children.sum() * 1e4
    assert 55 <= national["cla"] <= 85
    for service, target in SERVICE_PARAMETERS["rate_per_10k"].items():
        assert national[service] == pytest.approx(target, rel=0.15)
    decile = pd.qcut(england.data.covariates["idaci"].to_numpy(), 10, labels=False)
    rate = counts.groupby(decile).sum()["cla"] / pd.Series(children).groupby(decile).sum()
    assert 7 <= rate[9] / rate[0] <= 14


def test_intercept_and_beta_hit_their_targets(region):
    truth = region.truth
    z = standardise(region.data.covariates)[0].to_numpy()
    children = region.data.exposure
    relative = np.exp(z @ truth["beta"].to_numpy().T)
    expected_rate = (np.exp(truth["intercept"] + truth["sigma_la"] ** 2 / 2).to_numpy()
                     * (children @ relative) / children.sum() * 1e4)
    np.testing.assert_allclose(expected_rate, truth["rate_per_10k"], rtol=1e-9)
    decile = pd.qcut(region.data.covariates["idaci"].to_numpy(), 10, labels=False)
    lam = truth["lambda"].to_pandas()
    rate = lam.groupby(decile).sum().div(pd.Series(children).groupby(decile).sum(), axis=0)
    np.testing.assert_allclose(rate.iloc[9] / rate.iloc[0], truth["rate_ratio"], rtol=1e-6)
    beta = truth["beta"].to_pandas()
    assert (beta["idaci"] > 3 * beta["imd"]).all() and (beta["imd"] > 0).all()


def test_truth_parameters_in_contract_ranges(tiny):
    truth = tiny.truth
    assert ((truth["sigma_la"] >= 0.2) & (truth["sigma_la"] <= 0.3)).all()
    assert ((truth["msoa_cv"] >= 0.15) & (truth["msoa_cv"] <= 0.25)).all()
    corr = truth["la_corr"].to_numpy()
    np.testing.assert_array_equal(np.diag(corr), 1.0)
    np.testing.assert_array_equal(corr[~np.eye(len(corr), dtype=bool)], 0.5)
    assert truth.attrs == {**truth.attrs, "scale": "tiny", "seed": 11, "family": "negbin"}


# ---------------------------------------------------------------- truth consistency
def test_need_matches_formula_recomputed_from_truth(tiny):
    truth = tiny.truth
    frame = _lsoa_frame(tiny)
    z = standardise(tiny.data.covariates)[0].to_numpy()
    lam = tiny.data.exposure[:, None] * np.exp(
        truth["intercept"].to_numpy() + z @ truth["beta"].to_numpy().T)
    np.testing.assert_allclose(truth["lambda"].to_numpy(), lam, rtol=1e-12)

    lam_msoa = pd.DataFrame(lam).groupby(frame["msoa_code"].to_numpy()).sum()
    msoa_effect = truth["msoa_effect"].to_pandas()
    la_of_msoa = frame.drop_duplicates("msoa_code").set_index("msoa_code")["la_code"]
    weighted = pd.DataFrame(msoa_effect.loc[lam_msoa.index].to_numpy() * lam_msoa.to_numpy(),
                            index=lam_msoa.index)
    by_la = weighted.groupby(la_of_msoa.loc[weighted.index].to_numpy()).sum()
    need = np.exp(truth["sigma_la"].to_numpy() ** 2 / 2) * by_la.to_numpy()
    np.testing.assert_allclose(truth["need"].to_numpy(), need, rtol=1e-12)
    actual = np.exp(truth["la_effect"].to_numpy()) * by_la.to_numpy()
    np.testing.assert_allclose(truth["need_actual"].to_numpy(), actual, rtol=1e-12)

    share = need @ truth["unit_cost"].to_numpy()
    np.testing.assert_allclose(truth["needs_share"], share / share.sum(), rtol=1e-12)
    assert truth["needs_share"].sum() == pytest.approx(1.0)


def test_observations_are_aggregates_of_the_true_counts(tiny):
    frame = _lsoa_frame(tiny)
    counts = tiny.truth["count"].to_pandas()
    obs = tiny.data.observations
    levels = tiny.truth["observation_level"].to_pandas()
    key = {dims.LSOA: "lsoa_code", dims.MSOA: "msoa_code", dims.LA: "la_code"}
    for service in tiny.data.services:
        for level, column in key.items():
            truth_sums = counts[service].groupby(frame[column].to_numpy()).sum()
            rows = obs[(obs["service"] == service) & (obs["level"] == level)]
            np.testing.assert_array_equal(
                rows["count"].to_numpy(), truth_sums.loc[rows["area_code"]].to_numpy())
            # Exactly the LAs at this level publish at this level, for all their units.
            las = sorted(levels.index[levels[service] == level])
            units = frame.loc[frame["la_code"].isin(las), column].unique()
            assert sorted(rows["area_code"]) == sorted(units)
    assert set(obs["service"]) <= set(tiny.data.services)
    la_totals = tiny.data.la_totals()
    observed = levels.to_numpy() != dims.NONE
    np.testing.assert_array_equal(la_totals.to_numpy()[observed],
                                  tiny.truth["la_count"].to_numpy()[observed])
    assert np.isnan(la_totals.to_numpy()[~observed]).all()


def test_msoa_totals_follow_their_poisson_mean(region):
    # Sum over MSOAs of (Y_m - mu_m)^2 / mu_m has expectation n_msoa under the model.
    truth = region.truth
    frame = _lsoa_frame(region)
    counts = truth["count"].to_pandas().groupby(frame["msoa_code"].to_numpy()).sum()
    mean = truth["expected"].to_pandas().groupby(frame["msoa_code"].to_numpy()).sum()
    pearson = (((counts - mean) ** 2) / mean).sum() / len(counts)
    assert pearson.between(0.8, 1.2).all()


@pytest.mark.parametrize("family", ["negbin", "poisson"])
def test_within_msoa_split_dispersion(family):
    area = generate_area("region", random_seed=7, family=family,
                         services=["referrals", "cla_weeks"])
    truth = area.truth
    msoa = _lsoa_frame(area)["msoa_code"].to_numpy()
    counts = truth["count"].to_pandas()
    lam = truth["lambda"].to_pandas()
    msoa_total = counts.groupby(msoa).transform("sum")
    share = lam / lam.groupby(msoa).transform("sum")
    fitted = msoa_total * share
    statistic = (((counts - fitted) ** 2) / fitted).where(fitted > 0).sum()
    # Multinomial: E = sum_m (n_m - 1); Dirichlet-multinomial inflates each MSOA's terms
    # by (Y_m + a_m) / (1 + a_m), a_m = Lambda_m / lsoa_dispersion.
    n_m = pd.Series(msoa).value_counts()
    totals = counts.groupby(msoa).sum()
    expected = {}
    for service in counts.columns:
        inflation = 1.0
        if family == "negbin":
            a_m = lam[service].groupby(msoa).sum() / float(
                truth["lsoa_dispersion"].sel(service=service))
            inflation = (totals[service] + a_m) / (1 + a_m)
        expected[service] = ((n_m.loc[totals.index] - 1) * inflation
                             * (totals[service] > 0)).sum()
    ratio = statistic / pd.Series(expected)
    assert ratio.between(0.85, 1.15).all(), ratio.to_dict()
    if family == "negbin":
        assert (statistic / sum(n_m - 1))["cla_weeks"] > 10


# ---------------------------------------------------------------- observation levels
def test_every_observation_level_present_at_tiny(tiny):
    levels = tiny.truth["observation_level"].to_pandas()
    for service in levels.columns:
        assert {dims.LSOA, dims.MSOA, dims.LA} <= set(levels[service])
    assert (levels == dims.NONE).any().any()
    pd.testing.assert_frame_equal(tiny.data.observation_level, levels, check_names=False,
                                  check_dtype=False, check_column_type=False,
                                  check_index_type=False)
    assert isinstance(tiny.data, AreaData)
    assert tiny.data.services == dims.SERVICES


def test_observation_mix_is_respected():
    area = generate_area("tiny", random_seed=3, observation_mix={"la": 1.0})
    assert set(area.data.observations["level"]) == {dims.LA}
    assert (area.data.observation_level == dims.LA).all().all()


def test_england_observation_mix_near_default(england):
    levels = england.truth["observation_level"].to_pandas().stack()
    share = levels.value_counts(normalize=True)
    assert share[dims.LA] == pytest.approx(0.45, abs=0.06)
    assert share[dims.LSOA] == pytest.approx(0.25, abs=0.06)
    assert share[dims.NONE] == pytest.approx(0.05, abs=0.03)


def test_observed_share_uses_counts_where_observed(tiny):
    truth = tiny.truth
    observed = truth["observation_level"] != dims.NONE
    filled = xr.where(observed, truth["la_count"], truth["need_actual"])
    weighted = (filled * truth["unit_cost"]).sum(dims.SERVICE)
    xr.testing.assert_allclose(truth["observed_share"], weighted / weighted.sum())


# ---------------------------------------------------------------- spend
def test_spend_matches_volumes_unit_costs_and_price(tiny):
    assert isinstance(tiny.spend, SpendData)
    truth = tiny.truth
    volumes = tiny.spend.volumes.pivot(index="la_code", columns="activity", values="volume")
    np.testing.assert_array_equal(volumes[list(tiny.data.services)].to_numpy(),
                                  truth["la_count"].to_numpy())
    category = truth["spend_category"].to_series()
    cost = (volumes[list(category.index)] * truth["unit_cost"].to_series()).T.groupby(
        category.to_numpy()).sum().T
    spend = tiny.spend.spend.pivot(index="la_code", columns="category", values="spend")
    ratio = spend[cost.columns] / cost.mul(truth["price_factor"].to_numpy(), axis=0)
    assert np.abs(np.log(ratio.to_numpy())).max() < 0.25  # noise log sd 0.05
    unit_costs = tiny.unit_costs()
    assert "cla" not in unit_costs.activities and "cla_weeks" in unit_costs.activities


# ---------------------------------------------------------------- standardise and errors
def test_standardise_uses_population_sd():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 6.0], "b": [0.0, 0.0, 1.0, 1.0]})
    z, mean, std = standardise(frame)
    np.testing.assert_allclose(mean, [3.0, 0.5])
    np.testing.assert_allclose(std, [np.sqrt(3.5), 0.5])
    np.testing.assert_allclose(z["b"], [-1, -1, 1, 1])
    with pytest.raises(DataValidationError, match="constant"):
        standardise(pd.DataFrame({"a": [1.0, 1.0]}))


@pytest.mark.parametrize("kwargs", [
    {"scale": "galaxy"}, {"services": ["dentistry"]}, {"observation_mix": {"lsoa": -1}},
    {"observation_mix": {"ward": 1.0}}, {"family": "binomial"}, {"random_seed": -1},
])
def test_bad_arguments_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        generate_area(**{"scale": "tiny", "random_seed": 1, **kwargs})


# ---------------------------------------------------------------- persons
def test_person_records_validate(tiny_persons, tiny):
    data = tiny_persons.to_person_data()
    assert isinstance(data, PersonData)
    assert data.services == tiny.data.services
    records = data.records
    assert set(records["age_band"].astype(str)) == {"0-4", "5-9", "10-15", "16-17"}
    assert set(records["sex"].astype(str)) == {"F", "M"}
    assert set(records["fsm"].astype(str)) == {"N", "Y"}
    assert ((records["exposure"] > 0) & (records["exposure"] <= 1)).all()
    assert (records["exposure"] == 1).mean() == pytest.approx(0.9, abs=0.01)
    assert records["child_id"].is_unique


def test_population_totals_equal_child_populations(tiny_persons, tiny):
    frame = _lsoa_frame(tiny)
    by_la = pd.Series(tiny.data.exposure).groupby(frame["la_code"].to_numpy()).sum()
    population = tiny_persons.population.groupby("la_code")["population"].sum()
    np.testing.assert_array_equal(population.loc[by_la.index].to_numpy(), by_la.to_numpy())
    assert len(tiny_persons.population) == tiny.data.geography.n_la * 4 * 2


def test_coverage_fraction_near_requested(tiny_persons, tiny):
    everyone = pd.concat(list(tiny_persons.chunks(with_truth=True)), ignore_index=True)
    assert len(everyone) == tiny.data.exposure.sum()
    np.testing.assert_array_equal(everyone["child_id"], np.arange(len(everyone)))
    assert everyone["in_records"].mean() == pytest.approx(0.8, abs=0.03)
    coverage = tiny_persons.truth["coverage"].to_numpy()
    assert ((coverage >= 0.7) & (coverage <= 0.9)).all()
    la = _lsoa_frame(tiny).set_index("lsoa_code")["la_code"]
    realised = everyone.groupby(la.loc[everyone["lsoa_code"].astype(str)].to_numpy())[
        "in_records"].mean()
    np.testing.assert_allclose(realised.to_numpy(), coverage, atol=0.03)


def test_person_expectations_add_up_to_area_truth(tiny_persons, tiny):
    everyone = pd.concat(list(tiny_persons.chunks(with_truth=True)), ignore_index=True)
    truth = tiny_persons.truth
    lsoa = everyone["lsoa_code"].astype(str).to_numpy()
    for service in tiny.data.services:
        full_year = everyone[f"mean_{service}"] / everyone["exposure"]
        lsoa_total = full_year.groupby(lsoa).sum()
        area_expected = tiny.truth["expected"].sel(service=service).to_series()
        np.testing.assert_allclose(lsoa_total.loc[area_expected.index], area_expected,
                                   rtol=1e-9)
        # Within an LSOA, the child's risk is exp(gamma_age + gamma_sex + gamma_fsm).
        g = truth.sel(service=service)
        risk = np.exp(g["gamma_age"].to_series().loc[everyone["age_band"].astype(str)].to_numpy()
                      + g["gamma_sex"].to_series().loc[everyone["sex"].astype(str)].to_numpy()
                      + g["gamma_fsm"].to_series().loc[everyone["fsm"].astype(str)].to_numpy())
        scale = (full_year / risk).groupby(lsoa)
        np.testing.assert_allclose(scale.max() / scale.min(), 1.0, rtol=1e-9)
        observed, mean = everyone[service].sum(), everyone[f"mean_{service}"].sum()
        assert abs(observed - mean) < 4 * np.sqrt(mean) + 1


def test_fsm_rises_with_idaci(tiny_persons, tiny):
    everyone = pd.concat(list(tiny_persons.chunks(with_truth=True)), ignore_index=True)
    share = (everyone["fsm"] == "Y").groupby(everyone["lsoa_code"].astype(str)).mean()
    idaci = tiny.data.covariates["idaci"]
    assert np.corrcoef(share.loc[idaci.index], idaci)[0, 1] > 0.5


def test_persons_deterministic_and_chunked(tiny, tiny_persons):
    def records(persons):
        return pd.concat(list(persons.chunks()), ignore_index=True)

    same = generate_persons(tiny, random_seed=3, coverage=0.8)
    first, second = records(tiny_persons), records(same)
    assert first.equals(second)
    np.testing.assert_array_equal(pd.util.hash_pandas_object(first),
                                  pd.util.hash_pandas_object(second))
    other = records(generate_persons(tiny, random_seed=4, coverage=0.8))
    assert not first.equals(other)

    small = generate_persons(tiny, random_seed=3, chunk_size=5_000)
    largest_lsoa = int(tiny.data.exposure.max())
    sizes = [len(c) for c in small.chunks(with_truth=True)]
    assert len(sizes) > 10
    assert max(sizes) <= max(5_000, largest_lsoa)
    assert sum(sizes) == tiny.data.exposure.sum()
    assert all(str(c["lsoa_code"].dtype) == "category" for c in small.chunks())


def test_persons_to_parquet_round_trip(tiny_persons, tmp_path):
    path = tiny_persons.to_parquet(tmp_path / "out" / "persons.parquet")
    assert sorted(p.name for p in path.parent.iterdir()) == ["persons.parquet"]
    back = pq.read_table(path).to_pandas()
    expected = pd.concat(list(tiny_persons.chunks()), ignore_index=True)
    assert pq.ParquetFile(path).num_row_groups == sum(1 for _ in tiny_persons.chunks())
    assert back.equals(expected)
    assert back.dtypes.equals(expected.dtypes)


def test_person_data_refused_at_england_scale(england):
    persons = generate_persons(england, random_seed=1)
    assert persons.n_children > 10_000_000
    with pytest.raises(ConfigError, match="too many"):
        persons.to_person_data()
    population = persons.population.groupby("la_code")["population"].sum()
    assert population.sum() == england.data.exposure.sum()
