"""An input file's text: compression recognised by content, UTF-8 checked, limits kept.

:func:`read_input_text` is the first step of every CSV input (see
:mod:`bayes_needs.data.readers._csv`). It looks at the file's first bytes, not its name:

* gzip, bzip2 and xz files, and zip archives holding exactly one file, are decompressed;
* other containers (tar, zip archives with several members, Zstandard, 7z, RAR, Excel
  workbooks, Parquet) are refused with a message saying what the file is;
* the text must be UTF-8 (a byte-order mark is dropped); UTF-16/32 text, NUL bytes and
  invalid UTF-8 are refused naming the 1-based line of the first bad byte.

Zstandard is refused rather than read: the standard library of the supported Python versions
has no decoder, and a file readable on one installation but not another would be a trap.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path

from bayes_needs.core.errors import DataValidationError

#: Most bytes of text accepted from one input file (after decompression). A national LSOA
#: table is a few megabytes; the limit stops a decompression bomb from exhausting memory.
MAX_TEXT_BYTES = 256 * 2**20

#: Leading bytes of compressed files that are read, with what they are and how to open them.
_OPENERS: tuple[tuple[bytes, str, Callable[[io.BytesIO], io.BufferedIOBase]], ...] = (
    (b"\x1f\x8b", "a gzip-compressed file", lambda raw: gzip.GzipFile(fileobj=raw)),
    (b"BZh", "a bzip2-compressed file", lambda raw: bz2.BZ2File(raw)),
    (b"\xfd7zXZ\x00", "an xz-compressed file", lambda raw: lzma.LZMAFile(raw)),
)
_ZIP = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
#: Leading bytes of formats that are refused, with what the file is and what to do instead.
_REFUSED: tuple[tuple[bytes, str], ...] = (
    (b"\x28\xb5\x2f\xfd", "a Zstandard-compressed file, which cannot be read here; "
                          "decompress it and give the CSV file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive, which cannot be read; extract the CSV file"),
    (b"Rar!\x1a\x07", "a RAR archive, which cannot be read; extract the CSV file"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel 97-2003 workbook (or other Office "
                                         "document); save the sheet as a UTF-8 CSV file"),
    (b"PAR1", "a Parquet file; write the table as a UTF-8 CSV file"),
)
_TAR_MAGIC_OFFSET = 257
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"),
)
_UTF8_BOM = b"\xef\xbb\xbf"
_SAVE_AS = "save it as a UTF-8 CSV file"


def read_input_text(path: Path) -> str:
    """Return the text of an input file, decompressed by content and decoded as UTF-8.

    Parameters
    ----------
    path
        The file; its name is used in messages only (never to choose a decompressor).

    Returns
    -------
    str
        The text, without a UTF-8 byte-order mark, line endings as in the file.

    Raises
    ------
    DataValidationError
        Naming the file and the reason: an unreadable or too large file, a refused or corrupt
        container, UTF-16/32 text, NUL bytes or invalid UTF-8 (with the line of the first bad
        byte).
    """
    source = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_TEXT_BYTES:
            raise DataValidationError(source, [_too_large(f"the file is {size} bytes,")])
        raw = path.read_bytes()
    except OSError as exc:
        raise DataValidationError(source, [f"the file cannot be read: "
                                           f"{exc.strerror or exc}"]) from None
    data = _unpacked(raw, source)
    return _decoded(data, source)


def _unpacked(raw: bytes, source: str, *, outer: str | None = None) -> bytes:
    """Decompress ``raw`` if its first bytes say it is compressed; refuse other containers.

    ``outer`` names the container ``raw`` came out of: a second level is refused.
    """
    holding = f"{outer} holding " if outer else ""
    refused = _refusal(raw)
    if refused:
        raise DataValidationError(source, [f"the file is {holding}{refused}"])
    kind: str | None = None
    for magic, label, opener in _OPENERS:
        if raw.startswith(magic):
            kind, data = label, _expand(raw, label, opener, source)
    if raw.startswith(_ZIP):
        kind, data = "a zip archive", _zip_member(raw, source)
    if kind is None:
        return raw
    if outer:
        raise DataValidationError(source, [f"the file is {holding}{kind}: nested "
                                           f"compression is not read; decompress it first"])
    return _unpacked(data, source, outer=kind)


def _refusal(raw: bytes) -> str | None:
    """Describe a format that is refused, or ``None``."""
    for magic, what in _REFUSED:
        if raw.startswith(magic):
            return what
    if raw[_TAR_MAGIC_OFFSET:_TAR_MAGIC_OFFSET + 5] == b"ustar":
        return "a tar archive, which cannot be read; extract the CSV file"
    return None


def _expand(raw: bytes, label: str, opener: Callable[[io.BytesIO], io.BufferedIOBase],
            source: str) -> bytes:
    """Decompress a single stream, at most :data:`MAX_TEXT_BYTES` of it."""
    try:
        with opener(io.BytesIO(raw)) as stream:
            data = stream.read(MAX_TEXT_BYTES + 1)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as exc:
        raise DataValidationError(source, [f"the file is {label} that is corrupt or "
                                           f"truncated: {exc}"]) from None
    if len(data) > MAX_TEXT_BYTES:
        raise DataValidationError(source, [_too_large(f"the file is {label} that "
                                                      f"decompresses to")])
    return data


def _zip_member(raw: bytes, source: str) -> bytes:
    """Return the one file of a zip archive; refuse an archive with none or several."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            names = [m.filename for m in members]
            if "[Content_Types].xml" in names:
                raise DataValidationError(source, [
                    "the file is an Office document (e.g. an Excel .xlsx workbook), not a "
                    "CSV file; save the sheet as a UTF-8 CSV file"])
            if len(members) != 1:
                shown = names[:5] + (["..."] if len(names) > 5 else [])
                raise DataValidationError(source, [
                    f"the file is a zip archive with {len(members)} files {shown}; a zip "
                    f"input must hold exactly one CSV file"])
            if members[0].file_size > MAX_TEXT_BYTES:
                raise DataValidationError(source, [_too_large("the zip archive holds a file of")])
            with archive.open(members[0]) as stream:
                data = stream.read(MAX_TEXT_BYTES + 1)
    except DataValidationError:
        raise
    except RuntimeError as exc:  # an encrypted member
        raise DataValidationError(source, [f"the zip archive cannot be read: {exc}"]
                                  ) from None
    except (zipfile.BadZipFile, NotImplementedError, OSError, EOFError, zlib.error,
            lzma.LZMAError, ValueError) as exc:
        raise DataValidationError(source, [f"the zip archive is corrupt or uses an "
                                           f"unsupported compression: {exc}"]) from None
    if len(data) > MAX_TEXT_BYTES:
        raise DataValidationError(source, [_too_large("the zip archive holds a file of")])
    return data


