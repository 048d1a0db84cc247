"""England multi-year :class:`~bayes_needs.data.panel.PanelData` from the real public data.

:func:`england_panel_data` joins, for every DfE reporting year T (the year to 31 March T):

* geography: LSOA 2011 -> MSOA 2011 -> upper-tier LA 2023 (UTLA23, the 153 children's-services
  authorities; :mod:`bayes_needs.data.readers.lookups`);
* counts: each DfE service table (:mod:`bayes_needs.data.readers.dfe`) read once, and each
  year harmonised to UTLA23 (:func:`~bayes_needs.data.readers.harmonise.harmonise_to_utla23`):
  predecessors summed, split councils (Dorset county, Northamptonshire, Cumbria) apportioned
  by the crosswalk's child share. Suppressed or absent cells stay missing (NaN). CLA by LA is
  only in the files from 2019; with ``cla_from_flows`` the stock on 31 March 2018 (and any
  other missing CLA year followed by a year with stock and flows) is rebuilt from the next
  year's stock, starts and ceases (:mod:`bayes_needs.data.readers.cla_flows`), earlier CLA
  years stay missing;
* exposure: DfE's ONS mid-year T-1 population aged 0-17 per LA, DfE's denominator for 31 March
  T, harmonised the same way (split proportionally, not in whole numbers). Reporting year T
  is available when the mid-year T-1 estimate is. Where an LA not yet existing that year
  (no row under its own code) has rows for its predecessors but no estimate from them
  (Bournemouth, Christchurch and Poole, and Dorset, before mid-2019), the LA's nearest
  published estimate is scaled by the change over the same years in the total of the LAs
  published in both years; the report lists these as ``imputed``. Any other LA-year without
  an estimate is an error naming the file, line, LA and year;
* LSOA weights: ONS mid-2019 LSOA population aged 0-17, used only for within-LA shares;
* indicators: IoD2019 LSOA measures (:mod:`bayes_needs.data.readers.iod`), transformed to
  rank-based inverse normal scores (Blom), ``z = Phi^-1((r - 3/8) / (n + 1/4))`` with ``r``
  the rank among the 32,844 English LSOAs (ties averaged), oriented so that higher means more
  deprived: ``income``, ``employment``, ``education`` (skills), ``health``, ``crime``,
  ``barriers``, ``living_env`` and ``imd`` from the domain ranks (rank 1 = most deprived, so
  reversed), and ``idaci`` from the rebuilt IDACI proportion (already higher = more
  deprived). Any other name of :data:`bayes_needs.data.readers.iod.COVARIATES` is passed
  through unchanged (for ranks and deciles 1 is the most deprived).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import defaults, dims
from bayes_needs.data.covariates import normal_scores
from bayes_needs.data.panel import EXPOSURE, KNOWN_IN, ORIGIN_COLUMNS, PanelData
from bayes_needs.data.readers._files import require_files
from bayes_needs.data.readers._panel_inputs import (
    check_codes,
    exposure_problems,
    new_las,
    own_lines,
    panel_years,
)
from bayes_needs.data.readers.cla_flows import RECONSTRUCTED, reconstruct_cla_stocks
from bayes_needs.data.readers.dfe import DFE_SERVICES, SERVICE_SOURCES, read_dfe_service
from bayes_needs.data.readers.england import (
    DEFAULT_SERVICES,
    align_lsoas,
    check_choice,
    england_files,
)
from bayes_needs.data.readers.harmonise import (
    ABSENT,
    CODE_MEANINGS,
    MISSING,
    PUBLISHED,
    harmonise_to_utla23,
)
from bayes_needs.data.readers.iod import COVARIATES, IOD_FILE, read_iod2019
from bayes_needs.data.readers.lookups import (
    LOOKUP_FILE,
    geography_from_lookup,
    la_table,
    read_lookup,
    read_predecessor_crosswalk,
)
from bayes_needs.data.readers.population import (
    LA_POPULATION_SOURCE,
    LSOA_POPULATION_FILE,
    read_la_child_population,
    read_lsoa_child_population,
)
from bayes_needs.data.validation import raise_if

#: IoD2019 domains whose ranks become indicators (``education`` is Education, Skills and
#: Training; ``living_env`` is Living Environment).
DOMAIN_INDICATORS: tuple[str, ...] = ("income", "employment", "education", "health", "crime",
                                      "barriers", "living_env")
DEFAULT_INDICATORS: tuple[str, ...] = (*DOMAIN_INDICATORS, "idaci")
#: Every indicator name accepted: the normal scores, then the raw IoD columns.
INDICATORS: tuple[str, ...] = (*DEFAULT_INDICATORS, "imd",
                               *(c for c in COVARIATES if c not in DEFAULT_INDICATORS))
#: Column of the LSOA table holding the within-LA weights.
WEIGHT = "children_0_17_mid2019"
#: ``origin`` of an exposure rebuilt from the LA's nearest published estimate.
IMPUTED = "imputed"


@dataclass(frozen=True)
class PanelReport:
    """What :func:`england_panel_data` found and did.

    Attributes
    ----------
    years, services, indicators
        As loaded.
    service_years
        Service -> years with at least one count.
    observed
        Number of LAs with a count: index services, columns years.
    harmonisation
        Every cell not published under its own code: ``service`` (or ``exposure``),
        ``la_code, la_name, year, origin`` (``predecessor``, ``apportioned`` or
        ``imputed``), ``value`` and ``detail`` (the predecessors and shares used).
    missing
        Every missing count: ``service, la_code, la_name, year, code`` (the suppression
        code, or ``absent``), ``meaning`` and ``detail``.
    notes
        How the data were built, including the services whose figures start late.
    n_lsoa, n_msoa, n_la
        Number of areas per level.
    idaci_imputed
        Number of LSOAs whose IDACI numerator was suppressed and imputed.
    """

    years: tuple[int, ...]
    services: tuple[str, ...]
    indicators: tuple[str, ...]
    service_years: dict[str, tuple[int, ...]]
    observed: pd.DataFrame = field(repr=False)
    harmonisation: pd.DataFrame = field(repr=False)
    missing: pd.DataFrame = field(repr=False)
    notes: tuple[str, ...]
    n_lsoa: int
    n_msoa: int
    n_la: int
    idaci_imputed: int

    @property
    def observed_la_years(self) -> dict[str, int]:
        """Service -> number of LA-years with a count."""
        return {s: int(self.observed.loc[s].to_numpy().sum()) for s in self.services}

    def to_dict(self) -> dict[str, Any]:
        """Summarise the report in JSON-ready form (tables as lists of records)."""
        return {
            "years": list(self.years), "services": list(self.services),
            "indicators": list(self.indicators),
            "service_years": {s: list(y) for s, y in self.service_years.items()},
            "observed_la_years": self.observed_la_years,
            "observed": {s: {str(y): int(n) for y, n in row.items()}
                         for s, row in self.observed.iterrows()},
            "harmonisation": _records(self.harmonisation), "missing": _records(self.missing),
            "notes": list(self.notes), "n_lsoa": self.n_lsoa, "n_msoa": self.n_msoa,
            "n_la": self.n_la, "idaci_imputed": self.idaci_imputed,
        }


def england_panel_data(
    data_dir: str | Path,
    years: Iterable[int] | int | None = None,
    services: Iterable[str] = DEFAULT_SERVICES,
    indicators: Iterable[str] = DEFAULT_INDICATORS,
    cla_from_flows: bool = defaults.CLA_FROM_FLOWS,
) -> tuple[PanelData, PanelReport]:
    """England panel of DfE LA counts per reporting year, with LSOA IoD2019 indicators.

    Parameters
    ----------
    data_dir
        Directory holding the documented public data files.
    years
        Consecutive DfE reporting years (e.g. ``range(2013, 2026)``); by default every year
        with a mid-year T-1 population from the first year with counts (2013-2025).
    services
        Services to load, from ``referrals``, ``cin``, ``cpp``, ``cla``.
    indicators
        LSOA indicators (see the module docstring and :data:`INDICATORS`).
    cla_from_flows
        Rebuild missing CLA stocks from the next year's stock and flows (module docstring).

    Returns
    -------
    panel, report
        The validated :class:`~bayes_needs.data.panel.PanelData` (origins per service, LA
        and year attached) and a :class:`PanelReport`.

    Raises
    ------
    ConfigError
        For an unknown service or indicator, or years outside the data (naming the range).
    MissingDataError
        Naming every required file that is missing.
    DataValidationError
        Naming the file, column, line, LA code and year of any malformed input, including
        rows under LA codes unknown to the crosswalk and LA-years without a child population
        (other than those of a new LA the module docstring says are imputed).
    """
    services = check_choice(services, DFE_SERVICES, "service")
    indicators = check_choice(indicators, INDICATORS, "indicator")
    require_files(data_dir, england_files(services))
    root = Path(data_dir)
    tables = {s: read_dfe_service(root, s) for s in services}
    population = read_la_child_population(root)
    chosen = panel_years(root, years, tables, population)

    lookup = read_lookup(root)
    geography = geography_from_lookup(lookup, source=str(root / LOOKUP_FILE))
    names = la_table(lookup, source=str(root / LOOKUP_FILE)).set_index("la_code")["la_name"]
    crosswalk = read_predecessor_crosswalk(root, la_codes=geography.la_codes)
    check_codes(root, tables, population, chosen, crosswalk, geography.la_codes)
    exposure = _harmonised_exposure(root, population, chosen, crosswalk, geography.la_codes,
                                    names)
    counts = _harmonised_counts(root, tables, chosen, crosswalk, geography.la_codes)
    if cla_from_flows:
        counts = reconstruct_cla_stocks(root, counts, crosswalk, geography.la_codes)

    iod = align_lsoas(read_iod2019(root), geography.lsoa_codes, str(root / IOD_FILE))
    children = align_lsoas(read_lsoa_child_population(root), geography.lsoa_codes,
                           str(root / LSOA_POPULATION_FILE))["population_0_17"]
    lsoa_frame = indicator_frame(iod, indicators).assign(**{WEIGHT: children})
    origins = pd.concat([counts, exposure.assign(service=EXPOSURE)], ignore_index=True)
    origins = origins[[*ORIGIN_COLUMNS, "code", *([KNOWN_IN] if KNOWN_IN in origins else [])]]
    notes = _notes(root, tables, chosen, exposure, names)
    rebuilt = counts[counts["origin"] == RECONSTRUCTED]
    if len(rebuilt):
        notes.append(f"cla: {len(rebuilt)} LA stocks on 31 March of "
                     f"{sorted(set(rebuilt[dims.YEAR].astype(int)))} rebuilt as the next year's "
                     f"stock - started + ceased in that year (origin '{RECONSTRUCTED}')")
    panel = PanelData.from_frames(
        geography, lsoa_frame.reset_index(), exposure, counts, covariates=indicators,
        weight=WEIGHT, services=services, origins=origins, notes=notes,
        source=f"England DfE panel {chosen[0]}-{chosen[-1]} in {root}")

    built = pd.concat([counts.rename(columns={"count": "value"}),
                       exposure.rename(columns={EXPOSURE: "value"}).assign(service=EXPOSURE)],
                      ignore_index=True)
    built = built[~built["origin"].isin([PUBLISHED, MISSING])]
    missing = counts[counts["count"].isna()].assign(meaning=lambda f: f["code"].map(CODE_MEANINGS))
    observed = pd.DataFrame({s: panel.counts[s].notna().sum(axis=0) for s in services}).T
    observed.index.name = dims.SERVICE
    report = PanelReport(
        years=panel.years, services=services, indicators=indicators,
        service_years={s: tuple(int(y) for y in
                                observed.columns.to_numpy()[observed.loc[s].to_numpy() > 0])
                       for s in services},
        observed=observed,
        harmonisation=_named(built, names, ["service", "la_code", "la_name", dims.YEAR,
                                            "origin", "value", "detail"]),
        missing=_named(missing, names, ["service", "la_code", "la_name", dims.YEAR, "code",
                                        "meaning", "detail"]),
        notes=panel.notes, n_lsoa=geography.n_lsoa, n_msoa=geography.n_msoa,
        n_la=geography.n_la, idaci_imputed=int(iod["idaci_suppressed"].sum()))
    return panel, report


def indicator_frame(iod: pd.DataFrame, indicators: Iterable[str]) -> pd.DataFrame:
    """Build the indicator columns from :func:`~bayes_needs.data.readers.iod.read_iod2019`.

    Parameters
    ----------
    iod
        IoD2019 LSOA table (all English LSOAs, so ranks are national).
    indicators
        Names from :data:`INDICATORS`.

    Returns
    -------
    pandas.DataFrame
        One float column per indicator, same index as ``iod`` (see the module docstring for
        the transforms and orientation).
    """
    columns = {}
    for name in indicators:
        if name in (*DOMAIN_INDICATORS, "imd"):
            columns[name] = normal_scores(iod[f"{name}_rank"], reverse=True,
                                          source=f"IoD2019 {name}_rank")
        elif name == "idaci":
            columns[name] = normal_scores(iod["idaci"], source="IoD2019 idaci")
        else:
            columns[name] = iod[name].astype(float)
    return pd.DataFrame(columns, index=iod.index)


# ---------------------------------------------------------------------- helpers
def _harmonised_counts(root: Path, tables: dict[str, pd.DataFrame], years: list[int],
                       crosswalk: pd.DataFrame, la_codes: np.ndarray) -> pd.DataFrame:
    """Long ``service, la_code, year, count, code, origin, detail, file, line``."""
    frames = []
    for service, table in tables.items():
        path = SERVICE_SOURCES[service].path
        source = str(root / path)
        published = table["year"].to_numpy(dtype=int)
        covered = f"{published.min()}-{published.max()}"
        for year in years:
            if year in published:
                rows = table[published == year]
                one = harmonise_to_utla23(rows, crosswalk, la_codes, source=source,
                                          value="count")
                one["line"] = own_lines(rows, one["la_code"])
            else:
                one = pd.DataFrame({"la_code": la_codes, "count": np.nan, "code": ABSENT,
                                    "origin": MISSING,
                                    "detail": f"{service} LA figures are not in {path} for "
                                              f"{year} (it covers {covered})"})
            frames.append(one.assign(service=service, year=year, file=source))
    return pd.concat(frames, ignore_index=True)


def _harmonised_exposure(root: Path, population: pd.DataFrame, years: list[int],
                         crosswalk: pd.DataFrame, la_codes: np.ndarray,
                         names: pd.Series) -> pd.DataFrame:
    """Long ``la_code, year, exposure, code, origin, detail, file, line``: mid-year T-1 for T.

    Raises
    ------
    DataValidationError
        Naming the line (where there is one), LA and year of every exposure missing, other
        than those of a new LA (see :func:`_impute_exposure`), or not > 0.
    """
    source = str(root / LA_POPULATION_SOURCE.path)
    by_year = dict(tuple(population.groupby("year")))
    frames = []
    for year in years:
        table = by_year[year - 1]
        one = harmonise_to_utla23(table, crosswalk, la_codes, source=source,
                                  value="population_0_17", whole=False)
        new, absent = new_las(table, one["la_code"], crosswalk)
        frames.append(one.assign(year=year, file=source, line=own_lines(table, one["la_code"]),
                                 new=new, absent=absent))
    long = pd.concat(frames, ignore_index=True).rename(columns={"population_0_17": EXPOSURE})
    long = _impute_exposure(long)
    raise_if(exposure_problems(long, names, EXPOSURE), source)
    return long.drop(columns=["new", "absent"])


def _impute_exposure(long: pd.DataFrame) -> pd.DataFrame:
    """Fill a new LA's years without an estimate from its nearest year (see the module doc).

    A new LA has no row of its own that year and a row for each predecessor (Bournemouth,
    Christchurch and Poole, and Dorset, whose predecessors' rows say ``x`` before mid-2019).
    Any other LA-year without an estimate is a hole in the file, reported by the caller.
    """
    wide = long.pivot(index="la_code", columns=dims.YEAR, values=EXPOSURE)
    values = long[EXPOSURE].to_numpy(dtype=float, copy=True)
    origin = long["origin"].to_numpy(dtype=object, copy=True)
    detail = long["detail"].to_numpy(dtype=object, copy=True)
    la_codes = long["la_code"].to_numpy(dtype=str)
    years = long[dims.YEAR].to_numpy(dtype=int)
    codes = long["code"].to_numpy(dtype=object)
    for row in np.flatnonzero(np.isnan(values) & long["new"].to_numpy(dtype=bool)):
        la, year = la_codes[row], int(years[row])
        have = wide.loc[la].dropna()
        if have.empty:
            continue  # nothing to scale from: PanelData reports the missing exposure
        # Nearest published year; a tie goes to the later year.
        near = int(min(have.index, key=lambda y: (abs(y - year), -y)))
        both = (wide[year].notna() & wide[near].notna()).to_numpy()
        ratio = wide[year].to_numpy()[both].sum() / wide[near].to_numpy()[both].sum()
        values[row], origin[row] = have[near] * ratio, IMPUTED
        detail[row] = (f"no mid-{year - 1} estimate for this LA or its predecessors "
                       f"({codes[row]}); its mid-{near - 1} estimate "
                       f"{have[near]:.0f} x {ratio:.4f}, the change from mid-{near - 1} to "
                       f"mid-{year - 1} in the total of the {int(both.sum())} LAs with both "
                       f"estimates")
    return long.assign(**{EXPOSURE: values, "origin": origin, "detail": detail})


def _notes(root: Path, tables: dict[str, pd.DataFrame], years: list[int],
           exposure: pd.DataFrame, names: pd.Series) -> list[str]:
    notes = [f"exposure of reporting year T (31 March T) = DfE's ONS mid-year T-1 population "
             f"aged 0-17 per LA ({LA_POPULATION_SOURCE.path}), harmonised to the 153 "
             f"upper-tier LAs of 2023",
             f"lsoa_weight = ONS mid-2019 LSOA population aged 0-17 ({LSOA_POPULATION_FILE}),"
             f" used only for within-LA shares",
             "indicators: Blom normal scores of IoD2019 ranks/scores over English LSOAs, "
             "higher = more deprived (raw IoD columns passed through unchanged)"]
    for service, table in tables.items():
        first = int(table["year"].min())
        if first > years[0]:
            notes.append(f"{service}: LA figures start in {first} "
                         f"({SERVICE_SOURCES[service].path}); {years[0]}-{first - 1} have "
                         f"none")
    imputed = exposure[exposure["origin"] == IMPUTED]
    for la in pd.unique(imputed["la_code"]):
        imputed_years = imputed.loc[imputed["la_code"] == la, dims.YEAR].to_numpy(dtype=int)
        notes.append(f"exposure of {la} {names.get(la, '')} imputed for "
                     f"{imputed_years.min()}-{imputed_years.max()} (no published mid-year "
                     f"estimate for it or its predecessors)")
    return notes


def _named(frame: pd.DataFrame, names: pd.Series, columns: list[str]) -> pd.DataFrame:
    out = frame.assign(la_name=names.reindex(frame["la_code"]).to_numpy())
    return out[columns].sort_values(["service", "la_code", dims.YEAR]).reset_index(drop=True)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a table as JSON-ready records (NaN as None, numpy scalars as Python ones)."""
    records: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return records
