"""Simulated returns of a design: LA totals broken down with the generative model."""

from __future__ import annotations

import numpy as np
import pytest

from bayes_needs.core import dims
from bayes_needs.data.covariates import standardise
from bayes_needs.simulate.design_data import ParameterSet, simulate_breakdown, with_returns


@pytest.fixture(scope="module")
def setup(tiny):
    data, truth = tiny.data, tiny.truth
    z = standardise(data.covariates)[0].to_numpy(float)
    params = ParameterSet(truth["intercept"].to_numpy(), truth["beta"].to_numpy(),
                          truth["la_effect"].to_numpy(), truth["msoa_cv"].to_numpy(),
                          truth["lsoa_dispersion"].to_numpy())
    return data, z, params


def test_every_level_sums_to_the_one_above_and_published_totals_are_kept(setup):
    data, z, params = setup
    geo = data.geography
    breakdown = simulate_breakdown(data, z, params, seed=4, replicate=1)
    published = data.la_totals()
    assert published.isna().any().any()  # tiny has unobserved LA x service cells
    for service, b in breakdown.items():
        np.testing.assert_array_equal(geo.aggregate(b.lsoa_count, dims.LSOA, dims.MSOA),
                                      b.msoa_total)
        np.testing.assert_array_equal(geo.aggregate(b.msoa_total, dims.MSOA, dims.LA),
                                      b.la_total)
        known = np.isfinite(published[service].to_numpy())
        np.testing.assert_array_equal(b.la_total[known], published[service].to_numpy()[known])
        assert b.lsoa_count.sum() > 0


def test_the_same_seed_and_replicate_reproduce_and_others_differ(setup):
    data, z, params = setup
    first = simulate_breakdown(data, z, params, seed=4, replicate=1)
    again = simulate_breakdown(data, z, params, seed=4, replicate=1)
    other = simulate_breakdown(data, z, params, seed=4, replicate=2)
    for service in data.services:
        np.testing.assert_array_equal(first[service].lsoa_count, again[service].lsoa_count)
    assert any((first[s].lsoa_count != other[s].lsoa_count).any() for s in data.services)


@pytest.mark.parametrize("level", [dims.LSOA, dims.MSOA])
def test_returning_las_are_observed_at_the_level_and_their_totals_kept(setup, level):
    data, z, params = setup
    breakdown = simulate_breakdown(data, z, params, seed=4, replicate=1)
    levels = data.observation_level
    at_la = [c for c in levels.index if levels.loc[c, "cla"] == dims.LA][:2]
    assert at_la
    got = with_returns(data, breakdown, at_la, level, ["cla"])
    new_levels = got.observation_level
    for code in at_la:
        assert new_levels.loc[code, "cla"] == level
    others = [c for c in levels.index if c not in at_la]
    assert (new_levels.loc[others] == levels.loc[others]).all().all()
    assert (new_levels.drop(columns="cla") == levels.drop(columns="cla")).all().all()
    # The return breaks the published totals down; it does not change them.
    before, after = data.la_totals(), got.la_totals()
    np.testing.assert_array_equal(after.fillna(-1).to_numpy(), before.fillna(-1).to_numpy())
    assert got.data_hash() != data.data_hash()


def test_an_la_without_a_published_total_returns_a_simulated_one(setup):
    data, z, params = setup
    breakdown = simulate_breakdown(data, z, params, seed=4, replicate=1)
    levels = data.observation_level
    service = next(s for s in data.services if (levels[s] == dims.NONE).any())
    code = next(c for c in levels.index if levels.loc[c, service] == dims.NONE)
    got = with_returns(data, breakdown, [code], dims.LSOA, [service])
    assert got.observation_level.loc[code, service] == dims.LSOA
    la = list(data.geography.la_codes).index(code)
    assert got.la_totals().loc[code, service] == breakdown[service].la_total[la]
