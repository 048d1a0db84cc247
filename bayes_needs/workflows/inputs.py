"""Load the area data a run config describes (real England, synthetic, or CSV files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayes_needs.config.run import DataSpec
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError, MissingDataError
from bayes_needs.data.area import AreaData
from bayes_needs.data.geography import Geography
from bayes_needs.data.readers._csv import CsvRows, read_csv_rows
from bayes_needs.data.readers.england import (
    DEFAULT_COVARIATES,
    DEFAULT_SERVICES,
    england_area_data,
)
from bayes_needs.simulate.area import generate_area

#: Columns a ``--geography`` and a ``--counts`` file may have (the LSOA table's other columns
#: are covariates). Anything else is refused: it is usually a misnamed required column.
GEOGRAPHY_COLUMNS = ("lsoa_code", "msoa_code", "la_code", "lsoa_name", "msoa_name", "la_name")
COUNTS_COLUMNS = ("service", "level", "area_code", "count", "year")


def load_area_data(spec: DataSpec) -> tuple[AreaData, dict[str, Any]]:
    """Build :class:`AreaData` from ``spec``.

    Parameters
    ----------
    spec
        The data section of a run config.

    Returns
    -------
    data, info
        The data and a JSON-able description of how they were obtained (stored with a fit so
        ``allocate`` can reload the same data and check its hash). For synthetic data ``info``
        also holds the truth under ``"synthetic"`` (not JSON-able; dropped when stored).
    """
    if spec.source == "england":
        if spec.data_dir is None or spec.year is None:
            raise ConfigError("real England data need --data-dir DIR and --year YEAR")
        data, report = england_area_data(
            Path(spec.data_dir), year=spec.year,
            services=tuple(spec.services) if spec.services else DEFAULT_SERVICES,
            covariates=tuple(spec.covariates) if spec.covariates else DEFAULT_COVARIATES)
        return data, {"report": report.to_dict()}
    if spec.source == "synthetic":
        synthetic = generate_area(
            spec.scale, random_seed=spec.data_seed,
            services=tuple(spec.services) if spec.services else dims.SERVICES)
        data = synthetic.data
        if spec.covariates:
            data = AreaData(data.geography, data.covariates[list(spec.covariates)],
                            data.exposure, data.observations, data.services, data.year,
                            data.source)
        return data, {"synthetic": synthetic}
    return _load_files(spec), {}


def _load_files(spec: DataSpec) -> AreaData:
    """Read the three CSV files of data source ``"files"``."""
    given = {"geography": spec.geography, "lsoa_table": spec.lsoa_table,
             "counts": spec.counts}
    missing = [k for k, v in given.items() if not v]
    if missing:
        raise ConfigError(f"data source 'files' needs {missing} (--geography, --lsoa-table, "
                          f"--counts)")
    paths = {key: Path(str(value)) for key, value in given.items()}
    for key, path in paths.items():
        if not path.is_file():
            raise MissingDataError(f"{key} file {path} does not exist")
    # Each table keeps its file lines as its index, so every message names them.
    geo_rows = read_csv_rows(paths["geography"])
    geo_frame = geo_rows.frame(["lsoa_code", "msoa_code", "la_code"],
                               optional=["lsoa_name", "msoa_name", "la_name"])
    _reject_unknown_columns(geo_rows, GEOGRAPHY_COLUMNS)

    def name_column(level: str) -> str | None:
        return f"{level}_name" if f"{level}_name" in geo_frame else None

    geography = Geography.from_frame(geo_frame, source=str(spec.geography),
                                     lsoa_name=name_column("lsoa"),
                                     msoa_name=name_column("msoa"), la_name=name_column("la"))
    lsoa_rows = read_csv_rows(paths["lsoa_table"])
    covariates = list(spec.covariates) if spec.covariates else [
        c for c in lsoa_rows.header if c not in ("lsoa_code", spec.exposure, "lsoa_name")]
    lsoa = lsoa_rows.frame(["lsoa_code", spec.exposure, *covariates])
    count_rows = read_csv_rows(paths["counts"])
    counts = count_rows.frame(["service", "level", "area_code", "count"], optional=["year"])
    _reject_unknown_columns(count_rows, COUNTS_COLUMNS)
    return AreaData.from_frames(
        geography, lsoa, counts, covariates=covariates, exposure=spec.exposure,
        services=spec.services, year=spec.year, source="area data files",
        lsoa_source=str(spec.lsoa_table), counts_source=str(spec.counts))


def _reject_unknown_columns(rows: CsvRows, allowed: tuple[str, ...]) -> None:
    """Refuse a file with columns other than ``allowed``."""
    unknown = [c for c in rows.header if c not in allowed]
    if unknown:
        raise DataValidationError(rows.source, [f"unknown column(s) {unknown} in the header "
                                                f"(line {rows.header_line}); allowed "
                                                f"columns: {list(allowed)}"])
