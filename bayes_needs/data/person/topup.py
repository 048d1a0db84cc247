"""Coverage top-up: from the children in the records to the whole ONS child population.

Child records cover about 80% of children. Need must be computed for all of them, so the
children the records miss are added back to the ONS mid-year estimates by LA x age band x sex.

How the unknown covariates are marginalised
-------------------------------------------
For an uncovered child we know the LA, age band and sex (from the ONS cell it tops up) but
not the home LSOA or the other child covariates (FSM, SEN, ethnicity, ...). Its expected rate
is the rate averaged over the joint distribution of (home LSOA, other covariates) observed
among the covered children of the same LA x age band x sex, weighted by their years at risk::

    rate(uncovered in l, a, s) = sum_{c in (l, a, s)} (E_c / E_las) * lambda_c

where ``E_c`` is the covered exposure of cell ``c`` and ``E_las`` its total over the ONS cell.
The need of the whole ONS cell, ``P_las * rate``, is therefore the covered cells' rates
weighted by ``E_c * P_las / E_las``: the top-up is a re-weighting of the covered cells by the
factor ``P_las / E_las`` (child-years in the population over child-years in the records). A
covered child-year stays attached to its own cell, so the area covariates, MSOA effects and
LA of every cell are used as they are. Because the marginalisation is over cells, it is done
inside every posterior draw and its uncertainty flows into the need intervals.

Special cases (reported in :attr:`TopUp.table`, column ``method``):

* ``scaled`` — the usual case; ``factor >= 1``.
* ``scaled down`` — the records hold more child-years than ONS (``factor < 1``); the cell is
  still calibrated to ONS, which is the control total of the formula.
* ``la distribution`` — no covered child-years in that LA x age x sex (e.g. a whole age band
  missing from an LA's records): the population is spread over the LA's covered distribution
  of (LSOA, other covariates) for all ages and sexes, with the age band and sex set to the
  ONS cell's.
* ``no population`` — covered children but an ONS population of 0: they get weight 0.

An LA with population but no covered child-years at all cannot be placed in its LSOAs and is
an error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pandera.pandas as pa
import scipy.sparse as sp

from bayes_needs.core import dims
from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.geography import Geography
from bayes_needs.data.person.cells import CollapsedCells
from bayes_needs.data.validation import (
    code_column,
    non_negative,
    numeric_column,
    report_duplicates,
    validate_frame,
)

_POPULATION_SCHEMA = pa.DataFrameSchema(
    {"la_code": code_column(), dims.AGE_BAND: code_column(), dims.SEX: code_column(),
     "population": numeric_column(non_negative())}, strict=False)


@dataclass(frozen=True, eq=False)
class TopUp:
    """Child-years of the whole population per (LSOA, pattern) cell.

    Attributes
    ----------
    geography
        The nesting.
    covariates, levels
        As in :class:`~bayes_needs.data.person.collapse.CollapsedCells`.
    patterns
        The records' patterns, extended by any pattern only the top-up needs.
    lsoa, pattern, child_years
        Population cells: LSOA position, pattern position and child-years (sums to the ONS
        population of the LAs with records).
    table
        One row per LA x age band x sex: ``la_code, age_band, sex, population,
        covered_children, covered_years, factor, method``.
    """

    geography: Geography
    covariates: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    patterns: np.ndarray
    lsoa: np.ndarray
    pattern: np.ndarray
    child_years: np.ndarray
    table: pd.DataFrame

    def matrix(self) -> sp.csr_matrix:
        """Sparse (LSOA x pattern) matrix of child-years."""
        return sp.csr_matrix((self.child_years, (self.lsoa, self.pattern)),
                             shape=(self.geography.n_lsoa, len(self.patterns)))

    def la_population(self) -> pd.Series:
        """Child-years per LA code."""
        values = np.bincount(self.geography.lsoa_to_la[self.lsoa], weights=self.child_years,
                             minlength=self.geography.n_la)
        return pd.Series(values, index=pd.Index(self.geography.la_codes, name=dims.LA))


def top_up(cells: CollapsedCells, population: pd.DataFrame, *,
           source: str = "population") -> TopUp:
    """Top the covered cells up to the ONS population (see the module docstring).

    Parameters
    ----------
    cells
        Collapsed records (all covered children, including any held out of a fit).
    population
        ONS mid-year estimates: ``la_code, age_band, sex, population``.
    source
        Label used in error messages.

    Raises
    ------
    DataValidationError
        For an invalid population table, labels the records do not have, or LAs with
        population but no covered children.
    """
    geo = cells.geography
    pop = validate_frame(_POPULATION_SCHEMA, population, source, min_rows=1)
    problems = report_duplicates(pop, ["la_code", dims.AGE_BAND, dims.SEX], "population")
    # Unknown LA codes are only looked for once the table itself is sound.
    la = geo.position(dims.LA, pop["la_code"].to_numpy(dtype=object),
                      what=f"{source}: column 'la_code'") if not problems else None
    ages, sexes = cells.levels[dims.AGE_BAND], cells.levels[dims.SEX]
    age = pd.Index(ages).get_indexer(pd.Index(pop[dims.AGE_BAND].astype(str)))
    sex = pd.Index(sexes).get_indexer(pd.Index(pop[dims.SEX].astype(str)))
    people = pop["population"].to_numpy(dtype=float)
    for col, pos, known in ((dims.AGE_BAND, age, ages), (dims.SEX, sex, sexes)):
        bad = (pos < 0) & (people > 0)
        if bad.any():
            problems.append(f"column '{col}' has label(s) {sorted(set(pop.loc[bad, col]))} "
                            f"with population but no child records anywhere, so their rates "
                            f"cannot be estimated; the records have {list(known)} (row(s) "
                            f"{[int(i) for i in np.flatnonzero(bad)[:5]]})")
    if problems or la is None:  # la is None only when problems were found
        raise DataValidationError(source, problems)
    keep = (age >= 0) & (sex >= 0)
    n_age, n_sex = len(ages), len(sexes)
    n_key = geo.n_la * n_age * n_sex
    key = (la[keep] * n_age + age[keep]) * n_sex + sex[keep]
    pop_by_key = np.bincount(key, weights=people[keep], minlength=n_key)
    has_row = np.bincount(key, minlength=n_key) > 0

    cell_age = cells.patterns[cells.pattern, 0]
    cell_sex = cells.patterns[cells.pattern, 1]
    cell_key = (cells.la * n_age + cell_age) * n_sex + cell_sex
    years = np.bincount(cell_key, weights=cells.exposure, minlength=n_key)
    kids = np.bincount(cell_key, weights=cells.children, minlength=n_key)
    missing = (kids > 0) & ~has_row
    if missing.any():
        first = np.flatnonzero(missing)[:5]
        raise DataValidationError(source, [
            f"no population row for {int(missing.sum())} LA x age band x sex cell(s) that have "
            f"child records, e.g. {[_describe(k, geo, ages, sexes) for k in first]}"])

    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(years > 0, pop_by_key / years, np.nan)
    weights = cells.exposure * np.nan_to_num(factor[cell_key])
    lsoa_parts, pattern_parts, year_parts = [cells.lsoa], [cells.pattern], [weights]
    patterns = [tuple(p) for p in cells.patterns]
    index = {p: i for i, p in enumerate(patterns)}
    fallback = np.flatnonzero((pop_by_key > 0) & ~(years > 0))
    no_records = []
    for k in fallback:
        la_pos, rest = divmod(int(k), n_age * n_sex)
        a, s = divmod(rest, n_sex)
        mine = (cells.la == la_pos) & (cells.exposure > 0)
        if not mine.any():
            no_records.append(geo.la_codes[la_pos])
            continue
        other = cells.patterns[cells.pattern[mine], 2:]
        frame = pd.DataFrame({"lsoa": cells.lsoa[mine], "e": cells.exposure[mine]})
        for j in range(other.shape[1]):
            frame[f"c{j}"] = other[:, j]
        spread = frame.groupby(["lsoa", *[f"c{j}" for j in range(other.shape[1])]],
                               sort=True)["e"].sum().reset_index()
        new = [(a, s, *row) for row in spread.iloc[:, 1:-1].to_numpy().tolist()]
        for p in new:
            if p not in index:
                index[p] = len(patterns)
                patterns.append(p)
        lsoa_parts.append(spread["lsoa"].to_numpy())
        pattern_parts.append(np.array([index[p] for p in new], dtype=np.int64))
        year_parts.append(pop_by_key[k] * spread["e"].to_numpy() / spread["e"].sum())
    if no_records:
        raise DataValidationError(source, [
            f"{len(no_records)} LA(s) have population but no covered child-years in the "
            f"records, so their children cannot be placed in LSOAs: {sorted(no_records)[:8]}"])

    lsoa = np.concatenate(lsoa_parts)
    pattern = np.concatenate(pattern_parts)
    merged = pd.DataFrame({"lsoa": lsoa, "pattern": pattern, "y": np.concatenate(year_parts)}) \
        .groupby(["lsoa", "pattern"], sort=True)["y"].sum().reset_index()
    merged = merged[merged["y"] > 0]

    method = np.full(n_key, "empty", dtype=object)
    method[(years > 0) & (factor >= 1)] = "scaled"
    method[(years > 0) & (factor < 1)] = "scaled down"
    method[fallback] = "la distribution"
    method[(pop_by_key <= 0) & (kids > 0)] = "no population"
    la_k, age_sex_k = np.divmod(np.arange(n_key), n_age * n_sex)
    age_k, sex_k = np.divmod(age_sex_k, n_sex)
    table = pd.DataFrame({
        "la_code": geo.la_codes[la_k].astype(str),
        dims.AGE_BAND: np.asarray(ages, dtype=object)[age_k],
        dims.SEX: np.asarray(sexes, dtype=object)[sex_k],
        "population": pop_by_key, "covered_children": kids.astype(np.int64),
        "covered_years": years, "factor": factor, "method": method})
    table = table[has_row | (kids > 0)].reset_index(drop=True)
    return TopUp(geo, cells.covariates, cells.levels, np.asarray(patterns, dtype=np.int64),
                 merged["lsoa"].to_numpy(np.int64), merged["pattern"].to_numpy(np.int64),
                 merged["y"].to_numpy(float), table)


def _describe(key: int, geo: Geography, ages, sexes) -> str:
    la_pos, rest = divmod(int(key), len(ages) * len(sexes))
    a, s = divmod(rest, len(sexes))
    return f"{geo.la_codes[la_pos]}/{ages[a]}/{sexes[s]}"
