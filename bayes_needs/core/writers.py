"""Atomic files: each output file appears whole or not at all, with the user's permissions.

Every file the package writes goes through :func:`write_bytes`. The content is made in memory
first (a CSV table, a PNG, a netCDF file serialised by :func:`netcdf_bytes`), written to a
hidden temporary sibling with plain system calls and moved onto the target with
:func:`os.replace`, which is atomic on POSIX and Windows filesystems. A failed write, such as a
full disk (``ENOSPC``), is therefore an ordinary :class:`OSError`, reported as
:class:`~bayes_needs.core.errors.OutputWriteError` naming the file; the HDF5 library never
sees it, so it cannot crash half-way through a file. The temporary file is removed on any
error or interrupt.

New files get the permissions of the process umask (``0o666 & ~umask``: ``0o644`` under the
usual umask ``022``), as any program's files do.

Text cells of CSV tables that a spreadsheet would run as a formula are neutralised
(:func:`neutralise_formulas`). A CSV holds its table and nothing else, so plain
``pandas.read_csv(path)`` reads it; what describes it (the interval, the pot, each column's
``units`` and ``long_name``) goes into its metadata sidecar ``<name>.meta.json``
(:func:`sidecar_name`), written beside it by :func:`write_csv`.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Final, Literal

import pandas as pd
import xarray as xr

from bayes_needs.core import defaults
from bayes_needs.core.errors import OutputWriteError
from bayes_needs.core.text import is_number
from bayes_needs.core.units import column_attrs

#: First characters that make a spreadsheet read a text cell as a formula (OWASP, "CSV
#: Injection"): ``=``, ``+``, ``-``, ``@``, tab and carriage return.
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
#: Put before such a cell so that a spreadsheet shows it as text.
TEXT_MARKER = "'"
#: Largest single ``os.write`` (some platforms refuse larger writes).
WRITE_CHUNK = 1 << 24
#: Open temporary files in binary mode on Windows (no newline translation).
_BINARY = getattr(os, "O_BINARY", 0)
#: Suffix of the metadata sidecar written beside each CSV table (``allocations.meta.json``).
SIDECAR_SUFFIX = ".meta.json"
#: Version of the sidecar's layout.
SIDECAR_SCHEMA_VERSION = 1


def _create_temp(target: Path) -> Path:
    """Create an empty hidden sibling of ``target`` (mode ``0o666`` less the umask)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp"
        try:
            # Unlike tempfile.mkstemp (always 0o600), os.open applies the process umask.
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _BINARY, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return tmp


