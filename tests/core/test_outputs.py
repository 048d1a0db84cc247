"""Output sets (core/outputs.py): the directory shows the previous complete set or the new one.

Directory contents are compared by hashing every file (hidden ones too) before and after.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from clitools import digest

from bayes_needs.core import outputs
from bayes_needs.core.errors import OutputWriteError
from bayes_needs.core.interrupts import RunInterrupted, terminate_as_interrupt
from bayes_needs.core.outputs import (
    ALLOCATION,
    LOCK_FILE,
    MANIFEST_FILE,
    REPORT,
    RUN,
    output_set,
    write_text,
)


def write_set(out: Path, kind: str, files: dict[str, str]) -> tuple[str, ...]:
    with output_set(out, kind) as staged:
        for name, text in files.items():
            write_text(staged.staging / name, text)
    return staged.removed


def visible(directory: Path) -> list[str]:
    """Files under ``directory`` other than the set's own bookkeeping files."""
    return sorted(name for name in digest(directory) if name not in (MANIFEST_FILE, LOCK_FILE))


def test_output_set_moves_every_file_in_on_success(tmp_path):
    out = tmp_path / "run"
    write_set(out, RUN, {"a.txt": "old a"})
    with output_set(out, RUN) as staged:
        write_text(staged.staging / "a.txt", "new a")
        write_text(staged.staging / "plots" / "b.png", "new b")
        assert not (out / "plots").exists()  # nothing visible before the commit
    assert visible(out) == ["a.txt", "plots/b.png"]
    assert (out / "a.txt").read_text() == "new a"


def test_failed_output_set_leaves_nothing_new(tmp_path):
    existing, fresh = tmp_path / "existing", tmp_path / "fresh"
    write_set(existing, RUN, {"a.txt": "old a"})
    before = digest(existing)
    for out in (existing, fresh):
        with pytest.raises(RuntimeError), output_set(out, RUN) as staged:
            write_text(staged.staging / "a.txt", "new a")
            raise RuntimeError("model failed")
    assert digest(existing) == before
    assert not fresh.exists()  # created by the failed set, so removed again


def test_a_set_replaces_the_stale_files_of_the_sets_it_supersedes(tmp_path, caplog):
    out = tmp_path / "run"
    (tmp_path / "run").mkdir()
    (out / "notes.txt").write_text("the user's own file")
    write_set(out, RUN, {"fit.nc": "fit 1", "allocations.csv": "alloc 1"})
    write_set(out, ALLOCATION, {"allocations.csv": "alloc 2", "decomposition.csv": "dec 2"})
    write_set(out, REPORT, {"report.html": "report", "plots/a.png": "a", "plots/b.png": "b"})
    write_set(out, "costs", {"cost_weights.csv": "weights"})
    assert visible(out) == ["allocations.csv", "cost_weights.csv", "decomposition.csv",
                            "fit.nc", "notes.txt", "plots/a.png", "plots/b.png", "report.html"]

    # A report that no longer draws b.png replaces the previous report's files only.
    assert write_set(out, REPORT, {"report.html": "report 2", "plots/a.png": "a2"}) == \
        ("plots/b.png",)
    # An allocation without a decomposition: the old one goes, and so does the report,
    # which showed the previous allocation.
    with caplog.at_level("WARNING"):
        removed = write_set(out, ALLOCATION, {"allocations.csv": "alloc 3"})
    assert removed == ("decomposition.csv", "plots/a.png", "report.html")
    assert "decomposition.csv" in caplog.text
    assert visible(out) == ["allocations.csv", "cost_weights.csv", "fit.nc", "notes.txt"]
    assert not (out / "plots").exists()  # emptied, so removed
    # A new fit alone: the previous fit's allocation is stale; other kinds and the user's
    # own file stay.
    assert write_set(out, RUN, {"fit.nc": "fit 2"}) == ("allocations.csv",)
    assert visible(out) == ["cost_weights.csv", "fit.nc", "notes.txt"]
    assert (out / "notes.txt").read_text() == "the user's own file"


