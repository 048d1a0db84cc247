"""Checks and hashing shared by the data containers (area, person and spend data).

Every check returns a list of problem strings rather than raising, so a container can report
every problem of a table at once through :func:`~bayes_needs.data.validation.raise_if`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def check_names(names: Iterable[Any], what: str) -> list[str]:
    """List the problems with user-chosen names (services, covariates, activities).

    Parameters
    ----------
    names
        The names to check; each must be a lower-case identifier, listed once.
    what
        What the names are, used in the messages (e.g. ``"covariate"``).

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
    return [int(i) for i in np.flatnonzero(np.asarray(mask))[:5]]


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
                        f"row(s) {first_rows(missing)}")
    if year is not None and seen and seen != [year_label(year)]:
        wrong = ~missing & (values.map(year_label) != year_label(year)).to_numpy()
        problems.append(f"column 'year' holds {seen} but the data are declared for year "
                        f"{year!r} (mismatched years in {source}, first at row(s) "
                        f"{first_rows(wrong)})")
    elif year is None and len(seen) > 1:
        problems.append(f"column 'year' holds several years {seen}; give one year per table "
                        f"(mismatched years in {source})")
    return problems
