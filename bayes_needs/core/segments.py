"""Vectorised operations on contiguous segments (e.g. the LSOAs of each MSOA)."""

from __future__ import annotations

import numpy as np


def padded_columns(group: np.ndarray, n_group: int) -> tuple[np.ndarray, int]:
    """Column of each element when groups are laid out as rows of a right-aligned padded
    table (the last element of every group in the last column), and the table width.

    ``group`` must be sorted (elements of a group contiguous).
    """
    size = np.bincount(group, minlength=n_group)
    starts = np.cumsum(size) - size
    width = int(size.max()) if len(size) else 0
    position = np.arange(len(group)) - starts[group]
    return width - size[group] + position, width


def multinomial_split(totals: np.ndarray, weight: np.ndarray, group: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """Multinomial split of each group's total over its elements with probabilities
    ``weight`` normalised within the group, as one multinomial draw over padded rows.

    Right alignment puts a real element in the last column, which numpy's multinomial gives
    the remaining probability, so padding cells get exactly zero.
    """
    n_group = len(totals)
    column, width = padded_columns(group, n_group)
    group_weight = np.bincount(group, weights=weight, minlength=n_group)
    pvals = np.zeros((n_group, width))
    with np.errstate(invalid="ignore", divide="ignore"):
        pvals[group, column] = np.where(group_weight[group] > 0,
                                        weight / group_weight[group], 0.0)
    return rng.multinomial(np.asarray(totals, dtype=np.int64), pvals)[group, column]
