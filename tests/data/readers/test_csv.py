"""The strict CSV reader, by properties: random tables, field counts, encodings, quoting,
line ends, blank lines and compressions.

A well-formed file must come back with exactly the values written and the file line of every
row; anything else must give a :class:`BayesNeedsError` (never another exception), and a row
with the wrong number of fields must be named by its file line.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import lzma
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from archives import zipped
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bayes_needs.core.errors import BayesNeedsError
from bayes_needs.data.readers._files import read_text_csv

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])
#: Text cells mix letters, digits, punctuation, spaces, non-ASCII letters and the characters
#: CSV must quote. Control characters other than line breaks are left out.
CHARS = st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs"),
                      include_characters=',"\n\r ')
COMPRESS = {
    "none": lambda data: data,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zip": lambda data: _zip(data),
}
LINE_ENDS = ("\n", "\r\n", "\r")


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("table.csv", data)
    return buffer.getvalue()


@dataclass
class Table:
    header: list[str]
    rows: list[list[object]]      # int or str cells
    line_end: str
    quoting: int
    blank_after: list[bool]       # a blank line after each record (header first)
    final_newline: bool

    def records(self) -> list[str]:
        """Each record as written, with its line end."""
        out = []
        for record in [self.header, *self.rows]:
            buffer = io.StringIO()
            # Written with CR LF so that any field holding a CR or an LF is quoted.
            csv.writer(buffer, lineterminator="\r\n", quoting=self.quoting).writerow(record)
            out.append(buffer.getvalue().removesuffix("\r\n") + self.line_end)
        return out

    def text(self) -> str:
        parts = []
        for record, blank in zip(self.records(), self.blank_after, strict=True):
            parts.append(record + (self.line_end if blank else ""))
        text = "".join(parts)
        return text if self.final_newline else text.rstrip("\r\n")

    def lines(self) -> list[int]:
        """File line each data row starts on."""
        line, starts = 1, []
        for i, (record, blank) in enumerate(zip(self.records(), self.blank_after,
                                                strict=True)):
            if i:
                starts.append(line)
            line += _breaks(record) + int(blank)
        return starts


def _breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


@st.composite
def tables(draw) -> Table:
    n_columns = draw(st.integers(1, 4))
    header = draw(st.lists(st.text(CHARS, max_size=6).map(lambda t: "h" + t),
                           min_size=n_columns, max_size=n_columns, unique=True))
    numeric = draw(st.lists(st.booleans(), min_size=n_columns, max_size=n_columns))
    n_rows = draw(st.integers(1, 6))
    # "x" first: a text cell is never blank and never reads as a number.
    text_cell = st.text(CHARS, max_size=8).map(lambda t: "x" + t)
    int_cell = st.integers(-10**12, 10**12)
    rows = [[draw(st.one_of(int_cell, text_cell) if not num else int_cell)
             for num in numeric] for _ in range(n_rows)]
    return Table(header=header, rows=rows, line_end=draw(st.sampled_from(LINE_ENDS)),
                 quoting=draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL])),
                 blank_after=draw(st.lists(st.booleans(), min_size=n_rows + 1,
                                           max_size=n_rows + 1)),
                 final_newline=draw(st.booleans()))


def _read_all(table: Table, data: bytes):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "table.csv"
        path.write_bytes(data)
        return read_text_csv(path, table.header)


def _assert_read_back(table: Table, frame) -> None:
    assert list(frame["line"]) == table.lines()
    for j, name in enumerate(table.header):
        cells = [row[j] for row in table.rows]
        if all(isinstance(c, int) for c in cells):
            assert frame[name].dtype == np.int64
            assert list(frame[name]) == cells
        else:
            assert list(frame[name]) == [str(c).strip() for c in cells]


@SETTINGS
@given(table=tables(), encoding=st.sampled_from(["utf-8", "utf-8-sig"]),
       compression=st.sampled_from(sorted(COMPRESS)))
def test_well_formed_csv_reads_back_what_was_written(table, encoding, compression):
    data = COMPRESS[compression](table.text().encode(encoding))
    _assert_read_back(table, _read_all(table, data))


@st.composite
def wrong_field_counts(draw) -> tuple[Table, int]:
    """A table whose row ``k`` has one field more or (when it has two or more) one fewer."""
    table = draw(tables())
    k = draw(st.integers(0, len(table.rows) - 1))
    row = table.rows[k]
    if len(row) > 1 and draw(st.booleans()):
        del row[draw(st.integers(0, len(row) - 1))]
    else:
        row.insert(draw(st.integers(0, len(row))), draw(st.integers(0, 999)))
    return table, k


@SETTINGS
@given(case=wrong_field_counts(), compression=st.sampled_from(sorted(COMPRESS)))
def test_a_row_with_the_wrong_number_of_fields_is_named_by_its_line(case, compression):
    table, k = case
    with pytest.raises(BayesNeedsError) as info:
        _read_all(table, COMPRESS[compression](table.text().encode("utf-8")))
    width = len(table.rows[k])
    assert (f"line {table.lines()[k]}: {width} field(s) where the header (line 1) has "
            f"{len(table.header)}") in str(info.value)


def _with_nul(data: bytes, at: int) -> bytes:
    at %= len(data) + 1
    return data[:at] + b"\x00" + data[at:]


@st.composite
def damaged_files(draw) -> tuple[Table, bytes, bool]:
    """Bytes of a table damaged one way, and whether the damage must be refused."""
    table = draw(tables())
    text = table.text()
    kind = draw(st.sampled_from(["utf-16", "utf-16-le", "utf-32", "latin-1", "nul",
                                 "truncated", "binary"]))
    compression = draw(st.sampled_from(sorted(COMPRESS)))
    if kind == "binary":
        return table, draw(st.binary(max_size=300)), False
    if kind == "latin-1":  # may be valid UTF-8 by chance (mojibake), else refused
        return table, COMPRESS[compression](text.encode("latin-1", errors="replace")), False
    if kind == "nul":
        return table, COMPRESS[compression](_with_nul(text.encode(), draw(st.integers(0)))), True
    if kind == "truncated":
        compression = draw(st.sampled_from(sorted(set(COMPRESS) - {"none"})))
        data = COMPRESS[compression](text.encode())
        return table, data[:draw(st.integers(0, len(data) - 1))], True
    return table, COMPRESS[compression](text.encode(kind)), True


@SETTINGS
@given(case=damaged_files())
def test_any_file_gives_values_or_a_clean_error(case):
    table, data, refused = case
    try:
        frame = _read_all(table, data)
    except BayesNeedsError:
        return
    assert not refused, f"accepted a damaged file: {frame}"
    assert "line" in frame.columns




REFUSALS = {
    "empty_zip": (zipped(), "zip archive with 0 files"),
    "xlsx": (zipped(("[Content_Types].xml", "x"), ("xl/workbook.xml", "y")),
             "Excel .xlsx workbook"),
    "xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64), "Excel 97-2003 workbook"),
    "zip_in_gzip": (gzip.compress(zipped(("a.csv", "a,b\n1,2\n"))),
                    "gzip-compressed file holding a zip archive"),
    "unclosed_quote_long_field": (('a,b\n1,2\n3,"' + "x" * 200_000 + "\n").encode(),
                                  "line 3: a field longer than"),
    "text_after_closing_quote": (b'a,b\n1,2\n"3"x,4\n', "line 3: malformed CSV quoting"),
    "repeated_column": (b"a,a\n1,2\n", "column name(s) ['a'] appear more than once"),
    "utf32": ("a,b\n1,2\n".encode("utf-32"), "UTF-32 text"),
    "nul_byte": (b"a,b\n1,2\n3,\x004\n", "NUL byte at line 3"),
    "latin1": ("a,b\n1,2\n3,Guíxols\n".encode("latin-1"),
               "not valid UTF-8 text (invalid continuation byte at line 3"),
}


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_a_refused_file_is_named_with_the_reason(name, tmp_path):
    data, needle = REFUSALS[name]
    path = tmp_path / "table.csv"
    path.write_bytes(data)
    with pytest.raises(BayesNeedsError) as info:
        read_text_csv(path, ["a"])
    assert str(path) in str(info.value) and needle in str(info.value)
