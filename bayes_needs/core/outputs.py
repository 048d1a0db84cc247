"""Output sets: a directory shows the previous complete set of a command's files or the new one.

Every command writes its files through :func:`output_set`:

* **Lock.** The directory is locked first (:func:`bayes_needs.core.locks.directory_lock`): a
  second run into it stops at once with a message naming it.
* **Stage.** Files are written whole (:mod:`bayes_needs.core.writers`) into a hidden
  ``.staging-*`` directory inside the output directory; nothing visible changes yet.
* **Commit.** With stop signals held back (SIGINT, SIGTERM, SIGHUP;
  :func:`bayes_needs.core.interrupts.signals_deferred`), the files the new set replaces are
  moved aside into a hidden ``.commit-*`` directory holding a journal, the new files are moved
  in, the journal is deleted and the old files with it. If any step fails (a file that cannot
  be replaced, a full disk), the journal rolls every step back: the directory holds the
  previous set again and the error names the file.
* **Sidecars.** Each CSV table of a set comes with its metadata sidecar ``<name>.meta.json``
  (:func:`bayes_needs.core.writers.write_csv`), a file of the set like any other;
  :func:`with_sidecars` lists them beside the tables.
* **Manifest.** The directory's :data:`MANIFEST_FILE` records which set kind wrote each file.
  A new set replaces the files of the earlier sets it makes stale (:data:`REPLACES`): their
  files that the new set does not write again are removed, so stale files of a previous run
  never survive beside the new set as if they belonged to it (a new fit removes the previous
  fit's allocations and report; a new allocation removes a ``decomposition.csv`` it does not
  write). Files the manifest does not list (the user's own, or those written before manifests
  existed) are never removed; files of the same name are replaced.

Only a hard kill (SIGKILL, power loss) can leave a ``.staging-*`` or ``.commit-*`` directory
behind. The next run into the directory, holding its lock and so sure that no live run is
using them, rolls back an unfinished commit from its journal and deletes stray staging
directories.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bayes_needs.core.errors import OutputWriteError
from bayes_needs.core.interrupts import InterruptWatch, signals_deferred
from bayes_needs.core.locks import LOCK_FILE, directory_lock
from bayes_needs.core.writers import (
    atomic_path,
    sidecar_name,
    write_atomic,
    write_bytes,
    write_csv,
    write_netcdf,
    write_text,
)

__all__ = ["ALLOCATION", "LOCK_FILE", "MANIFEST_FILE", "REPLACES", "REPORT", "RUN", "SET_FILES",
           "OutputSet", "atomic_path", "locked_directory", "output_set", "same_directory",
           "sidecar_name", "with_sidecars", "write_atomic", "write_bytes", "write_csv",
           "write_netcdf", "write_text"]

_log = logging.getLogger(__name__)

#: The hidden file recording which set kind wrote each file of the directory.
MANIFEST_FILE = ".bayes-needs-outputs.json"
STAGING_PREFIX = ".staging-"
JOURNAL_PREFIX = ".commit-"
#: The hidden files an output directory holds besides its outputs: its lock and its manifest.
SET_FILES: tuple[str, ...] = (LOCK_FILE, MANIFEST_FILE)
_JOURNAL = "journal.json"
_OLD = "old"

#: Set kinds of a run directory: a fit (with or without its allocation), an allocation from
#: a saved fit, a diagnostic report.
RUN, ALLOCATION, REPORT = "run", "allocation", "report"
#: Set kind -> the kinds of earlier sets in the same directory that a new set replaces. The
#: allocation and report of a previous fit are stale once the fit changes, and a report shows
#: the allocation. Any other kind (costs, sbc, ...) replaces earlier sets of its own kind only.
REPLACES: dict[str, tuple[str, ...]] = {RUN: (RUN, ALLOCATION, REPORT),
                                        ALLOCATION: (ALLOCATION, REPORT), REPORT: (REPORT,)}


def with_sidecars(files: tuple[str, ...]) -> tuple[str, ...]:
    """``files`` with the metadata sidecar of each CSV table after it (as a set writes them)."""
    return tuple(name for file in files
                 for name in ((file, sidecar_name(file)) if file.endswith(".csv") else (file,)))


@dataclass
class OutputSet:
    """A set of output files being written.

    Attributes
    ----------
    out_dir
        The directory the set belongs in.
    kind
        What the set is (:data:`RUN`, :data:`ALLOCATION`, ``"costs"``, ...).
    staging
        The hidden directory to write the set's files into (subdirectories allowed).
    removed
        After the commit: files of earlier sets that the set replaced without writing them
        again (paths relative to ``out_dir``).
    """

    out_dir: Path
    kind: str
    staging: Path
    removed: tuple[str, ...] = ()


@contextlib.contextmanager
def locked_directory(out_dir: str | Path) -> Iterator[None]:
    """Hold the lock of ``out_dir``; on first taking it, clean up after any killed run.

    Parameters
    ----------
    out_dir
        The output directory (created if missing; removed again at the end if this call
        created it and nothing was written).
    """
    with directory_lock(out_dir, unused=_unused) as first:
        if first:
            _recover(Path(out_dir))
        yield


def _unused(out_dir: Path) -> bool:
    """Whether no output set was ever committed in ``out_dir`` (it has no manifest)."""
    return not os.path.lexists(out_dir / MANIFEST_FILE)


@contextlib.contextmanager
def output_set(out_dir: str | Path, kind: str) -> Iterator[OutputSet]:
    """Yield a set whose files move into ``out_dir`` together, or not at all.

    Parameters
    ----------
    out_dir
        The directory the set belongs in; created if missing (and removed again if nothing
        was committed).
    kind
        What the set is; decides which earlier files it replaces (:data:`REPLACES`).

    Yields
    ------
    OutputSet
        Write the files into its ``staging`` directory.

    Raises
    ------
    OutputWriteError
        If a file cannot be written or the set cannot be moved into place; ``out_dir`` then
        holds its previous files.
    OutputDirectoryLockedError
        If another run is writing ``out_dir``.
    """
    out_dir = Path(out_dir)
    with locked_directory(out_dir):
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out_dir))
        outputs = OutputSet(out_dir, kind, staging)
        try:
            with InterruptWatch() as watch:
                yield outputs
            # A library writing a file (h5py) may swallow the interrupt a signal raised in it.
            watch.raise_if_interrupted(f"writing the outputs in {out_dir}")
            with signals_deferred():
                outputs.removed = _commit(outputs)
        except OutputWriteError as exc:
            raise _kept(exc, outputs) from None
        finally:
            with signals_deferred():
                shutil.rmtree(staging, ignore_errors=True)
    if outputs.removed:
        _log.warning("%s: removed %s: they belonged to the previous outputs there, which the "
                     "new %s outputs replace", out_dir, ", ".join(outputs.removed), kind)


def same_directory(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name the same directory (a missing one is compared by name)."""
    a, b = Path(a), Path(b)
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def _kept(exc: OutputWriteError, outputs: OutputSet) -> OutputWriteError:
    """Restate a failed write in the staging directory as one in the output directory."""
    try:
        path = outputs.out_dir / Path(exc.path).relative_to(outputs.staging)
    except ValueError:
        return exc  # a failed commit, which says what it restored
    return OutputWriteError(str(path), f"{exc.reason}; {outputs.out_dir} keeps its previous "
                                       f"files", exc.errno)


