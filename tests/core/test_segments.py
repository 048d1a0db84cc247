"""Segment helpers (core/segments.py): padded layout and the multinomial split."""

from __future__ import annotations

import numpy as np

from bayes_needs.core.segments import multinomial_split, padded_columns


def test_padded_columns_right_align_each_group():
    group = np.array([0, 0, 0, 2, 3, 3])
    columns, width = padded_columns(group, n_group=4)
    assert width == 3
    np.testing.assert_array_equal(columns, [0, 1, 2, 2, 1, 2])


def test_multinomial_split_keeps_totals_and_zero_weights_get_nothing():
    rng = np.random.default_rng(5)
    group = np.array([0, 0, 0, 1, 2, 2])
    weight = np.array([1.0, 0.0, 3.0, 2.0, 0.0, 0.0])
    totals = np.array([1000, 7, 4])
    split = multinomial_split(totals, weight, group, rng)
    np.testing.assert_array_equal(np.bincount(group, weights=split, minlength=3), totals)
    assert split[1] == 0  # zero weight within a weighted group
    assert split[3] == 7  # a group of one takes its whole total
    np.testing.assert_array_equal(split[4:], [0, 4])  # all-zero weights: the last element
    assert 650 < split[2] < 850  # expected 750 of 1000


def test_multinomial_split_is_reproducible_with_a_seed():
    group = np.repeat(np.arange(5), 4)
    weight = np.random.default_rng(1).uniform(size=20)
    totals = np.arange(5) * 10
    first = multinomial_split(totals, weight, group, np.random.default_rng(9))
    second = multinomial_split(totals, weight, group, np.random.default_rng(9))
    np.testing.assert_array_equal(first, second)
