"""England spend and activity data for the cost-weight model, and the England cost design.

Spend: MHCLG Revenue Outturn RO3 (:func:`bayes_needs.data.readers.ro3.read_ro3`), gross
``total_expenditure`` in thousands of pounds for one financial year. Gross rather than net,
because income (e.g. Home Office grants for asylum-seeking children, fees from other councils)
does not reduce the cost of the activity.

Volumes: the DfE LA panel ``dfe_csc/la_csc_panel_2013_2025.csv`` (codes as published; for
2024 and 2025 these are the 153 current upper-tier codes, which are also RO3's ``ons_code``).

Alignment of financial year ``YYYY-YY`` (April to March) with DfE reporting years: the year
ends on 31 March of reporting year ``T`` (2024-25 -> T = 2025, 2023-24 -> T = 2024).

=====================  ===================================================================
volume                 definition
=====================  ===================================================================
``referrals``          referrals in the year to 31 March T (a flow over exactly the
                       financial year)
``cin_case_years``     children in need: mean of the 31 March T-1 and 31 March T stocks
                       (a stock averaged over the year = case-years); the T stock alone
                       when T-1 is missing (listed in the report)
``cpp_case_years``     children on a protection plan, averaged the same way
``cla_weeks``          52 x children looked after, averaged the same way (child-weeks)
=====================  ===================================================================

RO3 line -> activities (:func:`england_cost_design`):

===================================  =====================================================
category (RO3 line)                  activities (volume)
===================================  =====================================================
``safeguarding`` (safeguarding        ``referral_assessment`` (referrals),
children and young people's           ``cin_case_year`` (cin_case_years; CIN include children
services: social work, assessment,    on plans and looked after, so CIN case-years also carry
child protection)                     the social work of those cases),
                                      ``cpp_case_year`` (cpp_case_years; the extra cost of a
                                      plan over a CIN case)
``cla_fostering`` (CLA of which       ``cla_foster_week`` (cla_weeks x the LA's latent foster
fostering services)                   share)
``cla_residential`` (CLA of which     ``cla_residential_week`` (cla_weeks x the LA's latent
residential care)                     residential share)
``cla_other`` (CLA of which other +   ``cla_other_week`` (cla_weeks: every week of care;
CLA of which asylum-seeking           other placements and non-placement services such as
children looked after)                adoption, special guardianship and leaving-care support)
===================================  =====================================================

The two "of which" lines are summed only when both are numbers. The RO3 CLA total, family
support, youth justice, Sure Start, services for young people, asylum seekers (not looked
after) and other children and families services are not used: they are totals of the lines
above or are not driven by these activity volumes.

Placement mix: the DfE panel has no LA placement split, so each LA's foster / residential /
other shares are latent, with a prior centred on the England mix on 31 March 2024 (DfE,
"Children looked after in England including adoptions", reporting year 2024; 83,630 children):
foster placements 68%; secure units, children's homes and semi-independent living 17%
(residential here); other placements (with parents, placed for adoption, in the community,
other) 15%. The figures are rounded to whole percentages.

Service mapping (allocation): ``referrals`` -> referral_assessment; ``cin`` -> cin_case_year;
``cpp`` -> cpp_case_year; ``cla`` (children looked after on 31 March, a year of care each)
-> 52 x (0.68 foster week + 0.17 residential week + other week); ``cla_weeks`` -> the same
without the 52.

Cells whose spend is a code (``[x]``) or negative, and LAs without volumes, are dropped and
listed in the report; the model drops zero-spend cells the same way. Nothing here fails on them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.cost_design import CostDesign
from bayes_needs.data.readers._files import (
    duplicate_problems,
    parse_numbers,
    read_text_csv,
    resolve,
)
from bayes_needs.data.readers.ro3 import read_ro3
from bayes_needs.data.spend import SpendData

PANEL_FILE = "dfe_csc/la_csc_panel_2013_2025.csv"
WEEKS_PER_YEAR = 52.0
#: England placement mix on 31 March 2024 (DfE CLA 2024), see the module docstring.
ENGLAND_PLACEMENT_MIX: dict[str, float] = {"foster": 0.68, "residential": 0.17, "other": 0.15}
MEASURE = "total_expenditure"
_STOCKS = {"cin_case_years": "cin_at31", "cpp_case_years": "cpp_at31", "cla_weeks": "cla_at31"}
_LINES = {"safeguarding": ("safeguarding",), "cla_fostering": ("cla_fostering",),
          "cla_residential": ("cla_residential",), "cla_other": ("cla_other", "cla_uasc")}


def england_cost_design(mix: dict[str, float] | None = None) -> CostDesign:
    """Build the England design: RO3 lines, DfE volumes, placement mix, service mapping."""
    mix = dict(ENGLAND_PLACEMENT_MIX if mix is None else mix)
    weekly = {"cla_foster_week": mix["foster"], "cla_residential_week": mix["residential"],
              "cla_other_week": 1.0}
    return CostDesign(
        categories={"safeguarding": ("referral_assessment", "cin_case_year", "cpp_case_year"),
                    "cla_fostering": ("cla_foster_week",),
                    "cla_residential": ("cla_residential_week",),
                    "cla_other": ("cla_other_week",)},
        volumes={"referral_assessment": "referrals", "cin_case_year": "cin_case_years",
                 "cpp_case_year": "cpp_case_years", "cla_foster_week": "cla_weeks",
                 "cla_residential_week": "cla_weeks", "cla_other_week": "cla_weeks"},
        placements=mix,
        activity_placement={"cla_foster_week": "foster",
                            "cla_residential_week": "residential"},
        service_map={"referrals": {"referral_assessment": 1.0},
                     "cin": {"cin_case_year": 1.0}, "cpp": {"cpp_case_year": 1.0},
                     "cla": {k: WEEKS_PER_YEAR * v for k, v in weekly.items()},
                     "cla_weeks": weekly},
        description="England: RO3 gross expenditure lines on DfE activity volumes "
                    "(bayes_needs.data.readers.costs)")


@dataclass(frozen=True)
class CostDataReport:
    """What :func:`england_spend_data` found and did.

    Attributes
    ----------
    financial_year, reporting_year
        The RO3 year and the DfE year ending on its 31 March.
    dropped
        ``la_code, la_name, category, reason`` per dropped (LA, category) cell.
    end_year_only
        ``la_code, la_name, volume`` where the 31 March T-1 stock was missing and the T stock
        was used alone.
    """

    financial_year: str
    reporting_year: int
    dropped: pd.DataFrame = field(repr=False)
    end_year_only: pd.DataFrame = field(repr=False)

    def lines(self) -> list[str]:
        """Human-readable summary lines."""
        out = [f"RO3 {self.financial_year} ({MEASURE}) joined to DfE volumes for the year to "
               f"31 March {self.reporting_year}",
               f"dropped (LA, category) cells: {len(self.dropped)}"]
        for row in self.dropped.itertuples(index=False):
            out.append(f"  {row.la_code} {row.la_name}: {row.category}: {row.reason}")
        if len(self.end_year_only):
            out.append(f"volumes from the 31 March {self.reporting_year} stock only (no "
                       f"{self.reporting_year - 1} stock): {len(self.end_year_only)}")
            for row in self.end_year_only.itertuples(index=False):
                out.append(f"  {row.la_code} {row.la_name}: {row.volume}")
        return out


def reporting_year(financial_year: str) -> int:
    """DfE reporting year ending within ``financial_year`` (``"2024-25"`` -> 2025)."""
    try:
        start, end = financial_year.split("-")
        year = int(start) + 1
        if len(start) != 4 or len(end) != 2 or int(end) != year % 100:
            raise ValueError
    except (ValueError, AttributeError):
        raise ConfigError(f"financial year must look like '2024-25', got "
                          f"{financial_year!r}") from None
    return year


def read_csc_panel(data_dir: str | Path) -> pd.DataFrame:
    """Read the DfE LA panel with numeric volume columns (NaN where not published)."""
    path = resolve(data_dir, PANEL_FILE)
    columns = ["time_period", "new_la_code", "la_name", "referrals", "cin_at31", "cpp_at31",
               "cla_at31"]
    raw = read_text_csv(path, columns)
    problems = []
    out = pd.DataFrame({"la_code": raw["new_la_code"].to_numpy(),
                        "la_name": raw["la_name"].to_numpy()})
    for column in ["time_period", "referrals", "cin_at31", "cpp_at31", "cla_at31"]:
        values, _, found = parse_numbers(raw, column, str(path), whole=True)
        problems += found
        out[column] = values
    problems += duplicate_problems(raw, ["time_period", "new_la_code"], "LA-year")
    if problems:
        raise DataValidationError(str(path), problems)
    out["time_period"] = out["time_period"].astype(np.int64)
    return out


def england_volumes(data_dir: str | Path, year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Activity volumes per LA for the financial year ending 31 March ``year``.

    Returns
    -------
    volumes, end_year_only
        Long ``la_code, la_name, activity, volume`` (rows only where published), and the
        LAs whose average stock fell back to the end-year stock.
    """
    panel = read_csc_panel(data_dir)
    available = sorted(set(panel["time_period"]))
    if year not in available:
        raise ConfigError(f"DfE reporting year {year} is not in {Path(data_dir) / PANEL_FILE}; "
                          f"available years: {available}")
    now = panel[panel["time_period"] == year].set_index("la_code")
    before = panel[panel["time_period"] == year - 1].set_index("la_code").reindex(now.index)
    wide = pd.DataFrame({"la_name": now["la_name"], "referrals": now["referrals"]})
    fallback = []
    for volume, stock in _STOCKS.items():
        mean = (now[stock] + before[stock]) / 2.0
        only_end = mean.isna() & now[stock].notna()
        fallback += [(c, now.at[c, "la_name"], volume) for c in now.index[only_end]]
        wide[volume] = mean.where(~only_end, now[stock])
    wide["cla_weeks"] *= WEEKS_PER_YEAR
    long = wide.reset_index().melt(id_vars=["la_code", "la_name"], var_name="activity",
                                   value_name="volume").dropna(subset=["volume"])
    end_only = pd.DataFrame(fallback, columns=["la_code", "la_name", "volume"])
    return long.reset_index(drop=True), end_only


