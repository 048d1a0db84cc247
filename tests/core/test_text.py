"""Text helpers shared by the writers and the report."""

from __future__ import annotations

import pytest

from bayes_needs.core.text import count_of, is_number


@pytest.mark.parametrize(("text", "expected"), [
    ("-1.5", True), ("3", True), ("1e-3", True), ("nan", True), (" 2 ", True),
    ("=1+1", False), ("", False), ("-", False), ("1,000", False), ("E06000001", False)])
def test_is_number_is_what_float_reads(text, expected):
    assert is_number(text) is expected


@pytest.mark.parametrize(("count", "expected"), [(0, "0 LAs"), (1, "1 LA"), (2, "2 LAs")])
def test_count_of_puts_the_noun_in_the_right_number(count, expected):
    assert count_of(count, "LA") == expected
    assert count_of(count, "child", "children").split()[1] == \
        ("child" if count == 1 else "children")
