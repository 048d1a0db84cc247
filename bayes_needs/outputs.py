"""Atomic output writing: every file appears whole or not at all.

Files are written to a temporary sibling and moved into place with :func:`os.replace`, which
is atomic on POSIX and Windows filesystems. An interrupted run leaves only ``.tmp`` siblings
that are cleaned up by the next write of the same file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success move it onto ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_atomic(target: str | Path, writer: Callable[[Path], None]) -> Path:
    """Call ``writer(tmp_path)`` then move the result onto ``target``."""
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically."""
    return write_atomic(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_csv(target: str | Path, frame: pd.DataFrame, *, comment: str | None = None,
              float_format: str = "%.10g") -> Path:
    """Write a CSV atomically, with optional ``# comment`` lines before the header.

    A fixed ``float_format`` keeps output byte-identical across runs with the same inputs.
    """
    def writer(path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if comment:
                for line in comment.splitlines():
                    fh.write(f"# {line}\n")
            frame.to_csv(fh, index=False, float_format=float_format, lineterminator="\n")
    return write_atomic(target, writer)
