"""Convergence gate: thresholds, refusal by ``allocate`` and ``fit --allocate``, the
``--allow-unconverged`` override and its record in ``summary.txt`` and ``allocation.nc``.

The CLI tests use PyMC's mock sampler (independent prior draws): with 20 draws per chain the
bulk ESS is far below 400, so the fit fails the gate; with 1000 draws per chain the draws are
independent, R-hat is about 1 and the ESS about 2000, so the same fit passes. The slow test
forces a real unconverged fit with tiny tuning.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
import xarray as xr
from fit_files import CONVERGENCE, edit_json_attr, looks_converged, rewrite_fit
from sampling_mocks import patched_sample, write_concentrated_priors

from bayes_needs.checks.gate import (
    CLI_HINTS,
    GATE_ATTR,
    OVERRIDE_FLAG,
    GateHints,
    Thresholds,
    check_convergence,
    enforce,
    evaluate,
)
from bayes_needs.cli import main
from bayes_needs.core.convergence import approximation_summary
from bayes_needs.core.errors import ConfigError, ConvergenceError

GOOD = {"rhat_max": 1.004, "ess_bulk_min": 812.0, "ess_tail_min": 640.0, "divergences": 0,
        "bfmi_min": 0.9,
        "per_variable": {"rhat_max": {"sigma_la": 1.004, "beta": 1.001},
                         "ess_bulk_min": {"sigma_la": 812.0, "beta": 1500.0},
                         "ess_tail_min": {"sigma_la": 640.0, "beta": 1400.0}}}


def with_(**changes):
    summary = json.loads(json.dumps(GOOD))
    summary.update(changes)
    return summary


# ====================================================================== thresholds
def test_a_converged_summary_passes():
    assert check_convergence(GOOD) == []
    result = evaluate(GOOD)
    assert result.passed and result.status == "passed"


@pytest.mark.parametrize("changes, fragment", [
    ({"rhat_max": 1.02}, "R-hat 1.0200 > 1.01"),
    ({"ess_bulk_min": 399.0}, "bulk ESS 399 < 400"),
    ({"ess_tail_min": 12.0}, "tail ESS 12 < 400"),
    ({"divergences": 3}, "3 divergent transition(s) > 0"),
    ({"rhat_max": float("nan")}, "R-hat could not be computed"),
    ({"ess_bulk_min": float("nan")}, "bulk ESS could not be computed"),
])
def test_each_threshold_fails_on_its_own(changes, fragment):
    failures = check_convergence(with_(**changes))
    assert len(failures) == 1, failures
    assert fragment in failures[0]


def test_failures_name_the_variables_at_fault():
    summary = with_(rhat_max=1.05)
    summary["per_variable"]["rhat_max"]["sigma_la"] = 1.05
    (failure,) = check_convergence(summary)
    assert "(sigma_la)" in failure and "beta" not in failure


def test_every_failure_is_listed():
    failures = check_convergence(with_(rhat_max=1.2, ess_bulk_min=10.0, ess_tail_min=10.0,
                                       divergences=1))
    assert len(failures) == 4


def test_thresholds_are_parameters():
    summary = with_(rhat_max=1.02, ess_bulk_min=150.0, divergences=2)
    assert len(check_convergence(summary)) == 3
    assert check_convergence(summary, rhat_max=1.05, ess_min=100, divergences_max=2) == []
    assert check_convergence(GOOD, bfmi_min=0.95) == ["min BFMI 0.900 < 0.95"]


@pytest.mark.parametrize("kwargs", [{"rhat_max": 0.99}, {"ess_min": -1},
                                    {"divergences_max": 0.5}, {"rhat_max": math.inf},
                                    {"bfmi_min": -0.1}])
def test_invalid_thresholds_are_rejected(kwargs):
    with pytest.raises(ConfigError, match="invalid convergence threshold"):
        Thresholds(**kwargs)


def test_enforce_refuses_unless_allowed():
    bad = with_(divergences=2)
    with pytest.raises(ConvergenceError) as info:
        enforce(bad, hints=CLI_HINTS, source="runs/x/fit.nc")
    message = str(info.value)
    assert "runs/x/fit.nc" in message and OVERRIDE_FLAG in message
    assert "2 divergent transition(s)" in message
    result = enforce(bad, hints=CLI_HINTS, allow_unconverged=True)
    assert not result.passed and result.allowed_unconverged
    assert result.status == f"failed, allowed by {OVERRIDE_FLAG}"
    record = result.to_dict()
    assert record["allow_unconverged"] is True and record["failures"]
    assert record["thresholds"] == {"rhat_max": 1.01, "ess_min": 400.0, "divergences_max": 0,
                                    "bfmi_min": None, "pareto_k_max": 0.7}


def test_the_refusal_names_the_callers_own_override():
    """A Python caller's users are told its argument, not a command-line flag."""
    hints = GateHints('on_unconverged="warn"', "draws=..., tune=...")
    with pytest.raises(ConvergenceError) as info:
        enforce(with_(rhat_max=1.03), hints=hints)
    message = str(info.value)
    assert 'pass on_unconverged="warn" to allocate anyway' in message
    assert "(draws=..., tune=...)" in message
    assert OVERRIDE_FLAG not in message and "--tune" not in message
    allowed = enforce(with_(rhat_max=1.03), hints=hints, allow_unconverged=True)
    assert allowed.status == 'failed, allowed by on_unconverged="warn"'


