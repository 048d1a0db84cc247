"""``bayes-needs costs`` outputs: every file of a cost-weight run is written as one set.

The cost-weight model, its influence analysis and the command on real data are tested in
``tests/models/test_cost_weights.py``; here a mocked fit of synthetic spend is written.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from csv_meta import read_meta
from sampling_mocks import patched_sample

from bayes_needs.checks.influence import la_influence
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.outputs import SET_FILES
from bayes_needs.models.cost_weights import CostWeightModel
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.costs import area_cost_design
from bayes_needs.workflows import costs


class WriteFailed(RuntimeError):
    """The failure injected into a writer."""


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones too) by relative name, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cost_fit():
    """A cost-weight model of tiny synthetic spend, its mocked fit and its influence."""
    area = generate_area("tiny", random_seed=0)
    design, unit_costs = area_cost_design(area)
    model = CostWeightModel(area.spend, unit_costs, design)
    with patched_sample():
        idata = model.fit(random_seed=5, draws=30, tune=1, chains=2, progressbar=False)
    return model, idata, la_influence(model, idata, max_refits=0)


def write(out: Path, cost_fit, interval_prob: float):
    model, idata, influence = cost_fit
    return costs.write_cost_outputs(out, model, idata, influence=influence,
                                    dropped=model.dropped, data_notes=["synthetic spend"],
                                    interval_prob=interval_prob)


def test_writes_every_cost_file(tmp_path, cost_fit):
    weights = write(tmp_path / "out", cost_fit, 0.9)
    assert sorted(snapshot(tmp_path / "out")) == sorted([*costs.COST_FILES, *SET_FILES])
    assert "90% equal-tailed" in weights.attrs["comment"]
    for name in ("cost_weights.csv", "influence.csv", "dropped_cells.csv"):
        assert list(pd.read_csv(tmp_path / "out" / name).columns) == [
            field["name"] for field in read_meta(tmp_path / "out" / name)["fields"]]
    fit = idata_io.load(tmp_path / "out" / costs.COST_WEIGHTS_NC)
    assert fit.posterior["unit_cost"].attrs["units"] == "GBP"
    assert fit.posterior["weight"].attrs == {
        "units": "1", "long_name": "cost weight relative to the reference activity"}
    assert fit.posterior["activity"].attrs["long_name"] == "costed activity"


def test_a_failure_while_writing_leaves_the_previous_files(tmp_path, cost_fit, monkeypatch):
    out = tmp_path / "out"
    write(out, cost_fit, 0.9)
    before = snapshot(out)

    def fail(path, text):
        raise WriteFailed(f"injected failure writing {Path(path).name}")

    # cost_summary.txt is written last, after the .nc and the CSV files.
    monkeypatch.setattr(costs, "write_text", fail)
    with pytest.raises(WriteFailed):
        write(out, cost_fit, 0.5)
    assert snapshot(out) == before
    with pytest.raises(WriteFailed):
        write(tmp_path / "new", cost_fit, 0.5)
    assert not (tmp_path / "new").exists()


def test_run_costs_checks_the_interval_before_reading_data(tmp_path):
    with pytest.raises(ConfigError, match="interval_kind"):
        costs.run_costs(tmp_path / "no_data", "2024-25", tmp_path / "out",
                        interval_kind="median")
    assert not (tmp_path / "out").exists()
