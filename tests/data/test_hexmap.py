"""Tests for :mod:`bayes_needs.data.hexmap`: the packaged hex layout of England's districts."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bayes_needs.data.hexmap import (
    HEXJSON_FILE,
    LOOKUP_FILE,
    england_hexes,
    grid_hexes,
    hexes_for,
)
from bayes_needs.data.readers.lookups import read_lookup

ROOT = Path(__file__).resolve().parents[2]


def test_england_has_296_districts_each_in_one_of_153_upper_tier_las():
    layout = england_hexes()
    hexes = layout.hexes
    assert len(hexes) == 296 and hexes.index.is_unique
    assert all(code.startswith("E0") for code in hexes.index)
    assert hexes["la_code"].notna().all() and len(layout.la_codes) == 153
    assert all(code[:3] in {"E06", "E08", "E09", "E10"} for code in layout.la_codes)
    # Unitary, metropolitan and London districts are their own LA; shire districts are not.
    single_tier = hexes.index.str[:3].isin(["E06", "E08", "E09"])
    assert (hexes.index[single_tier] == hexes["la_code"][single_tier]).all()
    assert hexes.loc["E07000178", "la_code"] == "E10000025"  # Oxford -> Oxfordshire
    assert layout.layout == "odd-r" and layout.geographic


def test_hex_centres_do_not_overlap_and_north_is_up():
    layout = england_hexes()
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
def test_every_real_district_maps_as_the_full_lookup_says(data_dir):
    lookup = read_lookup(data_dir)
    real = lookup.drop_duplicates("lad23_code").set_index("lad23_code")["la_code"]
    hexes = england_hexes().hexes
    assert set(hexes.index) == set(real.index)
    pd.testing.assert_series_equal(hexes["la_code"], real.reindex(hexes.index),
                                   check_names=False)


def test_the_map_files_ship_with_the_package_and_their_notice():
    package = resources.files("bayes_needs.data")
    for name in (HEXJSON_FILE, LOOKUP_FILE, "maps/NOTICE.md"):
        assert package.joinpath(name).is_file(), name
    notice = package.joinpath("maps/NOTICE.md").read_text(encoding="utf-8")
    assert "MIT License" in notice and "Copyright (c) 2017- Open Innovations" in notice
    assert "Open Government Licence v3.0" in notice
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = pyproject["tool"]["setuptools"]
    assert "bayes_needs.data.maps" in setuptools["packages"]
    shipped = setuptools["package-data"]["bayes_needs.data.maps"]
    assert {"*.hexjson", "*.csv", "*.md"} <= set(shipped)


def test_codes_that_are_not_english_las_get_a_grid():
    codes = [f"SLA{i:04d}" for i in range(10, 0, -1)]
    layout = hexes_for(codes)
    assert not layout.geographic
    assert list(layout.hexes["la_code"]) == sorted(codes)
    x, y = layout.centres()
    assert len(set(zip(x.round(6), y.round(6), strict=True))) == len(codes)
    assert hexes_for(["E10000025", "SLA0001"]).geographic
    assert len(grid_hexes(["A"]).hexes) == 1
