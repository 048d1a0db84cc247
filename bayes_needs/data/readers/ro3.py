"""MHCLG Revenue Outturn RO3 children's social care spend per LA (``dfe_csc/ro3_...long.csv``).

The file is long: one row per financial year, LA, service line and measure
(``total_expenditure`` or ``net_current_expenditure``), in thousands of pounds. Cells written as
a bracketed code (``[x]``: not collected or not certified, ``[note 4]``) become missing and are
listed in the report. Net expenditure may be negative (income above spending, e.g. asylum
grants), so negative values are kept. The England total row is dropped.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.readers._files import (
    BLANK,
    duplicate_problems,
    file_lines,
    parse_numbers,
    read_text_csv,
    resolve,
)

RO3_FILE = "dfe_csc/ro3_childrens_social_care_expenditure_2023-24_2024-25_long.csv"
ENGLAND_CODE = "E92000001"
MEASURES = ("total_expenditure", "net_current_expenditure")

#: RO3 service line (lower case, straight apostrophes) -> stable category key.
CATEGORIES: dict[str, str] = {
    "children's social care: sure start children's centres and early years":
        "sure_start_early_years",
    "children's social care - children looked after": "cla",
    "children's social care - children looked after of which residential care":
        "cla_residential",
    "children's social care - children looked after of which fostering services":
        "cla_fostering",
    "children's social care - children looked after of which asylum seeking children who "
    "are looked after": "cla_uasc",
    "children's social care - children looked after of which other": "cla_other",
    "children's social care - other children's and families services":
        "other_children_families",
    "children's social care - family support services": "family_support",
    "children's social care - youth justice": "youth_justice",
    "children's social care: safeguarding children and young people's services":
        "safeguarding",
    "children's social care - asylum seekers": "asylum_seekers",
    "children's social care: services for young people": "services_for_young_people",
    "total children social care": "total",
}
_REQUIRED = ["financial_year", "e_code", "ons_code", "la_name", "class", "certification",
             "service", "measure", "value_raw"]


def read_ro3(data_dir: str | Path, financial_year: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """RO3 children's social care spend for one financial year, one row per LA x line x measure.

    Parameters
    ----------
    data_dir
        The data directory.
    financial_year
        ``"2023-24"`` or ``"2024-25"``.

    Returns
    -------
    spend, report
        ``spend`` has ``financial_year, la_code, e_code, la_name, la_class, certification,
        category, service, measure, spend_gbp_thousands, code``; ``spend_gbp_thousands`` is
        NaN where the cell held a code, given in ``code``. ``report`` lists those cells:
        ``la_code, la_name, category, measure, code``.

    Raises
    ------
    ConfigError
        If ``financial_year`` is not in the file (the message lists those that are).
    DataValidationError
        On missing columns, unknown service lines or measures, non-numeric cells that are not
        bracketed codes, or duplicate rows.
    """
    path = resolve(data_dir, RO3_FILE)
    source = str(path)
    raw = read_text_csv(path, _REQUIRED)
    available = sorted(set(raw["financial_year"]))
    if financial_year not in available:
        raise ConfigError(f"financial year {financial_year!r} is not available in {source}; "
                          f"available financial years: {available}")
    raw = raw[(raw["financial_year"] == financial_year) & (raw["ons_code"] != ENGLAND_CODE)]
    key = raw["service"].str.replace("\u2019", "'").str.lower()
    category = key.map(CATEGORIES)
    problems = []
    unknown = category.isna().to_numpy()
    if unknown.any():
        problems.append(f"column 'service' has unknown RO3 line(s) "
                        f"{sorted(set(raw.loc[unknown, 'service']))[:3]} at line(s) "
                        f"{file_lines(raw, unknown)}")
    bad_measure = ~raw["measure"].isin(MEASURES).to_numpy()
    if bad_measure.any():
        problems.append(f"column 'measure' must be one of {list(MEASURES)}; found "
                        f"{sorted(set(raw.loc[bad_measure, 'measure']))[:3]} at line(s) "
                        f"{file_lines(raw, bad_measure)}")
    blank = (raw["ons_code"] == "").to_numpy()
    if blank.any():
        problems.append(f"column 'ons_code' is blank at line(s) {file_lines(raw, blank)}")
    problems += duplicate_problems(raw, ["ons_code", "service", "measure"], "spend")
    codes = set(raw["value_raw"][raw["value_raw"].str.fullmatch(r"\[[^\]]*\]")]) | {BLANK}
    values, code, found = parse_numbers(raw, "value_raw", source, codes=codes, whole=False,
                                        non_negative=False)
    problems += found
    if problems:
        raise DataValidationError(source, problems)
    spend = pd.DataFrame({
        "financial_year": financial_year,
        "la_code": raw["ons_code"].to_numpy(),
        "e_code": raw["e_code"].to_numpy(),
        "la_name": raw["la_name"].to_numpy(),
        "la_class": raw["class"].to_numpy(),
        "certification": raw["certification"].to_numpy(),
        "category": category.to_numpy(),
        "service": raw["service"].to_numpy(),
        "measure": raw["measure"].to_numpy(),
        "spend_gbp_thousands": values,
        "code": code.to_numpy(),
    })
    spend = spend.sort_values(["la_code", "category", "measure"]).reset_index(drop=True)
    report = spend.loc[spend["code"].notna(),
                       ["la_code", "la_name", "category", "measure", "code"]]
    return spend, report.reset_index(drop=True)

