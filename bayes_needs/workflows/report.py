"""Report of a run directory: ``bayes-needs report RUN_DIR [--baseline FILE]``.

Writes ``RUN_DIR/report.html`` (self-contained: every plot embedded as a base64 PNG, no
scripts, no external links; the decision-maker section first, the modeller's diagnostics
after it), the plots as ``RUN_DIR/plots/*.png``, ``RUN_DIR/decision_table.csv`` (money per
LA, per child and change against the baseline), ``RUN_DIR/pareto_k.csv`` and
``RUN_DIR/power_scaling.csv``. These files are written as one set
(:func:`bayes_needs.core.outputs.output_set`): a failed or interrupted report leaves the
previous report's files as they were and nothing new; a new report replaces the previous
report's files (a plot it no longer draws goes too); the run's other files are not touched.

This module loads the run and computes the diagnostics (:func:`collect`; the decision-maker
section's inputs come from :mod:`bayes_needs.workflows.report_decision`); the plots are drawn
by :mod:`bayes_needs.report.decision_plots` and :mod:`bayes_needs.report.diagnostic_plots`
and the page by :mod:`bayes_needs.report.html`.
Posterior predictive draws and the LOO-PIT randomisation are seeded (``random_seed``); the
diagnostics use at most ``max_draws`` posterior draws, thinned evenly.
"""

from __future__ import annotations

from pathlib import Path

import arviz as az

from bayes_needs.allocation import Allocation
from bayes_needs.checks import diagnostics
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import ConfigError, MissingDataError
from bayes_needs.core.outputs import (
    REPORT,
    output_set,
    with_sidecars,
    write_bytes,
    write_csv,
    write_text,
)
from bayes_needs.core.progress import progress_bar
from bayes_needs.report.decision import decision_table
from bayes_needs.report.decision_plots import render_decision_plots
from bayes_needs.report.diagnostic_plots import render_plots
from bayes_needs.report.html import render_html
from bayes_needs.report.inputs import DECISION_PLOTS, PLOTS, ReportInputs
from bayes_needs.workflows import panel, pipeline
from bayes_needs.workflows.report_decision import decision_inputs

__all__ = ["DECISION_CSV", "DECISION_PLOTS", "OUTPUT_FILES", "PARETO_CSV", "PLOTS",
           "PLOTS_DIR", "PSENS_CSV", "REPORT_FILE", "build_report", "collect", "write_report"]

REPORT_FILE = "report.html"
PLOTS_DIR = "plots"
DECISION_CSV = "decision_table.csv"
PARETO_CSV = "pareto_k.csv"
PSENS_CSV = "power_scaling.csv"
#: Every file of a report, relative to the run directory, written as one set.
OUTPUT_FILES: tuple[str, ...] = (REPORT_FILE,
                                 *with_sidecars((DECISION_CSV, PARETO_CSV, PSENS_CSV)),
                                 *(f"{PLOTS_DIR}/{stem}.png"
                                   for stem, _ in (*DECISION_PLOTS, *PLOTS)))
#: Posterior draws used for log densities, LOO and power-scaling unless the caller says.
MAX_DRAWS = 1000
#: Posterior draws used for the predictive checks unless the caller says.
PREDICTIVE_DRAWS = 200


def build_report(run_dir: str | Path, *, random_seed: int | None = None,
                 max_draws: int = MAX_DRAWS, predictive_draws: int = PREDICTIVE_DRAWS,
                 baseline: str | Path | None = None, progress: bool = False) -> Path:
    """Write the report of a run directory written by ``bayes-needs fit``/``demo``.

    Parameters
    ----------
    run_dir
        Directory with ``fit.nc`` and ``run.json`` (and ``allocation.nc`` if allocated;
        otherwise the allocation is computed for the report only, and the report says so).
    random_seed
        Seed of the posterior predictive draws and the LOO-PIT randomisation (default: the
        run's ``need.random_seed``).
    max_draws
        Posterior draws used for log densities, LOO and power-scaling (thinned evenly).
    predictive_draws
        Posterior draws used for the predictive checks (thinned evenly).
    baseline
        CSV of baseline shares the change is measured against: ``la_code`` and ``share``
        (or ``allocation``; ``amount`` in older files), or the ``allocations.csv`` of an
        earlier run (``share_mean``).
        Default: the baseline of the run's allocation, else population shares.
    progress
        Show the report's steps as a progress bar on stderr (:mod:`bayes_needs.core.progress`).

    Returns
    -------
    pathlib.Path
        The written ``report.html``.

    Raises
    ------
    ConfigError
        If the fit, ``max_draws`` or ``predictive_draws`` has fewer draws than PSIS-LOO can
        use (:data:`bayes_needs.checks.diagnostics.MIN_PSIS_DRAWS`).
    MissingDataError, DataValidationError
        If the baseline file is missing or invalid (naming its line and column).
    """
    run_dir = Path(run_dir)
    low = {k: v for k, v in (("max_draws (--max-draws)", max_draws),
                             ("predictive_draws (--predictive-draws)", predictive_draws))
           if v < diagnostics.MIN_PSIS_DRAWS}
    if low:
        raise ConfigError(f"{', '.join(f'{k} {v}' for k, v in low.items())}: the report's "
                          f"PSIS-LOO needs at least {diagnostics.MIN_PSIS_DRAWS} draws")
    with progress_bar(3, "report", enabled=progress) as advance:
        inputs = collect(run_dir, random_seed=random_seed, max_draws=max_draws,
                         predictive_draws=predictive_draws, baseline=baseline)
        advance("diagnostics computed")
        images = {**render_decision_plots(inputs.allocation, inputs.decision),
                  **render_plots(inputs)}
        advance("plots drawn")
        page = render_html(inputs, images, run_dir.name)
        path = write_report(run_dir, inputs, images, page)
        advance("written")
    return path


