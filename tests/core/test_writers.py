"""Atomic files (core/writers.py): whole files or none, umask permissions, clean disk-full
errors, and CSV cells that a spreadsheet cannot run as formulas."""

from __future__ import annotations

import errno
import json
import os
import stat

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_needs.core import idata as idata_io
from bayes_needs.core import writers
from bayes_needs.core.errors import OutputWriteError
from bayes_needs.core.writers import write_atomic, write_csv, write_netcdf, write_text


def test_write_csv_writes_a_plain_fixed_format_table_and_its_sidecar(tmp_path):
    frame = pd.DataFrame({"la_code": ["E1", "E2"], "share": [1 / 3, 2 / 3],
                          "allocation_mean": [10.5, 20.25]})
    path = write_csv(tmp_path / "sub" / "out.csv", frame, comment="interval: 90%\npot: 1e+09",
                     metadata={"pot": 1e9}, currency="EUR")
    assert path.read_text(encoding="utf-8") == (
        "la_code,share,allocation_mean\nE1,0.3333333333,10.5\nE2,0.6666666667,20.25\n")
    pd.testing.assert_frame_equal(pd.read_csv(path), frame)
    sidecar = json.loads((tmp_path / "sub" / "out.meta.json").read_text(encoding="utf-8"))
    assert sidecar["table"] == "out.csv" and sidecar["pot"] == 1e9
    assert sidecar["comment"] == ["interval: 90%", "pot: 1e+09"]
    fields = {field["name"]: field for field in sidecar["fields"]}
    assert list(fields) == list(frame.columns)
    assert fields["share"]["units"] == "1" and fields["share"]["type"] == "number"
    assert fields["allocation_mean"]["units"] == "EUR"
    assert "units" not in fields["la_code"] and fields["la_code"]["long_name"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "out.txt", "old")

    def failing(path):
        path.write_text("half")
        raise RuntimeError("model failed")

    with pytest.raises(RuntimeError):
        write_atomic(target, failing)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def tiny_fit() -> az.InferenceData:
    rng = np.random.default_rng(0)
    return az.from_dict(posterior={"x": rng.normal(size=(2, 5, 3))},
                        sample_stats={"diverging": np.zeros((2, 5), dtype=bool)})


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        files = [write_text(tmp_path / "a.txt", "text"),
                 write_csv(tmp_path / "b.csv", pd.DataFrame({"x": [1]})),
                 tmp_path / "b.meta.json",
                 write_netcdf(tmp_path / "c.nc", xr.Dataset({"x": ("i", [1.0, 2.0])})),
                 idata_io.save(tiny_fit(), tmp_path / "fit.nc")]
    finally:
        os.umask(previous)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == mode, path.name


class FullDisk:
    """``os`` for the writers module, whose ``write`` fails with ENOSPC after ``room`` bytes."""

    def __init__(self, room: int) -> None:
        self.room = room

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return os.write(fd, data)


@pytest.mark.parametrize("room", [0, 100, 3000])
def test_a_full_disk_is_a_clean_error_that_keeps_the_old_file(tmp_path, monkeypatch, room):
    nc = idata_io.save(tiny_fit(), tmp_path / "fit.nc")
    old = nc.read_bytes()
    monkeypatch.setattr(writers, "os", FullDisk(room))
    changed = tiny_fit()
    changed.posterior["x"] += 1
    with pytest.raises(OutputWriteError, match="No space left on device") as raised:
        idata_io.save(changed, nc)
    assert raised.value.errno == errno.ENOSPC and raised.value.path == str(nc)
    with pytest.raises(OutputWriteError, match=r"out\.csv"):
        write_csv(tmp_path / "out.csv", pd.DataFrame({"x": np.arange(1000)}))
    assert nc.read_bytes() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fit.nc"]


def test_spreadsheet_formulas_in_text_cells_are_neutralised(tmp_path):
    frame = pd.DataFrame({
        "la_name": ['=HYPERLINK("http://x","y")', "+cmd", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)",
                    "\tx", "\rx", "-1.5", "-"],
        "code": pd.Categorical(["=1+1", "E2", "E3", "E4", "E5", "E6", "E7", "E8"]),
        "share": [-0.5, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7],
        "count": [-3, 1, 2, 3, 4, 5, 6, 7],
    }).rename(columns={"count": "=count"})
    read = pd.read_csv(write_csv(tmp_path / "out.csv", frame), dtype={"la_name": str},
                       keep_default_na=False)
    assert list(read.columns) == ["la_name", "code", "share", "'=count"]
    assert list(read["la_name"]) == ["'=HYPERLINK(\"http://x\",\"y\")", "'+cmd",
                                     "'-2+3+cmd|' /C calc'!A0", "'@SUM(A1)", "'\tx", "'\rx",
                                     "-1.5", "-"]
    assert read["code"].iloc[0] == "'=1+1"
    assert read["share"].iloc[0] == -0.5 and read["'=count"].iloc[0] == -3
    assert frame["la_name"].iloc[0].startswith("=")  # the caller's frame is not changed


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=12), st.floats(), st.integers(), st.none()),
                min_size=1, max_size=8))
def test_no_text_cell_can_start_a_formula_and_nothing_else_changes(cells):
    frame = pd.DataFrame({"name": pd.Series(cells, dtype=object)})
    safe = writers.neutralise_formulas(frame)["name"].tolist()
    for original, written in zip(cells, safe, strict=True):
        if isinstance(original, str) and original.startswith(writers.FORMULA_STARTS) and \
                not writers._is_inert(original):
            assert written == writers.TEXT_MARKER + original
        elif original is None or (isinstance(original, float) and np.isnan(original)):
            assert pd.isna(written)  # a missing cell stays missing
        else:
            assert written == original and type(written) is type(original)
