"""Tests for :mod:`bayes_needs.workflows.report_decision`: the decision-maker section's
baseline, child populations, deprivation and map, from a run's data and allocation."""

from __future__ import annotations

import gzip
import json
from importlib import resources
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_needs.allocation import allocate
from bayes_needs.config.run import RunConfig
from bayes_needs.core import dims
from bayes_needs.data.hexmap import HEXJSON_FILE
from bayes_needs.data.readers.iod_scores import read_la_imd_scores
from bayes_needs.data.readers.lookups import LOOKUP_FILE, district_las, read_lookup
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


def with_la_codes(data, codes):
    """The same data with its LAs renamed to ``codes`` (in the geography's order)."""
    geography = type(data.geography).from_frame(
        data.geography.to_frame().assign(
            la_code=lambda f: f["la_code"].map(dict(zip(
                data.geography.la_codes, codes, strict=True)))))
    return type(data)(geography, data.covariates, data.exposure, data.observations,
                      data.services, data.year, data.source)


def write_made_up_lookup(data_dir, la_codes) -> pd.Series:
    """A lookup file with one LSOA per English district of the shipped hexjson, the districts
    given to ``la_codes`` in turn; return that district -> LA mapping."""
    text = resources.files("bayes_needs.data").joinpath(HEXJSON_FILE).read_text("utf-8")
    districts = sorted(c for c in json.loads(text)["hexes"] if c.startswith("E"))
    las = [la_codes[i % len(la_codes)] for i in range(len(districts))]
    n = len(districts)
    frame = pd.DataFrame({
        "lsoa11cd": [f"E0100{i:04d}" for i in range(n)], "lsoa11nm": "L",
        "msoa11cd": [f"E0200{i:04d}" for i in range(n)], "msoa11nm": "M",
        "lad19cd": districts, "lad19nm": "D", "lad23cd": districts, "lad23nm": "D",
        "utla23cd": las, "utla23nm": las, "rgn11cd": "E12000001", "rgn11nm": "R",
        "dfe_la_number": [800 + la_codes.index(la) for la in las], "dfe_la_name": las})
    path = data_dir / LOOKUP_FILE
    path.parent.mkdir(parents=True)
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        frame.to_csv(handle, index=False)
    return pd.Series(las, index=districts)


def england_fit(data, data_dir):
    config = RunConfig.model_validate(
        {"data": {"source": "england", "data_dir": str(data_dir), "year": 2019}})
    return SimpleNamespace(model=SimpleNamespace(data=data), config=config)


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


def test_an_england_run_maps_its_districts_by_the_lookup_of_its_data_dir(data, tmp_path):
    codes = [f"XLA{i:03d}" for i in range(data.geography.n_la)]
    mapping = write_made_up_lookup(tmp_path, codes)
    run = with_la_codes(data, codes)
    inputs = decision_inputs(england_fit(run, tmp_path), allocation_of(run))
    hexes = inputs.layout.hexes
    assert inputs.layout.geographic and len(hexes) == 296
    pd.testing.assert_series_equal(hexes["la_code"], mapping.reindex(hexes.index),
                                   check_names=False)
    # No IoD files in this data dir: the deprivation falls back to the covariate, said so.
    assert "'imd'" in inputs.deprivation_label
    assert any("IMD 2019 scores could not be read" in n for n in inputs.notes)
    assert not any("grid" in n for n in inputs.notes)


def test_an_england_run_with_an_la_its_lookup_lacks_gets_a_grid_naming_it(data, tmp_path):
    codes = [f"XLA{i:03d}" for i in range(data.geography.n_la - 1)] + ["E99999999"]
    write_made_up_lookup(tmp_path, codes[:-1])
    run = with_la_codes(data, codes)
    inputs = decision_inputs(england_fit(run, tmp_path), allocation_of(run))
    assert not inputs.layout.geographic
    assert any("1 LA code(s) of the run are not upper-tier LAs" in n and "E99999999" in n
               for n in inputs.notes)


def test_an_england_run_whose_lookup_cannot_be_read_gets_a_grid_and_says_why(data, tmp_path):
    inputs = decision_inputs(england_fit(data, tmp_path), allocation_of(data))
    assert not inputs.layout.geographic
    assert any("lookup of the data directory could not be read" in n and LOOKUP_FILE in n
               for n in inputs.notes)


@pytest.mark.realdata
def test_real_england_uses_the_la_imd_score_and_the_map(data, data_dir):
    real = district_las(read_lookup(data_dir))
    real_codes = sorted(set(real))[: data.geography.n_la]
    run = with_la_codes(data, real_codes)
    inputs = decision_inputs(england_fit(run, data_dir), allocation_of(run))
    scores = read_la_imd_scores(data_dir)["imd_score"]
    np.testing.assert_allclose(inputs.deprivation, scores.loc[list(inputs.children.index)])
    assert "IMD 2019" in inputs.deprivation_label
    hexes = inputs.layout.hexes
    assert inputs.layout.geographic and len(hexes) == 296
    assert hexes.loc["E07000178", "la_code"] == "E10000025"  # Oxford -> Oxfordshire
    assert any(f"{153 - len(real_codes)} English LA(s) are not in this run" in n
               for n in inputs.notes)


@pytest.mark.realdata
def test_synthetic_codes_with_the_real_data_dir_get_a_grid_naming_them(data, data_dir):
    inputs = decision_inputs(england_fit(data, data_dir), allocation_of(data))
    assert not inputs.layout.geographic
    outside = [str(c) for c in data.geography.la_codes]
    assert any(f"{len(outside)} LA code(s) of the run are not upper-tier LAs" in n
               and outside[0] in n for n in inputs.notes)
