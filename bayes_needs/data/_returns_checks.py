"""The one set of row checks of LSOA/MSOA returns, whatever file they came from.

:class:`~bayes_needs.data.panel_returns.PanelReturns` (a long CSV or a table in memory) and
the return templates (:mod:`bayes_needs.data.return_validation`, CSV or XLSX workbooks) both
turn their rows into one long table, ``service, level, area_code, year, count`` (optional
``la_code``), and check it here against the panel: services and years of the panel, levels,
area codes at their level and in their stated LA, counts, duplicates, one level per service,
LA and year, counts in areas without children and implausible counts.

Each problem is a :class:`ReturnProblem`: its message names the place (file and line, or
file, sheet, row and column when the table carries a ``place`` column), and its fields say
the same for a machine-readable report.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.defaults import MAX_COUNT_PER_CHILD
from bayes_needs.data._container_checks import implausible_counts
from bayes_needs.data._panel_checks import (
    LA_CODE,
    MAX_SHOWN,
    _lines,
    _missing_columns,
    _raw,
    _shown,
    whole_years,
)
from bayes_needs.data.panel import PanelData
from bayes_needs.data.validation import MAX_COUNT

__all__ = ["ERROR", "PLACE_COLUMNS", "RETURN_COLUMNS", "RETURN_LEVELS", "TABLE_COLUMNS",
           "WARNING", "ReturnProblem", "check_rows"]

#: Required columns of a returns table.
RETURN_COLUMNS: tuple[str, ...] = (dims.SERVICE, "level", "area_code", dims.YEAR, "count")
#: Columns of a validated returns table.
TABLE_COLUMNS: tuple[str, ...] = (dims.SERVICE, "level", "area_code", LA_CODE, dims.YEAR,
                                  "count")
#: Levels a return may be at.
RETURN_LEVELS: tuple[str, ...] = (dims.LSOA, dims.MSOA)
#: Optional columns of a returns table saying where each row came from.
PLACE_COLUMNS: tuple[str, ...] = ("file", "line", "sheet", "row", "column", "place")
ERROR, WARNING = "error", "warning"


@dataclass(frozen=True)
class ReturnProblem:
    """One problem of a return: what kind, where, and a message naming the place.

    Attributes
    ----------
    kind
        A short stable name of the kind of problem (``unknown_area_code``, ...).
    message
        The whole description, naming the file and place.
    severity
        :data:`ERROR` (the return cannot be used) or :data:`WARNING` (reported only).
    file, sheet, row, column
        The place, as far as it is one cell: ``row`` is the file line of a CSV and the sheet
        row of a workbook (both 1-based, the header included).
    """

    kind: str
    message: str
    severity: str = ERROR
    file: str | None = None
    sheet: str | None = None
    row: int | None = None
    column: str | None = None

    def __str__(self) -> str:
        """Return the message."""
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as a JSON-able mapping."""
        return asdict(self)


