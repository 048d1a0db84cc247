"""Allocation inputs checked before sampling (workflows/preflight.py), and the run workflows
that call it: nothing is sampled when an input the allocation needs is missing or invalid.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pymc as pm
import pytest

from bayes_needs.config.run import RunConfig, parse_run_config
from bayes_needs.core.errors import ConfigError, DataValidationError, MissingDataError
from bayes_needs.simulate.area import generate_area
from bayes_needs.workflows.preflight import check_allocation_inputs
from bayes_needs.workflows.runs import fit_run

SERVICES = ("cin", "cla")


@pytest.fixture(scope="module")
def synthetic():
    return generate_area("tiny", random_seed=3, services=SERVICES)


def config(**allocation) -> RunConfig:
    return parse_run_config({"data": {"source": "synthetic", "scale": "tiny", "data_seed": 3,
                                      "services": list(SERVICES)},
                             "sampling": {"draws": 5, "tune": 5, "chains": 1,
                                          "progressbar": False},
                             "allocation": allocation})


def check(cfg: RunConfig, synthetic, **kwargs) -> None:
    data = synthetic.data
    check_allocation_inputs(cfg, data, {"synthetic": synthetic}, data.services, **kwargs)


def baseline_file(tmp_path: Path, synthetic, drop: int = 0) -> str:
    codes = list(synthetic.data.geography.la_codes)[drop:]
    path = tmp_path / "baseline.csv"
    pd.DataFrame({"la_code": codes, "share": 1.0}).to_csv(path, index=False)
    return str(path)


def test_complete_inputs_pass(synthetic, tmp_path):
    check(config(), synthetic)
    check(config(cost_weights={"cin": 1.0, "cla": 4.0}, baseline=baseline_file(
        tmp_path, synthetic), damping_floor=-0.05), synthetic)
    check(config(unit_costs="default", baseline="population"), synthetic)


def test_a_service_without_a_cost_weight_is_named(synthetic):
    with pytest.raises(ConfigError, match=r"allocation.cost_weights has no weight for "
                                          r"service\(s\) \['cla'\]"):
        check(config(cost_weights={"cin": 1.0}), synthetic)


def test_cost_weights_are_left_to_allocate_when_not_allocating_now(synthetic):
    check(config(cost_weights={"cin": 1.0}), synthetic, cost_weights=False)


@pytest.mark.parametrize(("key", "error"), [("baseline", MissingDataError),
                                            ("cost_weights_file", MissingDataError),
                                            ("unit_costs", MissingDataError)])
def test_a_missing_file_is_named_with_its_setting(synthetic, tmp_path, key, error):
    with pytest.raises(error, match=rf"allocation\.{key}: file .*nowhere does not exist"):
        check(config(**{key: str(tmp_path / "nowhere")}), synthetic)


def test_a_baseline_missing_an_la_is_refused(synthetic, tmp_path):
    with pytest.raises(DataValidationError, match="no row for LA"):
        check(config(baseline=baseline_file(tmp_path, synthetic, drop=1)), synthetic)


def test_a_panel_run_checks_its_cost_weights_only(synthetic):
    cfg = config(cost_weights={"cin": 1.0}, baseline="nowhere.csv")
    check_allocation_inputs(cfg, None, {}, ("cin",))
    with pytest.raises(ConfigError, match=r"\['cla'\]"):
        check_allocation_inputs(cfg, None, {}, SERVICES)


@pytest.mark.parametrize("with_allocation", [True, False])
def test_fit_run_refuses_before_sampling(synthetic, tmp_path, monkeypatch, with_allocation):
    def sample(*args, **kwargs):
        raise AssertionError("sampled before checking the allocation inputs")

    monkeypatch.setattr(pm, "sample", sample)
    with pytest.raises(MissingDataError, match=r"allocation\.baseline"):
        fit_run(config(baseline=str(tmp_path / "nowhere.csv")), tmp_path / "run",
                with_allocation=with_allocation, allow_unconverged=True)
    assert not (tmp_path / "run").exists()
