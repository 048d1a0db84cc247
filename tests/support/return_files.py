"""Helpers for tests of data returns: fill a template with synthetic counts, edit a workbook."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd

from bayes_needs.data.panel import PanelData

SERVICE_COLUMNS_FROM = 6  # the first six columns are metadata and area


def synthetic_counts(template: pd.DataFrame, panel: PanelData, seed: int) -> pd.DataFrame:
    """Fill each service column: the LA's published total split over its areas by children.

    The split is multinomial with probabilities proportional to the panel's child weights
    (summed to MSOAs for an MSOA template), so each column sums to the published total.
    """
    rng = np.random.default_rng(seed)
    geo = panel.geography
    level = str(template["level"].iloc[0])
    weight = pd.Series(geo.aggregate(panel.lsoa_weight, "lsoa", level) if level == "msoa"
                       else panel.lsoa_weight, index=geo.codes(level))  # type: ignore[arg-type]
    p = weight.loc[template["area_code"]].to_numpy(dtype=float)
    filled = template.copy()
    la, year = str(template["la_code"].iloc[0]), int(template["year"].iloc[0])
    for service in template.columns[SERVICE_COLUMNS_FROM:]:
        total = int(panel.counts[service].loc[la, year])
        filled[service] = rng.multinomial(total, p / p.sum())
    return filled


def fill_files(csv_path: Path, xlsx_path: Path, panel: PanelData, seed: int) -> pd.DataFrame:
    """Fill a template's CSV file and workbook with the same synthetic counts."""
    filled = synthetic_counts(pd.read_csv(csv_path), panel, seed)
    filled.to_csv(csv_path, index=False)
    edit_workbook(xlsx_path, lambda book: _write_table(book["return"], filled))
    return filled


def edit_workbook(path: Path, change: Callable[[openpyxl.Workbook], object]) -> None:
    """Open a workbook, apply ``change`` and save it in place."""
    book = openpyxl.load_workbook(path)
    change(book)
    book.save(path)


def set_cells(sheet: str, cells: dict[str, object]) -> Callable[[openpyxl.Workbook], None]:
    """A workbook change setting cells (``{"H12": -3}``) of one sheet."""
    def change(book: openpyxl.Workbook) -> None:
        for ref, value in cells.items():
            book[sheet][ref] = value
    return change


def set_column(sheet: str, column: str, value: object,
               rows: Sequence[int] | None = None) -> Callable[[openpyxl.Workbook], None]:
    """A workbook change writing ``value`` into a column, every data row or ``rows``."""
    def change(book: openpyxl.Workbook) -> None:
        ws = book[sheet]
        for row in rows or range(2, ws.max_row + 1):
            ws[f"{column}{row}"] = value
    return change


def metadata_row(book: openpyxl.Workbook, key: str) -> int:
    """The row of ``key`` on a template workbook's metadata sheet."""
    ws = book["metadata"]
    return next(r for r in range(1, ws.max_row + 1) if ws[f"A{r}"].value == key)


def _write_table(sheet, table: pd.DataFrame) -> None:
    for i, row in enumerate(table.itertuples(index=False), start=2):
        for j, value in enumerate(row, start=1):
            sheet.cell(i, j, value.item() if hasattr(value, "item") else value)
