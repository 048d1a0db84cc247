"""What the report's decision-maker section needs from a run besides its allocation.

* the pot and currency the allocation records (the default pot, said so, when it records
  none);
* the baseline: a CSV given with ``report --baseline`` (a ``la_code, share`` table or the
  ``allocations.csv`` of an earlier run, read by
  :func:`bayes_needs.workflows.allocation_inputs.read_baseline_csv`), else the baseline the
  run's allocation was made against, else each LA's share of the children;
* each LA's child population (the run's exposure);
* LA deprivation: for real England data the IMD 2019 score
  (:func:`bayes_needs.data.readers.iod_scores.read_la_imd_scores`), otherwise the
  child-weighted mean over the LA's LSOAs of the run's deprivation covariate (the first of
  :data:`DEPRIVATION_COVARIATES` it has, else its first covariate);
* the hex layout (:func:`bayes_needs.data.hexmap.hexes_for`): England's districts, each
  tagged with its LA by the district -> LA mapping of the run's own lookup
  (:func:`bayes_needs.data.readers.lookups.district_las`) for real England data, else a grid.

For real England data the data directory's lookup is read once here and serves both the IMD
scores and the map.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bayes_needs.allocation import Allocation
from bayes_needs.core import defaults, dims
from bayes_needs.core.errors import BayesNeedsError
from bayes_needs.data.hexmap import HexLayout, hexes_for
from bayes_needs.data.readers.iod_scores import IMD_SCORE, read_la_imd_scores
from bayes_needs.data.readers.lookups import LOOKUP_FILE, district_las, read_lookup
from bayes_needs.report.decision import DecisionInputs
from bayes_needs.report.inputs import FittedRun
from bayes_needs.workflows.allocation_inputs import read_baseline_csv

#: Covariates taken as the LA deprivation measure, in order of preference.
DEPRIVATION_COVARIATES: tuple[str, ...] = ("imd_score", "imd", "idaci")


def decision_inputs(fit: FittedRun, allocation: Allocation, *,
                    baseline: str | Path | None = None) -> DecisionInputs:
    """Gather the pot, baseline, child populations, deprivation and map of a run.

    Parameters
    ----------
    fit
        The reloaded area fit (its data and config).
    allocation
        Its allocation.
    baseline
        A baseline CSV (``report --baseline``), or ``None`` for the run's own baseline or
        population shares.

    Returns
    -------
    DecisionInputs
        For :func:`bayes_needs.report.decision.decision_table` and its plots.

    Raises
    ------
    MissingDataError, DataValidationError
        If the baseline file is missing or invalid (naming its line and column).
    """
    data = fit.model.data
    la_codes = [str(c) for c in allocation.la_codes]
    children = pd.Series(data.geography.aggregate(data.exposure, dims.LSOA, dims.LA),
                         index=[str(c) for c in data.geography.la_codes]).loc[la_codes]
    notes = []
    pot = allocation.pot
    if pot is None:
        pot = defaults.POT
        notes.append(f"The allocation records no pot: amounts are shown for the default pot "
                     f"of {pot:,.0f}.")
    currency = allocation.currency
    if baseline is not None:
        shares = read_baseline_csv(baseline, la_codes, setting="--baseline")
        label = f"the shares of {Path(baseline).name}"
    elif "baseline_share" in allocation.draws:
        shares = pd.Series(allocation.draws["baseline_share"].to_numpy().astype(float),
                           index=la_codes)
        label = f"the run's allocation baseline ({fit.config.allocation.baseline})"
    else:
        shares = children / children.sum()
        label = "population share (each LA's share of the children)"
    lookup = _england_lookup(fit, notes)
    deprivation, deprivation_label = _deprivation(fit, la_codes, lookup, notes)
    layout = _layout(fit, la_codes, lookup, notes)
    return DecisionInputs(pot=float(pot), currency=currency, baseline_share=shares,
                          baseline_label=label, children=children, deprivation=deprivation,
                          deprivation_label=deprivation_label, layout=layout, notes=notes)


def _england_lookup(fit: FittedRun, notes: list[str]) -> pd.DataFrame | None:
    """Read the LSOA lookup of a real England run's data directory (else ``None``)."""
    spec = fit.config.data
    if spec.source != "england" or spec.data_dir is None:
        return None
    try:
        return read_lookup(spec.data_dir)
    except BayesNeedsError as exc:
        notes.append(f"The lookup of the data directory could not be read ({exc}); "
                     f"deprivation is taken from the run's covariates and the map is a grid.")
        return None


def _layout(fit: FittedRun, la_codes: list[str], lookup: pd.DataFrame | None,
            notes: list[str]) -> HexLayout:
    """England's districts from the run's lookup, else a grid with a note saying why."""
    if lookup is None:
        spec = fit.config.data
        if spec.source != "england" or spec.data_dir is None:  # else the lookup's note says
            notes.append("The run has no real England data directory (a synthetic run), so "
                         "the map lays the LAs on a grid in code order, not on England's "
                         "geography.")
        return hexes_for(la_codes)
    source = str(Path(str(fit.config.data.data_dir)) / LOOKUP_FILE)
    layout = hexes_for(la_codes, district_las(lookup, source=source), source=source)
    if not layout.geographic:
        outside = sorted(set(la_codes) - set(lookup["la_code"]))
        notes.append(f"{len(outside)} LA code(s) of the run are not upper-tier LAs of the "
                     f"data directory's lookup ({', '.join(outside[:10])}), so the map lays "
                     f"the LAs on a grid in code order, not on England's geography.")
        return layout
    absent = sorted(set(layout.la_codes) - set(la_codes))
    if absent:
        notes.append(f"{len(absent)} English LA(s) are not in this run (grey on the map).")
    return layout


def _deprivation(fit: FittedRun, la_codes: list[str], lookup: pd.DataFrame | None,
                 notes: list[str]) -> tuple[pd.Series | None, str]:
    """LA deprivation and what it measures (see the module docstring)."""
    spec = fit.config.data
    if lookup is not None and spec.data_dir is not None:
        try:
            scores = read_la_imd_scores(spec.data_dir, lookup=lookup)[IMD_SCORE]
        except BayesNeedsError as exc:
            notes.append(f"The LA IMD 2019 scores could not be read ({exc}); deprivation is "
                         f"taken from the run's covariates instead.")
        else:
            return scores.reindex(la_codes), "IMD 2019 score (child-weighted mean of LSOAs)"
    data = fit.model.data
    names = list(data.covariate_names)
    name = next((c for c in DEPRIVATION_COVARIATES if c in names), names[0] if names else None)
    if name is None:
        notes.append("The run has no covariates, so no deprivation plot is drawn.")
        return None, ""
    geo = data.geography
    weighted = geo.aggregate(data.covariates[name].to_numpy(dtype=float) * data.exposure,
                             dims.LSOA, dims.LA)
    total = geo.aggregate(data.exposure, dims.LSOA, dims.LA)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(total > 0, weighted / total, np.nan)
    values = pd.Series(mean, index=[str(c) for c in geo.la_codes]).loc[la_codes]
    return values, f"covariate '{name}' (child-weighted mean of the LA's LSOAs)"
