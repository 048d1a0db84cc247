"""Tests for :mod:`bayes_needs.data.readers.lookups`: the district -> upper-tier LA mapping."""

from __future__ import annotations

import pandas as pd
import pytest

from bayes_needs.core.errors import GeographyError
from bayes_needs.data.readers.lookups import LOOKUP_FILE, district_las, read_lookup


def test_each_district_gets_the_la_of_its_lsoas_sorted_by_district():
    lookup = pd.DataFrame({"lad23_code": ["E07000178", "E06000001", "E07000178", "E07000177"],
                           "la_code": ["E10000025", "E06000001", "E10000025", "E10000025"]})
    mapping = district_las(lookup)
    assert mapping.to_dict() == {"E06000001": "E06000001", "E07000177": "E10000025",
                                 "E07000178": "E10000025"}
    assert list(mapping.index) == sorted(mapping.index)


def test_a_district_in_two_las_or_a_blank_district_is_refused_naming_the_file():
    lookup = pd.DataFrame({"lad23_code": ["E07000178", "E07000178", "", "E06000001"],
                           "la_code": ["E10000025", "E10000030", "E06000002", "E06000001"]})
    with pytest.raises(GeographyError) as caught:
        district_las(lookup, source="lookup.csv")
    assert caught.value.source == "lookup.csv" and len(caught.value.problems) == 2
    assert "E07000178" in caught.value.problems[1]


@pytest.mark.realdata
def test_the_real_lookup_has_296_districts_in_153_las(data_dir):
    mapping = district_las(read_lookup(data_dir))
    raw = pd.read_csv(data_dir / LOOKUP_FILE, dtype=str, usecols=["lad23cd", "utla23cd"])
    expected = raw.drop_duplicates().set_index("lad23cd")["utla23cd"].sort_index()
    assert len(mapping) == 296 and mapping.nunique() == 153
    pd.testing.assert_series_equal(mapping, expected, check_names=False)
