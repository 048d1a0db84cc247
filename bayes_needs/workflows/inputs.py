"""Load the area data a run config describes (real England, synthetic, or CSV files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bayes_needs.config.run import DataSpec
from bayes_needs.core.errors import ConfigError, MissingDataError
from bayes_needs.data.containers import AreaData
from bayes_needs.data.geography import Geography


def load_area_data(spec: DataSpec) -> tuple[AreaData, dict[str, Any]]:
    """Build :class:`AreaData` from ``spec``.

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
        from bayes_needs.data.readers import england_area_data

        kwargs = {}
        if spec.services:
            kwargs["services"] = tuple(spec.services)
        if spec.covariates:
            kwargs["covariates"] = tuple(spec.covariates)
        data, report = england_area_data(Path(spec.data_dir), year=spec.year, **kwargs)
        return data, {"report": report.to_dict()}
    if spec.source == "synthetic":
        from bayes_needs.simulate.synthetic import generate_area

        kwargs = {"services": tuple(spec.services)} if spec.services else {}
        synthetic = generate_area(spec.scale, random_seed=spec.data_seed, **kwargs)
        data = synthetic.data
        if spec.covariates:
            data = AreaData(data.geography, data.covariates[list(spec.covariates)],
                            data.exposure, data.observations, data.services, data.year,
                            data.source)
        return data, {"synthetic": synthetic}
    return _load_files(spec), {}


def _load_files(spec: DataSpec) -> AreaData:
    from bayes_needs.data.readers._files import read_text_csv

    paths = {"geography": spec.geography, "lsoa_table": spec.lsoa_table, "counts": spec.counts}
    missing = [k for k, v in paths.items() if not v]
    if missing:
        raise ConfigError(f"data source 'files' needs {missing} (--geography, --lsoa-table, "
                          f"--counts)")
    for key, value in paths.items():
        if not Path(value).is_file():
            raise MissingDataError(f"{key} file {value} does not exist")
    geo_frame = read_text_csv(Path(spec.geography), ["lsoa_code", "msoa_code", "la_code"],
                              optional=["lsoa_name", "msoa_name", "la_name"])
    _reject_unknown_columns(Path(spec.geography), GEOGRAPHY_COLUMNS)
    names = {f"{lvl}_name": f"{lvl}_name" if f"{lvl}_name" in geo_frame else None
             for lvl in ("lsoa", "msoa", "la")}
    geography = Geography.from_frame(geo_frame, source=str(spec.geography), **names)
    lsoa = read_text_csv(Path(spec.lsoa_table), ["lsoa_code", spec.exposure],
                         optional=spec.covariates or ())
    if not spec.covariates:
        header = [c for c in _header(Path(spec.lsoa_table))
                  if c not in ("lsoa_code", spec.exposure, "lsoa_name")]
        lsoa = read_text_csv(Path(spec.lsoa_table), ["lsoa_code", spec.exposure, *header])
        covariates = header
    else:
        covariates = list(spec.covariates)
    counts = read_text_csv(Path(spec.counts), ["service", "level", "area_code", "count"],
                           optional=["year"])
    _reject_unknown_columns(Path(spec.counts), COUNTS_COLUMNS)
    return AreaData.from_frames(
        geography, lsoa.drop(columns="line"), counts.drop(columns="line"),
        covariates=covariates, exposure=spec.exposure, services=spec.services, year=spec.year,
        source="area data files", lsoa_source=str(spec.lsoa_table),
        counts_source=str(spec.counts))


#: Columns a ``--geography`` and a ``--counts`` file may have (the LSOA table's other columns
#: are covariates). Anything else is refused: it is usually a misnamed required column.
GEOGRAPHY_COLUMNS = ("lsoa_code", "msoa_code", "la_code", "lsoa_name", "msoa_name", "la_name")
COUNTS_COLUMNS = ("service", "level", "area_code", "count", "year")


def _reject_unknown_columns(path: Path, allowed: tuple[str, ...]) -> None:
    from bayes_needs.core.errors import DataValidationError

    header = _header(path)  # called after read_text_csv has read the file successfully
    unknown = [c for c in header if c not in allowed]
    if unknown:
        raise DataValidationError(str(path), [f"unknown column(s) {unknown}; allowed columns: "
                                              f"{list(allowed)}"])


def _header(path: Path) -> list[str]:
    import pandas as pd

    return list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
