"""Tests for :mod:`bayes_needs.allocation`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import bayes_needs.allocation as allocation_package
from bayes_needs.allocation import (
    Allocation,
    Damping,
    allocate,
    damp_shares,
    decompose_interval_width,
)
from bayes_needs.core import defaults, dims
from bayes_needs.core.errors import (
    BayesNeedsError,
    ConfigError,
    DataValidationError,
    MissingDataError,
)
from bayes_needs.core.intervals import credible_interval

SERVICES = ["cin", "cla"]


def make_need(values: np.ndarray, la_codes=None, services=None, names=True) -> xr.DataArray:
    """Need DataArray from an array of shape (chain, draw, la, service)."""
    n_la, n_service = values.shape[2], values.shape[3]
    la_codes = la_codes or [f"E{i:08d}" for i in range(n_la)]
    services = services or [f"s{j}" for j in range(n_service)]
    coords = {dims.LA: la_codes, dims.SERVICE: services}
    if names:
        coords["la_name"] = (dims.LA, [f"Authority {i}" for i in range(n_la)])
    return xr.DataArray(values, dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
                        coords=coords)


@pytest.fixture
def need() -> xr.DataArray:
    rng = np.random.default_rng(1)
    # Service mixes differ between LAs, so the cost weights matter to the shares.
    mean = np.column_stack([np.arange(1.0, 7.0), np.arange(6.0, 0.0, -1.0)])
    return make_need(rng.gamma(20.0, mean / 20.0, size=(2, 200, 6, 2)), services=SERVICES)


@pytest.fixture
def weight_draws() -> xr.DataArray:
    rng = np.random.default_rng(2)
    return xr.DataArray(rng.lognormal([0.0, 1.0], 0.3, size=(2, 200, 2)),
                        dims=(dims.CHAIN, dims.DRAW, dims.SERVICE),
                        coords={dims.SERVICE: SERVICES})


def width(alloc: Allocation) -> np.ndarray:
    frame = alloc.summary()
    return (frame["share_upper"] - frame["share_lower"]).to_numpy()


# ====================================================================== core maths
def test_shares_sum_to_one_on_every_draw_and_allocations_to_pot(need, weight_draws):
    aca = {code: 1.0 + 0.1 * i for i, code in enumerate(need[dims.LA].values)}
    alloc = allocate(need, weight_draws, pot=1000.0, area_cost_adjustment=aca)
    np.testing.assert_allclose(alloc.draws["share"].sum(dims.LA), 1.0, atol=1e-9)
    np.testing.assert_allclose(alloc.draws["allocation"].sum(dims.LA), 1000.0, rtol=1e-12)


def test_weighted_need_combines_services_and_area_cost_adjustment():
    values = np.zeros((1, 1, 2, 2))
    values[0, 0] = [[1.0, 2.0], [3.0, 0.0]]
    need = make_need(values, la_codes=["A", "B"], services=["x", "y"])
    # A: 1*1 + 2*3 = 7, times ACA 2 -> 14; B: 3*1 = 3.
    alloc = allocate(need, {"x": 1.0, "y": 3.0}, area_cost_adjustment={"A": 2.0, "B": 1.0})
    np.testing.assert_allclose(alloc.draws["weighted_need"].values[0, 0], [14.0, 3.0])
    np.testing.assert_allclose(alloc.draws["share"].values[0, 0], [14 / 17, 3 / 17])


def test_extra_services_in_weights_are_ignored_and_series_accepted(need):
    fixed = allocate(need, {"cin": 1.0, "cla": 2.0})
    series = allocate(need, pd.Series({"cla": 2.0, "cin": 1.0, "unused": 9.0}))
    xr.testing.assert_allclose(fixed.draws["share"], series.draws["share"])


def test_constant_weight_draws_equal_fixed_weights(need):
    constant = xr.DataArray(np.broadcast_to([1.0, 2.5], (2, 200, 2)),
                            dims=(dims.CHAIN, dims.DRAW, dims.SERVICE),
                            coords={dims.SERVICE: SERVICES})
    xr.testing.assert_allclose(allocate(need, constant).draws["share"],
                               allocate(need, {"cin": 1.0, "cla": 2.5}).draws["share"])


def test_uncertain_weights_widen_intervals_vs_fixed_mean(need, weight_draws):
    fixed = allocate(need, weight_draws.mean((dims.CHAIN, dims.DRAW)))
    uncertain = allocate(need, weight_draws)
    assert (width(uncertain) > width(fixed)).mean() > 0.8


def test_joint_pairing_keeps_per_draw_correlation():
    """Weights exactly offsetting demand on every draw give a near-zero interval; pairing
    the same weight draws independently (shuffled) does not.
    """
    rng = np.random.default_rng(3)
    n_chain, n_draw = 2, 500
    shock = rng.lognormal(0.0, 0.5, size=(n_chain, n_draw))
    values = np.zeros((n_chain, n_draw, 3, 2))
    values[:, :, 0, 0] = 5.0 * shock  # LA 0 only uses service 0, scaled by the shock
    values[:, :, 1:, 1] = 1.0
    need = make_need(values, services=["a", "b"])
    weights = np.ones((n_chain, n_draw, 2))
    weights[:, :, 0] = 1.0 / shock  # perfectly anti-correlated with LA 0's demand
    joint = xr.DataArray(weights, dims=(dims.CHAIN, dims.DRAW, dims.SERVICE),
                         coords={dims.SERVICE: ["a", "b"]})
    shuffled = joint.copy(data=weights.reshape(-1, 2)[rng.permutation(n_chain * n_draw)]
                          .reshape(weights.shape))
    joint_width = width(allocate(need, joint))[0]
    independent_width = width(allocate(need, shuffled))[0]
    assert joint_width < 1e-9
    assert independent_width > 0.05


def test_pairing_of_different_draw_counts_is_seeded_and_uses_each_draw_evenly(need):
    n_weights = 150  # fewer than the 400 demand draws
    weights = xr.DataArray(np.column_stack([np.arange(n_weights, dtype=float) + 1.0,
                                            np.ones(n_weights)]),
                           dims=(dims.SAMPLE, dims.SERVICE), coords={dims.SERVICE: SERVICES})
    with pytest.raises(ConfigError, match="random_seed"):
        allocate(need, weights)
    first = allocate(need, weights, random_seed=7).draws["cost_weight"]
    again = allocate(need, weights, random_seed=7).draws["cost_weight"]
    xr.testing.assert_equal(first, again)
    used = first.sel(service="cin").values.ravel()
    counts = np.bincount(used.astype(int) - 1, minlength=n_weights)
    assert counts.min() >= 2 and counts.max() <= 3 and counts.sum() == 400


def test_more_weight_draws_are_subsampled_without_repeats(need):
    n_weights = 1000
    weights = xr.DataArray(np.column_stack([np.arange(n_weights, dtype=float),
                                            np.ones(n_weights)]),
                           dims=(dims.SAMPLE, dims.SERVICE), coords={dims.SERVICE: SERVICES})
    used = allocate(need, weights, random_seed=1).draws["cost_weight"].sel(service="cin")
    assert len(np.unique(used.values)) == 400


def test_ranks_are_consistent_with_shares(need, weight_draws):
    draws = allocate(need, weight_draws).draws
    share = draws["share"].values.reshape(-1, 6)
    rank = draws["rank"].values.reshape(-1, 6)
    order_by_rank = np.argsort(rank, axis=1)
    ordered_shares = np.take_along_axis(share, order_by_rank, axis=1)
    assert (np.diff(ordered_shares, axis=1) <= 0).all()
    assert (rank[np.arange(len(rank)), share.argmax(axis=1)] == 1).all()
    assert sorted(rank[0]) == list(range(1, 7))


def test_prob_gain_matches_constructed_probability():
    a_need = np.where(np.arange(1000) < 300, 2.0, 0.5).reshape(1, 1000)
    values = np.stack([a_need, np.ones_like(a_need)], axis=-1)[..., None]
    need = make_need(values, la_codes=["A", "B"], services=["x"])
    frame = allocate(need, {"x": 1.0}, baseline={"A": 5.0, "B": 5.0}).summary()
    assert frame.set_index("la_code").loc["A", "prob_gain"] == pytest.approx(0.3)
    assert frame["baseline_share"].tolist() == [0.5, 0.5]  # amounts normalised


def test_uncertain_la_gets_wider_interval():
    rng = np.random.default_rng(4)
    sd = np.full((20, 1), 0.05)
    sd[2] = 0.8
    values = rng.lognormal(np.log(10.0), sd, size=(2, 500, 20, 1))
    frame = allocate(make_need(values), {"s0": 1.0}).summary()
    spread = (frame["share_upper"] - frame["share_lower"]).to_numpy()
    assert spread.argmax() == 2 and spread[2] > 3 * np.delete(spread, 2).max()


def test_interval_probability_and_kind_change_bounds(need, weight_draws):
    alloc = allocate(need, weight_draws, interval_prob=0.5)
    narrow = alloc.summary()
    wide = alloc.summary(interval_prob=0.95)
    assert narrow.attrs["interval_prob"] == 0.5 and wide.attrs["interval_prob"] == 0.95
    assert ((wide["share_upper"] - wide["share_lower"])
            > (narrow["share_upper"] - narrow["share_lower"])).all()
    assert (narrow["rank_lower"] <= narrow["rank_median"]).all()
    assert (narrow["rank_median"] <= narrow["rank_upper"]).all()


def test_hdi_is_narrower_than_eti_for_skewed_draws():
    rng = np.random.default_rng(5)
    skewed = xr.DataArray(rng.exponential(1.0, size=(2, 2000)), dims=(dims.CHAIN, dims.DRAW))
    eti = credible_interval(skewed, interval_prob=0.8, interval_kind="eti")
    hdi = credible_interval(skewed, interval_prob=0.8, interval_kind="hdi")
    assert float(hdi[1] - hdi[0]) < float(eti[1] - eti[0])
    assert float(hdi[0]) < float(eti[0])


# ====================================================================== damping
@st.composite
def damping_cases(draw):
    n_la = draw(st.integers(2, 25))
    n_draws = draw(st.integers(1, 4))
    positive = st.floats(0.01, 100.0)
    raw_share = draw(hnp.arrays(float, (n_draws, n_la), elements=st.floats(0.0, 100.0)))
    raw_share[:, 0] += 1.0  # keep every draw's total positive
    raw_base = draw(hnp.arrays(float, n_la, elements=positive))
    floor = draw(st.none() | st.floats(-1.0, 0.0))
    cap = draw(st.none() | st.floats(0.0, 2.0))
    return (raw_share / raw_share.sum(axis=1, keepdims=True), raw_base / raw_base.sum(),
            Damping(floor, cap))


@settings(max_examples=150, deadline=None)
@given(damping_cases())
def test_damping_is_budget_neutral_and_respects_floor_and_cap(case):
    share, baseline, damping = case
    share_da = xr.DataArray(share, dims=(dims.DRAW, dims.LA))
    baseline_da = xr.DataArray(baseline, dims=(dims.LA,))
    damped = damp_shares(share_da, baseline_da, damping).values
    np.testing.assert_allclose(damped.sum(axis=1), 1.0, atol=1e-9)
    low, high = damping.bounds(baseline)
    assert (damped >= low - 1e-9).all() and (damped <= high + 1e-9).all()
    inside = ((share >= low) & (share <= high)).all(axis=1)
    np.testing.assert_allclose(damped[inside], share[inside], atol=1e-9)
    # Losing beyond the floor ends exactly at the floor unless caps forced a top-up.
    if damping.cap is None:
        below = share < low
        np.testing.assert_allclose(damped[below], np.broadcast_to(low, share.shape)[below],
                                   atol=1e-12)


def test_damping_funds_floor_by_scaling_gains_above_floor():
    share = np.array([[0.20, 0.35, 0.45]])
    baseline = np.array([0.30, 0.30, 0.40])
    damped = damp_shares(xr.DataArray(share, dims=(dims.DRAW, dims.LA)),
                         xr.DataArray(baseline, dims=(dims.LA,)),
                         Damping(floor=-0.1, cap=None)).values[0]
    # LA 0 raised to 0.27; the 0.07 cost is taken in proportion to each other LA's excess
    # over its own floor (0.35 - 0.27 = 0.08 and 0.45 - 0.36 = 0.09).
    np.testing.assert_allclose(damped, [0.27, 0.35 - 0.07 * 8 / 17, 0.45 - 0.07 * 9 / 17])


def test_damped_allocation_keeps_undamped_shares(need):
    base = dict.fromkeys(need[dims.LA].values, 1.0)
    alloc = allocate(need, {"cin": 1.0, "cla": 1.0}, baseline=base,
                     damping=Damping(floor=-0.02, cap=0.02))
    change = alloc.draws["share"] / alloc.draws["baseline_share"] - 1.0
    assert float(change.min()) >= -0.02 - 1e-9 and float(change.max()) <= 0.02 + 1e-9
    assert float(abs(alloc.draws["share_undamped"] / alloc.draws["baseline_share"] - 1).max()) \
        > 0.02
    np.testing.assert_allclose(alloc.draws["share"].sum(dims.LA), 1.0, atol=1e-9)


@pytest.mark.parametrize("kwargs", [{"floor": 0.01}, {"cap": -0.01}, {"floor": -1.5},
                                    {"floor": float("nan")}, {"cap": "0.1"}])
def test_infeasible_damping_raises(kwargs):
    with pytest.raises(ConfigError, match=r"floor|cap"):
        Damping(**kwargs)


# ====================================================================== persistence
def test_netcdf_round_trip(tmp_path, need, weight_draws):
    alloc = allocate(need, weight_draws, pot=5e6, baseline=dict.fromkeys(
        need[dims.LA].values, 1.0), damping=Damping(-0.05, 0.1), interval_prob=0.8,
        interval_kind="hdi")
    path = alloc.to_netcdf(tmp_path / "out" / "alloc.nc")
    loaded = Allocation.from_netcdf(path)
    xr.testing.assert_identical(loaded.draws, alloc.draws)
    assert loaded.damping == Damping(-0.05, 0.1)
    assert (loaded.interval_prob, loaded.interval_kind, loaded.pot) == (0.8, "hdi", 5e6)
    pd.testing.assert_frame_equal(loaded.summary(), alloc.summary())
    assert list(tmp_path.joinpath("out").iterdir()) == [path]  # no temporary left behind


def test_netcdf_variables_carry_cf_units_and_the_currency(tmp_path, need):
    alloc = allocate(need, {"cin": 1.0, "cla": 2.0}, pot=7e6, currency="EUR")
    path = alloc.to_netcdf(tmp_path / "alloc.nc")
    saved = xr.load_dataset(path, engine="h5netcdf")
    assert saved["allocation"].attrs["units"] == "EUR"
    assert saved["share"].attrs["units"] == "1"
    assert saved["share"].attrs["long_name"] == "share of the national pot"
    assert saved[dims.LA_NAME].attrs["long_name"] == "local authority name"
    for name in ("need", "weighted_need", "rank", "cost_weight"):
        assert {"units", "long_name"} <= set(saved[name].attrs), name
    np.testing.assert_allclose(saved["allocation"], saved["share"] * 7e6)
    assert Allocation.from_netcdf(path).currency == "EUR"


def test_an_allocation_saved_with_money_named_amount_still_loads(tmp_path, need):
    alloc = allocate(need, {"cin": 1.0, "cla": 2.0}, pot=50.0)
    old = tmp_path / "old.nc"
    alloc.draws.rename_vars({"allocation": "amount"}).to_netcdf(old, engine="h5netcdf")
    loaded = Allocation.from_netcdf(old)
    xr.testing.assert_allclose(loaded.draws["allocation"], alloc.draws["allocation"])
    assert "amount" not in loaded.draws


@pytest.mark.parametrize("currency", ["gbp", "POUNDS", "", 826])
def test_a_currency_that_is_not_an_iso_code_is_refused(need, currency):
    with pytest.raises(ConfigError, match="currency"):
        allocate(need, {"cin": 1.0, "cla": 2.0}, pot=1.0, currency=currency)


def test_from_netcdf_errors(tmp_path):
    with pytest.raises(MissingDataError):
        Allocation.from_netcdf(tmp_path / "absent.nc")
    other = tmp_path / "other.nc"
    xr.Dataset({"x": ("a", [1.0])}).to_netcdf(other, engine="h5netcdf")
    with pytest.raises(BayesNeedsError, match="not an allocation"):
        Allocation.from_netcdf(other)


def test_csv_sidecar_states_interval_pot_and_currency(tmp_path, need):
    alloc = allocate(need, {"cin": 1.0, "cla": 2.0}, pot=100.0, currency="EUR",
                     interval_prob=0.95)
    path = alloc.to_csv(tmp_path / "summary.csv")
    meta = json.loads((tmp_path / "summary.meta.json").read_text(encoding="utf-8"))
    assert meta["comment"][0].startswith("interval: 95% equal-tailed")
    assert "pot: 100 EUR" in meta["comment"]
    assert (meta["interval_prob"], meta["interval_kind"], meta["pot"], meta["currency"]) == \
        (0.95, "eti", 100.0, "EUR")
    units = {field["name"]: field.get("units") for field in meta["fields"]}
    assert units["allocation_mean"] == "EUR" and units["share_mean"] == "1"
    frame = pd.read_csv(path)
    assert list(frame.columns[:10]) == [
        "la_code", "la_name", "share_mean", "share_median", "share_lower", "share_upper",
        "rank_median", "rank_lower", "rank_upper", "allocation_mean"]
    assert frame["la_name"].tolist() == [f"Authority {i}" for i in range(6)]
    alloc.to_csv(tmp_path / "hdi.csv", interval_prob=0.5, interval_kind="hdi")
    hdi = json.loads((tmp_path / "hdi.meta.json").read_text(encoding="utf-8"))
    assert hdi["comment"][0].startswith("interval: 50% highest-density")


def test_summary_without_names_uses_codes_and_omits_optional_columns():
    need = make_need(np.ones((1, 4, 2, 1)), la_codes=["A", "B"], names=False)
    frame = allocate(need, {"s0": 1.0}).summary()
    assert frame["la_name"].tolist() == ["A", "B"]
    assert not {"allocation_mean", "prob_gain", "baseline_share"} & set(frame.columns)


# ====================================================================== decomposition
def test_decompose_interval_width(need, weight_draws):
    frame = decompose_interval_width(need, weight_draws, interval_prob=0.9,
                                     interval_kind="eti", random_seed=0)
    fixed = allocate(need, weight_draws.mean((dims.CHAIN, dims.DRAW))).summary()
    np.testing.assert_allclose(frame["width_demand"],
                               fixed["share_upper"] - fixed["share_lower"], rtol=1e-10)
    np.testing.assert_allclose(frame["demand_fraction"] + frame["cost_fraction"], 1.0)
    assert (frame["width_cost"] > 0).all()
    assert (frame["width_total"] > frame[["width_demand", "width_cost"]].max(axis=1)).mean() \
        > 0.8
    with pytest.raises(ConfigError, match="draws"):
        decompose_interval_width(need, {"cin": 1.0, "cla": 1.0}, interval_prob=0.9,
                                 interval_kind="eti", random_seed=0)


# ====================================================================== validation
def _bad_need(need, change):
    values = need.values.copy()
    change(values)
    return need.copy(data=values)


@pytest.mark.parametrize(("make_args", "error", "pattern"), [
    (lambda n, w: ((n.isel(chain=0),), {}), DataValidationError, "need.*dims"),
    (lambda n, w: ((_bad_need(n, lambda v: v.__setitem__((0, 0, 1, 0), np.nan)),), {}),
     DataValidationError, "need.*NaN.*E00000001"),
    (lambda n, w: ((_bad_need(n, lambda v: v.__setitem__((0, 0, 2, 1), -1.0)),), {}),
     DataValidationError, "need.*negative.*E00000002"),
    (lambda n, w: ((n, {"cin": 1.0}), {}), DataValidationError, "cost_weights.*'cla'"),
    (lambda n, w: ((n, {"cin": 1.0, "cla": -2.0}), {}), DataValidationError,
     "cost_weights.*negative.*'cla'"),
    (lambda n, w: ((n, w.where(w.service == "cin", np.inf)), {}), DataValidationError,
     "cost_weights.*infinite.*'cla'"),
    (lambda n, w: ((n, w.rename(service="activity")), {}), DataValidationError,
     "cost_weights.*'service' dim.*activity"),
    (lambda n, w: ((n, w.expand_dims(la=["x"])), {}), DataValidationError, "cost_weights.*dims"),
    (lambda n, w: ((n, w), {"baseline": {"E00000000": -1.0}}), DataValidationError,
     "baseline.*missing"),
    (lambda n, w: ((n, w), {"baseline": dict.fromkeys([*n.la.values, "X9"], 1.0)}),
     DataValidationError, "baseline.*not in need.*X9"),
    (lambda n, w: ((n, w), {"baseline": {**dict.fromkeys(n.la.values, 1.0),
                                         "E00000003": -0.1}}),
     DataValidationError, "baseline.*>= 0.*E00000003"),
    (lambda n, w: ((n, w), {"baseline": dict.fromkeys(n.la.values, 0.0)}),
     DataValidationError, "baseline.*sum to 0"),
    (lambda n, w: ((n, w), {"area_cost_adjustment": dict.fromkeys(n.la.values, 0.0)}),
     DataValidationError, "area_cost_adjustment.*> 0"),
    (lambda n, w: ((n, w), {"interval_prob": 1.0}), ConfigError, "interval_prob"),
    (lambda n, w: ((n, w), {"interval_prob": 0.0}), ConfigError, "interval_prob"),
    (lambda n, w: ((n, w), {"interval_kind": "hpd"}), ConfigError, "interval_kind"),
    (lambda n, w: ((n, w), {"pot": 0.0}), ConfigError, "pot"),
    (lambda n, w: ((n, w), {"pot": -5.0}), ConfigError, "pot"),
    (lambda n, w: ((n, w), {"damping": Damping(-0.1, 0.1)}), ConfigError, "baseline"),
    (lambda n, w: ((n, w), {"damping": (-0.1, 0.1), "baseline": dict.fromkeys(n.la.values, 1)}),
     ConfigError, "damping"),
    (lambda n, w: ((n, w), {"damping": Damping(-0.1, 0.1), "baseline": {
        **dict.fromkeys(n.la.values, 1.0), "E00000000": 0.0}}),
     DataValidationError, "baseline.*E00000000.*zero"),
    (lambda n, w: ((n * 0.0, w), {}), DataValidationError, "weighted need is 0"),
])
def test_validation_errors(need, weight_draws, make_args, error, pattern):
    args, kwargs = make_args(need, weight_draws)
    if len(args) == 1:
        args = (*args, weight_draws)
    with pytest.raises(error, match=f"(?s){pattern}"):
        allocate(*args, **kwargs)


# ====================================================================== package surface
def test_public_names_are_re_exported_from_the_package():
    assert set(allocation_package.__all__) >= {
        "ALLOCATION_KIND", "Allocation", "Damping", "allocate", "damp_shares",
        "decompose_interval_width"}
    for name in allocation_package.__all__:
        assert getattr(allocation_package, name) is not None
    assert callable(allocation_package.allocate)  # the function, not a submodule


def test_default_interval_comes_from_core_defaults(need):
    frame = allocate(need, {"cin": 1.0, "cla": 2.0}).summary()
    assert frame.attrs["interval_prob"] == defaults.INTERVAL_PROB
    assert frame.attrs["interval_kind"] == defaults.INTERVAL_KIND
    lower, upper = credible_interval(allocate(need, {"cin": 1.0, "cla": 2.0}).draws["share"],
                                     interval_prob=defaults.INTERVAL_PROB,
                                     interval_kind=defaults.INTERVAL_KIND)
    np.testing.assert_allclose(frame["share_lower"], lower.to_numpy())
    np.testing.assert_allclose(frame["share_upper"], upper.to_numpy())
