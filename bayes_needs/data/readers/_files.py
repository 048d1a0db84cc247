"""Shared helpers for the real-data readers.

They locate documented files, read CSVs strictly with clear errors, and turn published cells
(numbers or suppression codes) into numbers. Every problem is raised as a
:class:`~bayes_needs.core.errors.BayesNeedsError` subclass naming the file and, where it
applies, the column, the file line (the header is line 1) and the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from bayes_needs.core.errors import DataValidationError, MissingDataError
from bayes_needs.data._container_checks import LINE
from bayes_needs.data.readers._csv import read_csv_rows

#: Codes used in DfE (Explore Education Statistics) files in place of a number.
SUPPRESSION_CODES: dict[str, str] = {
    "c": "suppressed to protect confidentiality",
    "z": "not applicable (e.g. the LA did not exist that year)",
    "x": "not available",
    "u": "low reliability",
    "(blank)": "cell left empty",
}
BLANK = "(blank)"
#: Columns that name a row's LA and year in problem messages, with their labels.
ROW_LABELS: dict[str, str] = {"new_la_code": "LA", "time_period": "year"}
MAX_SHOWN = 5


def resolve(data_dir: str | Path, relative: str) -> Path:
    """Locate the documented file ``relative`` under ``data_dir``.

    Raises
    ------
    MissingDataError
        Naming the data directory or the file when either does not exist.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise MissingDataError(f"data directory {root} does not exist or is not a directory")
    path = root / relative
    if not path.is_file():
        raise MissingDataError(f"required data file {path} does not exist (expected "
                               f"'{relative}' under the data directory {root})")
    return path


def require_files(data_dir: str | Path, relatives: Iterable[str]) -> dict[str, Path]:
    """Resolve several files at once, reporting every missing one in a single error."""
    root = Path(data_dir)
    if not root.is_dir():
        raise MissingDataError(f"data directory {root} does not exist or is not a directory")
    relatives = list(dict.fromkeys(relatives))
    missing = [r for r in relatives if not (root / r).is_file()]
    if missing:
        raise MissingDataError(f"{len(missing)} required data file(s) missing under {root}: "
                               + ", ".join(str(root / r) for r in missing))
    return {r: root / r for r in relatives}


def read_text_csv(path: Path, required: Sequence[str], *,
                  optional: Sequence[str] = ()) -> pd.DataFrame:
    """Read a published CSV strictly, keeping only ``required`` and ``optional`` columns.

    The file is read by :func:`~bayes_needs.data.readers._csv.read_csv_rows` (compression
    recognised by content, UTF-8 only, every row with as many fields as the header).
    Columns whose every cell is a number are parsed as numbers; any other column is kept as
    stripped text with blank cells as ``""`` (so suppression codes survive for
    :func:`parse_numbers`). A ``line`` column gives each row's line in the file (the header
    is line 1).

    Raises
    ------
    DataValidationError
        If the file cannot be read as a CSV (see
        :func:`~bayes_needs.data.readers._csv.read_csv_rows`), lacks a required column, or
        a wanted column is itself called ``line``.
    """
    rows = read_csv_rows(path)
    clash = [c for c in (*required, *optional) if c == LINE]
    if clash:
        raise DataValidationError(str(path), [
            f"column '{LINE}' cannot be read here: the reader names each row's file line "
            f"'{LINE}'"])
    return rows.frame(required, optional).reset_index()


def file_lines(frame: pd.DataFrame, mask) -> list[int]:
    """Return the file lines (:func:`read_text_csv`'s ``line`` column) of the rows in ``mask``."""
    return [int(v) for v in frame.loc[mask, "line"].head(MAX_SHOWN)]


def parse_numbers(frame: pd.DataFrame, column: str, source: str, *,
                  codes: Iterable[str] = SUPPRESSION_CODES, whole: bool = True,
                  non_negative: bool = True) -> tuple[np.ndarray, pd.Series, list[str]]:
    """Parse a text column of published numbers.

    Parameters
    ----------
    frame
        Output of :func:`read_text_csv`.
    column
        Column to parse.
    source
        File name used in problem messages.
    codes
        Non-numeric cells accepted as "missing" (blank cells are reported as ``(blank)``).
    whole
        Require whole numbers.
    non_negative
        Require values >= 0.

    Returns
    -------
    values, code, problems
        Float values (NaN where a code was found), the code found per row (NaN where the
        cell is a number), and a list of problems (empty when every cell is valid).
    """
    text = frame[column]
    accepted = set(codes)
    problems = []
    code: pd.Series  # object dtype: a suppression code per row, NaN where a number
    if is_numeric_dtype(text) and not is_bool_dtype(text):
        values = text.to_numpy(dtype=float)
        code = pd.Series(np.nan, index=text.index, dtype=object)
    else:
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)
        code = text.where(np.isnan(values)).replace("", BLANK)
    bad = np.isnan(values) & ~code.isin(accepted).to_numpy()
    if bad.any():
        allowed = f" or accepted codes {sorted(accepted)}" if accepted else ""
        problems.append(f"column '{column}' has {int(bad.sum())} value(s) that are not "
                        f"numbers{allowed}: {_examples(frame, bad, column)}")
    finite = np.isfinite(values)
    if (~finite & ~np.isnan(values)).any():
        problems.append(f"column '{column}' has infinite value(s): "
                        f"{_examples(frame, ~finite & ~np.isnan(values), column)}")
    if non_negative:
        negative = finite & (values < 0)
        if negative.any():
            problems.append(f"column '{column}' has {int(negative.sum())} negative value(s): "
                            f"{_examples(frame, negative, column)}")
    if whole:
        fractional = finite & (np.floor(values) != values)
        if fractional.any():
            problems.append(f"column '{column}' must hold whole numbers; found "
                            f"{_examples(frame, fractional, column)}")
    return values, code, problems


def duplicate_problems(frame: pd.DataFrame, keys: list[str], what: str) -> list[str]:
    """One message naming duplicated key values and their file lines, or none."""
    dup = frame.duplicated(subset=keys, keep=False).to_numpy()
    if not dup.any():
        return []
    examples = frame.loc[dup, keys].drop_duplicates().head(3).to_dict("records")
    return [f"{int(dup.sum())} duplicate {what} row(s) on columns {keys} at line(s) "
            f"{file_lines(frame, dup)}, e.g. {examples}"]


def _examples(frame: pd.DataFrame, mask: np.ndarray, column: str) -> str:
    # The LA and year of a row (EES files) make the line easy to check against the source.
    labels = {c: n for c, n in ROW_LABELS.items() if c in frame.columns and c != column}
    rows = frame.loc[mask, ["line", column, *labels]].head(MAX_SHOWN)
    where = [" (" + ", ".join(f"{n} {row[c]}" for c, n in labels.items()) + ")" if labels
             else "" for _, row in rows.iterrows()]
    shown = ", ".join(f"line {line}{at}: {value!r}" if value != "" else
                      f"line {line}{at}: {BLANK}"
                      for line, at, value in zip(rows["line"], where, rows[column], strict=True))
    more = int(mask.sum()) - len(rows)
    return shown + (f" (+{more} more)" if more > 0 else "")
