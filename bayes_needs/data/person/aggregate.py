"""Per-cell sums of validated record batches, and the assembly of :class:`CollapsedCells`.

:class:`Collapser` keys every row on one int64 (LSOA position and the global codes of its
child covariate levels) so each batch is grouped with a single factorisation; engines whose
partitions share no state group on the raw labels instead (:func:`label_partial`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.geography import Geography
from bayes_needs.data.person.batches import Batch
from bayes_needs.data.person.cells import (
    CHILDREN,
    EXPOSURE_COLUMN,
    LSOA_COLUMN,
    MAX_SUFFIX,
    CollapsedCells,
    natural_sorted,
)

#: Levels per child covariate the integer cell keys have room for.
_RADIX = 256


class Collapser:
    """Accumulate per-cell sums over batches with one integer key per (LSOA, pattern).

    Covariate labels get global codes in order of first appearance (a registry shared by
    all batches), so each batch is grouped on a single int64 key.

    Parameters
    ----------
    geography
        The nesting the rows' LSOAs belong to.
    keys
        Child key columns (age band, sex and the declared covariates).
    services
        Outcome columns.
    source
        Label used in error messages.

    Raises
    ------
    DataValidationError
        If the keys need more than 62 bits.
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

    def _global_codes(self, batch: Batch) -> np.ndarray:
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

    def add(self, batch: Batch, lsoa: np.ndarray) -> None:
        """Aggregate one validated batch.

        Parameters
        ----------
        batch
            Rows that passed :func:`~bayes_needs.data.person.batches.check_batch`.
        lsoa
            LSOA position of every row.
        """
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
        """Merge the partial sums into the collapsed cells of everything added.

        Returns
        -------
        CollapsedCells
            One cell per (LSOA, pattern) seen.

        Raises
        ------
        DataValidationError
            If nothing was added.
        """
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
        return build_cells(self.geography, key, self.keys, self.registry, codes, frame,
                           self.services, self.source)


def build_cells(geography: Geography, lsoa: np.ndarray, keys: Sequence[str],
                registry: dict[str, dict[str, int]], codes: list[np.ndarray],
                frame: pd.DataFrame, services: Sequence[str], source: str) -> CollapsedCells:
    """Put levels in natural order, number the patterns and sort the cells.

    Parameters
    ----------
    geography
        The nesting the cells' LSOAs belong to.
    lsoa
        LSOA position of every cell.
    keys
        Child key columns.
    registry
        Per key column, label -> code in order of first appearance.
    codes
        Per key column, the registry code of every cell.
    frame
        Per cell, the children, exposure, outcome and outcome-maximum columns.
    services
        Outcome columns.
    source
        Label recorded with the cells.

    Returns
    -------
    CollapsedCells
        Cells sorted by LSOA, then pattern.
    """
    levels, recoded = {}, []
    for c, code in zip(keys, codes, strict=True):
        labels = list(registry[c])
        levels[c] = tuple(natural_sorted(labels))
        order = pd.Index(levels[c]).get_indexer(pd.Index(labels))
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


def label_partial(frame: pd.DataFrame, keys: Sequence[str],
                  services: Sequence[str]) -> pd.DataFrame:
    """Sum a frame of records per cell, keyed by the raw labels.

    For engines whose partitions share no label registry (see
    :func:`~bayes_needs.data.person.collapse.collapse_dask`).

    Parameters
    ----------
    frame
        Validated records.
    keys
        Child key columns.
    services
        Outcome columns.

    Returns
    -------
    pandas.DataFrame
        Typed partial sums, as :func:`typed_partial`.
    """
    aggs = {CHILDREN: (EXPOSURE_COLUMN, "size"), EXPOSURE_COLUMN: (EXPOSURE_COLUMN, "sum")}
    for s in services:
        aggs[s] = (s, "sum")
        aggs[s + MAX_SUFFIX] = (s, "max")
    out = frame.groupby([LSOA_COLUMN, *keys], observed=True, sort=False).agg(**aggs)
    return typed_partial(out.reset_index(), keys, services)


def typed_partial(out: pd.DataFrame, keys: Sequence[str],
                  services: Sequence[str]) -> pd.DataFrame:
    """Give partial sums their canonical column order and dtypes.

    Parameters
    ----------
    out
        Partial sums with the LSOA, key, children, exposure, outcome and maximum columns;
        converted in place.
    keys
        Child key columns.
    services
        Outcome columns.

    Returns
    -------
    pandas.DataFrame
        Labels as text, children and outcomes as int64, exposure as float.
    """
    for c in (LSOA_COLUMN, *keys):
        out[c] = out[c].astype(str).astype(object)
    out[CHILDREN] = out[CHILDREN].astype(np.int64)
    out[EXPOSURE_COLUMN] = out[EXPOSURE_COLUMN].astype(float)
    for s in services:
        out[s] = out[s].astype(np.int64)
        out[s + MAX_SUFFIX] = out[s + MAX_SUFFIX].astype(np.int64)
    return out[[LSOA_COLUMN, *keys, CHILDREN, EXPOSURE_COLUMN,
                *[c for s in services for c in (s, s + MAX_SUFFIX)]]]
