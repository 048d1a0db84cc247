"""Cost-weight runs and files: ``bayes-needs costs`` and allocation with uncertain weights.

:func:`run_costs` reads RO3 spend and DfE volumes, fits :class:`CostWeightModel`, computes the
influence of every LA and writes into the output directory (every file atomically):

* ``cost_weights.csv`` — one row per activity: ``activity, weight_mean, weight_lower,
  weight_upper, reference`` then the label, absolute unit costs and the prior medians;
* ``cost_weights.nc`` — the fit (InferenceData; config and data hash in attrs);
* ``influence.csv`` — one row per LA (see :mod:`bayes_needs.checks.influence`);
* ``dropped_cells.csv`` — (LA, category) cells left out, with the reason;
* ``cost_summary.txt`` — convergence, weights, data notes, influence.

:func:`load_service_weights` turns a saved fit into per-service weight draws for
:func:`bayes_needs.allocation.allocate`; :func:`write_decomposition` writes
``decomposition.csv`` (share-interval width due to demand and to costs, and the share's
posterior sd with fixed and with uncertain weights, per LA) and returns the printed table
comparing fixed (posterior-mean) and uncertain weights on the same demand draws.
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

from bayes_needs.allocation import decompose_interval_width
from bayes_needs.checks.influence import la_influence
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.intervals import credible_interval, describe_interval
from bayes_needs.core.outputs import write_csv, write_text
from bayes_needs.models.cost_weights import KIND, CostWeightModel, service_weights

COST_WEIGHTS_CSV = "cost_weights.csv"
COST_WEIGHTS_NC = "cost_weights.nc"
INFLUENCE_CSV = "influence.csv"
DROPPED_CSV = "dropped_cells.csv"
SUMMARY_TXT = "cost_summary.txt"
DECOMPOSITION_CSV = "decomposition.csv"
COST_FILES = (COST_WEIGHTS_CSV, COST_WEIGHTS_NC, INFLUENCE_CSV, DROPPED_CSV, SUMMARY_TXT)


def weight_table(model: CostWeightModel, idata: az.InferenceData, *,
                 interval_prob: float = 0.9, interval_kind: str = "eti") -> pd.DataFrame:
    """Posterior relative weights and unit costs per activity, with intervals.

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
    frame["prior_weight"] = frame["prior_unit_cost"] / float(table.at[model.reference,
                                                                      "unit_cost"])
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
    weight = idata_io.posterior(idata)["weight"]
    return weight.drop_sel({dims.ACTIVITY: reference}).to_dataset()


def _weight_rhat(idata: az.InferenceData) -> float:
    reference = idata_io.get_config(idata)["reference"]
    return float(az.rhat(_weight_draws(idata, reference))["weight"].max())


def _weight_ess(idata: az.InferenceData) -> float:
    reference = idata_io.get_config(idata)["reference"]
    return float(az.ess(_weight_draws(idata, reference), method="bulk")["weight"].min())


