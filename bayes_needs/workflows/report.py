"""Diagnostic report of a run directory: ``bayes-needs report RUN_DIR``.

Writes ``RUN_DIR/report.html`` (self-contained: every plot embedded as a base64 PNG, no
scripts, no external links) and the plots as ``RUN_DIR/plots/*.png``, plus
``RUN_DIR/pareto_k.csv`` and ``RUN_DIR/power_scaling.csv``. All files are written
atomically. Plots (see :data:`PLOTS`):

* trace and rank plots of the hyperparameters and the energy plot (ArviZ);
* a hanging rootogram per service: observed counts against the posterior predictive, on a
  square-root scale, suited to counts (Kleiber & Zeileis 2016);
* randomised LOO-PIT per service (ECDF difference with simultaneous 99% bands);
* Pareto k per LA from PSIS-LOO with each LA's data left out as a block: influential or
  badly predicted LAs stand out (:func:`bayes_needs.checks.diagnostics.loo_by_la`);
* a forest plot of LA shares with their credible intervals and an LA ranking plot.

Tables: run settings, convergence with the gate result, power-scaling sensitivity of every
hyperparameter (flagged as priorsense does) and the LAs with the highest Pareto k.

Posterior predictive draws and the LOO-PIT randomisation are seeded (``random_seed``); the
diagnostics use at most ``max_draws`` posterior draws, thinned evenly.
"""

from __future__ import annotations

import base64
import html
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
from matplotlib import MatplotlibDeprecationWarning
from matplotlib.figure import Figure

from bayes_needs.allocation import Allocation
from bayes_needs.checks.gate import GATE_ATTR, evaluate
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.intervals import credible_interval, describe_interval
from bayes_needs.core.outputs import write_atomic, write_csv, write_text

REPORT_FILE = "report.html"
PLOTS_DIR = "plots"
PARETO_CSV = "pareto_k.csv"
PSENS_CSV = "power_scaling.csv"
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
_DPI = 90
#: Why a plot cannot be drawn for some fits (a mocked sampler records no energy).
UNAVAILABLE_TEXT = {"energy": "not available: the fit has no sampler energy "
                              "(sample_stats.energy)"}
_MAX_ROOTOGRAM_BINS = 40


@dataclass
class ReportInputs:
    """What the report is built from (see :func:`build_report`)."""

    fit: Any  # pipeline.FitResult
    allocation: Allocation
    allocation_saved: bool
    diagnostics_idata: az.InferenceData
    predictive: Any
    loo: Any  # diagnostics.LooByLA
    pit: dict[str, np.ndarray]
    psens: pd.DataFrame
    random_seed: int
    notes: list[str] = field(default_factory=list)


