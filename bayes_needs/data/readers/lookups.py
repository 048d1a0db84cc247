"""Geography lookups for the England data.

LSOA 2011 -> MSOA 2011 -> upper-tier LA 2023, DfE LA numbers, and the crosswalk from
pre-reorganisation upper-tier LAs to their 2023 successors.

The LA level of the England geography is the upper-tier LA of April 2023 (UTLA23): the 153
English children's-services authorities. LSOAs and MSOAs are the 2011 census areas, the vintage
of the English Indices of Deprivation 2019.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core.errors import DataValidationError, GeographyError
from bayes_needs.data.geography import Geography
from bayes_needs.data.readers._files import (
    duplicate_problems,
    file_lines,
    parse_numbers,
    read_text_csv,
    resolve,
)

LOOKUP_FILE = "lookups/lookup_lsoa11_msoa11_lad19_lad23_utla23_dfe.csv.gz"
CROSSWALK_FILE = "lookups/predecessor_upper_tier_la_to_utla23_crosswalk.csv"

#: Raw lookup column -> tidy column.
_LOOKUP_COLUMNS = {
    "lsoa11cd": "lsoa_code", "lsoa11nm": "lsoa_name",
    "msoa11cd": "msoa_code", "msoa11nm": "msoa_name",
    "lad19cd": "lad19_code", "lad19nm": "lad19_name",
    "lad23cd": "lad23_code", "lad23nm": "lad23_name",
    "utla23cd": "la_code", "utla23nm": "la_name",
    "rgn11cd": "region_code", "rgn11nm": "region_name",
    "dfe_la_number": "dfe_la_number", "dfe_la_name": "dfe_la_name",
}
_CROSSWALK_COLUMNS = {
    "predecessor_la_code": "predecessor_code", "predecessor_la_name": "predecessor_name",
    "utla23cd": "la_code", "utla23nm": "la_name", "n_lsoa11": "n_lsoa",
    "children_0_15_mid2015": "children_0_15", "share_of_predecessor_children": "share",
}
#: Shares of one predecessor's children must add to 1 within the crosswalk's rounding.
SHARE_TOLERANCE = 1e-3


def read_lookup(data_dir: str | Path) -> pd.DataFrame:
    """Read the LSOA lookup, one row per LSOA 2011, with tidy column names.

    Returns
    -------
    pandas.DataFrame
        ``lsoa_code, lsoa_name, msoa_code, msoa_name, lad19_code, lad19_name, lad23_code,
        lad23_name, la_code, la_name, region_code, region_name, dfe_la_number, dfe_la_name``;
        ``la_code`` is the UTLA 2023 code and ``dfe_la_number`` the DfE 3-digit LA number.

    Raises
    ------
    DataValidationError
        On missing columns, blank codes, duplicate LSOAs, or a non-numeric DfE LA number.
    """
    path = resolve(data_dir, LOOKUP_FILE)
    source = str(path)
    raw = read_text_csv(path, list(_LOOKUP_COLUMNS))
    problems = duplicate_problems(raw, ["lsoa11cd"], "LSOA")
    for column in ("lsoa11cd", "msoa11cd", "utla23cd"):
        blank = (raw[column] == "").to_numpy()
        if blank.any():
            problems.append(f"column '{column}' is blank at line(s) {file_lines(raw, blank)}")
    numbers, _, number_problems = parse_numbers(raw, "dfe_la_number", source, codes=())
    problems += number_problems
    if problems:
        raise DataValidationError(source, problems)
    frame = raw.rename(columns=_LOOKUP_COLUMNS).drop(columns="line")
    frame["dfe_la_number"] = numbers.astype(np.int64)
    return frame[list(_LOOKUP_COLUMNS.values())]


def geography_from_lookup(lookup: pd.DataFrame, *, source: str = LOOKUP_FILE) -> Geography:
    """Build the LSOA -> MSOA -> UTLA23 :class:`~bayes_needs.data.geography.Geography`."""
    return Geography.from_frame(lookup, lsoa_code="lsoa_code", msoa_code="msoa_code",
                                la_code="la_code", lsoa_name="lsoa_name",
                                msoa_name="msoa_name", la_name="la_name", source=source)


def england_geography(data_dir: str | Path) -> Geography:
    """Build the England geography: 32,844 LSOAs in 6,791 MSOAs in 153 upper-tier LAs (2023).

    Raises
    ------
    GeographyError
        If the lookup does not nest (an LSOA in two MSOAs or an MSOA in two LAs).
    """
    return geography_from_lookup(read_lookup(data_dir),
                                 source=str(resolve(data_dir, LOOKUP_FILE)))


def la_table(lookup: pd.DataFrame, *, source: str = LOOKUP_FILE) -> pd.DataFrame:
    """One row per UTLA23 LA, sorted by code, with its DfE LA number, DfE name and region.

    Parameters
    ----------
    lookup
        Output of :func:`read_lookup`.

    Raises
    ------
    GeographyError
        If an LA has several DfE numbers or a DfE number is shared by several LAs.
    """
    columns = ["la_code", "la_name", "dfe_la_number", "dfe_la_name", "region_code",
               "region_name"]
    table = lookup[columns].drop_duplicates().sort_values("la_code").reset_index(drop=True)
    problems = [f"column '{key}' value(s) {clash} map to several '{other}' values"
                for key, other in (("la_code", "dfe_la_number"), ("dfe_la_number", "la_code"))
                if (clash := _mapped_to_several(table, key, other))]
    if problems:
        raise GeographyError(source, problems)
    return table.drop_duplicates("la_code").reset_index(drop=True)


def district_las(lookup: pd.DataFrame, *, source: str = LOOKUP_FILE) -> pd.Series:
    """Each local authority district of 2023 (LAD23) -> its upper-tier LA (UTLA23).

    The upper-tier LAs are the children's-services LAs whose codes the package uses, so a
    district's hex on a map takes its LA's value.

    Parameters
    ----------
    lookup
        Output of :func:`read_lookup`.
    source
        The lookup file, named in errors.

    Returns
    -------
    pandas.Series
        ``la_code`` indexed by ``lad23_code``, sorted by district code.

    Raises
    ------
    GeographyError
        If a district is blank or lies in several upper-tier LAs.
    """
    pairs = lookup[["lad23_code", "la_code"]].drop_duplicates()
    problems = []
    if (pairs["lad23_code"] == "").any():
        problems.append("column 'lad23cd' is blank for some LSOAs")
    if split := _mapped_to_several(pairs, "lad23_code", "la_code"):
        problems.append(f"column 'lad23cd' value(s) {split} map to several 'utla23cd' values")
    if problems:
        raise GeographyError(source, problems)
    return pairs.set_index("lad23_code")["la_code"].sort_index()


def _mapped_to_several(table: pd.DataFrame, key: str, other: str) -> list:
    """Return the first five ``key`` values that have more than one ``other`` value."""
    count = table.groupby(key)[other].nunique()
    return list(count.index[count > 1][:5])


def read_la_numbers(data_dir: str | Path) -> pd.DataFrame:
    """UTLA23 code -> DfE LA number, DfE name, LA name and region (153 rows)."""
    return la_table(read_lookup(data_dir), source=str(resolve(data_dir, LOOKUP_FILE)))


def read_predecessor_crosswalk(data_dir: str | Path, la_codes=None) -> pd.DataFrame:
    """Pre-reorganisation upper-tier LA codes -> UTLA23 successors with apportioning shares.

    ``share`` is the predecessor's mid-2015 children aged 0-15 living in the successor
    divided by all its children (IoD2019 File 6 denominators). It is renormalised to add to
    exactly 1 per predecessor.

    Parameters
    ----------
    data_dir
        The data directory.
    la_codes
        Optional valid UTLA23 codes; a successor not among them is an error.

    Returns
    -------
    pandas.DataFrame
        ``predecessor_code, predecessor_name, la_code, la_name, n_lsoa, children_0_15,
        share``.

    Raises
    ------
    DataValidationError
        On missing columns, non-numeric or negative shares, shares not adding to 1 per
        predecessor, duplicate pairs, a predecessor that is also a UTLA23 code or an unknown
        successor.
    """
    path = resolve(data_dir, CROSSWALK_FILE)
    source = str(path)
    raw = read_text_csv(path, list(_CROSSWALK_COLUMNS))
    share, _, problems = parse_numbers(raw, "share_of_predecessor_children", source,
                                       codes=(), whole=False)
    problems += duplicate_problems(raw, ["predecessor_la_code", "utla23cd"],
                                   "predecessor/successor")
    if not problems:
        totals = pd.Series(share).groupby(raw["predecessor_la_code"].to_numpy()).sum()
        off = totals[(totals - 1).abs() > SHARE_TOLERANCE]
        if len(off):
            problems.append(f"column 'share_of_predecessor_children' must add to 1 for each "
                            f"predecessor; totals {off.round(5).to_dict()}")
    if la_codes is not None:
        known = set(map(str, la_codes))
        unknown = ~raw["utla23cd"].isin(known).to_numpy()
        if unknown.any():
            problems.append(f"column 'utla23cd' has code(s) that are not UTLA 2023 LAs: "
                            f"{sorted(set(raw.loc[unknown, 'utla23cd']))[:5]} at line(s) "
                            f"{file_lines(raw, unknown)}")
        clash = raw["predecessor_la_code"].isin(known).to_numpy()
        if clash.any():
            problems.append(f"column 'predecessor_la_code' has current UTLA 2023 code(s) "
                            f"{sorted(set(raw.loc[clash, 'predecessor_la_code']))[:5]} at "
                            f"line(s) {file_lines(raw, clash)}")
    if problems:
        raise DataValidationError(source, problems)
    frame = raw.rename(columns=_CROSSWALK_COLUMNS).drop(columns="line")
    shares = pd.Series(share, index=frame.index)
    frame["share"] = shares / shares.groupby(frame["predecessor_code"]).transform("sum")
    for column in ("n_lsoa", "children_0_15"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame[list(_CROSSWALK_COLUMNS.values())]