def _files_under(directory: Path) -> list[str]:
    """Every file under ``directory``, as sorted relative POSIX paths."""
    found = []
    for root, _dirs, files in os.walk(directory):
        for name in files:
            found.append((Path(root) / name).relative_to(directory).as_posix())
    return sorted(found)


def _read_manifest(out_dir: Path) -> dict[str, str]:
    """Read the directory's manifest (file -> set kind); empty if missing or unreadable."""
    try:
        files = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {str(k): str(v) for k, v in files.items()}


def _check_targets(out_dir: Path, paths: list[str]) -> None:
    """Refuse, before anything moves, a target that is a directory or lies under a file."""
    for path in paths:
        target = out_dir / path
        if target.is_dir() and not target.is_symlink():
            raise OutputWriteError(str(target), "a directory is in the way of the file")
        for parent in Path(path).parents[:-1]:
            if (out_dir / parent).exists() and not (out_dir / parent).is_dir():
                raise OutputWriteError(str(out_dir / parent), "a file is in the way of the "
                                                              "directory")


def _missing_dirs(out_dir: Path, paths: list[str]) -> list[str]:
    """Parent directories of ``paths`` missing from ``out_dir``, parents first."""
    missing: list[str] = []
    for path in paths:
        for parent in reversed(Path(path).parents[:-1]):
            name = parent.as_posix()
            if name not in missing and not (out_dir / parent).exists():
                missing.append(name)
    return missing


