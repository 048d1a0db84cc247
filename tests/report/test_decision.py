"""Tests for :mod:`bayes_needs.report.decision` and its plots: the decision-maker's table is
the draws summarised at the end, checked against a plain numpy computation."""

from __future__ import annotations

import io
import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from matplotlib import image as mpimg

from bayes_needs.allocation import allocate
from bayes_needs.core import dims
from bayes_needs.data.hexmap import HEXJSON_FILE, england_hexes, grid_hexes
from bayes_needs.report.decision import DecisionInputs, decision_table
from bayes_needs.report.decision_plots import render_decision_plots
from bayes_needs.report.inputs import DECISION_PLOTS

POT = 2.5e8


def made_up_england(n_las: int = 40):
    """England's hexes with every district of the shipped hexjson in one of ``n_las`` made-up
    LAs, in turn (no data directory needed)."""
    text = resources.files("bayes_needs.data").joinpath(HEXJSON_FILE).read_text("utf-8")
    districts = sorted(c for c in json.loads(text)["hexes"] if c.startswith("E"))
    return england_hexes(pd.Series([f"XLA{i % n_las:03d}" for i in range(len(districts))],
                                   index=districts))


def make_allocation(la_codes: list[str], *, seed: int = 3, interval_kind: str = "eti"):
    rng = np.random.default_rng(seed)
    n = len(la_codes)
    values = rng.gamma(30.0, np.linspace(1.0, 3.0, n)[None, None, :, None] / 30.0,
                       size=(2, 150, n, 1))
    need = xr.DataArray(values, dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
                        coords={dims.LA: la_codes, dims.SERVICE: ["cin"],
                                dims.LA_NAME: (dims.LA, [f"LA {c}" for c in la_codes])})
    return allocate(need, {"cin": 1.0}, pot=POT, interval_prob=0.8,
                    interval_kind=interval_kind, random_seed=seed)


def inputs_for(la_codes: list[str], layout=None) -> DecisionInputs:
    children = pd.Series(np.linspace(1000.0, 5000.0, len(la_codes)), index=la_codes)
    baseline = pd.Series(np.full(len(la_codes), 1.0 / len(la_codes)), index=la_codes)
    return DecisionInputs(pot=POT, currency="GBP", baseline_share=baseline,
                          baseline_label="equal shares", children=children,
                          deprivation=pd.Series(np.arange(len(la_codes), dtype=float),
                                                index=la_codes),
                          deprivation_label="test score",
                          layout=layout or grid_hexes(la_codes), notes=[])


def test_table_is_computed_from_the_draws():
    codes = [f"SLA{i:04d}" for i in range(1, 6)]
    allocation = make_allocation(codes)
    inputs = inputs_for(codes)
    table = decision_table(allocation, inputs).set_index("la_code")
    share = allocation.draws["share"].transpose(dims.CHAIN, dims.DRAW, dims.LA).to_numpy()
    share = share.reshape(-1, len(codes))                       # (sample, la)
    children = np.linspace(1000.0, 5000.0, len(codes))
    baseline = 1.0 / len(codes)
    for name, draws in {"allocation": share * POT, "per_child": share * POT / children,
                        "change": (share - baseline) * POT,
                        "change_pct": 100 * (share / baseline - 1)}.items():
        lower, upper = np.quantile(draws, [0.1, 0.9], axis=0)   # 80% equal-tailed
        np.testing.assert_allclose(table.loc[codes, f"{name}_mean"], draws.mean(axis=0))
        np.testing.assert_allclose(table.loc[codes, f"{name}_lower"], lower)
        np.testing.assert_allclose(table.loc[codes, f"{name}_upper"], upper)
    np.testing.assert_allclose(table.loc[codes, "prob_gain"],
                               (share > baseline).mean(axis=0))
    np.testing.assert_allclose(table.loc[codes, "baseline_allocation"], baseline * POT)
    assert ((table["prob_gain"] > 0) & (table["prob_gain"] < 1)).any()  # not all certain
    assert table["allocation_mean"].sum() == pytest.approx(POT)
    assert list(table["allocation_mean"]) == sorted(table["allocation_mean"], reverse=True)
    assert table.attrs["interval_prob"] == 0.8 and table.attrs["interval_kind"] == "eti"
    assert "GBP" in table.attrs["comment"] and "equal shares" in table.attrs["comment"]


def test_highest_density_intervals_follow_the_allocation():
    codes = ["A1", "A2", "A3"]
    table = decision_table(make_allocation(codes, interval_kind="hdi"), inputs_for(codes))
    assert table.attrs["interval_kind"] == "hdi"
    assert (table["allocation_lower"] <= table["allocation_mean"]).all()
    assert (table["allocation_mean"] <= table["allocation_upper"]).all()


def test_money_is_written_with_the_currency():
    inputs = inputs_for(["A"])
    assert inputs.money(1234567.4) == "£1,234,567"
    assert inputs.money(-12.0) == "-£12" and inputs.money(3.0, signed=True) == "+£3"
    assert inputs.money(512_183_840.0, short=True) == "£512.2m"
    assert inputs.money(-2.5e9, short=True) == "-£2.5bn"
    assert inputs.money(18_756.4, short=True) == "£18,756"
    inputs.currency = "CHF"
    assert inputs.money(5.0) == "CHF 5"


@pytest.mark.parametrize("real", [False, True])
def test_plots_are_drawn_for_grid_and_england(real):
    layout = made_up_england() if real else None
    codes = layout.la_codes[:20] if layout is not None else ["S1", "S2", "S3", "S4"]
    images = render_decision_plots(make_allocation(codes), inputs_for(codes, layout))
    assert list(images) == [stem for stem, _ in DECISION_PLOTS]
    for stem, png in images.items():
        pixels = mpimg.imread(io.BytesIO(png), format="png")
        assert pixels.shape[0] > 200 and pixels[..., :3].std() > 0.05, stem
