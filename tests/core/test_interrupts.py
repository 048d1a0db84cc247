"""Interrupted runs leave no partial outputs, and a rerun into the same directory works.

The CLI runs in a separate process and gets a real SIGINT, SIGTERM or SIGHUP:

* during NUTS sampling (real sampler; the signal is sent once PyMC reports that sampling
  started and the chain processes exist). PyMC itself swallows the interrupt and returns a
  truncated trace, so this checks that the fit re-raises it;
* while the output files are being written, from inside the process (a hook sends the signal
  after the k-th file is staged, or while the set is being moved into place) — deterministic
  timing without sleeps.

A run must exit with 128 + the signal number (130 for SIGINT, 143 for SIGTERM, 129 for
SIGHUP), print no traceback and leave the output directory with either the complete new file
set or nothing new (the previous contents, if any, byte for byte).

Only the interrupted runs need a process of their own; the runs that make the previous set
or rerun into the directory run in this process (mocked sampler), which saves a process
start and PyTensor's cache load for each.
"""

from __future__ import annotations

import os
import queue
import signal
import threading
import time
from pathlib import Path

import pytest
from clitools import MOCKED_DRIVER, SMALL_CONFIG, digest, files_in, finish, run_cli, start_cli

from bayes_needs.checks.gate import OVERRIDE_FLAG
from bayes_needs.core.interrupts import RunInterrupted, terminate_as_interrupt
from bayes_needs.core.outputs import SET_FILES
from bayes_needs.workflows.pipeline import OUTPUT_FILES

#: A complete run directory: the run's files, the set's manifest and the directory's lock file.
RUN_LISTING = sorted([*OUTPUT_FILES, *SET_FILES])
DEMO = ["demo", "--scale", "tiny", "--draws", "20", "--tune", "20", "--no-progress"]
#: Appended to the mocked driver: sends ``SIGNAL`` to this process at point ``AT``:
#: ``fileN`` once the N-th output file has been written to its temporary path, ``commit``
#: while a finished set is being moved into place (when stop signals are held back).
WRITE_HOOK = """
import contextlib, os
import bayes_needs.core.outputs as outputs
import bayes_needs.core.writers as writers
SIGNAL, AT = int(sys.argv.pop(1)), sys.argv.pop(1)
written = [0]
real_atomic_path, real_deferred = writers.atomic_path, outputs.signals_deferred

@contextlib.contextmanager
def atomic_path(target):
    with real_atomic_path(target) as tmp:
        yield tmp
        written[0] += 1
        if AT == f"file{written[0]}":
            os.kill(os.getpid(), SIGNAL)

@contextlib.contextmanager
def signals_deferred():
    with real_deferred():
        if AT == "commit":
            os.kill(os.getpid(), SIGNAL)
        yield

# Each module looks the name up in its own namespace, so it is replaced there.
writers.atomic_path, outputs.signals_deferred = atomic_path, signals_deferred
"""
WRITE_DRIVER = MOCKED_DRIVER.replace("from bayes_needs.cli import main",
                                     WRITE_HOOK + "from bayes_needs.cli import main")
SAMPLING_STARTED = ("Multiprocess sampling", "Sequential sampling")


def expected_code(sig: signal.Signals) -> int:
    return 128 + int(sig)


def assert_clean_interrupt(code: int, err: str, sig: signal.Signals) -> None:
    assert code == expected_code(sig), f"exit code {code}\n{err}"
    assert "Traceback" not in err, err
    assert f"interrupted ({sig.name})" in err, err


def start_demo_interrupted(out: Path, sig: signal.Signals, at: str, seed: int = 1):
    return start_cli([int(sig), at, *DEMO, "--seed", seed, "--out", out], mocked=True,
                     driver=WRITE_DRIVER)


# ---------------------------------------------------------------------- while writing
#: (signal, point, files expected afterwards). A signal while the finished set is moved into
#: place is held back until the move is done: the run still reports the interrupt, but the
#: set is complete. Each signal once, both outcomes; every signal at every file-system step
#: of the write is replayed in-process by tests/cli/test_interrupted_writes.py.
WRITE_CASES = [(signal.SIGTERM, "file1", []), (signal.SIGHUP, "file6", []),
               (signal.SIGINT, "commit", RUN_LISTING)]
#: The other signals at those points, in the slow sweep.
MORE_WRITE_CASES = [(signal.SIGINT, "file4", []), (signal.SIGHUP, "commit", RUN_LISTING)]


def check_interrupts_while_writing(tmp_path: Path, cases) -> None:
    # The cases are independent processes; run them side by side.
    runs = [(sig, at, expected, tmp_path / f"{at}_{sig.name}") for sig, at, expected in cases]
    processes = [start_demo_interrupted(out, sig, at) for sig, at, _, out in runs]
    for (sig, at, expected, out), process in zip(runs, processes, strict=True):
        code, _, err = finish(process, timeout=900)
        assert_clean_interrupt(code, err, sig)
        assert files_in(out) == expected, (sig.name, at)


def test_interrupt_while_writing_leaves_all_or_nothing(tmp_path):
    check_interrupts_while_writing(tmp_path, WRITE_CASES)


@pytest.mark.slow
def test_interrupt_while_writing_leaves_all_or_nothing_more_cases(tmp_path):
    check_interrupts_while_writing(tmp_path, MORE_WRITE_CASES)


