"""Person-model test helpers shared by tests/models/test_person.py and
tests/need/test_person.py: a small synthetic world of three LAs and their children, its model
data, and the linear predictor computed directly from the records.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from bayes_needs.data.covariates import standardise
from bayes_needs.data.geography import Geography
from bayes_needs.data.person import collapse_frame
from bayes_needs.data.person.design import PersonModelData
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.person import generate_persons

SERVICES = ("cin", "cla")


class World(NamedTuple):
    """A small synthetic world: three LAs of the tiny geography and their children."""

    geography: Geography
    covariates: pd.DataFrame
    population: pd.DataFrame
    records: pd.DataFrame


def make_world() -> World:
    """Three LAs of synthetic tiny England (seeds 11 and 12) and their children."""
    synthetic = generate_area("tiny", random_seed=11, services=SERVICES)
    persons = generate_persons(synthetic, random_seed=12)
    geography = synthetic.data.geography.subset_las(synthetic.data.geography.la_codes[:3])
    records = pd.concat(list(persons.chunks()), ignore_index=True)
    records = records[records["lsoa_code"].astype(str).isin(geography.lsoa_codes)]
    population = persons.population[persons.population["la_code"].isin(geography.la_codes)]
    return World(geography, synthetic.data.covariates.loc[geography.lsoa_codes],
                 population.reset_index(drop=True), records.reset_index(drop=True))


def person_data(world: World, records=None, *, keep_rows=False, population=True):
    """Model data of ``world`` (or of other ``records`` on its geography)."""
    records = world.records if records is None else records
    cells = collapse_frame(records, world.geography, services=SERVICES, covariates=["fsm"],
                           keep_rows=keep_rows)
    return PersonModelData.build(cells, world.covariates,
                                 world.population if population else None)


def linear_predictor(world, records: pd.DataFrame, v: dict) -> np.ndarray:
    """(child, service) log rate ``intercept + z beta + x gamma`` computed from the records."""
    z = standardise(world.covariates)[0].loc[records["lsoa_code"].astype(str)]
    eta = v["intercept"][None, :] + z.to_numpy() @ v["beta"].T
    age = pd.Index(["0-4", "5-9", "10-15", "16-17"]).get_indexer(records["age_band"].astype(str))
    x = np.zeros((len(records), 5))
    for j in (1, 2, 3):
        x[:, j - 1] = age == j
    x[:, 3] = records["sex"].astype(str) == "M"
    x[:, 4] = records["fsm"].astype(str) == "Y"
    return eta + x @ v["gamma"].T
