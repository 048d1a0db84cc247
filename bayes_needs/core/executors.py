"""One executor abstraction for embarrassingly parallel jobs (SBC replicates, scenarios).

Jobs are pure functions of their arguments (index, seed, settings), so the same job gives
the same result whichever executor runs it and in whatever order. :func:`make_executor`
returns a :class:`concurrent.futures.Executor`:

* ``scheduler="tcp://host:8786"``: a dask.distributed cluster (``bayes-needs[distributed]``);
* ``workers=1``: run each job in this process when it is submitted (no pool; debugging and
  tests);
* otherwise a :class:`~concurrent.futures.ProcessPoolExecutor` with ``workers`` processes
  (default: the CPUs this process may use). Worker processes are *spawned*, not forked, so
  they never inherit the parent's threads or compiled-model state.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

from bayes_needs.core.errors import BayesNeedsError, ConfigError

Job = TypeVar("Job")


class SerialExecutor(Executor):
    """Runs each submitted call immediately in the calling process."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        """Run ``fn(*args, **kwargs)`` now; its result or exception is in the future.

        Parameters
        ----------
        fn
            The job.
        *args, **kwargs
            Its arguments.

        Returns
        -------
        concurrent.futures.Future
            Already done: holding the job's result, or the exception it raised.
        """
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered through the future, as a pool would
            future.set_exception(exc)
        return future


def available_cpus() -> int:
    """Count the CPUs this process may run on (respecting affinity masks and CPU sets)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def make_executor(workers: int | None = None, scheduler: str | None = None
                  ) -> Iterator[Executor]:
    """Yield an executor for independent jobs; shut it down (pending jobs cancelled) on exit.

    Parameters
    ----------
    workers
        Worker processes (``None``: :func:`available_cpus`; ``1``: in-process, no pool).
        Ignored with ``scheduler``.
    scheduler
        Address of a dask.distributed scheduler; jobs then run on its workers.

    Raises
    ------
    ConfigError
        If ``workers`` is not a positive integer, dask.distributed is not installed, or the
        scheduler cannot be reached.

    Yields
    ------
    concurrent.futures.Executor
        A :class:`SerialExecutor`, a spawning process pool or a dask.distributed executor.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ConfigError(f"workers must be a whole number >= 1, got {workers!r}")
    if scheduler:
        with _dask_executor(scheduler) as executor:
            yield executor
        return
    n = workers or available_cpus()
    if n == 1:
        yield SerialExecutor()
        return
    pool = ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@contextlib.contextmanager
def _dask_executor(address: str) -> Iterator[Executor]:
    """Yield the executor of a dask.distributed client connected to ``address``."""
    try:
        # optional: dask.distributed is the `distributed` extra, needed only with a scheduler.
        from dask.distributed import Client
    except ImportError:
        raise ConfigError("--scheduler needs dask.distributed: pip install "
                          "'bayes-needs[distributed]'") from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot connect to the dask scheduler at {address!r}: "
                          f"{exc}") from None
    try:
        yield client.get_executor()
    finally:
        client.close()


def completed(futures: Mapping[Future, Job], describe: Callable[[Job], str] | None = None
              ) -> Iterator[tuple[Job, Any]]:
    """Yield each job with its result as it finishes; stop every other job on a failure.

    Parameters
    ----------
    futures
        Submitted futures -> the job each runs (its arguments, a name, ...).
    describe
        Names a job in the message of a :class:`~bayes_needs.core.errors.BayesNeedsError` it
        raised (``"{describe(job)} failed: ..."``); ``None`` re-raises it unchanged.

    Yields
    ------
    tuple
        ``(job, result)`` in the order the jobs finish.
    """
    try:
        for future in as_completed(futures):
            try:
                result = future.result()
            except BayesNeedsError as exc:
                if describe is None:
                    raise
                raise BayesNeedsError(f"{describe(futures[future])} failed: {exc}") from None
            yield futures[future], result
    finally:
        # A failure, an interrupt or a caller that stops early: pending jobs are not wanted.
        for future in futures:
            future.cancel()
