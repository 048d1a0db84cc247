"""Panel runs: fit, forecast, allocate and write one set of files (mocked sampler)."""

from __future__ import annotations

import pandas as pd
import pytest
from csv_meta import description
from fit_files import CONVERGENCE, edit_json_attr, looks_converged, rewrite_fit

from bayes_needs.checks.need_gradient import STATISTICS
from bayes_needs.config.run import parse_run_config
from bayes_needs.core.errors import BayesNeedsError, ConfigError
from bayes_needs.workflows.fits import read_run_config
from bayes_needs.workflows.panel import DECOMPOSITION_CSV, DEMAND_CSV, GRADIENT_CSV
from bayes_needs.workflows.report import build_report
from bayes_needs.workflows.runs import allocate_run, fit_run


def test_panel_run_writes_forecast_demand_decomposition_and_both_widths(tmp_path,
                                                                        mocked_sampler):
    config = parse_run_config({
        "data": {"source": "synthetic_panel", "scale": "tiny", "data_seed": 3},
        "sampling": {"draws": 10, "tune": 10, "chains": 2},
        "need": {"standardise": "policy_share", "horizon": 2},
        "allocation": {"cost_weights": {"cin": 1.0, "cla": 10.0}}})
    outcome = fit_run(config, tmp_path / "run", with_allocation=True, allow_unconverged=True)
    run = tmp_path / "run"
    for name in ("fit.nc", "run.json", "allocation.nc", "allocations.csv", DEMAND_CSV,
                 DECOMPOSITION_CSV, GRADIENT_CSV, "summary.txt"):
        assert (run / name).is_file(), name
    demand = pd.read_csv(run / DEMAND_CSV)
    last = outcome.fit.model.years[-1]
    assert sorted(demand["year"].unique()) == [last + 1, last + 2]
    decomposition = pd.read_csv(run / DECOMPOSITION_CSV)
    assert {"needs_indicators", "contextual", "la_residual_kept",
            "la_residual_removed"} <= set(decomposition.columns)
    summary = (run / "summary.txt").read_text()
    assert "at the 'la' end" in summary and f"allocation year {last + 2}" in summary
    assert (demand["needs_lower"] <= demand["needs_upper"]).all()
    gradient = pd.read_csv(run / GRADIENT_CSV)
    services = list(outcome.fit.model.services)
    assert len(gradient) == len(services) * len(STATISTICS)
    assert set(zip(gradient["service"], gradient["statistic"], strict=True)) == {
        (s, stat) for s in services for stat in STATISTICS}
    assert (gradient["lower"] <= gradient["median"]).all()
    assert (gradient["median"] <= gradient["upper"]).all()
    assert "needs-indicator composite" in description(run / GRADIENT_CSV)
    assert summary.count("need gradient, ") == 2 * len(services)


def test_allocate_from_a_saved_panel_fit_repeats_the_fit_runs_allocation(tmp_path,
                                                                         mocked_sampler):
    config = parse_run_config({
        "data": {"source": "synthetic_panel", "scale": "tiny", "data_seed": 5},
        "sampling": {"draws": 10, "tune": 10, "chains": 2},
        "allocation": {"cost_weights": {"cin": 1.0, "cla": 10.0}}})
    fitted, reloaded = tmp_path / "fitted", tmp_path / "reloaded"
    fit_run(config, fitted, with_allocation=True, allow_unconverged=True)
    stored = read_run_config(fitted)
    run_json = (fitted / "run.json").read_bytes()
    outcome = allocate_run(fitted, stored, out_dir=reloaded, allow_unconverged=True)
    assert outcome.gate is not None
    assert (fitted / "run.json").read_bytes() == run_json
    for name in ("allocations.csv", DEMAND_CSV, DECOMPOSITION_CSV, GRADIENT_CSV):
        pd.testing.assert_frame_equal(pd.read_csv(reloaded / name),
                                      pd.read_csv(fitted / name), obj=name)


def test_allocate_from_a_panel_fit_recomputes_convergence(tmp_path, mocked_sampler):
    config = parse_run_config({
        "data": {"source": "synthetic_panel", "scale": "tiny", "data_seed": 5},
        "sampling": {"draws": 10, "tune": 10, "chains": 2}})
    run = tmp_path / "run"
    fit_run(config, run)
    rewrite_fit(run / "fit.nc", edit_json_attr(CONVERGENCE, looks_converged))
    with pytest.raises(BayesNeedsError, match=r"fit\.nc: the convergence record .*\(max "
                                              r"R-hat: stored 1, recomputed"):
        allocate_run(run, read_run_config(run))
    assert not (run / "allocations.csv").exists()


def test_allocate_from_a_saved_panel_fit_applies_new_allocation_settings(tmp_path,
                                                                          mocked_sampler):
    config = parse_run_config({
        "data": {"source": "synthetic_panel", "scale": "tiny", "data_seed": 5},
        "sampling": {"draws": 10, "tune": 10, "chains": 2}})
    run = tmp_path / "run"
    fit_run(config, run, allow_unconverged=True)
    assert not (run / "allocations.csv").exists()
    wider = read_run_config(run).with_overrides(allocation={"interval_prob": 0.8})
    outcome = allocate_run(run, wider, allow_unconverged=True)
    assert description(run / "allocations.csv").startswith("interval: 80% ")
    forecast_years = pd.read_csv(run / DEMAND_CSV)["year"].unique()
    assert list(forecast_years) == [outcome.fit.model.years[-1] + 1]


def test_report_on_a_panel_run_says_what_to_read_instead(tmp_path, mocked_sampler):
    config = parse_run_config({
        "data": {"source": "synthetic_panel", "scale": "tiny", "data_seed": 5},
        "sampling": {"draws": 10, "tune": 10, "chains": 2}})
    fit_run(config, tmp_path / "run", allow_unconverged=True)
    with pytest.raises(ConfigError, match=r"is a panel run.*summary\.txt"):
        build_report(tmp_path / "run")
