"""Tests for :class:`bayes_needs.data.geography.Geography`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_needs.core.errors import ConfigError, DataValidationError, GeographyError
from bayes_needs.data.geography import Geography, as_level

# LA "E2" holds MSOA "A1" and LA "E1" holds MSOA "Z9": canonical MSOA order follows the LA,
# not the MSOA code, so ["Z9", "Z8", "A1"] is right and plain code order would be wrong.
NESTING = {
    "E1": {"Z9": ["L5", "L1"], "Z8": ["L9"]},
    "E2": {"A1": ["L2", "L7", "L3"]},
}


def nesting_frame(nesting=NESTING, seed: int | None = 0) -> pd.DataFrame:
    rows = [{"lsoa_code": lsoa, "msoa_code": msoa, "la_code": la,
             "lsoa_name": f"lsoa {lsoa}", "msoa_name": f"msoa {msoa}", "la_name": f"la {la}"}
            for la, msoas in nesting.items() for msoa, lsoas in msoas.items() for lsoa in lsoas]
    frame = pd.DataFrame(rows)
    if seed is not None:
        frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frame


def named(frame: pd.DataFrame, **kwargs) -> Geography:
    return Geography.from_frame(frame, lsoa_name="lsoa_name", msoa_name="msoa_name",
                                la_name="la_name", **kwargs)


@pytest.fixture
def geo() -> Geography:
    return named(nesting_frame())


# ---------------------------------------------------------------------- construction
def test_canonical_order(geo):
    assert list(geo.la_codes) == ["E1", "E2"]
    assert list(geo.msoa_codes) == ["Z8", "Z9", "A1"]
    assert list(geo.lsoa_codes) == ["L9", "L1", "L5", "L2", "L3", "L7"]
    assert list(geo.lsoa_to_msoa) == [0, 1, 1, 2, 2, 2]
    assert list(geo.msoa_to_la) == [0, 0, 1]
    assert list(geo.lsoa_to_la) == [0, 0, 0, 1, 1, 1]
    # Contiguous runs are what the multinomial split's padded rows rely on.
    assert np.all(np.diff(geo.lsoa_to_msoa) >= 0) and np.all(np.diff(geo.msoa_to_la) >= 0)


def test_names_follow_codes(geo):
    assert list(geo.names("msoa")) == [f"msoa {c}" for c in geo.msoa_codes]
    assert list(geo.names("la")) == ["la E1", "la E2"]
    assert list(geo.names("lsoa")) == [f"lsoa {c}" for c in geo.lsoa_codes]


def test_names_default_to_codes():
    geo = Geography.from_frame(nesting_frame())
    for level in ("lsoa", "msoa", "la"):
        assert list(geo.names(level)) == list(geo.codes(level))


def test_sizes_and_parent_index(geo):
    assert (geo.n_lsoa, geo.n_msoa, geo.n_la) == (6, 3, 2)
    assert [geo.size(level) for level in ("lsoa", "msoa", "la")] == [6, 3, 2]
    assert list(geo.parent_index("lsoa", "la")) == list(geo.lsoa_to_la)
    assert list(geo.parent_index("msoa", "msoa")) == [0, 1, 2]
    with pytest.raises(ConfigError, match="finer"):
        geo.parent_index("la", "lsoa")
    with pytest.raises(ConfigError, match="ward"):
        geo.codes("ward")


def test_row_order_does_not_matter():
    a = named(nesting_frame(seed=1))
    b = named(nesting_frame(seed=2))
    assert a.fingerprint() == b.fingerprint()
    assert list(a.lsoa_codes) == list(b.lsoa_codes)


def test_fingerprint_sensitive_to_nesting():
    moved = {"E1": {"Z9": ["L5"], "Z8": ["L9", "L1"]}, "E2": NESTING["E2"]}
    assert named(nesting_frame()).fingerprint() != named(nesting_frame(moved)).fingerprint()


def test_to_frame_round_trip(geo):
    again = named(geo.to_frame())
    assert again.fingerprint() == geo.fingerprint()
    assert list(again.msoa_names) == list(geo.msoa_names)


def test_codes_are_stripped_strings():
    frame = nesting_frame()
    frame["lsoa_code"] = " " + frame["lsoa_code"] + "  "
    geo = Geography.from_frame(frame)
    assert "L1" in set(geo.lsoa_codes)
    numeric = pd.DataFrame({"lsoa_code": [1, 2, 3], "msoa_code": [10, 10, 11],
                            "la_code": [100, 100, 100]})
    geo = Geography.from_frame(numeric)
    assert list(geo.lsoa_codes) == ["1", "2", "3"]
    assert all(isinstance(c, str) for c in geo.msoa_codes)


def test_input_frame_not_modified():
    frame = nesting_frame()
    frame["lsoa_code"] = frame["lsoa_code"] + " "
    before = frame.copy()
    Geography.from_frame(frame)
    pd.testing.assert_frame_equal(frame, before)


def test_single_unit_geography():
    geo = Geography.from_frame(pd.DataFrame({"lsoa_code": ["a"], "msoa_code": ["m"],
                                             "la_code": ["l"]}))
    assert geo.aggregate(np.array([3.5])).tolist() == [3.5]


def test_every_problem_reported_at_once():
    frame = nesting_frame(seed=None)
    frame.loc[0, "msoa_code"] = "A1"           # MSOA A1 now in two LAs
    frame.loc[3, "lsoa_code"] = frame.loc[4, "lsoa_code"]  # duplicate LSOA
    with pytest.raises(GeographyError) as info:
        Geography.from_frame(frame, source="lookup.csv")
    assert len(info.value.problems) >= 2
    assert str(info.value).startswith("lookup.csv")
    assert "'A1'" in str(info.value) and "duplicate" in str(info.value)


def test_empty_units_reported():
    with pytest.raises(GeographyError, match=r"E9"):
        Geography.from_frame(nesting_frame(), expected_las=["E1", "E2", "E9"])
    with pytest.raises(GeographyError, match=r"M404"):
        Geography.from_frame(nesting_frame(), expected_msoas=["Z9", "M404"])
    # Listing only units that exist is fine.
    Geography.from_frame(nesting_frame(), expected_las=["E1", "E2"], expected_msoas=["A1"])


# ---------------------------------------------------------------------- position
def test_position(geo):
    assert list(geo.position("lsoa", ["L7", "L9"])) == [5, 0]
    assert list(geo.position("la", np.array(["E2"], dtype=object))) == [1]
    assert list(geo.position("msoa", pd.Series(["A1", "Z9"], dtype="str"))) == [2, 1]
    assert list(geo.position("msoa", "Z8")) == [0]


def test_position_names_unknown_codes(geo):
    with pytest.raises(DataValidationError) as info:
        geo.position("lsoa", ["L1", "NOPE1", "NOPE2", "NOPE1"], what="referrals.csv")
    message = str(info.value)
    assert message.startswith("referrals.csv")
    assert "NOPE1" in message and "NOPE2" in message and "2 unknown LSOA" in message
    # A code of another level is unknown at this level.
    with pytest.raises(DataValidationError, match="A1"):
        geo.position("lsoa", ["A1"])


# ---------------------------------------------------------------------- aggregation
def test_aggregate_numpy(geo):
    values = np.arange(6, dtype=float)  # canonical order L9 L1 L5 | L2 L3 L7
    assert geo.aggregate(values, "lsoa", "msoa").tolist() == [0.0, 3.0, 12.0]
    assert geo.aggregate(values).tolist() == [3.0, 12.0]
    assert geo.aggregate(np.array([1, 2, 3]), "msoa", "la").tolist() == [3, 3]
    same = geo.aggregate(values, "lsoa", "lsoa")
    assert same.tolist() == values.tolist() and same is not values


def test_aggregate_keeps_integer_dtype(geo):
    out = geo.aggregate(np.ones(6, dtype=np.int64))
    assert out.dtype == np.int64 and out.tolist() == [3, 3]


def test_aggregate_leading_dims(geo):
    rng = np.random.default_rng(42)
    values = rng.normal(size=(2, 5, 6))
    out = geo.aggregate(values, "lsoa", "la")
    assert out.shape == (2, 5, 2)
    np.testing.assert_allclose(out[..., 0], values[..., :3].sum(-1))
    np.testing.assert_allclose(out[..., 1], values[..., 3:].sum(-1))


def test_aggregate_errors(geo):
    with pytest.raises(DataValidationError, match="length 5"):
        geo.aggregate(np.ones(5))
    with pytest.raises(DataValidationError, match="scalar"):
        geo.aggregate(1.0)
    with pytest.raises(ConfigError, match="finer"):
        geo.aggregate(np.ones(2), "la", "msoa")


def test_aggregate_dataarray(geo):
    rng = np.random.default_rng(7)
    values = rng.poisson(3.0, size=(6, 2, 4)).astype(float)
    da = xr.DataArray(values, dims=("lsoa", "chain", "draw"),
                      coords={"lsoa": geo.lsoa_codes, "draw": np.arange(4),
                              "lsoa_name": ("lsoa", geo.lsoa_names)},
                      name="rate", attrs={"units": "children"})
    out = geo.aggregate(da, "lsoa", "msoa")
    assert out.dims == ("chain", "draw", "msoa")
    assert list(out["msoa"].values) == list(geo.msoa_codes)
    assert list(out["msoa_name"].values) == list(geo.msoa_names)
    assert "lsoa_name" not in out.coords
    assert out.name == "rate" and out.attrs == {"units": "children"}
    expected = geo.aggregate(np.moveaxis(values, 0, -1), "lsoa", "msoa")
    np.testing.assert_allclose(out.values, expected)


def test_aggregate_dataarray_reorders_coordinate(geo):
    values = np.arange(6, dtype=float)
    da = xr.DataArray(values, dims="lsoa", coords={"lsoa": geo.lsoa_codes})
    shuffled = da.isel(lsoa=[5, 3, 0, 1, 4, 2])
    np.testing.assert_allclose(geo.aggregate(shuffled).values, geo.aggregate(da).values)


def test_aggregate_dataarray_errors(geo):
    with pytest.raises(DataValidationError, match="no 'lsoa' dim"):
        geo.aggregate(xr.DataArray(np.ones(2), dims="la"))
    wrong = xr.DataArray(np.ones(6), dims="lsoa",
                         coords={"lsoa": [*geo.lsoa_codes[:5], "ZZ"]})
    with pytest.raises(DataValidationError, match="ZZ"):
        geo.aggregate(wrong)
    repeated = xr.DataArray(np.ones(6), dims="lsoa",
                            coords={"lsoa": [*geo.lsoa_codes[:5], geo.lsoa_codes[0]]})
    with pytest.raises(DataValidationError, match="exactly once"):
        geo.aggregate(repeated)


@st.composite
def nestings(draw):
    """A random LSOA -> MSOA -> LA nesting with shuffled, non-sorted codes."""
    n_la = draw(st.integers(1, 4))
    msoas_per_la = draw(st.lists(st.integers(1, 3), min_size=n_la, max_size=n_la))
    lsoas_per_msoa = draw(st.lists(st.integers(1, 4), min_size=sum(msoas_per_la),
                                   max_size=sum(msoas_per_la)))
    n_lsoa = sum(lsoas_per_msoa)
    ids = draw(st.lists(st.integers(0, 10_000), min_size=n_lsoa + len(lsoas_per_msoa) + n_la,
                        max_size=n_lsoa + len(lsoas_per_msoa) + n_la, unique=True))
    la_codes = [f"E{i}" for i in ids[:n_la]]
    msoa_codes = [f"M{i}" for i in ids[n_la:n_la + len(lsoas_per_msoa)]]
    lsoa_codes = [f"L{i}" for i in ids[n_la + len(lsoas_per_msoa):]]
    la_of_msoa = np.repeat(la_codes, msoas_per_la)
    msoa_of_lsoa = np.repeat(msoa_codes, lsoas_per_msoa)
    frame = pd.DataFrame({"lsoa_code": lsoa_codes, "msoa_code": msoa_of_lsoa,
                          "la_code": la_of_msoa[[msoa_codes.index(m) for m in msoa_of_lsoa]]})
    order = draw(st.permutations(range(n_lsoa)))
    return frame.iloc[list(order)].reset_index(drop=True)


@settings(max_examples=60, deadline=None)
@given(frame=nestings(), lead=st.lists(st.integers(1, 3), max_size=2),
       seed=st.integers(0, 2**32 - 1))
def test_aggregate_matches_groupby(frame, lead, seed):
    geo = Geography.from_frame(frame)
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(*lead, len(frame)))  # last axis in the *input* row order
    by_code = pd.DataFrame(values.reshape(-1, len(frame)).T, index=frame["lsoa_code"])
    canonical = by_code.loc[geo.lsoa_codes].to_numpy().T.reshape(*lead, len(frame))
    for level, col in (("msoa", "msoa_code"), ("la", "la_code")):
        naive = by_code.groupby(frame[col].to_numpy()).sum().loc[geo.codes(level)]
        expected = naive.to_numpy().T.reshape(*lead, geo.size(level))
        np.testing.assert_allclose(geo.aggregate(canonical, "lsoa", level), expected,
                                   atol=1e-12)
    msoa_totals = geo.aggregate(canonical, "lsoa", "msoa")
    np.testing.assert_allclose(geo.aggregate(msoa_totals, "msoa", "la"),
                               geo.aggregate(canonical, "lsoa", "la"), atol=1e-12)
    # Canonical order: LAs sorted; MSOAs by (LA, code); LSOAs by (MSOA position, code).
    assert list(geo.la_codes) == sorted(geo.la_codes)
    msoa_key = list(zip(geo.msoa_to_la, geo.msoa_codes, strict=True))
    assert msoa_key == sorted(msoa_key)
    lsoa_key = list(zip(geo.lsoa_to_msoa, geo.lsoa_codes, strict=True))
    assert lsoa_key == sorted(lsoa_key)


# ---------------------------------------------------------------------- levels
@pytest.mark.parametrize("level", ["lsoa", "msoa", "la"])
def test_as_level_accepts_the_levels(level):
    assert as_level(level) == level


@pytest.mark.parametrize("level", ["ward", "LA", "", None, 2])
def test_as_level_names_anything_else(level, geo):
    with pytest.raises(ConfigError, match="unknown level"):
        as_level(level)
    with pytest.raises(ConfigError, match="unknown level"):
        geo.size(level)


# ---------------------------------------------------------------------- subsets
def test_subset_las(geo):
    sub = geo.subset_las(["E2"])
    assert list(sub.la_codes) == ["E2"]
    assert list(sub.msoa_codes) == ["A1"]
    assert list(sub.lsoa_codes) == ["L2", "L3", "L7"]
    assert list(sub.la_names) == ["la E2"]
    both = geo.subset_las(["E2", "E1"])
    assert both.fingerprint() == geo.fingerprint()


def test_subset_las_errors(geo):
    with pytest.raises(DataValidationError, match="E404"):
        geo.subset_las(["E1", "E404"])
    with pytest.raises(GeographyError, match="no LA codes"):
        geo.subset_las([])


def test_coords(geo):
    coords = geo.coords("la")
    da = xr.DataArray(np.zeros(2), dims="la", coords=coords)
    assert list(da["la_name"].values) == ["la E1", "la E2"]


# ---------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_real_lookup(data_dir):
    frame = pd.read_csv(data_dir / "lookups" / "lookup_lsoa11_msoa11_lad19_lad23_utla23_dfe.csv.gz")
    geo = Geography.from_frame(frame, lsoa_code="lsoa11cd", msoa_code="msoa11cd",
                               la_code="utla23cd", lsoa_name="lsoa11nm", msoa_name="msoa11nm",
                               la_name="utla23nm", source="lookup")
    assert (geo.n_lsoa, geo.n_msoa, geo.n_la) == (32_844, 6_791, 153)
    counts = frame.groupby("utla23cd").size().loc[geo.la_codes].to_numpy()
    assert geo.aggregate(np.ones(geo.n_lsoa, dtype=np.int64)).tolist() == counts.tolist()