def check_rows(frame: Any, panel: PanelData, source: str
               ) -> tuple[pd.DataFrame | None, list[ReturnProblem]]:
    """Check a long returns table against ``panel``; return the valid table or the problems.

    Parameters
    ----------
    frame
        Columns :data:`RETURN_COLUMNS`, optionally ``la_code`` (the stated LA of each area)
        and :data:`PLACE_COLUMNS`.
    panel
        The panel the returns belong to.
    source
        Label of the table in messages.

    Returns
    -------
    table, problems
        The table sorted and typed (columns :data:`TABLE_COLUMNS`), or ``None`` when there
        are problems; and the problems.
    """
    missing = _missing_columns(frame, list(RETURN_COLUMNS), source)
    if missing:
        return None, [ReturnProblem("missing_column", p, file=source) for p in missing]
    t = _clean(frame)
    geo = panel.geography
    problems = _check_names(t, dims.SERVICE, panel.services, source, "unknown_service",
                            "is not a service of the panel")
    problems += _check_names(t, "level", RETURN_LEVELS, source, "unknown_level",
                             "is not a returns level",
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
            problems.append(_problem(
                "unknown_area_code", f"{source}: {len(codes)} {level.upper()} code(s) not in "
                f"the geography: {codes[:8]} (at {_at(t, unknown)})", t, unknown))
        area_pos[rows] = pos
        area_la[rows] = np.where(pos >= 0, geo.parent_index(level, dims.LA)[pos], -1)
    placed = area_la >= 0
    t["_pos"] = area_pos
    t["_la"] = area_la
    la_code = np.full(len(t), None, dtype=object)
    la_code[placed] = geo.la_codes[area_la[placed]]
    t[LA_CODE] = la_code
    if "_stated" in t.columns:
        # NaN: a table without la_code joined to one with it (a long CSV and a template).
        stated = t["_stated"]
        wrong = placed & stated.notna().to_numpy() & (stated != t[LA_CODE]).to_numpy()
        for i in _each(wrong, problems, source, "row(s) with a wrong la_code"):
            problems.append(_problem(
                "area_of_another_la", f"{source}: {_where(t, i)}: the "
                f"{t['level'].iloc[i].upper()} lies in LA {t[LA_CODE].iloc[i]}, not in the "
                f"stated LA {_raw(t['_stated'].iloc[i])!r}", t, i))
    count_ok = _check_counts(t, source, problems)
    problems += _duplicates(t, source)
    usable = placed & year_ok
    problems += _mixed_levels(t[usable], source)
    problems += _empty_areas(t, placed & count_ok, panel, source)
    problems += _implausible(t, usable & count_ok, panel, source)
    return (None if problems else _sorted(t, panel)), problems


def _problem(kind: str, message: str, t: pd.DataFrame, rows: Any,
             severity: str = ERROR) -> ReturnProblem:
    """Make a problem placed at the first of ``rows`` (a row position or a mask) of ``t``."""
    positions = np.flatnonzero(np.asarray(rows)) if np.ndim(rows) else [int(rows)]
    if not len(positions):
        return ReturnProblem(kind, message, severity)
    row = t.iloc[int(positions[0])]

    def field(name: str) -> Any:
        value = row[name] if name in t.columns else None
        return None if value is None or pd.isna(value) else _raw(value)

    line = field("row") if field("row") is not None else field("line")
    return ReturnProblem(kind, message, severity, file=field("file"), sheet=field("sheet"),
                         row=None if line is None else int(line), column=field("column"))


def _each(mask: np.ndarray, problems: list[ReturnProblem], source: str,
          what: str) -> list[int]:
    """First rows of ``mask`` to describe one by one; a summary problem counts the rest."""
    notes: list[str] = []
    rows = _shown(mask, notes, source, what)
    problems += [ReturnProblem("more_rows", note) for note in notes]
    return rows


def _at(t: pd.DataFrame, mask: Any) -> str:
    """Name the places of the rows in ``mask``: their template cells, or file lines."""
    if "place" not in t.columns:
        return _lines(t, mask)
    places = list(dict.fromkeys(t.loc[np.asarray(mask), "place"]))
    more = f" and {len(places) - MAX_SHOWN} more" if len(places) > MAX_SHOWN else ""
    return "; ".join(places[:MAX_SHOWN]) + more


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
    for extra in PLACE_COLUMNS:
        if extra in frame.columns:
            t[extra] = frame[extra].to_numpy()
    return t


def _check_names(t: pd.DataFrame, column: str, allowed: Iterable[str], source: str,
                 kind: str, what: str, hint: str = "") -> list[ReturnProblem]:
    """Name every value of ``column`` outside ``allowed``, with the places it is at."""
    allowed = list(allowed)
    values = t[column].to_numpy(dtype=object)
    problems = []
    for value in pd.unique(values):
        if value not in allowed:
            at = values == value
            problems.append(_problem(
                kind, f"{source}: {column} {_raw(value)!r} {what}; expected one of "
                f"{allowed}{hint} (at {_at(t, at)})", t, at))
    return problems


def _check_years(t: pd.DataFrame, years: tuple[int, ...], source: str,
                 problems: list[ReturnProblem]) -> np.ndarray:
    """Parse whole years in the panel's years into ``t``; return which rows have one."""
    notes: list[str] = []
    raw, whole = whole_years(t["_year"], t, source, notes)
    problems += [_problem("bad_year", note, t, ~whole) for note in notes]
    t[dims.YEAR] = pd.array(np.where(whole, raw, np.nan), dtype="Int64")
    inside = whole & np.isin(np.where(whole, raw, -1), years)
    for year in pd.unique(raw[whole & ~inside]):
        at = raw == year
        problems.append(_problem(
            "year_outside_panel", f"{source}: year {int(year)} is not a year of the panel "
            f"({years[0]}-{years[-1]}) (at {_at(t, at)})", t, at))
    return inside


def _check_counts(t: pd.DataFrame, source: str, problems: list[ReturnProblem]) -> np.ndarray:
    """Parse non-negative whole counts into ``t``; return which rows have one."""
    raw = t["_count"]
    value = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(value) & (value >= 0) & (value <= MAX_COUNT) & (
            np.floor(value) == value)
    for i in _each(~ok, problems, source, "count row(s)"):
        kind = "negative_count" if value[i] < 0 else "count_not_whole" \
            if np.isfinite(value[i]) else "count_not_a_number"
        problems.append(_problem(
            kind, f"{source}: {_where(t, i)}: count must be a non-negative whole number, "
            f"got {_raw(raw.iloc[i])!r} (leave an unreturned area out; in a template, write a "
            f"DfE mark)", t, i))
    t["count"] = np.where(ok, value, 0).astype(np.int64)
    return ok


def _duplicates(t: pd.DataFrame, source: str) -> list[ReturnProblem]:
    """Name rows repeating a (service, level, area, year)."""
    keys = [dims.SERVICE, "level", "area_code", dims.YEAR]
    dup = t.duplicated(subset=keys, keep=False).to_numpy()
    if not dup.any():
        return []
    examples = t.loc[dup, keys].drop_duplicates().head(3)
    shown = "; ".join(", ".join(f"{k} {v}" for k, v in row.items())
                      for row in examples.astype(str).to_dict("records"))
    later = t.duplicated(subset=keys, keep="first").to_numpy()
    return [_problem("duplicate_area", f"{source}: {int(dup.sum())} duplicate row(s) on "
                     f"{keys} (at {_at(t, dup)}), e.g. {shown}", t, later)]


def _mixed_levels(t: pd.DataFrame, source: str) -> list[ReturnProblem]:
    """Name each (service, LA, year) returned at both levels (the same events twice)."""
    levels = t.groupby([dims.SERVICE, LA_CODE, dims.YEAR])["level"].nunique()
    mixed = levels[levels > 1]
    problems = []
    for s, la, y in list(mixed.index)[:MAX_SHOWN]:
        rows = ((t[dims.SERVICE] == s) & (t[LA_CODE] == la)).to_numpy() & (
            t[dims.YEAR] == y).to_numpy(dtype=bool, na_value=False)
        first = rows & ~pd.Series(t["level"].to_numpy()).where(rows).duplicated().to_numpy()
        problems.append(_problem(
            "mixed_levels", f"{source}: service {s!r}, LA {la}, year {y} is returned at both "
            f"LSOA and MSOA level (e.g. at {_at(t, first)}); give one level per service, LA "
            f"and year", t, first))
    return problems


def _empty_areas(t: pd.DataFrame, usable: np.ndarray, panel: PanelData,
                 source: str) -> list[ReturnProblem]:
    """Name areas with a positive count but no children in the panel's LSOA weights."""
    geo = panel.geography
    weight = {dims.LSOA: panel.lsoa_weight,
              dims.MSOA: geo.aggregate(panel.lsoa_weight, dims.LSOA, dims.MSOA)}
    empty = np.zeros(len(t), dtype=bool)
    for level, w in weight.items():
        rows = usable & (t["level"] == level).to_numpy()
        empty[rows] = w[t.loc[rows, "_pos"].to_numpy(dtype=np.int64)] <= 0
    empty &= (t["count"] > 0).to_numpy()
    problems: list[ReturnProblem] = []
    for i in _each(empty, problems, source, "row(s) in areas without children"):
        problems.append(_problem(
            "count_in_empty_area", f"{source}: {_where(t, i)}: count {t['count'].iloc[i]} in "
            f"an area with no children in the panel's LSOA weights", t, i))
    return problems


def _implausible(t: pd.DataFrame, usable: np.ndarray, panel: PanelData,
                 source: str) -> list[ReturnProblem]:
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
    problems: list[ReturnProblem] = []
    for i in _each(bad, problems, source, "row(s) with an implausible count"):
        problems.append(_problem(
            "implausible_count", f"{source}: {_where(t, i)}, LA {t[LA_CODE].iloc[i]}: count "
            f"{t['count'].iloc[i]} is {t['count'].iloc[i] / exposure[i]:.3g} per child of the "
            f"area's {exposure[i]:.3g} children (exposure); more than "
            f"{MAX_COUNT_PER_CHILD:g} per child cannot be right", t, i))
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
    if "place" in t.columns:
        at = str(row["place"])
    else:
        bits = [f"file {row['file']}"] if "file" in t.columns else []
        bits.append(f"line {row['line']}" if "line" in t.columns else f"row {i}")
        at = ", ".join(bits)
    return f"service {row[dims.SERVICE]!r}, {level} {row['area_code']}, year {year} ({at})"
