"""Child-level data: :class:`PersonData`, records with covariates, exposure and outcomes.

:meth:`PersonData.from_frames` validates the records and the population table at once and
raises a single :class:`~bayes_needs.core.errors.DataValidationError` naming the file, column,
row or code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bayes_needs.core import dims
from bayes_needs.data._container_checks import check_names, check_year, first_rows
from bayes_needs.data.geography import Geography
from bayes_needs.data.validation import (
    code_column,
    non_negative,
    non_negative_integer,
    numeric_column,
    raise_if,
    report_duplicates,
    validate_frame,
)


@dataclass(frozen=True, eq=False)
class PersonData:
    """Child-level records with declared covariates, home LSOA, exposure and outcomes.

    Attributes
    ----------
    geography
        The nesting every home LSOA must belong to.
    records
        One row per child: ``lsoa_code``, ``exposure`` (fraction of the year observed, in
        (0, 1]), ``age_band``, ``sex``, every declared covariate and one outcome column per
        service.
    covariates
        Declared child covariate columns (categorical).
    services
        Outcome columns.
    population
        ONS mid-year population by ``la_code, age_band, sex`` with column ``population``,
        used to top up children the records do not cover.
    year
        Data year.
    source
        Description of where the records came from.
    """

    geography: Geography
    records: pd.DataFrame
    covariates: tuple[str, ...]
    services: tuple[str, ...]
    population: pd.DataFrame
    year: int | str | None = None
    source: str = "person data"

    @classmethod
    def from_frames(
        cls,
        geography: Geography,
        records: pd.DataFrame,
        population: pd.DataFrame,
        *,
        covariates: list[str] | tuple[str, ...],
        services: list[str] | tuple[str, ...],
        year: int | str | None = None,
        source: str = "person data",
        population_source: str | None = None,
    ) -> PersonData:
        """Validate and assemble person-level data.

        Parameters
        ----------
        geography
            The nesting every home LSOA must belong to.
        records
            One row per child (see the class docstring for the columns); an optional
            ``child_id`` column must be unique.
        population
            Columns ``la_code, age_band, sex, population``, covering every LA with children
            and every age band and sex in the records.
        covariates
            Child covariate columns of ``records`` (stored as categoricals).
        services
            Outcome columns of ``records`` (non-negative integer counts).
        year
            Declared data year; ``year`` columns in either table must agree.
        source, population_source
            Labels used in error messages.

        Returns
        -------
        PersonData
            The validated records and population.

        Raises
        ------
        DataValidationError
            Listing every problem found in a table.
        """
        covariates, services = tuple(covariates), tuple(services)
        problems = check_names(covariates, "covariate") + check_names(services, "service")
        raise_if(problems, source)
        columns = {
            "lsoa_code": code_column(),
            "exposure": numeric_column(pa.Check(
                lambda s: np.isfinite(s) & (s >= 0) & (s <= 1),
                error="must be a fraction of the year in [0, 1]")),
            "age_band": code_column(),
            "sex": code_column(),
            **{c: code_column() for c in covariates if c not in ("age_band", "sex")},
            **{s: numeric_column(non_negative_integer()) for s in services},
        }
        recs = validate_frame(pa.DataFrameSchema(columns, strict=False), records, source,
                              min_rows=1)
        if "child_id" in recs.columns:
            problems += report_duplicates(recs, ["child_id"], "child")
        problems += check_year(recs, year, source)
        unknown = ~recs["lsoa_code"].isin(geography.lsoa_codes)
        if unknown.any():
            problems.append(f"column 'lsoa_code' has {int(unknown.sum())} unknown LSOA code(s) "
                            f"at row(s) {first_rows(unknown)}: "
                            f"{list(recs.loc[unknown, 'lsoa_code'].unique()[:5])}")
        zero = recs["exposure"].to_numpy() <= 0
        positive_outcome = (recs[list(services)].to_numpy() > 0).any(axis=1) if services \
            else np.zeros(len(recs), bool)
        bad = np.flatnonzero(zero & positive_outcome)
        if len(bad):
            problems.append(f"column 'exposure' is 0 for {len(bad)} child(ren) with a positive "
                            f"outcome, at row(s) {[int(i) for i in bad[:5]]}")
        raise_if(problems, source)

        population_source = population_source or f"{source} (population)"
        pop = validate_frame(pa.DataFrameSchema({
            "la_code": code_column(), "age_band": code_column(), "sex": code_column(),
            "population": numeric_column(non_negative())}, strict=False),
            population, population_source, min_rows=1)
        problems += report_duplicates(pop, ["la_code", "age_band", "sex"], "population")
        unknown_la = sorted(set(pop["la_code"]) - set(geography.la_codes))
        if unknown_la:
            rows = first_rows(~pop["la_code"].isin(geography.la_codes).to_numpy())
            problems.append(f"column 'la_code' has LA code(s) not in the geography: "
                            f"{unknown_la[:8]} (row(s) {rows})")
        if not unknown.any():
            la_of_record = geography.la_codes[geography.lsoa_to_la[
                geography.position(dims.LSOA, recs["lsoa_code"].to_numpy(dtype=object))]]
            uncovered = sorted(set(la_of_record) - set(pop["la_code"]))
            if uncovered:
                problems.append(f"column 'la_code' has no population rows for LA(s) "
                                f"{uncovered[:8]} where the records have children")
        for col in ("age_band", "sex"):
            extra = sorted(set(recs[col]) - set(pop[col]))
            if extra:
                problems.append(f"column '{col}' values {extra[:8]} appear in the records but "
                                f"not in the population table")
        problems += check_year(pop, year, population_source)
        raise_if(problems, population_source)
        for c in covariates:
            recs[c] = recs[c].astype("category")
        return cls(geography, recs, covariates, services, pop, year, source)
