"""Shared validation helpers built on pandera.

Every check collects all problems and raises one :class:`~bayes_needs.errors.DataValidationError`
that names the source, the column and the offending rows or codes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bayes_needs.errors import DataValidationError

MAX_REPORTED = 5


def finite() -> pa.Check:
    """Values are finite numbers (no NaN or infinity)."""
    return pa.Check(lambda s: np.isfinite(s.astype(float)), error="must be finite (no NaN/inf)")


def non_negative_integer() -> pa.Check:
    """Values are whole numbers >= 0."""
    return pa.Check(
        lambda s: np.isfinite(s.astype(float)) & (s.astype(float) >= 0)
        & (np.floor(s.astype(float)) == s.astype(float)),
        error="must be a non-negative whole number")


def non_negative() -> pa.Check:
    """Values are finite and >= 0."""
    return pa.Check(lambda s: np.isfinite(s.astype(float)) & (s.astype(float) >= 0),
                    error="must be finite and >= 0")


def positive() -> pa.Check:
    """Values are finite and > 0."""
    return pa.Check(lambda s: np.isfinite(s.astype(float)) & (s.astype(float) > 0),
                    error="must be finite and > 0")


def numeric_column(*checks: pa.Check, nullable: bool = False) -> pa.Column:
    """A float column with coercion and the given checks."""
    return pa.Column(float, list(checks), coerce=True, nullable=nullable)


def code_column(**kwargs) -> pa.Column:
    """A non-empty string code column."""
    return pa.Column(str, [pa.Check(lambda s: s.str.strip().str.len() > 0,
                                    error="must not be blank")], coerce=True, **kwargs)


def validate_frame(schema: pa.DataFrameSchema, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """Validate ``frame`` lazily and raise one error listing every failure.

    Row numbers in messages are 0-based positions in the table as given (for CSV files add 2
    to get the spreadsheet line, counting the header).
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(source, [f"expected a pandas DataFrame, got "
                                           f"{type(frame).__name__}"])
    missing = [c for c, col in schema.columns.items() if col.required and c not in frame.columns]
    if missing:
        raise DataValidationError(source, [f"missing required column(s) {missing}; columns "
                                           f"present: {list(frame.columns)}"])
    positional = frame.reset_index(drop=True)
    try:
        return schema.validate(positional, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise DataValidationError(source, describe_failures(exc.failure_cases)) from None
    except (TypeError, ValueError) as exc:  # coercion failures pandera does not wrap
        raise DataValidationError(source, [str(exc)]) from None


def describe_failures(cases: pd.DataFrame) -> list[str]:
    """Turn pandera failure cases into one message per (column, check)."""
    problems = []
    cases = cases.copy()
    cases["column"] = cases["column"].fillna("<table>")
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        rows = [int(i) for i in group["index"].dropna().tolist()[:MAX_REPORTED]]
        values = [_short(v) for v in group["failure_case"].tolist()[:MAX_REPORTED]]
        check_text = _check_text(str(check))
        where = f" at row(s) {rows}" if rows else ""
        more = f" (+{len(group) - len(values)} more)" if len(group) > len(values) else ""
        problems.append(f"column '{column}' {check_text}: {len(group)} failing value(s)"
                        f"{where}, e.g. {values}{more}")
    return problems


def _check_text(check: str) -> str:
    known = {
        "field_uniqueness": "has duplicate values",
        "column_in_dataframe": "is missing",
        "not_nullable": "has missing values (must not be empty)",
        "multiple_fields_uniqueness": "has duplicate rows",
    }
    if check.startswith("coerce_dtype") or check.startswith("dtype("):
        return f"has values of the wrong type ({check})"
    return known.get(check, check if check.startswith("must") else f"fails check '{check}'")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def report_duplicates(frame: pd.DataFrame, keys: list[str], what: str) -> list[str]:
    """Messages for rows duplicated on ``keys``."""
    dup = frame.duplicated(subset=keys, keep=False)
    if not dup.any():
        return []
    rows = list(np.flatnonzero(dup.to_numpy())[:MAX_REPORTED])
    examples = frame.loc[dup, keys].drop_duplicates().head(3).to_dict("records")
    return [f"{int(dup.sum())} duplicate {what} row(s) on {keys} at row(s) {rows}, "
            f"e.g. {examples}"]


def raise_if(problems: Iterable[str], source: str) -> None:
    """Raise a :class:`DataValidationError` if there are any problems."""
    problems = list(problems)
    if problems:
        raise DataValidationError(source, problems)
