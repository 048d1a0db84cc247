"""Batches of child records as arrays, and their validation, for the collapse engines.

Every engine of :mod:`bayes_needs.data.person.collapse` turns its input (a pandas frame, an
Arrow table, a Dask partition or partial sums) into a :class:`Batch`, checks it with
:func:`check_batch` and hands it to the accumulator of :mod:`bayes_needs.data.person.aggregate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.geography import Geography
from bayes_needs.data.person.cells import CHILDREN, EXPOSURE_COLUMN, LSOA_COLUMN, MAX_SUFFIX


@dataclass
class Batch:
    """One batch of records (or of partial sums) as arrays.

    Attributes
    ----------
    n
        Number of rows.
    codes
        Per key column, integer codes indexing ``labels`` of that column (-1 where empty).
    labels
        Per key column, the distinct labels the codes refer to.
    children
        1 per raw record, or a partial count of children.
    exposure
        Years at risk per row (values or partial sums).
    outcomes
        Per service, the outcome per row (values or partial sums).
    maxima
        Per service, the largest single-child outcome per row.
    """

    n: int
    codes: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    children: np.ndarray
    exposure: np.ndarray
    outcomes: dict[str, np.ndarray]
    maxima: dict[str, np.ndarray]


def _labelled(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return integer codes (-1 = empty) and their labels, for a pandas Series or array."""
    cat = values if isinstance(getattr(values, "dtype", None), pd.CategoricalDtype) \
        else pd.Categorical(values)
    cat = getattr(cat, "cat", cat)
    return np.asarray(cat.codes, dtype=np.int64), \
        np.asarray(cat.categories.astype(str), dtype=object)


def _numbers(values: Any) -> np.ndarray:
    """Return values as floats, with NaN for anything that is not a number."""
    return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float,
                                                                      na_value=np.nan)


def batch_from_frame(frame: pd.DataFrame, keys: Sequence[str], services: Sequence[str],
                     *, partial: bool = False) -> Batch:
    """Turn a frame of records (or of partial sums) into a :class:`Batch`.

    Parameters
    ----------
    frame
        Records with the LSOA, exposure, key and service columns.
    keys
        Child key columns (age band, sex and the declared covariates).
    services
        Outcome columns.
    partial
        The frame holds partial sums: a children count and per-service maxima columns.

    Returns
    -------
    Batch
        The rows as arrays.
    """
    codes, labels = {}, {}
    for c in (LSOA_COLUMN, *keys):
        codes[c], labels[c] = _labelled(frame[c])
    outcomes = {s: _numbers(frame[s]) for s in services}
    if partial:
        return Batch(len(frame), codes, labels, frame[CHILDREN].to_numpy(np.int64),
                     _numbers(frame[EXPOSURE_COLUMN]), outcomes,
                     {s: _numbers(frame[s + MAX_SUFFIX]) for s in services})
    return Batch(len(frame), codes, labels, np.ones(len(frame), np.int64),
                 _numbers(frame[EXPOSURE_COLUMN]), outcomes, outcomes)


def batch_from_arrow(table: pa.Table, keys: Sequence[str], services: Sequence[str]) -> Batch:
    """Turn an Arrow table of records into a :class:`Batch`, using dictionary codes as they are.

    Parameters
    ----------
    table
        Records with the LSOA, exposure, key and service columns.
    keys
        Child key columns (age band, sex and the declared covariates).
    services
        Outcome columns.

    Returns
    -------
    Batch
        The rows as arrays.
    """
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
    return Batch(table.num_rows, codes, labels, np.ones(table.num_rows, np.int64),
                 numbers(EXPOSURE_COLUMN), outcomes, outcomes)


def _rows(mask: np.ndarray, offset: int) -> list[int]:
    """Return the first few row numbers where ``mask`` is true, counted from ``offset``."""
    return [int(i) + offset for i in np.flatnonzero(mask)[:5]]


def check_columns(columns: Iterable[str], needed: Sequence[str], where: str) -> None:
    """Raise if any ``needed`` column is missing.

    Parameters
    ----------
    columns
        The columns present.
    needed
        The columns the records need.
    where
        Label of the input used in the error.

    Raises
    ------
    DataValidationError
        Naming the missing columns.
    """
    missing = [c for c in needed if c not in set(columns)]
    if missing:
        raise DataValidationError(where, [f"missing column(s) {missing}; the records need "
                                          f"{list(needed)}"])


def check_batch(batch: Batch, keys: Sequence[str], services: Sequence[str],
                geography: Geography, offset: int) -> tuple[np.ndarray, list[str]]:
    """Validate a batch and locate its rows' LSOAs.

    Parameters
    ----------
    batch
        The rows to check.
    keys
        Child key columns, which must not be empty.
    services
        Outcome columns, which must hold whole numbers >= 0.
    geography
        The nesting the LSOA codes must belong to.
    offset
        Number of the batch's first row, used in the messages.

    Returns
    -------
    lsoa, problems
        LSOA position of every row (-1 where unknown or empty) and the problems found.
    """
    problems = []
    for col in (LSOA_COLUMN, *keys):
        empty = batch.codes[col] < 0
        if empty.any():
            problems.append(f"column '{col}' is empty at {int(empty.sum())} row(s), first at "
                            f"row(s) {_rows(empty, offset)}")
    label_pos = pd.Index(geography.lsoa_codes).get_indexer(
        pd.Index(batch.labels[LSOA_COLUMN]))
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
