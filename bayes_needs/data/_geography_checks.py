"""Validation of a geography table, for :meth:`~bayes_needs.data.geography.Geography.from_frame`.

Every check collects its problems so one :class:`~bayes_needs.core.errors.GeographyError`
lists them all.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from bayes_needs.core.errors import GeographyError
from bayes_needs.data._container_checks import rows_where


def validated_table(
    frame: pd.DataFrame,
    *,
    lsoa_code: str,
    msoa_code: str,
    la_code: str,
    lsoa_name: str | None,
    msoa_name: str | None,
    la_name: str | None,
    source: str,
    expected_las: Iterable[object] | None,
    expected_msoas: Iterable[object] | None,
) -> pd.DataFrame:
    """Check a one-row-per-LSOA table and return its code and name columns as clean text.

    Parameters
    ----------
    frame
        One row per LSOA with code columns (and optionally name columns) for each level.
    lsoa_code, msoa_code, la_code, lsoa_name, msoa_name, la_name
        Column names in ``frame``; name columns may be None.
    source
        Where the frame came from, used in error messages.
    expected_las, expected_msoas
        Optional LA (MSOA) codes that must each contain at least one LSOA.

    Returns
    -------
    pandas.DataFrame
        The wanted columns with surrounding whitespace stripped, in the frame's row order
        (duplicate LSOA rows included; the caller drops them).

    Raises
    ------
    GeographyError
        Listing every problem: missing columns, missing or duplicate LSOA codes, an LSOA in
        two MSOAs, an MSOA in two LAs, a code with two names, an empty unit or an empty table.
    """
    if not isinstance(frame, pd.DataFrame):
        raise GeographyError(source, [f"expected a pandas DataFrame, got "
                                      f"{type(frame).__name__}"])
    wanted = {"LSOA code": lsoa_code, "MSOA code": msoa_code, "LA code": la_code}
    for label, col in (("LSOA name", lsoa_name), ("MSOA name", msoa_name),
                       ("LA name", la_name)):
        if col is not None:
            wanted[label] = col
    missing = [f"missing {label} column '{col}'" for label, col in wanted.items()
               if col not in frame.columns]
    if missing:
        raise GeographyError(source, [*missing, f"columns present: {list(frame.columns)}"])
    if len(frame) == 0:
        raise GeographyError(source, ["the table has no rows (empty geography)"])

    cols = list(dict.fromkeys(wanted.values()))
    table = frame[cols].copy()
    problems: list[str] = []
    for label, col in wanted.items():
        values = table[col]
        blank = values.isna() | (values.astype(str).str.strip() == "")
        if blank.any():
            problems.append(f"column '{col}' ({label}) is missing in {int(blank.sum())} "
                            f"row(s), first at {rows_where(table, blank.to_numpy())}")
        table[col] = values.astype(str).str.strip()
    if len(set(wanted.values())) < 3:
        problems.append(f"the LSOA, MSOA and LA code columns must differ, got "
                        f"{[lsoa_code, msoa_code, la_code]}")
    if problems:
        raise GeographyError(source, problems)

    dup = table[lsoa_code].duplicated(keep=False)
    if dup.any():
        codes = sorted(set(table.loc[dup, lsoa_code]))
        problems.append(f"duplicate LSOA code(s) in column '{lsoa_code}': {codes[:5]}"
                        f"{' ...' if len(codes) > 5 else ''} "
                        f"({rows_where(table, dup.to_numpy(), limit=6)})")
    problems += _check_single_parent(table, lsoa_code, msoa_code, "LSOA", "MSOA")
    problems += _check_single_parent(table, msoa_code, la_code, "MSOA", "LA")
    for code_col, name_col, label in ((msoa_code, msoa_name, "MSOA"),
                                      (la_code, la_name, "LA")):
        if name_col is not None and name_col != code_col:
            problems += _check_single_parent(table, code_col, name_col, label, "name")
    for expected, col, label in ((expected_las, la_code, "LA"),
                                 (expected_msoas, msoa_code, "MSOA")):
        if expected is None:
            continue
        empty = sorted({str(c).strip() for c in expected} - set(table[col]))
        if empty:
            problems.append(f"{len(empty)} {label}(s) have no LSOAs (empty unit) in "
                            f"column '{col}': {empty[:8]}")
    if problems:
        raise GeographyError(source, problems)
    return table


def _check_single_parent(table: pd.DataFrame, child: str, parent: str, child_label: str,
                         parent_label: str) -> list[str]:
    """List the ``child`` codes found with more than one ``parent`` (code or name)."""
    n_parents = table.groupby(child, sort=False)[parent].nunique()
    split = n_parents[n_parents > 1]
    if split.empty:
        return []
    problems = []
    for code in split.index[:5]:
        rows = (table[child] == code).to_numpy()
        parents = sorted(table.loc[rows, parent].unique())
        where = rows_where(table, rows, limit=6)
        if parent_label == "name":
            problems.append(f"{child_label} '{code}' has {len(parents)} different names "
                            f"(column '{parent}'): {parents} ({where})")
        else:
            problems.append(f"{child_label} '{code}' is in {len(parents)} {parent_label}s "
                            f"(column '{parent}'): {parents} ({where})")
    if len(split) > 5:
        problems.append(f"... {len(split) - 5} more {child_label}s with several "
                        f"{parent_label}s")
    return problems
