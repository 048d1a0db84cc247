"""Coverage top-up: covered cells are re-weighted to ONS child-years per LA x age x sex, with
the documented fall-backs; every expected value is recomputed here from the records.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from person_records import SERVICES, random_records

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.geography import Geography
from bayes_needs.data.person import collapse_frame, top_up
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.person import generate_persons


def population_for(records: pd.DataFrame, geography: Geography, scale: float) -> pd.DataFrame:
    la = dict(zip(geography.to_frame()["lsoa_code"], geography.to_frame()["la_code"],
                  strict=True))
    frame = records.assign(la_code=records["lsoa_code"].map(la))
    pop = frame.groupby(["la_code", "age_band", "sex"]).size().rename("population")
    return (pop * scale).round().reset_index()


def test_child_years_sum_to_population_and_follow_exposure(geography):
    records = random_records(geography, 4000, seed=31)
    cells = collapse_frame(records, geography, services=SERVICES, covariates=["fsm"])
    population = population_for(records, geography, 1.25)
    topup = top_up(cells, population)
    la = geography.lsoa_to_la[topup.lsoa]
    pattern = topup.patterns[topup.pattern]
    got = pd.DataFrame({"la_code": geography.la_codes[la],
                        "age_band": np.asarray(cells.levels["age_band"])[pattern[:, 0]],
                        "sex": np.asarray(cells.levels["sex"])[pattern[:, 1]],
                        "y": topup.child_years}).groupby(["la_code", "age_band", "sex"])["y"] \
        .sum()
    want = population.set_index(["la_code", "age_band", "sex"])["population"]
    np.testing.assert_allclose(got.loc[want.index].to_numpy(), want.to_numpy(), rtol=1e-10)
    # Within an LA x age x sex cell, child-years are proportional to covered exposure.
    key = np.stack([la, pattern[:, 0], pattern[:, 1]], axis=1)
    same = (key == key[0]).all(axis=1)
    exposure = pd.Series(cells.exposure, index=pd.MultiIndex.from_arrays(
        [cells.lsoa, cells.pattern])).loc[list(zip(topup.lsoa[same], topup.pattern[same],
                                                   strict=True))].to_numpy()
    ratio = topup.child_years[same] / exposure
    np.testing.assert_allclose(ratio, ratio[0])
    assert set(topup.table["method"]) == {"scaled"}


def test_records_above_ons_are_scaled_down_and_flagged(geography):
    records = random_records(geography, 2000, seed=32)
    cells = collapse_frame(records, geography, services=SERVICES, covariates=["fsm"])
    topup = top_up(cells, population_for(records, geography, 0.5))
    assert set(topup.table["method"]) == {"scaled down"}
    assert (topup.table["factor"] < 1).all()


def test_missing_age_band_in_an_la_uses_the_la_distribution(geography):
    records = random_records(geography, 3000, seed=33)
    population = population_for(records, geography, 1.0)
    # LA "B" has no covered 16-17 year-olds at all, but ONS has 40 girls there.
    records = records[~((records["lsoa_code"].isin(["L4", "L5"]))
                        & (records["age_band"] == "16-17"))]
    cells = collapse_frame(records, geography, services=SERVICES, covariates=["fsm"])
    topup = top_up(cells, population)
    row = topup.table.set_index(["la_code", "age_band", "sex"]).loc[("B", "16-17", "F")]
    assert row["method"] == "la distribution"
    in_b = geography.lsoa_to_la[topup.lsoa] == geography.position("la", ["B"])[0]
    old = topup.patterns[topup.pattern]
    mask = in_b & (old[:, 0] == cells.levels["age_band"].index("16-17")) & (old[:, 1] == 0)
    assert topup.child_years[mask].sum() == pytest.approx(row["population"])
    # Spread like LA B's covered exposure over (LSOA, fsm), whatever the age and sex.
    b = records[records["lsoa_code"].isin(["L4", "L5"])]
    share = b.groupby(["lsoa_code", "fsm"])["exposure"].sum()
    share = share / share.sum()
    got = pd.Series(topup.child_years[mask] / row["population"], index=pd.MultiIndex.from_arrays(
        [geography.lsoa_codes[topup.lsoa[mask]],
         np.asarray(cells.levels["fsm"])[old[mask, 2]]]))
    np.testing.assert_allclose(got.sort_index().to_numpy(), share.sort_index().to_numpy())


def test_la_with_population_but_no_records_is_an_error(geography):
    records = random_records(geography, 1000, seed=34)
    population = population_for(records, geography, 1.0)
    cells = collapse_frame(records[records["lsoa_code"].isin(["L0", "L1", "L2", "L3"])],
                           geography, services=SERVICES, covariates=["fsm"])
    with pytest.raises(DataValidationError, match=r"no covered child-years.*'B'"):
        top_up(cells, population)


def test_population_label_without_records_is_named(geography):
    records = random_records(geography, 1000, seed=35)
    population = population_for(records, geography, 1.0)
    population.loc[0, "age_band"] = "18-24"
    cells = collapse_frame(records, geography, services=SERVICES, covariates=["fsm"])
    with pytest.raises(DataValidationError, match=r"age_band.*18-24"):
        top_up(cells, population)


def test_synthetic_top_up_totals_match_ons_population():
    synthetic = generate_area("tiny", random_seed=5, services=SERVICES)
    persons = generate_persons(synthetic, random_seed=6)
    cells = collapse_frame(pd.concat(list(persons.chunks())), synthetic.data.geography,
                           services=SERVICES, covariates=["fsm"])
    topup = top_up(cells, persons.population)
    by_la = topup.la_population()
    want = persons.population.groupby("la_code")["population"].sum()
    np.testing.assert_allclose(by_la.loc[want.index].to_numpy(), want.to_numpy())
    assert (topup.table["factor"] > 1).all()  # coverage about 80%