def write_report(run_dir: Path, inputs: ReportInputs, images: dict[str, bytes],
                 page: str) -> Path:
    """Write the report's files (:data:`OUTPUT_FILES`) into ``run_dir`` as one set.

    Parameters
    ----------
    run_dir
        The run directory.
    inputs
        The diagnostics (:func:`collect`).
    images
        Plot stem -> PNG bytes.
    page
        The HTML page.

    Returns
    -------
    pathlib.Path
        The written ``report.html``.
    """
    with output_set(run_dir, REPORT) as outputs:
        staging = outputs.staging
        for stem, png in images.items():
            write_bytes(staging / PLOTS_DIR / f"{stem}.png", png)
        table = decision_table(inputs.allocation, inputs.decision)
        write_csv(staging / DECISION_CSV, table, comment=table.attrs["comment"])
        write_csv(staging / PARETO_CSV, inputs.loo.table,
                  comment=f"PSIS-LOO with each LA's data left out as a block; flag 'high' "
                          f"above good_k = {inputs.loo.good_k:.3f} (ArviZ), 'very high' "
                          f"above 1")
        write_csv(staging / PSENS_CSV, inputs.psens, comment=inputs.psens.attrs.get("comment"))
        write_text(staging / REPORT_FILE, page)
    return run_dir / REPORT_FILE


def collect(run_dir: Path, *, random_seed: int | None, max_draws: int,
            predictive_draws: int, baseline: str | Path | None = None) -> ReportInputs:
    """Load the run and compute every diagnostic the report shows.

    Parameters
    ----------
    run_dir
        The run directory.
    random_seed
        Seed of the predictive draws and the PIT randomisation; ``None``: the run's
        ``need.random_seed``.
    max_draws, predictive_draws, baseline
        See :func:`build_report`.

    Returns
    -------
    ReportInputs
        What the plots and the page are drawn from.
    """
    if baseline is not None and not Path(baseline).is_file():
        raise MissingDataError(f"--baseline: file {baseline} does not exist (give a CSV "
                               f"la_code,share or an earlier run's allocations.csv)")
    if panel.is_panel(pipeline.read_run_config(run_dir)):
        raise ConfigError(f"{run_dir} is a panel run: 'bayes-needs report' draws the area and "
                          "person models' diagnostics only. A panel run's checks are in its "
                          "summary.txt, need_gradient.csv and need_decomposition.csv, and "
                          "'bayes-needs backtest' scores its forecasts")
    fit = pipeline.load_fit(run_dir)
    _check_enough_draws(fit.idata, run_dir / pipeline.FIT_FILE)
    seed = fit.config.need.random_seed if random_seed is None else int(random_seed)
    saved = (run_dir / pipeline.ALLOCATION_FILE).is_file()
    if saved:
        allocation = Allocation.from_netcdf(run_dir / pipeline.ALLOCATION_FILE)
    else:
        _, allocation = pipeline.need_and_allocation(fit)
    # Before the diagnostics, so a wrong baseline file is reported at once.
    decision = decision_inputs(fit, allocation, baseline=baseline)
    notes = []
    if not saved:
        notes.append("This run has no allocation.nc: the shares shown were computed for this "
                     "report from the fit and the run config, and were not written.")
    thin = idata_io.thinned(fit.idata, max_draws)
    with_logs = diagnostics.log_densities(fit.model, thin)
    for_ppc = idata_io.thinned(with_logs, predictive_draws)
    predictive = diagnostics.posterior_predictive(fit.model, for_ppc, random_seed=seed)
    pit = diagnostics.loo_pit(fit.model, for_ppc, predictive, random_seed=seed)
    loo = diagnostics.loo_by_la(fit.model, with_logs)
    psens = diagnostics.power_scaling(with_logs)
    return ReportInputs(fit=fit, allocation=allocation, allocation_saved=saved,
                        diagnostics_idata=with_logs, predictive=predictive, loo=loo, pit=pit,
                        psens=psens, convergence=pipeline.convergence(fit.idata),
                        random_seed=seed, notes=notes, decision=decision)


def _check_enough_draws(idata: az.InferenceData, source: Path) -> None:
    """Refuse a fit with fewer draws than PSIS-LOO and LOO-PIT can use, saying how many."""
    post = idata_io.posterior(idata)
    chains, draws = post.sizes.get(dims.CHAIN, 0), post.sizes.get(dims.DRAW, 0)
    if chains * draws < diagnostics.MIN_PSIS_DRAWS:
        raise ConfigError(f"{source} has {chains} chain(s) x {draws} draw(s): the report's "
                          f"PSIS-LOO and LOO-PIT need at least {diagnostics.MIN_PSIS_DRAWS} "
                          f"posterior draws in all; refit with more --draws or --chains "
                          f"(the run's allocations do not need a report)")