def _decoded(data: bytes, source: str) -> str:
    """Decode UTF-8 text, naming the line of the first byte that is not valid UTF-8 text."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            raise DataValidationError(source, [f"the file is {encoding} text (it starts with "
                                               f"a {encoding} byte-order mark), not UTF-8; "
                                               f"{_SAVE_AS}"])
    data = data.removeprefix(_UTF8_BOM)
    nul = data.find(b"\x00")
    if nul >= 0:
        raise DataValidationError(source, [
            f"the file holds a NUL byte at line {_line_of(data, nul)} (byte {nul}): it is "
            f"binary, or UTF-16/UTF-32 text without a byte-order mark; {_SAVE_AS}"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataValidationError(source, [
            f"the file is not valid UTF-8 text ({exc.reason} at line "
            f"{_line_of(data, exc.start)}, byte {exc.start}); {_SAVE_AS}"]) from None


def _line_of(data: bytes, offset: int) -> int:
    """Return the 1-based line of byte ``offset`` (lines end at LF, CR LF or a lone CR)."""
    head = data[:offset]
    return 1 + head.count(b"\n") + head.count(b"\r") - head.count(b"\r\n")


def _too_large(what: str) -> str:
    return (f"{what} more than the {MAX_TEXT_BYTES // 2**20} MiB of text an input table may "
            f"have; is it the right file?")
