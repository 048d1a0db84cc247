"""Executors that run SBC replicates: process pool, in-process, and argument checks."""

from __future__ import annotations

import os
from concurrent.futures import Future

import pytest

from bayes_needs.core.errors import BayesNeedsError, ConfigError
from bayes_needs.core.executors import SerialExecutor, completed, make_executor


def test_process_pool_executor_runs_jobs_in_other_processes():
    # Builtins, so the spawned workers need not import this test module.
    with make_executor(workers=2) as executor:
        assert [f.result() for f in [executor.submit(pow, i, 2) for i in range(5)]] == \
            [0, 1, 4, 9, 16]
        pids = {executor.submit(os.getpid).result() for _ in range(4)}
    assert os.getpid() not in pids


def test_serial_executor_delivers_exceptions_through_futures():
    future = SerialExecutor().submit(int, "not a number")
    with pytest.raises(ValueError):
        future.result()


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_make_executor_rejects_bad_worker_counts(workers):
    with pytest.raises(ConfigError, match="workers"), make_executor(workers=workers):
        pass


def _finished(result=None, error: BaseException | None = None) -> Future:
    future: Future = Future()
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
    return future


def test_completed_yields_each_job_with_its_result():
    futures = {_finished(10): "a", _finished(20): "b"}
    assert sorted(completed(futures)) == [("a", 10), ("b", 20)]


def test_completed_names_the_failed_job_and_cancels_the_pending_ones():
    pending: Future = Future()
    futures = {_finished(error=ConfigError("bad prior")): ("job", 3), pending: ("job", 4)}
    with pytest.raises(BayesNeedsError, match=r"^job 3 failed: bad prior$"):
        list(completed(futures, lambda job: f"{job[0]} {job[1]}"))
    assert pending.cancelled()


def test_completed_reraises_unchanged_without_a_description_and_on_other_errors():
    error = ConfigError("bad prior")
    pending: Future = Future()
    with pytest.raises(ConfigError) as info:
        list(completed({_finished(error=error): 1, pending: 2}))
    assert info.value is error and pending.cancelled()
    pending = Future()
    with pytest.raises(ZeroDivisionError):
        list(completed({_finished(error=ZeroDivisionError()): 1, pending: 2}, str))
    assert pending.cancelled()


def test_completed_cancels_pending_jobs_when_the_caller_stops_early():
    pending: Future = Future()
    jobs = completed({_finished(1): "done", pending: "waiting"})
    assert next(jobs) == ("done", 1)
    jobs.close()
    assert pending.cancelled()
