"""Synthetic child-level records consistent with a synthetic area truth.

:func:`generate_persons` streams child records (age band, sex, free school meals, exposure
and one Poisson outcome per service) whose full-year expectations add up, within each LSOA,
to the area truth of :func:`bayes_needs.simulate.area.generate_area`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import xarray as xr
from scipy.special import expit

from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.outputs import atomic_path
from bayes_needs.data.geography import Geography
from bayes_needs.data.person_records import PersonData
from bayes_needs.simulate.area import SERVICE_PARAMETERS, SyntheticArea
from bayes_needs.simulate.streams import PERSON_CHUNK, PERSON_SETUP, check_seed, stage_rng

__all__ = ["AGE_BANDS", "FSM_LEVELS", "SEXES", "SyntheticPersons", "generate_persons"]

AGE_BANDS: tuple[str, ...] = ("0-4", "5-9", "10-15", "16-17")
AGE_BAND_SHARE = np.array([5, 5, 6, 2]) / 18  # single years of age in each band
SEXES: tuple[str, ...] = ("F", "M")
SEX_SHARE = np.array([0.488, 0.512])
FSM_LEVELS: tuple[str, ...] = ("N", "Y")
FSM = dims.FSM
#: Log relative risks of a child, per service (rows) and category (columns); the first
#: category of each is the reference.
GAMMA_AGE = np.array([[0.0, -0.20, -0.15, -0.40],
                      [0.0, -0.05, 0.10, 0.00],
                      [0.0, -0.30, -0.50, -1.10],
                      [0.0, -0.20, 0.30, 0.55],
                      [0.0, -0.20, 0.30, 0.55]])
GAMMA_SEX = np.array([[0.0, 0.05], [0.0, 0.10], [0.0, 0.00], [0.0, 0.10], [0.0, 0.10]])
GAMMA_FSM = np.array([[0.0, 0.9], [0.0, 1.0], [0.0, 1.1], [0.0, 1.2], [0.0, 1.2]])
#: Share of children observed for the whole year; the rest are observed for U(0, 1] of it.
FULL_YEAR_SHARE = 0.9
#: LA coverage of the person records is the requested coverage +- this half-width.
COVERAGE_HALF_WIDTH = 0.1
#: :meth:`SyntheticPersons.to_person_data` refuses more children than this.
MAX_IN_MEMORY_CHILDREN = 2_000_000


@dataclass(frozen=True, eq=False)
class SyntheticPersons:
    """Streamed synthetic child records consistent with an area truth.

    Use :meth:`chunks` to iterate, :meth:`to_parquet` to write, :meth:`to_person_data` (small
    scales only) to validate into a :class:`~bayes_needs.data.person_records.PersonData`.

    Attributes
    ----------
    geography
        The nesting the children live in.
    services
        Outcome columns.
    population
        All children (covered or not) by ``la_code, age_band, sex`` (column ``population``).
    truth
        ``gamma_age(service, age_band)``, ``gamma_sex(service, sex)``,
        ``gamma_fsm(service, fsm)`` (log relative risks, first category the reference),
        ``coverage(la)`` (probability a child appears in the records),
        ``fsm_probability(lsoa)``, ``children(lsoa)`` and ``expected(lsoa, service)`` (the
        area truth's expected LSOA count, which the children's full-year expectations sum
        to); attrs ``seed``, ``chunk_size``, ``requested_coverage``.
    """

    geography: Geography
    services: tuple[str, ...]
    population: pd.DataFrame
    truth: xr.Dataset
    chunk_size: int
    random_seed: int
    _cell_counts: np.ndarray = field(repr=False)  # (lsoa, age x sex cell)
    _chunk_bounds: np.ndarray = field(repr=False)  # LSOA index where each chunk starts

    @property
    def n_children(self) -> int:
        """Number of children in the population (covered or not)."""
        return int(self._cell_counts.sum())

    def chunks(self, *, with_truth: bool = False) -> Iterator[pd.DataFrame]:
        """Yield the records in chunks of whole LSOAs.

        A chunk holds at most ``chunk_size`` children (more only when one LSOA is larger).

        Parameters
        ----------
        with_truth
            Also yield the children the records miss, with columns ``in_records`` (bool) and
            ``mean_<service>`` (the child's expected count, exposure included).

        Yields
        ------
        pandas.DataFrame
            ``child_id`` (int64, unique), ``lsoa_code``, ``age_band``, ``sex``, ``fsm``
            (categoricals), ``exposure`` (fraction of the year observed, in (0, 1]) and one
            int64 outcome column per service (Poisson, no cap on ``cla_weeks``).
        """
        for k in range(len(self._chunk_bounds) - 1):
            yield self._chunk(k, with_truth)

    def _chunk(self, k: int, with_truth: bool) -> pd.DataFrame:
        first, stop = self._chunk_bounds[k], self._chunk_bounds[k + 1]
        rng = stage_rng(self.random_seed, PERSON_CHUNK, int(first))
        cells = self._cell_counts[first:stop]
        n_cell = cells.shape[1]
        lsoa_local = np.repeat(np.arange(stop - first), cells.sum(axis=1))
        cell = np.repeat(np.tile(np.arange(n_cell), stop - first), cells.ravel())
        age, sex = np.divmod(cell, len(SEXES))
        lsoa = lsoa_local + first
        n = len(lsoa)
        child_offset = int(self._cell_counts[:first].sum())
        fsm = (rng.random(n) < self.truth["fsm_probability"].to_numpy()[lsoa]).astype(np.int8)
        exposure = np.where(rng.random(n) < FULL_YEAR_SHARE, 1.0, 1.0 - rng.random(n))
        log_rr = (self.truth["gamma_age"].to_numpy()[:, age]
                  + self.truth["gamma_sex"].to_numpy()[:, sex]
                  + self.truth["gamma_fsm"].to_numpy()[:, fsm])  # (service, child)
        risk = np.exp(log_rr)
        # Scale within each LSOA so the full-year expectations sum to the area truth.
        risk_total = np.stack([np.bincount(lsoa_local, weights=r, minlength=stop - first)
                               for r in risk])
        lsoa_scale = self.truth["expected"].to_numpy()[first:stop].T / risk_total
        mean = exposure * risk * lsoa_scale[:, lsoa_local]
        outcome = rng.poisson(mean)
        la = self.geography.lsoa_to_la[lsoa]
        in_records = rng.random(n) < self.truth["coverage"].to_numpy()[la]

        frame = pd.DataFrame({
            "child_id": np.arange(child_offset, child_offset + n, dtype=np.int64),
            "lsoa_code": pd.Categorical.from_codes(lsoa, dtype=_category(
                self.geography.lsoa_codes)),
            dims.AGE_BAND: pd.Categorical.from_codes(age, dtype=_category(AGE_BANDS)),
            dims.SEX: pd.Categorical.from_codes(sex, dtype=_category(SEXES)),
            FSM: pd.Categorical.from_codes(fsm, dtype=_category(FSM_LEVELS)),
            "exposure": exposure,
            **{s: outcome[j] for j, s in enumerate(self.services)},
        })
        if with_truth:
            frame["in_records"] = in_records
            for j, s in enumerate(self.services):
                frame[f"mean_{s}"] = mean[j]
            return frame
        return frame[in_records].reset_index(drop=True)

    def to_parquet(self, path: str | Path) -> Path:
        """Write the records to one Parquet file, a row group per chunk, atomically."""
        with atomic_path(path) as tmp:
            writer = None
            try:
                for chunk in self.chunks():
                    table = pa.Table.from_pandas(chunk, preserve_index=False,
                                                 schema=None if writer is None
                                                 else writer.schema)
                    if writer is None:
                        writer = pq.ParquetWriter(tmp, table.schema)
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
        return Path(path)

    def to_person_data(self) -> PersonData:
        """Return all records as a validated :class:`~bayes_needs.data.person_records.PersonData`.

        For small scales only: the records are held in memory.

        Raises
        ------
        ConfigError
            When there are more than :data:`MAX_IN_MEMORY_CHILDREN` children; stream with
            :meth:`chunks` or :meth:`to_parquet` instead.
        """
        if self.n_children > MAX_IN_MEMORY_CHILDREN:
            raise ConfigError(f"{self.n_children:,} children are too many to hold in memory "
                              f"(limit {MAX_IN_MEMORY_CHILDREN:,}); use chunks() or "
                              f"to_parquet()")
        records = pd.concat(list(self.chunks()), ignore_index=True)
        return PersonData.from_frames(
            self.geography, records, self.population,
            covariates=(dims.AGE_BAND, dims.SEX, FSM), services=self.services,
            source=f"synthetic person data (seed {self.random_seed})")


def _category(values: Iterable[str]) -> pd.CategoricalDtype:
    """Return a string categorical dtype with ``values`` as its categories, in order."""
    return pd.CategoricalDtype(pd.Index(list(values), dtype=str))


def generate_persons(synthetic: SyntheticArea, *, random_seed: int, coverage: float = 0.8,
                     chunk_size: int = 500_000) -> SyntheticPersons:
    """Generate child-level records consistent with an area truth, lazily in chunks.

    Each LSOA has ``children`` children with age band and sex drawn from national shares,
    ``fsm`` = "Y" with probability ``expit(logit(idaci) + 0.4)`` and ``exposure`` = 1 for
    90% of children, U(0, 1] for the rest. A child's expected count of a service is
    ``exposure * exp(gamma_age + gamma_sex + gamma_fsm) * c_i`` where ``c_i`` makes the LSOA's
    full-year (exposure 1) expectations sum to the area truth ``expected`` (``msoa_effect *
    exp(la_effect) * lambda``); outcomes are Poisson. Each LA's records cover a fraction
    ``coverage + U(-0.1, 0.1)`` (clipped to (0, 1]) of its children.

    Parameters
    ----------
    synthetic
        Output of :func:`generate_area`.
    random_seed
        Seed; with the same ``synthetic`` and ``chunk_size`` the records are identical.
    coverage
        Mean share of children present in the records, in (0, 1].
    chunk_size
        Target children per chunk; memory use is bounded by it, not by the population.

    Returns
    -------
    SyntheticPersons
    """
    seed = check_seed(random_seed)
    if not 0 < coverage <= 1:
        raise ConfigError(f"coverage must be in (0, 1], got {coverage!r}")
    if int(chunk_size) < 1:
        raise ConfigError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    geo = synthetic.data.geography
    services = synthetic.data.services
    children = np.rint(synthetic.data.exposure).astype(np.int64)
    rng = stage_rng(seed, PERSON_SETUP)
    cell_share = (AGE_BAND_SHARE[:, None] * SEX_SHARE[None, :]).ravel()
    cell_counts = rng.multinomial(children, cell_share)  # (lsoa, age x sex)
    la_coverage = np.clip(coverage + rng.uniform(-COVERAGE_HALF_WIDTH, COVERAGE_HALF_WIDTH,
                                                 geo.n_la), 0.01, 1.0)
    idaci = synthetic.data.covariates["idaci"].to_numpy()
    fsm_probability = expit(np.log(idaci / (1 - idaci)) + 0.4)

    by_la = geo.aggregate(cell_counts.T, dims.LSOA, dims.LA)  # (cell, la)
    age_of_cell, sex_of_cell = np.divmod(np.arange(len(cell_share)), len(SEXES))
    population = pd.DataFrame({
        "la_code": np.repeat(geo.la_codes, len(cell_share)).astype(str),
        dims.AGE_BAND: np.tile(np.asarray(AGE_BANDS)[age_of_cell], geo.n_la),
        dims.SEX: np.tile(np.asarray(SEXES)[sex_of_cell], geo.n_la),
        "population": by_la.T.ravel(),
    })

    rows = np.asarray(SERVICE_PARAMETERS.index.get_indexer(pd.Index(services)))
    truth = xr.Dataset(
        {
            "gamma_age": ([dims.SERVICE, dims.AGE_BAND], GAMMA_AGE[rows]),
            "gamma_sex": ([dims.SERVICE, dims.SEX], GAMMA_SEX[rows]),
            "gamma_fsm": ([dims.SERVICE, FSM], GAMMA_FSM[rows]),
            "coverage": ([dims.LA], la_coverage),
            "fsm_probability": ([dims.LSOA], fsm_probability),
            "children": ([dims.LSOA], children),
            "expected": ([dims.LSOA, dims.SERVICE],
                         synthetic.truth["expected"].sel({dims.SERVICE: list(services)})
                         .transpose(dims.LSOA, dims.SERVICE).to_numpy()),
        },
        coords={dims.SERVICE: list(services), dims.AGE_BAND: list(AGE_BANDS),
                dims.SEX: list(SEXES), FSM: list(FSM_LEVELS), **geo.coords(dims.LA),
                **geo.coords(dims.LSOA)},
        attrs={"seed": seed, "chunk_size": int(chunk_size), "requested_coverage": coverage},
    )
    return SyntheticPersons(geo, services, population, truth, int(chunk_size), seed,
                            cell_counts, _chunk_bounds(children, int(chunk_size)))


def _chunk_bounds(children: np.ndarray, chunk_size: int) -> np.ndarray:
    """Return the LSOA indices where chunks start (plus the end): greedy runs of whole LSOAs."""
    cumulative = np.cumsum(children)
    bounds = [0]
    while bounds[-1] < len(children):
        done = cumulative[bounds[-1] - 1] if bounds[-1] else 0
        stop = int(np.searchsorted(cumulative, done + chunk_size, side="right"))
        bounds.append(max(stop, bounds[-1] + 1))
    return np.asarray(bounds)
