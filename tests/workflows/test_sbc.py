"""Running SBC replicates (mocked sampler), writing their outputs as one set, and the CLI."""

from __future__ import annotations

import pandas as pd
import pytest
from csv_meta import description

from bayes_needs.checks.sbc import SBCSettings
from bayes_needs.cli import main
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.outputs import SET_FILES
from bayes_needs.workflows import sbc as sbc_workflow
from bayes_needs.workflows.sbc import OUTPUT_FILES, run_replicate, run_sbc, write_sbc

SMALL = SBCSettings(draws=60, tune=10, chains=2, n_rank_draws=59, standardise="all")


def test_replicates_are_pure_functions_of_index_and_seed(mocked_sampler):
    first = run_replicate(1, 7, SMALL)
    again = run_replicate(1, 7, SMALL)
    other = run_replicate(2, 7, SMALL)
    assert first["ranks"] == again["ranks"]
    assert first["ranks"] != other["ranks"]
    names = list(first["ranks"])
    assert names[:2] == ["intercept[cin]", "intercept[cla]"]
    assert "beta[cla,idaci]" in names and "lsoa_dispersion[cin]" in names
    assert [n for n in names if n.startswith("share[")] == \
        [f"share[SLA{i:04d}]" for i in range(1, 9)]
    assert all(0 <= r <= SMALL.n_rank_draws for r in first["ranks"].values())
    assert first["diagnostics"]["error"] == ""


def test_a_laplace_replicate_records_its_pareto_k_and_the_gate():
    """A real Laplace refit (seconds at tiny scale): what the gate would refuse is visible."""
    settings = SBCSettings(draws=100, chains=1, n_rank_draws=99, method="laplace")
    result = run_replicate(0, 7, settings)
    diagnostics = result["diagnostics"]
    assert diagnostics["error"] == ""
    assert diagnostics["method"] == "laplace"
    assert diagnostics["pareto_k"] == diagnostics["pareto_k"]   # not NaN
    assert diagnostics["gate_passed"] == (diagnostics["pareto_k"] <= 0.7)
    assert all(0 <= r <= 99 for r in result["ranks"].values())
    note = sbc_workflow.replicate_note(diagnostics)
    assert "Pareto k̂" in note and ("refuse" in note) != diagnostics["gate_passed"]


def test_the_sbc_method_is_checked():
    with pytest.raises(ConfigError, match="SBC method must be one of"):
        SBCSettings(method="vi")


def test_run_sbc_and_write_outputs(mocked_sampler, tmp_path):
    seen = []
    result = run_sbc(SMALL, n_sims=3, base_seed=3, progress=seen.append)
    assert sorted(d["replicate"] for d in seen) == [0, 1, 2]
    summary = result.summary
    assert len(summary) == 18 and (summary["n_sims"] == 3).all()
    assert summary["p_value"].between(0, 1).all()
    assert summary[["coverage_50", "coverage_90"]].stack().between(0, 1).all()
    assert (summary["coverage_90"] >= summary["coverage_50"]).all()
    paths = write_sbc(result, tmp_path / "sbc")
    assert sorted(p.name for p in (tmp_path / "sbc").iterdir()) == sorted([*OUTPUT_FILES,
                                                                           *SET_FILES])
    assert sorted(p.name for p in paths) == sorted(OUTPUT_FILES)
    assert all(p.stat().st_size > 0 for p in paths)
    table = pd.read_csv(tmp_path / "sbc" / "sbc.csv")
    assert list(table["quantity"]) == list(summary["quantity"])
    assert (tmp_path / "sbc" / "sbc_ecdf.png").read_bytes()[:4] == b"\x89PNG"


def test_a_failed_write_leaves_the_previous_outputs_and_nothing_new(mocked_sampler, tmp_path,
                                                                     monkeypatch):
    result = run_sbc(SMALL, n_sims=2, base_seed=5)
    out = tmp_path / "sbc"
    write_sbc(result, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    other = run_sbc(SMALL, n_sims=2, base_seed=6)

    def disk_full(*args, **kwargs):
        raise OSError("No space left on device")

    # The figure is the last file of the set: every CSV is staged by then.
    monkeypatch.setattr(sbc_workflow, "plot_rank_ecdf", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_sbc(other, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    with pytest.raises(OSError, match="No space left"):
        write_sbc(other, tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"n_sims": 0, "base_seed": 1}, "n_sims"),
    ({"n_sims": 1, "base_seed": -1}, "seed"),
])
def test_run_sbc_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run_sbc(SMALL, **kwargs)


def test_validate_sbc_cli(mocked_sampler, tmp_path, capsys):
    out = tmp_path / "sbc"
    code = main(["validate", "sbc", "--model", "area", "--scale", "tiny", "--n-sims", "2",
                 "--out", str(out), "--workers", "1", "--draws", "30", "--tune", "5",
                 "--rank-draws", "29", "--standardise", "all",
                 "--la-parameterisation", "noncentred"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "replicate 0" in captured.err and "replicate 1" in captured.err
    table = pd.read_csv(out / "sbc.csv")
    assert len(table) == 18 and (table["n_rank_draws"] == 29).all()
    header = description(out / "sbc.csv").splitlines()[0]
    assert "n_rank_draws=29" in header and "'la_parameterisation': 'noncentred'" in header
    assert not (out / "sbc_ranks.csv").exists()
    assert pd.read_csv(out / "ranks.csv")["rank"].between(0, 29).all()


def test_run_sbc_progress_is_opt_in(mocked_sampler, capsys):
    run_sbc(SMALL, n_sims=1, base_seed=3)
    assert "SBC replicates" not in capsys.readouterr().err
    run_sbc(SMALL, n_sims=2, base_seed=3, progress=True)
    lines = [line for line in capsys.readouterr().err.splitlines() if "SBC replicates" in line]
    assert [line.split("]")[0] for line in lines] == ["  [1/2", "  [2/2"]
    assert all(": replicate " in line for line in lines)
