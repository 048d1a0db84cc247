"""``bayes-needs allocate``: turn a fit into LA shares with credible intervals."""

from __future__ import annotations

import argparse

from bayes_needs.checks.gate import CLI_HINTS
from bayes_needs.cli.common import existing_dir, output_dir
from bayes_needs.cli.gate_option import add_gate_option, warn_if_failed
from bayes_needs.cli.run_options import (
    add_allocation_options,
    add_cost_weight_option,
    configure,
)
from bayes_needs.core.progress import info
from bayes_needs.workflows import pipeline
from bayes_needs.workflows.decomposition import DECOMPOSITION_CSV, decomposition_text
from bayes_needs.workflows.runs import allocate_run


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``allocate`` sub-command.

    Parameters
    ----------
    subparsers
        The top-level parser's sub-parsers.
    """
    parser = subparsers.add_parser(
        "allocate", help="turn a fit into LA shares with intervals",
        description="Reload a fit written by 'bayes-needs fit' (checking the data hash), "
                    "compute expected need and allocate. Writes allocations.csv, demand.csv, "
                    "allocation.nc and summary.txt.")
    parser.add_argument("run_dir", type=existing_dir, help="run directory written by 'fit'")
    parser.add_argument("--out", type=output_dir, default=None,
                        help="output directory (default: the run directory)")
    add_allocation_options(parser)
    add_cost_weight_option(parser)
    add_gate_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Allocate from a saved fit.

    The options override the run's stored config before the fit is reloaded, so a bad value
    is reported before any data are read.

    Parameters
    ----------
    args
        Parsed arguments.

    Returns
    -------
    int
        The exit code.
    """
    config = configure(pipeline.read_run_config(args.run_dir), args)
    info(f"bayes-needs allocate: loading {args.run_dir} ...")
    outcome = allocate_run(args.run_dir, config, out_dir=args.out,
                           allow_unconverged=args.allow_unconverged,
                           cost_weights_file=args.cost_weights, gate_hints=CLI_HINTS)
    warn_if_failed(outcome.gate, args.run_dir / pipeline.FIT_FILE)
    print(f"allocations written to {outcome.out_dir / pipeline.ALLOCATIONS_CSV}")
    if outcome.decomposition is not None:
        print(decomposition_text(outcome.decomposition))
        print(f"interval-width decomposition written to "
              f"{outcome.out_dir / DECOMPOSITION_CSV}")
    return 0