def write_error(target: str | Path, exc: OSError) -> OutputWriteError:
    """Describe a failed write of ``target`` as an :class:`OutputWriteError`."""
    return OutputWriteError(str(target), exc.strerror or str(exc), exc.errno)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success move it onto ``target``.

    Parameters
    ----------
    target
        The file to write; its parent directories are created.

    Yields
    ------
    pathlib.Path
        A temporary sibling of ``target`` (empty, with the umask's permissions), removed if
        the block raises.
    """
    target = Path(target)
    tmp = _create_temp(target)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def write_atomic(target: str | Path, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)``, then move the result onto ``target``.

    Prefer :func:`write_bytes`: a library that writes the file itself (as ``writer`` does)
    may not survive a full disk gracefully.

    Parameters
    ----------
    target
        The file to write.
    writer
        Writes the content to the path it is given; its return value is ignored.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    OutputWriteError
        If the file system refuses the write (full disk, permissions).
    """
    try:
        with atomic_path(target) as tmp:
            writer(tmp)
    except OSError as exc:
        raise write_error(target, exc) from None
    return Path(target)


def write_bytes(target: str | Path, data: bytes | bytearray | memoryview) -> Path:
    """Write ``data`` to ``target`` atomically with plain system calls.

    Parameters
    ----------
    target
        The file to write; its parent directories are created.
    data
        The whole content.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    OutputWriteError
        If the file system refuses the write (full disk, permissions); ``target`` is as it
        was and no temporary file is left.
    """
    target = Path(target)
    view = memoryview(data).cast("B")
    try:
        with atomic_path(target) as tmp:
            fd = os.open(tmp, os.O_WRONLY | _BINARY)
            try:
                while len(view):
                    view = view[os.write(fd, view[:WRITE_CHUNK]):]
            finally:
                os.close(fd)
    except OSError as exc:
        raise write_error(target, exc) from None
    return target


def write_text(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically and return ``target``."""
    return write_bytes(target, text.encode("utf-8"))


def _is_inert(text: str) -> bool:
    """Whether ``text`` cannot run as a formula: a number, or a lone dash (a placeholder)."""
    return text == "-" or is_number(text)


def neutral_cell(value: object) -> object:
    """Return ``value`` with :data:`TEXT_MARKER` put before it if it would run as a formula.

    Only text starting with one of :data:`FORMULA_STARTS` changes, and not text that is a
    number (``-0.5``) or a lone dash (a placeholder). Other values are returned as they are.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS) and not _is_inert(value):
        return TEXT_MARKER + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with every text cell and column name made safe for spreadsheets.

    OWASP's advice against CSV injection: a cell such as ``=HYPERLINK(...)`` gets a leading
    ``'``, so a spreadsheet shows it as text instead of running it. Numeric columns are
    untouched, so numbers stay numbers.

    Parameters
    ----------
    frame
        A table about to be written as CSV.

    Returns
    -------
    pandas.DataFrame
        ``frame`` itself when nothing needed changing, else a changed copy.
    """
    out = frame
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        safe = _neutral_column(values)
        if safe is not None:
            if out is frame:
                out = frame.copy()
            out.isetitem(position, safe.array if isinstance(safe.dtype, pd.CategoricalDtype)
                         else safe.to_numpy())
    names = [neutral_cell(c) for c in frame.columns]
    if names != list(frame.columns):
        out = out.copy() if out is frame else out
        out.columns = pd.Index(names)
    return out


def _neutral_column(values: pd.Series) -> pd.Series | None:
    """Return the column with its text cells made safe, or ``None`` if none needed it."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = [neutral_cell(c) for c in values.cat.categories]
        if categories == list(values.cat.categories):
            return None
        return values.cat.rename_categories(categories)
    if not (pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values)):
        return None
    cells = [neutral_cell(v) for v in values]
    if all(new is old for new, old in zip(cells, values, strict=True)):
        return None
    return pd.Series(cells, index=values.index, dtype=values.dtype, name=values.name)


def sidecar_name(csv_name: str | Path) -> str:
    """Name the sidecar of a CSV table: ``allocations.csv`` -> ``allocations.meta.json``."""
    name = Path(csv_name).name
    return name.removesuffix(".csv") + SIDECAR_SUFFIX


def sidecar_text(csv_name: str, frame: pd.DataFrame, *, comment: str | None = None,
                 metadata: Mapping[str, Any] | None = None,
                 currency: str = defaults.CURRENCY) -> str:
    """Describe a CSV table as the JSON text of its metadata sidecar.

    Parameters
    ----------
    csv_name
        The table's file name.
    frame
        The table as written.
    comment
        Lines describing the table (interval, settings), stored as the list ``comment``.
    metadata
        Further JSON-serialisable entries (e.g. ``interval_prob``, ``pot``).
    currency
        The currency of money columns.

    Returns
    -------
    str
        A JSON object: ``schema_version``, ``table``, ``comment``, the ``metadata`` entries
        and ``fields``: one entry per column, in order, with its ``name``, ``type`` (Table
        Schema types, as :func:`pandas.io.json.build_table_schema` names them) and, where
        known, ``units`` and ``long_name`` (:mod:`bayes_needs.core.units`).
    """
    schema_fields: list[dict[str, Any]] = pd.io.json.build_table_schema(
        frame, index=False, version=False)["fields"]  # type: ignore[assignment]
    fields = [{"name": field["name"], "type": field["type"],
               **column_attrs(str(field["name"]), currency=currency)}
              for field in schema_fields]
    meta: dict[str, Any] = {"schema_version": SIDECAR_SCHEMA_VERSION, "table": csv_name,
                            "comment": comment.splitlines() if comment else []}
    meta.update(metadata or {})
    meta["fields"] = fields
    return json.dumps(meta, indent=1, default=str, allow_nan=False) + "\n"


