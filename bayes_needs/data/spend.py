"""Cost data: :class:`SpendData` (LA spend with activity volumes) and :class:`UnitCosts`.

Both validate everything at once and raise a single
:class:`~bayes_needs.core.errors.DataValidationError` naming the file, column, row or code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa

from bayes_needs.data._container_checks import check_names, check_year, first_rows
from bayes_needs.data.validation import (
    code_column,
    non_negative,
    numeric_column,
    positive,
    raise_if,
    report_duplicates,
    validate_frame,
)


@dataclass(frozen=True, eq=False)
class SpendData:
    """LA spend per category (s251/RO3 style) with the matching activity volumes per LA.

    Attributes
    ----------
    spend
        Columns ``la_code, category, spend`` (spend in a stated currency unit, >= 0).
    volumes
        Columns ``la_code, activity, volume`` (activity volumes, >= 0).
    year
        Financial year label, e.g. ``"2024-25"``.
    source
        Description of where the data came from.
    """

    spend: pd.DataFrame
    volumes: pd.DataFrame
    year: int | str | None = None
    source: str = "spend data"

    @classmethod
    def from_frames(cls, spend: pd.DataFrame, volumes: pd.DataFrame, *,
                    year: int | str | None = None, source: str = "spend data",
                    la_codes: Iterable[object] | None = None) -> SpendData:
        """Validate spend and volumes.

        Parameters
        ----------
        spend
            Columns ``la_code, category, spend`` (optional ``year``), one row per LA and
            category.
        volumes
            Columns ``la_code, activity, volume`` (optional ``year``), one row per LA and
            activity; every LA with spend needs volumes.
        year
            Declared financial year; ``year`` columns must agree.
        source
            Label used in error messages.
        la_codes
            The known LA codes; when given, any other code is an error.

        Returns
        -------
        SpendData
            The validated tables with fresh 0-based indexes.

        Raises
        ------
        DataValidationError
            Listing every problem found.
        """
        spend = validate_frame(pa.DataFrameSchema({
            "la_code": code_column(), "category": code_column(),
            "spend": numeric_column(non_negative())}, strict=False), spend, f"{source} (spend)",
            min_rows=1)
        volumes = validate_frame(pa.DataFrameSchema({
            "la_code": code_column(), "activity": code_column(),
            "volume": numeric_column(non_negative())}, strict=False), volumes,
            f"{source} (volumes)", min_rows=1)
        problems = report_duplicates(spend, ["la_code", "category"], "spend")
        problems += report_duplicates(volumes, ["la_code", "activity"], "volume")
        problems += check_year(spend, year, f"{source} (spend)")
        problems += check_year(volumes, year, f"{source} (volumes)")
        if la_codes is not None:
            known = {str(c) for c in la_codes}
            for name, frame in (("spend", spend), ("volumes", volumes)):
                unknown = sorted(set(frame["la_code"]) - known)
                if unknown:
                    rows = first_rows(~frame["la_code"].isin(known).to_numpy())
                    problems.append(f"{name} column 'la_code' has unknown LA code(s) "
                                    f"{unknown[:8]} (row(s) {rows})")
        no_volume = sorted(set(spend["la_code"]) - set(volumes["la_code"]))
        if no_volume:
            problems.append(f"LA(s) {no_volume[:8]} have spend but no activity volumes")
        raise_if(problems, source)
        return cls(spend.reset_index(drop=True), volumes.reset_index(drop=True), year, source)


@dataclass(frozen=True, eq=False)
class UnitCosts:
    """Per activity, a central unit cost with lognormal uncertainty and its price base.

    Attributes
    ----------
    table
        Columns ``activity, unit_cost, sd_log, price_base``; ``sd_log`` is the standard
        deviation of log(unit cost).
    source
        Description of where the costs came from.
    """

    table: pd.DataFrame
    source: str = "unit costs"

    @classmethod
    def from_frame(cls, table: pd.DataFrame, *, source: str = "unit costs") -> UnitCosts:
        """Validate a unit-cost table.

        Parameters
        ----------
        table
            Columns ``activity`` (unique lower-case names), ``unit_cost`` and ``sd_log``
            (both positive) and ``price_base``.
        source
            Label used in error messages.

        Returns
        -------
        UnitCosts
            The validated table with a fresh 0-based index.

        Raises
        ------
        DataValidationError
            Listing every problem found.
        """
        table = validate_frame(pa.DataFrameSchema({
            "activity": code_column(unique=True), "unit_cost": numeric_column(positive()),
            "sd_log": numeric_column(positive()), "price_base": code_column()},
            strict=False), table, source, min_rows=1)
        raise_if(check_names(list(table["activity"]), "activity"), source)
        return cls(table.reset_index(drop=True), source)

    @property
    def activities(self) -> tuple[str, ...]:
        """Activity names in table order."""
        return tuple(self.table["activity"])
