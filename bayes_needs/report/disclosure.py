"""Statistical disclosure control for exported tables.

Two rules hold for every table the person-based approach writes:

* **No person-level rows.** Exports are built from collapsed cells aggregated to LA level;
  :func:`check_aggregate` refuses frames that carry person identifiers as a last guard.
* **Small counts are suppressed and marked.** Any count below ``threshold`` (default 5) is
  replaced by a missing value, and a companion boolean column ``<column>_suppressed`` marks
  it, so a reader can tell "suppressed" from "not available". Zero counts are suppressed too
  unless ``keep_zeros=True`` (a published zero can itself be disclosive, e.g. "no child in
  this LA is on a plan").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core.errors import BayesNeedsError, ConfigError
from bayes_needs.core.outputs import write_csv

DEFAULT_THRESHOLD = 5
SUPPRESSED_SUFFIX = "_suppressed"
#: Columns that identify a person; a table holding any of them is person-level.
PERSON_COLUMNS: frozenset[str] = frozenset(
    {"child_id", "person_id", "pupil_id", "upn", "nhs_number", "date_of_birth", "postcode"})


class DisclosureError(BayesNeedsError):
    """An export would disclose person-level information."""


def check_threshold(threshold: int) -> int:
    """Validate a suppression threshold (a whole number >= 1)."""
    if isinstance(threshold, bool) or not isinstance(threshold, int | np.integer) or \
            threshold < 1:
        raise ConfigError(f"disclosure threshold must be a whole number >= 1, got "
                          f"{threshold!r}")
    return int(threshold)


def check_aggregate(frame: pd.DataFrame, *, source: str = "table") -> None:
    """Raise :class:`DisclosureError` if ``frame`` carries person identifiers."""
    found = sorted(PERSON_COLUMNS & {str(c).lower() for c in frame.columns})
    if found:
        raise DisclosureError(f"{source}: refusing to export person-level columns {found}; "
                              f"only aggregated tables may leave the secure environment")


def suppress_counts(frame: pd.DataFrame, count_columns: Sequence[str], *,
                    threshold: int = DEFAULT_THRESHOLD, keep_zeros: bool = False,
                    source: str = "table") -> pd.DataFrame:
    """Return a copy of ``frame`` with small counts suppressed and marked.

    Parameters
    ----------
    frame
        An aggregated table.
    count_columns
        Columns holding counts of people or events.
    threshold
        Counts strictly below it are suppressed.
    keep_zeros
        Publish zero counts instead of suppressing them.
    source
        Label used in error messages.

    Returns
    -------
    pandas.DataFrame
        Suppressed cells are NaN; each count column ``c`` gains ``c_suppressed`` (bool),
        placed right after it. ``attrs["disclosure"]`` describes the rule applied.
    """
    threshold = check_threshold(threshold)
    check_aggregate(frame, source=source)
    missing = [c for c in count_columns if c not in frame.columns]
    if missing:
        raise ConfigError(f"{source}: count column(s) {missing} not in the table")
    out = frame.copy()
    columns = list(out.columns)
    for col in count_columns:
        values = pd.to_numeric(out[col], errors="coerce").astype(float)
        small = (values < threshold) & values.notna()
        if keep_zeros:
            small &= values != 0
        out[col] = values.mask(small)
        flag = col + SUPPRESSED_SUFFIX
        out[flag] = small.to_numpy()
        columns.insert(columns.index(col) + 1, flag)
    out = out[columns]
    out.attrs["disclosure"] = (f"counts below {threshold} suppressed"
                               f"{' (zeros kept)' if keep_zeros else ' (zeros included)'}; "
                               f"suppressed cells are empty and marked in *{SUPPRESSED_SUFFIX}")
    return out


def write_safe_csv(path: str | Path, frame: pd.DataFrame, *, count_columns: Sequence[str],
                   threshold: int = DEFAULT_THRESHOLD, keep_zeros: bool = False,
                   comment: str | None = None) -> Path:
    """Suppress small counts and write the table atomically with the rule in a comment."""
    safe = suppress_counts(frame, count_columns, threshold=threshold, keep_zeros=keep_zeros,
                           source=str(path))
    lines = [line for line in (comment, f"disclosure control: {safe.attrs['disclosure']}")
             if line]
    return write_csv(path, safe, comment="\n".join(lines))
