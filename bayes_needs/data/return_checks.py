"""The checks only a return template has, before its counts join the one set of row checks.

:func:`check_template` reads one template table (:class:`~bayes_needs.data.readers.
return_sheets.ReturnSheet`) against the panel: the columns (missing, renamed, unknown,
repeated, no service column), the metadata on every row and, in a workbook, on its metadata
sheet (template version, LA, level, year), the area codes (blank, of the other level, areas
of the LA left out, names that differ), each count cell (blank, a DfE mark, text), and each
service's sum against the LA's total DfE published for that year. The counts then go, as a
long table with the place of each cell, to
:func:`~bayes_needs.data._returns_checks.check_rows` (codes, LAs, counts, duplicates).
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.data._panel_checks import LA_CODE
from bayes_needs.data._returns_checks import WARNING, ReturnProblem
from bayes_needs.data.geography import as_level
from bayes_needs.data.panel import PanelData
from bayes_needs.data.readers.return_sheets import ReturnSheet
from bayes_needs.data.return_template import (
    AREA_COLUMNS,
    DEFINITIONS,
    METADATA_COLUMNS,
    METADATA_SHEET,
    SUPPRESSION_MARKS,
    TEMPLATE_VERSION,
)

__all__ = ["check_template"]

MAX_SHOWN = 5
#: Metadata problems after which a template's areas and counts cannot be checked.
_BLOCKING = frozenset({"unknown_la", "unknown_level", "bad_year", "year_outside_panel"})
_LONG = (dims.SERVICE, "level", "area_code", dims.YEAR, "count", LA_CODE, "file", "sheet",
         "row", "column", "place")


def check_template(sheet: ReturnSheet, panel: PanelData, *, tolerance: float,
                   min_difference: float) -> tuple[pd.DataFrame, list[ReturnProblem]]:
    """Check a template table; return its counts as a long table, and the problems found.

    Parameters
    ----------
    sheet
        The table as read.
    panel
        The panel (geography, services, years, published LA totals).
    tolerance, min_difference
        How far a service's sum may fall from the published total: this fraction of it, or
        this many children, whichever is larger.

    Returns
    -------
    rows, problems
        The count cells to check further (columns ``service, level, area_code, year,
        count, la_code`` and their place), and the problems (errors and warnings).
    """
    problems: list[ReturnProblem] = []
    empty = pd.DataFrame(columns=list(_LONG))
    columns, services = _layout(sheet, panel, problems)
    if columns is None or not sheet.rows:
        return empty, problems
    meta = _metadata(sheet, columns, panel, problems)
    if meta is None:
        return empty, problems
    la_code, level, year = meta
    rows = _areas(sheet, columns, panel, la_code, level, problems)
    long = []
    for service, at in services:
        found = len(problems)
        cells, marked = _counts(sheet, rows, at, service, problems)
        unreadable = any(p.severity != WARNING for p in problems[found:])
        long += [(service, level, code, year, value, la_code, sheet.file, sheet.sheet,
                  sheet.row_numbers[i], service, sheet.place(sheet.row_numbers[i], at))
                 for i, code, value in cells]
        if not unreadable:  # a blank or text cell is reported; a sum without it would mislead
            _total(sheet, panel, (la_code, service, year, at), [v for _, _, v in cells],
                   marked, (tolerance, min_difference), problems)
    return pd.DataFrame(long, columns=list(_LONG)), problems


def _layout(sheet: ReturnSheet, panel: PanelData, problems: list[ReturnProblem]
            ) -> tuple[dict[str, int] | None, list[tuple[str, int]]]:
    """Check the header; return the template columns' positions and the service columns."""
    header, at_header = sheet.header, sheet.header_row
    known = [s for s in panel.services if s in DEFINITIONS]
    required = (*METADATA_COLUMNS, *AREA_COLUMNS)
    first: dict[str, int] = {}
    for position, name in enumerate(header):
        if name in first:
            problems.append(sheet.problem("duplicate_column", f"is a second column named "
                                          f"{name!r}; keep one", row=at_header, column=position))
        elif name:
            first[name] = position
        elif any(row[position] not in (None, "") for row in sheet.rows):
            problems.append(sheet.problem("unnamed_column", "holds values but has no name in "
                                          "the header", row=at_header, column=position))
    lowered = {name.lower().replace(" ", "_"): name for name in first}
    for name in required:
        if name not in first:
            renamed = lowered.get(name)
            hint = f"; column {renamed!r} looks like it, renamed: name it {name!r}" \
                if renamed else ""
            problems.append(sheet.problem("missing_column", f"the template's column {name!r} "
                                          f"is missing{hint}", row=at_header, name=name))
            if renamed:  # read on, so the rest of the return is checked too
                first[name] = first.pop(renamed)
    services = [(name, at) for name, at in first.items() if name in known]
    for name, at in first.items():
        if name in required or name in known:
            continue
        hint = f"; write {name.lower()!r}" if name.lower() in known else \
            f"; {name!r} is a service this run does not fit" if name in DEFINITIONS else \
            f"; a service column is named one of {known}"
        problems.append(sheet.problem("unknown_column", f"is not a column of the "
                                      f"template{hint}", row=at_header, column=at))
        if name.lower() in known and name.lower() not in first:
            services.append((name.lower(), at))  # read on, as for a renamed column
    if not services:
        problems.append(sheet.problem("no_service_column", f"no service column; name each "
                                      f"one of {known}", row=at_header))
    listed = _listed_services(sheet)
    for name in (s for s in listed if s not in first):
        problems.append(sheet.problem("missing_column", f"the service column {name!r} listed "
                                      f"on the {METADATA_SHEET!r} sheet is missing",
                                      row=at_header, name=name))
    if any(name not in first for name in required) or not services:
        return None, services
    return {name: first[name] for name in required}, services


