"""Determinism: the same seed and the same inputs give a byte-identical ``allocations.csv``,
across separate processes with different hash seeds (see README, "Reproducibility").

One pair of runs per approach (area, person) uses the mocked sampler (fast, covers the whole
pipeline after sampling), one pair runs real NUTS on a small model, since reproducible
sampling across processes is the point. In the mocked pairs a run with another seed must
differ, so the comparison can fail; that run needs no process of its own and runs here while
the pair runs.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from clitools import SMALL_CONFIG, finish, run_cli, start_cli

from bayes_needs.checks.gate import OVERRIDE_FLAG

MOCKED_ARGS = ["demo", "--scale", "tiny", "--draws", "20", "--tune", "20", "--no-progress"]


def read(path: Path) -> bytes:
    assert path.is_file(), f"{path} was not written"
    return path.read_bytes()


@pytest.mark.parametrize("approach", ["area", "person"])
def test_same_seed_gives_identical_allocations_mocked_sampler(tmp_path, capsys, approach,
                                                              mocked_sampler):
    runs = {"a": (1, 5), "b": (2, 5)}  # name: (hash seed, seed)
    processes = {name: start_cli([*MOCKED_ARGS, "--approach", approach, "--seed", seed,
                                  "--out", tmp_path / name],
                                 mocked=True, hash_seed=hash_seed)
                 for name, (hash_seed, seed) in runs.items()}
    code, _, err = run_cli(capsys, *MOCKED_ARGS, "--approach", approach, "--seed", 6,
                           "--out", tmp_path / "other_seed")
    assert code == 0, f"other_seed: {err}"
    for name, process in processes.items():
        code, _, err = finish(process)
        assert code == 0, f"{name}: {err}"
    for file in ("allocations.csv", "demand.csv"):
        assert read(tmp_path / "a" / file) == read(tmp_path / "b" / file), file
        assert read(tmp_path / "a" / file) != read(tmp_path / "other_seed" / file), file


def test_same_seed_gives_identical_allocations_real_nuts(tmp_path):
    processes = {}
    for name, hash_seed, seed in (("a", 11, 42), ("b", 12, 42)):
        config = tmp_path / f"{name}.toml"
        config.write_text(SMALL_CONFIG.format(draws=25, tune=25, seed=seed), encoding="utf-8")
        processes[name] = start_cli(["fit", "--config", config, "--out", tmp_path / name,
                                     "--allocate", OVERRIDE_FLAG], mocked=False,
                                    hash_seed=hash_seed)
    for name, process in processes.items():
        code, _, err = finish(process)
        assert code == 0, f"{name}: {err}"
    assert read(tmp_path / "a" / "allocations.csv") == read(tmp_path / "b" / "allocations.csv")
