"""Read a data return, a CSV file or an XLSX workbook, into its cells with their places.

A CSV file is read by the one strict CSV reader (:mod:`bayes_needs.data.readers._csv`); a
workbook (recognised by its content, a zip archive holding ``xl/workbook.xml``) with
openpyxl, values only (a formula gives the value Excel last calculated). Nothing is
interpreted here beyond the header: :mod:`bayes_needs.data.return_validation` checks the
rest. A file that cannot be read at all gives a
:class:`~bayes_needs.data._returns_checks.ReturnProblem` naming it, not an exception, so
every file of a batch is reported at once.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data._returns_checks import ReturnProblem
from bayes_needs.data.readers._csv import read_csv_rows
from bayes_needs.data.return_template import METADATA_SHEET, RETURN_SHEET

__all__ = ["ReturnSheet", "is_workbook", "read_return_sheet"]

_ZIP_MAGIC = b"PK\x03\x04"


@dataclass
class ReturnSheet:
    """The cells of one return table, with where each came from.

    Attributes
    ----------
    file
        The file, as named in messages.
    sheet
        The workbook sheet, ``None`` for a CSV file.
    header
        Column names, stripped (``""`` for an unnamed column).
    header_row
        File line (CSV) or sheet row (workbook) of the header, 1-based.
    rows
        Data rows, each as long as the header: text from a CSV, text or numbers from a
        workbook, ``None`` for an empty workbook cell.
    row_numbers
        The line or sheet row of each data row.
    metadata
        The workbook's metadata sheet: key -> (value, row); ``None`` for a CSV file.
    """

    file: str
    sheet: str | None
    header: list[str]
    header_row: int
    rows: list[list[Any]]
    row_numbers: list[int]
    metadata: dict[str, tuple[Any, int]] | None = None

    def column_label(self, position: int) -> str:
        """``column 'cla' (E)`` in a workbook, ``column 'cla' (field 5)`` in a CSV file."""
        name = self.header[position] if position < len(self.header) else ""
        where = get_column_letter(position + 1) if self.sheet is not None else \
            f"field {position + 1}"
        return f"column {name!r} ({where})"

    def place(self, row: int | None = None, column: int | None = None) -> str:
        """Name a place: ``file F, sheet 'return', row 7, column 'cla' (E)``."""
        bits = [f"file {self.file}"]
        if self.sheet is not None:
            bits.append(f"sheet {self.sheet!r}")
        if row is not None:
            bits.append(f"row {row}" if self.sheet is not None else f"line {row}")
        if column is not None:
            bits.append(self.column_label(column))
        return ", ".join(bits)

    def problem(self, kind: str, message: str, *, row: int | None = None,
                column: int | None = None, severity: str = "error",
                name: str | None = None) -> ReturnProblem:
        """Make a problem at a place of this table, its message prefixed by the place.

        ``name`` names a column that is not there (a missing one) for the report.
        """
        if column is not None and column < len(self.header):
            name = self.header[column]
        return ReturnProblem(kind, f"{self.place(row, column)}: {message}", severity,
                             file=self.file, sheet=self.sheet, row=row, column=name)


def is_workbook(path: Path) -> bool:
    """Whether ``path`` is an XLSX workbook (by its content, not its name)."""
    try:
        with open(path, "rb") as handle:
            if handle.read(4) != _ZIP_MAGIC:
                return False
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def read_return_sheet(path: Path) -> tuple[ReturnSheet | None, list[ReturnProblem]]:
    """Read the return table of a CSV file or workbook.

    Returns
    -------
    sheet, problems
        The table (``None`` when it cannot be read) and the problems that stop reading it
        or the workbook's metadata sheet: an unreadable or empty file, a missing sheet, a
        header without data rows.
    """
    source = str(path)
    if not path.is_file():
        return None, [ReturnProblem("missing_file", f"file {source}: does not exist",
                                    file=source)]
    if is_workbook(path):
        return _read_workbook(path)
    try:
        rows = read_csv_rows(path)
    except DataValidationError as exc:
        kind = "empty_file" if any("empty" in p or "no data rows" in p for p in exc.problems) \
            else "unreadable_file"
        return None, [ReturnProblem(kind, f"file {source}: {p}", file=source)
                      for p in exc.problems]
    header = [h.strip() for h in rows.header]
    return ReturnSheet(source, None, header, rows.header_line, [list(r) for r in rows.rows],
                       list(rows.lines)), []


def _read_workbook(path: Path) -> tuple[ReturnSheet | None, list[ReturnProblem]]:
    """Read the return and metadata sheets of a workbook."""
    source = str(path)
    try:
        # From bytes: openpyxl judges a file name by its extension, a workbook by content.
        book = openpyxl.load_workbook(io.BytesIO(path.read_bytes()), read_only=True,
                                      data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        return None, [ReturnProblem("unreadable_file", f"file {source}: not a readable XLSX "
                                    f"workbook ({exc})", file=source)]
    try:
        problems = [ReturnProblem("missing_sheet", f"file {source}: the workbook has no sheet "
                                  f"{name!r}; sheets found: {book.sheetnames} (keep the "
                                  f"template's sheets and their names)", file=source,
                                  sheet=name)
                    for name in (RETURN_SHEET, METADATA_SHEET) if name not in book.sheetnames]
        if RETURN_SHEET not in book.sheetnames:
            return None, problems
        table = _rows(book[RETURN_SHEET])
        metadata = None if METADATA_SHEET not in book.sheetnames else {
            str(cells[0]).strip(): (cells[1] if len(cells) > 1 else None, number)
            for number, cells in _rows(book[METADATA_SHEET]) if cells and cells[0] is not None}
    finally:
        book.close()
    if not table:
        return None, [*problems, ReturnProblem(
            "empty_file", f"file {source}, sheet {RETURN_SHEET!r}: the sheet is empty (no "
            f"header row)", file=source, sheet=RETURN_SHEET)]
    (header_row, header), *data = table
    width = max(len(header), *(len(cells) for _, cells in data)) if data else len(header)
    names = ["" if h is None else str(h).strip() for h in header] + [""] * (width - len(header))
    sheet = ReturnSheet(source, RETURN_SHEET, names, header_row,
                        [list(cells) + [None] * (width - len(cells)) for _, cells in data],
                        [number for number, _ in data], metadata=metadata)
    if not data:
        problems.append(sheet.problem("empty_file", "the sheet has a header but no data rows",
                                      row=header_row))
    return sheet, problems


def _rows(sheet: Any) -> list[tuple[int, list[Any]]]:
    """Non-empty rows of a worksheet as (1-based row, cells without trailing empties)."""
    found = []
    for number, cells in enumerate(sheet.iter_rows(values_only=True), start=1):
        values = [c.strip() if isinstance(c, str) else c for c in cells]
        while values and values[-1] in (None, ""):
            values.pop()
        if values:
            found.append((number, values))
    return found
