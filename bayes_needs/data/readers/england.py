"""England :class:`~bayes_needs.data.area.AreaData` from the real public data.

:func:`england_area_data` joins:

* geography: LSOA 2011 -> MSOA 2011 -> upper-tier LA 2023 (:mod:`bayes_needs.data.readers.lookups`);
* counts: DfE LA counts for reporting year T (the year to 31 March T) of referrals, children
  in need, child protection plans and children looked after (:mod:`bayes_needs.data.readers.dfe`),
  harmonised to 2023 LAs (:mod:`bayes_needs.data.readers.harmonise`); suppressed LAs have no row;
* covariates: IoD2019 LSOA measures (:mod:`bayes_needs.data.readers.iod`);
* exposure: children aged 0-17 per LSOA. The only LSOA child population is ONS mid-2019, so it
  is rescaled within each LA to DfE's LA population aged 0-17 for mid-year T-1, the
  denominator DfE uses for its rates on 31 March T. The LSOA pattern within an LA is mid-2019's;
  LA totals match DfE's. An LA without a published T-1 estimate (Bournemouth, Christchurch and
  Poole and Dorset before 2020) is scaled by the England-wide ratio of the other LAs, and the
  report lists it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data.area import AreaData
from bayes_needs.data.readers._files import require_files
from bayes_needs.data.readers.dfe import DFE_SERVICES, SERVICE_SOURCES, read_dfe_service
from bayes_needs.data.readers.harmonise import CODE_MEANINGS, PUBLISHED, harmonise_to_utla23
from bayes_needs.data.readers.iod import COVARIATES, IOD_FILE, read_iod2019
from bayes_needs.data.readers.lookups import (
    CROSSWALK_FILE,
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
    rescale_to_la_totals,
)

DEFAULT_SERVICES: tuple[str, ...] = (dims.REFERRALS, dims.CIN, dims.CPP, dims.CLA)
DEFAULT_COVARIATES: tuple[str, ...] = ("idaci", "imd_score")
EXPOSURE_COLUMN = "children"


@dataclass(frozen=True)
class EnglandDataReport:
    """What :func:`england_area_data` found and did.

    Attributes
    ----------
    year
        DfE reporting year (31 March).
    services, covariates
        As loaded.
    n_lsoa, n_msoa, n_la
        Number of areas per level.
    observed
        Service -> number of LAs with a count.
    missing
        One row per LA and service without a count: ``service, la_code, la_name, code,
        meaning, detail``; ``code`` is the suppression code found (``c``, ``z``, ``x``, ``u``,
        ``(blank)``) or ``absent``.
    harmonised
        Counts built from predecessor LAs: ``service, la_code, la_name, origin, count,
        detail``.
    exposure
        How the exposure was built.
    exposure_population_year
        The DfE mid-year population the exposure was rescaled to (None when not rescaled).
    exposure_las_without_total
        LA codes without a DfE T-1 population, scaled by the England-wide ratio instead.
    idaci_imputed
        Number of LSOAs whose IDACI numerator was suppressed and imputed.
    """

    year: int
    services: tuple[str, ...]
    covariates: tuple[str, ...]
    n_lsoa: int
    n_msoa: int
    n_la: int
    observed: dict[str, int]
    missing: pd.DataFrame = field(repr=False)
    harmonised: pd.DataFrame = field(repr=False)
    exposure: str
    exposure_population_year: int | None
    exposure_las_without_total: tuple[str, ...]
    idaci_imputed: int

    @property
    def suppressed(self) -> dict[str, int]:
        """Service -> number of LAs without a count."""
        counts = self.missing["service"].value_counts()
        return {s: int(counts.get(s, 0)) for s in self.services}

    def to_dict(self) -> dict:
        """Summarise the report in JSON-ready form."""
        missing = {s: dict(zip(g["la_code"], g["code"], strict=True))
                   for s, g in self.missing.groupby("service", sort=False)}
        harmonised = {s: dict(zip(g["la_code"], g["origin"], strict=True))
                      for s, g in self.harmonised.groupby("service", sort=False)}
        return {
            "year": self.year,
            "services": list(self.services),
            "covariates": list(self.covariates),
            "n_lsoa": self.n_lsoa,
            "n_msoa": self.n_msoa,
            "n_la": self.n_la,
            "observed": self.observed,
            "suppressed": self.suppressed,
            "missing_codes": {s: missing.get(s, {}) for s in self.services},
            "harmonised": {s: harmonised.get(s, {}) for s in self.services},
            "exposure": self.exposure,
            "exposure_population_year": self.exposure_population_year,
            "exposure_las_without_total": list(self.exposure_las_without_total),
            "idaci_imputed": self.idaci_imputed,
        }


def england_files(services=DEFAULT_SERVICES) -> list[str]:
    """Files (relative to the data directory) :func:`england_area_data` reads."""
    return [LOOKUP_FILE, CROSSWALK_FILE, IOD_FILE, LSOA_POPULATION_FILE,
            LA_POPULATION_SOURCE.path, *(SERVICE_SOURCES[s].path for s in services)]


def england_area_data(
    data_dir: str | Path,
    year: int = 2024,
    services=DEFAULT_SERVICES,
    covariates=DEFAULT_COVARIATES,
    *,
    rescale_exposure: bool = True,
) -> tuple[AreaData, EnglandDataReport]:
    """England area data for one DfE reporting year.

    Parameters
    ----------
    data_dir
        Directory holding the documented public data files.
    year
        DfE reporting year T (counts on or to 31 March T).
    services
        Services to load, from ``referrals``, ``cin``, ``cpp``, ``cla``.
    covariates
        IoD2019 LSOA covariates (see :data:`bayes_needs.data.readers.iod.COVARIATES`).
    rescale_exposure
        Rescale the mid-2019 LSOA child population to DfE's LA mid-year T-1 totals (see the
        module docstring); otherwise use mid-2019 as is.

    Returns
    -------
    area_data, report
        The validated :class:`~bayes_needs.data.area.AreaData` (counts at LA level) and an
        :class:`EnglandDataReport`.

    Raises
    ------
    ConfigError
        For an unknown service or covariate, or a year without data (listing the years
        available).
    MissingDataError
        Naming every required file that is missing.
    DataValidationError
        Naming the file, column, line or code of any malformed input.
    """
    services = check_choice(services, DFE_SERVICES, "service")
    covariates = check_choice(covariates, COVARIATES, "covariate")
    year = _check_int_year(year)
    require_files(data_dir, england_files(services))

    tables = {s: read_dfe_service(data_dir, s) for s in services}
    la_population = read_la_child_population(data_dir) if rescale_exposure else None
    _check_year_available(year, tables, la_population)

    lookup = read_lookup(data_dir)
    lookup_source = str(Path(data_dir) / LOOKUP_FILE)
    geography = geography_from_lookup(lookup, source=lookup_source)
    las = la_table(lookup, source=lookup_source).set_index("la_code")
    crosswalk = read_predecessor_crosswalk(data_dir, la_codes=geography.la_codes)

    counts, missing, harmonised = _harmonised_counts(data_dir, tables, year, crosswalk,
                                                     geography.la_codes)
    iod = read_iod2019(data_dir)
    lsoa_table = align_lsoas(iod, geography.lsoa_codes, str(Path(data_dir) / IOD_FILE))
    population = read_lsoa_child_population(data_dir)
    children = align_lsoas(population, geography.lsoa_codes,
                           str(Path(data_dir) / LSOA_POPULATION_FILE))["population_0_17"]
    exposure = children.to_numpy(dtype=float)
    without_total: tuple[str, ...] = ()
    population_year = None
    note = "ONS mid-2019 LSOA population aged 0-17"
    if la_population is not None:
        population_year = year - 1
        totals = harmonise_to_utla23(
            la_population[la_population["year"] == population_year], crosswalk,
            geography.la_codes, source=str(Path(data_dir) / LA_POPULATION_SOURCE.path),
            value="population_0_17", whole=False)
        la_totals = totals["population_0_17"].to_numpy(dtype=float)
        exposure, _ = rescale_to_la_totals(exposure, geography.lsoa_to_la, la_totals)
        without_total = tuple(totals.loc[np.isnan(la_totals), "la_code"])
        note += (f", rescaled within each LA to DfE's mid-{population_year} LA population "
                 f"aged 0-17")
    lsoa_table = lsoa_table.assign(**{EXPOSURE_COLUMN: exposure})

    area = AreaData.from_frames(
        geography, lsoa_table.reset_index(), counts, covariates=covariates,
        exposure=EXPOSURE_COLUMN, services=services, year=year,
        source=f"England DfE {year}", lsoa_source=f"IoD2019 and population files in {data_dir}",
        counts_source=f"DfE LA counts {year} in {data_dir}")
    missing = missing.assign(la_name=las["la_name"].reindex(missing["la_code"]).to_numpy())
    harmonised = harmonised.assign(
        la_name=las["la_name"].reindex(harmonised["la_code"]).to_numpy())
    report = EnglandDataReport(
        year=year, services=services, covariates=covariates,
        n_lsoa=geography.n_lsoa, n_msoa=geography.n_msoa, n_la=geography.n_la,
        observed=area.n_observed_las(),
        missing=missing[["service", "la_code", "la_name", "code", "meaning", "detail"]],
        harmonised=harmonised[["service", "la_code", "la_name", "origin", "count", "detail"]],
        exposure=note, exposure_population_year=population_year,
        exposure_las_without_total=without_total,
        idaci_imputed=int(iod["idaci_suppressed"].sum()))
    return area, report


def available_years(data_dir: str | Path, services=DEFAULT_SERVICES, *,
                    rescale_exposure: bool = True) -> list[int]:
    """List the reporting years for which every service (and the T-1 population) is published."""
    services = check_choice(services, DFE_SERVICES, "service")
    tables = {s: read_dfe_service(data_dir, s) for s in services}
    population = read_la_child_population(data_dir) if rescale_exposure else None
    return _common_years(tables, population)


def la_service_counts(data_dir: str | Path, year: int, services=DEFAULT_SERVICES,
                      ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Harmonised DfE LA counts for ``year`` without building the LSOA data.

    Returns
    -------
    counts, missing, harmonised
        ``counts``: long ``service, level, area_code, count`` (level ``la``); ``missing`` and
        ``harmonised`` as in :class:`EnglandDataReport` (without LA names).
    """
    services = check_choice(services, DFE_SERVICES, "service")
    year = _check_int_year(year)
    tables = {s: read_dfe_service(data_dir, s) for s in services}
    _check_year_available(year, tables, None)
    geography = geography_from_lookup(read_lookup(data_dir),
                                      source=str(Path(data_dir) / LOOKUP_FILE))
    crosswalk = read_predecessor_crosswalk(data_dir, la_codes=geography.la_codes)
    return _harmonised_counts(data_dir, tables, year, crosswalk, geography.la_codes)


