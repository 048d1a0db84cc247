"""Atomic output writing: every file appears whole or not at all.

Files are written to a temporary sibling and moved into place with :func:`os.replace`, which
is atomic on POSIX and Windows filesystems; an exception or interrupt (SIGINT, or SIGTERM via
the CLI) removes the temporary file. Files that belong together (a run directory) are written
with :func:`output_set`: staged in a hidden directory and moved into place together at the
end, with stop signals held back during the move, so an interrupted run leaves either the
complete new set or nothing new. Only a hard kill (SIGKILL, power loss) can leave a hidden
``.staging-*`` directory or ``.*.tmp`` file behind; they are never read and are safe to
delete.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pandas as pd

from bayes_needs.core.interrupts import signals_deferred


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success move it onto ``target``.

    Parameters
    ----------
    target
        The file to write; its parent directories are created.

    Yields
    ------
    pathlib.Path
        A temporary sibling of ``target``, removed if the block raises.
    """
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


@contextlib.contextmanager
def output_set(out_dir: str | Path) -> Iterator[Path]:
    """Yield a staging directory that is moved into ``out_dir`` whole, or not at all.

    On success every file in the staging directory moves into ``out_dir`` (replacing files of
    the same name; staged subdirectories merge into existing ones); otherwise the staging
    directory is deleted. The move is a few renames done with SIGINT/SIGTERM held back
    (:func:`bayes_needs.core.interrupts.signals_deferred`), so ``out_dir`` gets all of the set
    or none of it. An ``out_dir`` this call created is removed
    again if nothing was committed.

    Parameters
    ----------
    out_dir
        The directory the set belongs in; created if missing.

    Yields
    ------
    pathlib.Path
        A hidden ``.staging-*`` directory inside ``out_dir`` to write the set into.
    """
    out_dir = Path(out_dir)
    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    committed = False
    try:
        yield staging
        with signals_deferred():
            _move_into(staging, out_dir)
            staging.rmdir()
            committed = True
    finally:
        if not committed:
            with signals_deferred():
                shutil.rmtree(staging, ignore_errors=True)
                if created:
                    with contextlib.suppress(OSError):
                        out_dir.rmdir()  # only if still empty


def _move_into(source: Path, target: Path) -> None:
    """Move every entry of ``source`` into ``target``, merging into existing subdirectories.

    A subdirectory that already exists in ``target`` (the ``plots/`` of an earlier report)
    keeps its other files and gets the staged ones, replacing files of the same name; a
    directory cannot be renamed onto a non-empty one.
    """
    for path in sorted(source.iterdir()):
        destination = target / path.name
        if path.is_dir() and destination.is_dir():
            _move_into(path, destination)
            path.rmdir()
        else:
            os.replace(path, destination)


def write_atomic(target: str | Path, writer: Callable[[Path], object]) -> Path:
    """Call ``writer(tmp_path)``, then move the result onto ``target``.

    Parameters
    ----------
    target
        The file to write.
    writer
        Writes the content to the path it is given; its return value is ignored.

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    with atomic_path(target) as tmp:
        writer(tmp)
    return Path(target)


def write_text(target: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) atomically and return ``target``."""
    return write_atomic(target, lambda p: p.write_text(text, encoding="utf-8"))


def write_csv(target: str | Path, frame: pd.DataFrame, *, comment: str | None = None,
              float_format: str = "%.10g") -> Path:
    """Write a CSV atomically, with optional ``# comment`` lines before the header.

    Parameters
    ----------
    target
        The file to write.
    frame
        The table, written without its index, with Unix line endings.
    comment
        Text written before the header, each line prefixed with ``# ``.
    float_format
        A fixed format keeps output byte-identical across runs with the same inputs.

    Returns
    -------
    pathlib.Path
        ``target``.
    """
    def writer(path: Path) -> None:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if comment:
                for line in comment.splitlines():
                    fh.write(f"# {line}\n")
            frame.to_csv(fh, index=False, float_format=float_format, lineterminator="\n")
    return write_atomic(target, writer)
