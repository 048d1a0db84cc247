"""Checks of the tables :meth:`bayes_needs.data.panel.PanelData.from_frames` assembles.

Each check returns the assembled piece (or ``None`` when the table is unusable) and a list of
problems, so the container can report every problem of every table in one
:class:`~bayes_needs.core.errors.DataValidationError`. A problem names the table, and for a
cell the service, LA code and year, plus the file and line when the table carries ``file``
and ``line`` columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError, DataValidationError
from bayes_needs.data._container_checks import RESERVED_COVARIATE_NAMES, check_names, first_rows
from bayes_needs.data.geography import Geography
from bayes_needs.data.validation import (
    MAX_COUNT,
    MAX_MAGNITUDE,
    code_column,
    finite,
    non_negative,
    numeric_column,
    raise_if,
    validate_frame,
)

LA_CODE = "la_code"
#: Columns of the provenance table :attr:`bayes_needs.data.panel.PanelData.origins`.
ORIGIN_COLUMNS: tuple[str, ...] = ("service", LA_CODE, dims.YEAR, "origin", "detail")
MAX_SHOWN = 5


def assemble(geography: Geography, lsoa_frame: Any, exposure_frame: Any, counts_frame: Any, *,
             covariates: Any, weight: str, services: Any, source: str,
             origins: pd.DataFrame | None) -> dict[str, Any]:
    """Check every table of a panel and return the validated fields of the container.

    Raises
    ------
    DataValidationError
        Listing every problem of every table.
    """
    covariates = [covariates] if isinstance(covariates, str) else list(covariates)
    problems = check_names(covariates, "covariate", reserved=RESERVED_COVARIATE_NAMES)
    clash = sorted({"lsoa_code", weight} & set(covariates))
    if clash:
        problems.append(f"covariate(s) {clash} clash with the LSOA code or weight column")
    service_names = panel_services(services, counts_frame)
    problems += check_names(service_names, "service")
    raise_if(problems, source)
    cov, lsoa_weight, found = lsoa_part(geography, lsoa_frame, covariates=covariates,
                                        weight=weight, source=f"{source} (LSOA table)")
    problems += found
    exposure, found = exposure_part(geography, exposure_frame,
                                    source=f"{source} (exposure table)")
    problems += found
    counts, found = count_part(geography, counts_frame, services=service_names,
                               exposure=exposure, source=f"{source} (counts table)")
    problems += found
    if origins is not None:
        missing = [c for c in ORIGIN_COLUMNS if c not in origins.columns]
        if missing:
            problems.append(f"{source} (origins table): missing required column(s) {missing}")
    raise_if(problems, source)
    assert cov is not None and lsoa_weight is not None and exposure is not None  # no problems
    return {"covariates": cov, "lsoa_weight": lsoa_weight, "exposure": exposure,
            "years": tuple(int(y) for y in exposure.columns), "counts": counts,
            "origins": None if origins is None else origins.reset_index(drop=True)}


def panel_services(services: Any, counts_frame: Any) -> tuple[str, ...]:
    """Return the services given, or those of ``counts_frame`` in the canonical order."""
    if services is None:
        if not isinstance(counts_frame, pd.DataFrame) or "service" not in counts_frame.columns:
            return ()
        found = set(counts_frame["service"].astype(str).str.strip())
        return tuple([s for s in dims.SERVICES if s in found] + sorted(found - set(dims.SERVICES)))
    return (services,) if isinstance(services, str) else tuple(services)


def lsoa_part(geography: Geography, frame: pd.DataFrame, *, covariates: list[str],
              weight: str, source: str) -> tuple[pd.DataFrame | None, np.ndarray | None,
                                                 list[str]]:
    """Check the LSOA table: one row per LSOA with finite covariates and a weight >= 0.

    Returns
    -------
    covariates, weight, problems
        Covariates indexed by LSOA in geography order and the weights (``None`` when the
        table is unusable), and the problems found.
    """
    schema = pa.DataFrameSchema(
        {"lsoa_code": code_column(unique=True), weight: numeric_column(non_negative()),
         **{c: numeric_column(finite()) for c in covariates}}, strict=False)
    try:
        table = validate_frame(schema, frame, source, min_rows=1)
    except DataValidationError as exc:
        return None, None, [f"{source}: {p}" for p in exc.problems]
    problems = []
    known = set(geography.lsoa_codes)
    unknown = sorted(set(table["lsoa_code"]) - known)
    missing = sorted(known - set(table["lsoa_code"]))
    if unknown:
        rows = first_rows(~table["lsoa_code"].isin(known).to_numpy())
        problems.append(f"{source}: column 'lsoa_code' has {len(unknown)} code(s) not in the "
                        f"geography: {unknown[:8]} (row(s) {rows})")
    if missing:
        problems.append(f"{source}: {len(missing)} LSOA(s) of the geography have no row: "
                        f"{missing[:8]}")
    if problems:
        return None, None, problems
    table = table.set_index("lsoa_code").loc[geography.lsoa_codes]
    values = table[weight].to_numpy(dtype=float)
    totals = np.bincount(geography.lsoa_to_la, weights=values, minlength=geography.n_la)
    empty = geography.la_codes[totals <= 0]
    if len(empty):
        problems.append(f"{source}: column '{weight}' sums to zero over every LSOA of LA(s) "
                        f"{list(empty[:8])}, so their exposure cannot be spread over LSOAs")
    cov = table[covariates].astype(float)
    cov.index.name = dims.LSOA
    return cov, values, problems


def exposure_part(geography: Geography, frame: pd.DataFrame, *,
                  source: str) -> tuple[pd.DataFrame | None, list[str]]:
    """Check the exposure table ``la_code, year, exposure`` and pivot it to LA x year.

    Every LA needs a finite exposure > 0 in every year, and the years must be consecutive.

    Returns
    -------
    exposure, problems
        LA x year exposure, NaN where a row is missing or invalid (``None`` when the table is
        unusable), and the problems found.
    """
    problems = _missing_columns(frame, [LA_CODE, dims.YEAR, "exposure"], source)
    if problems:
        return None, problems
    table, problems = _keyed(geography, frame, source)
    value = pd.to_numeric(frame["exposure"], errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(value) & (value > 0) & (value <= MAX_MAGNITUDE))
    for i in _shown(bad & table["ok"].to_numpy(), problems, source, "exposure row(s)"):
        problems.append(f"{source}: {_where(table, i)}: exposure must be a finite number "
                        f"> 0, got {_raw(frame['exposure'].iloc[i])!r}")
    problems += _duplicates(table, [LA_CODE, dims.YEAR], source)
    usable = table[table["ok"]]
    years = sorted(set(usable[dims.YEAR]))
    if not years:
        return None, [*problems, f"{source}: no usable exposure rows"]
    gaps = sorted(set(range(years[0], years[-1] + 1)) - set(years))
    if gaps:
        problems.append(f"{source}: years must be consecutive; no exposure for year(s) "
                        f"{gaps} between {years[0]} and {years[-1]}")
    years = list(range(years[0], years[-1] + 1))
    grid = np.full((geography.n_la, len(years)), np.nan)
    good = usable.index[~bad[usable.index]]
    # Last row wins on duplicates; they are reported above.
    grid[usable.loc[good, "_la"].to_numpy(),
         usable.loc[good, dims.YEAR].to_numpy(dtype=np.int64) - years[0]] = value[good]
    wide = pd.DataFrame(grid, index=pd.Index(geography.la_codes, name=LA_CODE),
                        columns=pd.Index(years, name=dims.YEAR))
    holes = wide.isna()
    for la in list(holes.index[holes.any(axis=1)])[:MAX_SHOWN]:
        missing = [int(y) for y in holes.columns[holes.loc[la]]]
        problems.append(f"{source}: LA {la} has no valid exposure (child population) for "
                        f"year(s) {missing}")
    n_holes = int(holes.any(axis=1).sum())
    if n_holes > MAX_SHOWN:
        problems.append(f"{source}: ... and {n_holes - MAX_SHOWN} more LA(s) without a valid "
                        f"exposure in some year")
    return wide, problems


def count_part(geography: Geography, frame: pd.DataFrame, *, services: tuple[str, ...],
               exposure: pd.DataFrame | None,
               source: str) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Check the long counts table ``service, la_code, year, count`` and pivot each service.

    A count must be a non-negative whole number or missing (NaN or blank); it needs a valid
    exposure for its LA and year; (service, LA, year) must be unique.

    Returns
    -------
    counts, problems
        Service -> LA x year counts over the exposure years (NaN where missing) and the
        problems found.
    """
    problems = _missing_columns(frame, ["service", LA_CODE, dims.YEAR, "count"], source)
    if problems:
        return {}, problems
    table, problems = _keyed(geography, frame, source)
    service = frame["service"].astype(str).str.strip().to_numpy()
    table["service"] = service
    unknown = sorted(set(service) - set(services))
    for name in unknown:
        problems.append(f"{source}: service {name!r} is not among the services "
                        f"{list(services)} (at {_lines(table, service == name)})")
    raw = frame["count"]
    value = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    blank = raw.isna().to_numpy() | (raw.astype(str).str.strip() == "").to_numpy()
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(value) & (value >= 0) & (value <= MAX_COUNT) & (
            np.floor(value) == value)
    bad = ~valid & ~blank
    for i in _shown(bad, problems, source, "count row(s)"):
        problems.append(f"{source}: {_where(table, i)}: count must be a non-negative whole "
                        f"number (or missing), got {_raw(raw.iloc[i])!r}")
    problems += _duplicates(table.assign(service=service), ["service", LA_CODE, dims.YEAR],
                            source)
    present = valid & table["ok"].to_numpy() & np.isin(service, services)
    if exposure is not None:
        year = table[dims.YEAR].fillna(-1).to_numpy(dtype=np.int64)
        col = exposure.columns.get_indexer(pd.Index(year))
        la = table["_la"].to_numpy()
        have = np.zeros(len(table), dtype=bool)
        inside = present & (col >= 0)
        have[inside] = exposure.to_numpy()[la[inside], col[inside]] > 0
        for i in _shown(present & ~have, problems, source, "count row(s)"):
            problems.append(f"{source}: {_where(table, i)}: has a count but no exposure "
                            f"(child population) for LA {table[LA_CODE].iloc[i]} in year "
                            f"{table[dims.YEAR].iloc[i]}")
        present &= have
    if not present.any() and not problems:
        problems.append(f"{source}: no counts: every count is missing")
    if exposure is None or problems:
        return {}, problems
    counts = {}
    for name in services:
        grid = np.full(exposure.shape, np.nan)
        rows = present & (service == name)
        grid[table["_la"].to_numpy()[rows], col[rows]] = value[rows]
        counts[name] = pd.DataFrame(grid, index=exposure.index, columns=exposure.columns)
    return counts, problems