def build_report(run_dir: str | Path, *, random_seed: int | None = None,
                 max_draws: int = 1000, predictive_draws: int = 200) -> Path:
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

    Returns
    -------
    pathlib.Path
        The written ``report.html``.
    """
    run_dir = Path(run_dir)
    inputs = collect(run_dir, random_seed=random_seed, max_draws=max_draws,
                     predictive_draws=predictive_draws)
    plots_dir = run_dir / PLOTS_DIR
    images: dict[str, bytes] = {}
    for stem, _ in PLOTS:
        with warnings.catch_warnings():
            # ArviZ 0.23 calls a matplotlib API deprecated in 3.11; nothing for users to do.
            warnings.simplefilter("ignore", MatplotlibDeprecationWarning)
            fig = PLOT_FUNCTIONS[stem](inputs)
            png = _png(fig)
        write_atomic(plots_dir / f"{stem}.png", lambda p, data=png: p.write_bytes(data))
        images[stem] = png
    write_csv(run_dir / PARETO_CSV, inputs.loo.table,
              comment=f"PSIS-LOO with each LA's data left out as a block; flag 'high' above "
                      f"good_k = {inputs.loo.good_k:.3f} (ArviZ), 'very high' above 1")
    write_csv(run_dir / PSENS_CSV, inputs.psens, comment=inputs.psens.attrs.get("comment"))
    return write_text(run_dir / REPORT_FILE, render_html(inputs, images, run_dir.name))


def collect(run_dir: Path, *, random_seed: int | None, max_draws: int,
            predictive_draws: int) -> ReportInputs:
    """Load the run and compute every diagnostic the report shows."""
    from bayes_needs.checks import diagnostics
    from bayes_needs.workflows import pipeline

    fit = pipeline.load_fit(run_dir)
    seed = fit.config.need.random_seed if random_seed is None else int(random_seed)
    saved = (run_dir / pipeline.ALLOCATION_FILE).is_file()
    if saved:
        allocation = Allocation.from_netcdf(run_dir / pipeline.ALLOCATION_FILE)
    else:
        _, allocation = pipeline.need_and_allocation(fit)
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
    return ReportInputs(fit, allocation, saved, with_logs, predictive, loo, pit, psens, seed,
                        notes)


# ====================================================================== plots
def _png(fig: Figure) -> bytes:
    from bayes_needs.workflows.sensitivity import figure_png

    return figure_png(fig, dpi=_DPI)


def _hyperparameters(inputs: ReportInputs) -> list[str]:
    """Hyperparameters to plot (correlations left out: their diagonal is constant)."""
    from bayes_needs.models.area import HYPERPARAMETERS

    post = idata_io.posterior(inputs.fit.idata)
    return [v for v in HYPERPARAMETERS if v in post and v != "la_corr"]


def plot_trace(inputs: ReportInputs) -> Figure:
    """ArviZ trace plot of the hyperparameters (all elements of a variable in one panel)."""
    names = _hyperparameters(inputs)
    fig = Figure(figsize=(11, 2.0 * len(names)), layout="constrained")
    axes = fig.subplots(len(names), 2, squeeze=False)
    az.plot_trace(inputs.fit.idata, var_names=names, compact=True, axes=axes, show=False)
    fig.suptitle("Trace plot: hyperparameters (left: density per chain; right: draws)")
    return fig


def plot_rank(inputs: ReportInputs) -> Figure:
    """ArviZ rank plot of every hyperparameter element (uniform bars = good mixing)."""
    names = _hyperparameters(inputs)
    post = idata_io.posterior(inputs.fit.idata)
    n_panels = sum(int(np.prod([post[v].sizes[d] for d in post[v].dims
                                if d not in (dims.CHAIN, dims.DRAW)])) for v in names)
    cols = min(5, n_panels)
    rows = int(np.ceil(n_panels / cols))
    fig = Figure(figsize=(2.6 * cols, 2.0 * rows + 0.6), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    az.plot_rank(inputs.fit.idata, var_names=names, ax=axes.ravel()[:n_panels], show=False)
    for ax in axes.ravel()[n_panels:]:
        ax.set_axis_off()
    fig.suptitle("Rank plot: rank histograms per chain (flat bars = chains agree)")
    return fig


def plot_energy(inputs: ReportInputs) -> Figure:
    """ArviZ energy plot (marginal energy vs energy transitions) with BFMI per chain."""
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    stats = idata_io.sample_stats(inputs.fit.idata)
    if stats is None or "energy" not in stats:
        ax.set_axis_off()
        ax.text(0.5, 0.5, UNAVAILABLE_TEXT["energy"], ha="center", va="center")
        return fig
    az.plot_energy(inputs.fit.idata, ax=ax, show=False)
    ax.set_title("Energy plot (similar distributions = efficient exploration)")
    return fig


def plot_rootogram(inputs: ReportInputs) -> Figure:
    """Hanging rootogram per service: observed count frequencies hang from the predicted."""
    from bayes_needs.checks.diagnostics import observed_variables

    model = inputs.fit.model
    observed = idata_io.observed_data(inputs.diagnostics_idata)
    chosen: dict[str, tuple[str, str]] = {}
    for name, service, level in observed_variables(model):
        # Prefer the finest level with proper per-observation counts: MSOA, then LSOA, LA.
        order = {dims.MSOA: 0, dims.LSOA: 1, dims.LA: 2}
        if service not in chosen or order[level] < order[chosen[service][1]]:
            chosen[service] = (name, level)
    services = list(chosen)
    cols = min(3, max(1, len(services)))
    rows = int(np.ceil(len(services) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.3 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, service in zip(axes, services, strict=False):
        name, level = chosen[service]
        y = np.asarray(observed[name].to_numpy() if observed is not None and name in observed
                       else inputs.predictive[name].isel(chain=0, draw=0).to_numpy())
        rep = inputs.predictive[name].stack(__s__=(dims.CHAIN, dims.DRAW)) \
            .transpose("__s__", ...).to_numpy()
        edges = _count_bins(max(int(y.max()), int(np.quantile(rep, 0.99))))
        observed_freq = np.histogram(y, edges)[0]
        expected = np.mean([np.histogram(r, edges)[0] for r in rep], axis=0)
        centres = (edges[:-1] + edges[1:] - 1) / 2.0
        width = (edges[1] - edges[0]) * 0.8
        top = np.sqrt(expected)
        ax.bar(centres, np.sqrt(observed_freq), bottom=top - np.sqrt(observed_freq),
               width=width, color="0.75", edgecolor="0.45", label="observed (hanging)")
        ax.plot(centres, top, "o-", color="C3", markersize=3, label="expected")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"{service} ({level} counts, n = {len(y)})", fontsize="medium")
        ax.set_xlabel("count")
        ax.set_ylabel("sqrt(frequency)")
    for ax in axes[len(services):]:
        ax.set_axis_off()
    if services:
        axes[0].legend(fontsize="small")
    fig.suptitle("Posterior predictive check (rootogram) per service: bars not reaching 0 "
                 "mean too few predicted, bars below 0 too many")
    return fig


def _count_bins(upper: int) -> np.ndarray:
    """Integer-aligned bin edges covering 0..upper in at most :data:`_MAX_ROOTOGRAM_BINS`."""
    width = max(1, int(np.ceil((upper + 1) / _MAX_ROOTOGRAM_BINS)))
    return np.arange(0, upper + width + 1, width)


def plot_loo_pit(inputs: ReportInputs) -> Figure:
    """ECDF difference of randomised LOO-PIT values per service, with 99% bands."""
    from scipy.stats import uniform

    services = list(inputs.pit)
    cols = min(3, max(1, len(services)))
    rows = max(1, int(np.ceil(len(services) / cols)))
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, service in zip(axes, services, strict=False):
        values = inputs.pit[service]
        az.plot_ecdf(values, cdf=uniform(0, 1).cdf, difference=True, confidence_bands=True,
                     ci_prob=0.99, eval_points=np.linspace(0.0, 1.0, 101), ax=ax,
                     show=False, rvs=uniform(0, 1).rvs, random_state=inputs.random_seed)
        ax.set_title(f"{service} (n = {len(values)})", fontsize="medium")
        ax.set_xlabel("LOO-PIT")
    for ax in axes[len(services):]:
        ax.set_axis_off()
    fig.suptitle("LOO-PIT per service (MSOA and LA counts): inside the band = calibrated")
    return fig


def plot_pareto_k(inputs: ReportInputs) -> Figure:
    """Pareto k per LA (ArviZ khat plot), high-k LAs labelled."""
    loo = inputs.loo
    n = len(loo.table)
    fig = Figure(figsize=(max(7, min(16, 0.09 * n + 6)), 4.2), layout="constrained")
    ax = fig.add_subplot()
    az.plot_khat(loo.elpd, ax=ax, show_hlines=True, threshold=None, show=False)
    ax.axhline(loo.good_k, color="C1", linestyle="--", linewidth=1)
    k = loo.elpd.pareto_k.to_numpy()
    codes = loo.elpd.pareto_k[dims.LA].to_numpy().astype(str)
    for i in np.flatnonzero(k > loo.good_k):
        ax.annotate(codes[i], (i, k[i]), textcoords="offset points", xytext=(3, 3),
                    fontsize="x-small")
    if len(codes) <= 40:
        ax.set_xticks(np.arange(len(codes)), codes, rotation=90, fontsize="small")
        ax.set_xlabel("LA")
    else:
        ax.set_xlabel("LA (data index; LAs above the threshold labelled)")
    ax.set_title(f"Pareto k per LA, each LA's data left out (threshold {loo.good_k:.2f})",
                 fontsize="medium")
    return fig


def _share_summary(inputs: ReportInputs) -> pd.DataFrame:
    return inputs.allocation.summary()


def plot_shares_forest(inputs: ReportInputs) -> Figure:
    """Forest plot: each LA's posterior mean share with its credible interval."""
    table = _share_summary(inputs).sort_values("share_mean", kind="stable")
    n = len(table)
    fig = Figure(figsize=(8, 1.4 + 0.16 * n), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)
    pct = 100.0
    ax.hlines(y, table["share_lower"] * pct, table["share_upper"] * pct, color="C0",
              linewidth=1.6)
    ax.plot(table["share_mean"] * pct, y, "o", color="C0", markersize=3.5)
    if "baseline_share" in table:
        ax.plot(table["baseline_share"] * pct, y, "|", color="C3", markersize=8,
                label="baseline share")
        ax.legend(fontsize="small")
    ax.set_yticks(y, [f"{c} {nm}"[:38] for c, nm in zip(table["la_code"], table["la_name"],
                                                         strict=True)],
                  fontsize="x-small" if n > 40 else "small")
    ax.set_ylim(-1, n)
    ax.set_xlabel("share of the pot (%)")
    ax.set_title(f"Forest plot of LA shares: mean and {_interval_text(inputs)} interval")
    return fig


