"""Map one year of LA figures onto the 153 upper-tier LAs of April 2023 (UTLA23).

Each year's figures are published under that year's LA codes.

Rules, applied per UTLA23 LA:

1. If the year's table has a number under the LA's own code, use it (``origin`` ``published``).
2. Otherwise, if the own row is absent or coded ``z`` (not applicable: the LA did not exist
   yet) and the LA has predecessors in the crosswalk, build it from the predecessors' rows:
   each predecessor's figure is split between its successors in proportion to the crosswalk
   ``share`` (its children aged 0-15 in mid-2015 living in each successor), and a successor
   sums its parts. Counts are split with largest-remainder rounding, so the parts are whole
   numbers adding up exactly to the predecessor's figure. ``origin`` is ``predecessor`` when
   every part is a whole predecessor (a renamed or merged LA) and ``apportioned`` when some
   predecessor was split (Dorset county, Northamptonshire, Cumbria). If any part is missing
   the LA is missing, with the part's code.
3. Otherwise the LA is missing, with the code of its own row or ``absent`` when it has none.

Rows under a predecessor code whose successors all have their own figures are not used.
Rows under codes that are neither UTLA23 codes nor crosswalk predecessors are an error.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import pandas as pd

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.readers._files import SUPPRESSION_CODES

ABSENT = "absent"
PUBLISHED = "published"
PREDECESSOR = "predecessor"
APPORTIONED = "apportioned"
MISSING = "missing"

#: Meaning of every code a harmonised table can report.
CODE_MEANINGS: dict[str, str] = {**SUPPRESSION_CODES, ABSENT: "no row for this LA that year"}


def harmonise_to_utla23(table: pd.DataFrame, crosswalk: pd.DataFrame, la_codes, *,
                        source: str, value: str = "value", whole: bool = True) -> pd.DataFrame:
    """Harmonise one year of a tidy LA table (see the module docstring for the rules).

    Parameters
    ----------
    table
        One year of a tidy table from :func:`bayes_needs.data.readers.dfe.read_ees_la_table`
        (``la_code``, the ``value`` column, ``code``, ``line``).
    crosswalk
        Output of :func:`bayes_needs.data.readers.lookups.read_predecessor_crosswalk`.
    la_codes
        The UTLA23 codes wanted, in output order.
    source
        File name used in error messages.
    value
        Column holding the figures; the output uses the same name.
    whole
        Split counts into whole numbers (largest remainder); otherwise split proportionally.

    Returns
    -------
    pandas.DataFrame
        One row per LA in ``la_codes``: ``la_code``, the ``value`` column, ``code``,
        ``origin`` and ``detail``. The value is NaN and ``code`` the reason when missing;
        ``detail`` names the predecessors used.

    Raises
    ------
    DataValidationError
        Naming unknown LA codes and their lines, or several years in ``table``.
    """
    la_codes = pd.Index(np.asarray(la_codes, dtype=object).astype(str), name="la_code")
    if "year" in table.columns and table["year"].nunique() > 1:
        raise DataValidationError(source, ["harmonisation needs a single year; got "
                                           f"{sorted(table['year'].unique())}"])
    known = table["la_code"].isin(la_codes) | table["la_code"].isin(
        crosswalk["predecessor_code"])
    if not known.all():
        bad = table[~known]
        shown = ", ".join(f"{c!r} (line {n})" for c, n in zip(bad["la_code"].head(5),
                                                              bad["line"].head(5), strict=True))
        raise DataValidationError(source, [
            f"column 'new_la_code' has {len(bad)} code(s) that are neither one of the "
            f"{len(la_codes)} upper-tier LAs of 2023 nor a predecessor in the crosswalk: "
            f"{shown}"])

    own = table.set_index("la_code").reindex(la_codes)
    out = pd.DataFrame({value: own[value],
                        "code": own["code"].where(own["line"].notna(), ABSENT),
                        "origin": np.where(own[value].notna(), PUBLISHED, MISSING),
                        "detail": ""}, index=la_codes)
    needs = out[value].isna() & out["code"].isin([ABSENT, "z"])

    parts = crosswalk.merge(
        table[["la_code", value, "code"]].rename(columns={"la_code": "predecessor_code"}),
        on="predecessor_code", how="left")
    parts["code"] = parts["code"].where(parts[value].notna() | parts["code"].notna(), ABSENT)
    parts["part"] = _split(parts, value, whole)
    parts = parts[parts["la_code"].isin(out.index[needs])]
    if not parts.empty:
        parts["label"] = (parts["predecessor_code"] + " x "
                          + parts["share"].map(lambda s: f"{s:.4g}"))
        successor = parts["la_code"]
        grouped = parts.groupby(successor, sort=False)
        rebuilt = pd.DataFrame({
            "total": grouped["part"].sum(min_count=1),
            "complete": parts[value].notna().groupby(successor, sort=False).all(),
            "code": grouped["code"].first(),
            "split": (parts["share"] < 1).groupby(successor, sort=False).any(),
            "detail": grouped["label"].agg("; ".join),
        })
        done = rebuilt["complete"]
        idx = rebuilt.index
        out.loc[idx, value] = rebuilt["total"].where(done)
        out.loc[idx, "code"] = rebuilt["code"].where(~done)
        out.loc[idx, "origin"] = np.where(done, np.where(rebuilt["split"], APPORTIONED,
                                                         PREDECESSOR), MISSING)
        out.loc[idx, "detail"] = "from " + rebuilt["detail"]
    out["code"] = out["code"].where(out[value].isna())
    return out.reset_index()


def _split(parts: pd.DataFrame, value: str, whole: bool) -> pd.Series:
    """Each predecessor's value times its share, in whole numbers when ``whole``."""
    exact = parts[value] * parts["share"]
    if not whole:
        return exact
    # numpy's stubs type ufuncs as returning arrays; on a Series pandas returns a Series.
    base = cast(pd.Series, np.floor(exact))
    by_predecessor = parts["predecessor_code"]
    shortfall = (parts[value] - base.groupby(by_predecessor).transform("sum")).round()
    # Largest remainders get the units lost by flooring; ties go to the earlier crosswalk row.
    order = (exact - base).groupby(by_predecessor).rank(method="first", ascending=False)
    return base + (order <= shortfall).astype(float)
