"""Tests for :class:`~bayes_needs.data.cost_design.CostDesign`."""

from __future__ import annotations

import json

import pytest

from bayes_needs.data.cost_design import THOUSAND, CostDesign


def design(**changes) -> CostDesign:
    values = dict(
        categories={"placements": ("cla_foster_week", "cla_residential_week"),
                    "social_work": ("cin_case",)},
        volumes={"cla_foster_week": "cla_weeks", "cla_residential_week": "cla_weeks",
                 "cin_case": "cin"},
        placements={"foster": 0.7, "residential": 0.3},
        activity_placement={"cla_foster_week": "foster", "cla_residential_week": "residential"},
        service_map={"cla_weeks": {"cla_foster_week": 0.7, "cla_residential_week": 0.3},
                     "cin": {"cin_case": 1.0}},
        description="test design")
    return CostDesign(**{**values, **changes})


ACTIVITIES = ("cla_foster_week", "cla_residential_week", "cin_case")


def test_spend_is_in_thousands():
    assert THOUSAND == 1000.0


def test_activities_in_first_use_order():
    shared = design(categories={"b": ("y", "x"), "a": ("x", "z")})
    assert shared.activities == ("y", "x", "z")


def test_round_trip_through_json_keeps_order():
    """Stored configs sort keys; the order of categories and placements must survive."""
    original = design(categories={"z_last": ("cin_case",),
                                  "a_first": ("cla_foster_week", "cla_residential_week")},
                      placements={"residential": 0.3, "foster": 0.7})
    stored = json.loads(json.dumps(original.to_dict(), sort_keys=True))
    restored = CostDesign.from_dict(stored)
    assert list(restored.categories) == ["z_last", "a_first"]
    assert list(restored.placements) == ["residential", "foster"]
    assert restored.activities == original.activities
    assert {k: list(v) for k, v in restored.categories.items()} == \
        {k: list(v) for k, v in original.categories.items()}
    assert dict(restored.service_map) == dict(original.service_map)
    assert restored.description == "test design"


def test_from_dict_accepts_plain_mappings_and_defaults():
    restored = CostDesign.from_dict({"categories": {"c": ["cin_case"]},
                                     "volumes": {"cin_case": "cin"}})
    assert restored.activities == ("cin_case",)
    assert dict(restored.placements) == {} and restored.description == ""


def test_consistent_design_has_no_problems():
    assert design().problems(ACTIVITIES) == []


@pytest.mark.parametrize(("changes", "activities", "expected"), [
    ({"categories": {}}, ACTIVITIES, "design has no spend categories"),
    ({}, ACTIVITIES[:2], "categories use activities ['cin_case'] that have no unit-cost prior"),
    ({}, (*ACTIVITIES, "nursery_week"), "unit-cost activities ['nursery_week'] are recorded "
                                         "in no spend category"),
    ({"volumes": {"cla_foster_week": "cla_weeks", "cla_residential_week": "cla_weeks"}},
     ACTIVITIES, "activity 'cin_case' has no volume"),
    ({"placements": {"foster": 0.7, "residential": 0.4}}, ACTIVITIES,
     "must be > 0 and sum to 1"),
    ({"placements": {"foster": 1.0, "residential": 0.0}}, ACTIVITIES,
     "must be > 0 and sum to 1"),
    ({"activity_placement": {"cla_foster_week": "kinship"}}, ACTIVITIES,
     "activity 'cla_foster_week' is tied to unknown placement 'kinship'"),
    ({"service_map": {"cin": {"cin_visit": 1.0}}}, ACTIVITIES,
     "service 'cin' maps to unknown activities ['cin_visit']"),
])
def test_each_inconsistency_is_named(changes, activities, expected):
    problems = design(**changes).problems(activities)
    assert any(expected in problem for problem in problems), problems
