"""The LSOA -> MSOA -> LA nesting.

A :class:`Geography` stores areas in canonical order: LAs sorted by code, MSOAs sorted by
(LA, code) and LSOAs sorted by (MSOA, code). Each level is therefore a run of contiguous
segments of the level below, so aggregation is a vectorised segment sum
(:func:`numpy.add.reduceat`) that also works on arrays with leading draw dims.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError, GeographyError
from bayes_needs.data._geography_checks import validated_table

#: A level name: ``dims.LSOA``, ``dims.MSOA`` or ``dims.LA`` (see :func:`as_level`).
Level = Literal["lsoa", "msoa", "la"]
_LEVEL_RANK = {dims.LSOA: 0, dims.MSOA: 1, dims.LA: 2}


def _segment_starts(parent_index: np.ndarray, n_parent: int) -> np.ndarray:
    """Start offset of each parent's run in a sorted child -> parent index array."""
    counts = np.bincount(parent_index, minlength=n_parent)
    return np.concatenate([[0], np.cumsum(counts)[:-1]])


@dataclass(frozen=True, eq=False)
class Geography:
    """Validated nesting of LSOAs in MSOAs in LAs, in canonical sorted order.

    Build it with :meth:`from_frame`; the constructor assumes already-validated arrays.

    Attributes
    ----------
    lsoa_codes, msoa_codes, la_codes
        Area codes per level, canonical order.
    lsoa_names, msoa_names, la_names
        Area names per level (codes where no names were given).
    lsoa_to_msoa
        For each LSOA, the integer position of its MSOA.
    msoa_to_la
        For each MSOA, the integer position of its LA.
    """

    lsoa_codes: np.ndarray
    lsoa_names: np.ndarray
    msoa_codes: np.ndarray
    msoa_names: np.ndarray
    la_codes: np.ndarray
    la_names: np.ndarray
    lsoa_to_msoa: np.ndarray
    msoa_to_la: np.ndarray
    _positions: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        lsoa_code: str = "lsoa_code",
        msoa_code: str = "msoa_code",
        la_code: str = "la_code",
        lsoa_name: str | None = None,
        msoa_name: str | None = None,
        la_name: str | None = None,
        source: str = "geography table",
        expected_las: Iterable[object] | None = None,
        expected_msoas: Iterable[object] | None = None,
    ) -> Geography:
        """Build and validate a geography from one row per LSOA.

        Parameters
        ----------
        frame
            One row per LSOA with code columns (and optionally name columns) for each level.
        lsoa_code, msoa_code, la_code, lsoa_name, msoa_name, la_name
            Column names in ``frame``. Name columns are optional.
        source
            Where the frame came from, used in error messages (e.g. a file path).
        expected_las, expected_msoas
            Optional LA (MSOA) codes that must each contain at least one LSOA; a unit listed
            here with no LSOAs is reported as an empty unit.

        Raises
        ------
        GeographyError
            Listing every problem: missing columns, missing or duplicate LSOA codes, an LSOA
            in two MSOAs, an MSOA in two LAs, a code with two names, an empty unit or an
            empty table.
        """
        table = validated_table(frame, lsoa_code=lsoa_code, msoa_code=msoa_code,
                                la_code=la_code, lsoa_name=lsoa_name, msoa_name=msoa_name,
                                la_name=la_name, source=source, expected_las=expected_las,
                                expected_msoas=expected_msoas)
        table = table.drop_duplicates(subset=[lsoa_code]).sort_values(
            [la_code, msoa_code, lsoa_code], kind="stable")
        la_codes, la_idx = np.unique(table[la_code].to_numpy(), return_inverse=True)
        msoa_keys = table[msoa_code].to_numpy()
        # MSOAs in (LA, code) order: the table is sorted that way already.
        msoa_codes, first = np.unique(msoa_keys, return_index=True)
        order = np.argsort(first, kind="stable")
        msoa_codes = msoa_codes[order]
        msoa_pos = {c: i for i, c in enumerate(msoa_codes)}
        lsoa_to_msoa = np.fromiter((msoa_pos[c] for c in msoa_keys), dtype=np.int64,
                                   count=len(msoa_keys))
        msoa_first_row = first[order]
        msoa_to_la = la_idx[msoa_first_row].astype(np.int64)

        def names(col: str | None, codes_col: str, rows: np.ndarray | None) -> np.ndarray:
            if col is None:
                src = table[codes_col].to_numpy()
            else:
                src = table[col].to_numpy()
            return (src if rows is None else src[rows]).astype(object)

        la_first_row = np.unique(la_idx, return_index=True)[1]
        return cls(
            lsoa_codes=table[lsoa_code].to_numpy().astype(object),
            lsoa_names=names(lsoa_name, lsoa_code, None),
            msoa_codes=msoa_codes.astype(object),
            msoa_names=names(msoa_name, msoa_code, msoa_first_row),
            la_codes=la_codes.astype(object),
            la_names=names(la_name, la_code, la_first_row),
            lsoa_to_msoa=lsoa_to_msoa,
            msoa_to_la=msoa_to_la,
        )

    # ------------------------------------------------------------------ basic facts
    @property
    def n_lsoa(self) -> int:
        """Number of LSOAs."""
        return len(self.lsoa_codes)

    @property
    def n_msoa(self) -> int:
        """Number of MSOAs."""
        return len(self.msoa_codes)

    @property
    def n_la(self) -> int:
        """Number of LAs."""
        return len(self.la_codes)

    @property
    def lsoa_to_la(self) -> np.ndarray:
        """For each LSOA, the integer position of its LA."""
        return self.msoa_to_la[self.lsoa_to_msoa]

    def size(self, level: Level) -> int:
        """Count the units at ``level``."""
        return {dims.LSOA: self.n_lsoa, dims.MSOA: self.n_msoa, dims.LA: self.n_la}[
            as_level(level)]

    def codes(self, level: Level) -> np.ndarray:
        """Codes at ``level`` in canonical order."""
        return {dims.LSOA: self.lsoa_codes, dims.MSOA: self.msoa_codes,
                dims.LA: self.la_codes}[as_level(level)]

    def names(self, level: Level) -> np.ndarray:
        """Names at ``level`` in canonical order."""
        return {dims.LSOA: self.lsoa_names, dims.MSOA: self.msoa_names,
                dims.LA: self.la_names}[as_level(level)]

    def parent_index(self, from_level: Level, to_level: Level) -> np.ndarray:
        """For each unit at ``from_level``, the position of its ancestor at ``to_level``."""
        lo, hi = _LEVEL_RANK[as_level(from_level)], _LEVEL_RANK[as_level(to_level)]
        if hi < lo:
            raise ConfigError(f"cannot map {from_level} up to finer level {to_level}")
        if lo == hi:
            return np.arange(self.size(from_level))
        if (from_level, to_level) == (dims.LSOA, dims.MSOA):
            return self.lsoa_to_msoa
        if (from_level, to_level) == (dims.MSOA, dims.LA):
            return self.msoa_to_la
        return self.lsoa_to_la

    def position(self, level: Level, codes: Any, *, what: str = "code") -> np.ndarray:
        """Integer positions of ``codes`` at ``level``.

        Parameters
        ----------
        level
            ``"lsoa"``, ``"msoa"`` or ``"la"``.
        codes
            Array-like of codes (a single string is treated as a list of one).
        what
            Where the codes came from, used as the error message prefix.

        Raises
        ------
        DataValidationError
            Naming every code that is not in the geography.
        """
        lookup = self._positions.get(level)
        if lookup is None:
            lookup = pd.Index(self.codes(level), dtype=object)
            self._positions[level] = lookup
        codes = np.atleast_1d(np.asarray(codes, dtype=object))
        pos = lookup.get_indexer(codes)
        if (pos < 0).any():
            bad = pd.unique(codes[pos < 0])
            raise DataValidationError(
                what, [f"{len(bad)} unknown {level.upper()} code(s) not in the geography: "
                       f"{list(bad[:8])}{' ...' if len(bad) > 8 else ''}"])
        return pos

    # ------------------------------------------------------------------ aggregation
    def aggregate(self, values: Any, from_level: Level = "lsoa",
                  to_level: Level = "la") -> Any:
        """Sum values over the last axis from ``from_level`` up to ``to_level``.

        Parameters
        ----------
        values
            Array whose last axis is ``from_level`` (any leading dims, e.g. chain and draw),
            or an :class:`xarray.DataArray` with a ``from_level`` dim.
        from_level, to_level
            Levels; ``to_level`` must be the same or coarser.

        Returns
        -------
        numpy.ndarray or xarray.DataArray
            Same leading dims, last axis (or dim) replaced by ``to_level``.
        """
        lo, hi = _LEVEL_RANK[as_level(from_level)], _LEVEL_RANK[as_level(to_level)]
        if hi < lo:
            raise ConfigError(f"cannot aggregate {from_level} values down to the finer level "
                              f"{to_level}")
        if isinstance(values, xr.DataArray):
            if from_level not in values.dims:
                raise DataValidationError("aggregate", [
                    f"the DataArray has dims {list(values.dims)}, no '{from_level}' dim"])
            if from_level in values.coords:
                values = self._canonical_order(values, from_level)
            moved = values.transpose(..., from_level)
            out = self.aggregate(moved.to_numpy(), from_level, to_level)
            new_dims = [*moved.dims[:-1], to_level]
            coords = {k: v for k, v in moved.coords.items() if from_level not in v.dims}
            coords[to_level] = self.codes(to_level)
            coords[f"{to_level}_name"] = (to_level, self.names(to_level))
            return xr.DataArray(out, dims=new_dims, coords=coords, name=values.name,
                                attrs=values.attrs)
        arr = np.asarray(values)
        n_from = self.size(from_level)
        if arr.ndim == 0 or arr.shape[-1] != n_from:
            got = "values are a scalar" if arr.ndim == 0 else \
                f"values have a last axis of length {arr.shape[-1]}"
            raise DataValidationError("aggregate", [
                f"{got}; expected a last axis of {n_from} {from_level.upper()}s"])
        if from_level == to_level:
            return arr.copy()
        starts = self._starts(from_level, to_level)
        return np.add.reduceat(arr, starts, axis=-1)

    def _canonical_order(self, values: xr.DataArray, level: Level) -> xr.DataArray:
        """``values`` with its ``level`` coordinate in canonical order (codes checked)."""
        labels = np.asarray(values[level].to_numpy(), dtype=object)
        codes = self.codes(level)
        if len(labels) == len(codes) and np.array_equal(labels, codes):
            return values
        pos = self.position(level, labels, what=f"DataArray '{level}' coordinate")
        if len(np.unique(pos)) != len(pos) or len(pos) != len(codes):
            raise DataValidationError(f"DataArray '{level}' coordinate", [
                f"expected each of the {len(codes)} {level.upper()} codes exactly once, got "
                f"{len(labels)} labels ({len(np.unique(pos))} distinct)"])
        # Labels are a permutation of the canonical codes: reorder rather than misalign.
        return values.isel({level: np.argsort(pos)})

    def _starts(self, from_level: Level, to_level: Level) -> np.ndarray:
        key = ("starts", from_level, to_level)
        if key not in self._positions:
            self._positions[key] = _segment_starts(self.parent_index(from_level, to_level),
                                                   self.size(to_level))
        return self._positions[key]

    # ------------------------------------------------------------------ xarray helpers
    def coords(self, level: Level) -> dict[str, Any]:
        """Coordinates for a ``level`` dim: codes as the index plus a ``<level>_name`` coord."""
        return {level: self.codes(level), f"{level}_name": (level, self.names(level))}

    def to_frame(self) -> pd.DataFrame:
        """One row per LSOA with code and name columns for every level."""
        msoa = self.lsoa_to_msoa
        la = self.lsoa_to_la
        return pd.DataFrame({
            "lsoa_code": self.lsoa_codes, "lsoa_name": self.lsoa_names,
            "msoa_code": self.msoa_codes[msoa], "msoa_name": self.msoa_names[msoa],
            "la_code": self.la_codes[la], "la_name": self.la_names[la],
        })

    def fingerprint(self) -> str:
        """Hash the nesting briefly, for use in data hashes."""
        h = hashlib.sha256()
        for arr in (self.lsoa_codes, self.msoa_codes, self.la_codes):
            h.update("\x1f".join(map(str, arr)).encode())
        h.update(self.lsoa_to_msoa.tobytes())
        h.update(self.msoa_to_la.tobytes())
        return h.hexdigest()[:16]

    def subset_las(self, la_codes: Any) -> Geography:
        """Restrict the geography to the given LAs.

        Parameters
        ----------
        la_codes
            Array-like of LA codes of this geography.

        Returns
        -------
        Geography
            The LSOAs, MSOAs and LAs of those LAs, in canonical order.

        Raises
        ------
        GeographyError
            If no LA code is given.
        DataValidationError
            If a code is not an LA of this geography.
        """
        keep = self.position(dims.LA, la_codes, what="LA subset")
        if len(keep) == 0:
            raise GeographyError("LA subset", ["no LA codes given; the subset would be empty"])
        frame = self.to_frame()
        frame = frame[np.isin(self.lsoa_to_la, keep)]
        return Geography.from_frame(frame, lsoa_name="lsoa_name", msoa_name="msoa_name",
                                    la_name="la_name", source="LA subset")


def as_level(level: object) -> Level:
    """Check that ``level`` names a level, and type it as one.

    Parameters
    ----------
    level
        A level name read from data or configuration.

    Returns
    -------
    Level
        The same string.

    Raises
    ------
    ConfigError
        If it is not ``"lsoa"``, ``"msoa"`` or ``"la"``.
    """
    if not isinstance(level, str) or level not in _LEVEL_RANK:
        raise ConfigError(f"unknown level {level!r}; expected one of {list(_LEVEL_RANK)}")
    return cast(Level, level)  # checked just above
