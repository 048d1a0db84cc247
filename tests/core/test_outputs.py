"""Atomic output writing (core/outputs.py): whole files and whole sets, or nothing."""

from __future__ import annotations

import pandas as pd
import pytest

from bayes_needs.core.outputs import output_set, write_atomic, write_csv, write_text


def test_write_csv_puts_comment_lines_before_a_fixed_format_table(tmp_path):
    frame = pd.DataFrame({"la_code": ["E1", "E2"], "share": [1 / 3, 2 / 3]})
    path = write_csv(tmp_path / "sub" / "out.csv", frame, comment="interval: 90%\npot: 1e+09")
    assert path.read_text(encoding="utf-8") == (
        "# interval: 90%\n# pot: 1e+09\nla_code,share\nE1,0.3333333333\nE2,0.6666666667\n")


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = write_text(tmp_path / "out.txt", "old")

    def failing(path):
        path.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        write_atomic(target, failing)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_output_set_moves_every_file_in_on_success(tmp_path):
    out = tmp_path / "run"
    write_text(out / "a.txt", "old a")
    with output_set(out) as staging:
        write_text(staging / "a.txt", "new a")
        write_text(staging / "b.txt", "new b")
        assert not (out / "b.txt").exists()  # nothing visible before the commit
    assert sorted(p.name for p in out.iterdir()) == ["a.txt", "b.txt"]
    assert (out / "a.txt").read_text() == "new a"


def test_failed_output_set_leaves_nothing_new(tmp_path):
    existing, fresh = tmp_path / "existing", tmp_path / "fresh"
    write_text(existing / "a.txt", "old a")
    for out in (existing, fresh):
        with pytest.raises(RuntimeError), output_set(out) as staging:
            write_text(staging / "a.txt", "new a")
            raise RuntimeError("model failed")
    assert [p.name for p in existing.iterdir()] == ["a.txt"]
    assert (existing / "a.txt").read_text() == "old a"
    assert not fresh.exists()  # created by the failed set, so removed again