# ---------------------------------------------------------------------- helpers
def _harmonised_counts(data_dir, tables: dict[str, pd.DataFrame], year: int,
                       crosswalk: pd.DataFrame, la_codes):
    frames = []
    for service, table in tables.items():
        source = str(Path(data_dir) / SERVICE_SOURCES[service].path)
        one = harmonise_to_utla23(table[table["year"] == year], crosswalk, la_codes,
                                  source=source, value="count")
        frames.append(one.assign(service=service))
    every = pd.concat(frames, ignore_index=True)
    observed = every[every["count"].notna()]
    counts = pd.DataFrame({"service": observed["service"].to_numpy(), "level": dims.LA,
                           "area_code": observed["la_code"].to_numpy(),
                           "count": observed["count"].to_numpy().astype(np.int64)})
    missing = every[every["count"].isna()].assign(
        meaning=lambda f: f["code"].map(CODE_MEANINGS))
    harmonised = every[every["count"].notna() & (every["origin"] != PUBLISHED)]
    return counts, missing.reset_index(drop=True), harmonised.reset_index(drop=True)


def _common_years(tables: dict[str, pd.DataFrame], population: pd.DataFrame | None
                  ) -> list[int]:
    years = set.intersection(*(set(t["year"].astype(int)) for t in tables.values()))
    if population is not None:
        years &= {int(y) + 1 for y in population["year"]}
    return sorted(years)


