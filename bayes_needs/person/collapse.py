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

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs import dims
from bayes_needs.errors import DataValidationError, MissingDataError
from bayes_needs.geography import Geography

LSOA_COLUMN = "lsoa_code"
EXPOSURE_COLUMN = "exposure"
CHILDREN = "children"
#: Child covariates every collapse keys on (the top-up to ONS works by LA x age x sex).
REQUIRED_KEYS: tuple[str, ...] = (dims.AGE_BAND, dims.SEX)
_MAX = "__max"
_DIGITS = re.compile(r"(\d+)")


def child_keys(covariates: Sequence[str] = ()) -> tuple[str, ...]:
    """Child covariates to key cells on: age band, sex, then the declared ones in order."""
    if isinstance(covariates, str):
        covariates = [covariates]
    extra = [c for c in covariates if c not in REQUIRED_KEYS]
    return (*REQUIRED_KEYS, *dict.fromkeys(extra))


def natural_sorted(values: Iterable[str]) -> list[str]:
    """Sort labels with embedded numbers numerically ("5-9" before "10-15")."""
    def key(text: str):
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in _DIGITS.split(text)]
    return sorted(values, key=key)


@dataclass(frozen=True, eq=False)
class CollapsedCells:
    """Sufficient statistics of child records per (LSOA, child covariate pattern) cell.

    Attributes
    ----------
    geography
        The nesting the LSOA positions refer to.
    covariates
        Child covariates the patterns are made of (age band and sex first).
    levels
        Levels of each child covariate (natural sort order; the first is the reference).
    patterns
        ``(n_pattern, n_covariate)`` level positions of each distinct pattern.
    lsoa, pattern
        Per cell: LSOA position in the geography and pattern position; sorted by both.
    children, exposure
        Per cell: number of children and their summed exposure (years at risk).
    counts
        ``(n_cell, n_service)`` summed outcomes.
    max_outcome
        Largest single-child outcome per service (binary outcomes must have at most 1).
    services
        Outcome names in column order of ``counts``.
    source
        Where the records came from (used in messages).
    """

    geography: Geography
    covariates: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    patterns: np.ndarray
    lsoa: np.ndarray
    pattern: np.ndarray
    children: np.ndarray
    exposure: np.ndarray
    counts: np.ndarray
    max_outcome: np.ndarray
    services: tuple[str, ...]
    source: str = "person records"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ views
    @property
    def n_cells(self) -> int:
        """Number of distinct (LSOA, pattern) cells."""
        return len(self.lsoa)

    @property
    def n_patterns(self) -> int:
        """Number of distinct child covariate patterns."""
        return len(self.patterns)

    @property
    def n_children(self) -> int:
        """Number of child records collapsed."""
        return int(self.children.sum())

    @property
    def msoa(self) -> np.ndarray:
        """MSOA position of each cell."""
        return self.geography.lsoa_to_msoa[self.lsoa]

    @property
    def la(self) -> np.ndarray:
        """LA position of each cell."""
        return self.geography.lsoa_to_la[self.lsoa]

    def pattern_frame(self) -> pd.DataFrame:
        """One row per pattern with the level label of every child covariate."""
        return pd.DataFrame({c: np.asarray(self.levels[c], dtype=object)[self.patterns[:, k]]
                             for k, c in enumerate(self.covariates)},
                            index=pd.RangeIndex(self.n_patterns, name=dims.PATTERN))

    def la_totals(self) -> pd.DataFrame:
        """Summed outcomes of the covered children per LA x service (0 where none)."""
        geo = self.geography
        values = np.stack([np.bincount(self.la, weights=self.counts[:, j], minlength=geo.n_la)
                           for j in range(len(self.services))], axis=1) \
            if self.services else np.zeros((geo.n_la, 0))
        return pd.DataFrame(values, index=pd.Index(geo.la_codes, name=dims.LA),
                            columns=pd.Index(self.services, name=dims.SERVICE))

    def select(self, keep: np.ndarray, *, source: str | None = None) -> CollapsedCells:
        """The cells where boolean ``keep`` is true (same patterns and levels)."""
        keep = np.asarray(keep, dtype=bool)
        return CollapsedCells(self.geography, self.covariates, self.levels, self.patterns,
                              self.lsoa[keep], self.pattern[keep], self.children[keep],
                              self.exposure[keep], self.counts[keep], self.max_outcome,
                              self.services, source or self.source)

    def without_las(self, la_codes: Iterable[str]) -> CollapsedCells:
        """The cells outside the given LAs (e.g. to hold LAs out in cross-validation)."""
        drop = self.geography.position(dims.LA, list(la_codes), what="held-out LAs")
        return self.select(~np.isin(self.la, drop),
                           source=f"{self.source} without {len(drop)} LA(s)")

    def subset_services(self, services: Sequence[str]) -> CollapsedCells:
        """The same cells with only ``services``."""
        unknown = sorted(set(services) - set(self.services))
        if unknown:
            raise DataValidationError(self.source, [f"unknown service(s) {unknown}; "
                                                    f"available: {list(self.services)}"])
        cols = [self.services.index(s) for s in services]
        return CollapsedCells(self.geography, self.covariates, self.levels, self.patterns,
                              self.lsoa, self.pattern, self.children, self.exposure,
                              self.counts[:, cols], self.max_outcome[cols], tuple(services),
                              self.source)

    def data_hash(self) -> str:
        """Stable hash of everything a fit depends on."""
        if "hash" not in self._cache:
            h = hashlib.sha256(self.geography.fingerprint().encode())
            h.update("|".join(self.covariates).encode())
            for c in self.covariates:
                h.update("\x1f".join(self.levels[c]).encode())
            h.update("|".join(self.services).encode())
            for arr in (self.patterns, self.lsoa, self.pattern, self.children, self.exposure,
                        self.counts):
                h.update(np.ascontiguousarray(arr).tobytes())
            self._cache["hash"] = h.hexdigest()[:16]
        return self._cache["hash"]


