"""Design files of ``bayes-needs design``: every mistake is named by design and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bayes_needs.config.designs import load_designs, parse_designs
from bayes_needs.core.errors import ConfigFileError

SERVICES = ("referrals", "cpp", "cla")
LAS = ("E06000001", "E06000002", "E06000003", "E06000004")
GOOD = """schema_version = 1
description = "two designs"
[designs.big]
rule = "largest"
k = 2
services = ["cla", "cpp"]
years = [2024]
[designs.listed]
las = ["E06000003"]
level = "msoa"
"""


def parse(designs: dict, **top) -> object:
    return parse_designs({"schema_version": 1, "designs": designs, **top}, services=SERVICES,
                         la_codes=LAS, year=2024, source="d.toml")


def test_a_good_file_is_read_in_order(tmp_path):
    path = tmp_path / "d.toml"
    path.write_text(GOOD, encoding="utf-8")
    got = load_designs(path, services=SERVICES, la_codes=LAS, year=2024)
    assert got.names == ["big", "listed"]
    big, listed = got.designs
    assert (big.rule, big.k, big.level) == ("largest", 2, "lsoa")
    assert big.services == ("cpp", "cla")  # the run's order
    assert (listed.rule, listed.k, listed.las, listed.level) == \
        ("listed", 1, ("E06000003",), "msoa")
    assert listed.services == SERVICES


BAD = [
    ({"d": {"rule": "largest"}}, "designs.d.k: missing"),
    ({"d": {"rule": "largest", "k": 9}}, "designs.d.k: must be a whole number from 0 to 4"),
    ({"d": {"rule": "largest", "k": -1}}, "designs.d.k"),
    ({"d": {"rule": "largest", "k": True}}, "designs.d.k"),
    ({"d": {"rule": "biggest", "k": 1}}, "designs.d.rule: must be one of"),
    ({"d": {"k": 1}}, "designs.d: give either las"),
    ({"d": {"las": ["E06000001"], "rule": "random", "k": 1}}, "designs.d: give either las"),
    ({"d": {"las": ["E06000001"], "k": 1}}, "designs.d.k: not used with las"),
    ({"d": {"las": "E06000001"}}, "designs.d.las: must be a list of LA codes"),
    ({"d": {"las": ["E09999999"]}}, "designs.d.las: unknown LA code(s) ['E09999999']"),
    ({"d": {"las": ["E06000001", "E06000001"]}}, "designs.d.las: LA code(s) listed twice"),
    ({"d": {"rule": "random", "k": 1, "level": "la"}}, "designs.d.level: must be one of"),
    ({"d": {"rule": "random", "k": 1, "services": ["cin"]}},
     "designs.d.services: unknown service(s) ['cin']"),
    ({"d": {"rule": "random", "k": 1, "services": []}}, "designs.d.services: must be"),
    ({"d": {"rule": "random", "k": 1, "years": [2023, 2024]}},
     "designs.d.years: [2023] not possible: the run is a single-year fit of 2024"),
    ({"d": {"rule": "random", "k": 1, "years": 2024}}, "designs.d.years: must be a list"),
    ({"d": {"rule": "random", "k": 1, "colour": "red"}}, "designs.d: unknown key(s) ['colour']"),
    ({"d": {"linkage_coverage": 0.8}},
     "designs.d.linkage_coverage: person-linkage designs are not supported yet"),
    ({"bad name!": {"rule": "random", "k": 1}}, "designs.bad name!: invalid name"),
    ({"d": 3}, "designs.d: must be a table"),
    ({}, "designs: no designs given"),
]


@pytest.mark.parametrize(("designs", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_each_mistake_names_its_design_and_key(designs, message):
    with pytest.raises(ConfigFileError) as raised:
        parse(designs)
    assert "d.toml" in str(raised.value)
    assert message in str(raised.value)


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigFileError) as raised:
        parse({"a": {"rule": "random"}, "b": {"las": ["X"], "level": "oa"}}, colour=1)
    text = str(raised.value)
    for part in ("designs.a.k", "designs.b.las", "designs.b.level", "unknown top-level key"):
        assert part in text


def test_schema_version_is_required():
    with pytest.raises(ConfigFileError, match="schema_version"):
        parse_designs({"designs": {"d": {"rule": "random", "k": 1}}}, services=SERVICES,
                      la_codes=LAS, year=2024)


def test_codes_and_k_wait_for_the_run_when_no_las_are_given():
    got = parse_designs({"schema_version": 1, "designs": {"d": {"rule": "random", "k": 99},
                                                          "e": {"las": ["X1"]}}},
                        services=SERVICES, la_codes=None, year=2024)
    assert [d.k for d in got.designs] == [99, 1]


def test_unreadable_file_names_itself(tmp_path):
    path = Path(tmp_path) / "d.toml"
    path.write_text("schema_version = 1\n[designs.d\n", encoding="utf-8")
    with pytest.raises(ConfigFileError, match=r"d\.toml"):
        load_designs(path, services=SERVICES, la_codes=LAS, year=2024)


def test_msoa_effects_default_and_switch():
    assert parse({"d": {"rule": "random", "k": 1}}).msoa_effects is False
    assert parse({"d": {"rule": "random", "k": 1}}, msoa_effects=True).msoa_effects is True
    with pytest.raises(ConfigFileError, match="msoa_effects: must be true or false"):
        parse({"d": {"rule": "random", "k": 1}}, msoa_effects="no")
