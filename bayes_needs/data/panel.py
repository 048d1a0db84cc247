"""Multi-year LA panel data: :class:`PanelData`, counts per service, LA and year.

The panel holds, for each service, LA and reporting year, a count (NaN where missing or
suppressed, never zero-filled) and the LA's child population (the exposure), plus LSOA needs
indicators and a fixed within-LA pattern of child population, ``lsoa_weight``, which spreads
each LA's exposure over its LSOAs:

    exposure_{i,t} = lsoa_weight_i * exposure_{la(i),t} / sum_{j in la(i)} lsoa_weight_j

:meth:`PanelData.from_frames` validates everything at once and raises a single
:class:`~bayes_needs.core.errors.DataValidationError` naming the table, service, LA code,
year and line of every problem.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.data._container_checks import hash_frame
from bayes_needs.data._panel_checks import (
    LA_CODE,
    ORIGIN_COLUMNS,
    assemble,
    check_year_in,
    choose,
)
from bayes_needs.data.area import AreaData
from bayes_needs.data.geography import Geography

__all__ = ["CARRIED_FORWARD", "EXPOSURE", "KNOWN_IN", "LA_CODE", "LONG_COLUMNS", "ORIGIN_COLUMNS",
           "PanelData"]

#: ``service`` of the rows of :attr:`PanelData.origins` that describe the exposure.
EXPOSURE = "exposure"
#: ``origin`` of an exposure carried forward by :meth:`PanelData.extend_exposure`.
CARRIED_FORWARD = "carried_forward"
#: Optional ``origins`` column: the last year whose data a value uses (NaN: its own year),
#: e.g. a stock rebuilt from the next year's flows; :meth:`PanelData.up_to` holds it out.
KNOWN_IN = "known_in"
#: Columns of :meth:`PanelData.to_long`.
LONG_COLUMNS: tuple[str, ...] = (dims.SERVICE, LA_CODE, dims.YEAR, "count", EXPOSURE)


@dataclass(frozen=True, eq=False)
class PanelData:
    """LA counts per service and reporting year with LSOA indicators and exposures.

    Build it with :meth:`from_frames`; the constructor assumes validated, aligned pieces.

    Attributes
    ----------
    geography
        The LSOA -> MSOA -> LA nesting.
    covariates
        LSOA needs indicators: index LSOA codes in geography order, finite float columns.
    lsoa_weight
        Weight >= 0 per LSOA (the child population of a base year); its within-LA shares
        spread each LA's exposure over its LSOAs. Every LA has a positive total.
    years
        Consecutive reporting years with an exposure, possibly beyond the last year with
        counts (those years can be forecast).
    exposure
        Child population per LA and year: index LA codes (geography order, ``la_code``),
        columns ``years``; finite and > 0 throughout.
    counts
        Service -> LA x year counts (same index and columns as ``exposure``), NaN where
        missing or suppressed.
    source
        Description of where the data came from.
    origins
        Optional provenance per service (or ``exposure``), LA and year: columns
        :data:`ORIGIN_COLUMNS` and any more (e.g. the suppression ``code``).
    notes
        Remarks on how the data were built, in order.
    """

    geography: Geography
    covariates: pd.DataFrame
    lsoa_weight: np.ndarray
    years: tuple[int, ...]
    exposure: pd.DataFrame
    counts: dict[str, pd.DataFrame]
    source: str = "panel data"
    origins: pd.DataFrame | None = None
    notes: tuple[str, ...] = ()
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False,
                                   compare=False)

    @classmethod
    def from_frames(cls, geography: Geography, lsoa_frame: pd.DataFrame,
                    exposure_frame: pd.DataFrame, counts_frame: pd.DataFrame, *,
                    covariates: Iterable[str], weight: str = "weight",
                    services: Iterable[str] | None = None, source: str = "panel data",
                    origins: pd.DataFrame | None = None,
                    notes: Iterable[str] = ()) -> PanelData:
        """Validate and assemble panel data, reporting every problem of every table at once.

        Parameters
        ----------
        geography
            The nesting every code must belong to.
        lsoa_frame
            One row per LSOA: ``lsoa_code``, the ``weight`` column and every covariate.
        exposure_frame
            Long table ``la_code, year, exposure``: one row per LA and year, every LA in
            every year, consecutive years. Its years become :attr:`years`.
        counts_frame
            Long table ``service, la_code, year, count`` with optional ``file`` and ``line``
            columns used in messages. A missing count is NaN or blank (or no row).
        covariates
            Covariate columns of ``lsoa_frame``.
        weight
            Column of ``lsoa_frame`` holding the LSOA weights.
        services
            Services in model order; defaults to those in ``counts_frame`` in the canonical
            order. A listed service with no rows is kept, all missing.
        source
            Label of the data, prefixed to each table's name in messages.
        origins
            Optional provenance table with at least :data:`ORIGIN_COLUMNS`.
        notes
            Remarks kept with the data.

        Returns
        -------
        PanelData
            The validated panel.

        Raises
        ------
        DataValidationError
            Listing every problem: unknown LSOA or LA codes, non-finite covariates, negative
            weights, a missing or non-positive exposure (naming LA and year), a year gap, a
            count that is not a non-negative whole number or has no exposure (naming
            service, LA, year and line), duplicate (service, LA, year) rows.
        """
        fields = assemble(geography, lsoa_frame, exposure_frame, counts_frame,
                          covariates=covariates, weight=weight, services=services,
                          source=source, origins=origins)
        return cls(geography=geography, source=source, notes=tuple(notes), **fields)

    # ------------------------------------------------------------------ views
    @property
    def services(self) -> tuple[str, ...]:
        """Service names in model order."""
        return tuple(self.counts)

    @property
    def la_codes(self) -> np.ndarray:
        """LA codes in geography order."""
        return self.geography.la_codes

    @property
    def covariate_names(self) -> tuple[str, ...]:
        """Covariate (indicator) column names."""
        return tuple(self.covariates.columns)

    @property
    def count_years(self) -> tuple[int, ...]:
        """Years with at least one count of any service."""
        seen = np.zeros(len(self.years), dtype=bool)
        for frame in self.counts.values():
            seen |= frame.notna().to_numpy().any(axis=0)
        return tuple(y for y, s in zip(self.years, seen, strict=True) if s)

    @property
    def last_count_year(self) -> int:
        """Last year with any count: later years are forecast years.

        Raises
        ------
        ConfigError
            If the panel (e.g. a subset of its services) has no count at all.
        """
        years = self.count_years
        if not years:
            raise ConfigError(f"{self.source}: no counts of {list(self.services)} in any year")
        return years[-1]

    @property
    def forecast_years(self) -> tuple[int, ...]:
        """Years after :attr:`last_count_year`: exposure only, no counts."""
        return tuple(y for y in self.years if y > self.last_count_year)

    @property
    def lsoa_share(self) -> np.ndarray:
        """Each LSOA's share of its LA's weight (sums to 1 within every LA)."""
        totals = self.geography.aggregate(self.lsoa_weight, dims.LSOA, dims.LA)
        return self.lsoa_weight / totals[self.geography.lsoa_to_la]

    def lsoa_exposure(self, year: int) -> np.ndarray:
        """Spread the LA exposure of ``year`` over LSOAs by :attr:`lsoa_share`.

        Parameters
        ----------
        year
            One of :attr:`years`.

        Returns
        -------
        numpy.ndarray
            Exposure per LSOA (geography order), summing to the LA exposures.

        Raises
        ------
        ConfigError
            If ``year`` is not one of :attr:`years`.
        """
        check_year_in(year, self.years, "years with an exposure")
        la_values = self.exposure[int(year)].to_numpy(dtype=float)
        return self.lsoa_share * la_values[self.geography.lsoa_to_la]

    def counts_array(self, services: Iterable[str] | None = None) -> np.ndarray:
        """Stack the counts as an (la, year, service) array over :attr:`years`, NaN missing.

        Parameters
        ----------
        services
            Services in the order wanted; all, in model order, when omitted.

        Returns
        -------
        numpy.ndarray
            Float array shaped (n_la, n_year, n_service).

        Raises
        ------
        ConfigError
            If a service is not in the data.
        """
        chosen = choose(self.services if services is None else services, self.services,
                        "service")
        return np.stack([self.counts[s].to_numpy(dtype=float) for s in chosen], axis=-1)

    def exposure_array(self) -> np.ndarray:
        """Return the exposure as an (la, year) float array over :attr:`years`."""
        return self.exposure.to_numpy(dtype=float)

    def la_indicator_means(self) -> pd.DataFrame:
        """Weight each covariate by :attr:`lsoa_weight` to its LA mean (the Mundlak terms).

        Returns
        -------
        pandas.DataFrame
            Index LA codes (``la_code``), one column per covariate.
        """
        geo = self.geography
        weighted = geo.aggregate(self.covariates.to_numpy().T * self.lsoa_weight,
                                 dims.LSOA, dims.LA)
        totals = geo.aggregate(self.lsoa_weight, dims.LSOA, dims.LA)
        return pd.DataFrame((weighted / totals).T, index=pd.Index(geo.la_codes, name=LA_CODE),
                            columns=self.covariates.columns)

    def to_long(self) -> pd.DataFrame:
        """Tabulate every service, LA and year with its count (NaN missing) and exposure.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`LONG_COLUMNS`, one row per service, LA and year of :attr:`years`.
        """
        n_la, n_year = self.exposure.shape
        la = np.repeat(np.asarray(self.la_codes, dtype=object), n_year)
        year = np.tile(np.asarray(self.years, dtype=np.int64), n_la)
        frames = [pd.DataFrame({dims.SERVICE: s, LA_CODE: la, dims.YEAR: year,
                                "count": self.counts[s].to_numpy(dtype=float).ravel(),
                                EXPOSURE: self.exposure_array().ravel()})
                  for s in self.services]
        return pd.concat(frames, ignore_index=True)[list(LONG_COLUMNS)]

    def data_hash(self) -> str:
        """Hash everything a fit depends on, stably across runs.

        Returns
        -------
        str
            The first 16 hex digits of a SHA-256 over the geography, covariates, LSOA
            weights, years, exposure and every service's counts (not the labels ``source``,
            ``origins`` and ``notes``).
        """
        if "hash" not in self._cache:
            h = hashlib.sha256(self.geography.fingerprint().encode())
            hash_frame(h, self.covariates.reset_index())
            h.update(np.ascontiguousarray(self.lsoa_weight, dtype=float).tobytes())
            h.update(",".join(map(str, self.years)).encode())
            hash_frame(h, self.exposure.reset_index())
            for service, frame in self.counts.items():
                h.update(service.encode())
                hash_frame(h, frame.reset_index())
            self._cache["hash"] = h.hexdigest()[:16]
        digest: str = self._cache["hash"]
        return digest

    # ------------------------------------------------------------------ derived panels
    def up_to(self, year: int) -> PanelData:
        """Hold out the counts after ``year`` (set NaN), keeping later exposures for forecasts.

        Counts that use a later year's data (``origins`` column :data:`KNOWN_IN`) are held
        out too, so a fit up to ``year`` sees nothing published after it.

        Parameters
        ----------
        year
            The last data year, within the span of :attr:`count_years`.

        Returns
        -------
        PanelData
            The same panel whose counts end at ``year``.

        Raises
        ------
        ConfigError
            Naming ``year`` and the available range when it lies outside the count years.
        """
        last = self.last_count_year
        first = self.count_years[0]
        check_year_in(year, range(first, last + 1), "count years")
        held_out = np.asarray(self.years) > year
        counts = {}
        for service, frame in self.counts.items():
            values = frame.to_numpy(dtype=float, copy=True)
            values[:, held_out] = np.nan
            counts[service] = pd.DataFrame(values, index=frame.index, columns=frame.columns)
        origins = self.origins
        if origins is not None:
            known = origins[dims.YEAR] if KNOWN_IN not in origins else \
                origins[KNOWN_IN].fillna(origins[dims.YEAR])
            later = origins["service"].isin(self.services) & (known > year)
            for _, row in origins[later & (origins[dims.YEAR] <= year)].iterrows():
                counts[row["service"]].loc[row[LA_CODE], row[dims.YEAR]] = np.nan
            origins = origins[~later].reset_index(drop=True)
        return replace(self, counts=counts, origins=origins,
                       notes=(*self.notes, f"counts after {year} held out"))

    def extend_exposure(self, to_year: int) -> PanelData:
        """Carry the last year's exposure forward to ``to_year``, for forecast years only.

        Parameters
        ----------
        to_year
            The last year wanted; no change when it is not after the last year.

        Returns
        -------
        PanelData
            The panel with years up to ``to_year``; the new years have the last year's
            exposure, no counts, and a note (and ``carried_forward`` origins) saying so.
        """
        last = self.years[-1]
        to_year = int(to_year)
        if to_year <= last:
            return self
        new = list(range(last + 1, to_year + 1))
        exposure = self.exposure.reindex(columns=[*self.years, *new])
        for year in new:
            exposure[year] = self.exposure[last]
        exposure.columns.name = dims.YEAR
        counts = {s: f.reindex(columns=exposure.columns) for s, f in self.counts.items()}
        origins = self.origins
        if origins is not None:
            added = pd.DataFrame({
                "service": EXPOSURE, LA_CODE: np.repeat(self.la_codes, len(new)),
                dims.YEAR: np.tile(new, len(self.la_codes)), "origin": CARRIED_FORWARD,
                "detail": f"exposure of {last} carried forward"})
            origins = pd.concat([origins, added], ignore_index=True)
        note = (f"exposure of {last} carried forward to {new[0]}-{to_year} (forecast years "
                f"only)")
        return replace(self, years=(*self.years, *new), exposure=exposure,
                       counts=counts, origins=origins, notes=(*self.notes, note))

    def subset_services(self, services: Iterable[str]) -> PanelData:
        """Restrict the panel to ``services``, in the order given.

        Raises
        ------
        ConfigError
            If a service is not in the data.
        """
        chosen = choose(services, self.services, "service")
        origins = self.origins
        if origins is not None:
            dropped = sorted(set(self.services) - set(chosen))
            origins = origins[~origins["service"].isin(dropped)].reset_index(drop=True)
        return replace(self, counts={s: self.counts[s] for s in chosen},
                       origins=origins)

    def to_area_data(self, year: int, services: Iterable[str] | None = None) -> AreaData:
        """Single-year :class:`~bayes_needs.data.area.AreaData`: the LA counts of ``year``.

        Parameters
        ----------
        year
            One of :attr:`years`; its exposure is spread over LSOAs (:meth:`lsoa_exposure`).
        services
            Services wanted, in order; all, in model order, when omitted. An LA whose count
            is missing that year has no row (not observed).

        Returns
        -------
        AreaData
            LA-level counts, LSOA exposures of ``year`` (column ``children``) and the
            panel's indicators as covariates.

        Raises
        ------
        ConfigError
            If ``year`` is not one of :attr:`years` or a service is not in the data.
        DataValidationError
            If no chosen service has a count in ``year``.
        """
        chosen = choose(self.services if services is None else services, self.services,
                        "service")
        expo = self.lsoa_exposure(year)  # checks the year
        counts = pd.concat([pd.DataFrame({
            "service": s, "level": dims.LA, "area_code": self.la_codes,
            "count": self.counts[s][int(year)].to_numpy(dtype=float)}) for s in chosen],
            ignore_index=True).dropna(subset=["count"])
        lsoa = self.covariates.reset_index(drop=True).assign(
            lsoa_code=self.geography.lsoa_codes, children=expo)
        return AreaData.from_frames(self.geography, lsoa, counts,
                                    covariates=self.covariate_names, services=chosen,
                                    year=int(year), source=f"{self.source}, year {year}")

    def with_covariates(self, names: Iterable[str]) -> PanelData:
        """Keep only the covariates ``names``, in the order given.

        Raises
        ------
        ConfigError
            If a name is not a covariate of the data, listing the choices.
        """
        chosen = choose(names, self.covariate_names, "covariate", empty_ok=True)
        return replace(self, covariates=self.covariates[list(chosen)])
