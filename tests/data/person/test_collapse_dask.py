"""The Dask DataFrame collapse on a local distributed cluster (worker processes) gives the
same cells as the in-memory collapse, and worker-side validation errors reach the caller.
"""

from __future__ import annotations

import numpy as np
import pytest
from person_records import SERVICES, assert_same_cells, random_records

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.person import collapse_dask, collapse_frame

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0")
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def test_dask_collapse_on_local_cluster_equals_in_memory(client, geography, tmp_path):
    records = random_records(geography, 6000, seed=21).drop(columns=["notes"])
    records.to_parquet(tmp_path / "records.parquet", row_group_size=1000)
    frame = dd.read_parquet(tmp_path / "records.parquet", split_row_groups=True)
    assert frame.npartitions > 1
    got = collapse_dask(frame, geography, services=SERVICES, covariates=["fsm"])
    assert_same_cells(got, records)
    # Same cells in the same order as the in-memory engine (exposure sums up to rounding).
    want = collapse_frame(records, geography, services=SERVICES, covariates=["fsm"])
    np.testing.assert_array_equal(got.lsoa, want.lsoa)
    np.testing.assert_array_equal(got.patterns[got.pattern], want.patterns[want.pattern])


def test_worker_validation_error_names_the_partition(client, geography):
    records = random_records(geography, 400, seed=22).drop(columns=["notes"])
    records.loc[350, "cla"] = -1
    frame = dd.from_pandas(records, npartitions=4)
    with pytest.raises(DataValidationError) as info:
        collapse_dask(frame, geography, services=SERVICES, covariates=["fsm"])
    assert "partition 3" in str(info.value) and "column 'cla'" in str(info.value)
