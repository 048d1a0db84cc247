"""Validated data containers: :class:`AreaData`, :class:`PersonData`, :class:`SpendData`,
:class:`UnitCosts`.

Each container is built with ``from_frames`` which validates everything at once and raises a
single :class:`~bayes_needs.core.errors.DataValidationError` naming the file, column, row or code.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from bayes_needs.core import dims
from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.geography import Geography
from bayes_needs.data.validation import (
    code_column,
    finite,
    non_negative,
    non_negative_integer,
    numeric_column,
    positive,
    raise_if,
    report_duplicates,
    validate_frame,
)

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")


def _check_names(names, what: str) -> list[str]:
    names = list(names)
    bad = [n for n in names if not isinstance(n, str) or not _NAME_RE.match(n)]
    problems = [f"{what} name(s) {bad} must be lower-case identifiers like 'cla_weeks'"] if bad \
        else []
    repeated = sorted({n for n in names if isinstance(n, str) and names.count(n) > 1})
    if repeated:
        problems.append(f"{what} name(s) {repeated} are listed more than once")
    return problems


def _rows(mask) -> list[int]:
    """First few 0-based row positions where ``mask`` is true, as plain ints."""
    return [int(i) for i in np.flatnonzero(np.asarray(mask))[:5]]


def _hash_frame(h, frame: pd.DataFrame) -> None:
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())


def _year_label(value) -> str:
    """Year as text; 2024, 2024.0, '2024' and ' 2024 ' all read as '2024'."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _check_year(frame: pd.DataFrame, year, source: str) -> list[str]:
    """A ``year`` column must hold one year, equal to the declared ``year`` if given."""
    if "year" not in frame.columns:
        return []
    values = frame["year"]
    missing = values.isna().to_numpy()
    seen = sorted({_year_label(v) for v in values[~missing]})
    problems = []
    if missing.any():
        problems.append(f"column 'year' is empty at {int(missing.sum())} row(s), first at "
                        f"row(s) {_rows(missing)}")
    if year is not None and seen and seen != [_year_label(year)]:
        wrong = ~missing & (values.map(_year_label) != _year_label(year)).to_numpy()
        problems.append(f"column 'year' holds {seen} but the data are declared for year "
                        f"{year!r} (mismatched years in {source}, first at row(s) "
                        f"{_rows(wrong)})")
    elif year is None and len(seen) > 1:
        problems.append(f"column 'year' holds several years {seen}; give one year per table "
                        f"(mismatched years in {source})")
    return problems


