"""Exact collapsing of child records to cell sufficient statistics.

A *cell* is a home LSOA together with one combination of child covariate levels (a
*pattern*: age band, sex and every declared covariate). Per cell and service we keep

* ``children`` — number of children (records), ``exposure`` — their summed years at risk,
* ``counts`` — the summed outcome (events, days/weeks in care, or successes for a binary
  outcome) and the largest single-child outcome (to validate binary outcomes).

Why this is exact. Children in a cell share the covariates, so in the person model they share
the rate ``lambda_c``. For Poisson outcomes ``sum_i [y_i log(e_i lambda_c) - e_i lambda_c]
= Y_c log lambda_c - E_c lambda_c + const``, with ``Y_c = sum y_i`` and ``E_c = sum e_i``;
for binary outcomes with a common probability the Bernoulli likelihood is the binomial one
of ``Y_c`` successes in ``n_c`` trials, again up to a constant. Random effects of the LSOA,
MSOA and LA multiply every child of a cell alike, so the collapse stays exact with them (see
:mod:`bayes_needs.models.person`). Cost then scales with the number of distinct cells (about
33,000 LSOAs x patterns), not with the number of children.

Engines. :func:`collapse_frame`/:func:`collapse_frames` group pandas frames (streams of
chunks keep memory bounded), :func:`collapse_parquet` reads only the needed columns of Parquet
files batch by batch and groups each batch with Arrow's multi-threaded hash aggregation, and
:func:`collapse_dask` runs the same partial aggregation on every partition of a Dask
DataFrame (one machine or a cluster) followed by a tree reduction. Every path validates each
batch first (:mod:`bayes_needs.data.person.batches`) and names the file or partition, column
and rows of any problem; the per-cell sums are in :mod:`bayes_needs.data.person.aggregate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bayes_needs.core.errors import DataValidationError, MissingDataError
from bayes_needs.data.geography import Geography
from bayes_needs.data.person.aggregate import Collapser, build_cells, label_partial, typed_partial
from bayes_needs.data.person.batches import (
    batch_from_arrow,
    batch_from_frame,
    check_batch,
    check_columns,
)
from bayes_needs.data.person.cells import (
    CHILDREN,
    EXPOSURE_COLUMN,
    LSOA_COLUMN,
    MAX_SUFFIX,
    CollapsedCells,
    child_keys,
    natural_sorted,
)
from bayes_needs.data.person_records import PersonData

__all__ = ["CollapsedCells", "child_keys", "collapse_dask", "collapse_frame", "collapse_frames",
           "collapse_parquet", "collapse_person_data", "natural_sorted"]


def collapse_frames(frames: Iterable[pd.DataFrame], geography: Geography, *,
                    services: Sequence[str], covariates: Sequence[str] = (),
                    source: str = "person records") -> CollapsedCells:
    """Collapse a stream of record frames (e.g. :meth:`SyntheticPersons.chunks`).

    Parameters
    ----------
    frames
        Frames with ``lsoa_code``, ``exposure``, ``age_band``, ``sex``, every covariate and
        every service column. Only one frame is held at a time.
    geography
        The nesting the LSOA codes must belong to.
    services
        Outcome columns (whole numbers >= 0).
    covariates
        Declared child covariates besides age band and sex.
    source
        Label used in error messages.

    Returns
    -------
    CollapsedCells
        One cell per (LSOA, pattern) seen in any frame.

    Raises
    ------
    DataValidationError
        Naming the chunk, column and rows of every problem.
    """
    keys, services = child_keys(covariates), tuple(services)
    needed = [LSOA_COLUMN, EXPOSURE_COLUMN, *keys, *services]
    collapser = Collapser(geography, keys, services, source)
    offset = 0
    for k, frame in enumerate(frames):
        where = f"{source} (chunk {k})" if k else source
        check_columns(frame.columns, needed, where)
        batch = batch_from_frame(frame, keys, services)
        lsoa, problems = check_batch(batch, keys, services, geography, offset)
        if problems:
            raise DataValidationError(where, problems)
        collapser.add(batch, lsoa)
        offset += len(frame)
    return collapser.result()


def collapse_frame(records: pd.DataFrame, geography: Geography, *, services: Sequence[str],
                   covariates: Sequence[str] = (), source: str = "person records",
                   keep_rows: bool = False) -> CollapsedCells:
    """Collapse one in-memory frame of child records.

    Parameters
    ----------
    records
        Child records, with the columns listed under :func:`collapse_frames`.
    geography, services, covariates, source
        As for :func:`collapse_frames`.
    keep_rows
        Make every child its own cell instead of grouping (the row-level reference the
        collapsed likelihood is tested and benchmarked against).

    Returns
    -------
    CollapsedCells
        One cell per (LSOA, pattern), or per child with ``keep_rows``.

    Raises
    ------
    DataValidationError
        Naming the column and rows of every problem.
    """
    if not keep_rows:
        return collapse_frames([records], geography, services=services,
                               covariates=covariates, source=source)
    keys, services = child_keys(covariates), tuple(services)
    check_columns(records.columns, [LSOA_COLUMN, EXPOSURE_COLUMN, *keys, *services], source)
    batch = batch_from_frame(records, keys, services)
    lsoa, problems = check_batch(batch, keys, services, geography, 0)
    if problems:
        raise DataValidationError(source, problems)
    registry = {c: {label: i for i, label in enumerate(batch.labels[c])} for c in keys}
    frame = pd.DataFrame({CHILDREN: batch.children, EXPOSURE_COLUMN: batch.exposure,
                          **{s: batch.outcomes[s] for s in services},
                          **{s + MAX_SUFFIX: batch.outcomes[s] for s in services}})
    return build_cells(geography, lsoa, keys, registry, [batch.codes[c] for c in keys], frame,
                       services, f"{source} (one cell per child)")


def collapse_person_data(data: PersonData, *, keep_rows: bool = False) -> CollapsedCells:
    """Collapse a validated :class:`~bayes_needs.data.person_records.PersonData`.

    Parameters
    ----------
    data
        The validated records; their services, covariates and source are used.
    keep_rows
        As for :func:`collapse_frame`.

    Returns
    -------
    CollapsedCells
        The collapsed cells.
    """
    return collapse_frame(data.records, data.geography, services=data.services,
                          covariates=data.covariates, source=data.source, keep_rows=keep_rows)


def _parquet_files(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """List the Parquet files named by ``paths`` (directories give their ``*.parquet``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(p.glob("*.parquet"))
        elif p.is_file():
            files.append(p)
        else:
            raise MissingDataError(f"{p}: Parquet file or directory does not exist")
    if not files:
        raise MissingDataError(f"no .parquet files in {[str(p) for p in map(Path, paths)]}")
    return files


def collapse_parquet(paths: str | Path | Iterable[str | Path], geography: Geography, *,
                     services: Sequence[str],
                     covariates: Sequence[str] = (), batch_size: int = 1 << 20,
                     source: str | None = None) -> CollapsedCells:
    """Collapse child records stored in Parquet, reading only the needed columns.

    Each file is read in record batches (memory bounded by ``batch_size`` rows); each batch
    is validated and grouped on an integer cell key, and the partial sums are merged at the
    end. Dictionary-encoded (categorical) columns are used without decoding.

    Parameters
    ----------
    paths
        A Parquet file, a directory of ``*.parquet`` files, or a list of either.
    geography, services, covariates
        As for :func:`collapse_frames`.
    batch_size
        Rows per batch.
    source
        Label for messages (default: the file names).

    Returns
    -------
    CollapsedCells
        One cell per (LSOA, pattern) seen in any file.

    Raises
    ------
    MissingDataError
        If a path does not exist or no Parquet file is found.
    DataValidationError
        Naming the file, column and rows of every problem.
    """
    keys, services = child_keys(covariates), tuple(services)
    needed = [LSOA_COLUMN, EXPOSURE_COLUMN, *keys, *services]
    files = _parquet_files(paths)
    source = source or (str(files[0]) if len(files) == 1 else f"{len(files)} Parquet files")
    collapser = Collapser(geography, keys, services, source)
    for path in files:
        handle = pq.ParquetFile(path)
        check_columns(handle.schema_arrow.names, needed, str(path))
        offset = 0
        for record_batch in handle.iter_batches(columns=needed, batch_size=batch_size):
            batch = batch_from_arrow(pa.Table.from_batches([record_batch]), keys, services)
            lsoa, problems = check_batch(batch, keys, services, geography, offset)
            if problems:
                raise DataValidationError(f"{path} (rows numbered from 0 in the file)",
                                          problems)
            collapser.add(batch, lsoa)
            offset += record_batch.num_rows
    return collapser.result()


def _dask_partition(frame: pd.DataFrame, keys: Sequence[str], services: Sequence[str],
                    geography: Geography, source: str,
                    partition_info: dict[str, Any] | None = None) -> pd.DataFrame:
    """Validate one Dask partition and sum it per cell (Dask passes ``partition_info``)."""
    number = partition_info["number"] if partition_info else "?"
    where = f"{source} (partition {number}; rows numbered within it)"
    _, problems = check_batch(batch_from_frame(frame, keys, services), keys, services,
                              geography, 0)
    if problems:
        raise DataValidationError(where, problems)
    return label_partial(frame, keys, services)


def collapse_dask(frame: Any, geography: Geography, *, services: Sequence[str],
                  covariates: Sequence[str] = (), source: str = "Dask DataFrame",
                  split_out: int = 1) -> CollapsedCells:
    """Collapse a Dask DataFrame of child records, on whatever scheduler is active.

    Every partition is validated and aggregated where it lives (workers of a
    ``dask.distributed`` cluster, or local threads); the partial sums, keyed by the raw labels
    because partitions share no state, are merged with Dask's tree reduction, so only
    cell-level rows ever travel.

    Parameters
    ----------
    frame
        A ``dask.dataframe.DataFrame`` (e.g. ``dd.read_parquet(path, columns=[...])``); typed
        loosely because Dask is an optional dependency, never imported here.
    geography, services, covariates, source
        As for :func:`collapse_frames`.
    split_out
        Output partitions of the reduction (raise it when the cells are very many).

    Returns
    -------
    CollapsedCells
        One cell per (LSOA, pattern) seen in any partition.

    Raises
    ------
    DataValidationError
        Naming the partition, column and rows of every problem.
    """
    keys, services = child_keys(covariates), tuple(services)
    needed = [LSOA_COLUMN, EXPOSURE_COLUMN, *keys, *services]
    check_columns(frame.columns, needed, source)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in [LSOA_COLUMN, *keys]}
                         | {CHILDREN: pd.Series(dtype=np.int64),
                            EXPOSURE_COLUMN: pd.Series(dtype=float)}
                         | {c: pd.Series(dtype=np.int64) for s in services
                            for c in (s, s + MAX_SUFFIX)})
    meta = typed_partial(empty, keys, services)
    parts = frame[needed].map_partitions(_dask_partition, keys, services, geography, source,
                                         meta=meta)
    aggs = {CHILDREN: "sum", EXPOSURE_COLUMN: "sum",
            **{s: "sum" for s in services}, **{s + MAX_SUFFIX: "max" for s in services}}
    merged = parts.groupby([LSOA_COLUMN, *keys], sort=False).agg(
        aggs, split_out=split_out).compute().reset_index()
    collapser = Collapser(geography, keys, services, source)
    batch = batch_from_frame(typed_partial(merged, keys, services), keys, services,
                             partial=True)
    lsoa, problems = check_batch(batch, keys, services, geography, 0)
    if problems:  # unreachable after the partition checks, kept as a guard
        raise DataValidationError(source, problems)
    collapser.add(batch, lsoa)
    return collapser.result()
