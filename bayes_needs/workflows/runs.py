"""The runs of ``bayes-needs fit`` and ``bayes-needs allocate`` (area and panel).

:func:`fit_run` fits the area model and writes the fit, optionally allocating too;
:func:`allocate_run` reloads a fit and allocates from it. Both refuse to allocate from a fit
that misses the convergence thresholds unless told otherwise
(:func:`bayes_needs.checks.gate.enforce`), record the gate in the outputs and write each
run's files as one set. The run config they are given is final: command-line overrides are
applied before (``bayes_needs.cli.run_options.configure``), never to a fit afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import xarray as xr

from bayes_needs.checks.gate import GateHints, GateResult, enforce, record_in_allocation
from bayes_needs.config.run import RunConfig
from bayes_needs.core import dims
from bayes_needs.core.errors import ConvergenceError
from bayes_needs.core.outputs import same_directory
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.workflows import panel, pipeline
from bayes_needs.workflows.costs import load_service_weights
from bayes_needs.workflows.decomposition import decomposition_table
from bayes_needs.workflows.inputs import load_area_data
from bayes_needs.workflows.preflight import check_allocation_inputs

#: How a Python caller of :func:`fit_run` and :func:`allocate_run` refits or overrides the
#: gate (the CLI passes :data:`bayes_needs.checks.gate.CLI_HINTS`).
PYTHON_HINTS = GateHints("allow_unconverged=True",
                         "RunConfig sampling.tune, sampling.draws",
                         'RunConfig sampling.method = "nuts"')


@dataclass(frozen=True)
class RunOutcome:
    """What a fit or allocate run did.

    Attributes
    ----------
    fit
        The fit allocated from (fitted or reloaded).
    out_dir
        The directory written.
    gate
        The convergence gate, when the run allocated (``None`` for a fit alone).
    decomposition
        The interval-width decomposition, when allocating with cost-weight draws.
    """

    fit: pipeline.FitResult[AreaDemandModel]
    out_dir: Path
    gate: GateResult | None = None
    decomposition: pd.DataFrame | None = None


def fit_run(config: RunConfig, out_dir: Path, *, with_allocation: bool = False,
            allow_unconverged: bool = False, gate_hints: GateHints = PYTHON_HINTS
            ) -> RunOutcome:
    """Fit the area model and write ``fit.nc`` and ``run.json``, or the whole run.

    Parameters
    ----------
    config
        The run config (data, model, sampling, need and allocation).
    out_dir
        The run directory.
    with_allocation
        Also compute need and allocations and write every file of
        :data:`bayes_needs.workflows.pipeline.OUTPUT_FILES` as one set, so an interrupt
        cannot leave a fit without its allocations.
    allow_unconverged
        Allocate even if the fit misses the convergence thresholds.
    gate_hints
        How the caller's user refits or overrides the gate, as the refusal names them.

    Returns
    -------
    RunOutcome
        The fit and, with allocation, the gate.

    Raises
    ------
    ConvergenceError
        If allocating from an unconverged fit without ``allow_unconverged``; the fit is
        written first, so it can be inspected or allocated later without refitting.
    BayesNeedsError
        If an allocation input is missing or invalid: found before sampling
        (:func:`bayes_needs.workflows.preflight.check_allocation_inputs`).
    """
    if panel.is_panel(config):
        return _fit_panel_run(config, out_dir, with_allocation=with_allocation,
                              allow_unconverged=allow_unconverged, gate_hints=gate_hints)
    data, data_info = load_area_data(config.data)
    # Found now rather than after sampling, so a bad allocation input costs no fit.
    check_allocation_inputs(config, data, data_info, data.services,
                            cost_weights=with_allocation)
    fit = pipeline.fit_area(config, data, data_info)
    gate = _gate_or_write_fit(fit, out_dir, with_allocation=with_allocation,
                              allow_unconverged=allow_unconverged, gate_hints=gate_hints)
    if gate is None:
        return RunOutcome(fit, out_dir)
    need, allocation = pipeline.need_and_allocation(fit)
    record_in_allocation(allocation, gate)
    pipeline.write_run(fit, need, allocation, out_dir, extra=gate.summary_lines())
    return RunOutcome(fit, out_dir, gate)


def allocate_run(run_dir: Path, config: RunConfig, *, out_dir: Path | None = None,
                 allow_unconverged: bool = False, cost_weights_file: Path | None = None,
                 gate_hints: GateHints = PYTHON_HINTS) -> RunOutcome:
    """Reload a fit (checking its data hash), allocate and write the allocation as one set.

    Parameters
    ----------
    run_dir
        A run directory written by :func:`fit_run`.
    config
        The config to allocate with: the stored one
        (:func:`bayes_needs.workflows.pipeline.read_run_config`), possibly with overridden
        need and allocation settings.
    out_dir
        Where to write (default: ``run_dir``). Another directory gets the fit's ``fit.nc``
        and ``run.json`` in the same set, so it holds one complete run.
    allow_unconverged
        Allocate even if the fit misses the convergence thresholds.
    cost_weights_file
        A ``cost_weights.nc`` written by ``bayes-needs costs``: allocate with its weight
        draws and write ``decomposition.csv`` in the same set.
    gate_hints
        How the caller's user refits or overrides the gate, as the refusal names them.

    Returns
    -------
    RunOutcome
        The fit, the gate and any decomposition.

    Raises
    ------
    ConvergenceError
        If the fit is unconverged and ``allow_unconverged`` is false.
    """
    panel_run = panel.is_panel(config)
    fit = panel.load_panel_fit(run_dir, config) if panel_run else \
        pipeline.load_fit(run_dir, config)
    gate = enforce(pipeline.convergence(fit.idata), hints=gate_hints,
                   allow_unconverged=allow_unconverged, source=str(run_dir / pipeline.FIT_FILE))
    weights = None if cost_weights_file is None else \
        load_service_weights(cost_weights_file, fit.model.services)
    out = out_dir or run_dir
    # Into another directory, the fit goes too, in the same set: OUT is then a run of its own
    # and never mixes its previous fit with this allocation.
    include_fit = not same_directory(out, run_dir)
    if panel_run:
        return _allocate_panel_run(fit, gate, out, weights, include_fit=include_fit)
    need, allocation = pipeline.need_and_allocation(fit, cost_weights=weights)
    record_in_allocation(allocation, gate)
    decomposition = _cost_decomposition(fit, need["need"], weights)
    pipeline.write_allocation(fit, need, allocation, out, extra=gate.summary_lines(),
                              decomposition=decomposition, include_fit=include_fit)
    return RunOutcome(fit, out, gate, decomposition)


def _cost_decomposition(fit: pipeline.FitResult, need: xr.DataArray,
                        weights: xr.DataArray | None) -> pd.DataFrame | None:
    """Decompose the interval widths of an allocation with cost-weight draws (if any)."""
    if weights is None:
        return None
    a = fit.config.allocation
    return decomposition_table(need, weights, interval_prob=a.interval_prob,
                               interval_kind=a.interval_kind,
                               random_seed=fit.config.need.random_seed)


def _allocate_panel_run(fit: pipeline.FitResult, gate: GateResult, out_dir: Path,
                        weights: xr.DataArray | None, *, include_fit: bool) -> RunOutcome:
    """Allocate from a reloaded panel fit and write the allocation's files as one set."""
    chosen = weights if weights is not None else \
        pipeline.cost_weights_for(fit.config, fit.data_info, fit.model.services)
    need, allocation, la_end = panel.panel_need_and_allocation(fit, chosen)
    record_in_allocation(allocation, gate)
    year = {dims.YEAR: int(need.attrs["allocation_year"])}
    decomposition = _cost_decomposition(fit, need["need"].sel(year, drop=True), weights)
    panel.write_panel_run(fit, need, allocation, out_dir,
                          la_end_width=panel.median_relative_width(la_end),
                          extra=[f"{k}: {v}" for k, v in gate.summary_lines().items()],
                          cost_decomposition=decomposition, include_fit=include_fit)
    return RunOutcome(fit, out_dir, gate, decomposition)


