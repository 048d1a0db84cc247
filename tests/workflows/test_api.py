"""The Python API (workflows/api.py): one ``Run`` from config to files, the convergence gate
in Python with its own override, settings as arguments recorded in the run config, and a
save/load round trip.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from sampling_mocks import patched_sample

from bayes_needs import ConvergenceError, ConvergenceWarning, Run, RunConfig, generate_area
from bayes_needs.checks.gate import GATE_ATTR, OVERRIDE_FLAG, Thresholds
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError, DataHashMismatchError
from bayes_needs.workflows import pipeline
from bayes_needs.workflows.api import PYTHON_HINTS

TINY = {"source": "synthetic", "scale": "tiny", "services": ["cin", "cla"],
        "covariates": ["idaci"]}


def tiny_run(draws: int) -> Run:
    """A mocked fit of tiny synthetic England: 1000 prior draws pass the gate, 20 do not."""
    with patched_sample():
        return Run(RunConfig(data=TINY)).fit(random_seed=3, draws=draws, chains=2)


@pytest.fixture(scope="module")
def converged() -> Run:
    run = tiny_run(1000)
    conv = run.convergence
    assert conv["rhat_max"] <= 1.01 and conv["ess_tail_min"] >= 400  # the gate can pass
    return run


@pytest.fixture(scope="module")
def unconverged() -> Run:
    run = tiny_run(20)
    assert run.convergence["ess_tail_min"] < 400
    return run


@dataclass(frozen=True)
class Saved:
    """A saved run's directory, and what the run held when it was saved."""

    path: Path
    config: RunConfig
    sigma_la: xr.DataArray
    summary: pd.DataFrame


@pytest.fixture(scope="module")
def saved(converged, tmp_path_factory) -> Saved:
    """The converged run, allocated with settings given as arguments, then saved."""
    allocation = converged.allocate(interval_prob=0.8, interval_kind="hdi", pot=5e6,
                                    currency="EUR", random_seed=7)
    path = converged.save(tmp_path_factory.mktemp("api") / "run")
    return Saved(path, converged.config, idata_io.posterior(converged.idata)["sigma_la"],
                 allocation.summary())


def test_the_gate_refuses_from_python_naming_the_python_argument(unconverged):
    with pytest.raises(ConvergenceError) as info:
        unconverged.allocate()
    message = str(info.value)
    assert "misses the convergence thresholds" in message and "min tail ESS" in message
    assert 'pass on_unconverged="warn" to allocate anyway' in message
    assert "Run.fit(tune=..., draws=...)" in message
    assert OVERRIDE_FLAG not in message and "--tune" not in message
    assert unconverged.allocation is None


def test_on_unconverged_warn_allocates_and_records_the_override(unconverged, tmp_path):
    with pytest.warns(ConvergenceWarning, match="misses the convergence thresholds"):
        allocation = unconverged.allocate(on_unconverged="warn")
    status = f"failed, allowed by {PYTHON_HINTS.override}"
    assert allocation.draws.attrs["convergence_gate"] == status
    assert json.loads(allocation.draws.attrs[GATE_ATTR])["allow_unconverged"] is True
    unconverged.save(tmp_path)
    summary = (tmp_path / pipeline.SUMMARY_FILE).read_text(encoding="utf-8")
    assert f"convergence gate: {status}" in summary


def test_on_unconverged_must_be_raise_or_warn(unconverged):
    with pytest.raises(ConfigError, match="on_unconverged must be one of"):
        unconverged.allocate(on_unconverged="ignore")  # type: ignore[arg-type]


def test_a_converged_fit_allocates_without_warning(saved, tmp_path, recwarn):
    allocation = Run.load(saved.path).allocate()
    assert allocation.draws.attrs["convergence_gate"] == "passed"
    assert not [w for w in recwarn if issubclass(w.category, ConvergenceWarning)]


def test_settings_given_as_arguments_reach_the_allocation_and_run_file(saved):
    run_file = json.loads((saved.path / pipeline.RUN_FILE).read_text(encoding="utf-8"))
    given = {"interval_prob": 0.8, "interval_kind": "hdi", "pot": 5e6, "currency": "EUR"}
    assert run_file["config"]["allocation"] | given == run_file["config"]["allocation"]
    assert run_file["config"]["need"]["random_seed"] == 7
    assert run_file["config"]["sampling"]["random_seed"] == 3
    table = pd.read_csv(saved.path / pipeline.ALLOCATIONS_CSV)
    assert np.isclose(table["allocation_mean"].sum(), 5e6)
    meta = json.dumps(json.loads((saved.path / "allocations.meta.json").read_text("utf-8")))
    assert "80%" in meta and "hdi" in meta


