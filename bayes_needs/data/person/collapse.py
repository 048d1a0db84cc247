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
batch first and names the file or partition, column and rows of any problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core.errors import DataValidationError, MissingDataError
from bayes_needs.data.geography import Geography
from bayes_needs.data.person.cells import (
    CHILDREN,
    EXPOSURE_COLUMN,
    LSOA_COLUMN,
    MAX_SUFFIX,
    CollapsedCells,
    child_keys,
    natural_sorted,
)

__all__ = ["CollapsedCells", "child_keys", "collapse_dask", "collapse_frame", "collapse_frames",
           "collapse_parquet", "collapse_person_data", "natural_sorted"]


# ====================================================================== batches
@dataclass
class _Batch:
    """One batch of records (or of partial sums) as arrays.

    ``codes[c]`` indexes ``labels[c]`` (-1 where empty); ``children`` is 1 per raw record or
    a partial count; ``exposure``/``outcomes`` are values or partial sums; ``maxima`` the
    largest outcome per service.
    """

    n: int
    codes: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    children: np.ndarray
    exposure: np.ndarray
    outcomes: dict[str, np.ndarray]
    maxima: dict[str, np.ndarray]


def _labelled(values) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes (-1 = empty) and their labels, for a pandas Series or array."""
    cat = values if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype) \
        else pd.Categorical(values)
    cat = getattr(cat, "cat", cat)
    return np.asarray(cat.codes, dtype=np.int64), \
        np.asarray(cat.categories.astype(str), dtype=object)


def _numbers(values) -> np.ndarray:
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan)


def _batch_from_frame(frame: pd.DataFrame, keys: Sequence[str], services: Sequence[str],
                      *, partial: bool = False) -> _Batch:
    codes, labels = {}, {}
    for c in (LSOA_COLUMN, *keys):
        codes[c], labels[c] = _labelled(frame[c])
    outcomes = {s: _numbers(frame[s]) for s in services}
    if partial:
        return _Batch(len(frame), codes, labels, frame[CHILDREN].to_numpy(np.int64),
                      _numbers(frame[EXPOSURE_COLUMN]), outcomes,
                      {s: _numbers(frame[s + MAX_SUFFIX]) for s in services})
    return _Batch(len(frame), codes, labels, np.ones(len(frame), np.int64),
                  _numbers(frame[EXPOSURE_COLUMN]), outcomes, outcomes)


def _batch_from_arrow(table, keys: Sequence[str], services: Sequence[str]) -> _Batch:
    import pyarrow as pa
    import pyarrow.compute as pc

    codes, labels = {}, {}
    for c in (LSOA_COLUMN, *keys):
        col = table.column(c).combine_chunks()
        if not pa.types.is_dictionary(col.type):
            col = pc.dictionary_encode(col)
        codes[c] = pc.fill_null(col.indices, -1).to_numpy().astype(np.int64)
        labels[c] = np.asarray(col.dictionary.to_pylist(), dtype=object).astype(str) \
            .astype(object)

    def numbers(name: str) -> np.ndarray:
        col = table.column(name)
        if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            return _numbers(col.to_pandas())
        return pc.fill_null(pc.cast(col, pa.float64()), np.nan).to_numpy()

    outcomes = {s: numbers(s) for s in services}
    return _Batch(table.num_rows, codes, labels, np.ones(table.num_rows, np.int64),
                  numbers(EXPOSURE_COLUMN), outcomes, outcomes)


# ====================================================================== validation
def _rows(mask: np.ndarray, offset: int) -> list[int]:
    return [int(i) + offset for i in np.flatnonzero(mask)[:5]]


def _check_columns(columns: Iterable[str], needed: Sequence[str], where: str) -> None:
    missing = [c for c in needed if c not in set(columns)]
    if missing:
        raise DataValidationError(where, [f"missing column(s) {missing}; the records need "
                                          f"{list(needed)}"])


def _check_batch(batch: _Batch, keys: Sequence[str], services: Sequence[str],
                 geography: Geography, offset: int) -> tuple[np.ndarray, list[str]]:
    """LSOA positions of the rows and the problems found (rows numbered from ``offset``)."""
    problems = []
    for col in (LSOA_COLUMN, *keys):
        empty = batch.codes[col] < 0
        if empty.any():
            problems.append(f"column '{col}' is empty at {int(empty.sum())} row(s), first at "
                            f"row(s) {_rows(empty, offset)}")
    label_pos = pd.Index(geography.lsoa_codes).get_indexer(batch.labels[LSOA_COLUMN])
    code = batch.codes[LSOA_COLUMN]
    lsoa = np.where(code >= 0, label_pos[np.maximum(code, 0)] if len(label_pos) else -1, -1)
    unknown = (lsoa < 0) & (code >= 0)
    if unknown.any():
        shown = list(pd.unique(batch.labels[LSOA_COLUMN][code[unknown]])[:5])
        problems.append(f"column 'lsoa_code' has {int(unknown.sum())} row(s) with LSOA codes "
                        f"not in the geography, e.g. {shown} at row(s) "
                        f"{_rows(unknown, offset)}")
    exposure = batch.exposure
    per_child = batch.children == 1
    bad = ~(np.isfinite(exposure) & (exposure >= 0) & (~per_child | (exposure <= 1)))
    if bad.any():
        problems.append(f"column 'exposure' must be a fraction of the year in [0, 1]; "
                        f"{int(bad.sum())} row(s) are not, first at row(s) "
                        f"{_rows(bad, offset)}")
    positive = np.zeros(batch.n, dtype=bool)
    for s in services:
        values = batch.outcomes[s]
        bad = ~(np.isfinite(values) & (values >= 0) & (values == np.round(values)))
        if bad.any():
            problems.append(f"column '{s}' must hold whole numbers >= 0; {int(bad.sum())} "
                            f"row(s) do not, first at row(s) {_rows(bad, offset)}")
        positive |= values > 0
    zero = positive & (exposure <= 0)
    if zero.any():
        problems.append(f"column 'exposure' is 0 for {int(zero.sum())} child(ren) with a "
                        f"positive outcome, at row(s) {_rows(zero, offset)}")
    return lsoa, problems


# ====================================================================== aggregation
#: Levels per child covariate the integer cell keys have room for.
_RADIX = 256


class _Collapser:
    """Accumulates per-cell sums over batches with one integer key per (LSOA, pattern).

    Covariate labels get global codes in order of first appearance (a registry shared by
    all batches), so each batch is grouped on a single int64 key.
    """

    def __init__(self, geography: Geography, keys: Sequence[str], services: Sequence[str],
                 source: str):
        self.geography, self.keys, self.services, self.source = \
            geography, tuple(keys), tuple(services), source
        self.registry: dict[str, dict[str, int]] = {c: {} for c in self.keys}
        self.partials: list[pd.DataFrame] = []
        bits = int(np.ceil(np.log2(max(geography.n_lsoa, 2)))) + 8 * len(self.keys)
        if bits > 62:
            raise DataValidationError(source, [f"too many child covariates ({len(keys)}) to "
                                               f"key cells on; use at most "
                                               f"{(62 - bits + 8 * len(keys)) // 8}"])

    def _global_codes(self, batch: _Batch) -> np.ndarray:
        key = np.zeros(batch.n, dtype=np.int64)
        for c in self.keys:
            registry = self.registry[c]
            for label in batch.labels[c]:
                registry.setdefault(label, len(registry))
            if len(registry) > _RADIX:
                raise DataValidationError(self.source, [
                    f"column '{c}' has more than {_RADIX} distinct levels; group them first"])
            mapping = np.array([registry[label] for label in batch.labels[c]], dtype=np.int64)
            key = key * _RADIX + (mapping[batch.codes[c]] if len(mapping) else 0)
        return key

    def add(self, batch: _Batch, lsoa: np.ndarray) -> None:
        """Aggregate one validated batch (``lsoa``: positions of its rows)."""
        key = lsoa.astype(np.int64) * _RADIX ** len(self.keys) + self._global_codes(batch)
        inverse, uniques = pd.factorize(key)
        n = len(uniques)
        out = {"key": uniques,
               CHILDREN: np.bincount(inverse, weights=batch.children, minlength=n),
               EXPOSURE_COLUMN: np.bincount(inverse, weights=batch.exposure, minlength=n)}
        for s in self.services:
            out[s] = np.bincount(inverse, weights=batch.outcomes[s], minlength=n)
            maxima = np.zeros(n)
            np.maximum.at(maxima, inverse, batch.maxima[s])
            out[s + MAX_SUFFIX] = maxima
        self.partials.append(pd.DataFrame(out))

    def result(self) -> CollapsedCells:
        """The collapsed cells of everything added."""
        if not self.partials:
            raise DataValidationError(self.source, ["no child records"])
        frame = pd.concat(self.partials, ignore_index=True)
        if len(self.partials) > 1:
            aggs = {CHILDREN: "sum", EXPOSURE_COLUMN: "sum", **{s: "sum" for s in
                                                                  self.services},
                    **{s + MAX_SUFFIX: "max" for s in self.services}}
            frame = frame.groupby("key", sort=False).agg(aggs).reset_index()
        key = frame["key"].to_numpy()
        codes = []
        for _ in self.keys:
            key, code = np.divmod(key, _RADIX)
            codes.append(code)
        codes.reverse()
        return _build(self.geography, key, self.keys, self.registry, codes, frame,
                      self.services, self.source)


def _build(geography: Geography, lsoa: np.ndarray, keys: Sequence[str],
           registry: dict[str, dict[str, int]], codes: list[np.ndarray], frame: pd.DataFrame,
           services: Sequence[str], source: str) -> CollapsedCells:
    """Put levels in natural order, number the patterns and sort the cells."""
    levels, recoded = {}, []
    for c, code in zip(keys, codes, strict=True):
        labels = list(registry[c])
        levels[c] = tuple(natural_sorted(labels))
        order = pd.Index(levels[c]).get_indexer(labels)
        recoded.append(order[code])
    sizes = [len(levels[c]) for c in keys]
    flat = np.ravel_multi_index(tuple(recoded), sizes) if keys else np.zeros(len(lsoa), int)
    unique_flat, pattern = np.unique(flat, return_inverse=True)
    patterns = np.stack(np.unravel_index(unique_flat, sizes), axis=1)
    order = np.lexsort((pattern, lsoa))
    counts = np.stack([frame[s].to_numpy() for s in services], axis=1) if services else \
        np.zeros((len(frame), 0))
    maxima = np.array([frame[s + MAX_SUFFIX].max() for s in services])
    return CollapsedCells(
        geography, tuple(keys), levels, patterns.astype(np.int64), lsoa[order].astype(np.int64),
        pattern.ravel()[order].astype(np.int64),
        np.rint(frame[CHILDREN].to_numpy()[order]).astype(np.int64),
        frame[EXPOSURE_COLUMN].to_numpy(float)[order],
        np.rint(counts[order]).astype(np.int64), np.rint(maxima).astype(np.int64),
        tuple(services), source)


def _label_partial(frame: pd.DataFrame, keys: Sequence[str],
                   services: Sequence[str]) -> pd.DataFrame:
    """Per-cell sums keyed by the raw labels (for engines without a shared registry)."""
    aggs = {CHILDREN: (EXPOSURE_COLUMN, "size"), EXPOSURE_COLUMN: (EXPOSURE_COLUMN, "sum")}
    for s in services:
        aggs[s] = (s, "sum")
        aggs[s + MAX_SUFFIX] = (s, "max")
    out = frame.groupby([LSOA_COLUMN, *keys], observed=True, sort=False).agg(**aggs)
    return _typed_partial(out.reset_index(), keys, services)


def _typed_partial(out: pd.DataFrame, keys: Sequence[str],
                   services: Sequence[str]) -> pd.DataFrame:
    for c in (LSOA_COLUMN, *keys):
        out[c] = out[c].astype(str).astype(object)
    out[CHILDREN] = out[CHILDREN].astype(np.int64)
    out[EXPOSURE_COLUMN] = out[EXPOSURE_COLUMN].astype(float)
    for s in services:
        out[s] = out[s].astype(np.int64)
        out[s + MAX_SUFFIX] = out[s + MAX_SUFFIX].astype(np.int64)
    return out[[LSOA_COLUMN, *keys, CHILDREN, EXPOSURE_COLUMN,
                *[c for s in services for c in (s, s + MAX_SUFFIX)]]]


# ====================================================================== public engines
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

    Raises
    ------
    DataValidationError
        Naming the chunk, column and rows of every problem.
    """
    keys, services = child_keys(covariates), tuple(services)
    needed = [LSOA_COLUMN, EXPOSURE_COLUMN, *keys, *services]
    collapser = _Collapser(geography, keys, services, source)
    offset = 0
    for k, frame in enumerate(frames):
        where = f"{source} (chunk {k})" if k else source
        _check_columns(frame.columns, needed, where)
        batch = _batch_from_frame(frame, keys, services)
        lsoa, problems = _check_batch(batch, keys, services, geography, offset)
        if problems:
            raise DataValidationError(where, problems)
        collapser.add(batch, lsoa)
        offset += len(frame)
    return collapser.result()


