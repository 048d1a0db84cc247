"""Inputs of the person demand model, in the form its likelihood is evaluated with.

Collapsed cells, LSOA covariates and ONS population (:class:`PersonModelData`), the
treatment-coded child design and the sparse index matrices of the likelihood.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from bayes_needs.core import dims
from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.geography import Geography
from bayes_needs.data.person.cells import CollapsedCells
from bayes_needs.data.person.topup import TopUp, top_up


@dataclass(frozen=True, eq=False)
class PersonModelData:
    """Everything the person model is fitted to.

    Build it with :meth:`build`.

    Attributes
    ----------
    cells
        Collapsed child records.
    lsoa_covariates
        Area covariates of every LSOA of the geography, canonical order, float columns.
    population
        ONS population by ``la_code, age_band, sex`` (``population``), or ``None`` (then need
        cannot be computed, only the fit).
    source
        Description used in summaries.
    """

    cells: CollapsedCells
    lsoa_covariates: pd.DataFrame
    population: pd.DataFrame | None = None
    source: str = "person data"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, cells: CollapsedCells, lsoa_covariates: pd.DataFrame,
              population: pd.DataFrame | None = None, *,
              source: str | None = None) -> PersonModelData:
        """Validate the LSOA covariates against the geography of ``cells``.

        Parameters
        ----------
        cells
            Output of one of the :mod:`bayes_needs.data.person.collapse` engines.
        lsoa_covariates
            Numeric area covariates, indexed by LSOA code or with an ``lsoa_code`` column,
            one row for every LSOA of the geography.
        population
            ONS mid-year estimates (``la_code, age_band, sex, population``) for the top-up.
        source
            Label for summaries (default: the records' source).
        """
        geo = cells.geography
        table = lsoa_covariates
        if "lsoa_code" in table.columns:
            table = table.set_index("lsoa_code")
        where = "LSOA covariates"
        problems = []
        codes = pd.Index(table.index.astype(str))
        if codes.has_duplicates:
            problems.append(f"LSOA code(s) {sorted(set(codes[codes.duplicated()]))[:5]} "
                            f"appear more than once")
        missing = sorted(set(geo.lsoa_codes) - set(codes))
        if missing:
            problems.append(f"{len(missing)} LSOA(s) of the geography have no row: "
                            f"{missing[:8]}")
        for col in table.columns:
            values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
            bad = ~np.isfinite(values)
            if bad.any():
                problems.append(f"column '{col}' must be finite numbers; not at LSOA(s) "
                                f"{list(codes[bad][:5])}")
        if problems:
            raise DataValidationError(where, problems)
        table = table.set_axis(codes).loc[geo.lsoa_codes].astype(float)
        table.index.name = dims.LSOA
        return cls(cells, table, population, source or cells.source)

    @property
    def geography(self) -> Geography:
        """The nesting."""
        return self.cells.geography

    @property
    def services(self) -> tuple[str, ...]:
        """Outcome names."""
        return self.cells.services

    @property
    def topup(self) -> TopUp:
        """The coverage top-up (computed once)."""
        if self.population is None:
            raise DataValidationError(self.source, [
                "no ONS population was given, so the children the records miss cannot be "
                "topped up; pass population= (la_code, age_band, sex, population)"])
        if "topup" not in self._cache:
            self._cache["topup"] = top_up(self.cells, self.population)
        return self._cache["topup"]

    def la_totals(self) -> pd.DataFrame:
        """Outcomes of the covered children per LA x service."""
        return self.cells.la_totals()

    def data_hash(self) -> str:
        """Hash of the cells, the covariates and the population."""
        if "hash" not in self._cache:
            h = hashlib.sha256(self.cells.data_hash().encode())
            h.update(",".join(self.lsoa_covariates.columns).encode())
            h.update(np.ascontiguousarray(self.lsoa_covariates.to_numpy()).tobytes())
            if self.population is not None:
                h.update(pd.util.hash_pandas_object(self.population, index=False)
                         .to_numpy().tobytes())
            self._cache["hash"] = h.hexdigest()[:16]
        return self._cache["hash"]


def child_design(covariates: tuple[str, ...], levels: dict[str, tuple[str, ...]],
                 patterns: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Treatment-coded design of child covariate patterns (first level the reference).

    Returns
    -------
    X, terms
        ``(n_pattern, n_term)`` 0/1 matrix and term names like ``"fsm=Y"``.
    """
    columns, terms = [], []
    for k, c in enumerate(covariates):
        for j, level in enumerate(levels[c][1:], start=1):
            columns.append((patterns[:, k] == j).astype(float))
            terms.append(f"{c}={level}")
    X = np.stack(columns, axis=1) if columns else np.zeros((len(patterns), 0))
    return X, terms


def selector(index: np.ndarray, n_from: int) -> sp.csr_matrix:
    """Sparse 0/1 matrix picking row ``index[i]`` of an ``n_from``-row array for row ``i``."""
    n = len(index)
    return sp.csr_matrix((np.ones(n), (np.arange(n), index)), shape=(n, n_from))


def summer(group: np.ndarray, n_groups: int, weights: np.ndarray | None = None
           ) -> sp.csr_matrix:
    """Sparse matrix summing (weighted) elements into their groups."""
    n = len(group)
    data = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    return sp.csr_matrix((data, (group, np.arange(n))), shape=(n_groups, n))


@dataclass
class TrainingArrays:
    """Compact index arrays of the cells a fit uses (held-out LAs and empty cells dropped).

    ``lsoa``/``msoa`` are the geography positions of the LSOAs/MSOAs with data; cell-level
    arrays index into them.
    """

    lsoa: np.ndarray
    msoa: np.ndarray
    msoa_la: np.ndarray
    lsoa_msoa: np.ndarray
    cell_lsoa: np.ndarray
    cell_pattern: np.ndarray
    cell_la: np.ndarray
    cell_msoa: np.ndarray
    children: np.ndarray
    exposure: np.ndarray
    counts: np.ndarray

    @classmethod
    def from_cells(cls, cells: CollapsedCells, keep: np.ndarray) -> TrainingArrays:
        """Arrays for the cells where ``keep`` holds and the exposure is positive."""
        keep = keep & (cells.exposure > 0)
        if not keep.any():
            raise DataValidationError(cells.source, ["no cells with positive exposure to fit"])
        geo = cells.geography
        lsoa, cell_lsoa = np.unique(cells.lsoa[keep], return_inverse=True)
        msoa, lsoa_msoa = np.unique(geo.lsoa_to_msoa[lsoa], return_inverse=True)
        return cls(lsoa, msoa, geo.msoa_to_la[msoa], lsoa_msoa, cell_lsoa,
                   cells.pattern[keep], geo.lsoa_to_la[cells.lsoa[keep]],
                   lsoa_msoa[cell_lsoa], cells.children[keep], cells.exposure[keep],
                   cells.counts[keep])
