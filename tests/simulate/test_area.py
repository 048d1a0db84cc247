"""Tests of the seeded synthetic England and the truth it returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.area import AreaData
from bayes_needs.data.covariates import standardise
from bayes_needs.data.spend import SpendData
from bayes_needs.simulate.area import SERVICE_PARAMETERS, SyntheticArea, generate_area


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


def test_service_draws_do_not_depend_on_other_services(tiny):
    alone = generate_area("tiny", random_seed=11, services=["cla"])
    for name in ("count", "la_effect", "msoa_effect", "lambda", "need"):
        xr.testing.assert_allclose(alone.truth[name].sel(service="cla"),
                                   tiny.truth[name].sel(service="cla"))


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
