"""Expected need from an area-model fit (bayes_needs.need.area): dims and values, the fully
standardised need against a direct calculation, an LA without data, reproducibility by seed,
and a reloaded fit giving identical draws. A mocked sampler's prior draws stand in for MCMC.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from area_fits import SERVICES, fixed_rates, hidden_la_fit, tiny_area_data

from bayes_needs import need as need_api
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.need.area import expected_need


@pytest.fixture(scope="module")
def fitted():
    return hidden_la_fit(tiny_area_data())


@pytest.fixture(scope="module")
def needs(fitted):
    area, idata, _ = fitted
    return {s: expected_need(area, idata, random_seed=7, standardise=s)
            for s in ("la", "none", "all")}


def test_expected_need_dims_and_values(fitted, needs):
    area = fitted[0]
    for ds in needs.values():
        for name in ("need", "fitted"):
            assert ds[name].dims == (dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE)
            assert ds[name].shape == (2, 20, area.data.geography.n_la, len(SERVICES))
            values = ds[name].to_numpy()
            assert np.isfinite(values).all() and (values >= 0).all()
        assert list(ds[dims.LA].values) == list(area.data.geography.la_codes)
        np.testing.assert_array_equal(ds["observed"].to_numpy(),
                                      area.data.la_totals().to_numpy())
    assert not np.allclose(needs["la"]["need"], needs["none"]["need"])
    assert not np.allclose(needs["la"]["need"], needs["all"]["need"])


def test_fully_standardised_need_is_the_covariate_part(fitted, needs):
    """standardise='all' is exp(sigma_la^2/2) * sum of fixed rates, draw by draw."""
    area, idata, _ = fitted
    post = idata.posterior
    geo = area.data.geography
    expected = np.empty(needs["all"]["need"].shape)
    for c in range(post.sizes[dims.CHAIN]):
        for d in range(post.sizes[dims.DRAW]):
            draw = post.isel({dims.CHAIN: c, dims.DRAW: d})
            beta = draw["beta"].transpose(dims.SERVICE, dims.COVARIATE).to_numpy()
            lam = fixed_rates(area.data, draw["intercept"].to_numpy(), beta)
            la_rate = np.stack([np.bincount(geo.lsoa_to_la, weights=lam[:, j],
                                            minlength=geo.n_la) for j in range(len(SERVICES))],
                               axis=1)
            expected[c, d] = la_rate * np.exp(draw["sigma_la"].to_numpy() ** 2 / 2)
    np.testing.assert_allclose(needs["all"]["need"].to_numpy(), expected, rtol=1e-9)


def test_la_without_any_observation_gets_finite_need(fitted, needs):
    """With no data, its small-area effects enter as a prior draw of their mean-one gamma
    mean effect: the needs-standardised need is the covariate part times that draw (mean
    one over draws), and 'none' swaps the lognormal correction for its LA effect.
    """
    _, idata, hidden = fitted
    sel = {dims.LA: hidden}
    for ds in needs.values():
        assert np.isfinite(ds["need"].sel(sel)).all()
        assert (ds["need"].sel(sel) > 0).all()
        assert np.isnan(ds["observed"].sel(sel)).all()
    order = (dims.CHAIN, dims.DRAW, dims.SERVICE)
    standardised = needs["la"]["need"].sel(sel).transpose(*order).to_numpy()
    covariate_part = needs["all"]["need"].sel(sel).transpose(*order).to_numpy()
    rest_effect = standardised / covariate_part
    assert rest_effect.std() > 0
    assert abs(rest_effect.mean() - 1.0) < 4 * rest_effect.std() / np.sqrt(rest_effect.size)
    sigma = idata.posterior["sigma_la"].transpose(*order).to_numpy()
    la_effect = idata.posterior["la_effect"].sel(sel).transpose(*order).to_numpy()
    np.testing.assert_allclose(
        needs["none"]["need"].sel(sel).transpose(*order).to_numpy(),
        standardised / np.exp(sigma**2 / 2) * np.exp(la_effect), rtol=1e-9)


def test_expected_need_is_reproducible_by_seed(fitted, needs):
    area, idata, _ = fitted
    again = expected_need(area, idata, random_seed=7, standardise="la")
    xr.testing.assert_identical(again, needs["la"])
    other = expected_need(area, idata, random_seed=8, standardise="la")
    assert not np.array_equal(other["fitted"], needs["la"]["fitted"])
    assert not np.array_equal(other["need"], needs["la"]["need"])


def test_expected_need_rejects_unknown_standardisation(fitted):
    area, idata, _ = fitted
    with pytest.raises(ConfigError, match="standardise"):
        expected_need(area, idata, random_seed=1, standardise="lsoa")


def test_dispatch_picks_the_area_need(fitted, needs):
    area, idata, _ = fitted
    xr.testing.assert_identical(need_api.expected_need(area, idata, random_seed=7),
                                needs["la"])


def test_need_from_a_reloaded_fit_is_identical(fitted, needs, tmp_path):
    area, idata, _ = fitted
    path = area.save(idata, tmp_path / "fit.nc")
    loaded_area, loaded = AreaDemandModel.load(path, area.data)
    xr.testing.assert_identical(
        expected_need(loaded_area, loaded, random_seed=7, standardise="la"), needs["la"])
