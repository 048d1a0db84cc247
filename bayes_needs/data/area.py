"""Area-level data: :class:`AreaData`, activity counts per service with LSOA covariates.

:meth:`AreaData.from_frames` validates everything at once and raises a single
:class:`~bayes_needs.core.errors.DataValidationError` naming the file, column, row or code.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bayes_needs.core import dims
from bayes_needs.core.defaults import MAX_COUNT_PER_CHILD
from bayes_needs.core.errors import DataValidationError
from bayes_needs.data._container_checks import (
    RESERVED_COVARIATE_NAMES,
    check_names,
    check_year,
    hash_frame,
    implausible_counts,
    row_at,
    rows_at,
    rows_where,
)
from bayes_needs.data.geography import Geography, as_level
from bayes_needs.data.validation import (
    code_column,
    finite,
    non_negative,
    non_negative_integer,
    numeric_column,
    raise_if,
    report_duplicates,
    validate_frame,
)

_COUNTS_SCHEMA = pa.DataFrameSchema(
    {
        "service": code_column(),
        "level": pa.Column(
            str, pa.Check.isin([dims.LSOA, dims.MSOA, dims.LA],
                               error=f"must be one of {[dims.LSOA, dims.MSOA, dims.LA]}"),
            coerce=True, metadata={"code": True}),
        "area_code": code_column(),
        "count": numeric_column(non_negative_integer()),
    },
    strict=False,
)


@dataclass(frozen=True, eq=False)
class AreaData:
    """Area-level activity counts with LSOA covariates and exposures.

    Each service may be observed at LSOA level in some LAs, MSOA level in others, only as LA
    totals in others and not at all in some; :attr:`observation_level` records which.

    Attributes
    ----------
    geography
        The LSOA -> MSOA -> LA nesting.
    covariates
        LSOA covariates, one row per LSOA in canonical geography order, float columns.
    exposure
        Child population per LSOA (canonical order).
    observations
        Long table with columns ``service, level, area_code, count`` (int64), sorted.
    services
        Service names in model order.
    year
        Data year (informational; checked against any ``year`` column).
    source
        Description of where the data came from.
    """

    geography: Geography
    covariates: pd.DataFrame
    exposure: np.ndarray
    observations: pd.DataFrame
    services: tuple[str, ...]
    year: int | str | None = None
    source: str = "area data"
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_frames(
        cls,
        geography: Geography,
        lsoa_table: pd.DataFrame,
        counts: pd.DataFrame,
        *,
        covariates: list[str] | tuple[str, ...],
        exposure: str = "children",
        services: list[str] | tuple[str, ...] | None = None,
        year: int | str | None = None,
        source: str = "area data",
        lsoa_source: str | None = None,
        counts_source: str | None = None,
    ) -> AreaData:
        """Validate and assemble area data.

        Parameters
        ----------
        geography
            The nesting every code must belong to.
        lsoa_table
            One row per LSOA: ``lsoa_code``, the ``exposure`` column and every covariate.
        counts
            Long table: ``service, level, area_code, count`` (optional ``year``). ``level`` is
            one of ``lsoa``, ``msoa``, ``la``. Within an LA a service must be observed at a
            single level and, at that level, for every unit of the LA. Omit rows for services
            that are not observed (e.g. suppressed) in an LA.
        covariates
            Covariate columns of ``lsoa_table`` to use.
        exposure
            Column of ``lsoa_table`` holding the child population.
        services
            Services to model, in order; defaults to those present in ``counts`` (sorted by
            the canonical service order).
        year
            Declared data year; a ``year`` column in ``counts`` must agree.
        source, lsoa_source, counts_source
            Labels used in error messages.

        Returns
        -------
        AreaData
            The validated data, with observations sorted by service, level and area code.

        Raises
        ------
        DataValidationError
            Listing every problem found in a table.
        """
        lsoa_source = lsoa_source or f"{source} (LSOA table)"
        counts_source = counts_source or f"{source} (counts)"
        if isinstance(covariates, str):
            covariates = [covariates]
        covariates = list(covariates)
        problems = check_names(covariates, "covariate", reserved=RESERVED_COVARIATE_NAMES)
        clash = sorted({"lsoa_code", exposure} & set(covariates))
        if clash:
            problems.append(f"covariate(s) {clash} clash with the LSOA code or exposure column")
        schema = pa.DataFrameSchema(
            {"lsoa_code": code_column(unique=True),
             exposure: numeric_column(non_negative()),
             **{c: numeric_column(finite()) for c in covariates}},
            strict=False,
        )
        raise_if(problems, lsoa_source)
        table = validate_frame(schema, lsoa_table, lsoa_source, min_rows=1)
        known = set(geography.lsoa_codes)
        unknown_rows = ~table["lsoa_code"].isin(known).to_numpy()
        unknown = sorted(set(table["lsoa_code"]) - known)
        missing = sorted(known - set(table["lsoa_code"]))
        if unknown:
            problems.append(f"column 'lsoa_code' has {len(unknown)} code(s) not in the "
                            f"geography: {unknown[:8]} ({rows_where(table, unknown_rows)})")
        if missing:
            problems.append(f"{len(missing)} LSOA(s) of the geography have no row: "
                            f"{missing[:8]}")
        raise_if(problems, lsoa_source)
        table = table.set_index("lsoa_code").loc[geography.lsoa_codes]
        cov = table[covariates].astype(float)
        cov.index.name = dims.LSOA
        expo = table[exposure].to_numpy(dtype=float)
        raise_if(_check_la_exposure(geography, expo, exposure), lsoa_source)

        obs = validate_frame(_COUNTS_SCHEMA, counts, counts_source, min_rows=1)
        present = [s for s in dims.SERVICES if s in set(obs["service"])]
        present += sorted(set(obs["service"]) - set(present))
        if services is None:
            services = tuple(present)
        services = tuple(services)
        problems += check_names(services, "service")
        extra = sorted(set(obs["service"]) - set(services))
        if extra:
            rows = rows_where(obs, ~obs["service"].isin(services).to_numpy())
            problems.append(f"column 'service' has service(s) {extra} not among the declared "
                            f"services {list(services)} ({rows})")
        if not services:
            problems.append("no services: the counts table is empty")
        problems += check_year(obs, year, counts_source)
        problems += report_duplicates(obs, ["service", "level", "area_code"], "count")
        raise_if(problems, counts_source)
        obs = obs[["service", "level", "area_code", "count"]].copy()
        obs["count"] = obs["count"].astype(np.int64)
        problems += _check_observation_levels(geography, obs, expo)
        raise_if(problems, counts_source)
        obs = obs.sort_values(["service", "level", "area_code"]).reset_index(drop=True)
        return cls(geography=geography, covariates=cov, exposure=expo, observations=obs,
                   services=services, year=year, source=source)

    # ------------------------------------------------------------------ views
    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Covariate column names."""
        return tuple(self.covariates.columns)

    @property
    def observation_level(self) -> pd.DataFrame:
        """LA x service table of observation levels (``lsoa``, ``msoa``, ``la`` or ``none``)."""
        if "levels" not in self._cache:
            geo = self.geography
            table = pd.DataFrame(dims.NONE, index=pd.Index(geo.la_codes, name=dims.LA),
                                 columns=pd.Index(self.services, name=dims.SERVICE))
            for (service, level_key), group in self.observations.groupby(["service", "level"]):
                level = as_level(level_key)
                pos = geo.position(level, group["area_code"].to_numpy())
                la = np.unique(geo.parent_index(level, dims.LA)[pos])
                table.iloc[la, self.services.index(str(service))] = level
            self._cache["levels"] = table
        levels: pd.DataFrame = self._cache["levels"]
        return levels

    def observed(self, service: str, level: str) -> tuple[np.ndarray, np.ndarray]:
        """Return the positions and counts of the observations of ``service`` at ``level``.

        Parameters
        ----------
        service
            A service of the data.
        level
            ``"lsoa"``, ``"msoa"`` or ``"la"``.

        Returns
        -------
        positions, counts
            Positions of the observed units at ``level`` (ascending) and their counts; both
            empty when the service is not observed at that level anywhere.
        """
        rows = self.observations[(self.observations["service"] == service)
                                 & (self.observations["level"] == level)]
        pos = self.geography.position(as_level(level), rows["area_code"].to_numpy())
        order = np.argsort(pos, kind="stable")
        return pos[order], rows["count"].to_numpy()[order]

    def la_totals(self) -> pd.DataFrame:
        """Sum the observed counts per LA x service (NaN where not observed).

        Returns
        -------
        pandas.DataFrame
            LA codes as the index, services as the columns.
        """
        geo = self.geography
        out = pd.DataFrame(np.nan, index=pd.Index(geo.la_codes, name=dims.LA),
                           columns=pd.Index(self.services, name=dims.SERVICE))
        for service in self.services:
            for level in (dims.LSOA, dims.MSOA, dims.LA):
                pos, counts = self.observed(service, level)
                if len(pos):
                    la = geo.parent_index(level, dims.LA)[pos]
                    sums = np.bincount(la, weights=counts, minlength=geo.n_la)
                    hit = np.unique(la)
                    out.iloc[hit, self.services.index(service)] = sums[hit]
        return out

    def n_observed_las(self) -> dict[str, int]:
        """Count the LAs with any count, per service.

        Returns
        -------
        dict of str to int
            Number of observed LAs keyed by service.
        """
        levels = self.observation_level
        return {s: int((levels[s] != dims.NONE).sum()) for s in self.services}

    def data_hash(self) -> str:
        """Hash everything a model fit depends on, stably across runs.

        Returns
        -------
        str
            The first 16 hex digits of a SHA-256 over geography, covariates, exposure,
            observations and services.
        """
        if "hash" not in self._cache:
            h = hashlib.sha256(self.geography.fingerprint().encode())
            hash_frame(h, self.covariates.reset_index())
            h.update(np.ascontiguousarray(self.exposure, dtype=float).tobytes())
            hash_frame(h, self.observations)
            h.update("|".join(self.services).encode())
            self._cache["hash"] = h.hexdigest()[:16]
        digest: str = self._cache["hash"]
        return digest

    def subset_services(self, services: Iterable[str]) -> AreaData:
        """Restrict the data to ``services``.

        Parameters
        ----------
        services
            Services of the data to keep, in the order wanted.

        Returns
        -------
        AreaData
            The same geography, covariates and exposure with only those services.

        Raises
        ------
        DataValidationError
            If a service is not in the data.
        """
        services = tuple(services)
        unknown = sorted(set(services) - set(self.services))
        if unknown:
            raise DataValidationError(self.source, [f"unknown service(s) {unknown}; available: "
                                                    f"{list(self.services)}"])
        obs = self.observations[self.observations["service"].isin(services)].reset_index(
            drop=True)
        return AreaData(self.geography, self.covariates, self.exposure, obs, services,
                        self.year, self.source)


