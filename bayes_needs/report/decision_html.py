"""The decision-maker section of the report page: money per LA, change, map, deprivation.

It opens the page (:func:`bayes_needs.report.html.render_html`): a sentence on the pot, the
interval and the baseline, the hex map, the deprivation plot, then the table of
:func:`bayes_needs.report.decision.decision_table`, one row per LA.
"""

from __future__ import annotations

import base64
import html
from types import SimpleNamespace

import pandas as pd

from bayes_needs.core.intervals import describe_interval
from bayes_needs.core.text import count_of
from bayes_needs.report.decision import DecisionInputs
from bayes_needs.report.inputs import DECISION_PLOTS

#: Id of the section's heading (the page's first section).
SECTION_ID = "decision"


def decision_section(table: pd.DataFrame, inputs: DecisionInputs, images: dict[str, bytes],
                     n_draws: int, *, gate_failures: list[str]) -> list[str]:
    """Render the decision-maker section as HTML fragments.

    Parameters
    ----------
    table
        The decision table (:func:`~bayes_needs.report.decision.decision_table`).
    inputs
        Pot, currency, baseline and notes.
    images
        PNG bytes of every plot of :data:`~bayes_needs.report.inputs.DECISION_PLOTS`.
    n_draws
        Posterior draws the table summarises.
    gate_failures
        Why the fit failed the convergence gate (empty when it passed), said first.

    Returns
    -------
    list of str
        The section's HTML, heading first.
    """
    e = html.escape
    interval = describe_interval(table.attrs["interval_prob"], table.attrs["interval_kind"])
    above = int((table["change_lower"] > 0).sum())
    below = int((table["change_upper"] < 0).sum())
    parts = [
        f'<section id="{SECTION_ID}-section">',
        f'<h2 id="{SECTION_ID}">For decision-makers: the allocation per LA</h2>',
        f"<p>A pot of <b>{e(inputs.money(inputs.pot))}</b> ({e(inputs.currency)}) shared "
        f"among {len(table)} LAs by their estimated relative need. Every range is a "
        f"<b>{e(interval)}</b> credible interval ({e(table.attrs['interval_kind'])}) over "
        f"{n_draws} posterior draws: the LA's amount lies in it with probability "
        f"{table.attrs['interval_prob']:.0%} given the model and data. The baseline is "
        f"<b>{e(inputs.baseline_label)}</b>; the change is the share's change against it, "
        f"in money at this pot, and P(gain) is the posterior probability that the LA's "
        f"share exceeds its baseline share.</p>",
        f"<p>{count_of(above, 'LA')} {'gains' if above == 1 else 'gain'} and {below} "
        f"{'loses' if below == 1 else 'lose'} with their whole {e(interval)} interval "
        f"of change on one side of zero; for the other {len(table) - above - below} the "
        f"interval includes no change.</p>",
    ]
    if gate_failures:
        parts.insert(2, f'<p class="note fail">The fit failed the convergence gate '
                        f'({e("; ".join(gate_failures))}): these figures are not reliable '
                        f"until it is refitted (see Convergence below).</p>")
    parts += [f'<p class="note">{e(n)}</p>' for n in inputs.notes]
    for stem, title in DECISION_PLOTS:
        data = base64.b64encode(images[stem]).decode("ascii")
        parts += [f'<h3 id="{stem}">{e(title)}</h3>',
                  f'<img data-plot="{stem}" alt="{e(title)}" '
                  f'src="data:image/png;base64,{data}">']
    parts += [f'<h3 id="{SECTION_ID}-table">Allocation per LA ({e(interval)} intervals)</h3>',
              '<div class="wide">', _table(table, inputs), "</div>", "</section>"]
    return parts


def _table(table: pd.DataFrame, inputs: DecisionInputs) -> str:
    """Render the per-LA table, largest amount first (per-child intervals: the CSV's)."""
    e = html.escape
    header = ["LA", "name", "children", "allocation", "interval", "per child", "baseline",
              "change", "change interval", "change of share", "P(gain)"]
    out = ['<table class="decision">',
           "<tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>"]
    def money(value: float, signed: bool = False) -> str:
        return inputs.money(value, signed=signed, short=True)

    for row in table.to_dict("records"):
        r = SimpleNamespace(**{str(k): v for k, v in row.items()})
        cells = [
            (r.la_code, False), (r.la_name, False), (f"{r.children:,.0f}", True),
            (money(r.allocation_mean), True),
            (f"{money(r.allocation_lower)} to {money(r.allocation_upper)}", True),
            (inputs.money(r.per_child_mean), True),
            (money(r.baseline_allocation), True), (money(r.change_mean, signed=True), True),
            (f"{money(r.change_lower, signed=True)} to {money(r.change_upper, signed=True)}",
             True),
            (f"{r.change_pct_mean:+.1f}%", True), (f"{r.prob_gain:.2f}", True),
        ]
        out.append("<tr>" + "".join(f'<td class="num">{e(str(v))}</td>' if numeric
                                    else f"<td>{e(str(v))}</td>" for v, numeric in cells)
                   + "</tr>")
    out.append("</table>")
    return "\n".join(out)