def set_digest(directory: Path) -> dict[str, str]:
    """:func:`digest` of the set's output files (the lock and manifest aside: they stay)."""
    return {name: sha for name, sha in digest(directory).items() if name not in SET_FILES}


def test_person_demo_interrupted_while_writing_keeps_the_previous_set(tmp_path, capsys,
                                                                        mocked_sampler):
    """The person approach writes its fit and allocations as one set: stopped after its first
    file is staged, the previous complete set stays byte for byte; stopped while the new set
    is moved into place, the new set is complete."""
    person = [*DEMO, "--approach", "person"]
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *person, "--seed", 1, "--out", out)
    assert code == 0, err
    listing, before = files_in(out), set_digest(out)
    assert "fit.nc" in listing and "allocations.csv" in listing
    for sig, at, seed in [(signal.SIGTERM, "file1", 2), (signal.SIGHUP, "file3", 2)]:
        code, _, err = finish(start_cli([int(sig), at, *person, "--seed", seed, "--out", out],
                                        mocked=True, driver=WRITE_DRIVER), timeout=900)
        assert_clean_interrupt(code, err, sig)
        assert set_digest(out) == before, (sig.name, at)
    code, _, err = finish(start_cli([int(signal.SIGINT), "commit", *person, "--seed", 2,
                                     "--out", out], mocked=True, driver=WRITE_DRIVER),
                          timeout=900)
    assert_clean_interrupt(code, err, signal.SIGINT)
    assert files_in(out) == listing
    assert set_digest(out)["fit.nc"] != before["fit.nc"]  # the new set, complete


def test_interrupted_rerun_keeps_the_previous_set_then_rerun_works(tmp_path, capsys,
                                                                   mocked_sampler):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, *DEMO, "--seed", 1, "--out", out)
    assert code == 0, err
    before = {name: (out / name).read_bytes() for name in OUTPUT_FILES}

    code, _, err = finish(start_demo_interrupted(out, signal.SIGTERM, "file3", seed=2))
    assert_clean_interrupt(code, err, signal.SIGTERM)
    assert files_in(out) == RUN_LISTING
    assert {name: (out / name).read_bytes() for name in OUTPUT_FILES} == before

    code, _, err = run_cli(capsys, *DEMO, "--seed", 2, "--out", out)
    assert code == 0, err
    assert files_in(out) == RUN_LISTING
    assert (out / "allocations.csv").read_bytes() != before["allocations.csv"]


def test_sighup_stops_a_run_like_sigterm_unless_ignored_as_nohup_does():
    with pytest.raises(RunInterrupted) as raised, terminate_as_interrupt():
        signal.raise_signal(signal.SIGHUP)
    assert raised.value.signum == signal.SIGHUP
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with terminate_as_interrupt():
            signal.raise_signal(signal.SIGHUP)  # ignored: the run goes on
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


# ---------------------------------------------------------------------- while sampling
def _lines(stream, sink: queue.Queue) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (Linux ``/proc``; empty where unavailable)."""
    try:
        return [int(c) for c in
                Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_interrupt_during_sampling_leaves_nothing_and_rerun_works(tmp_path, capsys, sig,
                                                                  mocked_sampler):
    config = tmp_path / "run.toml"
    # Far more draws than can finish before the signal. PyMC's sampler: its chains run in
    # worker processes, the case where a signal must reach the workers and be re-raised
    # (nutpie samples in threads and finishes 200,000 tiny draws in seconds; its interrupts
    # are tested in tests/models/test_sampling.py).
    text = SMALL_CONFIG.format(draws=200_000, tune=500, seed=3)
    config.write_text(text.replace("[sampling]\n", '[sampling]\nsampler = "pymc"\n'),
                      encoding="utf-8")
    out = tmp_path / "run"
    process = start_cli(["fit", "--config", config, "--out", out, "--allocate",
                         OVERRIDE_FLAG], mocked=False)
    lines: queue.Queue = queue.Queue()
    reader = threading.Thread(target=_lines, args=(process.stderr, lines), daemon=True)
    reader.start()
    seen, deadline = [], time.monotonic() + 600
    try:
        while not any(marker in "".join(seen) for marker in SAMPLING_STARTED):
            line = lines.get(timeout=max(1.0, deadline - time.monotonic()))
            assert line is not None, f"CLI ended before sampling:\n{''.join(seen)}"
            seen.append(line)
        # Multiprocess sampling: wait (polling, bounded) until the chain processes run.
        children_deadline = time.monotonic() + 120
        while len(_children(process.pid)) < 2 and time.monotonic() < children_deadline \
                and os.path.exists(f"/proc/{process.pid}"):
            time.sleep(0.05)
        assert process.poll() is None, "CLI finished before it could be interrupted"
        process.send_signal(sig)
        code = process.wait(timeout=300)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=30)
    while True:
        try:
            line = lines.get_nowait()
        except queue.Empty:
            break
        if line is not None:
            seen.append(line)
    assert_clean_interrupt(code, "".join(seen), sig)
    assert files_in(out) == []

    # A rerun into the same directory works (mocked sampler: the point is the directory).
    config.write_text(SMALL_CONFIG.format(draws=20, tune=20, seed=3), encoding="utf-8")
    code, _, err = run_cli(capsys, "fit", "--config", config, "--out", out, "--allocate",
                           OVERRIDE_FLAG)
    assert code == 0, err
    assert files_in(out) == RUN_LISTING
