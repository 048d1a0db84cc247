"""Child populations: ONS mid-2019 LSOA estimates and DfE's LA 0-17 series.

* ``population/ons_mye2019_lsoa11_population_ages_0_17.csv.gz``: ONS mid-2019 small-area
  estimates by single year of age on LSOA 2011 boundaries (the pre-Census-2021 series, not
  rebased). Only English LSOAs (codes ``E01...``) are kept.
* ``dfe_csc/ons_mid-year_population_estimates_2012_to_2024.csv``: the ONS mid-year population
  aged 0-17 per LA that DfE uses for rates (rebased on Census 2021). ``time_period`` T is mid-
  year T; DfE divides counts on 31 March T by the mid-year T-1 estimate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.readers._files import (
    duplicate_problems,
    parse_numbers,
    read_text_csv,
    resolve,
)
from bayes_needs.data.readers.dfe import EesSource, read_ees_la_table

LSOA_POPULATION_FILE = "population/ons_mye2019_lsoa11_population_ages_0_17.csv.gz"
LA_POPULATION_SOURCE = EesSource(
    "dfe_csc/ons_mid-year_population_estimates_2012_to_2024.csv", "population_estimate",
    "ONS mid-year population aged 0-17", filter_column="age_group",
    filter_value="Children aged 0 to 17 years")
ENGLAND_LSOA_PREFIX = "E01"

_LSOA_COLUMNS = {"lsoa11cd": "lsoa_code", "lsoa11nm": "lsoa_name",
                 "pop_0_17": "population_0_17", "pop_0_15": "population_0_15",
                 "pop_all_ages": "population_all_ages"}


def read_lsoa_child_population(data_dir: str | Path) -> pd.DataFrame:
    """ONS mid-2019 population per English LSOA 2011.

    Returns
    -------
    pandas.DataFrame
        ``lsoa_code, lsoa_name, population_0_17, population_0_15, population_all_ages``
        (floats holding whole numbers), one row per English LSOA (32,844).

    Raises
    ------
    DataValidationError
        On missing columns, non-numeric, negative or fractional populations, or duplicate
        LSOA codes.
    """
    path = resolve(data_dir, LSOA_POPULATION_FILE)
    source = str(path)
    raw = read_text_csv(path, list(_LSOA_COLUMNS))
    raw = raw[raw["lsoa11cd"].str.startswith(ENGLAND_LSOA_PREFIX)]
    if raw.empty:
        raise DataValidationError(source, [f"no English LSOA codes (starting "
                                           f"{ENGLAND_LSOA_PREFIX!r}) in column 'lsoa11cd'"])
    problems = duplicate_problems(raw, ["lsoa11cd"], "LSOA")
    columns = {}
    for column in ("pop_0_17", "pop_0_15", "pop_all_ages"):
        values, _, found = parse_numbers(raw, column, source, codes=())
        problems += found
        columns[_LSOA_COLUMNS[column]] = values
    if problems:
        raise DataValidationError(source, problems)
    return pd.DataFrame({"lsoa_code": raw["lsoa11cd"].to_numpy(),
                         "lsoa_name": raw["lsoa11nm"].to_numpy(), **columns})


def read_la_child_population(data_dir: str | Path, year: int | None = None) -> pd.DataFrame:
    """DfE's ONS mid-year population aged 0-17 per LA, with LA codes as published.

    Parameters
    ----------
    data_dir
        The data directory.
    year
        Mid-year (``time_period``); all years when ``None``.

    Returns
    -------
    pandas.DataFrame
        ``year, la_code, dfe_la_number, la_name, population_0_17, code, line``; ``code``
        holds the suppression code where no estimate was published (``x`` for Bournemouth,
        Poole and Dorset county before 2019).
    """
    table = read_ees_la_table(data_dir, LA_POPULATION_SOURCE, year=year)
    return table.rename(columns={"value": "population_0_17"})


def rescale_to_la_totals(lsoa_values: np.ndarray, lsoa_to_la: np.ndarray,
                         la_totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale LSOA values so each LA sums to its entry of ``la_totals``.

    An LA whose total is NaN is scaled by the ratio of all known totals to the current sums
    of those LAs, so it moves to the same population base as the rest.

    Returns
    -------
    scaled, factor
        The scaled LSOA values and the factor applied per LA.
    """
    current = np.bincount(lsoa_to_la, weights=lsoa_values, minlength=len(la_totals))
    known = np.isfinite(la_totals) & (current > 0)
    overall = la_totals[known].sum() / current[known].sum() if known.any() else 1.0
    factor = np.full(len(la_totals), overall)
    np.divide(la_totals, current, out=factor, where=known)
    return lsoa_values * factor[lsoa_to_la], factor
