"""Figure of a rolling-origin backtest (:mod:`bayes_needs.workflows.backtest`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from bayes_needs.checks.forecast_scores import MODEL
from bayes_needs.core import dims
from bayes_needs.core.errors import ConfigError

#: Rows of the figure: (summary column, nominal value or ``None``, axis label).
PANELS: tuple[tuple[str, float | None, str], ...] = (
    ("coverage_50", 0.5, "coverage of 50% interval"),
    ("coverage_90", 0.9, "coverage of 90% interval"),
    ("interval_score_90", None, "90% interval score"),
)
#: Half-width of the error bars on a coverage, in binomial standard errors (about 95%).
COVERAGE_SE_MULTIPLE = 1.96


def backtest_figure(summary: pd.DataFrame) -> Figure:
    """Draw coverage and interval score by service, horizon and model, side by side.

    One column of panels per service; rows: coverage of the 50% and of the 90% interval
    (nominal level dashed; bars +/- 1.96 binomial standard errors) and the mean 90% interval
    score (lower is better; log scale when every score is positive). Within a panel,
    horizons are groups along the x axis and models are bars side by side.

    Parameters
    ----------
    summary
        The backtest summary: columns ``model``, ``service``, ``horizon`` and those of
        :data:`PANELS` (``coverage_{pct}_se`` used when present).

    Returns
    -------
    matplotlib.figure.Figure
        The figure.

    Raises
    ------
    ConfigError
        If the summary is empty or lacks a column.
    """
    needed = [MODEL, dims.SERVICE, dims.HORIZON, *(c for c, _, _ in PANELS)]
    missing = [c for c in needed if c not in summary.columns]
    if missing or summary.empty:
        raise ConfigError(f"cannot plot the backtest: "
                          f"{f'columns {missing} missing' if missing else 'no scored cases'}")
    services = list(dict.fromkeys(summary[dims.SERVICE]))
    models = list(dict.fromkeys(summary[MODEL]))
    horizons = sorted(int(h) for h in summary[dims.HORIZON].unique())
    fig = Figure(figsize=(2.2 + 2.8 * len(services), 7.5), layout="constrained")
    axes = fig.subplots(len(PANELS), len(services), squeeze=False, sharex=True)
    width = 0.8 / len(models)
    x = np.arange(len(horizons))
    for col, service in enumerate(services):
        rows = summary[summary[dims.SERVICE] == service]
        for row, (column, nominal, label) in enumerate(PANELS):
            ax = axes[row, col]
            for j, model in enumerate(models):
                own = rows[rows[MODEL] == model].set_index(dims.HORIZON)
                values = own[column].reindex(horizons).to_numpy(dtype=float)
                se_column = f"{column}_se"
                err = None
                if se_column in own.columns:
                    err = COVERAGE_SE_MULTIPLE * own[se_column].reindex(horizons).to_numpy(
                        dtype=float)
                ax.bar(x + (j - (len(models) - 1) / 2) * width, values, width, yerr=err,
                       capsize=2, color=f"C{j}", label=model if row == col == 0 else None)
            if nominal is not None:
                ax.axhline(nominal, color="black", linestyle="--", linewidth=0.9)
                ax.set_ylim(0.0, 1.05)
            elif np.nanmin(rows[column].to_numpy(dtype=float), initial=np.inf) > 0:
                ax.set_yscale("log")  # models' scores can differ by orders of magnitude
            if row == 0:
                ax.set_title(service)
            if col == 0:
                ax.set_ylabel(label)
            if row == len(PANELS) - 1:
                ax.set_xticks(x, [str(h) for h in horizons])
                ax.set_xlabel("horizon (years ahead)")
    fig.legend(loc="outside lower center", ncol=len(models), title="model",
               fontsize="small", title_fontsize="small")
    fig.suptitle("Rolling-origin backtest: interval coverage (dashed: nominal) and "
                 "interval score", fontsize="medium")
    return fig
