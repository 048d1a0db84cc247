"""Validate data returns, template files or long CSVs, against a panel: every problem at once.

One path serves ``bayes-needs validate-return`` and the panel fit's ``[data] lsoa_returns``:
:func:`validate_returns` reads each file (:mod:`bayes_needs.data.readers.return_sheets`),
checks what only a template has (:func:`_template_rows`: sheets and columns, the metadata on
every row and in the workbook, blank cells and DfE marks, codes of the other level, areas of
the LA left out, each service's sum against the LA's published total), turns the counts into
the long table of :class:`~bayes_needs.data.panel_returns.PanelReturns` and runs the one set
of row checks (:func:`~bayes_needs.data._returns_checks.check_rows`) on all files together.
A long CSV (columns ``service, level, area_code, year, count``) goes straight to the row
checks. Each problem names its file, and sheet, row and column where it is one place.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.defaults import RETURN_TOTAL_MIN_DIFFERENCE, RETURN_TOTAL_TOLERANCE
from bayes_needs.core.errors import DataValidationError
from bayes_needs.data._panel_checks import LA_CODE
from bayes_needs.data._returns_checks import (
    ERROR,
    RETURN_COLUMNS,
    WARNING,
    ReturnProblem,
    check_rows,
)
from bayes_needs.data.panel import PanelData
from bayes_needs.data.panel_returns import PanelReturns
from bayes_needs.data.readers.return_sheets import ReturnSheet, read_return_sheet
from bayes_needs.data.return_checks import check_template
from bayes_needs.data.return_template import TEMPLATE_VERSION

__all__ = ["ReturnValidation", "read_returns", "validate_returns"]

#: Columns of :meth:`ReturnValidation.table`.
REPORT_COLUMNS: tuple[str, ...] = ("severity", "kind", "file", "sheet", "row", "column",
                                   "message")


@dataclass(frozen=True)
class ReturnValidation:
    """The outcome of validating returns.

    Attributes
    ----------
    files
        The files validated, as named in messages.
    problems
        Every problem and warning, in the order found.
    returns
        The valid returns, ``None`` when there is an error.
    tolerance, min_difference
        The tolerance of each service's sum against the published total: a relative
        difference, or at least this many children.
    """

    files: tuple[str, ...]
    problems: tuple[ReturnProblem, ...]
    returns: PanelReturns | None
    tolerance: float
    min_difference: float

    @property
    def errors(self) -> list[ReturnProblem]:
        """The problems that make the returns unusable."""
        return [p for p in self.problems if p.severity == ERROR]

    @property
    def warnings(self) -> list[ReturnProblem]:
        """The problems reported only."""
        return [p for p in self.problems if p.severity == WARNING]

    def table(self) -> pd.DataFrame:
        """One row per problem: :data:`REPORT_COLUMNS`."""
        rows = [p.to_dict() for p in self.problems]
        table = pd.DataFrame(rows, columns=list(REPORT_COLUMNS))
        table["row"] = table["row"].astype("Int64")
        return table

    def summary(self) -> dict[str, Any]:
        """Return a JSON-able summary: files, counts of errors and warnings, tolerance, returns."""
        return {"files": list(self.files), "valid": not self.errors,
                "errors": len(self.errors), "warnings": len(self.warnings),
                "template_version": TEMPLATE_VERSION,
                "tolerance": {"relative": self.tolerance, "children": self.min_difference},
                "returns": None if self.returns is None else self.returns.summary(),
                "problems": [p.to_dict() for p in self.problems]}

    def raise_errors(self) -> None:
        """Raise one :class:`DataValidationError` listing every error, if there is any."""
        if self.errors:
            raise DataValidationError(", ".join(self.files), [str(p) for p in self.errors])


def validate_returns(paths: Iterable[str | Path], panel: PanelData, *,
                     tolerance: float = RETURN_TOTAL_TOLERANCE,
                     min_difference: float = RETURN_TOTAL_MIN_DIFFERENCE) -> ReturnValidation:
    """Validate return files against ``panel``, collecting every problem of every file.

    Parameters
    ----------
    paths
        Template files (CSV or XLSX) and long CSV files, in any mix.
    panel
        The panel: geography, services, years, LSOA weights and published LA totals.
    tolerance, min_difference
        A service's sum may differ from the LA's published total by this fraction of it, or
        by ``min_difference`` children, whichever is larger (see
        :data:`~bayes_needs.core.defaults.RETURN_TOTAL_TOLERANCE`).

    Returns
    -------
    ReturnValidation
        The problems and, when there is no error, the returns.
    """
    files = tuple(str(p) for p in paths)
    problems: list[ReturnProblem] = []
    frames: list[pd.DataFrame] = []
    for path in map(Path, files):
        sheet, found = read_return_sheet(path)
        problems += found
        if sheet is None:
            continue
        if _is_long(sheet):
            missing = [c for c in RETURN_COLUMNS if c not in sheet.header]
            if missing:
                problems.append(sheet.problem(
                    "missing_column", f"missing required column(s) {missing} of a long "
                    f"returns table; columns present: {sheet.header}", row=sheet.header_row))
            else:
                frames.append(_long_rows(sheet))
        else:
            rows, found = check_template(sheet, panel, tolerance=tolerance,
                                         min_difference=min_difference)
            problems += found
            frames.append(rows)
    returns = None
    usable = [f for f in frames if len(f)]
    if usable:
        # Each row carries its place (file, sheet, row, column), so "returns" is enough.
        table, found = check_rows(pd.concat(usable, ignore_index=True), panel, "returns")
        problems += found
        if table is not None and not any(p.severity == ERROR for p in problems):
            returns = PanelReturns(table=table,
                                   geography_fingerprint=panel.geography.fingerprint(),
                                   source=", ".join(files))
    elif not any(p.severity == ERROR for p in problems):
        problems.append(ReturnProblem("no_counts", f"{', '.join(files)}: no counts to read"))
    return ReturnValidation(files, tuple(problems), returns, tolerance, min_difference)


def read_returns(paths: str | Path | Sequence[str | Path], panel: PanelData, *,
                 tolerance: float = RETURN_TOTAL_TOLERANCE) -> PanelReturns:
    """Read and validate returns for a fit: the checks of :func:`validate_returns`.

    Raises
    ------
    DataValidationError
        Listing every error (warnings, such as DfE marks in place of counts, do not stop it).
    """
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    result = validate_returns(paths, panel, tolerance=tolerance)
    result.raise_errors()
    assert result.returns is not None  # no errors
    return result.returns


def _is_long(sheet: ReturnSheet) -> bool:
    """Whether a CSV file is a long returns table rather than a template."""
    return sheet.sheet is None and {dims.SERVICE, "count"} <= set(sheet.header)


def _long_rows(sheet: ReturnSheet) -> pd.DataFrame:
    """Return a long CSV's rows with their file and line (its columns checked by the row checks)."""
    columns = [c for c in (*RETURN_COLUMNS, LA_CODE) if c in sheet.header]
    at = [sheet.header.index(c) for c in columns]
    frame = pd.DataFrame([[row[i] for i in at] for row in sheet.rows], columns=columns)
    frame["file"] = sheet.file
    frame["row"] = np.asarray(sheet.row_numbers, dtype=np.int64)
    frame["place"] = [sheet.place(n) for n in sheet.row_numbers]
    return frame
