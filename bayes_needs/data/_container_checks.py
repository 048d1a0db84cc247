"""Checks and hashing shared by the data containers (area, person and spend data).

Every check returns a list of problem strings rather than raising, so a container can report
every problem of a table at once through :func:`~bayes_needs.data.validation.raise_if`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.defaults import MAX_COUNT_PER_CHILD

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

#: Name of the index of a table read from a file: each row's 1-based line in the file (the
#: header is line 1). Messages about such a table name file lines instead of row positions.
LINE = "line"
#: Rows named in one message.
MAX_ROWS_SHOWN = 5
#: Names a covariate may not have, with the reason. A covariate table is indexed by LSOA
#: under the dimension's name, so a column of that name would collide with its index.
RESERVED_COVARIATE_NAMES: Mapping[str, str] = {
    dims.LSOA: f"'{dims.LSOA}' names the LSOA index of the covariate table",
}


def check_names(names: Iterable[Any], what: str, *,
                reserved: Mapping[str, str] | None = None) -> list[str]:
    """List the problems with user-chosen names (services, covariates, activities).

    Parameters
    ----------
    names
        The names to check; each must be a lower-case identifier, listed once.
    what
        What the names are, used in the messages (e.g. ``"covariate"``).
    reserved
        Names that may not be used, with the reason (e.g.
        :data:`RESERVED_COVARIATE_NAMES`).

    Returns
    -------
    list of str
        One message per kind of problem; empty when all names are valid.
    """
    names = list(names)
    bad = [n for n in names if not isinstance(n, str) or not _NAME_RE.match(n)]
    problems = [f"{what} name(s) {bad} must be lower-case identifiers like 'cla_weeks'"] if bad \
        else []
    repeated = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    if repeated:
        problems.append(f"{what} name(s) {repeated} are listed more than once")
    problems += [f"{what} name '{n}' is reserved ({why}); rename the column"
                 for n, why in (reserved or {}).items() if n in names]
    return problems


def first_rows(mask: Any) -> list[int]:
    """Return the first few 0-based row positions where ``mask`` is true, as plain ints.

    Parameters
    ----------
    mask
        Boolean array-like over the rows of a table.

    Returns
    -------
    list of int
        At most five positions, for error messages.
    """
    return [int(i) for i in np.flatnonzero(np.asarray(mask))[:MAX_ROWS_SHOWN]]


def rows_at(index: pd.Index, positions: Any, *, limit: int = MAX_ROWS_SHOWN) -> str:
    """Name rows of a table for a message: file lines when it was read from a file.

    Parameters
    ----------
    index
        The table's index; when it is named :data:`LINE` it holds file lines.
    positions
        0-based positions of the rows to name (the first ``limit`` are named).
    limit
        Most rows named.

    Returns
    -------
    str
        ``"line(s) [2, 9]"`` for a table read from a file, else ``"row(s) [0, 7]"``
        (0-based positions).
    """
    shown = [int(i) for i in np.asarray(positions, dtype=np.int64)[:limit]]
    if index.name == LINE:
        return f"line(s) {[int(index[i]) for i in shown]}"
    return f"row(s) {shown}"


def row_at(index: pd.Index, position: int) -> str:
    """Name one row of a table: ``"line 7"`` when read from a file, else ``"row 5"``."""
    if index.name == LINE:
        return f"line {int(index[position])}"
    return f"row {int(position)}"


def rows_where(frame: pd.DataFrame, mask: Any, *, limit: int = MAX_ROWS_SHOWN) -> str:
    """:func:`rows_at` for the rows of ``frame`` where the boolean ``mask`` is true."""
    return rows_at(frame.index, np.flatnonzero(np.asarray(mask, dtype=bool)), limit=limit)


def implausible_counts(counts: Any, exposure: Any) -> np.ndarray:
    """Return the positions of the counts implausibly large for their exposure.

    A count is implausible above :data:`~bayes_needs.core.defaults.MAX_COUNT_PER_CHILD` per
    child of its exposure.

    Parameters
    ----------
    counts, exposure
        Counts of areas and the child population of each area (same length). Areas
        without children are left to the caller (a positive count there is another error).

    Returns
    -------
    numpy.ndarray
        0-based positions, ascending.
    """
    counts = np.asarray(counts, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        too_many = (exposure > 0) & (counts > MAX_COUNT_PER_CHILD * exposure)
    return np.flatnonzero(too_many)


def hash_frame(digest: Any, frame: pd.DataFrame) -> None:
    """Feed a frame's column names and cell values into a running ``hashlib`` digest.

    Parameters
    ----------
    digest
        A ``hashlib`` hash object, updated in place.
    frame
        The table to hash; its index is ignored.
    """
    digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def year_label(value: Any) -> str:
    """Return a year as text; 2024, 2024.0, '2024' and ' 2024 ' all read as '2024'.

    Parameters
    ----------
    value
        A year as an int, float or string.

    Returns
    -------
    str
        The canonical label used to compare years.
    """
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def check_year(frame: pd.DataFrame, year: int | str | None, source: str) -> list[str]:
    """Check that a ``year`` column holds one year, equal to the declared ``year`` if given.

    Parameters
    ----------
    frame
        The table; tables without a ``year`` column pass.
    year
        The declared data year, or None to accept any single year.
    source
        Label of the table used in the messages.

    Returns
    -------
    list of str
        The problems found; empty when the years agree.
    """
    if "year" not in frame.columns:
        return []
    values = frame["year"]
    missing = values.isna().to_numpy()
    seen = sorted({year_label(v) for v in values[~missing]})
    problems = []
    if missing.any():
        problems.append(f"column 'year' is empty at {int(missing.sum())} row(s), first at "
                        f"{rows_where(frame, missing)}")
    if year is not None and seen and seen != [year_label(year)]:
        wrong = ~missing & (values.map(year_label) != year_label(year)).to_numpy()
        problems.append(f"column 'year' holds {seen} but the data are declared for year "
                        f"{year!r} (mismatched years in {source}, first at "
                        f"{rows_where(frame, wrong)})")
    elif year is None and len(seen) > 1:
        problems.append(f"column 'year' holds several years {seen}; give one year per table "
                        f"(mismatched years in {source})")
    return problems
