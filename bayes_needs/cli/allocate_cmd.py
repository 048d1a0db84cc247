"""``bayes-needs allocate``: turn a fit into LA shares with credible intervals."""

from __future__ import annotations

import argparse
import sys

from bayes_needs.cli.common import existing_dir, output_dir
from bayes_needs.cli.run_options import add_allocation_options, apply_options


def register(subparsers) -> None:
    """Add the ``allocate`` sub-command."""
    parser = subparsers.add_parser(
        "allocate", help="turn a fit into LA shares with intervals",
        description="Reload a fit written by 'bayes-needs fit' (checking the data hash), "
                    "compute expected need and allocate. Writes allocations.csv, demand.csv, "
                    "allocation.nc and summary.txt.")
    parser.add_argument("run_dir", type=existing_dir, help="run directory written by 'fit'")
    parser.add_argument("--out", type=output_dir, default=None,
                        help="output directory (default: the run directory)")
    add_allocation_options(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Allocate from a saved fit."""
    from bayes_needs import pipeline

    print(f"bayes-needs allocate: loading {args.run_dir} ...", file=sys.stderr)
    fit = pipeline.load_fit(args.run_dir)
    fit.config = apply_options(fit.config, args)
    need, allocation = pipeline.need_and_allocation(fit)
    out = args.out or args.run_dir
    pipeline.write_allocation(fit, need, allocation, out)
    print(f"allocations written to {out / pipeline.ALLOCATIONS_CSV}")
    return 0
