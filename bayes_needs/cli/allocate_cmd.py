"""``bayes-needs allocate``: turn a fit into LA shares with credible intervals."""

from __future__ import annotations

import argparse
import sys

from bayes_needs.cli.common import existing_dir, output_dir
from bayes_needs.cli.gate_option import add_gate_option, gate_fit
from bayes_needs.cli.run_options import (
    add_allocation_options,
    add_cost_weight_option,
    apply_options,
)


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
    add_cost_weight_option(parser)
    add_gate_option(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Allocate from a saved fit."""
    from bayes_needs.checks.gate import record_in_allocation
    from bayes_needs.workflows import pipeline

    print(f"bayes-needs allocate: loading {args.run_dir} ...", file=sys.stderr)
    fit = pipeline.load_fit(args.run_dir)
    fit.config = apply_options(fit.config, args)
    gate = gate_fit(fit, args, args.run_dir / pipeline.FIT_FILE)
    weights = None
    if getattr(args, "cost_weights", None) is not None:
        from bayes_needs.workflows.costs import load_service_weights

        weights = load_service_weights(args.cost_weights, fit.model.services)
    need, allocation = pipeline.need_and_allocation(fit, cost_weights=weights)
    record_in_allocation(allocation, gate)
    out = args.out or args.run_dir
    pipeline.write_allocation(fit, need, allocation, out, extra=gate.summary_lines())
    print(f"allocations written to {out / pipeline.ALLOCATIONS_CSV}")
    if weights is not None:
        from bayes_needs.workflows.costs import DECOMPOSITION_CSV, write_decomposition

        a = fit.config.allocation
        print(write_decomposition(need["need"], weights, out, interval_prob=a.interval_prob,
                                  interval_kind=a.interval_kind,
                                  random_seed=fit.config.need.random_seed))
        print(f"interval-width decomposition written to {out / DECOMPOSITION_CSV}")
    return 0