def choose(chosen: Any, allowed: Iterable[str], what: str, *,
           empty_ok: bool = False) -> tuple[str, ...]:
    """Check names picked from ``allowed``, in the order given.

    Raises
    ------
    ConfigError
        On an unknown or repeated name, or no name unless ``empty_ok``; lists the choices.
    """
    chosen = (chosen,) if isinstance(chosen, str) else tuple(chosen)
    allowed = list(allowed)
    unknown = [c for c in chosen if c not in allowed]
    if unknown or len(set(chosen)) != len(chosen) or not (chosen or empty_ok):
        raise ConfigError(f"{what}(s) {unknown or list(chosen)} are unknown, repeated or "
                          f"none; choose from {allowed}")
    return chosen


def check_year_in(year: Any, allowed: Iterable[int], what: str) -> None:
    """Raise :class:`ConfigError` naming ``year`` and the span of ``allowed`` if outside it."""
    allowed = list(allowed)
    if isinstance(year, bool) or not isinstance(year, (int, np.integer)) \
            or int(year) not in allowed:
        raise ConfigError(f"year {year!r} is outside the {what} {allowed[0]}-{allowed[-1]}")


# ---------------------------------------------------------------------- helpers
def _missing_columns(frame: Any, required: list[str], source: str) -> list[str]:
    if not isinstance(frame, pd.DataFrame):
        return [f"{source}: expected a pandas DataFrame, got {type(frame).__name__}"]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        return [f"{source}: missing required column(s) {missing}; columns present: "
                f"{[str(c) for c in frame.columns]}"]
    if frame.empty:
        return [f"{source}: the table has no rows"]
    return []


