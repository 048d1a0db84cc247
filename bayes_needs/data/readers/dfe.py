"""DfE children's social care LA tables (Explore Education Statistics underlying data).

Each service is one published count per LA and reporting year ``time_period`` T, the year
ending 31 March T:

==========  =========================================================  =================
service     file (under ``dfe_csc/``)                                   column
==========  =========================================================  =================
referrals   ``c1_children_in_need_referrals_and_rereferrals_...csv``   ``referral_count``
cin         ``b1_children_in_need_2013_to_2025.csv``                    ``At31_episodes``
cpp         ``d5_cpps_at31march_by_duration_2013_to_2025.csv``          ``CPP_At31``
cla         ``cla_number_and_rate_per_10k_children_2019_2025_...csv``   ``children_count``
==========  =========================================================  =================

CIN, CPP and CLA are stocks on 31 March T; referrals are the flow over the year to 31 March T.
Cells holding the codes ``c``, ``z``, ``x``, ``u`` or left blank become missing and are kept
in a ``code`` column so they can be reported. LA codes are as published that year, which for
older years includes pre-reorganisation councils; see :mod:`bayes_needs.data.readers.harmonise`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.readers._files import (
    duplicate_problems,
    file_lines,
    parse_numbers,
    read_text_csv,
    resolve,
)

LA_LEVEL = "Local authority"


@dataclass(frozen=True)
class EesSource:
    """Where one LA-level quantity lives in an EES underlying-data file.

    Attributes
    ----------
    path
        File path under the data directory.
    value_column
        Column holding the published number.
    description
        What the number counts.
    filter_column, filter_value
        Optional column and value selecting the rows of this quantity (for files that hold
        several quantities in long format).
    """

    path: str
    value_column: str
    description: str
    filter_column: str | None = None
    filter_value: str | None = None


#: DfE source of each service's LA count.
SERVICE_SOURCES: dict[str, EesSource] = {
    dims.REFERRALS: EesSource(
        "dfe_csc/c1_children_in_need_referrals_and_rereferrals_2013_to_2025.csv",
        "referral_count", "referrals to children's social care in the year to 31 March"),
    dims.CIN: EesSource(
        "dfe_csc/b1_children_in_need_2013_to_2025.csv", "At31_episodes",
        "children in need on 31 March (open episodes)"),
    dims.CPP: EesSource(
        "dfe_csc/d5_cpps_at31march_by_duration_2013_to_2025.csv", "CPP_At31",
        "children on a child protection plan on 31 March"),
    dims.CLA: EesSource(
        "dfe_csc/cla_number_and_rate_per_10k_children_2019_2025_combined.csv",
        "children_count", "children looked after on 31 March",
        filter_column="population_type",
        filter_value="Children looked after on 31 March each year"),
}
DFE_SERVICES: tuple[str, ...] = tuple(SERVICE_SOURCES)

#: Columns of every tidy EES LA table returned here.
TIDY_COLUMNS = ["year", "la_code", "dfe_la_number", "la_name", "value", "code", "line"]


def read_ees_la_table(data_dir: str | Path, source: EesSource, *, whole: bool = True,
                      year: int | None = None) -> pd.DataFrame:
    """Read the LA rows of one EES quantity as a tidy table.

    Parameters
    ----------
    data_dir
        The data directory.
    source
        Which file, column and rows to read.
    whole
        Require whole numbers.
    year
        Keep only this ``time_period`` (all years when ``None``).

    Returns
    -------
    pandas.DataFrame
        ``year`` (int), ``la_code`` (as published, ``new_la_code``), ``dfe_la_number``
        (``old_la_code``), ``la_name``, ``value`` (float, NaN when suppressed), ``code`` (the
        suppression code found, NaN when a number was published) and ``line`` (file line).

    Raises
    ------
    DataValidationError
        On a missing column, unparseable or negative values, blank LA codes or duplicate
        (year, LA) rows.
    ConfigError
        When ``year`` is not in the file, listing the available years.
    """
    path = resolve(data_dir, source.path)
    name = str(path)
    required = ["time_period", "geographic_level", "new_la_code", "old_la_code", "la_name",
                source.value_column]
    if source.filter_column:
        required.append(source.filter_column)
    raw = read_text_csv(path, required)
    raw = raw[raw["geographic_level"] == LA_LEVEL]
    if raw.empty:
        raise DataValidationError(name, [f"no rows with geographic_level '{LA_LEVEL}'"])
    if source.filter_column:
        labels = sorted(set(raw[source.filter_column]))
        raw = raw[raw[source.filter_column] == source.filter_value]
        if raw.empty:
            raise DataValidationError(name, [
                f"column '{source.filter_column}' has no rows labelled "
                f"{source.filter_value!r}; labels found: {labels}"])
    years, _, problems = parse_numbers(raw, "time_period", name, codes=())
    if problems:
        raise DataValidationError(name, problems)
    blank = (raw["new_la_code"] == "").to_numpy()
    if blank.any():
        problems.append(f"column 'new_la_code' is blank in local-authority row(s) at line(s) "
                        f"{file_lines(raw, blank)}")
    problems += duplicate_problems(raw, ["time_period", "new_la_code"], "LA")
    raw = raw.assign(time_period=years.astype(np.int64))
    if year is not None:
        check_year(year, raw["time_period"], name)
        raw = raw[raw["time_period"] == year]
    values, code, value_problems = parse_numbers(raw, source.value_column, name, whole=whole)
    problems += value_problems
    if problems:
        raise DataValidationError(name, problems)
    return pd.DataFrame({
        "year": raw["time_period"].to_numpy(),
        "la_code": raw["new_la_code"].to_numpy(),
        "dfe_la_number": raw["old_la_code"].to_numpy(),
        "la_name": raw["la_name"].to_numpy(),
        "value": values,
        "code": code.to_numpy(),
        "line": raw["line"].to_numpy(),
    })


def check_year(year: int, available, source: str) -> None:
    """Raise :class:`ConfigError` listing the available years when ``year`` is absent."""
    years = sorted({int(y) for y in available})
    if year not in years:
        raise ConfigError(f"year {year} is not available in {source}; available years: "
                          f"{years}")


def read_dfe_service(data_dir: str | Path, service: str,
                     year: int | None = None) -> pd.DataFrame:
    """One service's published LA counts (codes as published that year).

    Parameters
    ----------
    data_dir
        The data directory.
    service
        One of :data:`DFE_SERVICES` (``referrals``, ``cin``, ``cpp``, ``cla``).
    year
        DfE reporting year ``time_period`` (year ending 31 March); all years when ``None``.

    Returns
    -------
    pandas.DataFrame
        Columns ``service`` plus :data:`TIDY_COLUMNS`, with ``count`` in place of ``value``.
    """
    source = service_source(service)
    table = read_ees_la_table(data_dir, source, year=year)
    table = table.rename(columns={"value": "count"})
    table.insert(0, "service", service)
    return table


def service_source(service: str) -> EesSource:
    """Look up the :class:`EesSource` of ``service``; :class:`ConfigError` for an unknown one."""
    if service not in SERVICE_SOURCES:
        raise ConfigError(f"unknown DfE service {service!r}; available: {list(DFE_SERVICES)}")
    return SERVICE_SOURCES[service]


def suppression_report(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of a tidy DfE table whose value is missing: ``service, la_code, la_name, code``."""
    missing = table[table["code"].notna()]
    columns = [c for c in ("service", "year", "la_code", "la_name", "code", "line")
               if c in missing.columns]
    return missing[columns].reset_index(drop=True)