def _listed_services(sheet: ReturnSheet) -> list[str]:
    """Return the services a workbook's metadata sheet lists (none for a CSV file)."""
    value = (sheet.metadata or {}).get("services", (None, 0))[0]
    return [s.strip() for s in str(value).split(",") if s.strip()] if value else []


def _metadata(sheet: ReturnSheet, columns: dict[str, int], panel: PanelData,
              problems: list[ReturnProblem]) -> tuple[str, str, int] | None:
    """Check the metadata columns (and sheet); return (LA, level, year) when they are usable."""
    found = len(problems)
    values: dict[str, Any] = {}
    where: dict[str, tuple[int, int]] = {}  # the first row holding each value read
    for key in METADATA_COLUMNS:
        at = columns[key]
        cells = [_plain(row[at]) for row in sheet.rows]
        if sheet.metadata is not None and key not in sheet.metadata:
            problems.append(ReturnProblem(
                "missing_metadata", f"file {sheet.file}, sheet {METADATA_SHEET!r}: no row "
                f"{key!r}; keep the template's metadata rows", file=sheet.file,
                sheet=METADATA_SHEET))
        # The value most rows hold is the reference: one odd row (or a disagreeing metadata
        # sheet) is one problem, not one per other row.
        reference = Counter(cells).most_common(1)[0][0]
        if sheet.metadata is not None and key in sheet.metadata:
            stated, row = sheet.metadata[key]
            if _plain(stated) != reference:
                problems.append(ReturnProblem(
                    "metadata_mismatch", f"file {sheet.file}, sheet {METADATA_SHEET!r}, row "
                    f"{row}: {key} is {_plain(stated)!r} but the {sheet.sheet!r} sheet's "
                    f"column {key!r} says {reference!r}", file=sheet.file,
                    sheet=METADATA_SHEET, row=row, column=key))
        differ = [i for i, cell in enumerate(cells) if cell != reference]
        for i in differ[:MAX_SHOWN]:
            problems.append(sheet.problem(
                "inconsistent_metadata", f"{cells[i]!r} differs from {reference!r}; a return "
                f"is for one {key.replace('_', ' ')}, the same on every row",
                row=sheet.row_numbers[i], column=at))
        values[key] = reference
        where[key] = (sheet.row_numbers[cells.index(reference)], at)

    def bad(kind: str, key: str, message: str) -> None:
        row, at = where[key]
        problems.append(sheet.problem(kind, message, row=row, column=at))

    if values["template_version"] != TEMPLATE_VERSION:
        bad("wrong_template_version", "template_version", f"template version "
            f"{values['template_version']!r}; this validator reads version {TEMPLATE_VERSION} "
            f"(make a new template with 'bayes-needs template')")
    la_codes = list(panel.geography.la_codes)
    if values["la_code"] not in la_codes:
        bad("unknown_la", "la_code", f"{values['la_code']!r} is not an LA code of the "
            f"geography (upper-tier LAs of 2023, e.g. {la_codes[:2]})")
    level = str(values["level"]).lower()
    if level not in (dims.LSOA, dims.MSOA):
        bad("unknown_level", "level", f"level {values['level']!r} must be 'lsoa' or 'msoa' "
            f"(LA totals are DfE's, not a return's)")
    year = values[dims.YEAR]
    if not isinstance(year, int):
        bad("bad_year", dims.YEAR, f"year {year!r} is not a whole year (the DfE reporting "
            f"year, e.g. 2024 for the year to 31 March 2024)")
    elif year not in panel.years:
        bad("year_outside_panel", dims.YEAR, f"year {year} is not a year of the data "
            f"({panel.years[0]}-{panel.years[-1]})")
    # Without a known LA, level and year nothing else can be checked; with them, the rest
    # is checked even when the version or a row's metadata is wrong.
    if any(p.kind in _BLOCKING for p in problems[found:]):
        return None
    return str(values["la_code"]), level, int(year)


