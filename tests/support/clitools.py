"""Helpers for tests that run the CLI: in this process (:func:`run_cli`), or in separate
processes (determinism, interruption).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bayes_needs.cli import main

SUPPORT_DIR = Path(__file__).resolve().parent
REPO_ROOT = SUPPORT_DIR.parents[1]

#: Runs ``bayes_needs.cli.main(argv)`` with ``pm.sample`` replaced by the mock sampler of
#: ``sampling_mocks`` (prior draws), so a run takes seconds. Exits with main's return code.
MOCKED_DRIVER = f"""
import sys
sys.path.insert(0, {str(SUPPORT_DIR)!r})
import pymc as pm
from sampling_mocks import mock_sampler
pm.sample = mock_sampler()
from bayes_needs.cli import main
sys.exit(main(sys.argv[1:]))
"""
#: The real CLI, as the ``bayes-needs`` console script runs it.
REAL_DRIVER = "import sys\nfrom bayes_needs.cli import run\nrun()\n"

#: A small real fit: tiny synthetic England, two services, one covariate.
SMALL_CONFIG = """schema_version = 1
[data]
source = "synthetic"
scale = "tiny"
services = ["cin", "cla"]
covariates = ["idaci"]
[sampling]
draws = {draws}
tune = {tune}
chains = 2
random_seed = {seed}
progressbar = false
"""


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """Run ``bayes-needs *args`` in this process; its exit code, stdout and stderr.

    Parameters
    ----------
    capsys
        The test's ``capsys`` fixture.
    *args
        Command-line arguments, converted with ``str`` (so paths can be passed).

    Returns
    -------
    tuple of (int, str, str)
        The exit code and the text printed to stdout and to stderr by the command.
    """
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def cli_env(hash_seed: int = 0) -> dict[str, str]:
    """Environment for a CLI subprocess, with an explicit ``PYTHONHASHSEED``."""
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = str(hash_seed)
    env.pop("BAYES_NEEDS_FAST_EXIT", None)
    return env


def start_cli(args, *, mocked: bool, hash_seed: int = 0, cwd: Path | None = None,
              driver: str | None = None) -> subprocess.Popen:
    """Start the CLI with ``args`` in a new process (text stdout/stderr pipes)."""
    code = driver or (MOCKED_DRIVER if mocked else REAL_DRIVER)
    return subprocess.Popen([sys.executable, "-c", code, *[str(a) for a in args]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(hash_seed), cwd=cwd or REPO_ROOT)


def finish(process: subprocess.Popen, timeout: float = 900) -> tuple[int, str, str]:
    """Wait for ``process``; its exit code, stdout and stderr."""
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"CLI did not finish in {timeout} s\n{err}") from None
    return process.returncode, out, err


def digest(directory: Path) -> dict[str, str]:
    """Every file under ``directory`` (hidden ones too) -> SHA-256 of its bytes."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*")) if p.is_file()}


def files_in(directory: Path) -> list[str]:
    """Every file and directory under ``directory`` (hidden ones too), relative names."""
    if not directory.exists():
        return []
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*"))
