"""Per-cell sums: batches merge to the same cells as one batch, and key limits are named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from person_records import SERVICES, assert_same_cells, random_records

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.person.aggregate import Collapser, label_partial
from bayes_needs.data.person.batches import batch_from_frame, check_batch
from bayes_needs.data.person.cells import MAX_SUFFIX

KEYS = ("age_band", "sex", "fsm")


def add(collapser: Collapser, records: pd.DataFrame, geography) -> None:
    batch = batch_from_frame(records, KEYS, SERVICES)
    lsoa, problems = check_batch(batch, KEYS, SERVICES, geography, 0)
    assert problems == []
    collapser.add(batch, lsoa)


def test_batches_merge_to_the_cells_of_one_batch(geography):
    records = random_records(geography, 1500, seed=21)
    collapser = Collapser(geography, KEYS, SERVICES, "test")
    # Later batches meet covariate levels in another order: the registry must reconcile them.
    for part in (records.iloc[:400], records.iloc[400:].iloc[::-1]):
        add(collapser, part, geography)
    cells = collapser.result()
    assert_same_cells(cells, records)
    assert cells.levels["fsm"] == ("N", "Y")
    np.testing.assert_array_equal(cells.max_outcome, records[list(SERVICES)].max())


def test_nothing_added_is_an_error(geography):
    with pytest.raises(DataValidationError, match="no child records"):
        Collapser(geography, KEYS, SERVICES, "empty.parquet").result()


def test_too_many_levels_are_named(geography):
    records = random_records(geography, 300, seed=22)
    records["fsm"] = [f"level{i}" for i in range(300)]
    with pytest.raises(DataValidationError, match="'fsm' has more than 256 distinct levels"):
        add(Collapser(geography, KEYS, SERVICES, "test"), records, geography)


def test_label_partial_sums_per_labelled_cell(geography):
    records = random_records(geography, 800, seed=23)
    partial = label_partial(records, KEYS, SERVICES).set_index(["lsoa_code", *KEYS])
    grouped = records.groupby(["lsoa_code", *KEYS])
    assert partial["children"].sort_index().tolist() == grouped.size().sort_index().tolist()
    for s in SERVICES:
        assert partial[s].dtype == np.int64
        np.testing.assert_array_equal(partial[s].sort_index(), grouped[s].sum().sort_index())
        np.testing.assert_array_equal(partial[s + MAX_SUFFIX].sort_index(),
                                      grouped[s].max().sort_index())