def _fit_panel_run(config: RunConfig, out_dir: Path, *, with_allocation: bool,
                   allow_unconverged: bool, gate_hints: GateHints) -> RunOutcome:
    """Run the panel branch of :func:`fit_run` (see :mod:`bayes_needs.workflows.panel`)."""
    data, data_info = panel.load_panel_data(config)
    check_allocation_inputs(config, None, data_info, data.services,
                            cost_weights=with_allocation)
    fit = panel.fit_panel(config, data, data_info)
    gate = _gate_or_write_fit(fit, out_dir, with_allocation=with_allocation,
                              allow_unconverged=allow_unconverged, gate_hints=gate_hints)
    if gate is None:
        return RunOutcome(fit, out_dir)
    weights = pipeline.cost_weights_for(config, fit.data_info, fit.model.services)
    need, allocation, la_end = panel.panel_need_and_allocation(fit, weights)
    record_in_allocation(allocation, gate)
    panel.write_panel_run(fit, need, allocation, out_dir,
                          la_end_width=panel.median_relative_width(la_end),
                          extra=[f"{k}: {v}" for k, v in gate.summary_lines().items()])
    return RunOutcome(fit, out_dir, gate)


def _gate_or_write_fit(fit: pipeline.FitResult, out_dir: Path, *, with_allocation: bool,
                       allow_unconverged: bool, gate_hints: GateHints) -> GateResult | None:
    """Apply the convergence gate before allocating; write the fit alone when not allocating.

    Returns
    -------
    GateResult or None
        The gate when allocating (``None``: the fit was written and there is nothing more).

    Raises
    ------
    ConvergenceError
        If the gate refuses; the fit is written first, so it can be inspected or allocated
        later without refitting.
    """
    if not with_allocation:
        pipeline.write_fit(fit, out_dir)
        return None
    try:
        return enforce(pipeline.convergence(fit.idata), hints=gate_hints,
                       allow_unconverged=allow_unconverged,
                       source=str(out_dir / pipeline.FIT_FILE))
    except ConvergenceError as exc:
        removed = pipeline.write_fit(fit, out_dir)
        dropped = f"; the previous fit's {', '.join(removed)} there were removed, as they do " \
                  f"not belong to the new fit" if removed else ""
        raise ConvergenceError(f"{exc}. The fit was written to {out_dir} (no "
                               f"allocations){dropped}") from None
