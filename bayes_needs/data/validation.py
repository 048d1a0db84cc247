"""Shared validation helpers built on pandera.

Every check collects all problems and raises one
:class:`~bayes_needs.core.errors.DataValidationError` that names the source, the column and
the offending rows or codes.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data._container_checks import LINE, rows_at, rows_where

MAX_REPORTED = 5

#: Largest magnitude accepted in a numeric column. Far above any real count, population or
#: spend, yet small enough that sums over 33k LSOAs and squares stay finite in float64.
MAX_MAGNITUDE = 1e15

#: Largest accepted count: every whole number up to here is exact in float64 and int64.
MAX_COUNT = 2**53

_NUMERIC = "numeric"
_CODE = "code"


def _float_check(test, error: str) -> pa.Check:
    """Element-wise check on the column as float64, returned as a Series pandera can align."""
    def check(s: pd.Series) -> pd.Series:
        x = np.asarray(s, dtype=float)
        with np.errstate(invalid="ignore", over="ignore"):
            ok = np.isfinite(x) & test(x)
        return pd.Series(ok, index=s.index)
    return pa.Check(check, error=error)


def finite() -> pa.Check:
    """Values are finite numbers (no NaN or infinity) of plausible size."""
    return _float_check(lambda x: np.abs(x) <= MAX_MAGNITUDE,
                        f"must be finite (no NaN/inf) with magnitude <= {MAX_MAGNITUDE:g}")


def non_negative_integer() -> pa.Check:
    """Values are whole numbers in [0, 2**53]."""
    return _float_check(lambda x: (x >= 0) & (x <= MAX_COUNT) & (np.floor(x) == x),
                        "must be a non-negative whole number (at most 2**53)")


def non_negative() -> pa.Check:
    """Values are finite, >= 0 and of plausible size."""
    return _float_check(lambda x: (x >= 0) & (x <= MAX_MAGNITUDE),
                        f"must be finite, >= 0 and <= {MAX_MAGNITUDE:g}")


def positive() -> pa.Check:
    """Values are finite, > 0 and of plausible size."""
    return _float_check(lambda x: (x > 0) & (x <= MAX_MAGNITUDE),
                        f"must be finite, > 0 and <= {MAX_MAGNITUDE:g}")


def numeric_column(*checks: pa.Check, nullable: bool = False) -> pa.Column:
    """Declare a float column with coercion and the given checks (booleans are rejected)."""
    return pa.Column(float, list(checks), coerce=True, nullable=nullable,
                     metadata={_NUMERIC: True})


def code_column(**kwargs) -> pa.Column:
    """Declare a non-empty string code column; whitespace is stripped before the checks."""
    kwargs.setdefault("metadata", {})
    kwargs["metadata"] = {**kwargs["metadata"], _CODE: True}
    return pa.Column(str, [pa.Check(lambda s: s.str.strip().str.len() > 0,
                                    error="must not be blank")], coerce=True, **kwargs)


def _column_flag(column: pa.Column, flag: str) -> bool:
    return bool((column.metadata or {}).get(flag))


def _prepare(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Positional copy with code columns stripped, plus type problems pandera would accept."""
    problems: list[str] = []
    out = frame.reset_index(drop=True)
    for name, column in schema.columns.items():
        if name not in out.columns:
            continue
        values = out[name]
        if _column_flag(column, _NUMERIC) and pd.api.types.is_bool_dtype(values.dtype):
            # True/False would silently coerce to 1/0.
            problems.append(f"column '{name}' holds true/false values; expected numbers")
        elif _column_flag(column, _CODE):
            if isinstance(values.dtype, pd.CategoricalDtype):
                values = values.astype(object)
            if isinstance(values.dtype, pd.StringDtype):
                out[name] = values.str.strip()
            elif values.dtype == object:  # may mix str with numbers, which .str would blank
                out[name] = values.map(lambda v: v.strip() if isinstance(v, str) else v)
    return out, problems


