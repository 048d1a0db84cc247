"""SBC statistics: settings, rank uniformity, Holm, ranking a replicate and the summary.

The simulator is tested in ``test_sbc_simulation.py``; running replicates and writing the
outputs in ``tests/workflows/test_sbc.py`` (the 100-replicate calibration run in
``tests/workflows/test_sbc_calibration.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from bayes_needs.checks import sbc
from bayes_needs.core import defaults, dims
from bayes_needs.core.errors import ConfigError


def conjugate_ranks(n_sims: int, n_draws: int, posterior_sd_scale: float,
                    seed: int) -> np.ndarray:
    """Ranks from theta ~ N(0, 1), y ~ N(theta, 1) with the exact posterior N(y/2, 1/2)
    (scale 1) or a miscalibrated one (other scales).
    """
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal(n_sims)
    y = theta + rng.standard_normal(n_sims)
    post = y[:, None] / 2 + posterior_sd_scale * np.sqrt(0.5) * rng.standard_normal(
        (n_sims, n_draws))
    return (post < theta[:, None]).sum(axis=1)


def test_uniformity_test_accepts_calibrated_and_rejects_miscalibrated():
    calibrated = conjugate_ranks(200, 99, 1.0, seed=1)
    overconfident = conjugate_ranks(200, 99, 0.3, seed=1)
    underconfident = conjugate_ranks(200, 99, 3.0, seed=1)
    assert sbc.rank_uniformity_pvalue(calibrated, 99) > 0.01
    assert sbc.rank_uniformity_pvalue(overconfident, 99) < 1e-6
    assert sbc.rank_uniformity_pvalue(underconfident, 99) < 1e-6


def test_uniformity_test_handles_unequal_bins_exactly():
    # 10 rank values in 3 bins of 3, 3 and 4 values: counts proportional to bin sizes fit
    # perfectly even though the bins differ.
    ranks = np.repeat(np.arange(10), 6)
    assert sbc.rank_bins(len(ranks), 9) == 10
    assert sbc.rank_uniformity_pvalue(ranks, 9, n_bins=3) == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"0\.\.9"):
        sbc.rank_uniformity_pvalue(np.array([10]), 9)
    assert np.isnan(sbc.rank_uniformity_pvalue(np.array([], dtype=int), 9))


def test_holm_adjustment():
    np.testing.assert_allclose(sbc.holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(sbc.holm(np.array([0.5, 0.9])), [1.0, 1.0])


def test_rank_replicate_counts_draws_below_and_splits_ties():
    draws = {"a": np.arange(100, dtype=float), "b": np.zeros(100)}
    keep = np.arange(0, 100, 10)  # 0, 10, ..., 90
    truths = {"a": 35.0, "b": 0.0}
    ranks = [sbc.rank_replicate(draws, truths, keep, np.random.default_rng(s))[0]
             for s in range(200)]
    assert {r["a"] for r in ranks} == {4}  # 0, 10, 20, 30 lie below 35
    tie_ranks = [r["b"] for r in ranks]  # all ten thinned draws tie with the truth
    assert min(tie_ranks) == 0 and max(tie_ranks) == 10
    _, inside_50, inside_90 = sbc.rank_replicate(draws, truths, keep,
                                                 np.random.default_rng(0))
    assert inside_50 == {"a": True, "b": True}
    _, inside_50, inside_90 = sbc.rank_replicate(draws, {"a": 10.0, "b": 1.0}, keep,
                                                 np.random.default_rng(0))
    assert inside_50 == {"a": False, "b": False} and inside_90 == {"a": True, "b": False}


def test_tracked_draws_label_parameters_and_shares():
    rng = np.random.default_rng(1)
    services, las = [dims.CIN, dims.CLA], ["A", "B", "C"]
    posterior = xr.Dataset({"intercept": ((dims.CHAIN, dims.DRAW, dims.SERVICE),
                                          rng.normal(size=(2, 5, 2)))},
                           coords={dims.SERVICE: services})
    params = {"intercept": xr.DataArray([0.1, 0.2], dims=dims.SERVICE,
                                        coords={dims.SERVICE: services})}
    coords = {dims.LA: las, dims.SERVICE: services}
    need = xr.DataArray(rng.uniform(1, 2, (2, 5, 3, 2)),
                        dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE), coords=coords)
    truth = xr.DataArray(np.array([[[[1.0, 0.0], [1.0, 0.0], [2.0, 0.0]]]]),
                         dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE), coords=coords)
    draws, truths = sbc.tracked_draws(posterior, params, need, truth, {dims.CIN: 1.0,
                                                                        dims.CLA: 1.0})
    assert list(draws) == ["intercept[cin]", "intercept[cla]", "share[A]", "share[B]",
                           "share[C]"]
    assert truths["intercept[cla]"] == pytest.approx(0.2)
    assert [truths[f"share[{la}]"] for la in las] == pytest.approx([0.25, 0.25, 0.5])
    assert all(v.shape == (10,) for v in draws.values())


def test_summary_coverage_and_failed_replicates():
    results = [{"index": i, "ranks": {"a": r, "b": 99 - r},
                "inside_50": {"a": i % 2 == 0, "b": True},
                "inside_90": {"a": True, "b": i < 3},
                "diagnostics": {"replicate": i, "error": ""}}
               for i, r in enumerate([0, 10, 50, 90])]
    results.append({"index": 4, "ranks": {}, "inside_50": {}, "inside_90": {},
                    "diagnostics": {"replicate": 4, "error": "SamplingError: boom"}})
    result = sbc.summarise(results, sbc.SBCSettings())
    table = result.summary.set_index("quantity")
    assert list(table.index) == ["a", "b"]
    assert (table["n_sims"] == 4).all()
    assert table.loc["a", "coverage_50"] == 0.5 and table.loc["b", "coverage_90"] == 0.75
    assert table.loc["a", "mean_rank_fraction"] == pytest.approx(150 / 4 / 99)
    assert len(result.replicates) == 5
    assert (result.replicates["error"] != "").sum() == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"draws": 10, "chains": 1, "n_rank_draws": 99}, "draws x chains"),
    ({"draws": 0}, "draws"),
    ({"standardise": "some"}, "standardise"),
    ({"target_accept": 1.0}, "target_accept"),
])
def test_settings_are_validated(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        sbc.SBCSettings(**kwargs)


def test_default_settings_and_cost_weights_come_from_the_defaults():
    settings = sbc.SBCSettings()
    assert settings.target_accept == defaults.TARGET_ACCEPT
    assert sbc.cost_weights(settings) == {s: defaults.COST_WEIGHTS[s]
                                          for s in settings.services}
    custom = sbc.SBCSettings(cost_weights={dims.CIN: 2.0, dims.CLA: 3.0})
    assert sbc.cost_weights(custom) == {dims.CIN: 2.0, dims.CLA: 3.0}
    with pytest.raises(ConfigError, match="no weight"):
        sbc.cost_weights(sbc.SBCSettings(cost_weights={dims.CIN: 2.0}))
    assert settings.to_dict()["services"] == list(settings.services)
