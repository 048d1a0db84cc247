"""Covariate transforms shared by the models, the readers and the synthetic generator.

:func:`standardise` keeps coefficients in a synthetic truth and in a fitted model on the same
scale. :func:`normal_scores` turns ranks, deciles or skewed scores into N(0, 1)-like
indicators (used for the IoD2019 indicators of the panel data).
"""

from __future__ import annotations

from typing import Any, overload

import numpy as np
import pandas as pd
from scipy.special import ndtri
from scipy.stats import rankdata

from bayes_needs.core.errors import DataValidationError

#: Blom's offset in the plotting position (r - a) / (n + 1 - 2a).
BLOM_OFFSET = 3 / 8


def standardise(covariates: pd.DataFrame) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """Centre and scale each column: ``z = (x - mean) / std`` with the population std (ddof=0).

    Returns
    -------
    z, mean, std
        The standardised frame (same index and columns) and the per-column mean and std.

    Raises
    ------
    DataValidationError
        If a column is constant (std 0), which would make its coefficient unidentifiable.
    """
    mean = covariates.mean(axis=0)
    std = covariates.std(axis=0, ddof=0)
    constant = [c for c in covariates.columns if not np.isfinite(std[c]) or std[c] <= 0]
    if constant:
        raise DataValidationError("covariates", [f"column '{c}' is constant across LSOAs, so "
                                                 f"its effect cannot be estimated; drop it"
                                                 for c in constant])
    return (covariates - mean) / std, mean, std


@overload
def normal_scores(values: pd.Series, *, reverse: bool = ...,
                  source: str = ...) -> pd.Series: ...


@overload
def normal_scores(values: Any, *, reverse: bool = ..., source: str = ...) -> np.ndarray: ...


def normal_scores(values: Any, *, reverse: bool = False,
                  source: str = "values") -> pd.Series | np.ndarray:
    """Rank-based inverse normal scores (Blom): ``z = Phi^-1((r - 3/8) / (n + 1/4))``.

    ``r`` is the rank of each value among the ``n`` values (1 = smallest); tied values share
    their average rank, so a decile becomes ten distinct levels. The scores keep the order of
    the values and are close to N(0, 1) whatever the values' distribution.

    Parameters
    ----------
    values
        One-dimensional finite numbers (array-like or :class:`pandas.Series`).
    reverse
        Score the negated values, so the smallest value gets the highest score. Use it for
        IoD ranks and deciles, where 1 is the most deprived, to make higher scores mean more
        deprived; IoD scores are already higher = more deprived and need no reversal.
    source
        Name of the values, used in error messages.

    Returns
    -------
    pandas.Series or numpy.ndarray
        The scores: a Series with the same index and name when given a Series, else an
        array.

    Raises
    ------
    DataValidationError
        If the values are not one-dimensional or not all finite numbers.
    """
    try:
        x = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise DataValidationError(source, ["values must be numbers"]) from None
    if x.ndim != 1:
        raise DataValidationError(source, [f"values must be one-dimensional, got shape "
                                           f"{x.shape}"])
    bad = np.flatnonzero(~np.isfinite(x))
    if len(bad):
        raise DataValidationError(source, [f"{len(bad)} value(s) are not finite numbers, at "
                                           f"position(s) {[int(i) for i in bad[:5]]}"])
    ranks = rankdata(-x if reverse else x, method="average")
    scores = ndtri((ranks - BLOM_OFFSET) / (len(x) + 1 - 2 * BLOM_OFFSET))
    if isinstance(values, pd.Series):
        return pd.Series(scores, index=values.index, name=values.name)
    return np.asarray(scores, dtype=float)