def summary_text(model: CostWeightModel, idata: az.InferenceData, weights: pd.DataFrame,
                 influence: pd.DataFrame | None, data_notes: Sequence[str]) -> str:
    """Human-readable run summary."""
    conv = json.loads(idata_io.posterior(idata).attrs["bayes_needs_convergence"])
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
        top = influence.loc[influence["max_rel_change"].idxmax()]
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
                       data_notes: Sequence[str] = (), interval_prob: float = 0.9,
                       interval_kind: str = "eti") -> pd.DataFrame:
    """Write every file of :data:`COST_FILES` (influence only when given); return the weights."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(idata, out_dir / COST_WEIGHTS_NC)
    weights = weight_table(model, idata, interval_prob=interval_prob,
                           interval_kind=interval_kind)
    write_csv(out_dir / COST_WEIGHTS_CSV, weights, comment=weights.attrs["comment"])
    if influence is not None:
        write_csv(out_dir / INFLUENCE_CSV, influence, comment=influence.attrs.get("comment"))
    write_csv(out_dir / DROPPED_CSV, dropped,
              comment="(LA, category) spend cells not used by the cost-weight model")
    write_text(out_dir / SUMMARY_TXT, summary_text(model, idata, weights, influence,
                                                   data_notes))
    return weights


def run_costs(data_dir: str | Path, financial_year: str, out_dir: str | Path, *,
              random_seed: int, unit_costs: str | Path | None = None,
              priors: str | Path | None = None, draws: int = 2000, tune: int = 1000,
              chains: int = 2, target_accept: float = 0.95, max_refits: int = 5,
              interval_prob: float = 0.9, interval_kind: str = "eti",
              progressbar: bool = True) -> dict[str, Any]:
    """Fit the England cost-weight model for ``financial_year`` and write every output file.

    Returns
    -------
    dict
        ``weights`` (the table), ``influence``, ``convergence`` and ``model``.
    """
    from bayes_needs.data.readers.costs import england_cost_design, england_spend_data
    from bayes_needs.data.unit_costs import load_unit_costs

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
                                 interval_prob=interval_prob, interval_kind=interval_kind)
    conv = json.loads(idata_io.posterior(idata).attrs["bayes_needs_convergence"])
    return {"weights": weights, "influence": influence, "convergence": conv, "model": model}


# ====================================================================== allocation
def load_service_weights(path: str | Path, services: Sequence[str]) -> xr.DataArray:
    """Per-service weight draws (chain, draw, service) from a saved ``cost_weights.nc``."""
    idata = idata_io.load(path, expected_kind=KIND)
    return service_weights(idata, services)


def decomposition_text(frame: pd.DataFrame, *, top: int = 10) -> str:
    """Printed comparison of share-interval widths with fixed and uncertain weights."""
    wider = (frame["width_total"] > frame["width_demand"]).mean()
    ratio = (frame["width_total"] / frame["width_demand"]).replace([np.inf, -np.inf], np.nan)
    lines = [f"share intervals: {frame.attrs['comment']}",
             f"fixed weights (posterior mean) vs uncertain weights, same demand draws: "
             f"median width {frame['width_demand'].median():.3e} -> "
             f"{frame['width_total'].median():.3e} (median ratio {ratio.median():.3f}); "
             f"wider for {wider:.0%} of {len(frame)} LAs",
             f"median share of the width due to demand {frame['demand_fraction'].median():.2f}, "
             f"due to cost weights {frame['cost_fraction'].median():.2f}"]
    lines.append(f"share posterior sd, uncertain vs fixed weights: larger for "
                 f"{(frame['sd_ratio'] > 1).mean():.0%} of LAs, median ratio "
                 f"{frame['sd_ratio'].median():.4f}, min {frame['sd_ratio'].min():.4f}")
    lines += ["",
             f"widest {top} intervals (width of the share interval; fixed = demand only, "
             f"cost only = demand at its mean)",
             f"{'la_code':<11}{'la_name':<26}{'fixed':>11}{'uncertain':>11}{'cost only':>11}"
             f"{'demand_frac':>12}{'cost_frac':>10}"]
    for row in frame.nlargest(top, "width_total").itertuples(index=False):
        lines.append(f"{row.la_code:<11}{str(row.la_name)[:25]:<26}{row.width_demand:11.3e}"
                     f"{row.width_total:11.3e}{row.width_cost:11.3e}"
                     f"{row.demand_fraction:12.2f}{row.cost_fraction:10.2f}")
    return "\n".join(lines) + "\n"


def write_decomposition(need: xr.DataArray, weights: xr.DataArray, out_dir: str | Path, *,
                        interval_prob: float, interval_kind: str, random_seed: int) -> str:
    """Write ``decomposition.csv`` (per LA) and return :func:`decomposition_text`."""
    frame = decompose_interval_width(need, weights, interval_prob=interval_prob,
                                     interval_kind=interval_kind, random_seed=random_seed)
    comment = (f"{frame.attrs['comment']}\nsd_fixed / sd_uncertain: posterior sd of the share "
               f"with weights fixed at their mean / uncertain")
    write_csv(Path(out_dir) / DECOMPOSITION_CSV, frame, comment=comment)
    return decomposition_text(frame)