def validate_frame(schema: pa.DataFrameSchema, frame: pd.DataFrame, source: str, *,
                   min_rows: int = 0) -> pd.DataFrame:
    """Validate ``frame`` lazily and raise one error listing every failure.

    Messages name the file lines of a table read from a file (its index is named
    :data:`~bayes_needs.data._container_checks.LINE`, and the returned table keeps that
    index); for any other table they name 0-based row positions, and the returned table has
    a fresh 0-based index. Code columns come back stripped of surrounding whitespace; the
    caller's frame is never modified.

    Parameters
    ----------
    schema
        The pandera schema (build columns with :func:`code_column`/:func:`numeric_column`).
    frame
        The table to validate.
    source
        File or object name used as the prefix of every message.
    min_rows
        Fewest rows accepted; an emptier table is an error.
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(source, [f"expected a pandas DataFrame, got "
                                           f"{type(frame).__name__}"])
    present = [str(c) for c in frame.columns]
    repeated = sorted({c for c in present if present.count(c) > 1})
    if repeated:
        raise DataValidationError(source, [f"column name(s) {repeated} appear more than once"])
    missing = [c for c, col in schema.columns.items() if col.required and c not in frame.columns]
    if missing:
        raise DataValidationError(source, [f"missing required column(s) {missing}; columns "
                                           f"present: {present}"])
    if len(frame) < min_rows:
        raise DataValidationError(source, ["the table has no rows" if min_rows == 1 else
                                           f"the table has {len(frame)} row(s); at least "
                                           f"{min_rows} needed"])
    positional, problems = _prepare(schema, frame)
    try:
        validated = schema.validate(positional, lazy=True)
    except pa.errors.SchemaErrors as exc:
        raise DataValidationError(source, problems + describe_failures(
            exc.failure_cases, index=frame.index)) from None
    except (TypeError, ValueError, OverflowError) as exc:  # failures pandera does not wrap
        raise DataValidationError(source, [*problems, f"{type(exc).__name__}: {exc}"]
                                  ) from None
    raise_if(problems, source)
    if frame.index.name == LINE:
        validated.index = frame.index
    return validated


def describe_failures(cases: pd.DataFrame, index: pd.Index | None = None) -> list[str]:
    """Turn pandera failure cases into one message per (column, check).

    ``cases["index"]`` holds 0-based row positions; ``index`` (the validated table's own
    index) turns them into file lines when it holds them.
    """
    index = pd.RangeIndex(0) if index is None else index
    problems = []
    cases = cases.copy()
    cases["column"] = cases["column"].astype(object).where(cases["column"].notna(), "<table>")
    cases["check"] = cases["check"].astype(str)
    # A column that failed coercion also fails the dtype and value checks (pandera reports
    # those against the raw strings, or as an exception text); keep only the coercion report.
    coerce_failed = set(cases.loc[cases["check"].str.startswith("coerce_dtype"), "column"])
    noise = cases["column"].isin(coerce_failed) & ~cases["check"].str.startswith("coerce_dtype")
    cases = cases[~noise]
    for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
        rows = [int(i) for i in group["index"].dropna().tolist()[:MAX_REPORTED]]
        values = [_short(v) for v in group["failure_case"].tolist()[:MAX_REPORTED]]
        check_text = _check_text(str(check))
        where = f" at {rows_at(index, rows)}" if rows else ""
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
    if check.startswith("coerce_dtype"):
        wanted = check.removeprefix("coerce_dtype(").rstrip(")").strip("'\"")
        kind = "numbers" if wanted.startswith(("float", "int")) else wanted
        return f"has values that cannot be read as {kind}"
    if check.startswith("dtype("):
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
    examples = frame.loc[dup, keys].drop_duplicates().head(3).to_dict("records")
    return [f"{int(dup.sum())} duplicate {what} row(s) on {keys} at "
            f"{rows_where(frame, dup.to_numpy(), limit=MAX_REPORTED)}, e.g. {examples}"]


def raise_if(problems: Iterable[str], source: str) -> None:
    """Raise a :class:`DataValidationError` if there are any problems."""
    problems = list(problems)
    if problems:
        raise DataValidationError(source, problems)
