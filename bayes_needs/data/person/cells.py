"""Collapsed child records: sufficient statistics per (LSOA, child covariate pattern) cell.

Built by the engines of :mod:`bayes_needs.data.person.collapse`; see there why the collapse is
exact.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bayes_needs.core import dims
from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.geography import Geography

LSOA_COLUMN = "lsoa_code"
EXPOSURE_COLUMN = "exposure"
CHILDREN = "children"
#: Child covariates every collapse keys on (the top-up to ONS works by LA x age x sex).
REQUIRED_KEYS: tuple[str, ...] = (dims.AGE_BAND, dims.SEX)
MAX_SUFFIX = "__max"  # partial-aggregate column of a service's largest outcome
_DIGITS = re.compile(r"(\d+)")


def child_keys(covariates: Sequence[str] = ()) -> tuple[str, ...]:
    """Child covariates to key cells on: age band, sex, then the declared ones in order."""
    if isinstance(covariates, str):
        covariates = [covariates]
    extra = [c for c in covariates if c not in REQUIRED_KEYS]
    return (*REQUIRED_KEYS, *dict.fromkeys(extra))


def natural_sorted(values: Iterable[str]) -> list[str]:
    """Sort labels with embedded numbers numerically ("5-9" before "10-15")."""
    def key(text: str):
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in _DIGITS.split(text)]
    return sorted(values, key=key)


@dataclass(frozen=True, eq=False)
class CollapsedCells:
    """Sufficient statistics of child records per (LSOA, child covariate pattern) cell.

    Attributes
    ----------
    geography
        The nesting the LSOA positions refer to.
    covariates
        Child covariates the patterns are made of (age band and sex first).
    levels
        Levels of each child covariate (natural sort order; the first is the reference).
    patterns
        ``(n_pattern, n_covariate)`` level positions of each distinct pattern.
    lsoa, pattern
        Per cell: LSOA position in the geography and pattern position; sorted by both.
    children, exposure
        Per cell: number of children and their summed exposure (years at risk).
    counts
        ``(n_cell, n_service)`` summed outcomes.
    max_outcome
        Largest single-child outcome per service (binary outcomes must have at most 1).
    services
        Outcome names in column order of ``counts``.
    source
        Where the records came from (used in messages).
    """

    geography: Geography
    covariates: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    patterns: np.ndarray
    lsoa: np.ndarray
    pattern: np.ndarray
    children: np.ndarray
    exposure: np.ndarray
    counts: np.ndarray
    max_outcome: np.ndarray
    services: tuple[str, ...]
    source: str = "person records"
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ views
    @property
    def n_cells(self) -> int:
        """Number of distinct (LSOA, pattern) cells."""
        return len(self.lsoa)

    @property
    def n_patterns(self) -> int:
        """Number of distinct child covariate patterns."""
        return len(self.patterns)

    @property
    def n_children(self) -> int:
        """Number of child records collapsed."""
        return int(self.children.sum())

    @property
    def msoa(self) -> np.ndarray:
        """MSOA position of each cell."""
        return self.geography.lsoa_to_msoa[self.lsoa]

    @property
    def la(self) -> np.ndarray:
        """LA position of each cell."""
        return self.geography.lsoa_to_la[self.lsoa]

    def pattern_frame(self) -> pd.DataFrame:
        """One row per pattern with the level label of every child covariate."""
        return pd.DataFrame({c: np.asarray(self.levels[c], dtype=object)[self.patterns[:, k]]
                             for k, c in enumerate(self.covariates)},
                            index=pd.RangeIndex(self.n_patterns, name=dims.PATTERN))

    def la_totals(self) -> pd.DataFrame:
        """Sum the outcomes of the covered children per LA x service (0 where none)."""
        geo = self.geography
        values = np.stack([np.bincount(self.la, weights=self.counts[:, j], minlength=geo.n_la)
                           for j in range(len(self.services))], axis=1) \
            if self.services else np.zeros((geo.n_la, 0))
        return pd.DataFrame(values, index=pd.Index(geo.la_codes, name=dims.LA),
                            columns=pd.Index(self.services, name=dims.SERVICE))

    def select(self, keep: np.ndarray, *, source: str | None = None) -> CollapsedCells:
        """Select the cells where boolean ``keep`` is true (same patterns and levels)."""
        keep = np.asarray(keep, dtype=bool)
        return CollapsedCells(self.geography, self.covariates, self.levels, self.patterns,
                              self.lsoa[keep], self.pattern[keep], self.children[keep],
                              self.exposure[keep], self.counts[keep], self.max_outcome,
                              self.services, source or self.source)

    def without_las(self, la_codes: Iterable[str]) -> CollapsedCells:
        """Drop the cells of the given LAs (e.g. to hold LAs out in cross-validation)."""
        drop = self.geography.position(dims.LA, list(la_codes), what="held-out LAs")
        return self.select(~np.isin(self.la, drop),
                           source=f"{self.source} without {len(drop)} LA(s)")

    def subset_services(self, services: Sequence[str]) -> CollapsedCells:
        """Keep the same cells with only ``services``."""
        unknown = sorted(set(services) - set(self.services))
        if unknown:
            raise DataValidationError(self.source, [f"unknown service(s) {unknown}; "
                                                    f"available: {list(self.services)}"])
        cols = [self.services.index(s) for s in services]
        return CollapsedCells(self.geography, self.covariates, self.levels, self.patterns,
                              self.lsoa, self.pattern, self.children, self.exposure,
                              self.counts[:, cols], self.max_outcome[cols], tuple(services),
                              self.source)

    def data_hash(self) -> str:
        """Stable hash of everything a fit depends on."""
        if "hash" not in self._cache:
            h = hashlib.sha256(self.geography.fingerprint().encode())
            h.update("|".join(self.covariates).encode())
            for c in self.covariates:
                h.update("\x1f".join(self.levels[c]).encode())
            h.update("|".join(self.services).encode())
            for arr in (self.patterns, self.lsoa, self.pattern, self.children, self.exposure,
                        self.counts):
                h.update(np.ascontiguousarray(arr).tobytes())
            self._cache["hash"] = h.hexdigest()[:16]
        return self._cache["hash"]
