"""The report as one self-contained HTML page: decision-makers first, then the modeller.

Every plot is embedded as a base64 PNG; the page has no scripts and no external links. The
decision-maker section (:mod:`bayes_needs.report.decision_html`) opens it; the modeller's
diagnostics follow with their tables: run settings, convergence with the gate result,
power-scaling sensitivity of every hyperparameter (flagged as priorsense does) and the LAs
with the highest Pareto k (pointing to LA-grouped K-fold when PSIS-LOO is unreliable).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from typing import Any

from bayes_needs.checks.gate import GATE_ATTR, Thresholds, evaluate, threshold_text
from bayes_needs.core import dims
from bayes_needs.core import idata as idata_io
from bayes_needs.core.convergence import describe_method, is_approximate
from bayes_needs.core.intervals import check_interval, credible_interval
from bayes_needs.core.text import count_of, is_number
from bayes_needs.report.decision import decision_table
from bayes_needs.report.decision_html import SECTION_ID, decision_section
from bayes_needs.report.diagnostic_plots import energy_available
from bayes_needs.report.inputs import PLOTS, UNAVAILABLE_TEXT, ReportInputs

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
table.decision { font-size: 0.78em; } table.decision td { white-space: nowrap; }
.wide { overflow-x: auto; }
"""
#: LAs listed under the Pareto k plot.
_TOP_PARETO_ROWS = 10


def render_html(inputs: ReportInputs, images: dict[str, bytes], title: str) -> str:
    """Render the self-contained report page.

    Parameters
    ----------
    inputs
        The report's inputs.
    images
        PNG bytes of every plot of :data:`~bayes_needs.report.inputs.PLOTS`, by file stem.
    title
        Name of the run shown in the page title (the run directory's name); ``images`` also
        holds the decision-maker section's plots.

    Returns
    -------
    str
        The HTML document, ending with a newline.
    """
    fit = inputs.fit
    conv = inputs.convergence
    gate = _gate_record(inputs)
    geo = fit.model.data.geography
    e = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        f"<title>bayes_needs report: {e(title)}</title>", f"<style>{_CSS}</style>", "</head>",
        "<body>", f"<h1>bayes_needs report: {e(title)}</h1>",
        f'<nav><a href="#{SECTION_ID}">For decision-makers</a>'
        + "".join(f'<a href="#{s}">{e(t)}</a>' for s, t in PLOTS) +
        '<a href="#power-scaling">Power-scaling sensitivity</a></nav>',
    ]
    parts += [f'<p class="note">{e(n)}</p>' for n in inputs.notes]
    diagnostics_posterior = idata_io.posterior(inputs.diagnostics_idata)
    parts += decision_section(decision_table(inputs.allocation, inputs.decision),
                              inputs.decision, images,
                              int(inputs.allocation.draws.sizes[dims.CHAIN]
                                  * inputs.allocation.draws.sizes[dims.DRAW]),
                              gate_failures=[] if gate["passed"] else list(gate["failures"]))
    parts += ['<h2 id="diagnostics">For modellers: diagnostics</h2>',
              "<p>How far the fit and its allocation can be trusted: the run's settings, "
              "convergence, predictive checks, leave-one-LA-out checks and sensitivity.</p>"]
    settings = {
        "data": f"{fit.model.data.source} ({geo.n_lsoa} LSOAs, {geo.n_msoa} MSOAs, "
                f"{geo.n_la} LAs)",
        "data hash": fit.model.data.data_hash(),
        "services": ", ".join(fit.model.services),
        "covariates": ", ".join(fit.model.covariate_names) or "(none)",
        "model": json.dumps(fit.model.config.to_dict(), sort_keys=True),
        "sampling": f"{describe_method(conv)}, {conv['n_chains']} x {conv['n_draws']} draws, "
                    f"seed {fit.config.sampling.random_seed}" if is_approximate(conv) else
                    f"{fit.config.sampling.sampler}, {conv['n_chains']} chains x "
                    f"{conv['n_draws']} draws, {fit.config.sampling.tune} tuning steps, "
                    f"seed {fit.config.sampling.random_seed}",
        "standardisation": fit.config.need.standardise,
        "intervals": inputs.interval_text,
        "report seed": str(inputs.random_seed),
        "draws used for diagnostics": str(diagnostics_posterior.sizes[dims.CHAIN]
                                          * diagnostics_posterior.sizes[dims.DRAW]),
    }
    parts += ["<h2 id=\"run\">Run</h2>", _table(["setting", "value"],
                                                [[k, v] for k, v in settings.items()],
                                                align_numbers=False)]
    status_class = "pass" if gate["passed"] else "fail"
    approximate = is_approximate(conv)
    thresholds = threshold_text(Thresholds(**gate["thresholds"]), approximate)
    parts += ["<h2 id=\"convergence\">Convergence</h2>",
              f'<p>Convergence gate: <span class="{status_class}">{e(gate["status"])}</span>'
              f" (thresholds: {e(thresholds)}).</p>"]
    if gate["failures"]:
        parts.append("<ul>" + "".join(f"<li>{e(f)}</li>" for f in gate["failures"]) + "</ul>")
    if approximate:
        parts += [f'<p class="note">The posterior is approximate: {e(describe_method(conv))}. '
                  f"Its draws are independent, so R-hat and ESS do not apply; the Pareto "
                  f"k&#770; of its importance weights says how far it can be trusted.</p>",
                  _table(["statistic", "value"], [
                      ["method", conv["method"]], ["Pareto k̂", f"{conv['pareto_k']:.3f}"],
                      ["importance ESS", f"{conv['importance_ess']:.0f}"]])]
    else:
        parts.append(_table(["statistic", "value"], [
            ["max R-hat", f"{conv['rhat_max']:.4f}"],
            ["min bulk ESS", f"{conv['ess_bulk_min']:.0f}"],
            ["min tail ESS", f"{conv['ess_tail_min']:.0f}"],
            ["divergences", conv["divergences"]], ["min BFMI", f"{conv['bfmi_min']:.3f}"]]))
    parts += _plot_sections(inputs, images)
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


