"""Every command's write phase, stopped at each of its steps, leaves the previous set or the new.

Each command runs once through the CLI (mocked sampler, tiny synthetic data), and the output
set it writes is recorded as it is committed: its kind, its directory, the bytes of its
files, and the directory as it was just before. The previous set of that directory is then
completed with an older set of the same kind (other bytes, and a file the new set does not
write, which the new set must remove), as a previous run of the command leaves it.

The recorded write phase is replayed from a copy of that previous set, once per
file-system step (creating, writing, renaming, making or removing a file or directory), with
one fault at that step:

* a real SIGINT, SIGTERM or SIGHUP raised in this process (the signal cycles with the step in
  the default suite; the ``slow`` sweep sends each signal at each step), or
* a full disk: ``ENOSPC`` from the step, when it creates or writes a file.

After each replay the directory must hash to exactly the previous set or the new one, and no
lock may be left held.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from clitools import SMALL_CONFIG, digest
from sampling_mocks import concentrated_priors_toml, patched_sample
from small_panel import small_panel

from bayes_needs.checks.gate import OVERRIDE_FLAG
from bayes_needs.cli import main
from bayes_needs.core import locks, outputs, writers
from bayes_needs.core.errors import OutputWriteError
from bayes_needs.core.interrupts import RunInterrupted, terminate_as_interrupt
from bayes_needs.data.return_template import template_table
from bayes_needs.models.cost_weights import CostWeightModel
from bayes_needs.simulate.area import generate_area
from bayes_needs.simulate.costs import area_cost_design
from bayes_needs.workflows import costs, template, validate_return

SAMPLING = ["--draws", "20", "--tune", "1", "--no-progress"]
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Steps of the file-system proxy; a full disk can fail the first two.
STEPS = ("open", "write", "replace", "unlink", "mkdir", "makedirs", "rmdir")
DISK_STEPS = ("open", "write")
SCENARIOS = """schema_version = 1
[base.data]
source = "synthetic"
scale = "tiny"
services = ["cin", "cla"]
[base.sampling]
draws = 20
tune = 1
chains = 2
random_seed = 11
{priors}
[variations.no_standardisation.need]
standardise = "none"
"""
PANEL = """schema_version = 1
[data]
source = "synthetic_panel"
scale = "tiny"
data_seed = 3
[sampling]
draws = 10
tune = 1
chains = 2
progressbar = false
[allocation]
cost_weights = { cin = 1.0, cla = 10.0 }
"""


class FaultyOs:
    """``os`` for the writing modules: counts the steps, with one fault at step ``at``."""

    def __init__(self, at: int = 0, fault: signal.Signals | str | None = None) -> None:
        self.at, self.fault, self.steps = at, fault, []

    def __getattr__(self, name):
        return getattr(os, name)

    def _step(self, name, *args, **kwargs):
        self.steps.append(name)
        if len(self.steps) == self.at:
            if self.fault == "enospc":
                raise OSError(errno.ENOSPC, "No space left on device")
            signal.raise_signal(self.fault)  # delivered to this thread at once
        return getattr(os, name)(*args, **kwargs)


for _name in STEPS:
    setattr(FaultyOs, _name, lambda self, *a, _n=_name, **k: self._step(_n, *a, **k))


@dataclass
class RecordedSet:
    """An output set as a command committed it, and its directory just before."""

    out: Path
    kind: str
    files: dict[str, bytes]
    previous: Path

    def write(self) -> None:
        """Write the set again, step by step as the command did."""
        with outputs.output_set(self.out, self.kind) as staged:
            for name, data in self.files.items():
                writers.write_bytes(staged.staging / name, data)


class Recorder:
    """Runs each command once (lazily) and keeps the output set it committed."""

    def __init__(self, base: Path) -> None:
        self.base, self.sets, self._snapshots = base, {}, 0

    def commit(self, real):
        def commit(staged):
            self._snapshots += 1
            previous = self.base / "previous" / str(self._snapshots)
            shutil.copytree(staged.out_dir, previous,
                            ignore=shutil.ignore_patterns(f"{outputs.STAGING_PREFIX}*"))
            files = {p.relative_to(staged.staging).as_posix(): p.read_bytes()
                     for p in sorted(staged.staging.rglob("*")) if p.is_file()}
            self.recorded.append(RecordedSet(staged.out_dir, staged.kind, files, previous))
            return real(staged)
        return commit

    def get(self, command: str) -> RecordedSet:
        """The set ``command`` wrote (run first, after the commands it builds on)."""
        if command not in self.sets:
            for needed in NEEDS.get(command, ()):
                self.get(needed)
            self.recorded: list[RecordedSet] = []
            with pytest.MonkeyPatch.context() as patch, patched_sample():
                patch.setattr(outputs, "_commit", self.commit(outputs._commit))
                COMMANDS[command](self)
            assert len(self.recorded) == 1, command
            self.sets[command] = self.recorded[0]
        return self.sets[command]

    def cli(self, *args) -> None:
        code = main([str(a) for a in args])
        assert code == 0, args

    def dir(self, name: str) -> Path:
        return self.base / name


def small_config(recorder: Recorder) -> Path:
    path = recorder.dir("run.toml")
    path.write_text(SMALL_CONFIG.format(draws=20, tune=1, seed=3), encoding="utf-8")
    return path


def demo_command(approach: str, name: str) -> Callable[[Recorder], None]:
    def run(recorder: Recorder) -> None:
        recorder.cli("demo", "--scale", "tiny", "--approach", approach, "--out",
                     recorder.dir(name), *SAMPLING)
    return run


def fit_command(recorder: Recorder) -> None:
    recorder.cli("fit", "--config", small_config(recorder), "--out", recorder.dir("fit"),
                 *SAMPLING)


def fit_allocate_command(recorder: Recorder) -> None:
    recorder.cli("fit", "--config", small_config(recorder), "--out",
                 recorder.dir("fit_allocate"), "--allocate", OVERRIDE_FLAG, *SAMPLING)


def panel_command(recorder: Recorder) -> None:
    config = recorder.dir("panel.toml")
    config.write_text(PANEL, encoding="utf-8")
    recorder.cli("fit", "--config", config, "--out", recorder.dir("panel"), "--allocate",
                 OVERRIDE_FLAG)


def allocate_command(recorder: Recorder) -> None:
    recorder.cli("allocate", recorder.sets["fit --allocate"].out, "--interval-prob", "0.8",
                 OVERRIDE_FLAG)


def allocate_out_command(recorder: Recorder) -> None:
    recorder.cli("allocate", recorder.sets["fit --allocate"].out, "--out",
                 recorder.sets["demo person"].out, OVERRIDE_FLAG)


def report_command(recorder: Recorder) -> None:
    recorder.cli("report", recorder.sets["demo area"].out, "--max-draws", "40",
                 "--predictive-draws", "20")


def costs_command(recorder: Recorder) -> None:
    """``bayes-needs costs`` needs the RO3 data; its write function gets a synthetic fit."""
    area = generate_area("tiny", random_seed=0)
    design, unit_costs = area_cost_design(area)
    model = CostWeightModel(area.spend, unit_costs, design)
    fit = model.fit(random_seed=1, draws=20, tune=1, chains=2, progressbar=False)
    dropped = pd.DataFrame({"la_code": ["E1"], "category": ["cla_other"], "reason": ["x"]})
    costs.write_cost_outputs(recorder.dir("costs"), model, fit, influence=None,
                             dropped=dropped)


def sensitivity_command(recorder: Recorder) -> None:
    scenarios = recorder.dir("scenarios.toml")
    scenarios.write_text(SCENARIOS.format(priors=concentrated_priors_toml("base.priors")),
                         encoding="utf-8")
    recorder.cli("sensitivity", "--scenarios", scenarios, "--out", recorder.dir("sensitivity"),
                 "--workers", "1", "--no-power-scaling")


def compare_command(recorder: Recorder) -> None:
    recorder.cli("compare", "--scale", "tiny", "--out", recorder.dir("compare"), "--folds", "2",
                 "--draws", "20", "--tune", "1", "--services", "cin")


def sbc_command(recorder: Recorder) -> None:
    recorder.cli("validate", "sbc", "--scale", "tiny", "--n-sims", "2", "--out",
                 recorder.dir("sbc"), "--workers", "1", "--draws", "20", "--tune", "1",
                 "--rank-draws", "19", "--services", "cin")


def template_command(recorder: Recorder) -> None:
    """``bayes-needs template`` reads the real geography; its workflow gets a small panel."""
    template.write_template("unused", "E1", "lsoa", ["cin", "cla"], 2021,
                            recorder.dir("template"), panel=small_panel())


def validate_return_command(recorder: Recorder) -> None:
    """``bayes-needs validate-return`` on a small panel, for a return with one bad cell."""
    panel = small_panel()
    table = template_table(panel, "E1", "msoa", ["cin"], 2021)
    table["cin"] = [40, "ten"]
    path = recorder.dir("e1_return.csv")
    table.to_csv(path, index=False)
    validate_return.validate_return_files([path], "unused", out_dir=recorder.dir("checked"),
                                          panel=panel)


#: Every command that writes outputs -> how to run it once.
COMMANDS: dict[str, Callable[[Recorder], None]] = {
    "fit": fit_command, "fit --allocate": fit_allocate_command, "fit panel": panel_command,
    "allocate": allocate_command, "allocate --out": allocate_out_command,
    "demo area": demo_command("area", "demo_area"),
    "demo person": demo_command("person", "demo_person"),
    "demo both": demo_command("both", "demo_both"), "costs": costs_command,
    "sensitivity": sensitivity_command, "compare": compare_command, "report": report_command,
    "validate sbc": sbc_command, "template": template_command,
    "validate-return": validate_return_command,
}

#: Commands that write into the directory another command wrote.
NEEDS: dict[str, tuple[str, ...]] = {"allocate": ("fit --allocate",),
                                     "allocate --out": ("fit --allocate", "demo person"),
                                     "report": ("demo area",)}


@pytest.fixture(scope="module")
def recorder(tmp_path_factory) -> Recorder:
    return Recorder(tmp_path_factory.mktemp("commands"))


def older_set(recorded: RecordedSet, directory: Path) -> None:
    """Commit into ``directory`` a set of the same kind as a previous run would leave it."""
    with outputs.output_set(directory, recorded.kind) as staged:
        for name in recorded.files:
            writers.write_text(staged.staging / name, f"previous {name}")
        writers.write_text(staged.staging / f"previous_only_{recorded.kind}.txt", "stale")


def replay(recorded: RecordedSet, previous: Path, monkeypatch,
           proxy: FaultyOs) -> BaseException | None:
    """Restore the previous set and replay the write through ``proxy``; what it raised."""
    shutil.rmtree(recorded.out, ignore_errors=True)
    shutil.copytree(previous, recorded.out)
    monkeypatch.setattr(writers, "os", proxy)
    monkeypatch.setattr(outputs, "os", proxy)
    try:
        with terminate_as_interrupt():
            recorded.write()
    except (RunInterrupted, OutputWriteError) as exc:
        return exc
    finally:
        monkeypatch.setattr(writers, "os", os)
        monkeypatch.setattr(outputs, "os", os)
    return None


def sweep(recorded: RecordedSet, tmp_path: Path, monkeypatch, *, every_signal: bool) -> None:
    """Replay the write once clean, then with a fault at each step; check each outcome."""
    previous = tmp_path / "previous"
    shutil.copytree(recorded.previous, previous)
    older_set(recorded, previous)
    old = digest(previous)
    clean = FaultyOs()
    assert replay(recorded, previous, monkeypatch, clean) is None
    new = digest(recorded.out)
    assert f"previous_only_{recorded.kind}.txt" not in new  # the older set's stale file
    assert new != old
    faults: list[tuple[int, signal.Signals | str]] = []
    for at, step in enumerate(clean.steps, start=1):
        signals = SIGNALS if every_signal else (SIGNALS[at % len(SIGNALS)],)
        faults += [(at, sig) for sig in signals]
        if step in DISK_STEPS:
            faults.append((at, "enospc"))
    outcomes = {"old": 0, "new": 0}
    for at, fault in faults:
        raised = replay(recorded, previous, monkeypatch, FaultyOs(at, fault))
        after = digest(recorded.out)
        assert after in (old, new), (at, clean.steps[at - 1], fault, sorted(after))
        assert not locks.is_locked_here(recorded.out)
        if fault == "enospc":
            assert isinstance(raised, OutputWriteError) and raised.errno == errno.ENOSPC, raised
            assert after == old
        else:
            assert isinstance(raised, RunInterrupted) and raised.signum == fault, (at, raised)
        outcomes["old" if after == old else "new"] += 1
    # Faults before the commit keep the old set; a signal during the commit is held back
    # until the new set stands.
    assert outcomes["old"] and outcomes["new"], outcomes


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_stop_or_full_disk_at_any_step_leaves_the_previous_or_the_new_set(
        command, recorder, tmp_path, monkeypatch):
    sweep(recorder.get(command), tmp_path, monkeypatch, every_signal=False)


@pytest.mark.slow
@pytest.mark.parametrize("command", list(COMMANDS))
def test_every_stop_signal_at_every_step_leaves_the_previous_or_the_new_set(
        command, recorder, tmp_path, monkeypatch):
    sweep(recorder.get(command), tmp_path, monkeypatch, every_signal=True)