def _keyed(geography: Geography, frame: pd.DataFrame,
           source: str) -> tuple[pd.DataFrame, list[str]]:
    """Tabulate clean LA codes, LA positions, integer years and an ``ok`` flag per row."""
    problems = []
    codes = frame[LA_CODE].map(lambda v: v.strip() if isinstance(v, str) else v)
    table = pd.DataFrame({LA_CODE: codes.to_numpy(dtype=object)})
    for extra in ("file", "line"):
        if extra in frame.columns:
            table[extra] = frame[extra].array  # positional; Int64 lines stay whole
    la = pd.Index(geography.la_codes, dtype=object).get_indexer(table[LA_CODE])
    table["_la"] = la
    unknown = pd.unique(table.loc[la < 0, LA_CODE])
    if len(unknown):
        problems.append(f"{source}: column '{LA_CODE}' has {len(unknown)} LA code(s) not in "
                        f"the geography: {[str(c) for c in unknown[:8]]} (at "
                        f"{_lines(table, la < 0)})")
    years, whole = whole_years(frame[dims.YEAR], table, source, problems)
    table[dims.YEAR] = pd.array(np.where(whole, years, np.nan), dtype="Int64")
    table["ok"] = (la >= 0) & whole
    return table, problems


def _duplicates(table: pd.DataFrame, keys: list[str], source: str) -> list[str]:
    dup = table.duplicated(subset=keys, keep=False).to_numpy()
    if not dup.any():
        return []
    examples = table.loc[dup, keys].drop_duplicates().head(3)
    shown = "; ".join(", ".join(f"{k} {v}" for k, v in row.items())
                      for row in examples.astype(str).to_dict("records"))
    return [f"{source}: {int(dup.sum())} duplicate row(s) on {keys} (at {_lines(table, dup)}), "
            f"e.g. {shown}"]


