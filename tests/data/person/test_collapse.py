"""Collapsing child records to cell sufficient statistics: every engine gives the sums an
independent pandas groupby gives, and bad records are reported by file/chunk, column and row.
"""

from __future__ import annotations

import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from person_records import SERVICES, assert_same_cells, random_records

from bayes_needs.core.errors import DataValidationError, MissingDataError
from bayes_needs.data.person import (
    collapse_frame,
    collapse_frames,
    collapse_parquet,
    collapse_person_data,
)
from bayes_needs.data.person.collapse import natural_sorted
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.person import generate_persons


def test_frame_collapse_equals_groupby(geography):
    records = random_records(geography, 3000, seed=1)
    cells = collapse_frame(records, geography, services=SERVICES, covariates=["fsm"])
    assert_same_cells(cells, records)
    assert cells.n_children == 3000
    assert cells.n_cells < 3000
    np.testing.assert_array_equal(cells.max_outcome, records[list(SERVICES)].max())
    assert cells.covariates == ("age_band", "sex", "fsm")
    assert cells.levels["age_band"] == ("0-4", "5-9", "10-15", "16-17")


def test_cells_are_sorted_and_distinct(geography):
    cells = collapse_frame(random_records(geography, 2000, seed=2), geography,
                           services=SERVICES, covariates=["fsm"])
    key = cells.lsoa * cells.n_patterns + cells.pattern
    assert np.all(np.diff(key) > 0)


def test_stream_of_chunks_equals_one_frame(geography):
    records = random_records(geography, 2500, seed=3)
    chunks = [records.iloc[i:i + 700] for i in range(0, len(records), 700)]
    streamed = collapse_frames(chunks, geography, services=SERVICES, covariates=["fsm"])
    assert_same_cells(streamed, records)


def test_parquet_collapse_equals_groupby(geography, tmp_path):
    records = random_records(geography, 4000, seed=4)
    path = tmp_path / "records.parquet"
    pq.write_table(pa.Table.from_pandas(records, preserve_index=False), path,
                   row_group_size=900)
    cells = collapse_parquet(path, geography, services=SERVICES, covariates=["fsm"],
                             batch_size=500)
    assert_same_cells(cells, records)


def test_parquet_directory_and_categorical_columns(geography, tmp_path):
    records = random_records(geography, 3000, seed=5)
    for c in ("lsoa_code", "age_band", "sex", "fsm"):
        records[c] = records[c].astype("category")
    for k, part in enumerate((records.iloc[:1200], records.iloc[1200:])):
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False),
                       tmp_path / f"part{k}.parquet")
    cells = collapse_parquet(tmp_path, geography, services=SERVICES, covariates=["fsm"])
    assert_same_cells(cells, records.astype({c: str for c in ("lsoa_code", "age_band", "sex",
                                                             "fsm")}))


def test_keep_rows_gives_one_cell_per_child(geography):
    records = random_records(geography, 500, seed=6)
    cells = collapse_frame(records, geography, services=SERVICES, covariates=["fsm"],
                           keep_rows=True)
    assert cells.n_cells == 500
    assert (cells.children == 1).all()
    assert cells.counts.sum(axis=0).tolist() == records[list(SERVICES)].sum().tolist()


def test_synthetic_person_data_and_chunks_collapse_alike():
    synthetic = generate_area("tiny", random_seed=3, services=SERVICES)
    persons = generate_persons(synthetic, random_seed=4, chunk_size=20_000)
    from_chunks = collapse_frames(persons.chunks(), synthetic.data.geography,
                                  services=SERVICES, covariates=["fsm"])
    from_data = collapse_person_data(persons.to_person_data())
    assert from_data.data_hash() == from_chunks.data_hash()


def test_without_las_drops_only_their_cells(geography):
    cells = collapse_frame(random_records(geography, 1000, seed=7), geography,
                           services=SERVICES, covariates=["fsm"])
    kept = cells.without_las(["B"])
    assert set(geography.la_codes[kept.la]) == {"A"}
    assert kept.n_cells == int((geography.la_codes[cells.la] == "A").sum())


def test_natural_sort_orders_numbers_numerically():
    assert natural_sorted(["10-15", "16-17", "5-9", "0-4"]) == ["0-4", "5-9", "10-15", "16-17"]


@pytest.mark.parametrize(("column", "value", "message"), [
    ("lsoa_code", "NOT_AN_LSOA", "not in the geography"),
    ("exposure", 1.5, "column 'exposure'"),
    ("cin", -1, "column 'cin'"),
    ("cla", 0.5, "column 'cla'"),
    ("sex", None, "column 'sex' is empty"),
])
def test_bad_values_are_named_with_rows(geography, column, value, message):
    records = random_records(geography, 50, seed=8)
    records[column] = records[column].astype(object)
    records.loc[[7, 21], column] = value
    with pytest.raises(DataValidationError) as info:
        collapse_frame(records, geography, services=SERVICES, covariates=["fsm"])
    text = str(info.value)
    assert message in text
    assert "[7, 21]" in text


def test_second_chunk_rows_are_numbered_from_the_start(geography):
    records = random_records(geography, 100, seed=9)
    records.loc[73, "cin"] = -3
    with pytest.raises(DataValidationError) as info:
        collapse_frames([records.iloc[:50], records.iloc[50:]], geography, services=SERVICES,
                        covariates=["fsm"])
    assert "chunk 1" in str(info.value) and "[73]" in str(info.value)


def test_parquet_error_names_file_and_missing_columns(geography, tmp_path):
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pandas(random_records(geography, 20, seed=10)
                                        .drop(columns=["fsm"]), preserve_index=False), path)
    with pytest.raises(DataValidationError) as info:
        collapse_parquet(path, geography, services=SERVICES, covariates=["fsm"])
    assert "bad.parquet" in str(info.value) and "fsm" in str(info.value)
    with pytest.raises(MissingDataError):
        collapse_parquet(tmp_path / "absent.parquet", geography, services=SERVICES)


def test_positive_outcome_with_zero_exposure_is_an_error(geography):
    records = random_records(geography, 30, seed=11)
    records.loc[4, ["exposure", "cin"]] = [0.0, 2]
    with pytest.raises(DataValidationError, match=r"exposure' is 0 .*\[4\]"):
        collapse_frame(records, geography, services=SERVICES)


def test_validation_errors_survive_pickling():
    error = DataValidationError("partition 3", ["column 'cin' is bad", "row 7"])
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is DataValidationError
    assert copy.problems == error.problems and str(copy) == str(error)