def plot_la_ranking(inputs: ReportInputs) -> Figure:
    """LA ranking plot: median rank (1 = largest share) with its credible interval."""
    table = _share_summary(inputs).sort_values(["rank_median", "share_mean"],
                                               ascending=[True, False], kind="stable")
    n = len(table)
    fig = Figure(figsize=(8, 1.4 + 0.16 * n), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(n)[::-1]
    ax.hlines(y, table["rank_lower"], table["rank_upper"], color="C2", linewidth=1.6)
    ax.plot(table["rank_median"], y, "s", color="C2", markersize=3.5)
    ax.set_yticks(y, [f"{c} {nm}"[:38] for c, nm in zip(table["la_code"], table["la_name"],
                                                         strict=True)],
                  fontsize="x-small" if n > 40 else "small")
    ax.set_ylim(-1, n)
    ax.set_xlabel("rank of share (1 = largest)")
    ax.set_title(f"LA ranking plot: median rank and {_interval_text(inputs)} interval")
    return fig


def _interval_text(inputs: ReportInputs) -> str:
    a = inputs.allocation
    return describe_interval(a.interval_prob, a.interval_kind)


PLOT_FUNCTIONS: dict[str, Callable[[ReportInputs], Figure]] = {
    "trace": plot_trace, "rank": plot_rank, "energy": plot_energy,
    "ppc_rootogram": plot_rootogram, "loo_pit": plot_loo_pit, "pareto_k": plot_pareto_k,
    "shares_forest": plot_shares_forest, "la_ranking": plot_la_ranking,
}


# ====================================================================== HTML
_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1150px; color: #222; line-height: 1.4; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
.pass { color: #1a7f37; font-weight: bold; } .fail { color: #b42318; font-weight: bold; }
.note { background: #f6f8fa; border-left: 4px solid #999; padding: 0.4em 0.8em; }
.flag { background: #fff4e5; }
nav a { margin-right: 1em; }
"""


def render_html(inputs: ReportInputs, images: dict[str, bytes], title: str) -> str:
    """The self-contained report page."""
    from bayes_needs.workflows import pipeline

    fit = inputs.fit
    conv = pipeline.convergence(fit.idata)
    gate = _gate_record(inputs, conv)
    geo = fit.model.data.geography
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>bayes_needs report: {e(title)}</title>", f"<style>{_CSS}</style>", "</head>",
        "<body>", f"<h1>bayes_needs diagnostic report: {e(title)}</h1>",
        "<nav>" + "".join(f'<a href="#{s}">{e(t)}</a>' for s, t in PLOTS) +
        '<a href="#power-scaling">Power-scaling sensitivity</a></nav>',
    ]
    parts += [f'<p class="note">{e(n)}</p>' for n in inputs.notes]
    settings = {
        "data": f"{fit.model.data.source} ({geo.n_lsoa} LSOAs, {geo.n_msoa} MSOAs, "
                f"{geo.n_la} LAs)",
        "data hash": fit.model.data.data_hash(),
        "services": ", ".join(fit.model.services),
        "covariates": ", ".join(fit.model.covariate_names) or "(none)",
        "model": json.dumps(fit.model.config.to_dict(), sort_keys=True),
        "sampling": f"{fit.config.sampling.sampler}, {conv['n_chains']} chains x "
                    f"{conv['n_draws']} draws, {fit.config.sampling.tune} tuning steps, "
                    f"seed {fit.config.sampling.random_seed}",
        "standardisation": fit.config.need.standardise,
        "intervals": _interval_text(inputs),
        "report seed": str(inputs.random_seed),
        "draws used for diagnostics": str(
            idata_io.posterior(inputs.diagnostics_idata).sizes[dims.CHAIN]
            * idata_io.posterior(inputs.diagnostics_idata).sizes[dims.DRAW]),
    }
    parts += ["<h2 id=\"run\">Run</h2>", _table(["setting", "value"],
                                                [[k, v] for k, v in settings.items()],
                                                align_numbers=False)]
    status_class = "pass" if gate["passed"] else "fail"
    parts += ["<h2 id=\"convergence\">Convergence</h2>",
              f'<p>Convergence gate: <span class="{status_class}">{e(gate["status"])}</span>'
              f" (thresholds: R-hat &le; {gate['thresholds']['rhat_max']}, bulk and tail ESS "
              f"&ge; {gate['thresholds']['ess_min']:g}, divergences &le; "
              f"{gate['thresholds']['divergences_max']}).</p>"]
    if gate["failures"]:
        parts.append("<ul>" + "".join(f"<li>{e(f)}</li>" for f in gate["failures"]) + "</ul>")
    parts.append(_table(["statistic", "value"], [
        ["max R-hat", f"{conv['rhat_max']:.4f}"], ["min bulk ESS", f"{conv['ess_bulk_min']:.0f}"],
        ["min tail ESS", f"{conv['ess_tail_min']:.0f}"], ["divergences", conv["divergences"]],
        ["min BFMI", f"{conv['bfmi_min']:.3f}"]]))
    captions = _captions(inputs)
    stats = idata_io.sample_stats(fit.idata)
    unavailable = set() if stats is not None and "energy" in stats else {"energy"}
    for stem, plot_title in PLOTS:
        data = base64.b64encode(images[stem]).decode("ascii")
        parts.append(f'<h2 id="{stem}">{e(plot_title)}</h2>')
        if stem in unavailable:
            parts.append(f'<p class="note unavailable">{e(UNAVAILABLE_TEXT[stem])}</p>')
        parts += [f"<p>{e(captions[stem])}</p>",
                  f'<img data-plot="{stem}" alt="{e(plot_title)}" '
                  f'src="data:image/png;base64,{data}">']
        if stem == "pareto_k":
            top = inputs.loo.table.head(10)
            parts.append(_table(["LA", "name", "Pareto k", "elpd_loo", "flag"], [
                [r.la_code, r.la_name, f"{r.pareto_k:.2f}", f"{r.elpd_loo:.1f}", r.flag]
                for r in top.itertuples(index=False)], flag_rows=top["flag"] != "ok"))
    ps = inputs.psens
    parts += ["<h2 id=\"power-scaling\">Power-scaling sensitivity</h2>",
              f"<p>{e(ps.attrs.get('comment', ''))}. Diagnosis as priorsense: both above the "
              f"threshold = potential prior-data conflict; prior above and likelihood below = "
              f"potential strong prior / weak likelihood.</p>",
              _table(["parameter", "prior", "likelihood", "diagnosis"], [
                  [r.parameter, f"{r.prior:.3f}", f"{r.likelihood:.3f}", r.diagnosis]
                  for r in ps.itertuples(index=False)], flag_rows=ps["diagnosis"] != "-")]
    parts += ["</body>", "</html>"]
    return "\n".join(parts) + "\n"


def _gate_record(inputs: ReportInputs, conv: dict[str, Any]) -> dict[str, Any]:
    raw = inputs.allocation.draws.attrs.get(GATE_ATTR) if inputs.allocation_saved else None
    return json.loads(raw) if raw else evaluate(conv).to_dict()


def _captions(inputs: ReportInputs) -> dict[str, str]:
    flagged = inputs.loo.table[inputs.loo.table["flag"] != "ok"]
    worst = ", ".join(f"{r.la_code} ({r.pareto_k:.2f})" for r in flagged.head(5).itertuples())
    lower, upper = credible_interval(inputs.allocation.draws["share"],
                                     interval_prob=inputs.allocation.interval_prob,
                                     interval_kind=inputs.allocation.interval_kind)
    widest = float((upper - lower).max()) * 100
    return {
        "trace": "Posterior density per chain (left) and the draws in order (right) for each "
                 "hyperparameter; chains should overlap and look like stationary noise.",
        "rank": "Rank histograms of the pooled draws, one bar set per chain; roughly uniform "
                "bars mean the chains mix.",
        "energy": "Marginal energy against energy transitions; strongly different widths (low "
                  "BFMI) mean the sampler explores the tails poorly.",
        "ppc_rootogram": "For each service, observed count frequencies (bars) hang from the "
                         "posterior predictive expected frequencies (line) on a square-root "
                         "scale; systematic gaps show where the count distribution is wrong.",
        "loo_pit": "Randomised leave-one-out probability integral transform values of the "
                   "MSOA and LA counts, shown as the ECDF minus the uniform CDF; outside the "
                   "band means miscalibration (a U shape: too narrow predictions; a hump: too "
                   "wide).",
        "pareto_k": f"Pareto k of PSIS-LOO leaving each LA's data out: {len(flagged)} LA(s) "
                    f"above the threshold {inputs.loo.good_k:.2f}"
                    + (f", highest {worst}" if worst else "") + ".",
        "shares_forest": f"Each LA's share of the pot: posterior mean and "
                         f"{_interval_text(inputs)} interval (widest interval "
                         f"{widest:.2f} percentage points).",
        "la_ranking": "Rank of each LA's share (1 = largest): median and interval over "
                      "posterior draws.",
    }


def _table(header: list[str], rows: list[list[Any]], *, flag_rows=None,
           align_numbers: bool = True) -> str:
    e = html.escape
    flags = list(flag_rows) if flag_rows is not None else [False] * len(rows)
    out = ["<table>", "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>"]
    for row, flagged in zip(rows, flags, strict=True):
        cells = []
        for value in row:
            text = str(value)
            numeric = align_numbers and _is_number(text)
            cells.append(f'<td class="num">{e(text)}</td>' if numeric else f"<td>{e(text)}</td>")
        attr = ' class="flag"' if flagged else ""
        out.append(f"<tr{attr}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
