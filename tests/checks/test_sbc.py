"""Simulation-based calibration harness: the simulator matches the model's likelihood, the
rank statistics detect miscalibration, the executors agree, and the CLI writes its outputs.

The 100-replicate calibration run itself is in ``test_sbc_slow.py``.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pymc as pm
import pytest
from scipy import stats

from bayes_needs.checks import sbc
from bayes_needs.cli import main
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.executors import SerialExecutor, make_executor


@pytest.fixture(scope="module")
def template():
    return sbc._template(sbc.SBCSettings())


# ---------------------------------------------------------------------- the simulator
def test_simulated_totals_follow_the_model_likelihood(template):
    """MSOA and LA totals simulated with numpy have the distribution PyMC's own likelihood
    gives for the same parameters: means agree within Monte Carlo error, and so do variances
    on average over each service and level (a wrong overdispersion would shift them).
    """
    params = sbc.draw_prior(template, random_seed=3)
    fixed = pm.do(template.model, {k: v.to_numpy() for k, v in params.items()})
    n_pymc, n_numpy = 2000, 400
    sims = [sbc.simulate_counts(template, params, seed) for seed in range(n_numpy)]
    checked = 0
    for j, service in enumerate(template.services):
        obs = template._observations[service]
        for level, pos, arrays in ((dims.MSOA, obs.msoa_pos, [s.msoa_total for s in sims]),
                                   (dims.LA, obs.la_pos, [s.la_total for s in sims])):
            if not len(pos):
                continue
            ours = np.stack([a[pos, j] for a in arrays]).astype(float)
            theirs = pm.draw(fixed[f"obs_{level}_{service}"], draws=n_pymc,
                             random_seed=j).astype(float)
            se = np.sqrt(ours.var(0) / n_numpy + theirs.var(0) / n_pymc) + 1e-12
            z = (ours.mean(0) - theirs.mean(0)) / se
            assert np.abs(z).max() < 5, (service, level, z)
            positive = theirs.var(0) > 0
            log_ratio = np.log(ours.var(0)[positive] / theirs.var(0)[positive]).mean()
            assert abs(log_ratio) < 0.25, (service, level, log_ratio)
            checked += 1
    assert checked >= 3  # MSOA and LA levels of both services in the template layout


def test_lsoa_counts_split_the_msoa_totals(template):
    params = sbc.draw_prior(template, random_seed=4)
    sim = sbc.simulate_counts(template, params, 11)
    geo = template.data.geography
    by_msoa = geo.aggregate(sim.lsoa_count.T, dims.LSOA, dims.MSOA).T
    np.testing.assert_array_equal(by_msoa, sim.msoa_total)
    # The observation table carries exactly the simulated counts of its units.
    obs = sim.observations
    for (service, level), rows in obs.groupby(["service", "level"]):
        array = {dims.LSOA: sim.lsoa_count, dims.MSOA: sim.msoa_total,
                 dims.LA: sim.la_total}[level]
        pos = geo.position(level, rows["area_code"].to_numpy())
        np.testing.assert_array_equal(rows["count"].to_numpy(),
                                      array[pos, template.services.index(service)])
    assert obs[["service", "level", "area_code"]].equals(
        template.data.observations[["service", "level", "area_code"]])


def test_log_gamma_matches_gamma_and_survives_tiny_shapes():
    rng = np.random.default_rng(0)
    draws = np.exp(sbc._log_gamma(np.full(4000, 2.5), rng))
    assert stats.kstest(draws, stats.gamma(2.5).cdf).pvalue > 1e-3
    tiny = sbc._log_gamma(np.array([1e-6, 1e-9, 0.0]), rng)
    assert np.isfinite(tiny[:2]).all() and tiny[2] == -np.inf


def test_true_need_uses_true_effects_of_every_msoa(template):
    """The needs-standardised truth is ``exp(sigma^2/2) * (sum over MSOAs with counts of
    g_m * Lambda_m + rest_effect * sum over the LA's other MSOAs of Lambda_m)``; LA totals are
    Poisson given that same rest effect; standardise='all' drops the effects.
    """
    params = sbc.draw_prior(template, random_seed=5)
    sim = sbc.simulate_counts(template, params, 2)
    la = sbc.true_need(template, params, sim, "la")
    everything = sbc.true_need(template, params, sim, "all")
    geo = template.data.geography
    assert la.shape == everything.shape == (geo.n_la, len(template.services))
    assert (la > 0).all() and (everything > 0).all()
    observed = sbc._msoa_observed(template)
    any_observed = geo.aggregate(observed.T.astype(float), dims.MSOA, dims.LA).T > 0
    # LAs without MSOA counts: the truth scales the covariate-only need by the rest effect.
    np.testing.assert_allclose(la[~any_observed],
                               (everything * sim.rest_effect)[~any_observed], rtol=1e-12)
    assert not np.allclose(la[any_observed], everything[any_observed])
    # Rest effects are mean-one gammas: across many simulations their mean is about 1.
    rests = np.stack([sbc.simulate_counts(template, params, k).rest_effect[~any_observed]
                      for k in range(400)])
    assert abs(rests.mean() - 1.0) < 4 * rests.std() / np.sqrt(rests.size)


# ---------------------------------------------------------------------- statistics
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


def test_holm_adjustment():
    np.testing.assert_allclose(sbc.holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(sbc.holm(np.array([0.5, 0.9])), [1.0, 1.0])


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


# ---------------------------------------------------------------------- executors
def test_process_pool_executor_runs_jobs_in_other_processes():
    # Builtins, so the spawned workers need not import this (heavy) test module.
    with make_executor(workers=2) as executor:
        assert [f.result() for f in [executor.submit(pow, i, 2) for i in range(5)]] == \
            [0, 1, 4, 9, 16]
        pids = {executor.submit(os.getpid).result() for _ in range(4)}
    assert os.getpid() not in pids


def test_serial_executor_delivers_exceptions_through_futures():
    future = SerialExecutor().submit(int, "not a number")
    with pytest.raises(ValueError):
        future.result()


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_make_executor_rejects_bad_worker_counts(workers):
    with pytest.raises(ConfigError, match="workers"), make_executor(workers=workers):
        pass


# ---------------------------------------------------------------------- the harness
SMALL = sbc.SBCSettings(draws=60, tune=10, chains=2, n_rank_draws=59, standardise="all")


def test_replicates_are_pure_functions_of_index_and_seed(mocked_sampler):
    first = sbc.run_replicate(1, 7, SMALL)
    again = sbc.run_replicate(1, 7, SMALL)
    other = sbc.run_replicate(2, 7, SMALL)
    assert first["ranks"] == again["ranks"]
    assert first["ranks"] != other["ranks"]
    names = list(first["ranks"])
    assert names[:2] == ["intercept[cin]", "intercept[cla]"]
    assert "beta[cla,idaci]" in names and "lsoa_dispersion[cin]" in names
    assert [n for n in names if n.startswith("share[")] == \
        [f"share[SLA{i:04d}]" for i in range(1, 9)]
    assert all(0 <= r <= SMALL.n_rank_draws for r in first["ranks"].values())


def test_run_sbc_and_write_outputs(mocked_sampler, tmp_path):
    seen = []
    result = sbc.run_sbc(SMALL, n_sims=3, base_seed=3, progress=seen.append)
    assert sorted(d["replicate"] for d in seen) == [0, 1, 2]
    summary = result.summary
    assert len(summary) == 18 and (summary["n_sims"] == 3).all()
    assert summary["p_value"].between(0, 1).all()
    assert summary[["coverage_50", "coverage_90"]].stack().between(0, 1).all()
    assert (summary["coverage_90"] >= summary["coverage_50"]).all()
    paths = sbc.write_sbc(result, tmp_path / "sbc")
    assert sorted(p.name for p in (tmp_path / "sbc").iterdir()) == sorted(sbc.OUTPUT_FILES)
    assert all(p.stat().st_size > 0 for p in paths)
    table = pd.read_csv(tmp_path / "sbc" / "sbc.csv", comment="#")
    assert list(table["quantity"]) == list(summary["quantity"])
    assert (tmp_path / "sbc" / "sbc_ecdf.png").read_bytes()[:4] == b"\x89PNG"


def test_validate_sbc_cli(mocked_sampler, tmp_path, capsys):
    out = tmp_path / "sbc"
    code = main(["validate", "sbc", "--model", "area", "--scale", "tiny", "--n-sims", "2",
                 "--out", str(out), "--workers", "1", "--draws", "30", "--tune", "5",
                 "--rank-draws", "29", "--standardise", "all",
                 "--la-parameterisation", "noncentred"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "replicate 0" in captured.err and "replicate 1" in captured.err
    table = pd.read_csv(out / "sbc.csv", comment="#")
    assert len(table) == 18 and (table["n_rank_draws"] == 29).all()
    header = (out / "sbc.csv").read_text(encoding="utf-8").splitlines()[0]
    assert "n_rank_draws=29" in header and "'la_parameterisation': 'noncentred'" in header
    assert not (out / "sbc_ranks.csv").exists()
    assert pd.read_csv(out / "ranks.csv")["rank"].between(0, 29).all()
