"""``bayes-needs template``: a data-return template for one LA, as a CSV file and a workbook.

The template (:mod:`bayes_needs.data.return_template`) lists the LA's LSOAs or MSOAs (2011
census areas, the panel's geography) with their names, one empty column per service, and
the metadata the validator checks on every row. The workbook adds a metadata sheet and a
notes sheet with the definitions of each count, the year convention and DfE's marks. Both
files, and the CSV's metadata sidecar, are written as one set
(:func:`bayes_needs.core.outputs.output_set`).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from bayes_needs.core import dims
from bayes_needs.core.outputs import output_set, with_sidecars, write_bytes, write_csv
from bayes_needs.core.version import __version__
from bayes_needs.data.panel import PanelData
from bayes_needs.data.readers.england_panel import england_panel_data
from bayes_needs.data.return_template import (
    AREA_COLUMNS,
    METADATA_COLUMNS,
    METADATA_SHEET,
    NOTES_SHEET,
    RETURN_SHEET,
    SUPPRESSION_MARKS,
    metadata_rows,
    notes_rows,
    template_table,
)

__all__ = ["TEMPLATE_SET", "returns_panel", "template_files", "write_template"]

#: The kind of output set of a template's files; one per LA, level and year, so templates of
#: several LAs (or years) share a directory, and a new one replaces only its own files.
TEMPLATE_SET = "template {la_code} {level} {year}"


def returns_panel(data_dir: str | Path) -> PanelData:
    """Load the England panel returns are made for and checked against (all services)."""
    panel, _ = england_panel_data(Path(data_dir))
    return panel


def template_files(la_code: str, level: str, year: int) -> tuple[str, ...]:
    """Name a template's files: ``return_<LA>_<level>_<year>.csv`` (with sidecar), ``.xlsx``."""
    stem = f"return_{la_code}_{level}_{year}"
    return with_sidecars((f"{stem}.csv", f"{stem}.xlsx"))


def write_template(data_dir: str | Path, la_code: str, level: str, services: Sequence[str],
                   year: int, out_dir: str | Path, *,
                   panel: PanelData | None = None) -> dict[str, Any]:
    """Write the CSV and XLSX template of one LA, level and year as one set.

    Parameters
    ----------
    data_dir
        The real data directory (geography and services; ignored when ``panel`` is given).
    la_code, level, services, year
        Whose template: an LA code, ``"lsoa"`` or ``"msoa"``, services and a DfE year.
    out_dir
        The output directory.
    panel
        The panel, if already loaded.

    Returns
    -------
    dict
        What was written: ``files``, ``areas``, ``la_code``, ``la_name``, ``level``, ``year``,
        ``services``.
    """
    panel = returns_panel(data_dir) if panel is None else panel
    services = list(services)
    table = template_table(panel, la_code, level, services, year)
    metadata = metadata_rows(panel, la_code, level, services, year, __version__)
    notes = notes_rows(level, services)
    csv_name, _, xlsx_name = template_files(la_code, level, year)
    kind = TEMPLATE_SET.format(la_code=la_code, level=level, year=year)
    with output_set(out_dir, kind) as outputs:
        write_csv(outputs.staging / csv_name, table,
                  comment="\n".join(f"{topic}: {note}" for topic, note in notes),
                  metadata={"template": dict(metadata)})
        write_bytes(outputs.staging / xlsx_name, workbook_bytes(table, metadata, notes))
    return {"files": list(template_files(la_code, level, year)), "areas": len(table),
            "la_code": la_code, "la_name": dict(metadata)["la_name"], "level": level,
            "year": year, "services": services}


def _count_validation(sheet: Any, table: pd.DataFrame) -> None:
    """Make Excel refuse, as it is typed, a count cell that is not a whole number >= 0 or a mark.

    The validator checks the same again: a spreadsheet other than Excel may ignore this.
    """
    first = len(METADATA_COLUMNS) + len(AREA_COLUMNS) + 1
    last = len(table.columns)
    if last < first or table.empty:
        return
    cell = f"{get_column_letter(first)}2"
    marks = ",".join(f'{cell}="{mark}"' for mark in SUPPRESSION_MARKS)
    rule = DataValidation(
        type="custom", allow_blank=True, showErrorMessage=True,
        formula1=f"OR(AND(ISNUMBER({cell}),{cell}>=0,{cell}=INT({cell})),{marks})",
        errorTitle="Not a count", error=f"Give a whole number >= 0, or one of DfE's marks "
                                        f"{', '.join(SUPPRESSION_MARKS)}.")
    rule.add(f"{cell}:{get_column_letter(last)}{len(table) + 1}")
    sheet.add_data_validation(rule)


def workbook_bytes(table: pd.DataFrame, metadata: list[tuple[str, object]],
                   notes: list[tuple[str, str]]) -> bytes:
    """Make the template workbook: the return, metadata and notes sheets, in memory."""
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = RETURN_SHEET
    sheet.append([str(c) for c in table.columns])
    for row in table.itertuples(index=False):
        sheet.append([None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)
                      for v in row])
    sheet.freeze_panes = "F2"  # metadata and area columns stay in view
    _count_validation(sheet, table)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    widths = {"area_code": 12, "area_name": 28, "la_code": 12, dims.YEAR: 8}
    for position, name in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(position)].width = \
            widths.get(str(name), 14)
    meta = book.create_sheet(METADATA_SHEET)
    meta.append(["key", "value"])
    for key, value in metadata:
        meta.append([key, value])
    notes_sheet = book.create_sheet(NOTES_SHEET)
    notes_sheet.append(["topic", "note"])
    for topic, note in notes:
        notes_sheet.append([topic, note])
    notes_sheet.column_dimensions["A"].width = 18
    notes_sheet.column_dimensions["B"].width = 110
    for row in notes_sheet.iter_rows(min_row=2):
        row[1].alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