def _check_year_available(year: int, tables: dict[str, pd.DataFrame],
                          population: pd.DataFrame | None) -> None:
    common = _common_years(tables, population)
    if year in common:
        return
    detail = [f"{s}: {_span(t['year'])}" for s, t in tables.items()]
    if population is not None:
        detail.append(f"LA population aged 0-17 (mid-year T-1): mid-years "
                      f"{_span(population['year'])}")
    raise ConfigError(f"year {year} is not available; available years: {common} "
                      f"(data cover {'; '.join(detail)})")


def _span(years) -> str:
    values = sorted({int(y) for y in years})
    return f"{values[0]}-{values[-1]}" if values else "none"


def check_choice(chosen, allowed, what: str) -> tuple[str, ...]:
    """Check user-chosen names against the allowed ones (shared with the panel reader).

    Parameters
    ----------
    chosen
        One name or an iterable of names.
    allowed
        The names accepted, listed in the error message.
    what
        What the names are (``"service"``, ``"covariate"``), used in the message.

    Returns
    -------
    tuple of str
        The chosen names, in the order given.

    Raises
    ------
    ConfigError
        On an unknown or repeated name, or when none is given.
    """
    chosen = (chosen,) if isinstance(chosen, str) else tuple(chosen)
    unknown = [c for c in chosen if c not in allowed]
    if unknown or not chosen:
        raise ConfigError(f"unknown {what}(s) {unknown or '(none given)'}; choose from "
                          f"{list(allowed)}")
    if len(set(chosen)) != len(chosen):
        raise ConfigError(f"{what}s are repeated: {list(chosen)}")
    return chosen