def test_save_writes_every_run_file(saved):
    missing = [name for name in pipeline.OUTPUT_FILES if not (saved.path / name).is_file()]
    assert not missing


def test_save_and_load_round_trip(saved):
    again = Run.load(saved.path)
    assert again.config == saved.config
    xr.testing.assert_equal(idata_io.posterior(again.idata)["sigma_la"], saved.sigma_la)
    assert again.allocation is not None
    pd.testing.assert_frame_equal(again.allocation.summary(), saved.summary)
    # The reloaded run allocates again as the original did: the same seeded draws.
    pd.testing.assert_frame_equal(again.allocate().summary(), saved.summary)


def test_a_changed_run_must_be_saved_before_its_report(saved, tmp_path):
    run = Run.load(shutil.copytree(saved.path, tmp_path / "copy"))
    run.allocate(pot=1e6)
    with pytest.raises(ConfigError, match=r"call run.save\(directory\) first"):
        run.report()


def test_data_given_in_python_are_reloaded_with_the_fit(tmp_path):
    synthetic = generate_area("tiny", random_seed=5, services=("cin",))
    with patched_sample():
        run = Run(data=synthetic.data).fit(random_seed=1, draws=30)
    run.save(tmp_path)
    with pytest.raises(ConfigError, match=r"Run.load\(directory, data=...\)"):
        Run.load(tmp_path)
    again = Run.load(tmp_path, data=synthetic.data)
    assert again.model.data.data_hash() == synthetic.data.data_hash()
    other = generate_area("tiny", random_seed=6, services=("cin",)).data
    with pytest.raises(DataHashMismatchError):
        Run.load(tmp_path, data=other)


def test_need_settings_carry_into_the_allocation(saved):
    run = Run.load(saved.path)
    kept = run.need(standardise="none", random_seed=7)
    run.allocate()
    assert run.config.need.standardise == "none"
    assert run.need_draws is kept  # the same settings: the draws are reused, not redrawn
    standardised = Run.load(saved.path)
    standardised.allocate(standardise="la")
    assert run.allocation is not None and standardised.allocation is not None
    assert not np.allclose(run.allocation.summary()["share_mean"],
                           standardised.allocation.summary()["share_mean"])


def test_steps_before_a_fit_and_panel_configs_are_refused():
    with pytest.raises(ConfigError, match=r"call run.fit\(\)"):
        Run().allocate()
    with pytest.raises(ConfigError, match="panel model"):
        Run(RunConfig(data={"source": "synthetic_panel"}))


def test_from_config_takes_the_data_location(tmp_path):
    example = Path(__file__).resolve().parents[2] / "examples" / "england_area.toml"
    run = Run.from_config(example, data_dir=tmp_path, year=2024)
    assert run.config.data.data_dir == str(tmp_path.resolve())
    assert run.config.data.year == 2024
    assert run.config.data.services == ["referrals", "cin", "cpp", "cla"]


def test_fit_with_the_laplace_approximation_is_gated_on_its_pareto_k():
    """A real (fast) Laplace fit: recorded in the config, gated on k̂ with Python's hints."""
    run = Run(RunConfig(data=TINY)).fit(method="laplace", random_seed=3, draws=100, chains=2)
    assert run.config.sampling.method == "laplace"
    conv = run.convergence
    assert conv["approximate"] is True and conv["method"] == "laplace"
    assert np.isfinite(conv["pareto_k"])
    assert idata_io.posterior(run.idata).sizes["draw"] == 100
    with pytest.raises(ConvergenceError) as info:
        run.allocate(thresholds=Thresholds(pareto_k_max=-1.0))
    message = str(info.value)
    assert "Pareto k̂" in message and 'Run.fit(method="nuts")' in message
    assert 'on_unconverged="warn"' in message
    allocation = run.allocate(thresholds=Thresholds(pareto_k_max=100.0))
    assert allocation.draws.attrs["approximate"] == 1
    assert allocation.draws.attrs["method"] == "laplace"