# ====================================================================== area data
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
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

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
        """
        lsoa_source = lsoa_source or f"{source} (LSOA table)"
        counts_source = counts_source or f"{source} (counts)"
        if isinstance(covariates, str):
            covariates = [covariates]
        covariates = list(covariates)
        problems = _check_names(covariates, "covariate") if covariates else []
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
                            f"geography: {unknown[:8]} (row(s) {_rows(unknown_rows)})")
        if missing:
            problems.append(f"{len(missing)} LSOA(s) of the geography have no row: "
                            f"{missing[:8]}")
        raise_if(problems, lsoa_source)
        table = table.set_index("lsoa_code").loc[geography.lsoa_codes]
        cov = table[covariates].astype(float)
        cov.index.name = dims.LSOA
        expo = table[exposure].to_numpy(dtype=float)

        obs = validate_frame(_COUNTS_SCHEMA, counts, counts_source, min_rows=1)
        present = [s for s in dims.SERVICES if s in set(obs["service"])]
        present += sorted(set(obs["service"]) - set(present))
        if services is None:
            services = tuple(present)
        services = tuple(services)
        problems += _check_names(services, "service")
        extra = sorted(set(obs["service"]) - set(services))
        if extra:
            rows = _rows(~obs["service"].isin(services).to_numpy())
            problems.append(f"column 'service' has service(s) {extra} not among the declared "
                            f"services {list(services)} (row(s) {rows})")
        if not services:
            problems.append("no services: the counts table is empty")
        problems += _check_year(obs, year, counts_source)
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
            for (service, level), group in self.observations.groupby(["service", "level"]):
                pos = geo.position(level, group["area_code"].to_numpy())
                la = np.unique(geo.parent_index(level, dims.LA)[pos])
                table.iloc[la, self.services.index(service)] = level
            self._cache["levels"] = table
        return self._cache["levels"]

    def observed(self, service: str, level: str) -> tuple[np.ndarray, np.ndarray]:
        """Positions (at ``level``) and counts of the observations of ``service`` at ``level``."""
        rows = self.observations[(self.observations["service"] == service)
                                 & (self.observations["level"] == level)]
        pos = self.geography.position(level, rows["area_code"].to_numpy())
        order = np.argsort(pos, kind="stable")
        return pos[order], rows["count"].to_numpy()[order]

    def la_totals(self) -> pd.DataFrame:
        """Observed totals per LA x service (NaN where not observed)."""
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
        """Number of LAs with any count, per service."""
        levels = self.observation_level
        return {s: int((levels[s] != dims.NONE).sum()) for s in self.services}

    def data_hash(self) -> str:
        """Stable hash of everything a model fit depends on."""
        if "hash" not in self._cache:
            h = hashlib.sha256(self.geography.fingerprint().encode())
            _hash_frame(h, self.covariates.reset_index())
            h.update(np.ascontiguousarray(self.exposure, dtype=float).tobytes())
            _hash_frame(h, self.observations)
            h.update("|".join(self.services).encode())
            self._cache["hash"] = h.hexdigest()[:16]
        return self._cache["hash"]

    def subset_services(self, services) -> AreaData:
        """The same data restricted to ``services``."""
        services = tuple(services)
        unknown = sorted(set(services) - set(self.services))
        if unknown:
            raise DataValidationError(self.source, [f"unknown service(s) {unknown}; available: "
                                                    f"{list(self.services)}"])
        obs = self.observations[self.observations["service"].isin(services)].reset_index(
            drop=True)
        return AreaData(self.geography, self.covariates, self.exposure, obs, services,
                        self.year, self.source)


def _check_observation_levels(geo: Geography, obs: pd.DataFrame,
                              exposure: np.ndarray) -> list[str]:
    """Each (service, LA) is observed at one level, completely, with known codes."""
    obs = obs.copy()  # a scratch column is added below; leave the caller's frame alone
    problems: list[str] = []
    for (service, level), group in obs.groupby(["service", "level"], sort=True):
        codes = group["area_code"].to_numpy(dtype=object)
        try:
            pos = geo.position(level, codes, what=f"service '{service}' at level '{level}'")
        except DataValidationError as exc:
            rows = [int(i) for i in group.index[~np.isin(codes, geo.codes(level))][:5]]
            problems += [f"service '{service}': {p} (column 'area_code', row(s) {rows})"
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
        bad = np.flatnonzero((expo <= 0) & (group["count"].to_numpy() > 0))
        if len(bad):
            rows = [int(i) for i in group.index[bad][:5]]
            problems.append(f"service '{service}': column 'count' is positive where the "
                            f"exposure is zero, at {level.upper()}(s) {list(codes[bad][:5])} "
                            f"(row(s) {rows})")
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


# ====================================================================== person data
@dataclass(frozen=True, eq=False)
class PersonData:
    """Child-level records with declared covariates, home LSOA, exposure and outcomes.

    Attributes
    ----------
    geography
        The nesting every home LSOA must belong to.
    records
        One row per child: ``lsoa_code``, ``exposure`` (fraction of the year observed, in
        (0, 1]), ``age_band``, ``sex``, every declared covariate and one outcome column per
        service.
    covariates
        Declared child covariate columns (categorical).
    services
        Outcome columns.
    population
        ONS mid-year population by ``la_code, age_band, sex`` with column ``population``,
        used to top up children the records do not cover.
    year
        Data year.
    """

    geography: Geography
    records: pd.DataFrame
    covariates: tuple[str, ...]
    services: tuple[str, ...]
    population: pd.DataFrame
    year: int | str | None = None
    source: str = "person data"

    @classmethod
    def from_frames(
        cls,
        geography: Geography,
        records: pd.DataFrame,
        population: pd.DataFrame,
        *,
        covariates: list[str] | tuple[str, ...],
        services: list[str] | tuple[str, ...],
        year: int | str | None = None,
        source: str = "person data",
        population_source: str | None = None,
    ) -> PersonData:
        """Validate and assemble person-level data (see the class docstring for columns)."""
        covariates, services = tuple(covariates), tuple(services)
        problems = _check_names(covariates, "covariate") + _check_names(services, "service")
        raise_if(problems, source)
        columns = {
            "lsoa_code": code_column(),
            "exposure": numeric_column(pa.Check(
                lambda s: np.isfinite(s) & (s >= 0) & (s <= 1),
                error="must be a fraction of the year in [0, 1]")),
            "age_band": code_column(),
            "sex": code_column(),
            **{c: code_column() for c in covariates if c not in ("age_band", "sex")},
            **{s: numeric_column(non_negative_integer()) for s in services},
        }
        recs = validate_frame(pa.DataFrameSchema(columns, strict=False), records, source,
                              min_rows=1)
        if "child_id" in recs.columns:
            problems += report_duplicates(recs, ["child_id"], "child")
        problems += _check_year(recs, year, source)
        unknown = ~recs["lsoa_code"].isin(geography.lsoa_codes)
        if unknown.any():
            problems.append(f"column 'lsoa_code' has {int(unknown.sum())} unknown LSOA code(s) "
                            f"at row(s) {_rows(unknown)}: "
                            f"{list(recs.loc[unknown, 'lsoa_code'].unique()[:5])}")
        zero = recs["exposure"].to_numpy() <= 0
        positive_outcome = (recs[list(services)].to_numpy() > 0).any(axis=1) if services \
            else np.zeros(len(recs), bool)
        bad = np.flatnonzero(zero & positive_outcome)
        if len(bad):
            problems.append(f"column 'exposure' is 0 for {len(bad)} child(ren) with a positive "
                            f"outcome, at row(s) {[int(i) for i in bad[:5]]}")
        raise_if(problems, source)

        population_source = population_source or f"{source} (population)"
        pop = validate_frame(pa.DataFrameSchema({
            "la_code": code_column(), "age_band": code_column(), "sex": code_column(),
            "population": numeric_column(non_negative())}, strict=False),
            population, population_source, min_rows=1)
        problems += report_duplicates(pop, ["la_code", "age_band", "sex"], "population")
        unknown_la = sorted(set(pop["la_code"]) - set(geography.la_codes))
        if unknown_la:
            rows = _rows(~pop["la_code"].isin(geography.la_codes).to_numpy())
            problems.append(f"column 'la_code' has LA code(s) not in the geography: "
                            f"{unknown_la[:8]} (row(s) {rows})")
        if not unknown.any():
            la_of_record = geography.la_codes[geography.lsoa_to_la[
                geography.position(dims.LSOA, recs["lsoa_code"].to_numpy(dtype=object))]]
            uncovered = sorted(set(la_of_record) - set(pop["la_code"]))
            if uncovered:
                problems.append(f"column 'la_code' has no population rows for LA(s) "
                                f"{uncovered[:8]} where the records have children")
        for col in ("age_band", "sex"):
            extra = sorted(set(recs[col]) - set(pop[col]))
            if extra:
                problems.append(f"column '{col}' values {extra[:8]} appear in the records but "
                                f"not in the population table")
        problems += _check_year(pop, year, population_source)
        raise_if(problems, population_source)
        for c in covariates:
            recs[c] = recs[c].astype("category")
        return cls(geography, recs, covariates, services, pop, year, source)


# ====================================================================== spend and unit costs
@dataclass(frozen=True, eq=False)
class SpendData:
    """LA spend per category (s251/RO3 style) with the matching activity volumes per LA.

    Attributes
    ----------
    spend
        Columns ``la_code, category, spend`` (spend in a stated currency unit, >= 0).
    volumes
        Columns ``la_code, activity, volume`` (activity volumes, >= 0).
    year
        Financial year label, e.g. ``"2024-25"``.
    """

    spend: pd.DataFrame
    volumes: pd.DataFrame
    year: int | str | None = None
    source: str = "spend data"

    @classmethod
    def from_frames(cls, spend: pd.DataFrame, volumes: pd.DataFrame, *,
                    year: int | str | None = None, source: str = "spend data",
                    la_codes=None) -> SpendData:
        """Validate spend and volumes; ``la_codes`` (optional) restricts the known LAs."""
        spend = validate_frame(pa.DataFrameSchema({
            "la_code": code_column(), "category": code_column(),
            "spend": numeric_column(non_negative())}, strict=False), spend, f"{source} (spend)",
            min_rows=1)
        volumes = validate_frame(pa.DataFrameSchema({
            "la_code": code_column(), "activity": code_column(),
            "volume": numeric_column(non_negative())}, strict=False), volumes,
            f"{source} (volumes)", min_rows=1)
        problems = report_duplicates(spend, ["la_code", "category"], "spend")
        problems += report_duplicates(volumes, ["la_code", "activity"], "volume")
        problems += _check_year(spend, year, f"{source} (spend)")
        problems += _check_year(volumes, year, f"{source} (volumes)")
        if la_codes is not None:
            for name, frame in (("spend", spend), ("volumes", volumes)):
                known = {str(c) for c in la_codes}
                unknown = sorted(set(frame["la_code"]) - known)
                if unknown:
                    rows = _rows(~frame["la_code"].isin(known).to_numpy())
                    problems.append(f"{name} column 'la_code' has unknown LA code(s) "
                                    f"{unknown[:8]} (row(s) {rows})")
        no_volume = sorted(set(spend["la_code"]) - set(volumes["la_code"]))
        if no_volume:
            problems.append(f"LA(s) {no_volume[:8]} have spend but no activity volumes")
        raise_if(problems, source)
        return cls(spend.reset_index(drop=True), volumes.reset_index(drop=True), year, source)


@dataclass(frozen=True, eq=False)
class UnitCosts:
    """Per activity, a central unit cost with lognormal uncertainty and its price base.

    Attributes
    ----------
    table
        Columns ``activity, unit_cost, sd_log, price_base``; ``sd_log`` is the standard
        deviation of log(unit cost).
    """

    table: pd.DataFrame
    source: str = "unit costs"

    @classmethod
    def from_frame(cls, table: pd.DataFrame, *, source: str = "unit costs") -> UnitCosts:
        """Validate a unit-cost table."""
        table = validate_frame(pa.DataFrameSchema({
            "activity": code_column(unique=True), "unit_cost": numeric_column(positive()),
            "sd_log": numeric_column(positive()), "price_base": code_column()},
            strict=False), table, source, min_rows=1)
        raise_if(_check_names(list(table["activity"]), "activity"), source)
        return cls(table.reset_index(drop=True), source)

    @property
    def activities(self) -> tuple[str, ...]:
        """Activity names in table order."""
        return tuple(self.table["activity"])