def _check_int_year(year) -> int:
    try:
        if isinstance(year, bool):
            raise ValueError
        return int(str(year).strip())
    except ValueError:
        raise ConfigError(f"year must be a whole number like 2024, got {year!r}") from None


def align_lsoas(frame: pd.DataFrame, lsoa_codes, source: str) -> pd.DataFrame:
    """Index ``frame`` by ``lsoa_code`` in geography order (shared with the panel reader).

    Parameters
    ----------
    frame
        A table with an ``lsoa_code`` column.
    lsoa_codes
        The geography's LSOA codes, in canonical order.
    source
        File name used in error messages.

    Returns
    -------
    pandas.DataFrame
        ``frame`` reindexed to ``lsoa_codes``.

    Raises
    ------
    DataValidationError
        If an LSOA of the geography has no row or the frame has codes outside it.
    """
    indexed = frame.set_index("lsoa_code")
    wanted = pd.Index(lsoa_codes, name="lsoa_code")
    missing = wanted.difference(indexed.index)
    extra = indexed.index.difference(wanted)
    problems = []
    if len(missing):
        problems.append(f"{len(missing)} LSOA(s) of the geography lookup have no row: "
                        f"{list(missing[:8])}")
    if len(extra):
        problems.append(f"column 'lsoa11cd' has {len(extra)} LSOA code(s) not in the "
                        f"geography lookup: {list(extra[:8])}")
    if problems:
        raise DataValidationError(source, problems)
    return indexed.reindex(wanted)
