"""Tests for :class:`~bayes_needs.data.person_records.PersonData`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.geography import Geography
from bayes_needs.data.person_records import PersonData

NESTING = {"E1": {"M1": ["L1", "L2"], "M2": ["L3", "L4"]},
           "E2": {"M3": ["L5", "L6", "L7"]},
           "E3": {"M4": ["L8"], "M5": ["L9"]},
           "E4": {"M6": ["L10"]}}


@pytest.fixture
def geo() -> Geography:
    rows = [{"lsoa_code": lsoa, "msoa_code": msoa, "la_code": la}
            for la, msoas in NESTING.items() for msoa, lsoas in msoas.items() for lsoa in lsoas]
    return Geography.from_frame(pd.DataFrame(rows))


def person_records(geo: Geography, n: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "child_id": [f"c{i}" for i in range(n)],
        "lsoa_code": rng.choice(geo.lsoa_codes, n),
        "exposure": rng.uniform(0.1, 1.0, n),
        "age_band": rng.choice(["0-4", "5-9"], n),
        "sex": rng.choice(["F", "M"], n),
        "disability": rng.choice(["yes", "no"], n),
        "cla": rng.integers(0, 3, n),
    })


def population_table(geo: Geography) -> pd.DataFrame:
    return pd.DataFrame([{"la_code": la, "age_band": a, "sex": s, "population": 250.0}
                         for la in geo.la_codes for a in ("0-4", "5-9") for s in ("F", "M")])


def test_person_data(geo):
    records = person_records(geo)
    data = PersonData.from_frames(geo, records, population_table(geo),
                                  covariates=["age_band", "sex", "disability"],
                                  services=["cla"], year=2024)
    assert len(data.records) == 20
    assert isinstance(data.records["disability"].dtype, pd.CategoricalDtype)
    assert data.records["cla"].tolist() == records["cla"].tolist()
    assert data.covariates == ("age_band", "sex", "disability")
    assert len(data.population) == 16


def test_person_zero_exposure_allowed_without_outcome(geo):
    records = person_records(geo)
    records.loc[0, "exposure"] = 0.0
    records.loc[0, "cla"] = 0
    PersonData.from_frames(geo, records, population_table(geo), covariates=["sex"],
                           services=["cla"])


def test_person_problems_named(geo):
    records = person_records(geo)
    records.loc[3, "lsoa_code"] = "L99"
    records.loc[5, "exposure"] = 0.0
    records.loc[5, "cla"] = 2
    with pytest.raises(DataValidationError) as info:
        PersonData.from_frames(geo, records, population_table(geo), covariates=["sex"],
                               services=["cla"], source="records.csv")
    assert info.value.source == "records.csv"
    text = str(info.value)
    assert "unknown LSOA code(s) at row(s) [3]: ['L99']" in text
    assert "'exposure' is 0 for 1 child(ren) with a positive outcome, at row(s) [5]" in text


def test_population_must_cover_the_records(geo):
    population = population_table(geo)
    population = population[population["la_code"] != "E1"]
    population = population.assign(year=2023)
    with pytest.raises(DataValidationError) as info:
        PersonData.from_frames(geo, person_records(geo), population, covariates=["sex"],
                               services=["cla"], year=2024)
    assert info.value.source == "person data (population)"
    text = str(info.value)
    assert "no population rows for LA(s) ['E1']" in text
    assert "declared for year 2024" in text
