"""Directory locks: one bayes-needs run at a time writes an output directory.

The lock is an operating-system file lock (:mod:`filelock`: ``flock`` on POSIX, ``msvcrt`` on
Windows) on a hidden :data:`LOCK_FILE` inside the directory. The operating system releases it
when the process ends, however it ends, so a killed run never leaves a directory locked. A
second run into a locked directory stops at once with
:class:`~bayes_needs.core.errors.OutputDirectoryLockedError` naming the directory; it never
waits, so it cannot spend hours fitting and then find it cannot write.

Locks are re-entrant within a process: the CLI locks a command's output directory before the
command starts, and the output set that writes it at the end takes the same lock again.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from bayes_needs.core.errors import OutputDirectoryLockedError
from bayes_needs.core.writers import write_error

#: The lock file inside a locked directory (empty; kept between runs, never read).
LOCK_FILE = ".bayes-needs.lock"

#: Locks this process holds: resolved directory -> (lock, nesting depth).
_held: dict[Path, tuple[FileLock, int]] = {}
_guard = threading.Lock()


def _key(directory: Path) -> Path:
    return directory.resolve()


@contextlib.contextmanager
def directory_lock(directory: str | Path, *,
                   unused: Callable[[Path], bool] | None = None) -> Iterator[bool]:
    """Hold the lock of ``directory`` (created if missing) inside the block.

    Parameters
    ----------
    directory
        The output directory.
    unused
        Called when the outermost hold ends; if it returns true and this hold created the
        lock file, the lock file is removed (and the directory too, if this hold created it
        and it is empty), so a run that wrote nothing leaves no trace.

    Yields
    ------
    bool
        Whether this is the outermost hold in this process, i.e. the lock was just taken.

    Raises
    ------
    OutputDirectoryLockedError
        If another process holds the lock.
    OutputWriteError
        If the directory or its lock file cannot be created.
    """
    directory = Path(directory)
    created = not directory.exists()
    lock_created = not os.path.lexists(directory / LOCK_FILE)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(directory, exc) from None
    key = _key(directory)
    with _guard:
        lock, depth = _held.get(key, (None, 0))
        if lock is None:
            lock = _acquire(directory)
        _held[key] = (lock, depth + 1)
    try:
        yield depth == 0
    finally:
        with _guard:
            lock, depth = _held.pop(key)
            if depth > 1:
                _held[key] = (lock, depth - 1)
            else:
                if lock_created and unused is not None and unused(directory):
                    _remove_lock_file(directory, created)
                lock.release()


def _acquire(directory: Path) -> FileLock:
    """Take the lock of ``directory`` without waiting."""
    path = directory / LOCK_FILE
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise OutputDirectoryLockedError(
            f"{directory} is being written by another bayes-needs run (it holds {path}); "
            f"wait for that run to finish, or choose another output directory") from None
    except OSError as exc:
        raise write_error(path, exc) from None
    return lock


def _remove_lock_file(directory: Path, remove_directory: bool) -> None:
    """Remove the lock file, and ``directory`` if asked and then empty.

    Done while the lock is still held, so no other run is using the directory.
    """
    with contextlib.suppress(OSError):
        os.unlink(directory / LOCK_FILE)
        if remove_directory:
            os.rmdir(directory)


def is_locked_here(directory: str | Path) -> bool:
    """Whether this process holds the lock of ``directory``."""
    with _guard:
        return _key(Path(directory)) in _held
