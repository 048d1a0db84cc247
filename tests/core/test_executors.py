"""Executors that run SBC replicates: process pool, in-process, and argument checks."""

from __future__ import annotations

import os

import pytest

from bayes_needs.core.errors import ConfigError
from bayes_needs.core.executors import SerialExecutor, make_executor


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