def collapse_frame(records: pd.DataFrame, geography: Geography, *, services: Sequence[str],
                   covariates: Sequence[str] = (), source: str = "person records",
                   keep_rows: bool = False) -> CollapsedCells:
    """Collapse one in-memory frame of child records (see :func:`collapse_frames`).

    Parameters
    ----------
    keep_rows
        Make every child its own cell instead of grouping (the row-level reference the
        collapsed likelihood is tested and benchmarked against).
    """
    if not keep_rows:
        return collapse_frames([records], geography, services=services,
                               covariates=covariates, source=source)
    keys, services = child_keys(covariates), tuple(services)
    _check_columns(records.columns, [LSOA_COLUMN, EXPOSURE_COLUMN, *keys, *services], source)
    batch = _batch_from_frame(records, keys, services)
    lsoa, problems = _check_batch(batch, keys, services, geography, 0)
    if problems:
        raise DataValidationError(source, problems)
    registry = {c: {label: i for i, label in enumerate(batch.labels[c])} for c in keys}
    frame = pd.DataFrame({CHILDREN: batch.children, EXPOSURE_COLUMN: batch.exposure,
                          **{s: batch.outcomes[s] for s in services},
                          **{s + MAX_SUFFIX: batch.outcomes[s] for s in services}})
    return _build(geography, lsoa, keys, registry, [batch.codes[c] for c in keys], frame,
                  services, f"{source} (one cell per child)")


