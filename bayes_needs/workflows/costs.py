"""Cost-weight runs and files: ``bayes-needs costs`` and allocation with uncertain weights.

:func:`run_costs` reads RO3 spend and DfE volumes, fits :class:`CostWeightModel`, computes the
influence of every LA and writes into the output directory, as one set
(:func:`bayes_needs.core.outputs.output_set`: a failed or interrupted run leaves the previous
files as they were and nothing new):

* ``cost_weights.csv`` — one row per activity: ``activity, weight_mean, weight_lower,
  weight_upper, reference`` then the label, absolute unit costs and the prior medians;
* ``cost_weights.nc`` — the fit (InferenceData; config and data hash in attrs);
* ``influence.csv`` — one row per LA (see :mod:`bayes_needs.checks.influence`);
* ``dropped_cells.csv`` — (LA, category) cells left out, with the reason;
* ``cost_summary.txt`` — convergence, weights, data notes, influence.

:func:`load_service_weights` turns a saved fit into per-service weight draws for
:func:`bayes_needs.allocation.allocate`; :mod:`bayes_needs.workflows.decomposition` splits
the resulting share intervals into demand and cost-weight uncertainty.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from bayes_needs.checks.influence import la_influence
from bayes_needs.core import defaults, dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.errors import BayesNeedsError, DataValidationError
from bayes_needs.core.intervals import (
    IntervalKind,
    check_interval,
    credible_interval,
    describe_interval,
)
from bayes_needs.core.outputs import output_set, with_sidecars, write_csv, write_text
from bayes_needs.data.readers.costs import england_cost_design, england_spend_data
from bayes_needs.data.unit_costs import load_unit_costs
from bayes_needs.models.base import CONVERGENCE_ATTR
from bayes_needs.models.cost_weights import (
    KIND,
    TARGET_ACCEPT,
    CostWeightModel,
    service_weights,
)

COST_WEIGHTS_CSV = "cost_weights.csv"
COST_WEIGHTS_NC = "cost_weights.nc"
INFLUENCE_CSV = "influence.csv"
DROPPED_CSV = "dropped_cells.csv"
SUMMARY_TXT = "cost_summary.txt"
#: The kind of output set these files form (:func:`bayes_needs.core.outputs.output_set`).
COSTS_SET = "costs"
COST_FILES = with_sidecars((COST_WEIGHTS_CSV, COST_WEIGHTS_NC, INFLUENCE_CSV, DROPPED_CSV,
                           SUMMARY_TXT))

#: Seed of a cost-weight fit when none is given (see :mod:`bayes_needs.core.defaults`).
RANDOM_SEED = defaults.COST_WEIGHTS_RANDOM_SEED
#: Draws per chain of a cost-weight fit. The model is small (a minute per fit), and with 1000
#: draws price_sd and mix_sd reach a bulk ESS of only about 200 on RO3 2024-25 (R-hat 1.02);
#: 2000 give about 370.
DRAWS = 2000
#: Tuning steps per chain and chains of a cost-weight fit.
TUNE = 1000
CHAINS = 2
#: Cap on exact leave-one-LA-out refits (:func:`bayes_needs.checks.influence.la_influence`).
MAX_REFITS = 5


def weight_table(model: CostWeightModel, idata: az.InferenceData, *,
                 interval_prob: float = defaults.INTERVAL_PROB,
                 interval_kind: IntervalKind = defaults.INTERVAL_KIND) -> pd.DataFrame:
    """Tabulate the posterior relative weights and unit costs per activity, with intervals.

    Parameters
    ----------
    model, idata
        A cost-weight model and its fit.
    interval_prob, interval_kind
        The credible intervals.

    Returns
    -------
    pandas.DataFrame
        ``activity, weight_mean, weight_lower, weight_upper, reference, label,
        unit_cost_mean, unit_cost_lower, unit_cost_upper, prior_unit_cost, prior_weight``;
        ``attrs["comment"]`` states the reference, interval and price base.
    """
    post = idata_io.posterior(idata)
    table = model.unit_costs.unit_costs.table.set_index("activity").loc[list(model.activities)]
    columns: dict[str, Any] = {"activity": list(model.activities)}
    for name in ("weight", "unit_cost"):
        lower, upper = credible_interval(post[name], interval_prob=interval_prob,
                                         interval_kind=interval_kind)
        columns[f"{name}_mean"] = post[name].mean((dims.CHAIN, dims.DRAW)).to_numpy()
        columns[f"{name}_lower"] = lower.to_numpy()
        columns[f"{name}_upper"] = upper.to_numpy()
    frame = pd.DataFrame(columns)
    frame["reference"] = model.reference
    frame["label"] = table["label"].to_numpy() if "label" in table else frame["activity"]
    frame["prior_unit_cost"] = table["unit_cost"].to_numpy()
    prior_costs = table["unit_cost"].to_numpy(dtype=float)
    reference_cost = float(prior_costs[list(model.activities).index(model.reference)])
    frame["prior_weight"] = frame["prior_unit_cost"] / reference_cost
    order = ["activity", "weight_mean", "weight_lower", "weight_upper", "reference", "label",
             "unit_cost_mean", "unit_cost_lower", "unit_cost_upper", "prior_unit_cost",
             "prior_weight"]
    frame = frame[order]
    frame.attrs["comment"] = (
        f"weights relative to {model.reference} = 1; interval: "
        f"{describe_interval(interval_prob, interval_kind)} ({interval_kind}) over "
        f"{post.sizes[dims.CHAIN] * post.sizes[dims.DRAW]} posterior draws\n"
        f"unit costs: GBP per unit at an LA with price factor 1, prior medians in "
        f"{model.unit_costs.price_base} prices ({model.unit_costs.source}); data: "
        f"{model.spend.source}")
    return frame


def _weight_draws(idata: az.InferenceData, reference: str) -> xr.Dataset:
    """Weight draws without the reference activity (whose weight is 1 by definition)."""
    weight = idata_io.posterior(idata)["weight"]
    return weight.drop_sel({dims.ACTIVITY: reference}).to_dataset()


def _weight_rhat(idata: az.InferenceData) -> float:
    """Largest R-hat of the free weights."""
    reference = idata_io.get_config(idata)["reference"]
    return float(az.rhat(_weight_draws(idata, reference))["weight"].max())


def _weight_ess(idata: az.InferenceData) -> float:
    """Smallest bulk ESS of the free weights."""
    reference = idata_io.get_config(idata)["reference"]
    return float(az.ess(_weight_draws(idata, reference), method="bulk")["weight"].min())


def summary_text(model: CostWeightModel, idata: az.InferenceData, weights: pd.DataFrame,
                 influence: pd.DataFrame | None, data_notes: Sequence[str]) -> str:
    """Write the human-readable summary of a cost-weight run.

    Parameters
    ----------
    model, idata
        The model and its fit.
    weights
        :func:`weight_table` of the fit.
    influence
        :func:`bayes_needs.checks.influence.la_influence` of the fit, or ``None``.
    data_notes
        Lines about the data.

    Returns
    -------
    str
        The text of ``cost_summary.txt``.
    """
    conv = json.loads(idata_io.posterior(idata).attrs[CONVERGENCE_ATTR])
    run = idata_io.get_config(idata).get("run", {})
    lines = ["bayes_needs cost-weight run", "===========================",
             f"data: {model.spend.source}; {len(model.la_codes)} LAs, {len(model.cells)} "
             f"(LA, category) cells, categories {', '.join(model.categories)}",
             f"data hash: {model.data_hash()}",
             f"unit-cost priors: {model.unit_costs.source}",
             f"sampling: {conv['n_chains']} chains x {conv['n_draws']} draws, "
             f"{run.get('tune')} tuning steps, seed {run.get('random_seed')}, target_accept "
             f"{run.get('target_accept')}",
             "", "convergence (unit costs and hyperparameters)",
             f"  max R-hat:      {conv['rhat_max']:.4f}",
             f"  min bulk ESS:   {conv['ess_bulk_min']:.0f}",
             f"  min tail ESS:   {conv['ess_tail_min']:.0f}",
             f"  divergences:    {conv['divergences']}",
             f"  min BFMI:       {conv['bfmi_min']:.3f}",
             f"  weights: max R-hat {_weight_rhat(idata):.4f}, min bulk ESS "
             f"{_weight_ess(idata):.0f}",
             "", f"relative weights ({weights.attrs['comment'].splitlines()[0]})"]
    for row in weights.itertuples(index=False):
        lines.append(f"  {row.activity:<22}{row.weight_mean:9.3f}  [{row.weight_lower:.3f}, "
                     f"{row.weight_upper:.3f}]   unit cost {row.unit_cost_mean:10,.0f} "
                     f"(prior median {row.prior_unit_cost:,.0f})")
    if influence is not None and len(influence):
        top = influence.iloc[int(np.nanargmax(influence["max_rel_change"].to_numpy(float)))]
        lines += ["", "influence of single LAs (leave-one-LA-out)",
                  f"  {influence.attrs.get('comment', '')}",
                  f"  largest relative change of any weight: {top['max_rel_change']:.3f} "
                  f"({top['activity_with_max_change']}, {top['la_code']} {top['la_name']}, "
                  f"method {top['method']})",
                  f"  largest change in posterior sds: "
                  f"{influence['max_change_in_sd'].max():.3f}",
                  f"  median over LAs of the largest relative change: "
                  f"{influence['max_rel_change'].median():.4f}",
                  "  largest relative change per weight (LA):"]
        for activity, (change, code) in influence.attrs.get("per_activity_max", {}).items():
            lines.append(f"    {activity:<22}{change:.4f} ({code})")
    lines += ["", "data notes", *[f"  {n}" for n in data_notes]]
    return "\n".join(lines) + "\n"


def write_cost_outputs(out_dir: Path, model: CostWeightModel, idata: az.InferenceData, *,
                       influence: pd.DataFrame | None, dropped: pd.DataFrame,
                       data_notes: Sequence[str] = (),
                       interval_prob: float = defaults.INTERVAL_PROB,
                       interval_kind: IntervalKind = defaults.INTERVAL_KIND) -> pd.DataFrame:
    """Write every file of :data:`COST_FILES` (influence only when given) as one set.

    Either every file is replaced or, if anything fails or the process is interrupted, none
    is (:func:`bayes_needs.core.outputs.output_set`).

    Parameters
    ----------
    out_dir
        The directory (created if missing).
    model, idata
        The cost-weight model and its fit.
    influence
        :func:`bayes_needs.checks.influence.la_influence` of the fit, or ``None``.
    dropped
        The (LA, category) cells left out, with the reason.
    data_notes
        Lines about the data for the summary.
    interval_prob, interval_kind
        The credible intervals of the weights.

    Returns
    -------
    pandas.DataFrame
        :func:`weight_table` of the fit.
    """
    weights = weight_table(model, idata, interval_prob=interval_prob,
                           interval_kind=interval_kind)
    with output_set(out_dir, COSTS_SET) as outputs:
        staging = outputs.staging
        model.save(idata, staging / COST_WEIGHTS_NC)
        write_csv(staging / COST_WEIGHTS_CSV, weights, comment=weights.attrs["comment"])
        if influence is not None:
            write_csv(staging / INFLUENCE_CSV, influence,
                      comment=influence.attrs.get("comment"))
        write_csv(staging / DROPPED_CSV, dropped,
                  comment="(LA, category) spend cells not used by the cost-weight model")
        write_text(staging / SUMMARY_TXT, summary_text(model, idata, weights, influence,
                                                       data_notes))
    return weights


def run_costs(data_dir: str | Path, financial_year: str, out_dir: str | Path, *,
              random_seed: int = RANDOM_SEED, unit_costs: str | Path | None = None,
              priors: str | Path | None = None, draws: int = DRAWS, tune: int = TUNE,
              chains: int = CHAINS, target_accept: float = TARGET_ACCEPT,
              max_refits: int = MAX_REFITS, interval_prob: float = defaults.INTERVAL_PROB,
              interval_kind: str = defaults.INTERVAL_KIND,
              progressbar: bool = False) -> dict[str, Any]:
    """Fit the England cost-weight model for ``financial_year`` and write every output file.

    Parameters
    ----------
    data_dir
        Directory of the real public data.
    financial_year
        RO3 financial year, e.g. ``"2024-25"``.
    out_dir
        Output directory (:data:`COST_FILES`, written as one set).
    random_seed, draws, tune, chains, target_accept, progressbar
        Sampling settings.
    unit_costs
        Unit-cost prior table (default: the packaged one).
    priors
        Prior file overriding the model's hyperpriors by variable name.
    max_refits
        Cap on exact leave-one-LA-out refits.
    interval_prob, interval_kind
        Credible intervals of the weights; checked before any data are read.

    Returns
    -------
    dict
        ``weights`` (the table), ``influence``, ``convergence`` and ``model``.
    """
    interval_prob, kind = check_interval(interval_prob, interval_kind)
    prior_table = load_unit_costs(unit_costs)
    spend, report = england_spend_data(data_dir, financial_year)
    model = CostWeightModel(spend, prior_table, england_cost_design(), priors=priors)
    idata = model.fit(random_seed=random_seed, draws=draws, tune=tune, chains=chains,
                      target_accept=target_accept, progressbar=progressbar)
    influence = la_influence(model, idata, max_refits=max_refits)
    dropped = pd.concat([report.dropped, model.dropped], ignore_index=True)
    dropped = dropped.sort_values(["la_code", "category"]).reset_index(drop=True)
    notes = [report.lines()[0], f"(LA, category) cells dropped: {len(dropped)} (see "
                                f"{DROPPED_CSV})"]
    notes += [f"{r.la_code} {r.la_name}: {r.volume} from the 31 March {report.reporting_year} "
              f"stock only" for r in report.end_year_only.itertuples(index=False)]
    weights = write_cost_outputs(Path(out_dir), model, idata, influence=influence,
                                 dropped=dropped, data_notes=notes,
                                 interval_prob=interval_prob, interval_kind=kind)
    conv = json.loads(idata_io.posterior(idata).attrs[CONVERGENCE_ATTR])
    return {"weights": weights, "influence": influence, "convergence": conv, "model": model}


# ====================================================================== allocation
def load_service_weights(path: str | Path, services: Sequence[str]) -> xr.DataArray:
    """Read per-service weight draws (chain, draw, service) from a saved ``cost_weights.nc``.

    Parameters
    ----------
    path
        A ``cost_weights.nc`` written by ``bayes-needs costs``.
    services
        Services that need a weight.

    Returns
    -------
    xarray.DataArray
        The weight draws.

    Raises
    ------
    BayesNeedsError
        Naming the file, if it is not a cost-weight fit covering ``services`` with finite
        weights >= 0.
    """
    idata = idata_io.load(path, expected_kind=KIND)
    try:
        weights = service_weights(idata, services)
    except BayesNeedsError as exc:
        raise BayesNeedsError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # The file was written by 'bayes-needs costs'; what it lacks was altered or damaged.
        detail = f"missing entry {exc}" if isinstance(exc, KeyError) else str(exc)
        raise BayesNeedsError(f"{path}: not a usable cost-weight fit ({detail})") from None
    values = weights.to_numpy()
    bad = ~np.isfinite(values) | (values < 0)
    if bad.any():
        raise DataValidationError(str(path), [
            f"{int(bad.sum())} service weight draw(s) are negative, NaN or infinite; "
            f"weights must be finite and >= 0"])
    return weights
