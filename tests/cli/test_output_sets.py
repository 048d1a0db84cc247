"""Commands write their outputs as one complete set (``bayes_needs.core.outputs``), end to end.

A run directory shows the previous complete set or the new one: never a new fit beside a
previous fit's allocations, never one approach's new files beside another's old ones, never
a half-written set after a full disk. Directories are compared by hashing every file. A
mocked sampler stands in for NUTS.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from clitools import SMALL_CONFIG, digest, finish, run_cli, start_cli
from filelock import FileLock

from bayes_needs.checks.gate import OVERRIDE_FLAG
from bayes_needs.core import idata as idata_io
from bayes_needs.simulate.area import generate_area
from bayes_needs.workflows import pipeline

SAMPLING = ["--draws", "20", "--tune", "1", "--no-progress"]
DEMO = ["demo", "--scale", "tiny", *SAMPLING]


def listing(directory: Path) -> list[str]:
    """The files of ``directory`` besides hidden ones (the output sets' lock and manifest)."""
    return sorted(name for name in digest(directory) if not Path(name).name.startswith("."))


@pytest.fixture
def small_config(tmp_path) -> Path:
    config = tmp_path / "run.toml"
    config.write_text(SMALL_CONFIG.format(draws=20, tune=1, seed=3), encoding="utf-8")
    return config


def test_fit_refused_by_the_gate_removes_the_previous_allocations_and_says_so(
        mocked_sampler, small_config, tmp_path, capsys):
    run = tmp_path / "run"
    fit = ["fit", "--config", small_config, "--out", run, "--allocate", *SAMPLING]
    code, _, err = run_cli(capsys, *fit, OVERRIDE_FLAG)
    assert code == 0, err
    assert listing(run) == sorted(pipeline.OUTPUT_FILES)
    old_fit = (run / pipeline.FIT_FILE).read_bytes()

    code, _, err = run_cli(capsys, *fit, "--seed", "4")  # 20 mocked draws miss the gate
    assert code == 2 and "Traceback" not in err
    assert "allocations.csv" in err and "removed" in err, err
    assert listing(run) == sorted([pipeline.FIT_FILE, pipeline.RUN_FILE])
    assert (run / pipeline.FIT_FILE).read_bytes() != old_fit


def test_allocate_into_another_run_directory_makes_it_one_complete_run(mocked_sampler,
                                                                       tmp_path, capsys):
    run_a, run_b = tmp_path / "a", tmp_path / "b"
    for run, seed in ((run_a, "1"), (run_b, "2")):
        code, _, err = run_cli(capsys, *DEMO, "--out", run, "--seed", seed)
        assert code == 0, err
    code, _, err = run_cli(capsys, "allocate", run_a, "--out", run_b, "--allow-unconverged",
                           "--interval-prob", "0.8")
    assert code == 0, err
    assert listing(run_b) == sorted(pipeline.OUTPUT_FILES)
    fit_a = idata_io.load(run_a / pipeline.FIT_FILE)
    fit_b = idata_io.load(run_b / pipeline.FIT_FILE)
    for name in fit_a.posterior.data_vars:
        np.testing.assert_array_equal(fit_b.posterior[name], fit_a.posterior[name])
    assert idata_io.get_data_hash(fit_b) == idata_io.get_data_hash(fit_a)
    # B is a run of its own: allocating from it again gives the same allocation.
    before = (run_b / pipeline.ALLOCATIONS_CSV).read_bytes()
    code, _, err = run_cli(capsys, "allocate", run_b, "--allow-unconverged")
    assert code == 0, err
    assert (run_b / pipeline.ALLOCATIONS_CSV).read_bytes() == before


def test_a_run_replaces_every_file_of_the_previous_run_with_the_users_permissions(
        mocked_sampler, tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *DEMO, "--approach", "both", "--out", out)
    assert code == 0, err
    assert listing(out) == sorted([*(f"area/{name}" for name in pipeline.OUTPUT_FILES),
                                   *(f"person/{name}" for name in pipeline.OUTPUT_FILES),
                                   "person/coverage.csv", "person/coverage.meta.json"])
    code, _, err = run_cli(capsys, *DEMO, "--approach", "person", "--out", out)
    assert code == 0, err
    assert listing(out) == sorted([*pipeline.OUTPUT_FILES, "coverage.csv",
                                   "coverage.meta.json"])
    previous = os.umask(0o022)
    try:
        code, _, err = run_cli(capsys, *DEMO, "--approach", "area", "--out", out)
    finally:
        os.umask(previous)
    assert code == 0, err
    assert listing(out) == sorted(pipeline.OUTPUT_FILES)  # no coverage.csv of the person run
    for name in pipeline.OUTPUT_FILES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644, name


def test_an_interrupted_demo_of_both_approaches_keeps_both_previous_runs(
        mocked_sampler, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    demo = [*DEMO, "--approach", "both", "--out", out]
    code, _, err = run_cli(capsys, *demo, "--seed", "1")
    assert code == 0, err
    before = digest(out)
    real_replace = os.replace

    def replace(source, target):
        # SIGTERM once the person run is staged, while the area run's files are written.
        parts = Path(target).parts
        if "area" in parts and any(p.startswith(".staging-") for p in parts):
            signal.raise_signal(signal.SIGTERM)
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run_cli(capsys, *demo, "--seed", "2")
    monkeypatch.undo()
    assert code == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert digest(out) == before


def test_a_second_run_into_a_locked_directory_stops_before_fitting(mocked_sampler, tmp_path,
                                                                    capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *DEMO, "--out", out, "--seed", "1")
    assert code == 0, err
    before = digest(out)
    other_run = FileLock(out / ".bayes-needs.lock", timeout=0)  # what another run holds
    other_run.acquire()
    try:
        code, _, err = run_cli(capsys, *DEMO, "--out", out, "--seed", "2")
    finally:
        other_run.release()
    assert code == 2 and "Traceback" not in err
    assert str(out) in err and "another bayes-needs run" in err, err
    assert "fitting" not in err  # refused before any work
    assert digest(out) == before


class FullDisk:
    """``os`` for the writers module, whose ``write`` fails with ENOSPC."""

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_a_clean_error_that_keeps_the_previous_run(mocked_sampler, tmp_path,
                                                                   capsys, monkeypatch):
    from bayes_needs.core import writers  # every file is written by its system calls

    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *DEMO, "--out", out, "--seed", "1")
    assert code == 0, err
    before = digest(out)
    monkeypatch.setattr(writers, "os", FullDisk())
    code, _, err = run_cli(capsys, *DEMO, "--out", out, "--seed", "2")
    assert code == 2 and "Traceback" not in err
    assert "No space left on device" in err and str(out) in err, err
    assert digest(out) == before


def mount_tmpfs(directory: Path, size: str) -> bool:
    """Mount a small tmpfs at ``directory``; whether it worked (root, mounts allowed)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    directory.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                           str(directory)], capture_output=True)
    return done.returncode == 0


def test_a_real_full_filesystem_is_a_clean_error_that_keeps_the_previous_run(tmp_path, capsys,
                                                                            mocked_sampler):
    mnt = tmp_path / "small_disk"
    if not mount_tmpfs(mnt, "4m"):
        pytest.skip("needs root and permission to mount a tmpfs")
    try:
        out = mnt / "run"
        # The previous run is made here; the run that fills the disk gets its own process.
        code, _, err = run_cli(capsys, *DEMO, "--out", out, "--seed", "1")
        assert code == 0, err
        before = digest(out)
        used = sum(p.stat().st_size for p in out.iterdir())
        # Room for the run, not for a second copy of it beside the first.
        subprocess.run(["mount", "-o", f"remount,size={used * 3 // 2 // 4096 * 4096}", str(mnt)],
                       check=True)
        code, _, err = finish(start_cli([*DEMO, "--out", out, "--seed", "2"], mocked=True))
        assert code == 2 and "Traceback" not in err, (code, err)
        assert "No space left on device" in err, err
        assert digest(out) == before
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_spreadsheet_formulas_in_input_names_are_neutralised_in_outputs(mocked_sampler,
                                                                       tmp_path, capsys):
    data = generate_area("tiny", random_seed=3, services=("cin", "cla")).data
    geography = data.geography.to_frame()
    formula = '=HYPERLINK("http://example.org","click")'
    geography.loc[geography["la_code"] == geography["la_code"].iloc[0], "la_name"] = formula
    paths = {name: tmp_path / f"{name}.csv" for name in ("geography", "lsoa", "counts")}
    geography.to_csv(paths["geography"], index=False)
    lsoa = data.covariates.reset_index(drop=True)
    lsoa.insert(0, "children", data.exposure)
    lsoa.insert(0, "lsoa_code", data.geography.lsoa_codes)
    lsoa.to_csv(paths["lsoa"], index=False)
    data.observations.to_csv(paths["counts"], index=False)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "fit", "--geography", paths["geography"], "--lsoa-table",
                           paths["lsoa"], "--counts", paths["counts"], "--out", run,
                           "--allocate", OVERRIDE_FLAG, *SAMPLING)
    assert code == 0, err
    names = pd.read_csv(run / pipeline.ALLOCATIONS_CSV)["la_name"]
    assert "'" + formula in set(names)
    assert not names.str.startswith(("=", "+", "-", "@", "\t", "\r")).any()
