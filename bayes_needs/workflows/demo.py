"""Synthetic England end to end (``bayes-needs demo``): generate, fit, need, allocate, write.

The demo knows the truth, so each run also reports how often the true needs share falls inside
its credible interval. The area demo records the convergence gate and allocates even when it
fails (the caller warns; see :mod:`bayes_needs.checks.gate`); the person demo draws child
records consistent with the same truth (:mod:`bayes_needs.workflows.person_pipeline`).
:func:`area_demo` and :func:`person_demo` fit and allocate; :func:`write_demos` then writes
every approach's files as one set, so a demo of both approaches cannot leave one approach's
new files beside the other's old ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bayes_needs.allocation import Allocation
from bayes_needs.checks.gate import GateResult, evaluate, record_in_allocation
from bayes_needs.config.run import RunConfig
from bayes_needs.core.outputs import RUN, output_set
from bayes_needs.simulate.area import SyntheticArea, generate_area
from bayes_needs.workflows import pipeline
from bayes_needs.workflows.person_pipeline import (
    OUTPUT_FILES as PERSON_OUTPUT_FILES,
)
from bayes_needs.workflows.person_pipeline import (
    fit_person,
    person_extra,
    stage_person_outputs,
    synthetic_person_data,
)
from bayes_needs.workflows.preflight import check_allocation_inputs

#: Receives one progress line at a time (the CLI prints them on stderr).
Log = Callable[[str], None]


@dataclass(frozen=True)
class DemoRun:
    """One approach of the demo, fitted and allocated, ready to be written.

    Attributes
    ----------
    approach
        ``"area"`` or ``"person"``.
    files
        The files it writes.
    stage
        Writes the files into the directory it is given (a set's staging directory).
    gate
        The convergence gate of the area fit (recorded, not enforced); ``None`` for the
        person demo.
    """

    approach: str
    files: tuple[str, ...]
    stage: Callable[[Path], None] = field(repr=False, compare=False)
    gate: GateResult | None = None


def synthetic_england(config: RunConfig) -> SyntheticArea:
    """Generate the synthetic England a demo config describes (scale and data seed).

    Parameters
    ----------
    config
        A run config with a synthetic data section.

    Returns
    -------
    SyntheticArea
        The synthetic data and the truth behind them.
    """
    return generate_area(config.data.scale, random_seed=config.data.data_seed)


def truth_coverage(allocation: Allocation, synthetic: SyntheticArea) -> float:
    """Return the share of LAs whose true needs share is inside their credible interval.

    Parameters
    ----------
    allocation
        An allocation of the synthetic data.
    synthetic
        The synthetic truth.

    Returns
    -------
    float
        The coverage, in [0, 1].
    """
    summary = allocation.summary()
    true = synthetic.truth["needs_share"].to_series().loc[summary["la_code"]].to_numpy()
    inside = (summary["share_lower"].to_numpy() <= true) & \
        (true <= summary["share_upper"].to_numpy())
    return float(inside.mean())


def _truth_lines(allocation: Allocation, synthetic: SyntheticArea,
                 start: float) -> dict[str, str]:
    """Summary lines on the truth coverage and the wall time since ``start``."""
    return {"true needs share inside interval":
            f"{truth_coverage(allocation, synthetic):.1%} of LAs",
            "total wall time": f"{time.perf_counter() - start:.1f} s"}


def area_demo(config: RunConfig, synthetic: SyntheticArea, *, start: float,
              log: Log) -> DemoRun:
    """Fit the area model to synthetic England and allocate.

    Parameters
    ----------
    config
        The demo's run config (sampling, need, allocation).
    synthetic
        The synthetic data (:func:`synthetic_england`).
    start
        ``time.perf_counter()`` at the start of the demo (for the wall time).
    log
        Receives progress lines.

    Returns
    -------
    DemoRun
        What to write, with the convergence gate.
    """
    info = {"synthetic": synthetic}
    check_allocation_inputs(config, synthetic.data, info, synthetic.data.services)
    log("  fitting the area demand model ...")
    fit = pipeline.fit_area(config, synthetic.data, info)
    # The demo records the convergence gate rather than refusing (see checks.gate).
    gate = evaluate(pipeline.convergence(fit.idata))
    need, allocation = pipeline.need_and_allocation(fit)
    record_in_allocation(allocation, gate)
    extra = {**_truth_lines(allocation, synthetic, start), **gate.summary_lines()}

    def stage(directory: Path) -> None:
        pipeline.stage_run(fit, need, allocation, directory, extra=extra)

    return DemoRun("area", pipeline.OUTPUT_FILES, stage, gate)


def person_demo(config: RunConfig, synthetic: SyntheticArea, *, start: float,
                log: Log) -> DemoRun:
    """Draw child records, fit the person model and allocate.

    Parameters
    ----------
    config
        The demo's run config (sampling, need, allocation); the records use the data seed
        plus one.
    synthetic
        The synthetic area truth the records are drawn from.
    start
        ``time.perf_counter()`` at the start of the demo (for the wall time).
    log
        Receives progress lines.

    Returns
    -------
    DemoRun
        What to write.
    """
    t0 = time.perf_counter()
    data, _ = synthetic_person_data(synthetic, data_seed=config.data.data_seed)
    lines = person_extra(data)
    log(f"  person records collapsed in {time.perf_counter() - t0:.1f} s: "
        f"{lines['child records']} children -> {lines['distinct cells']}; "
        f"{lines['record coverage']}")
    info = {"synthetic": synthetic}
    check_allocation_inputs(config, data, info, data.services)
    log("  fitting the person demand model ...")
    fit = fit_person(config, data, info)
    need, allocation = pipeline.need_and_allocation(fit)
    extra = _truth_lines(allocation, synthetic, start)

    def stage(directory: Path) -> None:
        stage_person_outputs(fit, need, allocation, directory, extra=extra)

    return DemoRun("person", PERSON_OUTPUT_FILES, stage)


def demo_directories(runs: Sequence[DemoRun], out_dir: Path) -> list[Path]:
    """Where each run goes: ``out_dir`` itself for one run, ``out_dir/<approach>`` for more."""
    if len(runs) == 1:
        return [out_dir]
    return [out_dir / run.approach for run in runs]


def write_demos(runs: Sequence[DemoRun], out_dir: Path) -> list[Path]:
    """Write the runs' files as one set in ``out_dir`` (:func:`demo_directories`).

    Parameters
    ----------
    runs
        The fitted approaches (:func:`area_demo`, :func:`person_demo`).
    out_dir
        The output directory (created if missing).

    Returns
    -------
    list of pathlib.Path
        Each run's directory, in the order of ``runs``.
    """
    directories = demo_directories(runs, out_dir)
    with output_set(out_dir, RUN) as outputs:
        for run, directory in zip(runs, directories, strict=True):
            run.stage(outputs.staging / directory.relative_to(out_dir))
    return directories