def _plot_sections(inputs: ReportInputs, images: dict[str, bytes]) -> list[str]:
    """One section per plot: heading, caption, embedded image (and the Pareto k table)."""
    e = html.escape
    captions = _captions(inputs)
    unavailable = set() if energy_available(inputs) else {"energy"}
    parts = []
    for stem, plot_title in PLOTS:
        data = base64.b64encode(images[stem]).decode("ascii")
        parts.append(f'<h2 id="{stem}">{e(plot_title)}</h2>')
        if stem in unavailable:
            parts.append(f'<p class="note unavailable">{e(UNAVAILABLE_TEXT[stem])}</p>')
        parts += [f"<p>{e(captions[stem])}</p>",
                  f'<img data-plot="{stem}" alt="{e(plot_title)}" '
                  f'src="data:image/png;base64,{data}">']
        if stem == "pareto_k":
            top = inputs.loo.table.head(_TOP_PARETO_ROWS)
            parts.append(_table(["LA", "name", "Pareto k", "elpd_loo", "flag"], [
                [r.la_code, r.la_name, f"{r.pareto_k:.2f}", f"{r.elpd_loo:.1f}", r.flag]
                for r in top.itertuples(index=False)], flag_rows=top["flag"] != "ok"))
            parts += _kfold_advice(inputs)
    return parts


def _kfold_advice(inputs: ReportInputs) -> list[str]:
    """Point to LA-grouped K-fold when some LAs' Pareto k makes PSIS-LOO unreliable."""
    flagged = inputs.loo.table[inputs.loo.table["flag"] != "ok"]
    if flagged.empty:
        return []
    return [f'<p class="note kfold">{count_of(len(flagged), "LA")} '
            f"{'has' if len(flagged) == 1 else 'have'} Pareto k above "
            f"{inputs.loo.good_k:.2f}: PSIS-LOO's estimate for them is unreliable, and so is "
            f"the total elpd. Check the model with <b>LA-grouped K-fold cross-validation</b> "
            f"instead: split the LAs into K groups (say 10), refit K times with one group's "
            f"data left out, and score the left-out LAs' log predictive density (Vehtari, "
            f"Gelman and Gabry 2017, section 4.1). Strongly influential LAs are often "
            f"those with unusual counts or few areas; see the table above.</p>"]


def _gate_record(inputs: ReportInputs) -> dict[str, Any]:
    """Return the gate result saved with the allocation, else apply the gate now."""
    raw = inputs.allocation.draws.attrs.get(GATE_ATTR) if inputs.allocation_saved else None
    return json.loads(raw) if raw else evaluate(inputs.convergence).to_dict()


def _captions(inputs: ReportInputs) -> dict[str, str]:
    """Write the caption under each plot, with the figures it quotes."""
    flagged = inputs.loo.table[inputs.loo.table["flag"] != "ok"]
    worst = ", ".join(f"{r.la_code} ({r.pareto_k:.2f})" for r in flagged.head(5).itertuples())
    prob, kind = check_interval(inputs.allocation.interval_prob,
                                inputs.allocation.interval_kind)
    lower, upper = credible_interval(inputs.allocation.draws["share"], interval_prob=prob,
                                     interval_kind=kind)
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
        "pareto_k": f"Pareto k of PSIS-LOO leaving each LA's data out: "
                    f"{count_of(len(flagged), 'LA')} "
                    f"above the threshold {inputs.loo.good_k:.2f}"
                    + (f", highest {worst}" if worst else "") + ".",
        "shares_forest": f"Each LA's share of the pot: posterior mean and "
                         f"{inputs.interval_text} interval (widest interval "
                         f"{widest:.2f} percentage points).",
        "la_ranking": "Rank of each LA's share (1 = largest): median and interval over "
                      "posterior draws.",
    }


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], *,
           flag_rows: Iterable[bool] | None = None, align_numbers: bool = True) -> str:
    """Render an HTML table, numbers right-aligned and flagged rows highlighted."""
    e = html.escape
    flags = list(flag_rows) if flag_rows is not None else [False] * len(rows)
    out = ["<table>", "<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in header) + "</tr>"]
    for row, flagged in zip(rows, flags, strict=True):
        cells = []
        for value in row:
            text = str(value)
            numeric = align_numbers and is_number(text)
            cells.append(f'<td class="num">{e(text)}</td>' if numeric else f"<td>{e(text)}</td>")
        attr = ' class="flag"' if flagged else ""
        out.append(f"<tr{attr}>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)