def collapse_person_data(data, *, keep_rows: bool = False) -> CollapsedCells:
    """Collapse a validated :class:`~bayes_needs.data.containers.PersonData`."""
    return collapse_frame(data.records, data.geography, services=data.services,
                          covariates=data.covariates, source=data.source, keep_rows=keep_rows)


def _parquet_files(paths) -> list[Path]:
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


def collapse_parquet(paths, geography: Geography, *, services: Sequence[str],
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
    batch_size
        Rows per batch.
    source
        Label for messages (default: the file names).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys, services = child_keys(covariates), tuple(services)
    needed = [LSOA_COLUMN, EXPOSURE_COLUMN, *keys, *services]
    files = _parquet_files(paths)
    source = source or (str(files[0]) if len(files) == 1 else f"{len(files)} Parquet files")
    collapser = _Collapser(geography, keys, services, source)
    for path in files:
        handle = pq.ParquetFile(path)
        _check_columns(handle.schema_arrow.names, needed, str(path))
        offset = 0
        for record_batch in handle.iter_batches(columns=needed, batch_size=batch_size):
            batch = _batch_from_arrow(pa.Table.from_batches([record_batch]), keys, services)
            lsoa, problems = _check_batch(batch, keys, services, geography, offset)
            if problems:
                raise DataValidationError(f"{path} (rows numbered from 0 in the file)",
                                          problems)
            collapser.add(batch, lsoa)
            offset += record_batch.num_rows
    return collapser.result()


def _dask_partition(frame: pd.DataFrame, keys, services, geography, source,
                    partition_info=None) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else "?"
    where = f"{source} (partition {number}; rows numbered within it)"
    _, problems = _check_batch(_batch_from_frame(frame, keys, services), keys, services,
                               geography, 0)
    if problems:
        raise DataValidationError(where, problems)
    return _label_partial(frame, keys, services)


def collapse_dask(frame, geography: Geography, *, services: Sequence[str],
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
        A ``dask.dataframe.DataFrame`` (e.g. ``dd.read_parquet(path, columns=[...])``).
    split_out
        Output partitions of the reduction (raise it when the cells are very many).
    """
    keys, services = child_keys(covariates), tuple(services)
    needed = [LSOA_COLUMN, EXPOSURE_COLUMN, *keys, *services]
    _check_columns(frame.columns, needed, source)
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in [LSOA_COLUMN, *keys]}
                         | {CHILDREN: pd.Series(dtype=np.int64),
                            EXPOSURE_COLUMN: pd.Series(dtype=float)}
                         | {c: pd.Series(dtype=np.int64) for s in services
                            for c in (s, s + MAX_SUFFIX)})
    meta = _typed_partial(empty, keys, services)
    parts = frame[needed].map_partitions(_dask_partition, keys, services, geography, source,
                                         meta=meta)
    aggs = {CHILDREN: "sum", EXPOSURE_COLUMN: "sum",
            **{s: "sum" for s in services}, **{s + MAX_SUFFIX: "max" for s in services}}
    merged = parts.groupby([LSOA_COLUMN, *keys], sort=False).agg(
        aggs, split_out=split_out).compute().reset_index()
    collapser = _Collapser(geography, keys, services, source)
    batch = _batch_from_frame(_typed_partial(merged, keys, services), keys, services,
                              partial=True)
    lsoa, problems = _check_batch(batch, keys, services, geography, 0)
    if problems:  # unreachable after the partition checks, kept as a guard
        raise DataValidationError(source, problems)
    collapser.add(batch, lsoa)
    return collapser.result()
