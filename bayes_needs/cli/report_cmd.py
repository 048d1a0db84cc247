"""``bayes-needs report RUN_DIR``: a self-contained HTML report of a run (decision-makers first)."""

from __future__ import annotations

import argparse

from bayes_needs.checks.diagnostics import MIN_PSIS_DRAWS
from bayes_needs.cli.common import existing_dir, non_negative_int, whole_number
from bayes_needs.core.progress import info
from bayes_needs.workflows.report import build_report


def draw_count(value: str) -> int:
    """Parse a number of posterior draws the report may thin to (an argparse type)."""
    parsed = whole_number(value)
    if parsed < MIN_PSIS_DRAWS:
        raise argparse.ArgumentTypeError(f"must be >= {MIN_PSIS_DRAWS} (PSIS-LOO needs at "
                                         f"least {MIN_PSIS_DRAWS} draws), got {parsed}")
    return parsed


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``report`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "report", help="write RUN_DIR/report.html with ArviZ diagnostics and plots",
        description="Reload a fit (checking the data hash) and write RUN_DIR/report.html, "
                    "self-contained with every plot embedded: trace, rank and energy plots, "
                    "posterior predictive rootograms and LOO-PIT per service, Pareto k per "
                    "LA, a forest plot of LA shares and an LA ranking plot, with convergence "
                    "and power-scaling tables. The plots are also written to RUN_DIR/plots/, "
                    "with pareto_k.csv and power_scaling.csv in RUN_DIR.")
    parser.add_argument("run_dir", type=existing_dir,
                        help="run directory written by 'fit' or 'demo'")
    parser.add_argument("--seed", type=non_negative_int, default=None,
                        help="seed of the posterior predictive draws and LOO-PIT "
                             "randomisation (default: the run's need.random_seed)")
    parser.add_argument("--max-draws", type=draw_count, default=1000,
                        help="posterior draws used for LOO and power-scaling, thinned evenly "
                             "(default 1000)")
    parser.add_argument("--baseline", default=None, metavar="FILE",
                        help="CSV the change per LA is measured against: la_code and share "
                             "(or allocation), or an earlier run's allocations.csv (default: "
                             "the run's allocation baseline, else each LA's share of the "
                             "children)")
    parser.add_argument("--predictive-draws", type=draw_count, default=200,
                        help="posterior draws used for the predictive checks (default 200)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the report.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    info(f"bayes-needs report: loading {args.run_dir} and computing diagnostics ...")
    path = build_report(args.run_dir, random_seed=args.seed, max_draws=args.max_draws,
                        predictive_draws=args.predictive_draws, baseline=args.baseline,
                        progress=True)
    print(f"report written to {path}")
    return 0
