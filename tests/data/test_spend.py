"""Tests for :class:`~bayes_needs.data.spend.SpendData` and
:class:`~bayes_needs.data.spend.UnitCosts`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.spend import SpendData, UnitCosts


def test_spend_data():
    spend = pd.DataFrame({"la_code": ["E1", "E2"], "category": ["cla", "cla"],
                          "spend": [10.0, 20.5], "year": ["2024-25"] * 2})
    volumes = pd.DataFrame({"la_code": ["E1", "E2", "E2"], "activity": ["cla_weeks"] * 2
                            + ["cin"], "volume": [5.0, 6.0, 1.0]})
    data = SpendData.from_frames(spend, volumes, year="2024-25", la_codes=["E1", "E2", "E3"])
    assert data.spend["spend"].sum() == 30.5
    assert len(data.volumes) == 3


def test_unit_costs():
    table = pd.DataFrame({"activity": ["cla_weeks", "cin"], "unit_cost": ["1200", 80.0],
                          "sd_log": [0.1, 0.25], "price_base": ["2024-25", "2024-25"]})
    costs = UnitCosts.from_frame(table)
    assert costs.activities == ("cla_weeks", "cin")
    assert costs.table["unit_cost"].tolist() == [1200.0, 80.0]


def test_spend_la_codes_may_be_any_iterable():
    """The known LA codes are read once, so a generator checks both tables alike."""
    spend = pd.DataFrame({"la_code": ["E1", "E9"], "category": ["cla", "cla"],
                          "spend": [10.0, 20.5]})
    volumes = pd.DataFrame({"la_code": ["E1", "E9"], "activity": ["cla_weeks"] * 2,
                            "volume": [5.0, 6.0]})
    with pytest.raises(DataValidationError) as info:
        SpendData.from_frames(spend, volumes, la_codes=(c for c in ["E1", "E2"]))
    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("spend column 'la_code'") and "['E9']" in problems[0]
    assert problems[1].startswith("volumes column 'la_code'") and "['E9']" in problems[1]
    data = SpendData.from_frames(spend, volumes, la_codes=np.array(["E1", "E9"], dtype=object))
    assert data.spend["la_code"].tolist() == ["E1", "E9"]


def test_spend_without_volumes_and_mismatched_year():
    spend = pd.DataFrame({"la_code": ["E1", "E2"], "category": ["cla", "cla"],
                          "spend": [10.0, 20.5], "year": ["2023-24", "2024-25"]})
    volumes = pd.DataFrame({"la_code": ["E1"], "activity": ["cla_weeks"], "volume": [5.0]})
    with pytest.raises(DataValidationError) as info:
        SpendData.from_frames(spend, volumes, year="2024-25", source="s251")
    text = str(info.value)
    assert "mismatched years in s251 (spend)" in text
    assert "LA(s) ['E2'] have spend but no activity volumes" in text


def test_unit_cost_activity_names_checked():
    table = pd.DataFrame({"activity": ["CLA weeks", "cin"], "unit_cost": [1200.0, 80.0],
                          "sd_log": [0.1, 0.25], "price_base": ["2024-25", "2024-25"]})
    with pytest.raises(DataValidationError, match="lower-case identifiers"):
        UnitCosts.from_frame(table, source="costs.csv")