def _check_la_exposure(geo: Geography, exposure: np.ndarray, column: str) -> list[str]:
    """Check every LA has a child population (rates are per child; 0 leaves them undefined)."""
    empty = [str(c) for c in np.asarray(geo.la_codes)[geo.aggregate(exposure) <= 0]]
    if not empty:
        return []
    which = "every LA" if len(empty) == geo.n_la else f"{len(empty)} LA(s) {empty[:8]}"
    return [f"column '{column}' is 0 in every LSOA of {which}; each LA needs a child "
            f"population, since demand is modelled per child"]


def _check_observation_levels(geo: Geography, obs: pd.DataFrame,
                              exposure: np.ndarray) -> list[str]:
    """Check each (service, LA) is observed at one level, completely, with known codes."""
    obs = obs.copy()  # a scratch column is added below; leave the caller's frame alone
    problems: list[str] = []
    for (service_key, level_key), group in obs.groupby(["service", "level"], sort=True):
        service, level = str(service_key), as_level(level_key)
        codes = group["area_code"].to_numpy(dtype=object)
        at = obs.index.get_indexer(group.index)  # positions of the group's rows in obs
        try:
            pos = geo.position(level, codes, what=f"service '{service}' at level '{level}'")
        except DataValidationError as exc:
            rows = rows_at(obs.index, at[~np.isin(codes, geo.codes(level))])
            problems += [f"service '{service}': {p} (column 'area_code', {rows})"
                         for p in exc.problems]
            continue
        la = geo.parent_index(level, dims.LA)[pos]
        units_per_la = np.bincount(geo.parent_index(level, dims.LA), minlength=geo.n_la)
        seen_per_la = np.bincount(la, minlength=geo.n_la)
        partial = np.flatnonzero((seen_per_la > 0) & (seen_per_la < units_per_la))
        for i in partial[:5]:
            problems.append(
                f"service '{service}': LA {geo.la_codes[i]} has counts for only "
                f"{seen_per_la[i]} of its {units_per_la[i]} {level.upper()}s; a service must "
                f"be observed for every {level.upper()} of an LA, or at a coarser level")
        if len(partial) > 5:
            problems.append(f"service '{service}': {len(partial) - 5} more LAs partially "
                            f"observed at {level} level")
        expo = geo.aggregate(exposure, dims.LSOA, level)[pos]
        counts = group["count"].to_numpy()
        bad = np.flatnonzero((expo <= 0) & (counts > 0))
        if len(bad):
            problems.append(f"service '{service}': column 'count' is positive where the "
                            f"exposure is zero, at {level.upper()}(s) {list(codes[bad][:5])} "
                            f"({rows_at(obs.index, at[bad])})")
        for i in implausible_counts(counts, expo)[:5]:
            unit = "" if level == dims.LA else f"{level.upper()} {codes[i]} in "
            problems.append(
                f"service '{service}', {unit}LA {geo.la_codes[la[i]]} "
                f"({row_at(obs.index, at[i])}): column 'count' holds {counts[i]}, which is "
                f"{counts[i] / expo[i]:.3g} per child of its {expo[i]:g} children (exposure); "
                f"more than {MAX_COUNT_PER_CHILD:g} per child cannot be right (a thousands "
                f"separator, a unit or a typing error?)")
        # Mixed levels within one LA are checked across the level groups below.
        obs.loc[group.index, "_la"] = la
    if "_la" in obs.columns:
        mixed = obs.groupby(["service", "_la"])["level"].nunique()
        for service, la in mixed[mixed > 1].head(5).index:
            levels = sorted(obs.loc[(obs["service"] == service) & (obs["_la"] == la), "level"]
                            .unique())
            problems.append(f"service '{service}': LA {geo.la_codes[int(la)]} has counts at "
                            f"several levels {levels}; use exactly one level per LA and "
                            f"service")
    return problems