def write_csv(target: str | Path, frame: pd.DataFrame, *, comment: str | None = None,
              metadata: Mapping[str, Any] | None = None, currency: str = defaults.CURRENCY,
              float_format: str = "%.10g") -> Path:
    """Write a CSV table and its metadata sidecar atomically.

    The CSV holds the header and rows only, so ``pandas.read_csv(target)`` reads it without
    options. Its description goes to ``<name>.meta.json`` beside it (:func:`sidecar_text`);
    an output set (:mod:`bayes_needs.core.outputs`) moves both into place together. Text
    cells that a spreadsheet would run as formulas are neutralised
    (:func:`neutralise_formulas`).

    Parameters
    ----------
    target
        The file to write.
    frame
        The table, written without its index, with Unix line endings.
    comment
        Lines describing the table, stored in the sidecar.
    metadata
        Further JSON-serialisable sidecar entries.
    currency
        The currency of money columns (their ``units`` in the sidecar).
    float_format
        A fixed format keeps output byte-identical across runs with the same inputs.

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    target = Path(target)
    buffer = io.StringIO()
    safe = neutralise_formulas(frame)
    # The csv module quotes a field with a line feed but not one with a bare carriage
    # return, which a reader would take as a line end: quote every text field then.
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONNUMERIC if _has_carriage_return(safe) \
        else csv.QUOTE_MINIMAL
    safe.to_csv(buffer, index=False, float_format=float_format, lineterminator="\n",
                quoting=quoting)
    write_text(target, buffer.getvalue())
    write_text(target.with_name(sidecar_name(target)),
               sidecar_text(target.name, safe, comment=comment, metadata=metadata,
                            currency=currency))
    return target


def _has_carriage_return(frame: pd.DataFrame) -> bool:
    """Whether a column name or text cell of ``frame`` holds a carriage return."""
    texts = [str(c) for c in frame.columns]
    for position in range(frame.shape[1]):
        values = frame.iloc[:, position]
        if isinstance(values.dtype, pd.CategoricalDtype):
            texts += [str(c) for c in values.cat.categories]
        elif pd.api.types.is_object_dtype(values) or pd.api.types.is_string_dtype(values):
            texts += [v for v in values if isinstance(v, str)]
    return any("\r" in text for text in texts)


#: zlib at level 1 after HDF5's byte shuffle (standard filters every netCDF-4 reader has):
#: posterior predictive counts and pointwise log-likelihoods, 2 x 1000 x 6000 each, wrote
#: in 3.6 s to 93 MB against 7.9 s to 110 MB with zlib alone at its default level 4.
_COMPRESSION: Final = {"zlib": True, "complevel": 1, "shuffle": True}


def netcdf_bytes(groups: Mapping[str, xr.Dataset], *, compress: bool = False,
                 root_attrs: Mapping[str, object] | None = None) -> memoryview:
    """Serialise datasets into one netCDF-4 (HDF5) file in memory.

    Parameters
    ----------
    groups
        Group path (``"/"`` for the root) -> dataset, written in this order.
    compress
        Compress numeric variables (zlib after a byte shuffle; ArviZ uses zlib alone).
    root_attrs
        Attributes of the root group, written first.

    Returns
    -------
    memoryview
        The file's contents, ready for :func:`write_bytes`.
    """
    buffer = io.BytesIO()
    mode: Literal["w", "a"] = "w"
    if root_attrs:
        xr.Dataset(attrs=dict(root_attrs)).to_netcdf(buffer, mode="w", engine="h5netcdf")
        mode = "a"
    for name, dataset in groups.items():
        encoding = {var: dict(_COMPRESSION) for var, values in dataset.variables.items()
                    if values.dtype.kind in "biufcS"} if compress else None
        dataset.to_netcdf(buffer, mode=mode, group=None if name == "/" else name,
                          engine="h5netcdf", encoding=encoding)
        mode = "a"
    return buffer.getbuffer()


def write_netcdf(target: str | Path, dataset: xr.Dataset) -> Path:
    """Write one dataset to a netCDF-4 file atomically (serialised in memory first)."""
    return write_bytes(target, netcdf_bytes({"/": dataset}))