def approximate(pareto_k):
    """An approximate fit's record, as a Laplace fit stores it."""
    return approximation_summary(method="laplace", pareto_k=pareto_k, importance_ess=150.0,
                                 n_chains=2, n_draws=1000)


def test_an_approximate_fit_is_gated_on_its_pareto_k_alone():
    # Its R-hat and ESS are NaN (independent draws): they would fail a NUTS fit.
    passing = evaluate(approximate(0.3))
    assert passing.passed and passing.approximate and passing.failures == ()
    assert passing.summary_lines()["gate thresholds"] == "Pareto k̂ <= 0.7 (approximate fit)"
    (failure,) = check_convergence(approximate(0.8))
    assert "Pareto k̂ 0.80 > 0.7" in failure and "importance ESS 150 of 2000" in failure
    assert check_convergence(approximate(0.8), pareto_k_max=0.9) == []
    assert check_convergence(approximate(float("nan"))) == [
        "Pareto k̂ of the approximation could not be computed"]


def test_an_unreliable_approximation_is_refused_naming_k_and_every_way_on():
    with pytest.raises(ConvergenceError) as info:
        enforce(approximate(0.8), hints=CLI_HINTS, source="runs/x/fit.nc")
    message = str(info.value)
    for fragment in ("runs/x/fit.nc", "Pareto k̂ 0.80 > 0.7", "up to Pareto k̂ 0.7",
                     "--method nuts", OVERRIDE_FLAG):
        assert fragment in message, (fragment, message)
    hints = GateHints('on_unconverged="warn"', "Run.fit(draws=...)", 'Run.fit(method="nuts")')
    with pytest.raises(ConvergenceError, match=r'Run\.fit\(method="nuts"\).*on_unconverged'):
        enforce(approximate(0.8), hints=hints)
    forced = enforce(approximate(0.8), hints=CLI_HINTS, allow_unconverged=True)
    assert forced.status == f"failed, allowed by {OVERRIDE_FLAG}"
    assert forced.to_dict()["approximate"] is True


# ====================================================================== the CLI
RUN_CONFIG = """schema_version = 1
priors = "priors.toml"
[data]
source = "synthetic"
scale = "tiny"
services = ["cin", "cla"]
[sampling]
chains = 2
progressbar = false
"""


@pytest.fixture(scope="module")
def config_file(tmp_path_factory):
    directory = tmp_path_factory.mktemp("config")
    write_concentrated_priors(directory)
    path = directory / "run.toml"
    path.write_text(RUN_CONFIG, encoding="utf-8")
    return path


def fit(config_file, out, draws: int, *extra) -> int:
    return main(["fit", "--config", str(config_file), "--out", str(out), "--draws", str(draws),
                 "--tune", "1", *extra])


