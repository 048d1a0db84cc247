"""Interruption handling: SIGINT, SIGTERM and SIGHUP abort a run cleanly, never half-way.

* :func:`terminate_as_interrupt` makes SIGTERM (a scheduler stopping a job) and SIGHUP (the
  terminal or SSH session closing) raise :class:`KeyboardInterrupt` like SIGINT does, so
  ``finally`` blocks (temporary and staging files) run on all three; the CLI installs it.
* :class:`InterruptWatch` notices an interrupt that a library swallows. PyMC catches
  :class:`KeyboardInterrupt` during sampling and returns the draws made so far (or fails
  with "Not enough samples"); a fit wrapped in a watch re-raises the interrupt instead, so a
  truncated posterior never reaches the outputs.
* :func:`signals_deferred` holds the stop signals back for a few system calls (committing
  a set of output files) and delivers them afterwards, so a set is moved into place whole.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

#: Signals treated as a request to stop (SIGHUP does not exist on Windows).
STOP_SIGNALS: tuple[int, ...] = tuple(
    s for s in (getattr(signal, name, None) for name in ("SIGINT", "SIGTERM", "SIGHUP")) if s)


class RunInterrupted(KeyboardInterrupt):
    """A stop signal arrived; ``signum`` says which (the CLI exits with 128 + signum)."""

    def __init__(self, signum: int = signal.SIGINT, message: str = "interrupted"):
        super().__init__(message)
        self.signum = signum


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Make every stop signal (:data:`STOP_SIGNALS`) raise :class:`RunInterrupted` in the block.

    A signal the process was started to ignore stays ignored (``nohup`` ignores SIGHUP so a
    run survives its terminal closing). Only in the main thread (elsewhere a no-op, as Python
    runs signal handlers only there). The previous handlers are restored on exit.
    """
    if not _in_main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise RunInterrupted(signum)

    previous: dict[int, Any] = {}
    try:
        for s in STOP_SIGNALS:
            if signal.getsignal(s) != signal.SIG_IGN:
                previous[s] = signal.signal(s, handler)
        yield
    finally:
        _restore(previous)


def _restore(previous: dict[int, Any]) -> None:
    """Put every previous handler back, even if a pending signal's handler raises meanwhile.

    :func:`signal.signal` runs the handlers of pending signals before it changes a handler;
    one that raises must not leave the other signals with a handler of a block that has ended.
    """
    error: BaseException | None = None
    for s, old in previous.items():
        try:
            signal.signal(s, old)
        except BaseException as exc:  # a pending signal's handler ran first and raised
            error = error or exc
            signal.signal(s, old)
    if error is not None:
        raise error


class InterruptWatch:
    """Record whether a stop signal arrived inside a ``with`` block.

    Each signal is then passed on to the handler that was installed before, so behaviour is
    otherwise unchanged.

    Only signals whose previous handler is a Python callable are watched (e.g. Python's
    default SIGINT handler); a no-op outside the main thread.

    Attributes
    ----------
    signum
        The first stop signal seen, or ``None``.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._previous: dict[int, Callable[[int, FrameType | None], Any]] = {}

    @property
    def interrupted(self) -> bool:
        """Whether a stop signal arrived inside the block."""
        return self.signum is not None

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)

    def __enter__(self) -> InterruptWatch:
        """Install the recording handler over every Python-level stop-signal handler."""
        if _in_main_thread():
            for s in STOP_SIGNALS:
                current = signal.getsignal(s)
                if callable(current):
                    self._previous[s] = current
                    signal.signal(s, self._handler)
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Restore the previous handlers."""
        for s, old in self._previous.items():
            signal.signal(s, old)
        self._previous.clear()

    def raise_if_interrupted(self, what: str) -> None:
        """Raise :class:`RunInterrupted` if a stop signal arrived."""
        if self.signum is not None:
            raise RunInterrupted(self.signum, f"{what} was interrupted")


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold the stop signals (:data:`STOP_SIGNALS`) back inside the block.

    A signal that arrives is recorded and passed to the previous handler when the block ends.
    Keep the block to a few fast system calls.

    Done with Python-level handlers rather than a thread signal mask, because a signal sent to
    the process may be delivered to any thread (e.g. a BLAS worker) that does not block it.
    A no-op outside the main thread, where Python never runs signal handlers anyway.
    """
    if not _in_main_thread():
        yield
        return
    received: list[int] = []

    def record(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous: dict[int, Any] = {}
    try:
        for s in STOP_SIGNALS:
            previous[s] = signal.signal(s, record)
        yield
    finally:
        _restore(previous)
        if received:
            signum = received[0]
            handler = previous[signum]
            if callable(handler):
                handler(signum, None)
            elif handler != signal.SIG_IGN:  # default action (e.g. terminate), now restored
                signal.raise_signal(signum)
