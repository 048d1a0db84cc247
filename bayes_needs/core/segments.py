"""Vectorised operations on contiguous segments (e.g. the LSOAs of each MSOA)."""

from __future__ import annotations

import numpy as np


def padded_columns(group: np.ndarray, n_group: int) -> tuple[np.ndarray, int]:
    """Lay groups out as the rows of a right-aligned padded table.

    The last element of every group goes in the last column.

    Parameters
    ----------
    group
        Group index of each element, sorted (the elements of a group are contiguous).
    n_group
        Number of groups (rows), including empty ones.

    Returns
    -------
    columns : numpy.ndarray
        Column of each element.
    width : int
        Table width: the size of the largest group.
    """
    size = np.bincount(group, minlength=n_group)
    starts = np.cumsum(size) - size
    width = int(size.max()) if len(size) else 0
    position = np.arange(len(group)) - starts[group]
    return width - size[group] + position, width


def multinomial_split(totals: np.ndarray, weight: np.ndarray, group: np.ndarray,
                      rng: np.random.Generator) -> np.ndarray:
    """Split each group's total over its elements by one multinomial draw over padded rows.

    The probabilities are ``weight`` normalised within each group. Right alignment (see
    :func:`padded_columns`) puts a real element in the last column, which numpy's multinomial
    gives the remaining probability, so padding cells get exactly zero.

    Parameters
    ----------
    totals
        Whole-number total of each group.
    weight
        Non-negative weight of each element; a group whose weights sum to 0 gets all its
        total in its last element.
    group
        Group index of each element, sorted.
    rng
        The random generator (one ``multinomial`` call).

    Returns
    -------
    numpy.ndarray
        Integer count of each element, summing to ``totals`` within each group.
    """
    n_group = len(totals)
    column, width = padded_columns(group, n_group)
    group_weight = np.bincount(group, weights=weight, minlength=n_group)
    pvals = np.zeros((n_group, width))
    with np.errstate(invalid="ignore", divide="ignore"):
        pvals[group, column] = np.where(group_weight[group] > 0,
                                        weight / group_weight[group], 0.0)
    return rng.multinomial(np.asarray(totals, dtype=np.int64), pvals)[group, column]
