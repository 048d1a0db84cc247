"""Record batches: the pandas and Arrow readers agree, and validation names rows correctly."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from person_records import SERVICES, random_records

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.person.batches import (
    batch_from_arrow,
    batch_from_frame,
    check_batch,
    check_columns,
)
from bayes_needs.data.person.cells import MAX_SUFFIX

KEYS = ("age_band", "sex", "fsm")


def decoded(batch, column: str) -> list[str]:
    return [batch.labels[column][c] for c in batch.codes[column]]


def test_arrow_and_pandas_batches_hold_the_same_rows(geography):
    records = random_records(geography, 300, seed=11)
    from_frame = batch_from_frame(records, KEYS, SERVICES)
    from_arrow = batch_from_arrow(pa.Table.from_pandas(records, preserve_index=False), KEYS,
                                  SERVICES)
    assert from_frame.n == from_arrow.n == 300
    for column in ("lsoa_code", *KEYS):
        assert decoded(from_frame, column) == decoded(from_arrow, column) \
            == records[column].tolist()
    np.testing.assert_array_equal(from_frame.exposure, from_arrow.exposure)
    for s in SERVICES:
        np.testing.assert_array_equal(from_arrow.outcomes[s], records[s].to_numpy(float))
    np.testing.assert_array_equal(from_arrow.children, np.ones(300, np.int64))


def test_check_batch_locates_lsoas(geography):
    records = random_records(geography, 50, seed=12)
    lsoa, problems = check_batch(batch_from_frame(records, KEYS, SERVICES), KEYS, SERVICES,
                                 geography, 0)
    assert problems == []
    np.testing.assert_array_equal(geography.lsoa_codes[lsoa], records["lsoa_code"])


def test_check_batch_numbers_rows_from_the_offset(geography):
    records = random_records(geography, 20, seed=13)
    records.loc[2, "lsoa_code"] = "nowhere"
    records.loc[4, "exposure"] = 1.5
    records["cin"] = records["cin"].astype(float)
    records.loc[6, "cin"] = 0.5
    records.loc[7, "sex"] = None
    lsoa, problems = check_batch(batch_from_frame(records, KEYS, SERVICES), KEYS, SERVICES,
                                 geography, 100)
    assert lsoa[2] == -1
    text = " | ".join(problems)
    assert "column 'sex' is empty at 1 row(s), first at row(s) [107]" in text
    assert "LSOA codes not in the geography, e.g. ['nowhere'] at row(s) [102]" in text
    assert "column 'exposure' must be a fraction of the year in [0, 1]" in text and "[104]" in text
    assert "column 'cin' must hold whole numbers >= 0; 1 row(s) do not, first at row(s) [106]" \
        in text


def test_partial_sums_may_exceed_one_year(geography):
    """A partial-sum row covers several children, so its exposure may exceed 1."""
    records = random_records(geography, 10, seed=14).assign(children=3, exposure=2.5)
    for s in SERVICES:
        records[s + MAX_SUFFIX] = records[s]
    batch = batch_from_frame(records, KEYS, SERVICES, partial=True)
    _, problems = check_batch(batch, KEYS, SERVICES, geography, 0)
    assert problems == []
    np.testing.assert_array_equal(batch.children, np.full(10, 3))


def test_check_columns():
    check_columns(["a", "b"], ["b"], "x")
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['c'\]"):
        check_columns(["a", "b"], ["b", "c"], "records.parquet")
