"""What a diagnostic report of an area run shows: its inputs and its list of plots.

The report is built in two steps: :mod:`bayes_needs.workflows.report` loads a run and computes
the diagnostics into a :class:`ReportInputs`; :mod:`bayes_needs.report.diagnostic_plots` and
:mod:`bayes_needs.report.html` draw and render from it without loading anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.allocation import Allocation
from bayes_needs.checks.diagnostics import LooByLA
from bayes_needs.config.run import RunConfig
from bayes_needs.core.intervals import describe_interval
from bayes_needs.models.area import AreaDemandModel
from bayes_needs.report.decision import DecisionInputs

#: (file stem, title) of every plot, in report order; the title is the image's alt text.
PLOTS: tuple[tuple[str, str], ...] = (
    ("trace", "Trace plot"),
    ("rank", "Rank plot"),
    ("energy", "Energy plot"),
    ("ppc_rootogram", "Posterior predictive check (rootogram) per service"),
    ("loo_pit", "LOO-PIT per service"),
    ("pareto_k", "Pareto k per LA"),
    ("shares_forest", "Forest plot of LA shares"),
    ("la_ranking", "LA ranking plot"),
)
#: (file stem, title) of the decision-maker section's plots, shown before :data:`PLOTS`.
DECISION_PLOTS: tuple[tuple[str, str], ...] = (
    ("hex_map", "Hex map of money per child and change against the baseline"),
    ("per_child_vs_deprivation", "Money per child against LA deprivation"),
)
#: Why a plot cannot be drawn for some fits (a mocked sampler records no energy).
UNAVAILABLE_TEXT = {"energy": "not available: the fit has no sampler energy "
                              "(sample_stats.energy)"}


class FittedRun(Protocol):
    """A fitted area model with its run config (``workflows.pipeline.FitResult`` is one)."""

    model: AreaDemandModel
    idata: az.InferenceData
    config: RunConfig


@dataclass
class ReportInputs:
    """Everything the report draws and tabulates, computed once.

    Attributes
    ----------
    fit
        The reloaded fit.
    allocation
        The run's allocation (from ``allocation.nc``, or computed for the report).
    allocation_saved
        Whether ``allocation`` was read from the run directory.
    diagnostics_idata
        The thinned posterior with ``log_likelihood`` and ``log_prior`` groups.
    predictive
        Posterior predictive draws of every observed variable.
    loo
        PSIS-LOO with each LA's data left out as a block.
    pit
        Randomised LOO-PIT values per service.
    psens
        Power-scaling sensitivity per hyperparameter (``attrs["comment"]`` describes it).
    convergence
        The fit's convergence summary (R-hat, ESS, divergences, BFMI, chains, draws).
    random_seed
        Seed of the predictive draws and the PIT randomisation.
    decision
        Pot, baseline, child populations, deprivation and map of the decision-maker section.
    notes
        Notes shown at the top of the report.
    """

    fit: FittedRun
    allocation: Allocation
    allocation_saved: bool
    diagnostics_idata: az.InferenceData
    predictive: xr.Dataset
    loo: LooByLA
    pit: dict[str, np.ndarray]
    psens: pd.DataFrame
    convergence: dict[str, Any]
    random_seed: int
    decision: DecisionInputs
    notes: list[str] = field(default_factory=list)

    @property
    def interval_text(self) -> str:
        """The allocation's interval, e.g. ``"90% equal-tailed"``."""
        return describe_interval(self.allocation.interval_prob, self.allocation.interval_kind)
