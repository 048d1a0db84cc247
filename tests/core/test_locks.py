"""Directory locks (core/locks.py): one run at a time writes a directory; no trace if unused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bayes_needs.core import locks
from bayes_needs.core.errors import OutputDirectoryLockedError
from bayes_needs.core.locks import LOCK_FILE, directory_lock

#: Holds the lock of sys.argv[1] until its stdin closes.
HOLDER = """
import sys
from bayes_needs.core.locks import directory_lock
with directory_lock(sys.argv[1]):
    print("locked", flush=True)
    sys.stdin.read()
"""


def test_a_second_process_is_refused_at_once_naming_the_directory(tmp_path):
    out = tmp_path / "run"
    root = str(Path(locks.__file__).parents[2])
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env={"PYTHONPATH": root})
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputDirectoryLockedError, match=str(out)), directory_lock(out):
            pass
    finally:
        holder.communicate("")
    assert holder.returncode == 0
    with directory_lock(out):  # free again once the holder has ended
        pass


def test_the_lock_is_reentrant_in_a_process_and_leaves_no_trace_when_unused(tmp_path):
    fresh, existing = tmp_path / "fresh", tmp_path / "existing"
    existing.mkdir()
    for out in (fresh, existing):
        with directory_lock(out, unused=lambda _: True) as first:
            assert first and (out / LOCK_FILE).exists() and locks.is_locked_here(out)
            with directory_lock(out) as again:
                assert not again
            assert locks.is_locked_here(out)
        assert not locks.is_locked_here(out)
    assert not fresh.exists()
    assert list(existing.iterdir()) == []