def test_a_file_in_the_way_leaves_the_previous_set_untouched(tmp_path):
    out = tmp_path / "run"
    write_set(out, RUN, {"a.txt": "old a", "b.txt": "old b"})
    (out / "c.txt").mkdir()
    (out / "c.txt" / "keep").write_text("a directory where the set has a file")
    before = digest(out)
    with pytest.raises(OutputWriteError, match=r"c\.txt"):
        write_set(out, RUN, {"a.txt": "new a", "b.txt": "new b", "c.txt": "new c"})
    assert digest(out) == before
    assert sorted(p.name for p in out.iterdir()) == sorted([LOCK_FILE, MANIFEST_FILE, "a.txt",
                                                            "b.txt", "c.txt"])


def test_an_interrupt_a_library_swallows_while_writing_still_stops_the_set(tmp_path):
    out = tmp_path / "run"
    write_set(out, RUN, {"a.txt": "old a"})
    before = digest(out)

    def library_write(path):  # as h5py may: the KeyboardInterrupt never reaches the caller
        try:
            signal.raise_signal(signal.SIGTERM)
            write_text(path, "new b")
        except KeyboardInterrupt:
            pass

    with pytest.raises(RunInterrupted) as raised, terminate_as_interrupt(), \
            output_set(out, RUN) as staged:
        write_text(staged.staging / "a.txt", "new a")
        library_write(staged.staging / "b.txt")
        write_text(staged.staging / "c.txt", "new c")
    assert raised.value.signum == signal.SIGTERM
    assert digest(out) == before


class FailingReplace:
    """``os`` for the output-set module, whose ``replace`` fails at call ``fail_at``."""

    def __init__(self, fail_at: int) -> None:
        self.fail_at, self.calls = fail_at, 0

    def __getattr__(self, name):
        return getattr(os, name)

    def replace(self, source, target):
        self.calls += 1
        if self.calls == self.fail_at:
            raise PermissionError(13, "Permission denied", str(target))
        return os.replace(source, target)


def test_a_file_that_cannot_be_replaced_rolls_the_whole_set_back(tmp_path, monkeypatch):
    out = tmp_path / "run"
    write_set(out, RUN, {"a.txt": "old a", "b.txt": "old b", "stale.txt": "old"})
    before = digest(out)
    new = {"a.txt": "new a", "b.txt": "new b", "c.txt": "new c"}
    # Count the renames of the commit (moving the old files aside, the new ones in).
    shutil.copytree(out, tmp_path / "probe")
    counting = FailingReplace(fail_at=0)
    monkeypatch.setattr(outputs, "os", counting)
    write_set(tmp_path / "probe", RUN, new)
    assert counting.calls >= 8
    for fail_at in range(1, counting.calls + 1):
        monkeypatch.setattr(outputs, "os", FailingReplace(fail_at))
        with pytest.raises(OutputWriteError, match="previous files were restored"):
            write_set(out, RUN, new)
        assert digest(out) == before, fail_at
    monkeypatch.setattr(outputs, "os", os)
    write_set(out, RUN, new)
    assert visible(out) == ["a.txt", "b.txt", "c.txt"]


#: Commits a set into sys.argv[1] but is killed (as by SIGKILL) at the N-th rename.
KILLED_COMMIT = """
import os, sys
from bayes_needs.core import outputs
kill_at, calls = int(sys.argv[2]), [0]
real = os.replace
class Os:
    def __getattr__(self, name):
        return getattr(os, name)
    def replace(self, a, b):
        calls[0] += 1
        if calls[0] == kill_at:
            os._exit(9)
        return real(a, b)
outputs.os = Os()
with outputs.output_set(sys.argv[1], "run") as staged:
    for name in ("a.txt", "b.txt", "c.txt"):
        outputs.write_text(staged.staging / name, "new " + name)
"""


@pytest.mark.parametrize("kill_at", [1, 3, 5])
def test_the_next_run_rolls_back_a_killed_commit_and_removes_stray_staging(tmp_path, kill_at):
    out = tmp_path / "run"
    write_set(out, RUN, {"a.txt": "old a", "b.txt": "old b"})
    before = digest(out)
    killed = subprocess.run([sys.executable, "-c", KILLED_COMMIT, str(out), str(kill_at)],
                            env={**os.environ, "PYTHONPATH": str(Path(outputs.__file__)
                                                                 .parents[2])})
    assert killed.returncode == 9
    leftovers = [p.name for p in out.iterdir() if p.name.startswith((".staging-", ".commit-"))]
    assert leftovers  # what a hard kill leaves behind
    with outputs.locked_directory(out):
        pass  # the next run into the directory
    assert digest(out) == before
