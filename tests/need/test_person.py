"""Expected need from a person-model fit (bayes_needs.need.person): the fully standardised
need against a direct calculation over the ONS population, dims, reproducibility, the
held-out-LA moments, a clear error without a population, and the binary family. A mocked
sampler's prior draws stand in for MCMC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from person_world import SERVICES, linear_predictor, make_world, person_data
from sampling_mocks import patched_sample

from bayes_needs import need as need_api
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.models.person import PersonDemandModel
from bayes_needs.need.person import expected_need, la_total_moments


@pytest.fixture(scope="module")
def world():
    return make_world()


@pytest.fixture(scope="module")
def fitted(world):
    model = PersonDemandModel(person_data(world))
    with patched_sample():
        idata = model.fit(random_seed=3, draws=20, chains=1, progressbar=False)
    return model, idata


def test_fully_standardised_need_is_the_covariate_part_over_the_population(fitted, world):
    model, idata = fitted
    need = expected_need(model, idata, random_seed=1, standardise="all")["need"]
    post = idata.posterior
    topup = model.data.topup
    geo = world.geography
    pattern = topup.patterns[topup.pattern]
    frame = pd.DataFrame({"lsoa_code": geo.lsoa_codes[topup.lsoa],
                          "age_band": np.asarray(topup.levels["age_band"])[pattern[:, 0]],
                          "sex": np.asarray(topup.levels["sex"])[pattern[:, 1]],
                          "fsm": np.asarray(topup.levels["fsm"])[pattern[:, 2]]})
    la = geo.lsoa_to_la[topup.lsoa]
    for draw in (0, 7):
        v = {k: post[k].isel(chain=0, draw=draw).to_numpy()
             for k in ("intercept", "beta", "gamma", "sigma_la")}
        rate = np.exp(linear_predictor(world, frame, v)) * topup.child_years[:, None]
        want = np.stack([np.bincount(la, rate[:, j], minlength=geo.n_la)
                         for j in range(len(SERVICES))], axis=1) * np.exp(v["sigma_la"]**2 / 2)
        np.testing.assert_allclose(need.isel(chain=0, draw=draw).to_numpy(), want, rtol=1e-10)


def test_need_dims_values_and_reproducibility(fitted):
    model, idata = fitted
    first = expected_need(model, idata, random_seed=5)
    again = expected_need(model, idata, random_seed=5)
    other = expected_need(model, idata, random_seed=6)
    assert first["need"].dims == (dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)
    assert np.isfinite(first["need"]).all() and (first["need"] > 0).all()
    xr.testing.assert_identical(first, again)
    assert not np.array_equal(first["fitted"], other["fitted"])
    totals = model.data.cells.la_totals().to_numpy()
    np.testing.assert_array_equal(first["observed"].to_numpy(), totals)


def test_unknown_standardisation_is_a_config_error(fitted):
    model, idata = fitted
    with pytest.raises(ConfigError, match="standardise"):
        expected_need(model, idata, random_seed=1, standardise="msoa")


def test_dispatch_picks_the_person_need(fitted):
    model, idata = fitted
    xr.testing.assert_identical(need_api.expected_need(model, idata, random_seed=5),
                                expected_need(model, idata, random_seed=5))


def test_la_total_moments_sum_the_population_rates(fitted):
    """``s1`` is the fully standardised need without the lognormal LA correction."""
    model, idata = fitted
    moments = la_total_moments(model, idata)
    need = expected_need(model, idata, random_seed=1, standardise="all")["need"]
    sigma = moments["sigma"]
    assert sigma is not None and moments["s1"] is not None and moments["s2"] is not None
    flat = need.transpose(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE).to_numpy()
    flat = flat.reshape(-1, *flat.shape[2:])
    np.testing.assert_allclose(moments["s1"] * np.exp(sigma[:, None, :] ** 2 / 2), flat,
                               rtol=1e-10)
    assert (moments["s2"] <= moments["s1"] ** 2 * (1 + 1e-12)).all()


def test_need_without_population_is_a_clear_error(world, mocked_sampler):
    model = PersonDemandModel(person_data(world, population=False))
    idata = model.fit(random_seed=3, draws=5, chains=1, progressbar=False)
    with pytest.raises(DataValidationError, match="no ONS population"):
        expected_need(model, idata, random_seed=1)


def test_bernoulli_need_runs_and_marginalises(world, mocked_sampler):
    records = world.records.copy()
    records[list(SERVICES)] = (records[list(SERVICES)] > 0).astype(int)
    model = PersonDemandModel(person_data(world, records), {"family": "bernoulli",
                                                            "quadrature_nodes": 12})
    idata = model.fit(random_seed=3, draws=4, chains=1, progressbar=False)
    need = expected_need(model, idata, random_seed=1)["need"]
    population = model.data.topup.la_population().to_numpy()
    assert ((need > 0) & (need < population[None, None, :, None])).all()
