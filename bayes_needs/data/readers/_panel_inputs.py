"""Input checks of the England panel reader (:mod:`bayes_needs.data.readers.england_panel`).

They catch what a damaged copy of the public files gets wrong before any panel is built, and
name the file, line, LA code and year of each problem: a reporting year whose mid-year child
population is absent, rows under LA codes the crosswalk does not know, and an LA-year without
a child population (or with one that is not > 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.readers.dfe import SERVICE_SOURCES
from bayes_needs.data.readers.harmonise import ABSENT, CODE_MEANINGS
from bayes_needs.data.readers.lookups import CROSSWALK_FILE
from bayes_needs.data.readers.population import LA_POPULATION_SOURCE
from bayes_needs.data.validation import raise_if


def panel_years(root: Path, years: Any, tables: dict[str, pd.DataFrame],
                population: pd.DataFrame) -> list[int]:
    """Check the reporting years wanted against those with a mid-year T-1 population.

    Parameters
    ----------
    root
        The data directory (for messages).
    years
        Reporting years asked for, or ``None`` for every year from the first with counts.
    tables
        Service -> tidy DfE table (``year`` column).
    population
        Tidy LA child-population table (``year`` = mid-year).

    Returns
    -------
    list of int
        The consecutive reporting years to load.

    Raises
    ------
    ConfigError
        For years that are not whole, not consecutive, outside the data or without counts.
    DataValidationError
        Naming the population file when a mid-year inside its span has no LA rows.
    """
    available = sorted({int(y) + 1 for y in population["year"]})
    with_counts = sorted(set().union(*({int(y) for y in t["year"]} for t in tables.values())))
    span = f"{available[0]}-{available[-1]}"
    if years is None:
        chosen = [y for y in range(available[0], available[-1] + 1) if y >= with_counts[0]]
    else:
        raw = [years] if isinstance(years, (int, np.integer)) else list(years)
        if not raw:
            raise ConfigError(f"no reporting years asked for ({years!r}); reporting years "
                              f"with a mid-year T-1 child population run {span}")
        if any(isinstance(y, bool) or not isinstance(y, (int, np.integer)) for y in raw):
            raise ConfigError(f"years must be whole reporting years like range(2013, 2026), "
                              f"got {years!r}")
        chosen = sorted({int(y) for y in raw})
        if chosen != list(range(chosen[0], chosen[-1] + 1)):
            raise ConfigError(f"years must be consecutive, got {chosen}")
        outside = [y for y in chosen if not available[0] <= y <= available[-1]]
        if outside:
            raise ConfigError(f"year(s) {outside} are outside the data: reporting years with "
                              f"a mid-year T-1 child population run {span} (the mid-years in "
                              f"{LA_POPULATION_SOURCE.path}); to forecast later years, load "
                              f"the panel and call PanelData.extend_exposure")
        if not set(chosen) & set(with_counts):
            raise ConfigError(f"no counts of {list(tables)} in years {chosen[0]}-"
                              f"{chosen[-1]}; counts cover {with_counts[0]}-{with_counts[-1]}")
    # A mid-year missing inside the file's span is a hole in the file, not the data's end.
    gaps = [y for y in chosen if y not in available]
    if gaps:
        raise DataValidationError(str(root / LA_POPULATION_SOURCE.path), [
            f"no local-authority rows for time_period (mid-year) {[y - 1 for y in gaps]}, so "
            f"reporting year(s) {gaps} have no child population (exposure); the file's "
            f"mid-years run {available[0] - 1}-{available[-1] - 1}"])
    return chosen


def check_codes(root: Path, tables: dict[str, pd.DataFrame], population: pd.DataFrame,
                years: list[int], crosswalk: pd.DataFrame, la_codes: np.ndarray) -> None:
    """Check every row used is under an upper-tier LA of 2023 or a crosswalk predecessor.

    Parameters
    ----------
    root
        The data directory.
    tables
        Service -> tidy DfE table (``year``, ``la_code``, ``la_name``, ``line``).
    population
        Tidy LA child-population table (``year`` = mid-year T-1 of reporting year T).
    years
        Reporting years loaded (other years' rows are not used, so not checked).
    crosswalk
        Predecessor crosswalk (``predecessor_code``).
    la_codes
        The upper-tier LA codes of 2023.

    Raises
    ------
    DataValidationError
        Naming the file, line, LA code, name and ``time_period`` of every such row.
    """
    known = set(la_codes) | set(crosswalk["predecessor_code"])
    wanted = {SERVICE_SOURCES[s].path: (t, years) for s, t in tables.items()}
    wanted[LA_POPULATION_SOURCE.path] = (population, [y - 1 for y in years])
    problems = []
    for path, (table, table_years) in wanted.items():
        bad = table[table["year"].isin(table_years) & ~table["la_code"].isin(known)]
        problems += [f"{root / path}, line {line}: LA code {code!r} ({name}) in time_period "
                     f"{year} is neither one of the {len(la_codes)} upper-tier LAs of 2023 "
                     f"nor a predecessor in {CROSSWALK_FILE}"
                     for code, name, year, line in bad[["la_code", "la_name", "year", "line"]]
                     .itertuples(index=False)]
    raise_if(problems, f"England DfE panel in {root}")


def own_lines(table: pd.DataFrame, la_codes: pd.Series) -> pd.api.extensions.ExtensionArray:
    """Return the file line of each LA's own row in ``table`` (missing where it has none)."""
    lines = table.set_index("la_code")["line"].reindex(la_codes.to_numpy())
    return pd.array(lines.to_numpy(dtype=float), dtype="Int64")


def new_las(table: pd.DataFrame, la_codes: pd.Series,
            crosswalk: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """Flag the LAs not yet existing in ``table``'s year: no own row, a row per predecessor.

    Only such an LA's missing child population may be imputed: any other gap is a hole in the
    file (a dropped row), which :func:`exposure_problems` reports.

    Returns
    -------
    new, absent
        Per LA, whether it is new, and its predecessors without a row (comma-separated,
        ``""`` when none or when the LA has its own row).
    """
    present = set(table["la_code"])
    predecessors = crosswalk.groupby("la_code")["predecessor_code"].agg(sorted)
    absent = [", ".join(p for p in predecessors.get(la, []) if p not in present)
              if la not in present else "" for la in la_codes]
    new = np.array([la not in present and la in predecessors.index and not gap
                    for la, gap in zip(la_codes, absent, strict=True)], dtype=bool)
    return new, absent


def exposure_problems(long: pd.DataFrame, names: pd.Series, value: str) -> list[str]:
    """Describe every LA-year whose child population is missing or not > 0.

    Parameters
    ----------
    long
        Harmonised (and imputed) exposure: ``la_code``, ``year`` (reporting year), ``value``,
        ``code``, ``detail``, ``line`` and ``absent`` (from :func:`new_las`).
    names
        LA code -> name.
    value
        Column of the child population.

    Returns
    -------
    list of str
        One problem per LA-year, naming the file line (when the LA has a row of its own),
        the LA code and name, the ``time_period`` (mid-year) and the reporting year.
    """
    problems = []
    for row in long[~(long[value] > 0)].to_dict("records"):
        where = "" if pd.isna(row["line"]) else f"line {row['line']}: "
        what = (f"LA {row['la_code']} ({names.get(row['la_code'], '')}) in time_period "
                f"{row[dims.YEAR] - 1} (the exposure of reporting year {row[dims.YEAR]})")
        built = f"; {row['detail']}" if row["detail"] else ""  # the predecessors used
        if np.isnan(row[value]):
            code = ("no row for this LA" if row["code"] == ABSENT else
                    f"{row['code']!r}: {CODE_MEANINGS.get(row['code'], 'no number')}")
            if row["absent"]:
                code = f"no row for this LA nor for its predecessor(s) {row['absent']}"
            problems.append(f"{where}no child population for {what}: {code}{built}")
        else:
            problems.append(f"{where}the child population of {what} must be > 0, got "
                            f"{row[value]:g}{built}")
    return problems