# ====================================================================== validation
def _rows(mask: np.ndarray, offset: int) -> list[int]:
    return [int(i) + offset for i in np.flatnonzero(mask)[:5]]


def _check_columns(columns: Iterable[str], needed: Sequence[str], where: str) -> None:
    missing = [c for c in needed if c not in set(columns)]
    if missing:
        raise DataValidationError(where, [f"missing column(s) {missing}; the records need "
                                          f"{list(needed)}"])


def _check_frame(frame: pd.DataFrame, keys: Sequence[str], services: Sequence[str],
                 known_lsoa: pd.Index, where: str, offset: int) -> list[str]:
    """Problems of one batch of records (rows numbered from ``offset``)."""
    problems = []
    for col in (LSOA_COLUMN, *keys):
        empty = frame[col].isna().to_numpy()
        if empty.any():
            problems.append(f"column '{col}' is empty at {int(empty.sum())} row(s), first at "
                            f"row(s) {_rows(empty, offset)}")
    lsoa = frame[LSOA_COLUMN]
    unknown = ~lsoa.isin(known_lsoa).to_numpy() & lsoa.notna().to_numpy()
    if unknown.any():
        codes = list(pd.unique(lsoa[unknown].astype(str))[:5])
        problems.append(f"column 'lsoa_code' has {int(unknown.sum())} row(s) with LSOA codes "
                        f"not in the geography, e.g. {codes} at row(s) "
                        f"{_rows(unknown, offset)}")
    exposure = pd.to_numeric(frame[EXPOSURE_COLUMN], errors="coerce").to_numpy(dtype=float)
    bad = ~(np.isfinite(exposure) & (exposure >= 0) & (exposure <= 1))
    if bad.any():
        problems.append(f"column 'exposure' must be a fraction of the year in [0, 1]; "
                        f"{int(bad.sum())} row(s) are not, first at row(s) "
                        f"{_rows(bad, offset)}")
    positive = np.zeros(len(frame), dtype=bool)
    for s in services:
        values = pd.to_numeric(frame[s], errors="coerce").to_numpy(dtype=float)
        bad = ~(np.isfinite(values) & (values >= 0) & (values == np.round(values)))
        if bad.any():
            problems.append(f"column '{s}' must hold whole numbers >= 0; {int(bad.sum())} "
                            f"row(s) do not, first at row(s) {_rows(bad, offset)}")
        positive |= values > 0
    zero = positive & (exposure <= 0)
    if zero.any():
        problems.append(f"column 'exposure' is 0 for {int(zero.sum())} child(ren) with a "
                        f"positive outcome, at row(s) {_rows(zero, offset)}")
    return problems