def _areas(sheet: ReturnSheet, columns: dict[str, int], panel: PanelData, la_code: str,
           level: str, problems: list[ReturnProblem]) -> list[tuple[int, str]]:
    """Check the area codes; return (row position, code) of the rows to read counts from."""
    geo = panel.geography
    areas = as_level(level)
    other = as_level(dims.MSOA if level == dims.LSOA else dims.LSOA)
    other_codes = set(geo.codes(other))
    names = dict(zip(geo.codes(areas), geo.names(areas), strict=True))
    at, at_name = columns["area_code"], columns["area_name"]
    usable = []
    for i, row in enumerate(sheet.rows):
        code = _plain(row[at])
        number = sheet.row_numbers[i]
        if code in (None, ""):
            problems.append(sheet.problem("blank_area_code", "the area code is blank",
                                          row=number, column=at))
        elif code in other_codes:
            problems.append(sheet.problem(
                "wrong_level_code", f"{code} is an {other.upper()} code, but this return is "
                f"at {level.upper()} level (column 'level')", row=number, column=at))
        else:
            usable.append((i, str(code)))
            name = _plain(row[at_name])
            known = names.get(str(code))
            if known is not None and str(name or "").casefold() != str(known).casefold():
                problems.append(sheet.problem(
                    "area_name_differs", f"{name!r} is not the name of {code} ({known!r}); "
                    f"check the code", row=number, column=at_name, severity=WARNING))
    la = list(geo.la_codes).index(la_code)
    mine = geo.codes(areas)[geo.parent_index(areas, dims.LA) == la]
    listed = {code for _, code in usable}
    left_out = [str(c) for c in mine if c not in listed]
    if left_out:
        problems.append(sheet.problem(
            "missing_area", f"{len(left_out)} {level.upper()}(s) of LA {la_code} are not "
            f"listed: {left_out[:8]}; list every area, with 0 where there were none",
            column=at))
    return usable


