"""Tests for :mod:`bayes_needs.data.hexmap`: the packaged hex layout of England's districts,
tagged with LAs by a district -> LA mapping (the real one from the shared lookup, or one made
up here from the hexjson's own codes)."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_needs.core.errors import DataValidationError
from bayes_needs.data.hexmap import HEXJSON_FILE, england_hexes, grid_hexes, hexes_for
from bayes_needs.data.readers.lookups import district_las, read_lookup

ROOT = Path(__file__).resolve().parents[2]
#: Made-up LAs the hand-built mapping groups the districts into.
MADE_UP_LAS = 20


def english_districts() -> list[str]:
    """The English district codes of the shipped hexjson, read directly."""
    text = resources.files("bayes_needs.data").joinpath(HEXJSON_FILE).read_text("utf-8")
    return sorted(code for code in json.loads(text)["hexes"] if code.startswith("E"))


def made_up_mapping() -> pd.Series:
    """Every English district of the hexjson -> one of 20 made-up LA codes, in turn."""
    codes = english_districts()
    return pd.Series([f"XLA{i % MADE_UP_LAS:03d}" for i in range(len(codes))],
                     index=pd.Index(codes, name="lad23_code"))


@pytest.fixture(scope="module")
def real_mapping(data_dir) -> pd.Series:
    return district_las(read_lookup(data_dir))


def test_every_district_is_tagged_with_the_la_the_mapping_gives():
    mapping = made_up_mapping()
    layout = england_hexes(mapping.sample(frac=1.0, random_state=4))  # order does not matter
    hexes = layout.hexes
    assert len(hexes) == 296 and hexes.index.is_unique
    pd.testing.assert_series_equal(hexes["la_code"], mapping.reindex(hexes.index),
                                   check_names=False)
    assert layout.la_codes == [f"XLA{i:03d}" for i in range(MADE_UP_LAS)]
    assert layout.layout == "odd-r" and layout.geographic


def test_districts_without_an_la_and_mapped_districts_without_a_hex_are_named_at_once():
    mapping = made_up_mapping()
    dropped = list(mapping.index[:20])
    broken = pd.concat([mapping.drop(dropped),
                        pd.Series({"E99999999": "XLA001", "W06000001": "XLA002"})])
    with pytest.raises(DataValidationError) as caught:
        england_hexes(broken, source="lookup.csv")
    error = caught.value
    assert error.source == HEXJSON_FILE and len(error.problems) == 22
    assert all(f"district {code} (" in " ".join(error.problems) for code in dropped)
    assert "district E99999999 of LA XLA001 in lookup.csv has no hex" in error.problems
    assert "district W06000001 of LA XLA002 in lookup.csv has no hex" in error.problems


def test_hex_centres_do_not_overlap_and_north_is_up():
    layout = england_hexes(made_up_mapping())
    x, y = layout.centres()
    points = np.column_stack([x, y])
    gaps = np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)
    np.fill_diagonal(gaps, np.inf)
    assert gaps.min() == pytest.approx(1.0)  # neighbours one hex apart, none on top of another
    names = layout.hexes["name"]
    northumberland = y[np.flatnonzero(names == "Northumberland")[0]]
    cornwall = y[np.flatnonzero(names == "Cornwall")[0]]
    assert northumberland > cornwall


@pytest.mark.realdata
def test_the_real_lookup_tags_296_districts_with_153_upper_tier_las(real_mapping):
    layout = england_hexes(real_mapping)
    hexes = layout.hexes
    assert set(hexes.index) == set(real_mapping.index) and len(layout.la_codes) == 153
    assert all(code[:3] in {"E06", "E08", "E09", "E10"} for code in layout.la_codes)
    # Unitary, metropolitan and London districts are their own LA; shire districts are not.
    single_tier = hexes.index.str[:3].isin(["E06", "E08", "E09"])
    assert (hexes.index[single_tier] == hexes["la_code"][single_tier]).all()
    assert hexes.loc["E07000178", "la_code"] == "E10000025"  # Oxford -> Oxfordshire


@pytest.mark.realdata
def test_real_codes_with_the_real_mapping_get_england(real_mapping):
    assert hexes_for(["E10000025", "E06000001"], real_mapping).geographic
    assert not hexes_for(["E10000025", "SLA0001"], real_mapping).geographic
    assert not hexes_for(["E10000025"]).geographic


def test_only_the_hex_map_and_its_notice_ship_with_the_package():
    package = resources.files("bayes_needs.data")
    shipped_files = sorted(p.name for p in package.joinpath("maps").iterdir())
    assert shipped_files == ["NOTICE.md", Path(HEXJSON_FILE).name]
    notice = package.joinpath("maps/NOTICE.md").read_text(encoding="utf-8")
    assert "MIT License" in notice and "Copyright (c) 2017- Open Innovations" in notice
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    assert "bayes_needs.data.maps" in setuptools["packages"]
    assert set(setuptools["package-data"]["bayes_needs.data.maps"]) == {"*.hexjson", "*.md"}


def test_a_mapping_that_does_not_cover_the_run_or_no_mapping_gives_a_grid():
    codes = [f"SLA{i:04d}" for i in range(10, 0, -1)]
    layout = hexes_for(codes)
    assert not layout.geographic
    assert list(layout.hexes["la_code"]) == sorted(codes)
    x, y = layout.centres()
    assert len(set(zip(x.round(6), y.round(6), strict=True))) == len(codes)
    mapping = made_up_mapping()
    assert hexes_for(["XLA001", "XLA019"], mapping).geographic
    assert not hexes_for(["XLA001", "SLA0001"], mapping).geographic
    assert not hexes_for(["XLA001"]).geographic
    assert len(grid_hexes(["A"]).hexes) == 1
