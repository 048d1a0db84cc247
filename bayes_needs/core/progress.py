"""Progress of long steps on stderr, and the CLI's ``--quiet``.

Bars are drawn with `rich <https://rich.readthedocs.io>`_: PyMC already uses it for its
sampler's bar (so both look alike and no further dependency is needed) and it is well kept.

* Python functions show progress only when asked (``progress=True``); the CLI asks unless
  ``--quiet`` is given.
* On a terminal, a step shows a bar with a count, elapsed time and the last finished item.
  When stderr is not a terminal (a log file, a pipe, a scheduler), the bar becomes one plain
  line per finished item, so logs show progress without control characters.
* :func:`set_quiet` (the CLI's ``--quiet``) turns off every bar and every :func:`info` line;
  errors and warnings still print.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

#: Called once per finished item with an optional note (e.g. that item's name and result).
Advance = Callable[[str], None]

_state = {"quiet": False}


def set_quiet(quiet: bool) -> None:
    """Silence (or restore) progress bars and informational lines in this process."""
    _state["quiet"] = bool(quiet)


def is_quiet() -> bool:
    """Whether :func:`set_quiet` silenced progress and informational lines."""
    return _state["quiet"]


def info(message: str) -> None:
    """Print an informational line on stderr, unless quiet."""
    if not is_quiet():
        print(message, file=sys.stderr, flush=True)


def stderr_is_terminal() -> bool:
    """Whether stderr is an interactive terminal (bars are drawn only there)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def sampler_bar_wanted(requested: bool = True) -> bool:
    """Whether to show PyMC's sampler bar: requested, not quiet and stderr a terminal.

    PyMC's bar has no plain-line form (off a terminal it prints one table at the end), so it
    is shown on a terminal only.
    """
    return requested and not is_quiet() and stderr_is_terminal()


def _ignore(note: str = "") -> None:
    """Advance a progress bar that is not shown."""


@contextlib.contextmanager
def progress_bar(total: int, description: str, *, enabled: bool = True) -> Iterator[Advance]:
    """Show the progress of ``total`` items; yield the function to call after each item.

    Parameters
    ----------
    total
        Number of items.
    description
        What is being done, e.g. ``"scenarios"``.
    enabled
        Show anything at all (also off when quiet).

    Yields
    ------
    Advance
        ``advance(note)``: one more item is done; ``note`` describes it.
    """
    if not enabled or is_quiet():
        yield _ignore
        return
    if not stderr_is_terminal():
        done = [0]

        def line(note: str = "") -> None:
            done[0] += 1
            print(f"  [{done[0]}/{total}] {description}{': ' + note if note else ''}",
                  file=sys.stderr, flush=True)

        yield line
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[note]}"))
    with Progress(*columns, console=Console(file=sys.stderr)) as bar:
        task = bar.add_task(description, total=total, note="")

        def advance(note: str = "") -> None:
            bar.update(task, advance=1, note=note)

        yield advance