def _counts(sheet: ReturnSheet, rows: list[tuple[int, str]], at: int, service: str,
            problems: list[ReturnProblem]) -> tuple[list[tuple[int, str, Any]], int]:
    """Sort a service column's cells: counts to check further, marks, blanks and text."""
    cells, marked = [], 0
    for i, code in rows:
        value, number = sheet.rows[i][at], sheet.row_numbers[i]
        text = value.strip() if isinstance(value, str) else value
        if text is None or text == "":
            problems.append(sheet.problem("blank_count", "the cell is blank; write 0 where "
                                          "there were none, or a DfE mark", row=number,
                                          column=at))
        elif isinstance(text, str) and text in SUPPRESSION_MARKS:
            marked += 1
            problems.append(sheet.problem(
                "suppressed_count", f"DfE mark {text!r} ({SUPPRESSION_MARKS[text]}): {code} "
                f"counts as not returned for {service}", row=number, column=at,
                severity=WARNING))
        elif isinstance(text, bool) or (isinstance(text, str) and math.isnan(
                pd.to_numeric(text, errors="coerce"))):
            problems.append(sheet.problem(
                "count_not_a_number", f"{text!r} is neither a count nor a DfE mark "
                f"{sorted(SUPPRESSION_MARKS)}", row=number, column=at))
        else:
            cells.append((i, code, text))
    return cells, marked


def _total(sheet: ReturnSheet, panel: PanelData, key: tuple[str, str, int, int],
           values: list[Any], marked: int, tolerance: tuple[float, float],
           problems: list[ReturnProblem]) -> None:
    """Compare a service column's sum with the LA's published total for the year."""
    la_code, service, year, at = key
    counts = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
    if not len(counts) or not (np.isfinite(counts) & (counts >= 0) &
                               (np.floor(counts) == counts)).all():
        return  # bad counts are reported one by one; their sum would mislead
    total = int(counts.sum())
    table = panel.counts.get(service)
    cell: Any = np.nan if table is None or year not in table.columns else \
        table.loc[la_code, year]
    published = float(cell)
    origin, detail = _origin(panel, service, la_code, year)
    if np.isnan(published):
        why = f"DfE mark {detail!r}" if detail else "suppressed or not collected"
        problems.append(sheet.problem(
            "no_published_total", f"DfE published no {service} total for LA {la_code} in "
            f"{year} ({why}), so the sum {total} is not checked", column=at,
            severity=WARNING))
        return
    relative, floor = tolerance
    allowed = max(relative * published, floor)
    gap = total - published
    kind = "published DfE total" if origin in ("", "published") else \
        f"DfE total ({origin}: {detail})" if detail else f"DfE total ({origin})"
    said = (f"sums to {total}, the {kind} for LA {la_code} in {year} is {published:.0f} "
            f"(difference {gap:+.0f}); the tolerance is {relative:.0%} or {floor:g} "
            f"children, whichever is larger")
    if gap > allowed or (gap < -allowed and not marked):
        problems.append(sheet.problem("total_mismatch", f"{said}: check the year, service "
                                      f"and LA", column=at))
    elif gap < -allowed:
        problems.append(sheet.problem("total_incomplete", f"{said}; {marked} cell(s) hold a "
                                      f"DfE mark, which may explain it", column=at,
                                      severity=WARNING))


def _origin(panel: PanelData, service: str, la_code: str, year: int) -> tuple[str, str]:
    """How the panel got an LA's total (``published``, ``apportioned``, ...) and its detail.

    The detail is the DfE mark of a missing total, or how a total was rebuilt.
    """
    origins = panel.origins
    if origins is None:
        return "", ""
    rows = origins[(origins["service"] == service) & (origins[LA_CODE] == la_code)
                   & (origins[dims.YEAR] == year)]
    if rows.empty:
        return "", ""
    row = rows.iloc[0]
    detail = row.get("code") if row["origin"] == "missing" else row.get("detail")
    return str(row["origin"]), "" if detail is None or pd.isna(detail) else str(detail)


def _plain(value: Any) -> Any:
    """Return a cell as compared: stripped text, whole numbers (also written as text) as ints."""
    if isinstance(value, str):
        value = value.strip()
        number = pd.to_numeric(value, errors="coerce")
        if value and not math.isnan(number) and float(number).is_integer():
            return int(number)
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