def england_spend_data(data_dir: str | Path, financial_year: str
                       ) -> tuple[SpendData, CostDataReport]:
    """RO3 spend lines joined to DfE activity volumes (see the module docstring).

    Returns
    -------
    spend, report
        :class:`SpendData` (spend has an ``la_name`` column) and what was dropped.
    """
    year = reporting_year(financial_year)
    ro3, _ = read_ro3(data_dir, financial_year)
    ro3 = ro3[ro3["measure"] == MEASURE]
    wide = ro3.pivot(index="la_code", columns="category", values="spend_gbp_thousands")
    names = ro3.drop_duplicates("la_code").set_index("la_code")["la_name"]
    codes = ro3.pivot(index="la_code", columns="category", values="code")
    volumes, end_only = england_volumes(data_dir, year)
    rows, dropped = [], []
    for category, lines in _LINES.items():
        for la_code in wide.index:
            values = wide.loc[la_code, list(lines)]
            if values.isna().any():
                found = {ln: codes.at[la_code, ln] for ln in lines if pd.isna(values[ln])}
                dropped.append((la_code, category, f"RO3 cell(s) not numbers: {found}"))
            elif (values < 0).any():
                dropped.append((la_code, category, f"RO3 spend negative: "
                                f"{values[values < 0].to_dict()}"))
            else:
                rows.append((la_code, names[la_code], category, float(values.sum())))
    spend = pd.DataFrame(rows, columns=["la_code", "la_name", "category", "spend"])
    no_volumes = sorted(set(spend["la_code"]) - set(volumes["la_code"]))
    for la_code in no_volumes:
        dropped.append((la_code, "(all)", "no DfE activity volumes for this LA code"))
    spend = spend[~spend["la_code"].isin(no_volumes)]
    volumes = volumes[volumes["la_code"].isin(set(spend["la_code"]))]
    data = SpendData.from_frames(spend.reset_index(drop=True),
                                 volumes[["la_code", "activity", "volume"]].reset_index(drop=True),
                                 year=financial_year,
                                 source=f"RO3 {financial_year} + DfE panel {year}")
    frame = pd.DataFrame(dropped, columns=["la_code", "category", "reason"])
    frame.insert(1, "la_name", frame["la_code"].map(names).fillna(""))
    report = CostDataReport(financial_year, year, frame.sort_values(
        ["la_code", "category"]).reset_index(drop=True), end_only)
    return data, report
