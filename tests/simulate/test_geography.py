"""Tests of the synthetic geography: unit counts, nesting, covariates and populations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import ConfigError
from bayes_needs.simulate.area import SyntheticArea
from bayes_needs.simulate.geography import COVARIATES, generate_geography


def _lsoa_frame(area: SyntheticArea) -> pd.DataFrame:
    """One row per LSOA with its MSOA and LA codes, built from the geography table."""
    return area.data.geography.to_frame()[["lsoa_code", "msoa_code", "la_code"]]


def test_geography_alone_matches_geography_in_area(tiny):
    geography, lsoa_table = generate_geography("tiny", random_seed=11)
    assert geography.fingerprint() == tiny.data.geography.fingerprint()
    np.testing.assert_array_equal(lsoa_table["children"].to_numpy(), tiny.data.exposure)
    np.testing.assert_array_equal(lsoa_table[list(COVARIATES)].to_numpy(),
                                  tiny.data.covariates.to_numpy())


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


@pytest.mark.parametrize("kwargs", [{"scale": "galaxy"}, {"random_seed": -1},
                                    {"random_seed": True}, {"random_seed": 1.5}])
def test_bad_arguments_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        generate_geography(**{"scale": "tiny", "random_seed": 1, **kwargs})