# ====================================================================== partial aggregation
def _partial_pandas(frame: pd.DataFrame, keys: Sequence[str],
                    services: Sequence[str]) -> pd.DataFrame:
    """Per-cell sums of one batch, keyed by the raw LSOA code and covariate labels."""
    cols = [LSOA_COLUMN, *keys]
    aggs = {CHILDREN: (EXPOSURE_COLUMN, "size"), EXPOSURE_COLUMN: (EXPOSURE_COLUMN, "sum")}
    for s in services:
        aggs[s] = (s, "sum")
        aggs[s + _MAX] = (s, "max")
    out = frame.groupby(cols, observed=True, sort=False).agg(**aggs).reset_index()
    return _normalise_partial(out, keys, services)


def _normalise_partial(out: pd.DataFrame, keys: Sequence[str],
                       services: Sequence[str]) -> pd.DataFrame:
    for c in (LSOA_COLUMN, *keys):
        out[c] = out[c].astype(str).astype(object)
    out[CHILDREN] = out[CHILDREN].astype(np.int64)
    out[EXPOSURE_COLUMN] = out[EXPOSURE_COLUMN].astype(float)
    for s in services:
        out[s] = out[s].astype(np.int64)
        out[s + _MAX] = out[s + _MAX].astype(np.int64)
    return out[[LSOA_COLUMN, *keys, CHILDREN, EXPOSURE_COLUMN,
                *[c for s in services for c in (s, s + _MAX)]]]


def _combine(partials: list[pd.DataFrame], keys: Sequence[str],
             services: Sequence[str]) -> pd.DataFrame:
    """Merge partial aggregates whose cells may repeat across batches."""
    frame = pd.concat(partials, ignore_index=True)
    if len(partials) == 1:
        return frame
    aggs = {CHILDREN: "sum", EXPOSURE_COLUMN: "sum",
            **{s: "sum" for s in services}, **{s + _MAX: "max" for s in services}}
    return frame.groupby([LSOA_COLUMN, *keys], sort=False).agg(aggs).reset_index()


def _build(geography: Geography, lsoa_codes: np.ndarray, labels: dict[str, np.ndarray],
           children: np.ndarray, exposure: np.ndarray, counts: np.ndarray,
           max_outcome: np.ndarray, keys: Sequence[str], services: Sequence[str],
           source: str) -> CollapsedCells:
    """Map codes and labels to positions, find the patterns and sort the cells."""
    if len(lsoa_codes) == 0:
        raise DataValidationError(source, ["no child records"])
    lsoa = geography.position(dims.LSOA, lsoa_codes, what=f"{source}: column 'lsoa_code'")
    levels, codes = {}, []
    for c in keys:
        values = np.asarray(labels[c], dtype=object).astype(str)
        levels[c] = tuple(natural_sorted(pd.unique(values)))
        codes.append(pd.Index(levels[c]).get_indexer(values))
    code_matrix = np.stack(codes, axis=1)
    patterns, pattern = np.unique(code_matrix, axis=0, return_inverse=True)
    pattern = pattern.ravel()
    order = np.lexsort((pattern, lsoa))
    return CollapsedCells(
        geography, tuple(keys), levels, patterns.astype(np.int64), lsoa[order].astype(np.int64),
        pattern[order].astype(np.int64), np.asarray(children, np.int64)[order],
        np.asarray(exposure, float)[order], np.asarray(counts, np.int64)[order],
        np.asarray(max_outcome, np.int64), tuple(services), source)


def _finalise(partials: list[pd.DataFrame], geography: Geography, keys: Sequence[str],
              services: Sequence[str], source: str) -> CollapsedCells:
    if not partials:
        raise DataValidationError(source, ["no child records"])
    frame = _combine(partials, keys, services)
    counts = frame[list(services)].to_numpy(dtype=np.int64) if services else \
        np.zeros((len(frame), 0), np.int64)
    maxima = frame[[s + _MAX for s in services]].max().to_numpy(dtype=np.int64) \
        if services else np.zeros(0, np.int64)
    return _build(geography, frame[LSOA_COLUMN].to_numpy(), {c: frame[c].to_numpy()
                                                             for c in keys},
                  frame[CHILDREN].to_numpy(), frame[EXPOSURE_COLUMN].to_numpy(), counts,
                  maxima, keys, services, source)


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
    known = pd.Index(geography.lsoa_codes)
    partials, offset = [], 0
    for k, frame in enumerate(frames):
        where = f"{source} (chunk {k})" if k else source
        _check_columns(frame.columns, needed, where)
        problems = _check_frame(frame, keys, services, known, where, offset)
        if problems:
            raise DataValidationError(where, problems)
        partials.append(_partial_pandas(frame[needed], keys, services))
        offset += len(frame)
    return _finalise(partials, geography, keys, services, source)


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
    problems = _check_frame(records, keys, services, pd.Index(geography.lsoa_codes), source, 0)
    if problems:
        raise DataValidationError(source, problems)
    counts = records[list(services)].to_numpy(dtype=np.int64)
    return _build(geography, records[LSOA_COLUMN].astype(str).to_numpy(dtype=object),
                  {c: records[c].astype(str).to_numpy(dtype=object) for c in keys},
                  np.ones(len(records), np.int64), records[EXPOSURE_COLUMN].to_numpy(float),
                  counts, counts.max(axis=0) if len(counts) else np.zeros(len(services)),
                  keys, services, f"{source} (one cell per child)")


