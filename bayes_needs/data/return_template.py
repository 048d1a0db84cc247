"""The data-return template an LA fills in: its layout, definitions and prefilled areas.

One template is for one LA, one level (LSOA or MSOA, 2011 census areas: the geography of the
panel and of the English Indices of Deprivation 2019) and one DfE reporting year. Its table,
the same in the CSV file and in the workbook's :data:`RETURN_SHEET`, has one row per area of
the LA and the columns

``template_version, la_code, level, year, area_code, area_name, <service>, ...``

with one column per service, to be filled with a count per area, or a DfE mark
(:data:`SUPPRESSION_MARKS`). The first four columns repeat the template's metadata on every
row, so a CSV file carries it whatever a spreadsheet does to the rest; the workbook also has a
:data:`METADATA_SHEET` (key, value) and a :data:`NOTES_SHEET` with the definitions. The
validator (:mod:`bayes_needs.data.return_validation`) checks all of it.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from bayes_needs.core import dims
from bayes_needs.data.geography import as_level
from bayes_needs.data.panel import PanelData
from bayes_needs.data.readers._files import BLANK, SUPPRESSION_CODES
from bayes_needs.data.validation import raise_if

__all__ = ["AREA_COLUMNS", "DEFINITIONS", "METADATA_COLUMNS", "METADATA_SHEET", "NOTES_SHEET",
           "RETURN_SHEET", "SUPPRESSION_MARKS", "TEMPLATE_VERSION", "metadata_rows",
           "notes_rows", "template_table"]

#: Version of the layout; the validator refuses a return made from another.
TEMPLATE_VERSION = 1
RETURN_SHEET, METADATA_SHEET, NOTES_SHEET = "return", "metadata", "notes"
#: Metadata columns, repeated on every row of the return table.
METADATA_COLUMNS: tuple[str, ...] = ("template_version", "la_code", "level", dims.YEAR)
#: The prefilled area columns.
AREA_COLUMNS: tuple[str, ...] = ("area_code", "area_name")
#: DfE's marks for a number not given (as in its published tables), accepted in a count cell.
SUPPRESSION_MARKS: dict[str, str] = {k: v for k, v in SUPPRESSION_CODES.items() if k != BLANK}

_YEAR_RULE = ("YEAR is the DfE reporting year, the year ending 31 March YEAR: counts 'on 31 "
              "March' are of that day, and counts 'in the year' of 1 April YEAR-1 to 31 March "
              "YEAR (e.g. 2024: 1 April 2023 to 31 March 2024).")
#: What each service's column counts, as DfE's published LA totals do.
DEFINITIONS: dict[str, str] = {
    dims.REFERRALS: "Referrals to children's social care in the year to 31 March YEAR, "
                    "each referral counted (a child referred twice counts twice), re-referrals "
                    "included; as DfE's children-in-need census, table C1 (referral_count).",
    dims.CIN: "Children in need on 31 March YEAR: children with a children-in-need episode "
              "open on that day, including those on a child protection plan and those looked "
              "after; as DfE's table B1 (At31_episodes).",
    dims.CPP: "Children who were the subject of a child protection plan on 31 March YEAR; as "
              "DfE's table D5 (CPP_At31).",
    dims.CLA: "Children looked after on 31 March YEAR, excluding children looked after under "
              "an agreed series of short-term placements (respite); as DfE's 'children "
              "looked after on 31 March' (SSDA903).",
}


def template_table(panel: PanelData, la_code: str, level: str, services: Sequence[str],
                   year: int) -> pd.DataFrame:
    """Make the return table of one LA, level and year: its areas prefilled, counts empty.

    Parameters
    ----------
    panel
        The panel whose geography, services and years the return belongs to.
    la_code
        The LA (a code of the panel's geography).
    level
        ``"lsoa"`` or ``"msoa"``.
    services
        Services to collect, each a service of the panel, in the order given.
    year
        DfE reporting year, a year of the panel.

    Returns
    -------
    pandas.DataFrame
        One row per area of the LA in geography order; the service columns empty (``None``).

    Raises
    ------
    DataValidationError
        Naming every argument outside the panel.
    """
    problems = []
    geo = panel.geography
    if la_code not in set(geo.la_codes):
        problems.append(f"--la {la_code!r} is not an LA of the geography (e.g. "
                        f"{list(geo.la_codes[:3])})")
    if level not in (dims.LSOA, dims.MSOA):
        problems.append(f"--level {level!r} must be 'lsoa' or 'msoa'")
    unknown = [s for s in services if s not in DEFINITIONS or s not in panel.services]
    if unknown or not services or len(set(services)) != len(services):
        problems.append(f"--services {list(services)}: give each once, from "
                        f"{[s for s in panel.services if s in DEFINITIONS]}")
    if year not in panel.years:
        problems.append(f"--year {year} is not a DfE reporting year of the data "
                        f"({panel.years[0]}-{panel.years[-1]})")
    raise_if(problems, "template")
    la = list(geo.la_codes).index(la_code)
    areas = as_level(level)
    inside = geo.parent_index(areas, dims.LA) == la
    table = pd.DataFrame({"template_version": TEMPLATE_VERSION, "la_code": la_code,
                          "level": level, dims.YEAR: int(year),
                          "area_code": geo.codes(areas)[inside],
                          "area_name": geo.names(areas)[inside]})
    for service in services:
        table[service] = None
    return table


def metadata_rows(panel: PanelData, la_code: str, level: str, services: Sequence[str],
                  year: int, version: str) -> list[tuple[str, object]]:
    """Return the key/value rows of the workbook's metadata sheet (``version``: the package's)."""
    names = dict(zip(panel.geography.la_codes, panel.geography.names(dims.LA), strict=True))
    return [("template_version", TEMPLATE_VERSION), ("la_code", la_code),
            ("la_name", str(names.get(la_code, ""))), ("level", level), (dims.YEAR, int(year)),
            ("services", ", ".join(services)), ("made_by", f"bayes-needs {version}")]


def notes_rows(level: str, services: Sequence[str]) -> list[tuple[str, str]]:
    """Return the (topic, note) rows of the workbook's notes sheet."""
    area = "LSOA" if level == dims.LSOA else "MSOA"
    rows = [
        ("how to fill in", f"One row per {area} of the LA (2011 census areas, as in the "
                           f"English Indices of Deprivation 2019). Give a whole number >= 0 "
                           f"in every service cell, 0 when there were none; never leave a "
                           f"cell blank. Do not add, remove or rename rows, columns or "
                           f"sheets, and do not change the first four columns."),
        ("area", f"The {area} of the child's home address (for children looked after, the "
                 f"address before they entered care, not the placement). Children with no "
                 f"known address in the LA are left out, so a column may sum to slightly less "
                 f"than the LA's published total."),
        ("year", _YEAR_RULE),
    ]
    rows += [(service, DEFINITIONS[service]) for service in services]
    rows += [(f"mark '{mark}'", f"{meaning}: allowed in place of a count (DfE's mark); the "
                                f"area then counts as not returned for that service")
             for mark, meaning in SUPPRESSION_MARKS.items()]
    return rows