@pytest.fixture(scope="module")
def short_run(config_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("short") / "run"
    with patched_sample():
        assert fit(config_file, out, 20) == 0
    return out


def test_allocate_refuses_an_unconverged_fit(short_run, capsys):
    capsys.readouterr()
    code = main(["allocate", str(short_run)])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" not in err
    assert "refusing to allocate" in err and "convergence thresholds" in err
    assert "bulk ESS" in err and OVERRIDE_FLAG in err
    assert not (short_run / "allocations.csv").exists()
    assert not (short_run / "allocation.nc").exists()


def test_a_record_edited_to_pass_is_refused_naming_stored_and_recomputed(short_run, capsys,
                                                                       tmp_path):
    run = tmp_path / "run"
    shutil.copytree(short_run, run)
    rewrite_fit(run / "fit.nc", edit_json_attr(CONVERGENCE, looks_converged))
    capsys.readouterr()
    for extra in ([], [OVERRIDE_FLAG]):  # the override allows unconverged, not altered, fits
        code = main(["allocate", str(run), *extra])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err
        assert str(run / "fit.nc") in err and "disagrees" in err
        assert "max R-hat: stored 1, recomputed 1." in err
        assert "min bulk ESS: stored 5000, recomputed " in err
        assert not (run / "allocations.csv").exists()
        assert not (run / "summary.txt").exists()


def test_allow_unconverged_allocates_and_is_recorded(short_run, capsys, tmp_path):
    out = tmp_path / "allowed"
    assert main(["allocate", str(short_run), "--out", str(out), OVERRIDE_FLAG]) == 0
    err = capsys.readouterr().err
    assert "misses the convergence thresholds" in err
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert f"convergence gate: failed, allowed by {OVERRIDE_FLAG}" in summary
    assert "allowunconverged:yes" in summary.replace(" ", "")
    assert "gate failure 1:" in summary
    attrs = xr.load_dataset(out / "allocation.nc", engine="h5netcdf").attrs
    record = json.loads(attrs[GATE_ATTR])
    assert record["allow_unconverged"] is True and not record["passed"]
    assert attrs["allow_unconverged"] == 1


def test_fit_allocate_refuses_but_keeps_the_fit(mocked_sampler, config_file, tmp_path, capsys):
    out = tmp_path / "run"
    code = fit(config_file, out, 20, "--allocate")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "refusing to allocate" in err and "The fit was written" in err
    assert (out / "fit.nc").is_file() and (out / "run.json").is_file()
    assert not (out / "allocations.csv").exists()
    # ... and it can be allocated later with the override.
    assert main(["allocate", str(out), OVERRIDE_FLAG]) == 0


def test_a_fit_meeting_the_thresholds_is_allocated(mocked_sampler, config_file, tmp_path,
                                                   capsys):
    out = tmp_path / "run"
    # 2 x 1000 independent draws: R-hat about 1, ESS about 2000.
    assert fit(config_file, out, 1000, "--allocate") == 0
    summary = (out / "summary.txt").read_text(encoding="utf-8")
    assert "convergence gate: passed" in summary
    attrs = xr.load_dataset(out / "allocation.nc", engine="h5netcdf").attrs
    assert json.loads(attrs[GATE_ATTR])["passed"] is True
    assert attrs["allow_unconverged"] == 0


def test_demo_records_and_warns_rather_than_refusing(mocked_sampler, config_file, tmp_path,
                                                     capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--scale", "tiny", "--out", str(out), "--draws", "20", "--tune", "1",
                 "--no-progress", "--priors", str(config_file.parent / "priors.toml")]) == 0
    err = capsys.readouterr().err
    assert "misses the convergence thresholds" in err
    assert "convergence gate: failed" in (out / "summary.txt").read_text(encoding="utf-8")


@pytest.mark.slow
def test_real_fit_with_tiny_tuning_is_refused(tmp_path, capsys):
    config = tmp_path / "run.toml"
    config.write_text(RUN_CONFIG.replace('priors = "priors.toml"\n', ""), encoding="utf-8")
    run = tmp_path / "run"
    assert main(["fit", "--config", str(config), "--out", str(run), "--draws", "30",
                 "--tune", "3", "--seed", "7"]) == 0
    capsys.readouterr()
    code = main(["allocate", str(run)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "refusing to allocate" in err and OVERRIDE_FLAG in err
    assert not (run / "allocations.csv").exists()