def collapse_person_data(data, *, keep_rows: bool = False) -> CollapsedCells:
    """Collapse a validated :class:`~bayes_needs.data.PersonData`."""
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
    is validated and grouped with Arrow's multi-threaded hash aggregation, and the partial
    sums are merged at the end.

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
    known = pd.Index(geography.lsoa_codes)
    aggs = [(EXPOSURE_COLUMN, "count"), (EXPOSURE_COLUMN, "sum")]
    aggs += [(s, how) for s in services for how in ("sum", "max")]
    partials = []
    for path in files:
        handle = pq.ParquetFile(path)
        _check_columns(handle.schema_arrow.names, needed, str(path))
        offset = 0
        for batch in handle.iter_batches(columns=needed, batch_size=batch_size):
            table = pa.Table.from_batches([batch])
            problems = _check_frame(table.to_pandas(), keys, services, known, str(path),
                                    offset)
            if problems:
                raise DataValidationError(str(path), problems)
            grouped = table.group_by([LSOA_COLUMN, *keys]).aggregate(aggs).to_pandas()
            grouped = grouped.rename(columns={f"{EXPOSURE_COLUMN}_count": CHILDREN,
                                              f"{EXPOSURE_COLUMN}_sum": EXPOSURE_COLUMN,
                                              **{f"{s}_sum": s for s in services},
                                              **{f"{s}_max": s + _MAX for s in services}})
            partials.append(_normalise_partial(grouped, keys, services))
            offset += batch.num_rows
    return _finalise(partials, geography, keys, services, source)


def _dask_partition(frame: pd.DataFrame, keys, services, known, source,
                    partition_info=None) -> pd.DataFrame:
    number = partition_info["number"] if partition_info else "?"
    where = f"{source} (partition {number}; rows numbered within it)"
    problems = _check_frame(frame, keys, services, known, where, 0)
    if problems:
        raise DataValidationError(where, problems)
    return _partial_pandas(frame, keys, services)


def collapse_dask(frame, geography: Geography, *, services: Sequence[str],
                  covariates: Sequence[str] = (), source: str = "Dask DataFrame",
                  split_out: int = 1) -> CollapsedCells:
    """Collapse a Dask DataFrame of child records, on whatever scheduler is active.

    Every partition is validated and aggregated where it lives (workers of a
    ``dask.distributed`` cluster, or local threads); the partial sums are then merged with a
    tree reduction, so only cell-level rows ever travel.

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
    meta = _normalise_partial(pd.DataFrame({c: pd.Series(dtype=object) for c in
                                            [LSOA_COLUMN, *keys]}
                                           | {CHILDREN: pd.Series(dtype=np.int64),
                                              EXPOSURE_COLUMN: pd.Series(dtype=float)}
                                           | {c: pd.Series(dtype=np.int64) for s in services
                                              for c in (s, s + _MAX)}), keys, services)
    parts = frame[needed].map_partitions(_dask_partition, keys, services,
                                         pd.Index(geography.lsoa_codes), source, meta=meta)
    aggs = {CHILDREN: "sum", EXPOSURE_COLUMN: "sum",
            **{s: "sum" for s in services}, **{s + _MAX: "max" for s in services}}
    merged = parts.groupby([LSOA_COLUMN, *keys], sort=False).agg(
        aggs, split_out=split_out).compute().reset_index()
    return _finalise([_normalise_partial(merged, keys, services)], geography, keys, services,
                     source)
