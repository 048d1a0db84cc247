"""Run simulation-based calibration of the area model and write its outputs.

Replicates (:func:`run_replicate`) run through an executor
(:func:`bayes_needs.core.executors.make_executor`: process pool, dask, or in process); each is
a pure function of ``(index, base_seed, settings)``, so results do not depend on where or in
which order they run. Outputs (:func:`write_sbc`), written as one set: ``sbc.csv`` (one row
per quantity: chi-square uniformity p-value of the ranks, Holm-adjusted p-value, 50% and 90%
central-interval coverage), ``ranks.csv`` (one row per replicate and quantity),
``replicates.csv`` (convergence per replicate: R-hat and ESS of a NUTS refit, Pareto k̂ and
importance ESS of an approximate one, and ``gate_passed``, whether the convergence gate
would allocate from it) and ``sbc_ecdf.png`` (rank ECDF differences
with 95% simultaneous bands).
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from bayes_needs.checks.gate import evaluate
from bayes_needs.checks.sbc import (
    TRACKED_PARAMETERS,
    SBCResult,
    SBCSettings,
    cost_weights,
    rank_bins,
    rank_replicate,
    summarise,
    tracked_draws,
)
from bayes_needs.checks.sbc_simulation import (
    draw_prior,
    simulate_counts,
    template_model,
    true_need,
)
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.convergence import convergence_summary
from bayes_needs.core.errors import ConfigError
from bayes_needs.core.executors import SerialExecutor, completed
from bayes_needs.core.outputs import output_set, with_sidecars, write_bytes, write_csv
from bayes_needs.core.progress import progress_bar
from bayes_needs.data.area import AreaData
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.need.area import expected_need
from bayes_needs.report.figures import figure_png
from bayes_needs.report.sbc import plot_rank_ecdf
from bayes_needs.workflows.fits import convergence

__all__ = ["ECDF_PNG", "OUTPUT_FILES", "RANKS_CSV", "REPLICATES_CSV", "SBC_CSV",
           "print_progress", "replicate_note", "replicate_seed", "run_replicate", "run_sbc",
           "write_sbc"]

SBC_CSV = "sbc.csv"
RANKS_CSV = "ranks.csv"
REPLICATES_CSV = "replicates.csv"
ECDF_PNG = "sbc_ecdf.png"
#: The kind of output set these files form (:func:`bayes_needs.core.outputs.output_set`).
SBC_SET = "sbc"
OUTPUT_FILES = with_sidecars((SBC_CSV, RANKS_CSV, REPLICATES_CSV, ECDF_PNG))
#: Resolution of ``sbc_ecdf.png``.
ECDF_DPI = 110

_SEED_PRIOR, _SEED_DATA, _SEED_FIT, _SEED_NEED, _SEED_TIES = range(5)


def replicate_seed(base_seed: int, index: int, stage: int) -> int:
    """Derive an independent 32-bit seed per (base seed, replicate, stage).

    Parameters
    ----------
    base_seed
        Seed of the run.
    index
        Replicate number.
    stage
        Prior draw, data simulation, fit, need draws or rank ties (0-4).

    Returns
    -------
    int
        The seed.
    """
    return int(np.random.SeedSequence([base_seed, index, stage]).generate_state(1)[0])


def run_replicate(index: int, base_seed: int, settings: SBCSettings) -> dict[str, Any]:
    """Simulate, refit and rank one replicate (a pure function of its arguments).

    Parameters
    ----------
    index
        Replicate number.
    base_seed
        Seed of the run.
    settings
        What to simulate and how to refit.

    Returns
    -------
    dict
        ``index``, ``ranks``/``inside_50``/``inside_90`` (quantity -> value) and
        ``diagnostics``. A replicate whose fit fails returns ``error`` instead of ranks, so
        one failure does not discard the others (the summary reports it).
    """
    _quiet_worker()
    start = time.perf_counter()
    seeds = {stage: replicate_seed(base_seed, index, stage) for stage in range(5)}
    diagnostics: dict[str, Any] = {"replicate": index, "base_seed": base_seed,
                                   "fit_seed": seeds[_SEED_FIT]}
    template = template_model(settings)
    params = draw_prior(template, seeds[_SEED_PRIOR])
    simulated = simulate_counts(template, params, seeds[_SEED_DATA])
    t = template.data
    data = AreaData(t.geography, t.covariates, t.exposure, simulated.observations, t.services,
                    t.year, f"SBC replicate {index} (base seed {base_seed})")
    model = AreaDemandModel(data, template.config, priors=template.priors)
    try:
        nuts_only: dict[str, Any] = {"compute_convergence_checks": False} \
            if settings.method == "nuts" else {}
        idata = model.fit(random_seed=seeds[_SEED_FIT], draws=settings.draws,
                          tune=settings.tune, chains=settings.chains, cores=1,
                          target_accept=settings.target_accept, progressbar=False,
                          method=settings.method, **nuts_only)
    except Exception as exc:  # a failed fit is recorded, not fatal to the whole run
        diagnostics.update(error=f"{type(exc).__name__}: {exc}".splitlines()[0],
                           seconds=time.perf_counter() - start)
        return {"index": index, "ranks": {}, "inside_50": {}, "inside_90": {},
                "diagnostics": diagnostics}
    post = idata_io.posterior(idata)
    n_total = post.sizes[dims.CHAIN] * post.sizes[dims.DRAW]
    thin = n_total // settings.n_rank_draws
    keep = np.arange(settings.n_rank_draws) * thin

    need = expected_need(model, idata, random_seed=seeds[_SEED_NEED],
                         standardise=settings.standardise)["need"]
    truth_need = xr.DataArray(
        true_need(model, params, simulated, settings.standardise)[None, None],
        dims=(dims.CHAIN, dims.DRAW, dims.LA, dims.SERVICE),
        coords={dims.LA: need[dims.LA].values, dims.SERVICE: list(model.services)})
    draws, truths = tracked_draws(post, params, need, truth_need, cost_weights(settings))
    ranks, inside_50, inside_90 = rank_replicate(
        draws, truths, keep, np.random.default_rng(seeds[_SEED_TIES]))

    conv = convergence(idata) if settings.method != "nuts" else \
        convergence_summary(idata, [n for n in TRACKED_PARAMETERS if n in post])
    diagnostics.update(method=settings.method, rhat_max=conv["rhat_max"],
                       ess_bulk_min=conv["ess_bulk_min"], ess_tail_min=conv["ess_tail_min"],
                       divergences=conv["divergences"],
                       pareto_k=conv.get("pareto_k", float("nan")),
                       importance_ess=conv.get("importance_ess", float("nan")),
                       gate_passed=evaluate(conv).passed, thin=thin,
                       seconds=time.perf_counter() - start, error="")
    return {"index": index, "ranks": ranks, "inside_50": inside_50, "inside_90": inside_90,
            "diagnostics": diagnostics}


def _quiet_worker() -> None:
    """Keep worker output to errors: per-replicate sampler chatter is noise in a batch.

    PyMC sets its logger level when first imported; this module imports it (through the
    model), so these levels are set after that and stay.
    """
    for name in ("pymc", "pymc.sampling.mcmc", "pytensor.tensor.blas"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*at least 4 chains.*")
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    warnings.filterwarnings("ignore", message=".*divergen.*")
    # NaN log densities on rejected NUTS trajectories; divergences are counted instead.
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="pytensor.*")


def run_sbc(settings: SBCSettings, *, n_sims: int, base_seed: int,
            executor: Executor | None = None,
            progress: bool | Callable[[dict[str, Any]], None] = False) -> SBCResult:
    """Run ``n_sims`` replicates through ``executor`` and summarise their ranks.

    Parameters
    ----------
    settings
        What to simulate and how to refit.
    n_sims
        Number of replicates.
    base_seed
        Replicate ``i`` depends only on ``(i, base_seed, settings)``, so results do not
        depend on the executor or the order replicates finish in.
    executor
        Where replicates run (default: in this process). See
        :func:`bayes_needs.core.executors.make_executor`.
    progress
        ``True``: show a progress bar on stderr (:mod:`bayes_needs.core.progress`); a
        function: called with each finished replicate's diagnostics; ``False`` (default):
        silent.

    Returns
    -------
    SBCResult
        Replicates in index order, summarised by :func:`bayes_needs.checks.sbc.summarise`.

    Raises
    ------
    ConfigError
        For a bad ``n_sims`` or ``base_seed``, or a service without a cost weight.
    """
    if isinstance(n_sims, bool) or not isinstance(n_sims, int) or n_sims < 1:
        raise ConfigError(f"n_sims must be a whole number >= 1, got {n_sims!r}")
    if isinstance(base_seed, bool) or not isinstance(base_seed, int) or base_seed < 0:
        raise ConfigError(f"seed must be a non-negative whole number, got {base_seed!r}")
    cost_weights(settings)  # fail before any replicate runs
    if executor is None:
        executor = SerialExecutor()
    futures = {executor.submit(run_replicate, i, base_seed, settings): i for i in range(n_sims)}
    results = []
    with progress_bar(n_sims, "SBC replicates", enabled=progress is True) as advance:
        for _, result in completed(futures):
            results.append(result)
            if callable(progress):
                progress(result["diagnostics"])
            advance(replicate_note(result["diagnostics"]))
    results.sort(key=lambda r: r["index"])
    return summarise(results, settings)


def write_sbc(result: SBCResult, out_dir: str | Path) -> list[Path]:
    """Write the outputs of an SBC run as one set (all or none).

    Parameters
    ----------
    result
        From :func:`run_sbc`.
    out_dir
        Directory of ``sbc.csv``, ``ranks.csv``, ``replicates.csv`` and ``sbc_ecdf.png``
        (:func:`bayes_needs.core.outputs.output_set`: an interrupted write leaves none).

    Returns
    -------
    list of pathlib.Path
        The paths of :data:`OUTPUT_FILES` (the figure is left out when there are no ranks).
    """
    out_dir = Path(out_dir)
    n_sims = int(result.summary["n_sims"].max()) if len(result.summary) else 0
    settings = ", ".join(f"{k}={v}" for k, v in result.settings.to_dict().items())
    comment = (f"simulation-based calibration of the area model; {settings}\n"
               f"p_value: chi-square test of rank uniformity "
               f"({rank_bins(n_sims, result.settings.n_rank_draws)} bins); "
               f"p_value_holm: Holm-adjusted over all {len(result.summary)} quantities")
    with output_set(out_dir, SBC_SET) as outputs:
        staging = outputs.staging
        write_csv(staging / SBC_CSV, result.summary, comment=comment)
        write_csv(staging / RANKS_CSV, result.ranks)
        write_csv(staging / REPLICATES_CSV, result.replicates)
        if len(result.ranks):
            figure = plot_rank_ecdf(result.ranks, result.settings.n_rank_draws)
            write_bytes(staging / ECDF_PNG, figure_png(figure, dpi=ECDF_DPI))
    return [out_dir / name for name in OUTPUT_FILES if (out_dir / name).exists()]


def replicate_note(diagnostics: dict[str, Any]) -> str:
    """One finished replicate's convergence (or error) and time, for its progress line.

    Parameters
    ----------
    diagnostics
        A replicate's diagnostics (:func:`run_replicate`).

    Returns
    -------
    str
        The note.
    """
    if diagnostics.get("error"):
        line = f"failed: {diagnostics['error']}"
    elif diagnostics.get("method", "nuts") != "nuts":
        line = (f"Pareto k̂ {diagnostics['pareto_k']:.2f}, importance ESS "
                f"{diagnostics['importance_ess']:.0f}"
                + ("" if diagnostics["gate_passed"] else " (the gate would refuse it)"))
    else:
        line = (f"max R-hat {diagnostics['rhat_max']:.3f}, min bulk ESS "
                f"{diagnostics['ess_bulk_min']:.0f}, divergences {diagnostics['divergences']}")
    return f"replicate {diagnostics['replicate']}: {line} ({diagnostics['seconds']:.0f} s)"


def print_progress(diagnostics: dict[str, Any]) -> None:
    """Print one stderr line per finished replicate (a ``progress`` function for scripts).

    Parameters
    ----------
    diagnostics
        A replicate's diagnostics (:func:`run_replicate`).
    """
    print(f"  {replicate_note(diagnostics)}", file=sys.stderr, flush=True)
