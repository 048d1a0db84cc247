"""English Indices of Deprivation 2019 LSOA covariates (MHCLG, LSOA 2011 boundaries).

Read from ``iod2019/iod2019_lsoa11_merged.csv.gz``, one row per LSOA (32,844).

``idaci`` is the share of children aged 0-15 living in income-deprived families, rebuilt as
IDACI numerator / children aged 0-15 (mid-2015, IoD2019 File 6), because the official LSOA
IDACI *score* is not available. The published numerators are rounded to the nearest 5 and
suppressed below 10 (4,553 LSOAs, mostly in the least deprived IDACI deciles 9-10). A
suppressed numerator is taken as 5, the middle of the suppressed range [0, 10), and the
resulting score is clipped into the range of unsuppressed scores in the LSOA's official IDACI
decile (the decile is exact). On the real data this rebuilt score falls in the official decile
for 84.9% of LSOAs and within one decile for 99.9% (treating suppressed numerators as 0
instead gives 81.8% and 99.1%). The raw numerator and a ``idaci_suppressed`` flag are kept.

Every other covariate must be published for every LSOA; a blank is an error, so all returned
covariates are finite.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.readers._files import (
    BLANK,
    duplicate_problems,
    file_lines,
    parse_numbers,
    read_text_csv,
    resolve,
)

IOD_FILE = "iod2019/iod2019_lsoa11_merged.csv.gz"
#: Numerator assumed where it was suppressed: the middle of the suppressed range [0, 10).
SUPPRESSED_IDACI_NUMERATOR = 5.0

_DOMAINS = ("imd", "income", "employment", "education", "health", "crime", "barriers",
            "living_env")
_RANKS = {f"{d}_rank": f"{d}_rank" for d in _DOMAINS}
_DECILES = {f"{d}_decile": f"{d}_decile" for d in _DOMAINS} | {"idaci_decile": "idaci_decile"}
#: Raw numeric column -> (tidy column, scale factor, whole numbers?).
_NUMERIC = {
    "imd_score": ("imd_score", 1.0, False),
    "income_score_pct": ("income_score", 0.01, False),
    "employment_score_pct": ("employment_score", 0.01, False),
    "pop_children_0_15_mid2015": ("children_0_15_mid2015", 1.0, True),
    "pop_total_mid2015": ("population_mid2015", 1.0, True),
    **{raw: (raw, 1.0, True) for raw in _RANKS},
    **{raw: (raw, 1.0, True) for raw in _DECILES},
}
_TEXT = {"lsoa11cd": "lsoa_code", "lsoa11nm": "lsoa_name", "lad19cd": "lad19_code",
         "lad19nm": "lad19_name"}

#: Columns of :func:`read_iod2019` usable as LSOA covariates.
COVARIATES: tuple[str, ...] = (
    "idaci", "imd_score", "income_score", "employment_score", "idaci_decile",
    *(f"{d}_decile" for d in _DOMAINS), *(f"{d}_rank" for d in _DOMAINS))


def read_iod2019(data_dir: str | Path, *,
                 suppressed_numerator: float = SUPPRESSED_IDACI_NUMERATOR) -> pd.DataFrame:
    """IoD2019 LSOA covariates with finite values for every LSOA.

    Parameters
    ----------
    data_dir
        The data directory.
    suppressed_numerator
        IDACI numerator assumed where it was suppressed (see the module docstring).

    Returns
    -------
    pandas.DataFrame
        One row per LSOA: ``lsoa_code, lsoa_name, lad19_code, lad19_name``, ``idaci``
        (proportion of children 0-15 income deprived, rebuilt), ``idaci_numerator`` (NaN
        where suppressed), ``idaci_suppressed``, ``imd_score``, ``income_score`` and
        ``employment_score`` (proportions, the published percentages / 100), the rank and
        decile of the IMD and each domain, ``idaci_decile`` (official; 1 = most deprived),
        ``children_0_15_mid2015`` and ``population_mid2015``.

    Raises
    ------
    DataValidationError
        Naming the column and lines of any blank, non-numeric, negative or out-of-range
        value, duplicate LSOA codes, or LSOAs with no children.
    """
    path = resolve(data_dir, IOD_FILE)
    source = str(path)
    raw = read_text_csv(path, [*_TEXT, *_NUMERIC, "idaci_numerator"])
    problems = duplicate_problems(raw, ["lsoa11cd"], "LSOA")
    blank = (raw["lsoa11cd"] == "").to_numpy()
    if blank.any():
        problems.append(f"column 'lsoa11cd' is blank at line(s) {file_lines(raw, blank)}")
    frame = pd.DataFrame({tidy: raw[column].to_numpy() for column, tidy in _TEXT.items()})
    for column, (tidy, scale, whole) in _NUMERIC.items():
        values, _, found = parse_numbers(raw, column, source, codes=(), whole=whole)
        problems += found
        frame[tidy] = values * scale
    for column in _DECILES:
        out = (frame[column] < 1) | (frame[column] > 10)
        if out.any():
            problems.append(f"column '{column}' must be a decile 1-10 at line(s) "
                            f"{file_lines(raw, out.to_numpy())}")
    childless = (frame["children_0_15_mid2015"] <= 0).to_numpy()
    if childless.any():
        problems.append(f"column 'pop_children_0_15_mid2015' must be > 0 (it is the IDACI "
                        f"denominator) at line(s) {file_lines(raw, childless)}")
    numerator, _, found = parse_numbers(raw, "idaci_numerator", source, codes=(BLANK,))
    problems += found
    if problems:
        raise DataValidationError(source, problems)

    frame["idaci_numerator"] = numerator
    frame["idaci_suppressed"] = np.isnan(numerator)
    frame["idaci"] = _rebuild_idaci(numerator, frame["children_0_15_mid2015"].to_numpy(),
                                    frame["idaci_decile"].to_numpy(), suppressed_numerator)
    order = ["lsoa_code", "lsoa_name", "lad19_code", "lad19_name", "idaci", "idaci_decile",
             "idaci_numerator", "idaci_suppressed", "imd_score", "income_score",
             "employment_score"]
    rest = [c for c in frame.columns if c not in order]
    return frame[order + rest]


def _rebuild_idaci(numerator: np.ndarray, children: np.ndarray, decile: np.ndarray,
                   suppressed_numerator: float) -> np.ndarray:
    """IDACI proportion with suppressed numerators imputed within their official decile."""
    score = numerator / children
    observed = ~np.isnan(score)
    by_decile = pd.Series(score[observed]).groupby(decile[observed])
    low = by_decile.min().reindex(decile).to_numpy()
    high = by_decile.max().reindex(decile).to_numpy()
    guess = suppressed_numerator / children
    # A decile with no published numerator gives no bounds: keep the unclipped guess.
    clipped = np.clip(guess, np.where(np.isnan(low), -np.inf, low),
                      np.where(np.isnan(high), np.inf, high))
    return np.where(observed, score, clipped)
