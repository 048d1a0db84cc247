"""Comparison of scenario posteriors with the base: changes, intervals, ranks, ``prob_fall``
and power-scaling flags, checked against direct computation on hand-made draws."""

from __future__ import annotations

import numpy as np
import pytest
from scenario_results import fake_result, shares

from bayes_needs.checks.diagnostics import CONFLICT, STRONG_PRIOR
from bayes_needs.checks.sensitivity import PARAMETER, compare, power_scaling_table
from bayes_needs.config.run import RunConfig
from bayes_needs.config.scenarios import Scenario
from bayes_needs.core.errors import ConfigError
from bayes_needs.workflows.sensitivity import combine


def test_comparison_metrics_match_direct_computation():
    rng = np.random.default_rng(0)
    codes = ["A", "B", "C", "D", "E"]
    base = shares(rng, [0.30, 0.25, 0.20, 0.15, 0.10])
    moved = shares(rng, [0.20, 0.25, 0.20, 0.15, 0.20], n_draw=200)  # fewer draws
    same_order = shares(rng, [0.31, 0.25, 0.19, 0.15, 0.10])
    config = RunConfig.model_validate({"allocation": {"interval_prob": 0.8}})
    scenarios = [Scenario("base", config, "base run"), Scenario("moved", config, "m"),
                 Scenario("same_order", config, "s")]
    results = combine([fake_result(base, codes), fake_result(moved, codes,
                                                                         converged=False),
                                   fake_result(same_order, codes)], scenarios)
    comparison = compare(results)
    per_la = comparison.per_la.set_index(["scenario", "la_code"])
    assert len(per_la) == 3 * len(codes)
    assert comparison.interval == "80% equal-tailed"

    def mean(x):
        return x.reshape(-1, x.shape[-1]).mean(axis=0)

    def interval(x):
        flat = x.reshape(-1, x.shape[-1])
        return np.quantile(flat, 0.1, axis=0), np.quantile(flat, 0.9, axis=0)

    change = (mean(moved) - mean(base)) * 100
    np.testing.assert_allclose(per_la.loc["moved", "change_pp"].to_numpy(), change)
    (blo, bhi), (mlo, mhi) = interval(base), interval(moved)
    np.testing.assert_allclose(per_la.loc["moved", "share_lower"].to_numpy(), mlo)
    overlap = (mlo <= bhi) & (mhi >= blo)
    np.testing.assert_array_equal(per_la.loc["moved", "overlaps_base"].to_numpy(), overlap)
    # P(moved < base), independent posteriors, by brute force over all pairs.
    flat_m, flat_b = moved.reshape(-1, 5), base.reshape(-1, 5)
    brute = [(flat_m[:, i, None] < flat_b[None, :, i]).mean() for i in range(5)]
    np.testing.assert_allclose(per_la.loc["moved", "prob_fall"].to_numpy(), brute)
    assert per_la.loc[("moved", "A"), "prob_fall"] > 0.99
    assert per_la.loc[("moved", "E"), "prob_fall"] < 0.01
    np.testing.assert_allclose(per_la.loc["base", "prob_fall"].to_numpy(), 0.5)

    summary = comparison.summary.set_index("scenario")
    assert summary.loc["base", "max_abs_change_pp"] == 0 and \
        summary.loc["base", "spearman_rho"] == 1
    assert summary.loc["moved", "max_abs_change_pp"] == pytest.approx(np.abs(change).max())
    assert summary.loc["moved", "mean_abs_change_pp"] == pytest.approx(np.abs(change).mean())
    assert summary.loc["moved", "la_max_change"] in ("A", "E")
    assert summary.loc["moved", "n_not_overlapping"] == int((~overlap).sum()) >= 2
    assert set(summary.loc["moved", "not_overlapping"].split(";")) == \
        {c for c, o in zip(codes, overlap, strict=True) if not o}
    assert summary.loc["same_order", "spearman_rho"] == pytest.approx(1.0)
    assert summary.loc["moved", "spearman_rho"] < 1.0
    assert not summary.loc["moved", "converged"] and summary.loc["base", "converged"]



def with_power_scaling(result, prior, likelihood, parameters=("a", "b", "c")):
    return result.assign(
        psens_prior=(PARAMETER, np.asarray(prior, dtype=float)),
        psens_likelihood=(PARAMETER, np.asarray(likelihood, dtype=float))
    ).assign_coords({PARAMETER: list(parameters)})


def test_power_scaling_flags_per_scenario():
    rng = np.random.default_rng(3)
    codes = ["A", "B", "C"]
    config = RunConfig()
    base = with_power_scaling(fake_result(shares(rng, [0.5, 0.3, 0.2]), codes),
                              [0.01, 0.06, 0.07], [0.01, 0.01, 0.2])
    # "c" is not in the variation's model: NaN in both columns, so it has no row.
    variation = with_power_scaling(fake_result(shares(rng, [0.5, 0.3, 0.2]), codes),
                                   [0.01, 0.06, np.nan], [0.2, 0.2, np.nan])
    results = combine([base, variation], [Scenario("base", config), Scenario("v", config)])
    table = power_scaling_table(results)
    assert list(table.columns) == ["scenario", "parameter", "prior", "likelihood",
                                   "diagnosis"]
    assert list(zip(table["scenario"], table["parameter"], table["diagnosis"],
                    strict=True)) == [
        ("base", "a", "-"), ("base", "b", STRONG_PRIOR), ("base", "c", CONFLICT),
        ("v", "a", "-"), ("v", "b", CONFLICT)]
    summary = compare(results).summary.set_index("scenario")
    assert summary.loc["base", "n_psens_flagged"] == 2
    assert summary.loc["v", "n_psens_flagged"] == 1


def test_interval_settings_can_be_overridden_and_are_checked():
    rng = np.random.default_rng(4)
    codes = ["A", "B", "C", "D"]
    config = RunConfig()
    draws = shares(rng, [0.4, 0.3, 0.2, 0.1])
    results = combine([fake_result(draws, codes), fake_result(draws, codes)],
                      [Scenario("base", config), Scenario("same", config)])
    assert compare(results).interval == "90% equal-tailed"
    wide = compare(results, interval_prob=0.5, interval_kind="hdi")
    assert wide.interval == "50% highest-density"
    narrow = compare(results, interval_prob=0.5)
    flat = draws.reshape(-1, 4)
    np.testing.assert_allclose(narrow.per_la["share_lower"].to_numpy()[:4],
                               np.quantile(flat, 0.25, axis=0))
    assert power_scaling_table(results).empty
    with pytest.raises(ConfigError, match="interval_kind"):
        compare(results, interval_kind="central")
    with pytest.raises(ConfigError, match="interval_prob"):
        compare(results, interval_prob=1.5)
