"""Every command writes its files as one set: a failure while writing leaves the previous
files untouched and no new file behind (``bayes_needs.core.outputs.output_set``).

Each test runs a command once to have previous outputs, then runs it again with different
settings while one writer fails part-way through the set (after other files of the set were
written), and compares the directory byte for byte. A mocked sampler stands in for NUTS.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import run_cli
from sampling_mocks import patched_sample, write_concentrated_priors

from bayes_needs.cli import main
from bayes_needs.models.cost_weights import CostWeightModel
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.costs import area_cost_design
from bayes_needs.workflows import decomposition, person_pipeline

SAMPLING = ["--draws", "20", "--tune", "1", "--no-progress"]


class WriteFailed(RuntimeError):
    """The failure injected into a writer."""


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` (hidden ones too) by relative name, with its bytes."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def failing(writer, file_name: str):
    """``writer``, except that writing ``file_name`` raises :class:`WriteFailed`."""
    def write(path, *args, **kwargs):
        if Path(path).name == file_name:
            raise WriteFailed(f"injected failure writing {file_name}")
        return writer(path, *args, **kwargs)
    return write


def test_person_demo_failure_leaves_previous_files(capsys, tmp_path, monkeypatch):
    out = tmp_path / "person"
    demo = ["demo", "--scale", "tiny", "--approach", "person", "--out", out, *SAMPLING]
    with patched_sample():
        code, _, err = run_cli(capsys, *demo, "--seed", "1")
        assert code == 0, err
        before = snapshot(out)
        assert set(person_pipeline.OUTPUT_FILES) <= set(before)
        # coverage.csv is written after fit.nc, the allocation files and demand.csv.
        monkeypatch.setattr(person_pipeline, "write_safe_csv",
                            failing(person_pipeline.write_safe_csv,
                                    person_pipeline.COVERAGE_CSV))
        with pytest.raises(WriteFailed):
            run_cli(capsys, *demo, "--seed", "2")
    assert snapshot(out) == before


@pytest.fixture
def area_run_and_cost_weights(tmp_path) -> tuple[Path, Path]:
    """A mocked tiny demo run and a mocked cost-weight fit of the same synthetic data."""
    run = tmp_path / "run"
    priors = write_concentrated_priors(tmp_path)
    with patched_sample():
        assert main(["demo", "--scale", "tiny", "--out", str(run), *SAMPLING,
                     "--priors", str(priors)]) == 0
        area = generate_area("tiny", random_seed=0)  # the demo's data (seed 0)
        design, unit_costs = area_cost_design(area)
        model = CostWeightModel(area.spend, unit_costs, design)
        fit = model.fit(random_seed=5, draws=20, tune=1, chains=2, progressbar=False)
    return run, model.save(fit, tmp_path / "cost_weights.nc")


def test_allocate_decomposition_joins_the_allocation_set(area_run_and_cost_weights, capsys,
                                                         tmp_path, monkeypatch):
    run, nc = area_run_and_cost_weights
    out = tmp_path / "allocated"
    allocate = ["allocate", run, "--out", out, "--cost-weights", nc, "--allow-unconverged"]
    code, _, err = run_cli(capsys, *allocate, "--interval-prob", "0.8")
    assert code == 0, err
    before = snapshot(out)
    assert {"allocations.csv", "demand.csv", "summary.txt", "allocation.nc",
            decomposition.DECOMPOSITION_CSV} <= set(before)
    # decomposition.csv is written last; the new allocation files are already staged.
    monkeypatch.setattr(decomposition, "write_csv",
                        failing(decomposition.write_csv, decomposition.DECOMPOSITION_CSV))
    with pytest.raises(WriteFailed):
        run_cli(capsys, *allocate, "--interval-prob", "0.7")
    assert snapshot(out) == before

    fresh = tmp_path / "fresh"
    with pytest.raises(WriteFailed):
        run_cli(capsys, "allocate", run, "--out", fresh, "--cost-weights", nc,
                "--allow-unconverged")
    assert not fresh.exists()
