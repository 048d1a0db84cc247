"""Tests of the synthetic child records and their consistency with the area truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bayes_needs.core.errors import ConfigError
from bayes_needs.data.person_records import PersonData
from bayes_needs.simulate.area import SyntheticArea
from bayes_needs.simulate.person import generate_persons


def _lsoa_frame(area: SyntheticArea) -> pd.DataFrame:
    """One row per LSOA with its MSOA and LA codes, built from the geography table."""
    return area.data.geography.to_frame()[["lsoa_code", "msoa_code", "la_code"]]


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


@pytest.mark.parametrize("kwargs", [{"coverage": 0.0}, {"coverage": 1.5}, {"chunk_size": 0},
                                    {"random_seed": -2}])
def test_bad_person_arguments_raise_config_error(tiny, kwargs):
    with pytest.raises(ConfigError):
        generate_persons(tiny, **{"random_seed": 1, **kwargs})
