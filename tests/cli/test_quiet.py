"""The README's first command without library warnings, and ``--quiet``.

The demo runs in a new process, as the console script does (``bayes_needs.cli`` imported
first), with a mocked sampler and an empty cache directory, so ArviZ's once-a-day notice is
due. The control runs check that the notice and the worker warnings would otherwise appear.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from clitools import REPO_ROOT, SUPPORT_DIR, cli_env

from bayes_needs.cli import build_parser

#: ``bayes-needs ARGS`` with pm.sample mocked; bayes_needs first, as the console script.
DRIVER = f"""
import sys
import bayes_needs.cli
sys.path.insert(0, {str(SUPPORT_DIR)!r})
import pymc as pm
from sampling_mocks import mock_sampler
pm.sample = mock_sampler()
sys.exit(bayes_needs.cli.main(sys.argv[1:]))
"""
DEMO = ["demo", "--scale", "tiny", "--draws", "20", "--tune", "20"]
#: Our own warning of a mocked (unconverged) demo fit.
GATE_WARNING = "bayes-needs: warning: the demo fit misses the convergence thresholds"


def run(code: str, args: list[str], cache: Path) -> subprocess.CompletedProcess:
    """Run ``python -c code args`` with an empty per-user cache (ArviZ's notice is due)."""
    env = {**cli_env(), "XDG_CACHE_HOME": str(cache)}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                          text=True, env=env, cwd=REPO_ROOT, timeout=600, check=False)


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def test_arviz_notice_is_due_in_an_empty_cache(cache):
    control = run("import arviz", [], cache)
    assert "FutureWarning" in control.stderr and "major refactor" in control.stderr


def test_demo_prints_no_library_warnings(cache, tmp_path):
    done = run(DRIVER, [*DEMO, "--out", str(tmp_path / "out")], cache)
    assert done.returncode == 0, done.stderr
    assert "FutureWarning" not in done.stderr
    assert "RuntimeWarning" not in done.stderr
    assert "bayes-needs demo: generating synthetic tiny data" in done.stderr
    assert GATE_WARNING in done.stderr  # our own warning still shows


@pytest.mark.parametrize(("argv", "quiet"), [
    (["--quiet", *DEMO], True),
    (["-q", *DEMO], True),
    ([*DEMO, "--quiet"], True),
    ([*DEMO, "-q"], True),
    (["--quiet", *DEMO, "--quiet"], True),
    (DEMO, False),
])
def test_quiet_is_taken_before_or_after_the_command(tmp_path, argv, quiet):
    """Where ``--quiet`` stands only changes the parsing: one end-to-end run below covers both."""
    args = build_parser("demo").parse_args([*argv, "--out", str(tmp_path / "out")])
    assert args.quiet is quiet


def test_quiet_leaves_results_warnings_and_errors(cache, tmp_path):
    done = run(DRIVER, [*DEMO, "--out", str(tmp_path / "out"), "--quiet"], cache)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [line for line in done.stderr.splitlines()
                                        if line.startswith(GATE_WARNING)]
    assert len(done.stderr.splitlines()) == 1
    assert done.stdout.startswith("wrote allocations.csv")
    failed = run(DRIVER, ["--quiet", *DEMO, "--draws", "0", "--out", str(tmp_path / "x")],
                 cache)
    assert failed.returncode == 2
    assert failed.stderr.startswith("bayes-needs: error:") and "--draws 0" in failed.stderr
