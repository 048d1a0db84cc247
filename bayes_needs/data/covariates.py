"""Covariate standardisation shared by the models and the synthetic generator.

Sharing it keeps coefficients in a synthetic truth and in a fitted model on the same scale.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bayes_needs.core.errors import DataValidationError


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
