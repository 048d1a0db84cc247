"""Returns below LA level for a panel: counts per LSOA or per MSOA, for some services and years.

Some LAs can say where their children live: a count per LSOA (or per MSOA) of the children
they served in a year. The panel model (:mod:`bayes_needs.models.panel`) takes such returns
as the split of their total over the returned areas, which informs its within-LA needs
gradient (:mod:`bayes_needs.models.panel_returns`).

The table is long, one row per area and year: ``service, level, area_code, year, count`` with
``level`` ``"lsoa"`` or ``"msoa"`` and an optional ``la_code`` (the LA the area is stated to
lie in, checked against the geography). An area left out is not returned (not zero): list
every area an LA returned, zeros included. For one service, LA and year every row must be at
one level. :meth:`PanelReturns.from_frame` checks everything against the panel at once and
raises one :class:`~bayes_needs.core.errors.DataValidationError` naming the file, line,
service, area code and year of every problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.defaults import MAX_COUNT_PER_CHILD
from bayes_needs.core.errors import ConfigError, MissingDataError
from bayes_needs.data._container_checks import hash_frame, implausible_counts
from bayes_needs.data._panel_checks import (
    LA_CODE,
    MAX_SHOWN,
    _duplicates,
    _lines,
    _missing_columns,
    _raw,
    _shown,
    whole_years,
)
from bayes_needs.data.panel import PanelData
from bayes_needs.data.readers._files import read_text_csv
from bayes_needs.data.validation import MAX_COUNT, raise_if

__all__ = ["RETURN_COLUMNS", "RETURN_LEVELS", "TABLE_COLUMNS", "PanelReturns",
           "panel_data_hash"]

#: Required columns of a returns table.
RETURN_COLUMNS: tuple[str, ...] = (dims.SERVICE, "level", "area_code", dims.YEAR, "count")
#: Columns of :attr:`PanelReturns.table`.
TABLE_COLUMNS: tuple[str, ...] = (dims.SERVICE, "level", "area_code", LA_CODE, dims.YEAR,
                                  "count")
#: Levels a return may be at.
RETURN_LEVELS: tuple[str, ...] = (dims.LSOA, dims.MSOA)


@dataclass(frozen=True, eq=False)
class PanelReturns:
    """Validated LSOA and MSOA returns of a panel.

    Build it with :meth:`from_frame` or :meth:`from_csv`.

    Attributes
    ----------
    table
        Columns :data:`TABLE_COLUMNS` (``la_code`` from the geography, ``year`` and ``count``
        integers), sorted by service (panel order), year, LA, level and area (geography
        order).
    geography_fingerprint
        :meth:`~bayes_needs.data.geography.Geography.fingerprint` of the panel's geography.
    source
        Where the returns came from.
    """

    table: pd.DataFrame
    geography_fingerprint: str
    source: str = "panel returns"

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, panel: PanelData, *,
                   source: str = "panel returns") -> PanelReturns:
        """Validate a returns table against ``panel``, reporting every problem at once.

        Parameters
        ----------
        frame
            Columns :data:`RETURN_COLUMNS`, optionally ``la_code`` (the stated LA of each
            area) and ``file``/``line`` (used in messages; :meth:`from_csv` adds ``line``).
        panel
            The panel the returns belong to (geography, services, years, LSOA weights).
        source
            Label of the table in messages.

        Returns
        -------
        PanelReturns
            The validated returns.

        Raises
        ------
        DataValidationError
            Listing every problem: a missing column, a service or year not in the panel, a
            level other than ``lsoa``/``msoa``, an area code unknown at its level or not in
            its stated LA, a count that is not a non-negative whole number, duplicate
            (service, level, area, year) rows, an LA returning one service and year at both
            levels, a positive count in an area without children in the panel's weights.
        """
        table = _validated(frame, panel, source)
        return cls(table=table, geography_fingerprint=panel.geography.fingerprint(),
                   source=source)

    @classmethod
    def from_csv(cls, path: str | Path, panel: PanelData) -> PanelReturns:
        """Read and validate a returns CSV (columns as in :meth:`from_frame`).

        Parameters
        ----------
        path
            The CSV file (UTF-8, optionally compressed; see
            :func:`~bayes_needs.data.readers._csv.read_csv_rows`); messages name it and its
            lines.
        panel
            The panel the returns belong to.

        Returns
        -------
        PanelReturns
            The validated returns.

        Raises
        ------
        MissingDataError
            If the file does not exist.
        DataValidationError
            If the file is unreadable or any row is invalid (see :meth:`from_frame`).
        """
        path = Path(path)
        if not path.is_file():
            raise MissingDataError(f"returns file {path} does not exist")
        frame = read_text_csv(path, RETURN_COLUMNS, optional=(LA_CODE,))
        return cls.from_frame(frame, panel, source=str(path))

    # ------------------------------------------------------------------ views
    @property
    def services(self) -> tuple[str, ...]:
        """Services with returns, in table order."""
        return tuple(pd.unique(self.table[dims.SERVICE]))

    @property
    def years(self) -> tuple[int, ...]:
        """Years with returns, ascending."""
        return tuple(sorted(int(y) for y in pd.unique(self.table[dims.YEAR])))

    def __len__(self) -> int:
        """Return the number of returned counts."""
        return len(self.table)

    def data_hash(self) -> str:
        """Hash the returns (and the geography they were checked against), stably.

        Returns
        -------
        str
            The first 16 hex digits of a SHA-256 (the label ``source`` is left out).
        """
        h = hashlib.sha256(self.geography_fingerprint.encode())
        hash_frame(h, self.table.reset_index(drop=True))
        return h.hexdigest()[:16]

    def summary(self) -> dict[str, Any]:
        """Return a JSON-able description: source, rows, services, levels, years, LAs, hash."""
        t = self.table
        return {"source": self.source, "rows": len(t), "services": list(self.services),
                "levels": sorted(set(t["level"])), "years": list(self.years),
                "las": int(t[LA_CODE].nunique()), "data_hash": self.data_hash()}

    def checked_for(self, panel: PanelData) -> PanelReturns:
        """Return ``self`` after checking it was validated against ``panel``'s geography.

        Raises
        ------
        ConfigError
            If the geography differs (validate the returns against this panel).
        """
        if panel.geography.fingerprint() != self.geography_fingerprint:
            raise ConfigError(f"{self.source}: the returns were validated against another "
                              f"geography than that of {panel.source}; read them again with "
                              f"this panel")
        return self

    def restrict(self, services: Iterable[str], years: Iterable[int]) -> PanelReturns:
        """Keep the returns of ``services`` in ``years`` (e.g. a model's fitted years).

        Parameters
        ----------
        services, years
            What to keep; others are dropped silently.

        Returns
        -------
        PanelReturns
            The subset, possibly empty.
        """
        t = self.table
        keep = t[dims.SERVICE].isin(list(services)) & t[dims.YEAR].isin(
            [int(y) for y in years])
        return replace(self, table=t[keep].reset_index(drop=True))


def panel_data_hash(panel: PanelData, returns: PanelReturns | None) -> str:
    """Hash a panel together with its returns (the panel's own hash when there are none).

    Parameters
    ----------
    panel
        The panel.
    returns
        Its returns, or ``None``.

    Returns
    -------
    str
        16 hex digits.
    """
    if returns is None:
        return panel.data_hash()
    joined = f"{panel.data_hash()}+{returns.data_hash()}"
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


# ---------------------------------------------------------------------- validation
def _validated(frame: Any, panel: PanelData, source: str) -> pd.DataFrame:
    """Check a returns table against ``panel``; return the sorted table or raise once."""
    problems = _missing_columns(frame, list(RETURN_COLUMNS), source)
    raise_if(problems, source)
    t = _clean(frame)
    geo = panel.geography
    problems += _check_names(t, dims.SERVICE, panel.services, source,
                             "is not a service of the panel")
    problems += _check_names(t, "level", RETURN_LEVELS, source, "is not a returns level",
                             hint=" (LA totals belong in the panel's counts)")
    year_ok = _check_years(t, panel.years, source, problems)
    # Each area's LA (-1 where its level or code is unknown).
    area_code = t["area_code"].to_numpy(dtype=object)
    area_pos = np.full(len(t), -1, dtype=np.int64)
    area_la = np.full(len(t), -1, dtype=np.int64)
    for level in (dims.LSOA, dims.MSOA):
        rows = (t["level"] == level).to_numpy()
        pos = pd.Index(geo.codes(level)).get_indexer(pd.Index(area_code[rows]))
        unknown = rows.copy()
        unknown[rows] = pos < 0
        if unknown.any():
            codes = [str(c) for c in pd.unique(area_code[unknown])]
            problems.append(f"{source}: {len(codes)} {level.upper()} code(s) not in the "
                            f"geography: {codes[:8]} (at {_lines(t, unknown)})")
        area_pos[rows] = pos
        area_la[rows] = np.where(pos >= 0, geo.parent_index(level, dims.LA)[pos], -1)
    placed = area_la >= 0
    t["_pos"] = area_pos
    t["_la"] = area_la
    la_code = np.full(len(t), None, dtype=object)
    la_code[placed] = geo.la_codes[area_la[placed]]
    t[LA_CODE] = la_code
    if "_stated" in t.columns:
        wrong = placed & (t["_stated"] != t[LA_CODE]).to_numpy()
        for i in _shown(wrong, problems, source, "row(s) with a wrong la_code"):
            problems.append(f"{source}: {_where(t, i)}: the {t['level'].iloc[i].upper()} lies "
                            f"in LA {t[LA_CODE].iloc[i]}, not in the stated LA "
                            f"{_raw(t['_stated'].iloc[i])!r}")
    count_ok = _check_counts(t, source, problems)
    problems += _duplicates(t, [dims.SERVICE, "level", "area_code", dims.YEAR], source)
    usable = placed & year_ok
    problems += _mixed_levels(t[usable], source)
    problems += _empty_areas(t, placed & count_ok, panel, source)
    problems += _implausible(t, usable & count_ok, panel, source)
    raise_if(problems, source)
    return _sorted(t, panel)


def _clean(frame: pd.DataFrame) -> pd.DataFrame:
    """Strip the text columns and keep the ones validation uses."""
    def text(column: str) -> np.ndarray:
        return frame[column].map(lambda v: v.strip() if isinstance(v, str) else v).to_numpy(
            dtype=object)

    t = pd.DataFrame({dims.SERVICE: text(dims.SERVICE), "area_code": text("area_code"),
                      "_year": frame[dims.YEAR].to_numpy(), "_count": frame["count"].to_numpy()})
    t["level"] = [v.lower() if isinstance(v, str) else v for v in text("level")]
    t[dims.YEAR] = pd.array([pd.NA] * len(t), dtype="Int64")
    if LA_CODE in frame.columns:
        t["_stated"] = text(LA_CODE)
    for extra in ("file", "line"):
        if extra in frame.columns:
            t[extra] = frame[extra].to_numpy()
    return t


def _check_names(t: pd.DataFrame, column: str, allowed: Iterable[str], source: str,
                 what: str, hint: str = "") -> list[str]:
    """Name every value of ``column`` outside ``allowed``, with the lines it is at."""
    allowed = list(allowed)
    values = t[column].to_numpy(dtype=object)
    problems = []
    for value in pd.unique(values):
        if value not in allowed:
            problems.append(f"{source}: {column} {_raw(value)!r} {what}; expected one of "
                            f"{allowed}{hint} (at {_lines(t, values == value)})")
    return problems


def _check_years(t: pd.DataFrame, years: tuple[int, ...], source: str,
                 problems: list[str]) -> np.ndarray:
    """Parse whole years in the panel's years into ``t``; return which rows have one."""
    raw, whole = whole_years(t["_year"], t, source, problems)
    t[dims.YEAR] = pd.array(np.where(whole, raw, np.nan), dtype="Int64")
    inside = whole & np.isin(np.where(whole, raw, -1), years)
    for year in pd.unique(raw[whole & ~inside]):
        problems.append(f"{source}: year {int(year)} is not a year of the panel "
                        f"({years[0]}-{years[-1]}) (at {_lines(t, raw == year)})")
    return inside


def _check_counts(t: pd.DataFrame, source: str, problems: list[str]) -> np.ndarray:
    """Parse non-negative whole counts into ``t``; return which rows have one."""
    raw = t["_count"]
    value = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(value) & (value >= 0) & (value <= MAX_COUNT) & (
            np.floor(value) == value)
    for i in _shown(~ok, problems, source, "count row(s)"):
        problems.append(f"{source}: {_where(t, i)}: count must be a non-negative whole "
                        f"number, got {_raw(raw.iloc[i])!r} (leave an unreturned area out)")
    t["count"] = np.where(ok, value, 0).astype(np.int64)
    return ok


def _mixed_levels(t: pd.DataFrame, source: str) -> list[str]:
    """Name each (service, LA, year) returned at both levels (the same events twice)."""
    levels = t.groupby([dims.SERVICE, LA_CODE, dims.YEAR])["level"].nunique()
    mixed = levels[levels > 1]
    return [f"{source}: service {s!r}, LA {la}, year {y} is returned at both LSOA and MSOA "
            f"level; give one level per service, LA and year"
            for s, la, y in list(mixed.index)[:MAX_SHOWN]]


def _empty_areas(t: pd.DataFrame, usable: np.ndarray, panel: PanelData,
                 source: str) -> list[str]:
    """Name areas with a positive count but no children in the panel's LSOA weights."""
    geo = panel.geography
    weight = {dims.LSOA: panel.lsoa_weight,
              dims.MSOA: geo.aggregate(panel.lsoa_weight, dims.LSOA, dims.MSOA)}
    empty = np.zeros(len(t), dtype=bool)
    for level, w in weight.items():
        rows = usable & (t["level"] == level).to_numpy()
        empty[rows] = w[t.loc[rows, "_pos"].to_numpy(dtype=np.int64)] <= 0
    empty &= (t["count"] > 0).to_numpy()
    problems: list[str] = []
    for i in _shown(empty, problems, source, "row(s) in areas without children"):
        problems.append(f"{source}: {_where(t, i)}: count {t['count'].iloc[i]} in an area "
                        f"with no children in the panel's LSOA weights")
    return problems


def _implausible(t: pd.DataFrame, usable: np.ndarray, panel: PanelData,
                 source: str) -> list[str]:
    """Name counts above ``MAX_COUNT_PER_CHILD`` per child of their area's exposure."""
    exposure = np.zeros(len(t))
    for year in pd.unique(t.loc[usable, dims.YEAR]):
        lsoa = panel.lsoa_exposure(int(year))
        for level, values in ((dims.LSOA, lsoa),
                              (dims.MSOA, panel.geography.aggregate(lsoa, dims.LSOA, dims.MSOA))):
            rows = usable & (t["level"] == level).to_numpy() & (
                t[dims.YEAR] == year).to_numpy(dtype=bool, na_value=False)
            exposure[rows] = values[t.loc[rows, "_pos"].to_numpy(dtype=np.int64)]
    bad = np.zeros(len(t), dtype=bool)
    bad[implausible_counts(np.where(usable, t["count"], 0), exposure)] = True
    problems: list[str] = []
    for i in _shown(bad, problems, source, "row(s) with an implausible count"):
        problems.append(f"{source}: {_where(t, i)}, LA {t[LA_CODE].iloc[i]}: count "
                        f"{t['count'].iloc[i]} is {t['count'].iloc[i] / exposure[i]:.3g} per "
                        f"child of the area's {exposure[i]:.3g} children (exposure); more than "
                        f"{MAX_COUNT_PER_CHILD:g} per child cannot be right")
    return problems


def _sorted(t: pd.DataFrame, panel: PanelData) -> pd.DataFrame:
    """Sort by service (panel order), year, LA, level and area; keep :data:`TABLE_COLUMNS`."""
    order = pd.DataFrame({"s": [panel.services.index(s) for s in t[dims.SERVICE]],
                          "y": t[dims.YEAR].to_numpy(dtype=np.int64),
                          "la": t["_la"].to_numpy(), "lv": [RETURN_LEVELS.index(v)
                                                            for v in t["level"]],
                          "a": t["_pos"].to_numpy(dtype=np.int64)})
    index = order.sort_values(["s", "y", "la", "lv", "a"], kind="stable").index
    out = t.loc[index, list(TABLE_COLUMNS)].reset_index(drop=True)
    out[dims.YEAR] = out[dims.YEAR].to_numpy(dtype=np.int64)
    out[LA_CODE] = out[LA_CODE].astype(object)
    return out


def _where(t: pd.DataFrame, i: int) -> str:
    """``service 'cin', LSOA E01000001, year 2015 (file f.csv, line 7)`` for row ``i``."""
    row = t.iloc[i]
    level = row["level"].upper() if isinstance(row["level"], str) else "area"
    year = row[dims.YEAR] if not pd.isna(row[dims.YEAR]) else _raw(row["_year"])
    bits = [f"file {row['file']}"] if "file" in t.columns else []
    bits.append(f"line {row['line']}" if "line" in t.columns else f"row {i}")
    return (f"service {row[dims.SERVICE]!r}, {level} {row['area_code']}, year {year} "
            f"({', '.join(bits)})")
