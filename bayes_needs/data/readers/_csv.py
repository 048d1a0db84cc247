"""The one strict CSV reader behind every CSV input.

:func:`read_csv_rows` reads a file's text (:func:`~bayes_needs.data.readers._input_text.
read_input_text`: compression by content, UTF-8 only) and splits it into records with the
standard :mod:`csv` module, keeping the 1-based file line each record starts on (the header
is line 1 unless comment or blank lines come first). A record with more or fewer fields than
the header is an error naming its line: an unquoted comma, such as the thousands separator in
``cin,la,E06000002,1,951``, must never be read as a smaller number or shift the columns.
Quoted fields may hold commas, quotes (doubled) and line breaks.

:meth:`CsvRows.frame` turns the records into a table indexed by those file lines (the index
is named :data:`~bayes_needs.data._container_checks.LINE`), so every later message can name
the line; the index never clashes with a column, whatever the file's columns are called.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data._container_checks import LINE
from bayes_needs.data.readers._input_text import read_input_text

#: Bad records described one by one before the rest are only counted.
MAX_SHOWN = 5


class _Lines:
    """Feed :func:`csv.reader` the file's lines, noting where each record starts.

    Lines starting with ``comment`` (after spaces) are skipped when a record would start
    there, never inside a quoted field.
    """

    def __init__(self, text: str, comment: str | None) -> None:
        self._lines = io.StringIO(text, newline="")  # splits at LF, CR LF and lone CR
        self._comment = comment
        self.read = 0            # lines consumed so far
        self.record_start = 0    # line the current record starts on
        self.between = True      # the next line starts a record

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        while True:
            line = next(self._lines)
            self.read += 1
            if not self.between:
                return line
            if self._comment and line.lstrip(" \t").startswith(self._comment):
                continue
            self.between = False
            self.record_start = self.read
            return line


@dataclass(frozen=True)
class CsvRows:
    """The records of a CSV file, checked to have as many fields as its header.

    Attributes
    ----------
    source
        The file, as named in messages.
    header
        Column names as written (not stripped).
    header_line
        File line of the header.
    rows
        The data records, each with ``len(header)`` fields, as written (not stripped).
    lines
        File line each record starts on.
    """

    source: str
    header: list[str]
    header_line: int
    rows: list[list[str]]
    lines: list[int]

    def frame(self, required: Sequence[str], optional: Sequence[str] = ()) -> pd.DataFrame:
        """Return the ``required`` and present ``optional`` columns, indexed by file line.

        A column whose every cell is a finite number (surrounding spaces allowed) becomes
        int64 (all whole and in range) or float64; any other column is text with surrounding
        whitespace stripped and blank cells as ``""``.

        Parameters
        ----------
        required
            Columns the file must have.
        optional
            Columns kept when present.

        Returns
        -------
        pandas.DataFrame
            Columns in ``required`` then ``optional`` order, the index the file lines
            (named ``"line"``).

        Raises
        ------
        DataValidationError
            If a required column is missing or a wanted column is named twice in the header.
        """
        missing = [c for c in required if c not in self.header]
        if missing:
            raise DataValidationError(self.source, [
                f"missing required column(s) {missing}; columns present: {self.header}"])
        wanted = list(dict.fromkeys([*required, *(c for c in optional if c in self.header)]))
        repeated = [c for c in wanted if self.header.count(c) > 1]
        if repeated:
            raise DataValidationError(self.source, [
                f"column name(s) {repeated} appear more than once in the header (line "
                f"{self.header_line}); which one to read is ambiguous"])
        data = {name: _typed(cells) for name, cells in zip(wanted, self._columns(wanted),
                                                             strict=True)}
        return pd.DataFrame(data, index=pd.Index(self.lines, name=LINE, dtype=np.int64),
                            columns=wanted)

    def _columns(self, names: Sequence[str]) -> list[Sequence[str]]:
        """Return the cells of each named column, in row order."""
        at = [self.header.index(name) for name in names]
        if not at:
            return []
        if len(at) == 1:
            return [[row[at[0]] for row in self.rows]]
        return list(zip(*map(itemgetter(*at), self.rows), strict=True))


def read_csv_rows(path: str | Path, *, comment: str | None = None) -> CsvRows:
    """Read a CSV file strictly: every record must have as many fields as the header.

    Parameters
    ----------
    path
        The file: UTF-8 text, optionally compressed (see
        :func:`~bayes_needs.data.readers._input_text.read_input_text`).
    comment
        Lines starting with this text are skipped (e.g. ``"#"`` for the comment lines
        written above the header of the package's own CSV outputs). Blank lines are always
        skipped. Line numbers in messages count every line of the file.

    Returns
    -------
    CsvRows
        The header and records with their file lines.

    Raises
    ------
    DataValidationError
        Naming the file and the lines of every problem: an empty file, a header without data
        rows, malformed quoting, or records with more or fewer fields than the header.
    """
    source = str(path)
    text = read_input_text(Path(path))
    lines = _Lines(text, comment)
    records: list[list[str]] = []
    starts: list[int] = []
    reader = csv.reader(lines, strict=True)
    try:
        for record in reader:
            lines.between = True
            if not record or (len(record) == 1 and not record[0].strip()):
                continue  # a blank line
            records.append(record)
            starts.append(lines.record_start)
    except csv.Error as exc:
        raise DataValidationError(source, [_quoting_problem(exc, lines)]) from None
    if not records:
        raise DataValidationError(source, ["the file is empty (no header row)"])
    header, header_line = records[0], starts[0]
    rows, row_lines = records[1:], starts[1:]
    problems = _field_count_problems(header, header_line, rows, row_lines)
    if problems:
        raise DataValidationError(source, problems)
    if not rows:
        raise DataValidationError(source, ["the file has a header but no data rows"])
    return CsvRows(source=source, header=header, header_line=header_line, rows=rows,
                   lines=row_lines)


def _quoting_problem(exc: csv.Error, lines: _Lines) -> str:
    """Describe a :class:`csv.Error`, naming the line of the record it happened in."""
    text = str(exc)
    start = lines.record_start
    if "unexpected end of data" in text:
        return (f"line {start}: a quoted field is not closed before the end of the file; "
                f"check the quotes from line {start} on")
    if "field larger than field limit" in text:
        return (f"line {start}: a field longer than {csv.field_size_limit()} characters, "
                f"usually a quote that is never closed; check the quotes from line {start} on")
    where = f"line {lines.read}" if lines.read == start else \
        f"line {lines.read} (in the record starting on line {start})"
    return f"{where}: malformed CSV quoting ({text}); a quoted field must be followed by a " \
           f"comma or the end of the line, and quotes inside it doubled"


def _field_count_problems(header: list[str], header_line: int, rows: list[list[str]],
                          lines: list[int]) -> list[str]:
    """One problem per record with the wrong number of fields (the first few, then a count)."""
    expected = len(header)
    bad = [i for i, row in enumerate(rows) if len(row) != expected]
    problems = []
    for i in bad[:MAX_SHOWN]:
        got = len(rows[i])
        hint = ("an unquoted comma, e.g. a thousands separator, or a stray field? quote a "
                "value that holds a comma" if got > expected else
                "a missing field? give every column a value, or an empty one between commas")
        problems.append(f"line {lines[i]}: {got} field(s) where the header (line "
                        f"{header_line}) has {expected}; {hint}")
    if len(bad) > MAX_SHOWN:
        problems.append(f"{len(bad) - MAX_SHOWN} more line(s) with a wrong number of fields, "
                        f"e.g. line(s) {[lines[i] for i in bad[MAX_SHOWN:2 * MAX_SHOWN]]}")
    return problems


def _typed(cells: Sequence[str]) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Return the cells as numbers when every one is a finite number, else as stripped text."""
    text = pc.utf8_trim_whitespace(pa.array(cells, type=pa.string()))
    if len(text) and pc.min(pc.utf8_length(text)).as_py() > 0:
        try:  # Arrow's parser: no spaces, no digit separators, ASCII digits only
            numbers = pc.cast(text, pa.float64()).to_numpy()
        except pa.ArrowInvalid:
            numbers = None
        if numbers is not None and np.isfinite(numbers).all():
            if pc.all(pc.match_substring_regex(text, r"^-?[0-9]{1,15}$")).as_py():
                return numbers.astype(np.int64)  # whole numbers below 1e15 are exact
            return numbers
    return pd.array(text, dtype="str")