def _shown(mask: np.ndarray, problems: list[str], source: str, what: str) -> list[int]:
    """First rows of ``mask`` to describe one by one; a summary line counts the rest."""
    rows = [int(i) for i in np.flatnonzero(mask)]
    if len(rows) > MAX_SHOWN:
        problems.append(f"{source}: {len(rows)} bad {what} in all; the first {MAX_SHOWN} "
                        f"follow")
    return rows[:MAX_SHOWN]


def _where(table: pd.DataFrame, i: int) -> str:
    """``service 'cin', LA E06000001, year 2015 (file f, line 17)`` for row ``i``."""
    row = table.iloc[i]
    parts = [f"service {row['service']!r}"] if "service" in table.columns else []
    parts += [f"LA {row[LA_CODE]}", f"year {row[dims.YEAR]}"]
    return ", ".join(parts) + _origin(table, i)


def _origin(table: pd.DataFrame, i: int) -> str:
    bits = []
    if "file" in table.columns:
        bits.append(f"file {table['file'].iloc[i]}")
    if "line" not in table.columns:
        bits.append(f"row {i}")
    elif not pd.isna(table["line"].iloc[i]):  # no line: a value built from several rows
        bits.append(f"line {table['line'].iloc[i]}")
    return f" ({', '.join(bits)})" if bits else ""


def whole_years(column: Any, table: pd.DataFrame, source: str, problems: list[str]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Parse a year column; note its non-whole entries (with ``table``'s lines) in ``problems``.

    Returns the years as floats and the mask of the rows holding a whole year.
    """
    column = pd.Series(column)
    years = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(years) & (np.floor(years) == years)
    if not whole.all():
        problems.append(f"{source}: column '{dims.YEAR}' must hold whole years; found "
                        f"{[_raw(v) for v in column[~whole].head(MAX_SHOWN)]} (at "
                        f"{_lines(table, ~whole)})")
    return years, whole


def _lines(table: pd.DataFrame, mask: Any) -> str:
    rows = first_rows(mask)
    if "line" in table.columns:
        return f"line(s) {[_raw(v) for v in table['line'].iloc[rows] if not pd.isna(v)]}"
    return f"row(s) {rows}"


def _raw(value: Any) -> Any:
    """Return a cell as a plain Python value for messages."""
    return value.item() if isinstance(value, np.generic) else value
