"""End-to-end person-based runs: records -> collapsed cells -> fit -> need -> allocation.

Outputs mirror :mod:`bayes_needs.workflows.pipeline` (``fit.nc``, ``run.json``,
``allocation.nc``, ``allocations.csv``, ``demand.csv``, ``summary.txt``) plus ``coverage.csv``
(covered children and top-up factors per LA x age band x sex), written as one set
(:func:`bayes_needs.core.outputs.output_set`: a failed or interrupted run leaves the previous
files as they were and nothing new; a complete one replaces the previous run's files).
Disclosure control applies to every table: no person-level rows, and counts below the
threshold are suppressed and marked (:mod:`bayes_needs.report.disclosure`). ``fit.nc`` holds
parameters only, never cell data.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import xarray as xr

from bayes_needs.allocation import Allocation
from bayes_needs.config.run import RunConfig
from bayes_needs.core.intervals import describe_interval
from bayes_needs.core.outputs import RUN, output_set, with_sidecars, write_text
from bayes_needs.data.person.collapse import collapse_frames
from bayes_needs.data.person.design import PersonModelData
from bayes_needs.models.person import PersonDemandModel
from bayes_needs.report.disclosure import DEFAULT_THRESHOLD, write_safe_csv
from bayes_needs.simulate.area import SyntheticArea
from bayes_needs.simulate.person import SyntheticPersons, generate_persons
from bayes_needs.workflows import pipeline

COVERAGE_CSV = "coverage.csv"
#: Child covariates of the synthetic records besides age band and sex.
SYNTHETIC_CHILD_COVARIATES: tuple[str, ...] = ("fsm",)
#: The person records of a synthetic run use this offset on the data seed.
PERSON_SEED_OFFSET = 1
#: Share of children the synthetic person records cover, on average over LAs.
RECORD_COVERAGE = 0.8
#: Files of a person-based run, in the order they are reported.
OUTPUT_FILES = (*pipeline.OUTPUT_FILES, *with_sidecars((COVERAGE_CSV,)))


def synthetic_person_data(synthetic: SyntheticArea, *, data_seed: int,
                          coverage: float = RECORD_COVERAGE
                          ) -> tuple[PersonModelData, SyntheticPersons]:
    """Draw synthetic child records for an area truth and collapse them for the person model.

    Parameters
    ----------
    synthetic
        The synthetic area truth the records are consistent with.
    data_seed
        Seed of the synthetic data; the records use ``data_seed + 1``.
    coverage
        Average share of children the records cover.

    Returns
    -------
    data, persons
        The collapsed cells with the area covariates and the ONS-style population, and the
        record generator.
    """
    persons = generate_persons(synthetic, random_seed=data_seed + PERSON_SEED_OFFSET,
                               coverage=coverage)
    geo = synthetic.data.geography
    cells = collapse_frames(persons.chunks(), geo, services=synthetic.data.services,
                            covariates=SYNTHETIC_CHILD_COVARIATES,
                            source=f"synthetic child records (seed "
                                   f"{data_seed + PERSON_SEED_OFFSET})")
    data = PersonModelData.build(cells, synthetic.data.covariates, persons.population)
    return data, persons


def fit_person(config: RunConfig, data: PersonModelData,
               data_info: dict[str, Any] | None = None
               ) -> pipeline.FitResult[PersonDemandModel]:
    """Build the person model from ``config.model`` options and sample it.

    Parameters
    ----------
    config
        The run config: model options, priors and sampling settings (as for an area fit,
        :func:`bayes_needs.workflows.fits.fit_area`).
    data
        The collapsed records.
    data_info
        How the data were obtained.

    Returns
    -------
    FitResult
        The fit, with its wall time.
    """
    model = PersonDemandModel(data, config.model, priors=config.priors)
    s = config.sampling
    start = time.perf_counter()
    idata = model.fit(random_seed=s.random_seed, draws=s.draws, tune=s.tune, chains=s.chains,
                      sampler=s.sampler, target_accept=s.target_accept,
                      progressbar=s.progressbar, cores=s.cores, method=s.method)
    return pipeline.FitResult(model, idata, config, data_info or {},
                              time.perf_counter() - start)


def person_extra(data: PersonModelData) -> dict[str, str]:
    """Describe the records, the collapse and the top-up, for the run summary.

    Parameters
    ----------
    data
        The collapsed records with their population.

    Returns
    -------
    dict
        ``label -> value`` lines.
    """
    cells, topup = data.cells, data.topup
    covered = float(cells.exposure.sum())
    population = float(topup.table["population"].sum())
    return {"child records": f"{cells.n_children:,}",
            "distinct cells": f"{cells.n_cells:,} ({cells.n_children / cells.n_cells:.0f} "
                              f"children per cell)",
            "child covariates": ", ".join(cells.covariates),
            "record coverage": f"{covered / population:.1%} of ONS child-years topped up "
                               f"to {population:,.0f}"}


def write_person_outputs(fit: pipeline.FitResult[PersonDemandModel], need: xr.Dataset,
                         allocation: Allocation, out_dir: Path, *,
                         threshold: int = DEFAULT_THRESHOLD,
                         extra: dict[str, Any] | None = None) -> None:
    """Write the fit and every table of a person-based run as one set, disclosure-controlled.

    Either every file of :data:`OUTPUT_FILES` is replaced (and the previous run's other files
    removed) or, if anything fails or the process is interrupted, none is.

    Parameters
    ----------
    fit
        The person-model fit.
    need, allocation
        Its need draws and allocation (:func:`bayes_needs.workflows.pipeline.need_and_allocation`).
    out_dir
        The directory (created if missing).
    threshold
        Counts below it are suppressed in every table.
    extra
        Further lines of ``summary.txt``.
    """
    with output_set(out_dir, RUN) as outputs:
        stage_person_outputs(fit, need, allocation, outputs.staging, threshold=threshold,
                             extra=extra)


def stage_person_outputs(fit: pipeline.FitResult[PersonDemandModel], need: xr.Dataset,
                         allocation: Allocation, out_dir: Path, *,
                         threshold: int = DEFAULT_THRESHOLD,
                         extra: dict[str, Any] | None = None) -> None:
    """Write :data:`OUTPUT_FILES` into ``out_dir`` (a set's staging directory)."""
    pipeline.stage_fit(fit, out_dir)
    a = fit.config.allocation
    allocation.to_netcdf(out_dir / pipeline.ALLOCATION_FILE)
    allocation.to_csv(out_dir / pipeline.ALLOCATIONS_CSV)
    interval = f"{describe_interval(a.interval_prob, a.interval_kind)} ({a.interval_kind})"
    # Observed and fitted counts cover only the children in the records: need alone is
    # given per 10,000 children of the ONS population.
    demand = pipeline.demand_table(need, interval_prob=a.interval_prob,
                                   interval_kind=a.interval_kind, rated=("needs",))
    demand = demand.rename(columns={"observed": "observed_covered"})
    write_safe_csv(out_dir / pipeline.DEMAND_CSV, demand, count_columns=["observed_covered"],
                   threshold=threshold,
                   comment=f"interval: {interval}; needs standardisation: "
                           f"{fit.config.need.standardise}; needs cover the whole ONS "
                           f"population, observed_covered only the children in the records")
    coverage = fit.model.data.topup.table
    write_safe_csv(out_dir / COVERAGE_CSV, coverage, count_columns=["covered_children"],
                   threshold=threshold,
                   comment="factor = ONS population / covered child-years (coverage top-up)")
    extra = {**person_extra(fit.model.data), "fit wall time": f"{fit.seconds:.1f} s",
             **(extra or {})}
    write_text(out_dir / pipeline.SUMMARY_FILE,
               pipeline.summary_text(fit, allocation, extra=extra))
