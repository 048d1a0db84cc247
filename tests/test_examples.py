"""The README's Python quick start and the scripts in ``examples/`` run unchanged and write the
files they document.

Each script runs in its own process, as a user runs it, with ``pm.sample`` replaced by the
mock sampler (prior draws; ``sampling_mocks``) so a fit takes seconds; the README block runs
in this process under the ``mocked_sampler`` fixture. 1000 mocked draws per chain pass the
convergence gate, so the scripts' main path (allocating from a converged fit) is the one run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bayes_needs.workflows import pipeline, sensitivity
from bayes_needs.workflows.report import REPORT_FILE

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SUPPORT = ROOT / "tests" / "support"

#: Runs ``argv[1]`` as ``__main__`` with the rest of argv, under the mock sampler.
DRIVER = f"""
import runpy, sys
sys.path.insert(0, {str(SUPPORT)!r})
import pymc as pm
from sampling_mocks import mock_sampler
pm.sample = mock_sampler()
script, sys.argv = sys.argv[1], sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def run_example(name: str, *args: object, cwd: Path) -> str:
    """Run ``examples/<name>`` with ``args`` under the mock sampler; return its stdout."""
    done = subprocess.run([sys.executable, "-c", DRIVER, str(EXAMPLES / name),
                           *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def python_quick_start(readme: str) -> str:
    """The first ``python`` block of the README's "From Python" section."""
    section = readme[readme.index("## From Python\n"):]
    section = section[:section.index("\n## ", 1)]
    blocks = re.findall(r"^```python\n(.*?)^```$", section, flags=re.S | re.M)
    assert blocks, "the 'From Python' section has no python block"
    return blocks[0]


def test_the_quick_start_is_found():
    text = "## From Python\nx\n```python\nprint(1)\n```\n```python\nprint(2)\n```\n## Next\n"
    assert python_quick_start(text) == "print(1)\n"


def test_the_readme_python_quick_start_runs(mocked_sampler, tmp_path, monkeypatch, capsys):
    code = python_quick_start((ROOT / "README.md").read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {"__name__": "__main__"})
    run_dir = tmp_path / "runs" / "tiny"
    missing = [f for f in (*pipeline.OUTPUT_FILES, REPORT_FILE) if not (run_dir / f).is_file()]
    assert not missing
    assert "share_mean" in capsys.readouterr().out


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory) -> tuple[Path, str]:
    """``examples/quickstart.py`` run into a fresh directory: the run directory, stdout."""
    cwd = tmp_path_factory.mktemp("quickstart")
    out = run_example("quickstart.py", "--out", "run", cwd=cwd)
    return cwd / "run", out


def test_quickstart_writes_a_reloadable_run_and_its_report(quickstart):
    run_dir, out = quickstart
    missing = [f for f in (*pipeline.OUTPUT_FILES, REPORT_FILE) if not (run_dir / f).is_file()]
    assert not missing
    assert "allocation_mean" in out and "reloaded Run('synthetic'" in out


def test_arviz_inspection_reads_the_saved_fit(quickstart, tmp_path):
    run_dir, _ = quickstart
    out = run_example("arviz_inspection.py", run_dir, "--out", "inspection", cwd=tmp_path)
    assert (tmp_path / "inspection" / "trace.png").stat().st_size > 0
    assert "r_hat" in out and "sigma_la" in out           # az.summary
    assert "elpd_loo" in out and "pareto_k" in out        # az.loo and the LA-grouped LOO


def test_sensitivity_study_writes_its_outputs(tmp_path):
    out = run_example("sensitivity_study.py", "--out", "sens", "--workers", "1", cwd=tmp_path)
    missing = [f for f in sensitivity.OUTPUT_FILES if not (tmp_path / "sens" / f).is_file()]
    assert not missing
    assert "poisson" in out and "actual_demand" in out