def _commit(outputs: OutputSet) -> tuple[str, ...]:
    """Move the staged set into place, replacing the files it makes stale; roll back on error.

    Returns
    -------
    tuple of str
        The stale files removed (not written again by the set).
    """
    out_dir, staging = outputs.out_dir, outputs.staging
    new = [p for p in _files_under(staging) if p != MANIFEST_FILE]
    old = _read_manifest(out_dir)
    replaced_kinds = REPLACES.get(outputs.kind, (outputs.kind,))
    stale = [p for p, kind in sorted(old.items()) if kind in replaced_kinds and p not in new
             and os.path.lexists(out_dir / p) and not (out_dir / p).is_dir()]
    manifest = {p: kind for p, kind in old.items()
                if p not in stale and p not in new and os.path.lexists(out_dir / p)}
    manifest.update({p: outputs.kind for p in new})
    write_text(staging / MANIFEST_FILE, json.dumps(
        {"schema_version": 1, "files": dict(sorted(manifest.items()))}, indent=1) + "\n")
    moves = [*new, MANIFEST_FILE]
    _check_targets(out_dir, moves)
    existing = [p for p in moves if os.path.lexists(out_dir / p)]
    journal = {"replaced": existing + stale, "created": [p for p in moves if p not in existing],
               "directories": _missing_dirs(out_dir, moves)}
    journal_dir = Path(tempfile.mkdtemp(prefix=JOURNAL_PREFIX, dir=out_dir))
    current = out_dir
    try:
        write_text(journal_dir / _JOURNAL, json.dumps(journal))
        for path in journal["replaced"]:
            current = out_dir / path
            _move(current, journal_dir / _OLD / path)
        for name in journal["directories"]:
            current = out_dir / name
            os.mkdir(current)
        for path in moves:
            current = out_dir / path
            os.replace(staging / path, current)
        os.unlink(journal_dir / _JOURNAL)  # from here on the new set stands
    except BaseException as exc:
        restored = _roll_back(out_dir, journal_dir)
        if isinstance(exc, OutputWriteError | OSError):
            reason = exc.reason if isinstance(exc, OutputWriteError) else \
                (exc.strerror or str(exc))
            errno = exc.errno
            outcome = "the previous files were restored" if restored else \
                f"the previous files are kept in {journal_dir} and will be restored by the " \
                f"next run into {out_dir}"
            raise OutputWriteError(str(current), f"{reason}; {outcome}", errno) from None
        raise
    shutil.rmtree(journal_dir, ignore_errors=True)
    _remove_empty_parents(out_dir, stale)
    return tuple(stale)


def _move(source: Path, target: Path) -> None:
    """Move a file, creating the target's parent directories."""
    os.makedirs(target.parent, exist_ok=True)
    os.replace(source, target)


def _roll_back(out_dir: Path, journal_dir: Path) -> bool:
    """Undo an unfinished commit recorded in ``journal_dir``; whether it fully succeeded.

    Idempotent: an interrupted roll-back is finished by the next call. Without a journal
    file the commit either never moved a file or completed, and only the directory goes.
    """
    try:
        journal_file = journal_dir / _JOURNAL
        if journal_file.is_file():
            journal = json.loads(journal_file.read_text(encoding="utf-8"))
            for path in journal["created"]:
                if os.path.lexists(out_dir / path):
                    os.unlink(out_dir / path)
            for path in journal["replaced"]:
                if os.path.lexists(journal_dir / _OLD / path):
                    _move(journal_dir / _OLD / path, out_dir / path)
            for name in reversed(journal["directories"]):
                with contextlib.suppress(OSError):
                    os.rmdir(out_dir / name)
    except (OSError, ValueError, KeyError, TypeError):
        return False
    shutil.rmtree(journal_dir, ignore_errors=True)
    return True


def _remove_empty_parents(out_dir: Path, removed: list[str]) -> None:
    """Remove subdirectories emptied by removing stale files (deepest first)."""
    parents = {parent for path in removed for parent in Path(path).parents[:-1]}
    for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            os.rmdir(out_dir / parent)


def _recover(out_dir: Path) -> None:
    """Roll back unfinished commits and delete staging directories of killed runs.

    Called holding the directory's lock, which every writer holds while such directories
    exist, so they belong to runs that are no longer alive.
    """
    with os.scandir(out_dir) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        if entry.name.startswith(JOURNAL_PREFIX) and entry.is_dir(follow_symlinks=False) and \
                not _roll_back(out_dir, Path(entry.path)):
            raise OutputWriteError(entry.path, "an interrupted earlier commit could not be "
                                               "rolled back; its journal and the previous "
                                               "files are kept there")
    for entry in entries:
        if entry.name.startswith(STAGING_PREFIX) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
