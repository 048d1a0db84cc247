"""Tests for :mod:`bayes_needs.workflows.report_decision`: the decision-maker section's
baseline, child populations, deprivation and map, from a run's data and allocation."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_needs.allocation import allocate
from bayes_needs.config.run import RunConfig
from bayes_needs.core import dims
from bayes_needs.data.hexmap import england_hexes
from bayes_needs.data.readers.iod_scores import read_la_imd_scores
from bayes_needs.simulate.area import generate_area
from bayes_needs.workflows.report_decision import decision_inputs


@pytest.fixture(scope="module")
def data():
    return generate_area("tiny", random_seed=5, services=("cin",)).data


def fit_of(data, **data_spec):
    config = RunConfig.model_validate({"data": {"source": "synthetic", **data_spec}})
    return SimpleNamespace(model=SimpleNamespace(data=data), config=config)


def allocation_of(data, baseline=None):
    codes = [str(c) for c in data.geography.la_codes]
    rng = np.random.default_rng(2)
    need = xr.DataArray(rng.gamma(10.0, 1.0, size=(2, 50, len(codes), 1)),
                        dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
                        coords={dims.LA: codes, dims.SERVICE: ["cin"]})
    return allocate(need, {"cin": 1.0}, pot=5e6, baseline=baseline, random_seed=2)


def per_la(data, values) -> pd.Series:
    """Sum LSOA values per LA with pandas, independently of the geography helper."""
    table = data.geography.to_frame()
    return pd.Series(values, index=table["la_code"].to_numpy()).groupby(level=0).sum()


def test_synthetic_run_children_population_baseline_covariate_and_grid(data):
    inputs = decision_inputs(fit_of(data), allocation_of(data))
    codes = list(inputs.children.index)
    children = per_la(data, data.exposure).loc[codes]
    np.testing.assert_allclose(inputs.children, children)
    np.testing.assert_allclose(inputs.baseline_share, children / children.sum())
    assert "population share" in inputs.baseline_label
    imd = per_la(data, data.covariates["imd"].to_numpy() * data.exposure).loc[codes] / children
    np.testing.assert_allclose(inputs.deprivation, imd)
    assert "'imd'" in inputs.deprivation_label
    assert not inputs.layout.geographic and any("grid" in n for n in inputs.notes)
    assert inputs.pot == 5e6 and inputs.currency == "GBP"


def test_the_runs_own_baseline_is_used_when_no_file_is_given(data):
    codes = [str(c) for c in data.geography.la_codes]
    baseline = pd.Series(np.arange(1.0, len(codes) + 1), index=codes)
    inputs = decision_inputs(fit_of(data), allocation_of(data, baseline=baseline))
    np.testing.assert_allclose(inputs.baseline_share.loc[codes],
                               baseline / baseline.sum())
    assert "the run's allocation baseline" in inputs.baseline_label


def test_a_run_without_covariates_gets_no_deprivation(data):
    bare = type(data)(data.geography, data.covariates[[]], data.exposure, data.observations,
                      data.services, data.year, data.source)
    inputs = decision_inputs(fit_of(bare), allocation_of(bare))
    assert inputs.deprivation is None and any("no covariates" in n for n in inputs.notes)


@pytest.mark.realdata
def test_real_england_uses_the_la_imd_score_and_the_map(data, data_dir):
    real_codes = england_hexes().la_codes[: data.geography.n_la]
    geography = type(data.geography).from_frame(
        data.geography.to_frame().assign(
            la_code=lambda f: f["la_code"].map(dict(zip(
                data.geography.la_codes, real_codes, strict=True)))))
    real = type(data)(geography, data.covariates, data.exposure, data.observations,
                      data.services, data.year, data.source)
    fit = SimpleNamespace(model=SimpleNamespace(data=real), config=RunConfig.model_validate(
        {"data": {"source": "england", "data_dir": str(data_dir), "year": 2019}}))
    inputs = decision_inputs(fit, allocation_of(real))
    scores = read_la_imd_scores(data_dir)["imd_score"]
    np.testing.assert_allclose(inputs.deprivation, scores.loc[list(inputs.children.index)])
    assert "IMD 2019" in inputs.deprivation_label
    assert inputs.layout.geographic
    assert any(f"{153 - len(real_codes)} English LA(s) are not in this run" in n
               for n in inputs.notes)
