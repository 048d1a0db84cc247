"""Run files read back (workflows/fits.py): ``run.json`` is checked once, naming the file and
what is wrong with it, before any data or fit is loaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bayes_needs.config.run import RunConfig
from bayes_needs.core.errors import ConfigFileError
from bayes_needs.workflows.fits import FIT_FILE, RUN_FILE, read_run_config

VALID = {"config": RunConfig().model_dump(), "data_info": {}, "data_hash": "abc",
         "fit_seconds": 1.5}


def run_dir(tmp_path: Path, content: bytes) -> Path:
    (tmp_path / RUN_FILE).write_bytes(content)
    (tmp_path / FIT_FILE).write_bytes(b"")  # only its presence is checked here
    return tmp_path


def changed(**entries) -> bytes:
    return json.dumps({**VALID, **entries}).encode("utf-8")


@pytest.mark.parametrize(("content", "problem"), [
    (b'{"config": {', "invalid JSON at line 1, column 13"),
    (b'{"config": "\xff"}', "not valid UTF-8 (byte 13 of the file)"),
    (b"[" * 100_000, "invalid JSON: nested too deeply"),
    (b"[1, 2]", "the top level must be a JSON object, got list"),
    (b'{"data_info": {}}', "'config' is missing"),
    (changed(config=[1]), "'config' must be a JSON object, got list"),
    (changed(data_info="x"), "'data_info' must be a JSON object, got str"),
    (changed(data_hash=7), "'data_hash' must be text, got int"),
    (changed(fit_seconds=True), "'fit_seconds' must be a number, got bool"),
])
def test_a_malformed_run_file_is_named(tmp_path, content, problem):
    with pytest.raises(ConfigFileError) as info:
        read_run_config(run_dir(tmp_path, content))
    assert info.value.source == f"{tmp_path / RUN_FILE} (not a bayes_needs run file)"
    assert any(p.startswith(problem) for p in info.value.problems), info.value.problems
    # The same directory with a valid run file reads (so the problem above is the cause).
    assert read_run_config(run_dir(tmp_path, changed(fit_seconds=None))) == RunConfig()
